"""Training features on a GPU: ``--device cuda:N`` in both frameworks, float32 and bf16.

PyTorch on CUDA and Keras on JAX's CUDA backend (GPU machines often have no TensorFlow) train
the chapter's CNN side by side through the lock-step loop, on synthetic images of CIFAR-10's
size read from an ``.npz`` (the user-data path, decoded once into the cache): first with
float32 compute, then with ``precision: bf16``, with a per-step warm-up + cosine schedule and
gradient clipping on. It prints the relative per-step loss difference between the frameworks,
each framework's seconds per step, and checks that ``--device cuda:N`` with N beyond the
machine's GPUs is a usage error. Without CUDA it prints the reason and exits 0.

Run (about 2 minutes on an H200)::

    KERAS_BACKEND=jax python bench/gpu_train.py --steps 100 [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

MARKS = (1, 10, 50, 100, 200)


def synthetic_npz(path: Path, n: int, n_test: int) -> None:
    """Class templates under noise, 3×32×32 uint8 (as bench/gpu_check.py)."""
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 32, size=(10, 3, 4, 4)).repeat(8, 2).repeat(8, 3)
    y = rng.integers(0, 10, size=n + n_test)
    x = (templates[y] + rng.integers(0, 224, size=(n + n_test, 3, 32, 32))).astype(np.uint8)
    np.savez(path, x=x[:n], y=y[:n], x_test=x[n:], y_test=y[n:])


def measure(graph: object, base: dict[str, object], precision: str, steps: int,
            device: str) -> dict[str, object]:
    from archdsl.trainconfig import TrainConfig
    from archdsl.training import load_framework, lockstep_run, prepare_data

    cfg = TrainConfig.model_validate({**base, "precision": precision})
    data = prepare_data(graph, cfg)  # type: ignore[arg-type]
    fws = [load_framework("torch"), load_framework("keras")]
    t0 = time.perf_counter()
    run = lockstep_run(graph, cfg, data, fws, steps, device=device,  # type: ignore[arg-type]
                       eval_samples=1000)
    a, b = run.losses["torch"], run.losses["keras"]
    rel = [abs(x - y) / abs(x) for x, y in zip(a, b)]
    return {"precision": precision, "rel_at": {m: rel[m - 1] for m in MARKS if m <= steps},
            "max_rel": max(rel), "eval_acc": run.eval_acc,
            "ms_per_step": {k: 1000 * v / steps for k, v in run.wall_s.items()},
            "final_loss": {"torch": a[-1], "keras": b[-1]}, "seconds": time.perf_counter() - t0}


def device_check() -> str:
    import argparse as ap

    import torch

    from archdsl.commands.train import device_arg

    beyond = f"cuda:{torch.cuda.device_count()}"
    try:
        device_arg(beyond)
    except ap.ArgumentTypeError as exc:
        return f"{beyond}: refused ({exc})"
    return f"{beyond}: ACCEPTED (wrong)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--json", default=None)
    ns = p.parse_args(argv)
    from archdsl.training.threads import configure_threads

    configure_threads()
    import torch

    if not torch.cuda.is_available():
        print("skipped: CUDA is not available (torch.cuda.is_available() is False)")
        return 0
    import archdsl

    graph = archdsl.load(ROOT / "specs" / "cifar10_cnn.yaml")
    out: dict[str, object] = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ARCHDSL_CACHE"] = str(Path(tmp) / "cache")
        synthetic_npz(Path(tmp) / "cifar_like.npz", 10_000, 1_000)
        base = {**graph.spec.train.model_dump(), "dataset": str(Path(tmp) / "cifar_like.npz"),
                "schedule": {"name": "cosine", "interval": "step", "warmup": 10},
                "clip_grad_norm": 5.0, "epochs": 1}
        rows = [measure(graph, base, precision, ns.steps, ns.device)
                for precision in ("full", "bf16")]
    out["runs"] = rows
    out["device_beyond"] = device_check()
    for r in rows:
        print(json.dumps(r))
    print(out["device_beyond"])
    if ns.json:
        Path(ns.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
