"""The ``archdsl`` command line. Run ``archdsl --help`` or see docs/guide.md.

Exit codes: 0 success, 1 a check failed (``expect:`` mismatch, crosscheck out of tolerance),
2 invalid input (the message names file:line:col), 3 internal error (a bug; please report).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any

from archdsl.errors import ArchdslError
from archdsl.source import DEFAULT_LIMITS, Limits

Command = Callable[[argparse.Namespace], int]

#: Modules under archdsl/commands/, one per group of sub-commands (imported lazily by main).
COMMAND_MODULES = (
    "archdsl.commands.core",
    "archdsl.commands.backend",
    "archdsl.commands.train",
    "archdsl.commands.importer",
)
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Command], Command]:
    """Register a sub-command: ``configure`` adds its options to the sub-parser."""

    def wrap(fn: Command) -> Command:
        COMMANDS[name] = (fn, configure or (lambda p: None), help_text)
        return fn

    return wrap


# ---------------------------------------------------------------------------- shared options
def add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the YAML spec file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec argument, e.g. --set width=1.2 (repeatable)",
    )
    p.add_argument(
        "--input-shape",
        dest="input_shapes",
        action="append",
        default=None,
        type=_shape,
        metavar="C,H,W",
        help="replace the input shape, e.g. --input-shape 3,64,64 (once per input)",
    )
    lim = p.add_argument_group("limits (untrusted specs)")
    for f in fields(Limits):
        flag = "--" + f.name.replace("_", "-")
        lim.add_argument(flag, type=int, default=None, metavar="N", help=f"default {f.default:,}")


def add_data_args(p: argparse.ArgumentParser, when: str = "") -> None:
    """``--data NAME`` and ``--data-dir DIR`` (train, ablate, crosscheck --train-steps);
    ``when`` prefixes their help, e.g. ``"with --train-steps: "``."""
    p.add_argument(
        "--data",
        metavar="NAME",
        help=f"{when}dataset: cifar10, mnist, fashion_mnist or digits (overrides train.dataset)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"{when}where the dataset files are (default: $ARCHDSL_DATA, else ~/.cache/archdsl)",
    )


def data_changes(ns: argparse.Namespace) -> dict[str, Any]:
    """The train-config change ``--data`` asks for (``{"dataset": canonical name}``), or ``{}``.

    Raises:
        DataError: an unknown dataset name (the message lists the valid ones).
    """
    if not getattr(ns, "data", None):
        return {}
    from archdsl.data import canonical_name

    return {"dataset": canonical_name(ns.data)}


def _shape(text: str) -> list[int]:
    try:
        dims = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W integers, received '{text}'") from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, received '{text}'")
    return dims


def limits_from(ns: argparse.Namespace) -> Limits:
    changes = {
        f.name: getattr(ns, f.name) for f in fields(Limits) if getattr(ns, f.name, None) is not None
    }
    return replace(DEFAULT_LIMITS, **changes)


def load_graph(ns: argparse.Namespace) -> Any:
    from archdsl.graph import load, parse_overrides

    return load(ns.spec, limits_from(ns), ns.input_shapes, **parse_overrides(ns.overrides))


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(
        prog="archdsl",
        description="Compile a YAML CNN spec: shapes, params, MACs, diagrams, PyTorch and Keras.",
        epilog="exit codes: 0 ok, 1 check failed, 2 invalid input, 3 internal error",
    )
    from archdsl import __version__

    parser.add_argument("--version", action="version", version=f"archdsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (fn, configure, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(func=fn)
    return parser


def _load_plugins() -> None:
    """Import the command modules; each registers its sub-commands with :func:`command`."""
    import importlib

    for mod in COMMAND_MODULES:
        importlib.import_module(mod)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``archdsl`` command; returns the exit code."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not getattr(ns, "func", None):
        parser.print_help()
        return 2
    try:
        return int(ns.func(ns))
    except ArchdslError as exc:
        from archdsl.graph import ExpectationError

        print(exc.render(), file=sys.stderr)
        return 1 if isinstance(exc, ExpectationError) else 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not a user mistake
        if os.environ.get("ARCHDSL_DEBUG"):
            traceback.print_exc()
        print(
            f"internal error (a bug in archdsl, please report it): {type(exc).__name__}: {exc}\n"
            "set ARCHDSL_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
