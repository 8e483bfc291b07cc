"""The Keras lowering on Keras' JAX backend (a GPU machine may have torch and JAX but no TF).

Runs in a subprocess with ``KERAS_BACKEND=jax`` (Keras picks its backend once per process):
every golden layer case crosschecked against PyTorch in float32, 30 float32 training steps in
step with PyTorch (SGD, and Adam with BatchNorm), float64 refused with a clear error (on JAX,
Keras computes some operations in float32 even with ``JAX_ENABLE_X64``), and docs/training.md's
multi-device recipe on two virtual CPU devices. Skipped where JAX is not installed;
``make test-jax`` installs it and runs this module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("torch") is None,
    reason="needs jax and torch (make test-jax installs jax)",
)

ROOT = Path(__file__).resolve().parents[2]
#: the small net of both scripts (BatchNorm, max pooling, no dropout), as in test_step_parity.py
NET = """archdsl: 1
name: small
input: [3, 16, 16]
body:
  - conv2d: {filters: 16, kernel: 3, padding: same, bias: false}
  - batchnorm: {}
  - relu: {}
  - conv2d: {filters: 32, kernel: 3, stride: 2, padding: same}
  - relu: {}
  - max_pool2d: {pool: 2}
  - flatten: {}
  - dense: {units: 10}
"""
SCRIPT = r"""
import json, sys
import numpy as np
import keras
import archdsl
from layer_cases import CASES
from archdsl.crosscheck import forward_check
from archdsl.backends import keras as kb, torch as tb
from archdsl.backends.keras import train as kt
from archdsl.backends.torch import train as tt
from archdsl.errors import BackendError
from archdsl.init import init_weights
from archdsl.trainconfig import TrainConfig

out = {"backend": keras.backend.backend(), "cases": {}, "train": {}}
for case in CASES:
    r = forward_check(archdsl.loads(case.spec(), case.name), dtype="float32")
    out["cases"][case.name] = [r.ok, r.max_abs_diff, r.first_divergent_node]

NET = __NET__
g = archdsl.loads(NET, "small.yaml")
w = init_weights(g, "torch_default", 0)
rng = np.random.default_rng(0)
x = rng.normal(size=(30, 32, 3, 16, 16)).astype("float32")
y = rng.integers(0, 10, size=(30, 32))
for name, opt in {"sgd": {"name": "sgd", "lr": 0.03125, "momentum": 0.875},
                  "adam": {"name": "adam", "lr": 0.001}}.items():
    cfg = TrainConfig.model_validate({"optimizer": opt, "dtype": "float32", "dropout": "off"})
    t = tt.make_trainer(tb.build(g, weights=w, **tt.build_options(cfg)), g, cfg)
    k = kt.make_trainer(kb.build(g, weights=w, **kt.build_options(cfg)), g, cfg)
    lt = np.array([t.step(x[i], y[i]).loss for i in range(30)])
    lk = np.array([k.step(x[i], y[i]).loss for i in range(30)])
    out["train"][name] = [float(lt[0]), float(lt[-1]), float(np.max(np.abs(lt - lk) / lt))]
try:
    kb.build(g, dtype="float64")
    out["float64"] = None
except BackendError as exc:
    out["float64"] = exc.render()
print("RESULT " + json.dumps(out))
"""


#: docs/training.md's multi-device Keras recipe (DataParallel, graph.to_keras, TorchAdam, fit) on
#: two virtual CPU devices, against the same fit on one device; NET has BatchNorm and no
#: dropout, so the two runs must agree to round-off if the batch is split correctly.
DATA_PARALLEL = r"""
import json
import numpy as np
import keras
import archdsl
from archdsl.backends.keras.optim import TorchAdam

NET = __NET__
devices = keras.distribution.list_devices("cpu")
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 16, 16, 3)).astype("float32")
y = rng.integers(0, 10, 64)


def fit(distribution):
    keras.distribution.set_distribution(distribution)
    model = archdsl.loads(NET, "small.yaml").to_keras(bn="torch")
    model.compile(optimizer=TorchAdam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history["loss"]


one = fit(None)
two = fit(keras.distribution.DataParallel(devices=devices))
print("RESULT " + json.dumps({"devices": len(devices), "one": one, "two": two}))
"""


def run_on_jax(script: str, **env: str) -> dict[str, Any]:
    """Run ``script`` under ``KERAS_BACKEND=jax``; the JSON it prints after ``RESULT``."""
    script = script.replace("__NET__", repr(NET))
    full_env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT / "tests"), **env}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=full_env, cwd=ROOT,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT "):]))


@pytest.fixture(scope="module")
def on_jax() -> dict[str, Any]:
    return run_on_jax(SCRIPT)


def test_runs_on_jax(on_jax: dict[str, Any]) -> None:
    assert on_jax["backend"] == "jax"


def test_every_golden_case_matches_torch_in_float32(on_jax: dict[str, Any]) -> None:
    from layer_cases import CASES

    assert set(on_jax["cases"]) == {c.name for c in CASES}
    bad = {name: r for name, r in on_jax["cases"].items() if not (r[0] and r[1] <= 1e-5)}
    assert not bad, bad


def test_float32_training_follows_torch(on_jax: dict[str, Any]) -> None:
    """The float32 bounds of tests/train/test_step_parity.py (measured: 2e-7 SGD, 1.4e-5 Adam)."""
    assert set(on_jax["train"]) == {"sgd", "adam"}
    for name, (first, last, worst) in on_jax["train"].items():
        assert last < first, (name, first, last)  # it learns
        assert worst <= {"sgd": 1e-5, "adam": 1e-3}[name], (name, worst)


def test_float64_is_refused_with_the_remedy(on_jax: dict[str, Any]) -> None:
    message = on_jax["float64"]
    assert message is not None, "float64 built on JAX"
    assert "float64 Keras models need Keras' TensorFlow backend: on 'jax'" in message
    assert "KERAS_BACKEND=tensorflow" in message


def test_data_parallel_recipe_matches_one_device() -> None:
    r = run_on_jax(DATA_PARALLEL, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert r["devices"] == 2
    one, two = r["one"], r["two"]
    assert one[-1] < one[0]  # it learns
    assert max(abs(a - b) / a for a, b in zip(one, two)) <= 1e-5, (one, two)
