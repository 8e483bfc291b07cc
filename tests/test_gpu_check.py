"""bench/gpu_check.py, the GPU lane: its code paths on the CPU (``--cpu-smoke``) and its skips.

The GPU run itself needs a CUDA machine (docs/benchmarks.md, section GPU); these tests prove that
the script's checks run end to end on tiny sizes, and that without CUDA it skips each check with
a reason and exits 0.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.py"
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402

HAVE = {name: importlib.util.find_spec(name) is not None for name in ("torch", "keras", "jax")}
needs_frameworks = pytest.mark.skipif(
    not (HAVE["torch"] and HAVE["keras"]), reason="the smoke run needs torch and keras"
)


def has_gpu() -> bool:
    """Whether this machine has a GPU that the script would use (then it runs, not skips)."""
    if HAVE["torch"]:
        import torch

        if torch.cuda.is_available():
            return True
    if HAVE["jax"]:
        import jax

        return jax.default_backend() != "cpu"
    return False


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)


@needs_frameworks
def test_cpu_smoke_runs_every_check(tmp_path):
    out = tmp_path / "gpu.json"
    r = run("--cpu-smoke", "--steps", "2", "--json", str(out))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    report = json.loads(out.read_text())
    checks = report["checks"]
    assert report["mode"] == "cpu-smoke"
    assert {k: v["status"] for k, v in checks.items()} == dict.fromkeys(gpu_check.CHECKS, "ok")
    assert "synthetic data of CIFAR-10's size" in r.stdout

    crosscheck = checks["forward"]["comparisons"][0]  # PyTorch vs Keras, same weights and input
    assert crosscheck["ok"] and crosscheck["max_abs_diff"] < 1e-5
    assert checks["train"]["steps"] == 2
    assert len(checks["train"]["rel_loss_diff_per_step"]) == 2
    assert checks["train"]["max_rel_loss_diff"] < 1e-4
    assert checks["float64"]["train"]["max_rel_loss_diff"] <= 1e-9
    keras64 = checks["float64"]["keras"]
    if report["devices"]["keras_backend"] == "jax":  # Keras on JAX refuses float64, and says why
        assert keras64["status"] == "skipped" and "float64" in keras64["reason"]
    else:
        assert keras64["status"] == "ok"
    runs = checks["epoch"]["runs"]
    assert runs["torch"]["steps"] == runs["keras"]["steps"] == 2  # 100 images, batch 50
    assert runs["torch"]["steps_per_s"] > 0 and runs["keras"]["epoch_s"] > 0


@pytest.mark.skipif(has_gpu(), reason="this machine has a GPU: the script would run its checks")
def test_without_cuda_every_check_is_skipped_with_a_reason(tmp_path):
    out = tmp_path / "gpu.json"
    r = run("--json", str(out))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    checks = json.loads(out.read_text())["checks"]
    assert set(checks) == set(gpu_check.CHECKS)
    for name, check in checks.items():
        assert check["status"] == "skipped", name
        assert check["reason"], name
    assert r.stdout.count("skipped: ") == len(gpu_check.CHECKS)


def test_synthetic_data_has_cifar10_shape_and_learnable_classes():
    api = gpu_check.load_api()
    graph = api.archdsl.load(gpu_check.SPEC)
    ds = gpu_check.synthetic_dataset(api, 2000, 200)
    api.check_fits(graph, ds)  # the chapter's CNN takes it as it takes CIFAR-10
    assert ds.x_train.shape == (2000, 3, 32, 32) and ds.x_train.dtype.name == "uint8"
    assert ds.num_classes == 10 and ds.y_test.shape == (200,)
    # the class is in the pixels: nearest class mean (of the training split) beats chance
    x, y = ds.x_train.reshape(2000, -1).astype(float), ds.y_train
    means = np.stack([x[y == k].mean(0) for k in range(10)])
    test = ds.x_test.reshape(200, -1).astype(float)
    pred = np.argmin(((test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == ds.y_test).mean() > 0.5


def test_helpers():
    assert gpu_check.rel_loss_diffs([2.0, 1.0, 0.0], [1.0, 1.0, 0.0]) == [0.5, 0.0, 0.0]
    text = gpu_check.table(["a", "bb"], [[1.5e-7, "x"], [0.0, "yy"]])
    assert text.splitlines() == ["| a        | bb |", "|----------|----|",
                                 "| 1.50e-07 | x  |", "| 0        | yy |"]
    dev = gpu_check.Devices("gpu", "cuda", None, {"keras": "no JAX GPU"}, "jax")
    assert gpu_check.why_skipped("forward", dev) is None  # torch alone runs its part
    assert gpu_check.why_skipped("epoch", dev) is None
    assert gpu_check.why_skipped("float64", dev) is None
    assert gpu_check.why_skipped("train", dev) == "keras: no JAX GPU"  # needs both
