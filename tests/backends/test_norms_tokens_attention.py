"""Layer and group normalization, layer scale, stochastic depth, parameters and multi-head
attention in both backends (issue 12), beyond what the golden-case suites check.

The golden suites run Keras with the init scheme's weights (γ = 1, β = 0, layer scale at its
constant): here every case also runs with random weights in both frameworks and both dtypes
against the numpy reference, the attention weight layout is checked against the native modules
(``nn.MultiheadAttention`` ↔ ``keras.layers.MultiHeadAttention``), stochastic depth drops whole
samples, parameters broadcast over the batch, the attention initializers follow each
framework, and the importers read the new families from native and archdsl models.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from layer_cases import CASES, Case  # noqa: E402

import archdsl  # noqa: E402
from archdsl import reference  # noqa: E402
from archdsl.backends import keras as kb  # noqa: E402
from archdsl.backends import torch as tb  # noqa: E402
from archdsl.backends.keras.importer import import_keras_model, keras_ref_layers  # noqa: E402
from archdsl.backends.keras.layers import Parameter, SelfAttention, StochasticDepth  # noqa: E402
from archdsl.backends.keras.weights import from_keras_parts, to_keras_parts  # noqa: E402
from archdsl.backends.torch.importer import import_torch_state_dict, torch_ref_layers  # noqa: E402
from archdsl.backends.torch.modules_residual import StochasticDepth as TorchStochasticDepth  # noqa: E402
from archdsl.init import init_weights, keras_fans  # noqa: E402
from archdsl.layers import Weight  # noqa: E402

TYPES = {"layer_norm", "group_norm", "layer_scale", "stochastic_depth", "parameter",
         "multi_head_attention"}
MINE = [c for c in CASES if c.layer_type in TYPES or c.name in ("vit_block_prenorm",
                                                                 "convnext_block_sd")]
TOL = {"float32": 1e-5, "float64": 1e-12}


def random_weights(graph: archdsl.Graph, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random canonical weights (fixed constants kept), γ around 1."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for node_id, arrays in init_weights(graph, "torch_default", seed).items():
        out[node_id] = {}
        for name, arr in arrays.items():
            w = graph[node_id].weights[name]
            if w.fixed is not None:
                out[node_id][name] = arr
            else:
                out[node_id][name] = rng.normal(0.0, 0.5, arr.shape) + (w.role == "gamma")
    return out


def graph_of(case: Case) -> archdsl.Graph:
    return archdsl.loads(case.spec(), f"{case.name}.yaml")


def max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(a[n], np.float64) - b[n]))) for n in b)


# ---------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", MINE, ids=[c.name for c in MINE])
def test_both_frameworks_equal_the_reference_with_random_weights(case: Case, dtype: str) -> None:
    g = graph_of(case)
    w = random_weights(g, seed=1)
    x = np.random.default_rng(2).normal(size=(3, *case.input))
    want = reference.forward(g, w, x, dtype="float64")
    got_t = tb.forward(tb.build(g, weights=w, dtype=dtype), g, x)
    got_k = kb.forward(kb.build(g, weights=w, dtype=dtype), g, x)
    assert max_diff(got_t, want) <= TOL[dtype]
    assert max_diff(got_k, want) <= TOL[dtype]


@pytest.mark.parametrize("case", MINE, ids=[c.name for c in MINE])
def test_keras_weights_round_trip_with_random_weights(case: Case) -> None:
    g = graph_of(case)
    w = random_weights(g, seed=4)
    back = kb.get_weights(kb.build(g, weights=w, dtype="float64"), g)
    for node_id, arrays in w.items():
        for name, arr in arrays.items():
            np.testing.assert_array_equal(back[node_id][name], arr)


def test_attention_layout_matches_the_native_modules() -> None:
    """Canonical = nn.MultiheadAttention's tensors; the parts go into a stock Keras layer."""
    d, heads = 8, 4
    native = torch.nn.MultiheadAttention(d, heads, batch_first=True).double().eval()
    with torch.no_grad():
        for p in native.parameters():
            p.normal_(0.0, 0.5)
    x = np.random.default_rng(0).normal(size=(2, 5, d))
    with torch.no_grad():
        want = native(*(torch.as_tensor(x),) * 3, need_weights=False)[0].numpy()
    stock = keras.layers.MultiHeadAttention(heads, key_dim=d // heads, dtype="float64")
    stock(x, x)
    roles = {"in_kernel": native.in_proj_weight, "in_bias": native.in_proj_bias,
             "out_kernel": native.out_proj.weight, "out_bias": native.out_proj.bias}
    dense = {"in": (stock.query_dense, stock.key_dense, stock.value_dense),
             "out": (stock.output_dense,)}
    for role, tensor in roles.items():
        part, attr = role.split("_")
        w = Weight(tuple(tensor.shape), role, groups=heads)
        arrays = to_keras_parts(w, tensor.detach().numpy())
        for layer, arr in zip(dense[part], arrays):
            getattr(layer, attr).assign(arr)
        np.testing.assert_array_equal(from_keras_parts(w, arrays), tensor.detach().numpy())
    got = keras.ops.convert_to_numpy(stock(x, x))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # stock: a float32 scale
    mine = SelfAttention(heads, key_dim=d // heads, dtype="float64")
    mine(x, x)
    mine.set_weights(stock.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mine(x, x)), want, rtol=0, atol=1e-13)


# ---------------------------------------------------------------------------- stochastic depth
def test_stochastic_depth_drops_whole_samples_in_training_only() -> None:
    x = np.ones((256, 3, 2, 2), "float32")
    torch.manual_seed(0)
    sd = TorchStochasticDepth(0.25)
    y_t = sd.train()(torch.as_tensor(x)).numpy()
    y_k = keras.ops.convert_to_numpy(StochasticDepth(0.25, seed=0)(x, training=True))
    for y in (y_t, y_k):
        per_sample = y.reshape(len(y), -1)
        assert (per_sample == per_sample[:, :1]).all()  # one value per sample
        assert set(np.unique(per_sample).tolist()) == {0.0, float(np.float32(4 / 3))}
        assert 0.6 < (per_sample[:, 0] > 0).mean() < 0.9
    np.testing.assert_array_equal(sd.eval()(torch.as_tensor(x)).numpy(), x)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(StochasticDepth(0.25)(x, training=False)), x)


# ---------------------------------------------------------------------------- parameters
def test_parameter_broadcasts_over_the_batch_and_fixed_ones_are_frozen() -> None:
    case = next(c for c in CASES if c.name == "param_fixed_window_mask")
    g = graph_of(case)
    node = g.outputs[0]
    tm, km = tb.build(g), kb.build(g)
    x = np.zeros((5, *case.input))
    out_t, out_k = tb.forward(tm, g, x)[node], kb.forward(km, g, x)[node]
    assert out_t.shape == out_k.shape == (5, 4, 4, 4)
    assert set(np.unique(out_t).tolist()) == {-100.0, 0.0}
    np.testing.assert_array_equal(out_t, out_k)
    assert not tm.get_submodule(node).value.requires_grad
    assert not km.get_layer(node).trainable_weights and isinstance(km.get_layer(node), Parameter)
    with torch.no_grad():
        assert not tm(torch.zeros(2, *case.input)).requires_grad


# ---------------------------------------------------------------------------- initializers
def test_attention_initializers_follow_each_framework() -> None:
    g = archdsl.loads("archdsl: 1\nname: t\ninput: [10, 64]\nbody:\n"
                      "  - multi_head_attention: {heads: 4}\n", "t.yaml")
    node = g.outputs[0]
    w = init_weights(g, "torch_default", 0)[node]
    assert not w["in_bias"].any() and not w["out_bias"].any()
    assert abs(np.abs(w["in_kernel"]).max() - math.sqrt(6 / (64 + 192))) < 2e-3  # xavier
    assert abs(np.abs(w["out_kernel"]).max() - 1 / 8) < 2e-3  # Linear: U(±1/√fan_in)
    stock = keras.layers.MultiHeadAttention(4, key_dim=16)  # Keras' own glorot on its layout
    x = np.zeros((1, 10, 64), "float32")
    stock(x, x)
    weights = g[node].weights
    for role, layer in (("in_kernel", stock.query_dense), ("out_kernel", stock.output_dense)):
        fan_in, fan_out = keras_fans(weights[role])
        bound = math.sqrt(6 / (fan_in + fan_out))
        drawn = float(np.abs(keras.ops.convert_to_numpy(layer.kernel)).max())
        assert 0.97 * bound < drawn <= bound, role


# ---------------------------------------------------------------------------- importers
VIT = """archdsl: 1
name: vit
input: [4, 6]
body:
  - parameter: {shape: [1, 6], init: normal, id: cls}
  - concat: {from: [cls, input], axis: 0, id: tok}
  - parameter: {shape: [5, 6], init: normal, id: pos}
  - add: {from: [tok, pos], id: x0}
  - layer_norm: {eps: 1.0e-6, id: ln1}
  - multi_head_attention: {heads: 2, id: attn}
  - layer_scale: {axis: last, init: 0.5, id: ls}
  - stochastic_depth: {rate: 0.1, id: sd}
  - add: {from: [x0, sd]}
  - layer_norm: {id: ln2}
"""
CONVNEXT = next(c for c in CASES if c.name == "convnext_block_sd").spec() + \
    "  - group_norm: {groups: 2, id: gn}\n"


@pytest.mark.parametrize("spec", [VIT, CONVNEXT], ids=["vit", "convnext"])
def test_own_models_import_back_in_both_frameworks(spec: str) -> None:
    g = archdsl.loads(spec, "t.yaml")
    w = random_weights(g, seed=5)
    from_torch = import_torch_state_dict(g, tb.build(g, weights=w, dtype="float64"))
    from_keras = import_keras_model(g, kb.build(g, weights=w, dtype="float64"))
    for got in (from_torch, from_keras):
        assert set(got) == set(w)
        for node_id, arrays in w.items():
            for name, arr in arrays.items():
                np.testing.assert_array_equal(got[node_id][name], arr, err_msg=node_id)


def test_native_modules_import_by_structure() -> None:
    """nn.LayerNorm / nn.MultiheadAttention / nn.GroupNorm and their Keras counterparts."""
    g = archdsl.loads("archdsl: 1\nname: t\ninput: [5, 6]\nbody:\n"
                      "  - layer_norm: {eps: 1.0e-6}\n  - multi_head_attention: {heads: 3}\n",
                      "t.yaml")

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.LayerNorm(6, eps=1e-6)
            self.attn = torch.nn.MultiheadAttention(6, 3, batch_first=True)

        def forward(self, x: Any) -> Any:
            y = self.norm(x)
            return self.attn(y, y, y, need_weights=False)[0]

    block = Block().double().eval()
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0.0, 0.5)
    layers, _ = torch_ref_layers(block)
    assert [(r.name, r.kind) for r in layers] == [("norm", "layer_norm"), ("attn", "attention")]
    x = np.random.default_rng(0).normal(size=(2, 5, 6))
    with torch.no_grad():
        want = block(torch.as_tensor(x)).numpy()
    got = tb.forward(tb.build(g, weights=import_torch_state_dict(g, block), dtype="float64"),
                     g, x)[g.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)

    inp = keras.Input((5, 6), dtype="float64")
    y = keras.layers.LayerNormalization(epsilon=1e-6, dtype="float64")(inp)
    y = keras.layers.MultiHeadAttention(3, key_dim=2, dtype="float64")(y, y)
    native = keras.Model(inp, y)
    layers, _ = keras_ref_layers(native)
    assert [r.kind for r in layers] == ["layer_norm", "attention"]
    km = kb.build(g, weights=import_keras_model(g, native), dtype="float64")
    want = keras.ops.convert_to_numpy(native(x))
    np.testing.assert_allclose(kb.forward(km, g, x)[g.outputs[0]], want, rtol=0, atol=1e-6)


def test_group_norm_imports_from_both_frameworks() -> None:
    gn_t = torch.nn.GroupNorm(2, 4, eps=1e-3)
    kind, arrays, attrs = tb.importer.convert_module(gn_t)
    assert (kind, sorted(arrays), attrs) == ("group_norm", ["beta", "gamma"], {"eps": 1e-3})
    inp = keras.Input((3, 3, 4))
    native = keras.Model(inp, keras.layers.GroupNormalization(2, epsilon=1e-3)(inp))
    layers, _ = keras_ref_layers(native)
    assert [(r.kind, sorted(r.arrays), r.attrs) for r in layers] == [
        ("group_norm", ["beta", "gamma"], {"eps": 1e-3})]


# ---------------------------------------------------------------------------- tracing
def test_token_model_traces_with_fx() -> None:
    g = archdsl.loads(VIT, "t.yaml")
    model = tb.build(g, weights=random_weights(g), dtype="float64").eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
    assert isinstance(traced.get_submodule("attn.mha"), torch.nn.MultiheadAttention)
