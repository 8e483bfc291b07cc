"""Training commands: ``train`` (side by side in PyTorch and Keras) and ``ablate``.

Example::

    archdsl train digits_cnn.yaml --epochs 3 --out out/digits
    archdsl train specs/cifar10_cnn.yaml --data-dir ../shared/datasets --epochs 5
    archdsl ablate digits_cnn.yaml --steps 300 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from archdsl.cli import add_data_args, add_spec_args, command, data_changes, limits_from
from archdsl.errors import Location, SpecError
from archdsl.trainconfig import TrainConfig

#: PyTorch (OpenMP) threads spin-wait between ops by default; next to TensorFlow's thread pool
#: in one process (and on a busy machine) that spinning steals the other framework's cores and
#: made a CIFAR-10 step ~10x slower here. Passive waiting costs nothing measurable.
THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}

BACKEND_CHOICES = {"torch": ("torch",), "keras": ("keras",), "both": ("torch", "keras")}
TRAIN_PREFIX = "train."


def quiet_threads() -> None:
    """Set :data:`THREAD_ENV` unless the user did (it must precede the first torch import)."""
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, received {value}")
    return value


def load_train_file(path: str, ns: argparse.Namespace | None = None) -> TrainConfig:
    """Read a ``--train FILE``: the settings at the top level, or under a ``train:`` key.

    Raises:
        SpecError: unreadable file or invalid settings, located at file:line:col.
    """
    from pydantic import ValidationError

    from archdsl.source import DEFAULT_LIMITS, YMap, load_file
    from archdsl.spec import validation_error

    limits = limits_from(ns) if ns is not None else DEFAULT_LIMITS
    tree = load_file(path, limits)
    if tree is None:
        raise SpecError(f"train file '{path}' is empty", Location(path, 1, 1))
    if not isinstance(tree, YMap):
        raise SpecError(
            f"train file '{path}' must be a mapping of settings (dataset:, optimizer:, ...)",
            getattr(tree, "loc", Location(path, 1, 1)),
        )
    prefix: tuple[Any, ...] = ()
    body: Any = tree
    if list(tree) == ["train"]:
        prefix, body = ("train",), tree["train"]
    try:
        return TrainConfig.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise validation_error(exc, tree, f"train file '{path}'", prefix, TrainConfig) from None


def split_overrides(items: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Split ``--set`` items into spec arguments and ``train.*`` settings (YAML values).

    Example:
        >>> split_overrides(["width=2", "train.optimizer.lr=0.01"])
        (['width=2'], {'optimizer.lr': 0.01})
    """
    from archdsl.graph import parse_overrides

    is_train = [i.strip().startswith(TRAIN_PREFIX) for i in items]
    spec_items = [i for i, t in zip(items, is_train) if not t]
    train_items = [i.strip()[len(TRAIN_PREFIX) :] for i, t in zip(items, is_train) if t]
    return spec_items, parse_overrides(train_items)


def config_from(ns: argparse.Namespace) -> tuple[Any, TrainConfig]:
    """The graph and the train settings: ``--train FILE`` else the spec's ``train:``, then
    ``--data``, ``--conventions`` and ``--set train.KEY=VALUE``."""
    from archdsl.graph import load, parse_overrides
    from archdsl.training import override_config, resolve_config

    spec_items, train_changes = split_overrides(ns.overrides)
    graph = load(ns.spec, limits_from(ns), **parse_overrides(spec_items))
    config = load_train_file(ns.train, ns) if ns.train else resolve_config(graph)
    changes: dict[str, Any] = {**train_changes, **data_changes(ns)}
    if getattr(ns, "conventions", None):
        changes["conventions"] = ns.conventions
    if changes:
        config = override_config(config, changes)
    return graph, config


def _common(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    add_data_args(p)
    p.add_argument(
        "--train", metavar="FILE",
        help="YAML file with the train settings (instead of the spec's train: section)",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: out/<spec name>/...)")
    p.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), default="cpu",
        help="where to train (auto: CUDA when available)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the result")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def _train_configure(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--backend", choices=tuple(BACKEND_CHOICES), default="both",
                   help="which framework(s) to train (default: both, side by side)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="overrides train.epochs")
    p.add_argument("--max-steps", type=positive_int, metavar="N",
                   help="stop after N optimizer steps (overrides train.max_steps)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz (start over when there is none)")
    p.add_argument(
        "--conventions", choices=("matched", "native"),
        help="matched: every convention identical (default); native: each framework's defaults",
    )


def _epoch_line(names: tuple[str, ...], epochs: int) -> Any:
    def show(record: dict[str, Any]) -> None:
        parts = []
        for name in names:
            r = record[name]
            acc = "n/a" if r["val_acc"] is None else f"{r['val_acc']:.4f}"
            loss = "n/a" if r["train_loss"] is None else f"{r['train_loss']:.4f}"
            parts.append(f"{name} loss {loss} val_acc {acc} ({r['wall_s']:.1f} s)")
        tag = " (partial)" if record.get("partial") else ""
        print(f"epoch {record['epoch']}/{epochs}{tag}: " + " | ".join(parts), file=sys.stderr,
              flush=True)

    return show


@command("train", "train a spec in PyTorch and Keras side by side on identical batches",
         _train_configure)
def cmd_train(ns: argparse.Namespace) -> int:
    from archdsl.training import run_training

    quiet_threads()
    graph, config = config_from(ns)
    names = BACKEND_CHOICES[ns.backend]
    out = Path(ns.out) if ns.out else Path("out") / graph.name / "train"
    epochs = ns.epochs or config.epochs
    result = run_training(
        graph, config, backends=names, data_dir=ns.data_dir, out_dir=out, epochs=ns.epochs,
        max_steps=ns.max_steps, resume=ns.resume, progress=not ns.quiet, device=ns.device,
        on_epoch=None if ns.quiet else _epoch_line(names, epochs),
    )
    if ns.json:
        print(json.dumps(result.as_json(), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{graph.name} on {result.dataset}")
    table.add_column("epoch", justify="right")
    for name in names:
        table.add_column(f"{name} loss", justify="right")
        table.add_column(f"{name} val", justify="right")
        table.add_column(f"{name} s", justify="right")
    for rec in result.epochs:
        cells = [str(rec["epoch"]) + ("*" if rec.get("partial") else "")]
        for name in names:
            r = rec[name]
            cells += [
                "n/a" if r["train_loss"] is None else f"{r['train_loss']:.4f}",
                "n/a" if r["val_acc"] is None else f"{100 * r['val_acc']:.2f}%",
                f"{r['wall_s']:.1f}",
            ]
        table.add_row(*cells)
    console = Console(highlight=False)
    console.print(table)
    console.print(f"wrote {out}/metrics.csv, metrics.json, curves.png, checkpoint.npz")
    return 0


def _ablate_configure(p: argparse.ArgumentParser) -> None:
    from archdsl.ablation import DEFAULT_STEPS

    _common(p)
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS, metavar="N",
                   help=f"training steps per run (default {DEFAULT_STEPS})")


@command(
    "ablate",
    "attribute the PyTorch-vs-Keras gap: switch one convention at a time to its native default",
    _ablate_configure,
)
def cmd_ablate(ns: argparse.Namespace) -> int:
    from archdsl.ablation import run_ablation

    quiet_threads()
    graph, config = config_from(ns)
    out = Path(ns.out) if ns.out else Path("out") / graph.name / "ablate"
    report = run_ablation(graph, config, steps=ns.steps, data_dir=ns.data_dir, out_dir=out,
                          device=ns.device, progress=not ns.quiet)
    if ns.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.markdown(), end="")
        print(f"wrote {out}/ablation.md", file=sys.stderr)
    return 0
