"""The ``archdsl`` command line. Run ``archdsl --help`` or see docs/guide.md.

Exit codes: 0 success, 1 a check failed (``expect:`` mismatch, crosscheck out of tolerance),
2 invalid input (the message names file:line:col), 3 internal error (a bug; please report).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any, NoReturn

from archdsl.errors import ArchdslError, did_you_mean, printable
from archdsl.source import DEFAULT_LIMITS, Limits

Command = Callable[[argparse.Namespace], int]
#: The garbage collector's thresholds while a command runs (mypy's choice).
GC_THRESHOLD = (200_000, 30, 30)
#: Pydantic's switch for its plugins, set by :func:`main` unless the user set it.
PLUGINS_VAR = "PYDANTIC_DISABLE_PLUGINS"

#: Modules under archdsl/commands/, one per group of sub-commands (imported lazily by main).
COMMAND_MODULES = (
    "archdsl.commands.core",
    "archdsl.commands.backend",
    "archdsl.commands.train",
    "archdsl.commands.importer",
    "archdsl.commands.export",
    "archdsl.commands.predict",
    "archdsl.commands.eval",
)
#: Which module defines each sub-command, so ``archdsl check`` imports only the core commands
#: (start-up time); tests/test_cli.py checks it against what the modules register.
COMMAND_HOMES = {
    "check": "archdsl.commands.core",
    "expand": "archdsl.commands.core",
    "schema": "archdsl.commands.core",
    "render": "archdsl.commands.core",
    "list": "archdsl.commands.core",
    "build": "archdsl.commands.backend",
    "crosscheck": "archdsl.commands.backend",
    "train": "archdsl.commands.train",
    "ablate": "archdsl.commands.train",
    "import-weights": "archdsl.commands.importer",
    "export": "archdsl.commands.export",
    "predict": "archdsl.commands.predict",
    "eval": "archdsl.commands.eval",
}
#: What a spec argument is, in every command's ``--help``.
SPEC_HELP = (
    "the YAML spec file, or the name of a spec shipped with archdsl (resnet50, "
    "efficientnet_b0, ...: `archdsl list` shows them), used when no such file exists"
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
#: Limits whose flag is not their field's name: the YAML nesting limit is ``--max-yaml-depth``
#: (``--max-depth`` still works), apart from the diagrams' and tables' ``--depth``.
LIMIT_FLAGS = {"max_depth": "max_yaml_depth"}


def spec_path(text: str) -> str:
    """The spec argument of a command: a file, or the name of a shipped spec (``resnet50``).

    Raises :class:`argparse.ArgumentTypeError` for a name that is neither, naming the closest
    shipped specs.
    """
    from archdsl.zoo import resolve

    try:
        return resolve(text)
    except ArchdslError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        raise argparse.ArgumentTypeError(printable(exc.message + hint, 500)) from None


def add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=spec_path, metavar="SPEC", help=SPEC_HELP)
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
        if f.name == "allow_paths":  # a list of folders, not a number: --allow-path below
            continue
        flag = "--" + LIMIT_FLAGS.get(f.name, f.name).replace("_", "-")
        lim.add_argument(flag, dest=f.name, type=int, default=None, metavar="N",
                         help=f"default {f.default:,}")
        if f.name in LIMIT_FLAGS:  # the flag's former name still works (not listed)
            lim.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=int,
                             help=argparse.SUPPRESS)
    lim.add_argument(
        "--allow-path",
        dest="allow_paths",
        action="append",
        default=None,
        metavar="DIR",
        help="let extends:/import: read files under DIR too (repeatable); by default only the "
        "spec's own folder tree and archdsl's shipped library",
    )


def add_data_args(p: argparse.ArgumentParser, when: str = "") -> None:
    """``--data NAME|PATH`` and ``--data-dir DIR`` (train, ablate, crosscheck --train-steps);
    ``when`` prefixes their help, e.g. ``"with --train-steps: "``."""
    p.add_argument(
        "--data",
        metavar="NAME|PATH",
        help=f"{when}dataset: cifar10, mnist, fashion_mnist, digits, or your data: a folder of "
             "class subfolders of images, an .npz or a CSV of path,label (overrides "
             "train.dataset)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"{when}where the dataset files are (default: $ARCHDSL_DATA, else ~/.cache/archdsl)",
    )
    p.add_argument("--download", action="store_true",
                   help=f"{when}download a missing built-in dataset into the data directory "
                        "(checksum-verified)")
    p.add_argument("--no-verify", dest="verify_data", action="store_false",
                   help=f"{when}skip the check of a built-in dataset against its known content "
                        "hashes (for a deliberately modified copy)")


def data_changes(ns: argparse.Namespace) -> dict[str, Any]:
    """The train-config changes of ``--data`` (a built-in dataset's canonical name, or the path
    of the user's own data as given), ``--download`` and ``--no-verify``; ``{}`` for none.

    Raises:
        DataError: neither a dataset name nor a path (the message lists the valid names).
    """
    changes: dict[str, Any] = {}
    if getattr(ns, "download", False):
        changes["download"] = True
    if not getattr(ns, "verify_data", True):
        changes["verify_data"] = False
    if not getattr(ns, "data", None):
        return changes
    from archdsl.data.resolve import dataset_setting

    return {**changes, "dataset": dataset_setting(ns.data)}


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, received {value}")
    return value


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


def load_graph(ns: argparse.Namespace, overrides: list[str] | None = None) -> Any:
    """The spec of a command's arguments, compiled, with ``--set`` items (or ``overrides``)."""
    from archdsl.graph import load, parse_overrides

    items = ns.overrides if overrides is None else overrides
    return load(ns.spec, limits_from(ns), ns.input_shapes, **parse_overrides(items))


# ---------------------------------------------------------------------------- main
class Parser(argparse.ArgumentParser):
    """argparse's parser that suggests the closest name for a misspelled sub-command, choice or
    option (``chek`` → ``check``, ``--widht`` → ``--width``)."""

    #: the sub-command parsers by name (set on the top-level parser by :func:`build_parser`)
    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        import re

        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = [c.strip().strip("'") for c in found[2].split(",")]
            mean = did_you_mean(found[1], choices)
            message += "." + mean if mean else ""
        super().error(message)

    def parse_command(self, args: Sequence[str]) -> argparse.Namespace:
        """:meth:`parse_args`, with the sub-command's usage and the closest option for
        options it does not know."""
        ns, extra = self.parse_known_args(args)
        if extra:
            target = getattr(self, "commands", {}).get(getattr(ns, "command", None), self)
            flags = [o for a in target._actions for o in a.option_strings]
            unknown = [i for i, e in enumerate(extra) if e.startswith("-")]
            mean = _unknown_option_hint(ns, extra, unknown[0], flags) if unknown else ""
            target.error(f"unrecognized arguments: {' '.join(extra)}{'.' + mean if mean else ''}")
        return ns


def _unknown_option_hint(ns: argparse.Namespace, extra: list[str], at: int,
                         flags: list[str]) -> str:
    """The hint for the unknown option ``extra[at]``: an option of another tool's name
    (``--num-epochs`` → ``--epochs``), else a training setting (``--lr 0.1`` → ``--set
    train.optimizer.lr=0.1``, on the commands that train), else the closest spelling."""
    from archdsl.errors import SYNONYMS, closest, suggestion

    flag, _, value = extra[at].partition("=")
    if not value and at + 1 < len(extra) and not extra[at + 1].startswith("-"):
        value = extra[at + 1]
    bare = {f.lstrip("-").replace("-", "_"): f for f in flags if f.startswith("--")}
    name = flag.lstrip("-").replace("-", "_")
    synonym = SYNONYMS.get(name.lower())
    hint = getattr(ns, "settings_hint", None)
    if synonym not in bare and hint is not None and (text := hint(flag, value or None)):
        return str(text)
    return suggestion([bare[c] for c in closest(name, bare)])


def build_parser(command: str | None = None) -> Parser:
    """The parser of every sub-command, or only of ``command`` (faster: imports one module)."""
    _load_plugins(command)
    parser = Parser(
        prog="archdsl",
        description="Compile a YAML CNN spec: shapes, params, MACs, diagrams, PyTorch and Keras.",
        epilog="exit codes: 0 ok, 1 check failed, 2 invalid input, 3 internal error",
    )
    from archdsl import __version__

    parser.add_argument("--version", action="version", version=f"archdsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = {}
    order = list(COMMAND_HOMES)  # the order of --help, whichever module was imported first
    for name in sorted(COMMANDS, key=lambda c: order.index(c) if c in order else len(order)):
        fn, configure, help_text = COMMANDS[name]
        p = parser.commands[name] = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name) or command not in COMMANDS:  # only the options in use
            configure(p)
        p.set_defaults(func=fn)
    return parser


def _load_plugins(command: str | None = None) -> None:
    """Import the command modules (only ``command``'s when it is known); each registers its
    sub-commands with :func:`command`."""
    import importlib

    home = COMMAND_HOMES.get(command or "")
    for mod in (home,) if home else COMMAND_MODULES:
        importlib.import_module(mod)


def _command_name(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word), if it starts with one."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``archdsl`` command line on ``argv`` (default: ``sys.argv[1:]``); return the
    exit code.

    While it runs, the garbage collector's first threshold is raised to :data:`GC_THRESHOLD`
    (as mypy does): the imports and the compiler build many long-lived objects, and the
    default threshold would scan them again and again (a quarter of ``archdsl check``'s time).
    Pydantic's plugin discovery (a scan of every installed package's entry points, on the
    first validation) is off unless ``PYDANTIC_DISABLE_PLUGINS`` is set: archdsl's own models
    take no plugins.

    >>> main(["check", "no-such-spec.yaml"])  # the message goes to stderr
    2
    """
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        return _command(argv)
    finally:
        gc.set_threshold(*before)


def console() -> NoReturn:
    """The ``archdsl`` program (and ``python -m archdsl``): :func:`main`, then exit.

    The process ends right after the command, so the collector is switched off before it
    exits: restoring its threshold would scan every object the command built (17 ms after
    checking ResNet-101) and the interpreter's shutdown would collect them all once more, only
    to free memory the operating system takes back anyway (mypy exits as fast, for the same
    reason).
    """
    gc.set_threshold(*GC_THRESHOLD)
    code = _command(None)
    gc.disable()
    sys.exit(code)


def _command(argv: Sequence[str] | None) -> int:
    ours = PLUGINS_VAR not in os.environ
    if ours:
        os.environ[PLUGINS_VAR] = "__all__"
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        if ours:
            os.environ.pop(PLUGINS_VAR, None)


def _run(args: list[str]) -> int:
    parser = build_parser(_command_name(args))
    ns = parser.parse_command(args)
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
