"""Every golden layer case (tests/layer_cases.py: every registered type, every convention) as
generated torch and Keras source equals its lowering: float32 within 1e-6, float64 within
1e-12. The generated files are imported from disk, weights loaded by their own
``load_weights`` from an archdsl ``.npz``."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from layer_cases import CASE_IDS, CASES

import archdsl
from archdsl.export import generate_source
from archdsl.init import init_weights
from archdsl.weights import save_npz

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_KERAS = importlib.util.find_spec("keras") is not None


def _case(case, tmp_path):
    g = archdsl.loads(case.spec(), f"{case.name}.yaml")
    w = init_weights(g, "he_normal", seed=1)
    path = tmp_path / "w.npz"
    save_npz(path, w)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, *g[n].shape)) for n in g.inputs]
    return g, w, path, xs


def _outs(y):
    return [np.asarray(t) for t in (y if isinstance(y, (tuple, list)) else [y])]


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_torch_source_equals_lowering(case, tmp_path, import_source):
    import torch

    g, w, path, xs = _case(case, tmp_path)
    mod = import_source(generate_source(g, "torch-src", formatted=False))
    cls = mod.load_weights.__annotations__["return"]
    for dtype, tol in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        model = mod.load_weights(str(path), cls().to(dtype))
        ref = g.to_torch(weights=w, dtype=str(dtype).split(".")[1]).eval()
        args = [torch.from_numpy(x).to(dtype) for x in xs]
        with torch.no_grad():
            got, want = _outs(model(*args)), _outs(ref(*args))
        for a, b in zip(got, want):
            assert a.shape == b.shape
            assert np.abs(a - b).max(initial=0.0) <= tol, (dtype, np.abs(a - b).max())


@pytest.mark.skipif(not HAS_KERAS, reason="needs keras")
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_keras_source_equals_lowering(case, tmp_path, import_source):
    import keras

    g, w, path, xs = _case(case, tmp_path)
    mod = import_source(generate_source(g, "keras-src", formatted=False))
    dtypes = [("float32", 1e-6)]
    if keras.backend.backend() == "tensorflow":
        dtypes.append(("float64", 1e-12))
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    try:
        for dtype, tol in dtypes:
            keras.config.set_floatx(dtype)
            keras.config.set_dtype_policy(dtype)
            model = mod.load_weights(str(path))
            ref = g.to_keras(weights=w, dtype=dtype)
            # the generated model takes what the lowering takes: channels-last maps
            data = [np.moveaxis(x, 1, -1).astype(dtype) if x.ndim > 2 else x.astype(dtype)
                    for x in xs]
            arg = data[0] if len(data) == 1 else data
            got = _outs(model(arg, training=False))
            want = _outs(ref(arg, training=False))
            assert len(got) == len(want) == len(g.outputs)
            for a, b in zip(got, want):
                assert a.shape == b.shape
                assert np.abs(a - b).max(initial=0.0) <= tol, (dtype, np.abs(a - b).max())
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
