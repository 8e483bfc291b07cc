"""Token graphs end to end: PyTorch, Keras and the numpy reference agree on every node.

A ViT-style patch embedding (conv 4×4 stride 4 → reshape → permute → dense on tokens →
attention scores → softmax → matmul → mean over tokens), a Swin-style shifted-window block
(permute to channels-last, roll, window partition with reshape/permute, relative position bias
gathered with ``take``, and back) and a conv → tokens → conv round trip, each built in both
frameworks from one graph and one set of weights and compared node by node with
:func:`archdsl.reference.forward`: float64 ≤ 1e-12, float32 ≤ 1e-5.

The Keras model keeps feature maps channels-last and tokens in IR order; the builder inserts a
``Permute`` only where a reader needs the other layout. The round trip needs exactly two (into
IR order before the first reshape, back to channels-last before the last convolution), and
``"follow"`` layers (slice, pad, roll, take, softmax, concat) on a feature map need none.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import archdsl  # noqa: E402
from archdsl import reference  # noqa: E402
from archdsl.backends import keras as kb  # noqa: E402
from archdsl.backends import torch as tb  # noqa: E402
from archdsl.init import init_weights  # noqa: E402

VIT = """archdsl: 1
name: vit patch tokens
input: [3, 16, 12]
body:
  - conv2d: {filters: 8, kernel: 4, stride: 4, id: patches}
  - reshape: {shape: [8, -1]}
  - permute: {dims: [1, 0], id: tokens}
  - dense: {units: 6, id: q}
  - dense: {units: 6, from: tokens, id: k}
  - dense: {units: 8, from: tokens, id: v}
  - matmul: {from: [q, k], transpose_b: true, id: scores}
  - scale: {factor: 0.408248290463863}
  - softmax: {axis: -1, id: attn}
  - matmul: {from: [attn, v], id: mixed}
  - slice: {from: tokens, axis: 0, stop: 1, id: first}
  - concat: {from: [first, mixed], axis: 0, id: with_first}
  - mean: {axes: 0}
  - dense: {units: 3}
"""

SWIN = """archdsl: 1
name: swin window block
input: [3, 16, 24]
body:
  - conv2d: {filters: 4, kernel: 4, stride: 4, id: patches}
  - permute: {dims: [1, 2, 0], id: hwc}
  - roll: {shifts: [-1, -1], axes: [0, 1], id: shifted}
  - reshape: {shape: [2, 2, 3, 2, 4]}
  - permute: {dims: [0, 2, 1, 3, 4]}
  - reshape: {shape: [6, 4, 4], id: windows}
  - scale: {factor: 0.5, id: q}
  - matmul: {from: [q, windows], transpose_b: true, id: scores}
  - mean: {from: hwc, axes: [0, 1]}
  - dense: {units: 18}
  - reshape: {shape: [9, 2], id: table}
  - take: {axis: 0, index: 'relative_position_index(2)', id: gathered}
  - permute: {dims: [1, 0]}
  - reshape: {shape: [2, 4, 4]}
  - mean: {axes: 0, keepdims: true, id: bias}
  - add: {from: [scores, bias]}
  - softmax: {axis: -1, id: attn}
  - matmul: {from: [attn, windows]}
  - reshape: {shape: [2, 3, 2, 2, 4]}
  - permute: {dims: [0, 2, 1, 3, 4]}
  - reshape: {shape: [4, 6, 4]}
  - roll: {shifts: [1, 1], axes: [-3, -2], id: unshifted}
  - pad: {pads: [[0, 1], [1, 0], [0, 0]], value: 0.5}
  - slice: {axis: 0, start: 1}
  - slice: {axis: 1, stop: -1}
  - permute: {dims: [2, 0, 1], id: chw}
  - conv2d: {filters: 3, kernel: 1}
"""

ROUND_TRIP = """archdsl: 1
name: conv tokens conv
input: [3, 8, 12]
body:
  - conv2d: {filters: 4, kernel: 2, stride: 2, id: stem}
  - reshape: {shape: [4, 24]}
  - permute: {dims: [1, 0], id: tokens}
  - dense: {units: 4}
  - softmax: {axis: -1}
  - permute: {dims: [1, 0]}
  - reshape: {shape: [4, 4, 6], id: back}
  - conv2d: {filters: 2, kernel: 3, padding: same}
"""

FOLLOW = """archdsl: 1
name: follow layers on a feature map
input: [3, 6, 7]
body:
  - conv2d: {filters: 4, kernel: 3, padding: same, id: a}
  - pad: {pads: [[0, 0], [1, 1], [0, 2]], value: -0.5}
  - roll: {shifts: [1, -2], axes: [1, 2]}
  - slice: {axis: -1, start: 1, stop: 8}
  - take: {axis: 0, index: [3, 1, 2, 0, 0]}
  - softmax: {axis: 1, id: s}
  - slice: {axis: 1, start: 1, stop: 7, id: b}
  - concat: {from: [a, b], axis: 0}
  - conv2d: {filters: 2, kernel: 1}
"""

SPECS = {"vit": VIT, "swin": SWIN, "round_trip": ROUND_TRIP, "follow": FOLLOW}
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def _weights(g: archdsl.Graph) -> dict:
    """PyTorch's default initialization, biases included, so activations stay O(1) and the
    absolute float32 tolerance means what it says."""
    return init_weights(g, "torch_default", 3)


def _diffs(name: str, dtype: str) -> dict[str, tuple[float, float]]:
    """``{node: (|torch − reference|, |keras − reference|)}`` maximum absolute differences."""
    g = archdsl.loads(SPECS[name], f"{name}.yaml")
    ws = _weights(g)
    x = np.random.default_rng(4).normal(size=(2, *g[g.inputs[0]].shape))
    want = reference.forward(g, ws, x, dtype="float64")
    got_t = tb.forward(tb.build(g, weights=ws, dtype=dtype), g, x.astype(dtype))
    got_k = kb.forward(kb.build(g, weights=ws, dtype=dtype), g, x.astype(dtype))
    out = {}
    for n in g:
        assert got_t[n].shape == got_k[n].shape == want[n].shape == (2, *g[n].shape), n
        assert got_t[n].dtype == got_k[n].dtype == np.dtype(dtype), n
        out[n] = (float(np.abs(got_t[n] - want[n]).max()),
                  float(np.abs(got_k[n] - want[n]).max()))
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_node_equals_the_reference(name: str, dtype: str) -> None:
    if dtype == "float64" and keras.backend.backend() != "tensorflow":
        pytest.skip("Keras computes float64 only on the TensorFlow backend")
    diffs = _diffs(name, dtype)
    bad = {n: d for n, d in diffs.items() if max(d) > TOLERANCE[dtype]}
    assert not bad, bad


def _conversions(model: keras.Model) -> list[str]:
    """The layout conversions the builder inserted (named ``<node>-to_<layout><i>``)."""
    return [layer.name for layer in model.layers if "-to_" in layer.name]


def test_round_trip_inserts_only_the_two_needed_permutes() -> None:
    g = archdsl.loads(ROUND_TRIP)
    m = kb.build(g)
    assert _conversions(m) == ["reshape_1-to_ir0", "conv2d_1-to_channels_last0"]
    permutes = [layer.name for layer in m.layers if isinstance(layer, keras.layers.Permute)]
    assert permutes == ["reshape_1-to_ir0", "tokens", "permute_1",
                        "conv2d_1-to_channels_last0"]


def test_follow_layers_on_a_feature_map_insert_no_permute() -> None:
    m = kb.build(archdsl.loads(FOLLOW))
    assert _conversions(m) == []
    assert not [layer for layer in m.layers if isinstance(layer, keras.layers.Permute)]


def test_swin_window_tokens_stay_in_ir_order() -> None:
    """One conversion into IR order (before the first permute) and one back (before the last
    convolution); roll, take, pad, slice and softmax follow their inputs."""
    m = kb.build(archdsl.loads(SWIN))
    assert _conversions(m) == ["hwc-to_ir0", "conv2d_1-to_channels_last0"]


def test_torch_model_traces_with_fx() -> None:
    g = archdsl.loads(SWIN)
    model = tb.build(g, dtype="float64").eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.as_tensor(np.random.default_rng(5).normal(size=(2, 3, 16, 24)))
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


def test_keras_tensor_layers_serialize() -> None:
    """Every custom layer of the family rebuilds from its config (saved models load)."""
    m = kb.build(archdsl.loads(SWIN))
    custom = [layer for layer in m.layers if type(layer).__module__.endswith("layers_tensor")]
    assert {type(layer).__name__ for layer in custom} >= {"Roll", "Take", "Mean", "MatMul",
                                                          "AxisPad", "AxisSlice"}
    for layer in custom:
        again = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(again) is type(layer) and again.get_config() == layer.get_config()
