"""Training commands: ``train`` (side by side in PyTorch and Keras) and ``ablate``.

Example::

    archdsl train digits_cnn.yaml --epochs 3 --out out/digits
    archdsl train specs/cifar10_cnn.yaml --data-dir ../shared/datasets --epochs 5
    archdsl ablate digits_cnn.yaml --steps 300 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archdsl.cli import (
    add_data_args,
    add_spec_args,
    command,
    data_changes,
    limits_from,
    positive_int,
)
from archdsl.errors import Location, SpecError
from archdsl.graph import TRAIN_PREFIX
from archdsl.trainconfig import TrainConfig

BACKEND_CHOICES = {"torch": ("torch",), "keras": ("keras",), "both": ("torch", "keras")}
#: Validation images per pass when ``--max-steps`` is given and ``--val-limit`` is not.
DEFAULT_VAL_LIMIT = 500


def quiet_threads() -> None:
    """The OpenMP wait policy and thread counts of a training process
    (:func:`archdsl.training.threads.configure_threads`; before the first framework import)."""
    from archdsl.training.threads import configure_threads

    configure_threads()


def cuda_devices() -> int | None:
    """How many CUDA devices the installed frameworks see (torch, else JAX, else TensorFlow);
    ``None`` when none of them is installed."""
    quiet_threads()
    try:
        import torch

        return int(torch.cuda.device_count())
    except ImportError:
        pass
    try:
        import jax

        return sum(1 for d in jax.devices() if d.platform == "gpu")
    except (ImportError, RuntimeError):
        pass
    try:
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    except ImportError:
        return None


def device_arg(text: str) -> str:
    """argparse type of ``--device``: ``cpu``, ``auto``, ``cuda`` or ``cuda:N``, where CUDA must
    be present (checked now, so the error is a usage error, exit 2).

    >>> device_arg("cpu"), device_arg("auto")
    ('cpu', 'auto')
    >>> device_arg("gpu")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto, received 'gpu'
    """
    value = text.strip().lower()
    if value in ("cpu", "auto"):
        return value
    head, sep, index = value.partition(":")
    if head != "cuda" or (sep and not index.isdigit()):
        raise argparse.ArgumentTypeError(
            f"expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto, received '{text}'")
    n = int(index or 0)
    count = cuda_devices()
    if not count:
        raise argparse.ArgumentTypeError(
            f"'{text}': CUDA is not available on this machine (no CUDA device, or CPU-only "
            "framework builds); use --device cpu")
    if n >= count:
        raise argparse.ArgumentTypeError(
            f"'{text}': this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return f"cuda:{n}"


def load_train_file(path: str, ns: argparse.Namespace | None = None) -> TrainConfig:
    """Read a ``--train FILE``: the settings at the top level, or under a ``train:`` key.

    Raises:
        SpecError: unreadable file or invalid settings, located at file:line:col.
    """
    from archdsl.source import DEFAULT_LIMITS, YMap, load_file
    from archdsl.spec import validate_train

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
    return validate_train(body if body is not None else {}, tree, prefix, f"train file '{path}'")


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


def settings_hint(flag: str, value: str | None) -> str:
    """How to change the training setting an unknown option names, or ``""``: training
    settings have no option each, they are set with ``--set train.KEY=VALUE``.

    Example:
        >>> settings_hint("--lrate", "0.1")
        ' Training settings are changed with --set: --set train.optimizer.lr=0.1'
        >>> settings_hint("--batch-size", None), settings_hint("--widht", "3")
        (' Training settings are changed with --set: --set train.batch_size=VALUE', '')
    """
    from archdsl.errors import SYNONYMS
    from archdsl.trainconfig import setting_paths

    key = flag.lstrip("-").replace("-", "_").lower()
    key = SYNONYMS.get(key, key)
    found = [p for p in setting_paths() if key in (p.rsplit(".", 1)[-1], p.removesuffix(".name"))]
    if not found:
        return ""
    shown = " or ".join(f"--set {TRAIN_PREFIX}{p}={value or 'VALUE'}" for p in found)
    return f" Training settings are changed with --set: {shown}"


def _common(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.set_defaults(settings_hint=settings_hint)
    add_data_args(p)
    p.add_argument(
        "--train", metavar="FILE",
        help="YAML file with the train settings (instead of the spec's train: section)",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: out/<spec name>/...)")
    p.add_argument(
        "--device", type=device_arg, default="cpu", metavar="DEVICE",
        help="cpu (default), cuda, cuda:N (GPU N) or auto (CUDA when available)",
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
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results already in OUT (default: keep them and write this "
                        "run to a fresh OUT/run-N)")
    p.add_argument("--precision", choices=("full", "bf16"),
                   help="bf16: mixed precision, bfloat16 compute with float32 weights (torch "
                        "autocast, Keras mixed_bfloat16); overrides train.precision")
    p.add_argument("--val-limit", type=positive_int, metavar="N",
                   help=f"validate on the first N test images (default: all; {DEFAULT_VAL_LIMIT}"
                        " with --max-steps)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to OUT/tensorboard/<framework>/")
    p.add_argument("--save-best", action="store_true",
                   help="also keep the weights of the best validation accuracy in "
                        "OUT/weights.best.npz")
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
    quiet_threads()
    from archdsl.fsutil import safe_filename
    from archdsl.training import run_training

    graph, config = config_from(ns)
    if ns.precision:
        from archdsl.training import override_config

        config = override_config(config, {"precision": ns.precision})
    names = BACKEND_CHOICES[ns.backend]
    out = Path(ns.out) if ns.out else Path("out") / safe_filename(graph.name) / "train"
    epochs = ns.epochs or config.epochs
    val_limit = ns.val_limit or (DEFAULT_VAL_LIMIT if ns.max_steps else None)
    result = run_training(
        graph, config, backends=names, data_dir=ns.data_dir, out_dir=out, epochs=ns.epochs,
        max_steps=ns.max_steps, resume=ns.resume, overwrite=ns.overwrite,
        progress=not ns.quiet, device=ns.device, val_limit=val_limit,
        tensorboard=ns.tensorboard, save_best=ns.save_best,
        on_epoch=None if ns.quiet else _epoch_line(names, epochs),
    )
    if ns.json:
        print(json.dumps(result.as_json(), indent=2))
        return 0
    if ns.quiet:
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    _print_table(graph.name, result, names)
    return 0


def _print_table(title: str, result: Any, names: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title} on {result.dataset}")
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
    if result.stopped_early:
        console.print(f"stopped early: {result.stopped_early}")
    extra = (["best/"] if result.best else []) + (
        ["tensorboard/"] if "tensorboard" in result.files else [])
    console.print(f"wrote {result.out_dir}/metrics.csv, metrics.json, curves.png, "
                  f"checkpoint.npz" + "".join(f", {k}" for k in extra))


def _ablate_configure(p: argparse.ArgumentParser) -> None:
    from archdsl.ablation import DEFAULT_STEPS

    _common(p)
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS, metavar="N",
                   help=f"training steps per run (default {DEFAULT_STEPS}; 16 runs: about 3 "
                        "minutes on the digits CNN, 45-50 on CIFAR-10 with 2 CPU cores)")


@command(
    "ablate",
    "attribute the PyTorch-vs-Keras gap: switch one convention at a time to its native default",
    _ablate_configure,
)
def cmd_ablate(ns: argparse.Namespace) -> int:
    quiet_threads()
    from archdsl.ablation import run_ablation
    from archdsl.fsutil import safe_filename

    graph, config = config_from(ns)
    out = Path(ns.out) if ns.out else Path("out") / safe_filename(graph.name) / "ablate"
    report = run_ablation(graph, config, steps=ns.steps, data_dir=ns.data_dir, out_dir=out,
                          device=ns.device, progress=not ns.quiet)
    if ns.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.markdown(), end="")
        print(f"wrote {out}/ablation.md", file=sys.stderr)
    return 0
