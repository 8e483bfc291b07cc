"""What archdsl's matched training loop costs per step, against hand-written framework loops.

Four loops train the chapter's CIFAR-10 CNN (specs/cifar10_cnn.yaml) on the same precomputed
batches of 50 CIFAR-shaped images:

* ``archdsl torch``: :class:`archdsl.training.Lockstep` driving the torch trainer (numpy dropout
  masks drawn per step, NCHW batch handed over as numpy), what ``archdsl train`` runs per step;
* ``torch loop``: a hand-written ``nn.Sequential`` of the same layers, ``torch.optim.Adam``,
  ``F.cross_entropy``, ``nn.Dropout2d`` (the loop a user writes);
* ``archdsl keras``: the same Lockstep driving the Keras trainer (NCHW → NHWC inside);
* ``keras train_on_batch``: a hand-built ``keras.Sequential`` of the same layers compiled with
  Adam and ``SparseCategoricalCrossentropy(from_logits=True)``, fed NHWC batches.

The loops run interleaved (round-robin blocks of steps, the order rotating every round) so slow
drifts of a shared machine hit all of them alike; the per-step medians and the ratios
archdsl/hand-written are printed (target ≤ 1.05×). Both frameworks run in one process, with the
determinism settings the archdsl trainers switch on (process-wide) applying to every loop.

Usage::

    python bench/train_overhead.py [--rounds 6] [--block 15] [--warmup 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# before torch loads: passive OpenMP waits and one thread count for both frameworks
from archdsl.training.threads import configure_threads  # noqa: E402

configure_threads()

from book_models import keras_book_cnn, torch_book_cnn  # noqa: E402  (script folder)

import archdsl  # noqa: E402
from archdsl.trainconfig import TrainConfig  # noqa: E402
from archdsl.training import Lockstep, dropout_nodes, load_framework, start_session  # noqa: E402

BATCH = 50
CONFIG = {
    "dataset": "cifar10",
    "batch_size": BATCH,
    "optimizer": {"name": "adam", "lr": 1e-3},
    "dropout": "matched",
}

Step = Callable[[int], None]


def batches(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` normalized-looking CIFAR-shaped batches, NCHW float32, with int64 labels."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32),
            rng.integers(0, 10, BATCH).astype(np.int64),
        )
        for _ in range(n)
    ]


def archdsl_loop(graph: Any, config: TrainConfig, name: str, data: list[Any]) -> Step:
    """One framework's trainer driven by :class:`Lockstep` (masks drawn every step)."""
    fw = load_framework(name)
    session = start_session(graph, config, [fw], frozenset())
    loop = Lockstep(session.trainers, dropout_nodes(graph), seed=0, dtype="float32")

    def step(i: int) -> None:
        x, y = data[i % len(data)]
        loop.step(x, y, epoch=0, index=i)

    return step


def torch_loop(data: list[Any]) -> Step:
    """The hand-written PyTorch equivalent of the book CNN and its training step."""
    import torch
    import torch.nn.functional as F

    model = torch_book_cnn()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tensors = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]

    def step(i: int) -> None:
        x, y = tensors[i % len(tensors)]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        float(loss.detach())  # the archdsl loop reads the loss every step too

    return step


def keras_loop(data: list[Any]) -> Step:
    """The hand-built Keras equivalent compiled for ``train_on_batch``."""
    import keras

    model = keras_book_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    nhwc = [(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y) for x, y in data]

    def step(i: int) -> None:
        x, y = nhwc[i % len(nhwc)]
        model.train_on_batch(x, y)

    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    ap.add_argument("--block", type=int, default=15, help="steps per loop per round")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per loop first")
    ns = ap.parse_args(argv)

    graph = archdsl.load(ROOT / "specs" / "cifar10_cnn.yaml")
    config = TrainConfig.model_validate(CONFIG)
    data = batches(16)
    loops: dict[str, Step] = {
        "archdsl torch": archdsl_loop(graph, config, "torch", data),
        "torch loop": torch_loop(data),
        "archdsl keras": archdsl_loop(graph, config, "keras", data),
        "keras train_on_batch": keras_loop(data),
    }
    import keras
    import torch

    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), keras "
        f"{keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} CPU cores; "
        f"batch {BATCH}, {ns.rounds} rounds x {ns.block} steps, medians",
        flush=True,
    )
    for step in loops.values():
        for i in range(ns.warmup):
            step(i)
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    counter = 0
    for r in range(ns.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            step = loops[name]
            for _ in range(ns.block):
                t0 = time.perf_counter()
                step(counter)
                times[name].append(time.perf_counter() - t0)
                counter += 1
    med = {name: statistics.median(v) for name, v in times.items()}
    for name in names:
        q = np.percentile(times[name], [25, 75])
        print(
            f"{name:>22}: {1000 * med[name]:7.1f} ms/step (IQR {1000 * q[0]:.1f}-{1000 * q[1]:.1f})"
        )
    ratios = {
        "torch": med["archdsl torch"] / med["torch loop"],
        "keras": med["archdsl keras"] / med["keras train_on_batch"],
    }
    for fw, ratio in ratios.items():
        verdict = "ok" if ratio <= 1.05 else "ABOVE TARGET"
        print(f"ratio archdsl/{fw} hand-written: {ratio:.3f}x (target <= 1.05x: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
