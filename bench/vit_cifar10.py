"""The small Vision Transformer (specs/vit_cifar10.yaml) trained side by side on CIFAR-10.

Both frameworks start from one seeded init and see identical batches in identical order with
the spec's ``train:`` section: AdamW (lr 1e-3, decoupled weight decay 0.05), a linear warm-up
over 200 steps then a per-step cosine decay, batch 128, random flips and 4-pixel crops,
per-channel normalization computed from the training set. The model has no dropout and no max
pooling, so nothing but round-off can part the two runs. The run, the table and the wall
times reuse bench/cifar10_book.py.

Usage::

    python bench/vit_cifar10.py [--epochs 5] [--data-dir DIR] [--out out/bench/vit_cifar10]
                                [--device cpu] [--resume] [--dtype float32|float64]
                                [--train-subset N]

``--data-dir`` defaults to $ARCHDSL_DATA, else ``../shared/datasets``. Prints each epoch's
validation accuracy per framework, then the table (also written to ``OUT/table.md``, for
docs/benchmarks.md). Exit code 0 when the frameworks stay within ``--spread`` points (default
1.0) of each other at every epoch, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# cifar10_book puts the repository on sys.path and sets OMP_WAIT_POLICY before torch loads
from cifar10_book import ROOT, book_config, table, versions

import archdsl
from archdsl.fsutil import atomic_write_text
from archdsl.training import TrainResult, run_training

SPEC = ROOT / "specs" / "vit_cifar10.yaml"


def default_data_dir() -> str:
    """$ARCHDSL_DATA, else the developers' and CI's shared copy."""
    return os.environ.get("ARCHDSL_DATA") or str(ROOT.parent / "shared" / "datasets")


def parse(argv: list[str] | None) -> argparse.Namespace:
    assert __doc__ is not None
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--out", default="out/bench/vit_cifar10")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.npz")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--train-subset", type=int, default=None,
                    help="train on the first N images only (a quick run)")
    ap.add_argument("--spread", type=float, default=1.0,
                    help="largest accuracy difference allowed between the frameworks (points)")
    return ap.parse_args(argv)


def largest_spread(result: TrainResult) -> float:
    """The largest |PyTorch − Keras| validation accuracy difference over the epochs, in points."""
    return max(100 * abs(r["torch"]["val_acc"] - r["keras"]["val_acc"]) for r in result.epochs)


def main(argv: list[str] | None = None) -> int:
    ns = parse(argv)
    graph = archdsl.load(SPEC)
    changes: dict[str, Any] = {"epochs": ns.epochs, "dtype": ns.dtype}
    if ns.train_subset:
        changes["train_subset"] = ns.train_subset
    config = book_config(graph, **changes)
    command = " ".join(["python", "bench/vit_cifar10.py", *(argv or sys.argv[1:])])
    print(f"$ {command}\n{versions()}", flush=True)
    t0 = time.perf_counter()

    def show(rec: dict[str, Any]) -> None:
        t, k = rec["torch"], rec["keras"]
        print(f"epoch {rec['epoch']}/{ns.epochs}: torch val {100 * t['val_acc']:.2f}% | keras val "
              f"{100 * k['val_acc']:.2f}% | Δ {100 * (t['val_acc'] - k['val_acc']):+.2f} points | "
              f"epoch {rec['wall_s']:.0f} s | total {time.perf_counter() - t0:.0f} s", flush=True)

    result = run_training(graph, config, data_dir=ns.data_dir, out_dir=ns.out, resume=ns.resume,
                          progress=True, device=ns.device, on_epoch=show)
    text = table(result)
    header = f"`{command}` ({versions()}; {time.perf_counter() - t0:.0f} s in this process)\n\n"
    atomic_write_text(Path(ns.out) / "table.md", header + text)
    spread = largest_spread(result)
    print("\n" + text)
    print(f"{'PASS' if spread <= ns.spread else 'FAIL'}  largest spread {spread:.2f} points "
          f"<= {ns.spread}")
    print(f"wrote {ns.out}/table.md, metrics.csv, metrics.json, curves.png")
    return 0 if spread <= ns.spread else 1


if __name__ == "__main__":
    sys.exit(main())
