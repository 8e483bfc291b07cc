"""The chapter's CIFAR-10 CNN, trained side by side in PyTorch and Keras with its settings.

The book trains "the same" CNN (specs/cifar10_cnn.yaml) in both frameworks and reports 51% / 70%
(PyTorch, epochs 1 / 5) against 50% / 72% (Keras). Here both frameworks start from one seeded
init, see identical batches in identical order (the spec's ``train:`` section: Adam lr 1e-3,
batch 50, random horizontal flips, per-channel normalization computed from the training set)
and the same dropout masks, so their validation accuracies should agree to a fraction of a
point every epoch (exactly, in float64).

Usage::

    python bench/cifar10_book.py [--epochs 5] [--data-dir ../shared/datasets]
                                 [--out out/bench/cifar10_book] [--device cpu] [--resume]
                                 [--dtype float32|float64] [--warmup-cosine STEPS]

Prints each epoch's validation accuracy per framework and wall times, checks the targets
(>= 50% after epoch 1, >= 70% after epoch 5, frameworks within 0.5 points every epoch) and
writes ``OUT/table.md`` (a markdown table to paste into docs/training.md) next to the run's
``metrics.csv``, ``metrics.json``, ``curves.png`` and ``checkpoint.npz``. Exit code 0 when
every target is met, 1 otherwise.

``--warmup-cosine STEPS`` replaces the constant learning rate by a per-step schedule: a linear
warm-up over STEPS steps, then a cosine decay to 0 at the last step (``schedule: {name: cosine,
interval: step, warmup: STEPS}``); its epoch-5 target is 75%.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# before torch loads: passive OpenMP waits and one thread count for both frameworks
from archdsl.training.threads import configure_threads  # noqa: E402

configure_threads()

import archdsl  # noqa: E402
from archdsl.fsutil import atomic_write_text  # noqa: E402
from archdsl.trainconfig import TrainConfig  # noqa: E402
from archdsl.training import (  # noqa: E402
    TrainResult,
    override_config,
    resolve_config,
    run_training,
)

SPEC = ROOT / "specs" / "cifar10_cnn.yaml"
#: What the book reports (validation accuracy, %) for comparison.
BOOK_REPORTED = {"torch": {1: 51, 5: 70}, "keras": {1: 50, 5: 72}}
TARGETS = {"epoch1": 0.50, "epoch5": 0.70, "spread_points": 0.5}
#: the epoch-5 target with --warmup-cosine (the training-features issue's figure)
WARMUP_COSINE_EPOCH5 = 0.75


def book_config(graph: archdsl.Graph, **changes: Any) -> TrainConfig:
    """The chapter's settings (the spec's ``train:`` section) with ``changes`` applied; matched
    conventions and dropout masks, the defaults, are asserted rather than assumed."""
    config = resolve_config(graph)
    assert config.conventions == "matched" and config.dropout == "matched", config
    return override_config(config, changes)


def versions() -> str:
    """Framework and machine versions, one line."""
    import keras
    import torch

    return (
        f"torch {torch.__version__}, keras {keras.__version__} ({keras.backend.backend()}), "
        f"python {platform.python_version()}, {os.cpu_count()} CPU cores"
    )


def table(result: TrainResult) -> str:
    """The markdown table of a finished run."""
    lines = [
        "| epoch | PyTorch val acc | Keras val acc | Δ (points) | PyTorch train loss | "
        "Keras train loss | PyTorch s | Keras s | epoch s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rec in result.epochs:
        t, k = rec["torch"], rec["keras"]
        delta = 100 * (t["val_acc"] - k["val_acc"])
        lines.append(
            f"| {rec['epoch']} | {100 * t['val_acc']:.2f}% | {100 * k['val_acc']:.2f}% | "
            f"{delta:+.2f} | {t['train_loss']:.4f} | {k['train_loss']:.4f} | "
            f"{t['wall_s']:.0f} | {k['wall_s']:.0f} | {rec['wall_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def check_targets(result: TrainResult,
                  targets: dict[str, float] | None = None) -> list[tuple[str, bool]]:
    """``(description, met)`` for each target (default :data:`TARGETS`)."""
    targets = TARGETS if targets is None else targets
    checks: list[tuple[str, bool]] = []
    by_epoch = {rec["epoch"]: rec for rec in result.epochs}
    for epoch, key in ((1, "epoch1"), (5, "epoch5")):
        if epoch in by_epoch:
            for fw in ("torch", "keras"):
                acc = by_epoch[epoch][fw]["val_acc"]
                checks.append(
                    (
                        f"{fw} epoch {epoch}: {100 * acc:.2f}% >= {100 * targets[key]:.0f}%",
                        acc >= targets[key],
                    )
                )
    worst = max(abs(r["torch"]["val_acc"] - r["keras"]["val_acc"]) for r in result.epochs)
    checks.append(
        (
            f"largest spread {100 * worst:.2f} points <= {targets['spread_points']}",
            100 * worst <= targets["spread_points"],
        )
    )
    return checks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--out", default="out/bench/cifar10_book")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.npz")
    ap.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "float64"),
        help="float64 shows how much of the remaining spread is float32 round-off",
    )
    ap.add_argument("--warmup-cosine", type=int, metavar="STEPS",
                    help="per-step schedule: linear warm-up over STEPS steps, then cosine to 0")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)

    graph = archdsl.load(SPEC)
    changes: dict[str, Any] = {"epochs": ns.epochs, "dtype": ns.dtype}
    targets = dict(TARGETS)
    if ns.warmup_cosine is not None:
        changes["schedule"] = {"name": "cosine", "interval": "step", "warmup": ns.warmup_cosine}
        targets["epoch5"] = WARMUP_COSINE_EPOCH5
    config = book_config(graph, **changes)
    command = " ".join(["python", "bench/cifar10_book.py", *(argv or sys.argv[1:])])
    print(f"$ {command}\n{versions()}", flush=True)
    t0 = time.perf_counter()

    def show(rec: dict[str, Any]) -> None:
        t, k = rec["torch"], rec["keras"]
        print(
            f"epoch {rec['epoch']}/{ns.epochs}: torch val {100 * t['val_acc']:.2f}% "
            f"({t['wall_s']:.0f} s) | keras val {100 * k['val_acc']:.2f}% ({k['wall_s']:.0f} s)"
            f" | Δ {100 * (t['val_acc'] - k['val_acc']):+.2f} points | epoch {rec['wall_s']:.0f} s"
            f" | total {time.perf_counter() - t0:.0f} s",
            flush=True,
        )

    result = run_training(
        graph,
        config,
        data_dir=ns.data_dir,
        out_dir=ns.out,
        resume=ns.resume,
        progress=True,
        device=ns.device,
        on_epoch=show,
    )
    text = table(result)
    checks = check_targets(result, targets)
    header = f"`{command}` ({versions()}; {time.perf_counter() - t0:.0f} s in this process)\n\n"
    atomic_write_text(Path(ns.out) / "table.md", header + text)
    print("\n" + text)
    for description, met in checks:
        print(f"{'PASS' if met else 'FAIL'}  {description}")
    if not checks[-1][1] and ns.dtype == "float32":
        print(
            "note: in float32 the two runs part within a few dozen steps (max pooling picks a "
            "different winner when two values differ by less than round-off; see "
            "bench/divergence.py); --dtype float64 shows the matched arithmetic"
        )
    print(f"book: PyTorch {BOOK_REPORTED['torch']}, Keras {BOOK_REPORTED['keras']} (epoch: %)")
    print(f"wrote {ns.out}/table.md, metrics.csv, metrics.json, curves.png")
    return 0 if all(met for _, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
