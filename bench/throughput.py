"""Throughput of the compiled models vs hand-written ones (the book's CIFAR-10 CNN).

Forward + backward + SGD step, batch 50, CPU, float32. Runs are interleaved in ABBA order
(compiled, hand-written, hand-written, compiled, ...) so machine load and warm-up affect both
alike; the ratio of medians is printed (compiled / hand-written throughput; target ≥ 0.97).

Run: .venv/bin/python bench/throughput.py [--steps 20] [--rounds 5] [--framework torch|keras|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from book_models import keras_book_cnn, torch_book_cnn  # the script folder is on sys.path

import archdsl

SPEC = Path(__file__).resolve().parent.parent / "specs" / "cifar10_cnn.yaml"
BATCH = 50


def torch_models() -> tuple[Callable[[], None], Callable[[], None]]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    graph = archdsl.load(SPEC)
    compiled = graph.to_torch()

    hand = torch_book_cnn()
    x = torch.randn(BATCH, 3, 32, 32)
    y = torch.randint(0, 10, (BATCH,))

    def stepper(model: nn.Module) -> Callable[[], None]:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss()

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        return step

    return stepper(compiled), stepper(hand)


def keras_models() -> tuple[Callable[[], None], Callable[[], None]]:
    import keras

    keras.utils.set_random_seed(0)
    graph = archdsl.load(SPEC)
    compiled = graph.to_keras()

    hand = keras_book_cnn()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, BATCH)

    def stepper(model: keras.Model) -> Callable[[], None]:
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )

        def step() -> None:
            model.train_on_batch(x, y)

        return step

    return stepper(compiled), stepper(hand)


def measure(
    a: Callable[[], None], b: Callable[[], None], steps: int, rounds: int
) -> tuple[float, float]:
    for _ in range(5):  # warm up (graph tracing, allocator)
        a()
        b()
    ta, tb = [], []
    for r in range(rounds):
        order = ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta))  # ABBA: no order bias
        for fn, out in order:
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            out.append((time.perf_counter() - t0) / steps)
    return statistics.median(ta), statistics.median(tb)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--framework", choices=("torch", "keras", "both"), default="both")
    ns = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(
        f"book CNN, batch {BATCH}, forward+backward+SGD, CPU, {ns.rounds} interleaved rounds "
        f"of {ns.steps} steps"
    )
    for name, make in (("torch", torch_models), ("keras", keras_models)):
        if ns.framework not in (name, "both"):
            continue
        compiled, hand = make()
        tc, th = measure(compiled, hand, ns.steps, ns.rounds)
        print(
            f"{name:>6}: compiled {tc * 1000:6.1f} ms/step, hand-written {th * 1000:6.1f} ms/step, "
            f"throughput ratio {th / tc:.3f}"
        )


if __name__ == "__main__":
    main()
