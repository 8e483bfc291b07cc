"""Keras backend: every golden layer case lowered, shaped, counted and checked numerically.

The numerical reference is :mod:`archdsl.reference`, the framework-free numpy executor, fed
the same canonical weights; for cases PyTorch expresses natively the test also compares with
torch's own arguments (``padding=``, ``ceil_mode``, ``output_padding``...).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
F = torch.nn.functional

from layer_cases import CASES, Case  # noqa: E402

import archdsl  # noqa: E402
from archdsl import reference  # noqa: E402
from archdsl.backends import keras as kb  # noqa: E402
from archdsl.errors import BackendError  # noqa: E402
from archdsl.init import init_weights  # noqa: E402
from archdsl.layers import REGISTRY  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# Lowering paths the golden cases do not reach: Keras-rejected combinations and fallbacks.
EXTRA: list[Case] = [
    Case("x_convT_s2_d2", (2, 4, 5), "  - conv_transpose2d: {filters: 3, kernel: 3, stride: 2, dilation: 2}\n"),
    Case("x_convT1d_s1_d2_op1", (2, 6),
         "  - conv_transpose1d: {filters: 2, kernel: 3, dilation: 2, output_padding: 1}\n"),
    Case("x_convT_p2", (2, 5, 5), "  - conv_transpose2d: {filters: 2, kernel: 5, stride: 2, padding: 2}\n"),
    Case("x_convT_same_d2", (2, 5, 6), "  - conv_transpose2d: {filters: 2, kernel: 3, dilation: 2, padding: same}\n"),
    Case("x_convT_k1_s3_same", (2, 4, 4), "  - conv_transpose2d: {filters: 2, kernel: 1, stride: 3, padding: same}\n"),
    Case("x_convT3d_p1_op1", (2, 3, 3, 3),
         "  - conv_transpose3d: {filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1, bias: false}\n"),
    Case("x_depthwise_s2_d2", (3, 11, 11),
         "  - depthwise_conv2d: {kernel: 3, stride: 2, dilation: 2, multiplier: 2, padding: same}\n"),
    Case("x_separable_s2_d2", (3, 10, 9),
         "  - separable_conv2d: {filters: 4, kernel: 3, stride: 2, dilation: 2, padding: 1}\n"),
    Case("x_conv1d_s2_d3", (2, 17), "  - conv1d: {filters: 3, kernel: 3, stride: 2, dilation: 3}\n"),
    Case("x_conv3d_groups", (4, 5, 5, 5), "  - conv3d: {filters: 2, kernel: 3, groups: 2, padding: 1}\n"),
    Case("x_conv1d_groups_pads", (4, 9), "  - conv1d: {filters: 4, kernel: 3, groups: 4, padding: [[2, 1]]}\n"),
    Case("x_maxpool3d_p1", (2, 5, 5, 5), "  - max_pool3d: {pool: 3, stride: 2, padding: 1}\n"),
    Case("x_maxpool1d_ceil", (2, 10), "  - max_pool1d: {pool: 3, stride: 2, ceil_mode: true}\n"),
    Case("x_avgpool_same_incl", (2, 8, 8),
         "  - avg_pool2d: {pool: 3, stride: 2, padding: same, count_include_pad: true}\n"),
    Case("x_avgpool1d_ceil_incl", (2, 10),
         "  - avg_pool1d: {pool: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true}\n"),
    Case("x_avgpool3d_same", (2, 5, 6, 5), "  - avg_pool3d: {pool: 2, padding: same}\n"),
    Case("x_global_avg_3d_keep", (3, 4, 3, 2), "  - global_avg_pool: {keepdims: true}\n"),
    Case("x_global_max_1d", (3, 7), "  - global_max_pool: {}\n"),
    Case("x_softmax_spatial", (3, 4, 5), "  - softmax: {axis: 1}\n"),
    Case("x_softmax_last", (3, 4, 5), "  - softmax: {axis: -1}\n"),
    Case("x_concat_spatial", (3, 4, 5),
         "  - conv2d: {filters: 3, kernel: 1, id: a}\n  - concat: {from: [input, a], axis: 2}\n"),
    Case("x_multiply3", (4, 3, 3),
         "  - global_max_pool: {keepdims: true, id: g}\n  - sigmoid: {id: s}\n"
         "  - multiply: {from: [input, s, g]}\n"),
    Case("x_spatial_dropout_1d", (3, 6), "  - spatial_dropout: {rate: 0.2}\n"),
    Case("x_spatial_dropout_3d", (3, 2, 3, 2), "  - spatial_dropout: {rate: 0.2}\n"),
    Case("x_zero_padding_1d", (3, 6), "  - zero_padding: {padding: [[2, 0]]}\n"),
    Case("x_zero_padding_3d", (2, 2, 3, 2), "  - zero_padding: {padding: 1}\n"),
    Case("x_fixed_trainable", (1, 6, 6),
         "  - conv2d: {filters: 1, kernel: 3, fixed: blur3, trainable: true}\n"),
    Case("x_bn_nocenter_noscale", (3, 4), "  - batchnorm: {scale: false, center: false}\n"),
    Case("x_elu_alpha", (3, 4), "  - elu: {alpha: 0.5}\n"),
    Case("x_flatten_1d_dense", (3, 5), "  - flatten: {}\n  - dense: {units: 4}\n"),
]

ALL = [*CASES, *EXTRA]


# ---------------------------------------------------------------------------- the reference
def reference_forward(graph: Any, weights: dict, x: Any) -> dict:
    """Every node's float64 output from :mod:`archdsl.reference` (``x``: one NCHW array or a
    dict by input id)."""
    xs = [x[n] for n in graph.inputs] if isinstance(x, dict) else [x]
    return reference.forward(graph, weights, *[np.asarray(a, np.float64) for a in xs])


# Cases PyTorch expresses with its own arguments: an end-to-end check of the IR semantics too.
def _w(ws: dict, node: str) -> tuple[Any, Any]:
    return ws[node]["kernel"], ws[node].get("bias")


NATIVE: dict[str, Callable[[Any, dict], Any]] = {
    "conv2d_k3_s1_same_n8": lambda x, ws: F.conv2d(x, *_w(ws, "conv2d_1"), 1, "same"),
    "conv2d_dilated_strided": lambda x, ws: F.conv2d(x, *_w(ws, "conv2d_1"), 2, 2, 2),
    "conv2d_groups": lambda x, ws: F.conv2d(x, *_w(ws, "conv2d_1"), 1, 1, 1, 2),
    "depthwise_m1_valid": lambda x, ws: F.conv2d(x, *_w(ws, "depthwise_conv2d_1"), groups=4),
    "convT_k3_s2_p1_op1": lambda x, ws: F.conv_transpose2d(x, *_w(ws, "conv_transpose2d_1"),
                                                           2, 1, 1),
    "convT_k3_s2_valid_op1": lambda x, ws: F.conv_transpose2d(
        x, *_w(ws, "conv_transpose2d_1"), 2, 0, 1),
    "convT_k2_s2_valid": lambda x, ws: F.conv_transpose2d(x, *_w(ws, "conv_transpose2d_1"), 2),
    "convT_k1_s2_valid": lambda x, ws: F.conv_transpose2d(x, *_w(ws, "conv_transpose2d_1"), 2),
    "convT3d_k2_s2": lambda x, ws: F.conv_transpose3d(x, *_w(ws, "conv_transpose3d_1"), 2),
    "x_convT_s2_d2": lambda x, ws: F.conv_transpose2d(x, *_w(ws, "conv_transpose2d_1"), 2,
                                                      dilation=2),
    "x_convT1d_s1_d2_op1": lambda x, ws: F.conv_transpose1d(
        x, *_w(ws, "conv_transpose1d_1"), 1, 0, 1, 1, 2),
    "x_convT_p2": lambda x, ws: F.conv_transpose2d(x, *_w(ws, "conv_transpose2d_1"), 2, 2),
    "x_convT3d_p1_op1": lambda x, ws: F.conv_transpose3d(
        x, ws["conv_transpose3d_1"]["kernel"], None, 2, 1, 1),
    "maxpool_k2": lambda x, ws: F.max_pool2d(x, 2),
    "maxpool_k3_s2_ceil_n8": lambda x, ws: F.max_pool2d(x, 3, 2, ceil_mode=True),
    "maxpool_k3_s2_p1": lambda x, ws: F.max_pool2d(x, 3, 2, 1),
    "x_maxpool3d_p1": lambda x, ws: F.max_pool3d(x, 3, 2, 1),
    "x_maxpool1d_ceil": lambda x, ws: F.max_pool1d(x, 3, 2, ceil_mode=True),
    "avgpool_k3_s1_p1_incl": lambda x, ws: F.avg_pool2d(x, 3, 1, 1, count_include_pad=True),
    "avgpool_k3_s1_p1_excl": lambda x, ws: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
    "avgpool_k3_s2_ceil": lambda x, ws: F.avg_pool2d(x, 3, 2, ceil_mode=True),
    "avgpool_ceil_incl": lambda x, ws: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                    count_include_pad=True),
    "x_avgpool1d_ceil_incl": lambda x, ws: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True,
                                                        count_include_pad=True),
    "act_gelu_tanh": lambda x, ws: torch.nn.GELU("tanh")(x),
    "act_leaky": lambda x, ws: torch.nn.LeakyReLU(0.2)(x),
    "act_softmax": lambda x, ws: torch.nn.Softmax(dim=1)(x),
    "flatten_dense": lambda x, ws: torch.nn.Sequential(torch.nn.Flatten())(x) @ (
        ws["dense_1"]["kernel"].T) + ws["dense_1"]["bias"],
}


# ---------------------------------------------------------------------------- fixtures
def _weights(graph: Any, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """torch_default init, with random BatchNorm parameters and statistics (so BN is tested)."""
    ws = init_weights(graph, "torch_default", seed)
    rng = np.random.default_rng(seed)
    for n, arrays in ws.items():
        if graph[n].type == "batchnorm":
            for name, arr in arrays.items():
                if name == "running_var":
                    arrays[name] = rng.uniform(0.5, 2.0, arr.shape)
                else:
                    arrays[name] = rng.normal(0.0, 0.5, arr.shape) + (name == "gamma")
    return ws


class Built:
    def __init__(self, case: Case, dtype: str = "float32") -> None:
        self.case = case
        self.graph = archdsl.loads(case.spec(), file=f"<{case.name}>")
        self.weights = _weights(self.graph)
        self.model = kb.build(self.graph, weights=self.weights, dtype=dtype)
        rng = np.random.default_rng(1)
        self.x = rng.normal(size=(2, *case.input)).astype(dtype)
        self.out = kb.forward(self.model, self.graph, self.x)


_CACHE: dict[str, Built] = {}


def built(case: Case) -> Built:
    if case.name not in _CACHE:
        _CACHE[case.name] = Built(case)
    return _CACHE[case.name]


IDS = [c.name for c in ALL]


# ---------------------------------------------------------------------------- tests
def test_coverage() -> None:
    assert set(kb.LOWERINGS) == set(REGISTRY)


def test_no_tensorflow_import() -> None:
    """The lowering uses keras.* only, so it also runs on Keras' JAX backend."""
    for module in ("__init__", "layers", "lower", "model", "weights"):
        path = ROOT / "backends" / "keras" / f"{module}.py"
        text = path.read_text()
        assert "import tensorflow" not in text and "from tensorflow" not in text, path


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_shapes_params_and_numerics(case: Case) -> None:
    b = built(case)
    g = b.graph
    for n in g:
        assert b.out[n].shape == (2, *g[n].shape), n
    assert kb.count_params(b.model) == {k: g.params[k] for k in ("trainable", "non_trainable")}
    for n, node in g.layers():  # per node, on the layer named by the node id
        layer = b.model.get_layer(n)
        assert sum(math.prod(v.shape) for v in layer.trainable_weights) == node.trainable, n
        assert sum(math.prod(v.shape) for v in layer.non_trainable_weights) == (
            node.non_trainable), n
    want = reference_forward(g, b.weights, b.x.astype(np.float64))
    for n in g:
        np.testing.assert_allclose(b.out[n], want[n], rtol=0, atol=1e-5, err_msg=n)
    if case.name in NATIVE:
        xt = torch.as_tensor(b.x, dtype=torch.float64)
        ws = {n: {k: torch.as_tensor(v, dtype=torch.float64) for k, v in a.items()}
              for n, a in b.weights.items()}
        native = NATIVE[case.name](xt, ws).numpy()
        np.testing.assert_allclose(b.out[g.outputs[0]], native, rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_weights_round_trip(case: Case) -> None:
    b = built(case)
    got = kb.get_weights(b.model, b.graph)
    assert set(got) == set(b.weights)
    for n, arrays in b.weights.items():
        assert set(got[n]) == set(arrays)
        for name, arr in arrays.items():
            assert got[n][name].dtype == np.float32
            np.testing.assert_array_equal(got[n][name], arr.astype(np.float32), err_msg=n)
    kb.set_weights(b.model, b.graph, got)
    again = kb.get_weights(b.model, b.graph)
    for n, arrays in got.items():
        for name, arr in arrays.items():
            np.testing.assert_array_equal(again[n][name], arr)


# Keras 3 promotes float64 to float32 on every backend but TensorFlow (keras.src.backend.common.
# dtypes.BIT64_TO_BIT32_DTYPE), so float64 models are a TensorFlow-backend feature.
tf_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="Keras computes float64 only on the TensorFlow backend")


@tf_only
@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_float64_matches_torch_float64(case: Case) -> None:
    """Every lowering computes in float64 when asked: the same as torch float64 to 1e-12."""
    g = archdsl.loads(case.spec(), file=f"<{case.name}>")
    ws = _weights(g)
    m = kb.build(g, weights=ws, dtype="float64")
    x = np.random.default_rng(1).normal(size=(2, *case.input))
    out = kb.forward(m, g, x)
    want = reference_forward(g, ws, x)
    for n in g:
        assert out[n].dtype == np.float64, n
        np.testing.assert_allclose(out[n], want[n], rtol=0, atol=1e-12, err_msg=n)


LOWERED_AS = {  # the native fast paths and fallbacks, by the class of the node's layer
    "conv2d_k3_s1_same_n8": ("Conv2D", "same"),
    "conv2d_k3_s2_same_n8": ("Conv2D", "same"),
    "conv2d_k5_valid": ("Conv2D", "valid"),
    "conv2d_explicit_pads": ("Conv2D", "valid"),
    "conv2d_dilated_strided": ("SlicedConv2D", "valid"),
    "depthwise_m2_s2_same": ("DepthwiseConv2D", "same"),
    "convT_k3_s2_same": ("Conv2DTranspose", "same"),
    "convT_k3_s2_p1_op1": ("SlicedConv2DTranspose", "valid"),
    "convT_k1_s2_valid": ("Conv2DTranspose", "valid"),
    "x_convT_s2_d2": ("GeneralConvTranspose", None),
    "x_convT_same_d2": ("GeneralConvTranspose", None),
    "x_convT1d_s1_d2_op1": ("GeneralConvTranspose", None),
    "maxpool_k3_s2_same_n8": ("MaxPooling2D", "same"),
    "maxpool_k3_s2_p1": ("MaxPooling2D", "valid"),
    "avgpool_k3_s2_same_n8": ("AveragePooling2D", "same"),
    "avgpool_k3_s2_ceil": ("ExplicitAveragePooling", None),
    "avgpool_k3_s1_p1_excl": ("AveragePooling2D", "same"),  # symmetric pads = the 'same' rule
    "avgpool_k3_s1_p1_incl": ("ExplicitAveragePooling", None),
    "x_avgpool_same_incl": ("ExplicitAveragePooling", None),
}


@pytest.mark.parametrize("name", sorted(LOWERED_AS))
def test_lowering_paths(name: str) -> None:
    b = built(next(c for c in ALL if c.name == name))
    layer = b.model.get_layer(b.graph.outputs[0])
    cls, padding = LOWERED_AS[name]
    assert type(layer).__name__ == cls
    if padding is not None:
        assert layer.padding == padding


def test_pre_layers_and_frozen_fixed_filter() -> None:
    b = built(next(c for c in CASES if c.name == "maxpool_k3_s2_p1"))
    pad = b.model.get_layer("max_pool2d_1-pad")
    assert isinstance(pad, kb.ConstantPadding) and pad.value == -math.inf
    b = built(next(c for c in CASES if c.name == "conv2d_fixed_sobel"))
    layer = b.model.get_layer("conv2d_1")
    assert not layer.trainable and layer.padding == "same"
    sobel = kb.get_weights(b.model, b.graph)["conv2d_1"]["kernel"][0, 0]
    assert sobel.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


def test_cifar10_spec() -> None:
    g = archdsl.load(ROOT / "specs" / "cifar10_cnn.yaml")
    ws = _weights(g)
    m = kb.build(g, weights=ws)
    assert kb.count_params(m) == {"trainable": 293_034, "non_trainable": 896}
    assert m.output.shape == (None, 10)
    x = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    y = m(np.moveaxis(x, 1, -1), training=False)
    assert tuple(y.shape) == (3, 10)
    out = kb.forward(m, g, x, nodes=["block2.pool", "logits"])
    np.testing.assert_array_equal(out["logits"], keras.ops.convert_to_numpy(y))
    want = reference_forward(g, ws, x.astype(np.float64))
    for n in out:
        np.testing.assert_allclose(out[n], want[n], rtol=0, atol=2e-5, err_msg=n)
    # the fast paths of a hand-written keras.Sequential: no extra padding layers
    assert not [layer.name for layer in m.layers if layer.name.endswith("-pad")]


FLOAT64_SPEC = """archdsl: 1
name: f64 mix
input: [3, 9, 8]
body:
  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same, id: c}
  - batchnorm: {}
  - gelu: {approximate: tanh}
  - depthwise_conv2d: {kernel: 3, multiplier: 2, padding: same}
  - separable_conv2d: {filters: 5, kernel: 3, padding: [[1, 0], [0, 1]]}
  - conv_transpose2d: {filters: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1}
  - max_pool2d: {pool: 3, stride: 2, padding: 1, id: mp}
  - avg_pool2d: {pool: 3, stride: 1, padding: 1, count_include_pad: true}
  - global_avg_pool: {keepdims: true, id: gate}
  - multiply: {from: [mp, gate]}
  - flatten: {}
  - dense: {units: 6}
  - softmax: {}
"""


@tf_only
def test_float64_really_float64() -> None:
    g = archdsl.loads(FLOAT64_SPEC)
    ws = _weights(g)
    m = kb.build(g, weights=ws, dtype="float64")
    assert m.input.dtype == "float64"
    for layer in m.layers[1:]:  # after the InputLayer
        assert layer.compute_dtype == "float64", layer.name
        assert layer.output.dtype == "float64", layer.name
    assert all(v.dtype == "float64" for v in m.weights)
    got = kb.get_weights(m, g)
    assert got["c"]["kernel"].dtype == np.float64
    np.testing.assert_array_equal(got["c"]["kernel"], ws["c"]["kernel"])  # no float32 rounding
    x = np.random.default_rng(2).normal(size=(2, 3, 9, 8))
    out = kb.forward(m, g, x)
    want = reference_forward(g, ws, x)
    for n in g:
        assert out[n].dtype == np.float64, n
        np.testing.assert_allclose(out[n], want[n], rtol=0, atol=1e-12, err_msg=n)
    # float32 differs from the float64 reference by float32 round-off, not less
    m32 = kb.build(g, weights=ws)
    diff = np.abs(kb.forward(m32, g, x, nodes=["c"])["c"] - want["c"]).max()
    assert 1e-9 < diff < 1e-5


def test_forward_inputs_and_errors() -> None:
    b = built(next(c for c in CASES if c.name == "add_residual"))
    g, m = b.graph, b.model
    one = kb.forward(m, g, {"input": b.x}, nodes=["a"])
    assert list(one) == ["a"]
    np.testing.assert_array_equal(one["a"], b.out["a"])
    np.testing.assert_array_equal(kb.forward(m, g, [b.x], nodes=["input"])["input"], b.x)
    with pytest.raises(BackendError, match="no node 'aa'"):
        kb.forward(m, g, b.x, nodes=["aa"])
    with pytest.raises(BackendError, match="expected shape"):
        kb.forward(m, g, b.x[:, :, :3])


TWO_HEADS = """archdsl: 1
name: two heads
inputs: {img: [3, 6, 6], feat: [4]}
outputs: [cls, seg]
body:
  - conv2d: {from: img, filters: 2, kernel: 3, stride: 2, padding: same, id: seg}
  - global_avg_pool: {id: pooled}
  - concat: {from: [pooled, feat]}
  - dense: {units: 3, id: cls}
"""


def test_several_inputs_and_outputs() -> None:
    g = archdsl.loads(TWO_HEADS)
    ws = _weights(g)
    m = kb.build(g, weights=ws)
    assert [t.name for t in m.inputs] == ["img", "feat"]
    assert [tuple(t.shape) for t in m.outputs] == [(None, 3), (None, 3, 3, 2)]
    rng = np.random.default_rng(4)
    xs = {"img": rng.normal(size=(2, 3, 6, 6)), "feat": rng.normal(size=(2, 4))}
    out = kb.forward(m, g, xs)
    want = reference_forward(g, ws, xs)
    for n in g:
        np.testing.assert_allclose(out[n], want[n], rtol=0, atol=1e-5, err_msg=n)
    by_list = kb.forward(m, g, [xs["img"], xs["feat"]], nodes=["cls"])
    np.testing.assert_array_equal(by_list["cls"], out["cls"])
    with pytest.raises(BackendError, match="needs inputs"):
        kb.forward(m, g, {"img": xs["img"]})


def test_set_weights_errors() -> None:
    b = built(next(c for c in CASES if c.name == "conv2d_groups"))
    g, m = b.graph, b.model
    with pytest.raises(BackendError, match=r"'conv2d_1', weight 'kernel': expected shape "
                                           r"\[6, 2, 3, 3\].*received \[6, 4, 3, 3\]"):
        kb.set_weights(m, g, {"conv2d_1": {"kernel": np.zeros((6, 4, 3, 3))}}, strict=False)
    with pytest.raises(BackendError, match="no weight 'kernal'"):
        kb.set_weights(m, g, {"conv2d_1": {"kernal": np.zeros((6, 2, 3, 3))}}, strict=False)
    with pytest.raises(BackendError, match="'conv2d_2' is not a node"):
        kb.set_weights(m, g, {**b.weights, "conv2d_2": {}})
    with pytest.raises(BackendError, match="'input' has no weights"):
        kb.set_weights(m, g, {**b.weights, "input": {}})
    with pytest.raises(BackendError, match="no value given for weight.*bias"):
        kb.set_weights(m, g, {"conv2d_1": {"kernel": b.weights["conv2d_1"]["kernel"]}})
    with pytest.raises(BackendError, match="no value given"):
        kb.build(g, weights={})
    with pytest.raises(BackendError, match="dtype"):
        kb.build(g, dtype="float16")
    # nothing was assigned by the failed calls; a non-strict subset is
    np.testing.assert_array_equal(kb.get_weights(m, g)["conv2d_1"]["kernel"],
                                  b.weights["conv2d_1"]["kernel"].astype(np.float32))
    kb.set_weights(m, g, {"conv2d_1": {"bias": np.arange(6.0)}, "conv2d_9": {}}, strict=False)
    assert kb.get_weights(m, g)["conv2d_1"]["bias"].tolist() == list(range(6))
    kb.set_weights(m, g, b.weights)


CUSTOM_SPEC = """archdsl: 1
name: custom layers
input: [2, 8, 8]
body:
  - conv_transpose2d: {filters: 3, kernel: 3, stride: 2, dilation: 2}
  - conv2d: {filters: 3, kernel: 3, stride: 2, dilation: 2, padding: 1}
  - max_pool2d: {pool: 3, stride: 2, padding: 1}
  - avg_pool2d: {pool: 3, stride: 1, padding: 1, count_include_pad: true}
  - conv_transpose2d: {filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}
  - gelu: {}
  - batchnorm: {}
"""


def test_model_config_round_trip() -> None:
    """Every custom layer serializes: a model rebuilt from its config computes the same."""
    g = archdsl.loads(CUSTOM_SPEC)
    m = kb.build(g, weights=_weights(g), bn="torch")
    clone = keras.Model.from_config(m.get_config())
    assert isinstance(clone.get_layer("batchnorm_1"), kb.TorchLikeBatchNormalization)
    kb.set_weights(clone, g, kb.get_weights(m, g))
    x = np.random.default_rng(3).normal(size=(2, 2, 8, 8)).astype(np.float32)
    a, b = kb.forward(clone, g, x), kb.forward(m, g, x)
    for n in g:
        np.testing.assert_array_equal(a[n], b[n], err_msg=n)


# ---------------------------------------------------------------------------- BatchNorm
@tf_only
def test_torch_like_batchnorm_update() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(4, 6, 3, 5))  # NCHW, n = 4·3·5 = 60 values per channel
    g = archdsl.loads("archdsl: 1\nname: bn\ninput: [6, 3, 5]\nbody:\n"
                      "  - batchnorm: {momentum: 0.25, eps: 0.001}\n")
    m = kb.build(g, bn="torch", dtype="float64")
    layer = m.get_layer("batchnorm_1")
    assert isinstance(layer, kb.TorchLikeBatchNormalization)
    assert layer.momentum == 0.75 and layer.epsilon == 0.001
    y = keras.ops.convert_to_numpy(m(np.moveaxis(x, 1, -1), training=True))
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    n = x.size / x.shape[1]
    got = kb.get_weights(m, g)["batchnorm_1"]
    np.testing.assert_allclose(got["running_mean"], 0.25 * mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["running_var"], 0.75 + 0.25 * var * n / (n - 1), atol=1e-12)
    norm = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 0.001)
    np.testing.assert_allclose(np.moveaxis(y, -1, 1), norm, atol=1e-12)  # biased in forward
    # and PyTorch's own BatchNorm2d agrees
    tbn = torch.nn.BatchNorm2d(6, eps=0.001, momentum=0.25).double().train()
    tbn(torch.as_tensor(x))
    np.testing.assert_allclose(got["running_var"], tbn.running_var.numpy(), atol=1e-12)
    # stock Keras BN uses the biased variance
    stock = kb.build(g, dtype="float64")
    stock(np.moveaxis(x, 1, -1), training=True)
    biased = kb.get_weights(stock, g)["batchnorm_1"]["running_var"]
    np.testing.assert_allclose(biased, 0.75 + 0.25 * var, atol=1e-12)
    # inference mode is untouched
    x2 = rng.normal(size=(2, 6, 3, 5))
    np.testing.assert_allclose(kb.forward(m, g, x2)["batchnorm_1"],
                               reference_forward(g, {"batchnorm_1": got}, x2)["batchnorm_1"], atol=1e-12)


def test_torch_like_batchnorm_in_compiled_train_step() -> None:
    """The unbiased update also holds in a compiled (graph / XLA) training step."""
    g = archdsl.loads("archdsl: 1\nname: bn\ninput: [3, 2, 2]\nbody:\n  - batchnorm: {}\n")
    m = kb.build(g, bn="torch")
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    x = np.random.default_rng(5).normal(size=(6, 2, 2, 3)).astype(np.float32)
    m.train_on_batch(x, np.zeros_like(x))
    var = x.astype(np.float64).var(axis=(0, 1, 2))
    n = 6 * 2 * 2
    got = kb.get_weights(m, g)["batchnorm_1"]["running_var"]
    np.testing.assert_allclose(got, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-6)
    with pytest.raises(BackendError, match="bn must be one of"):
        kb.build(g, bn="pytorch")


def test_torch_like_batchnorm_flat_float32() -> None:
    layer = kb.TorchLikeBatchNormalization(momentum=0.9, epsilon=1e-5)
    x = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    layer(x, training=True)
    var = x.astype(np.float64).var(axis=0) * 8 / 7
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance),
                               0.9 + 0.1 * var, rtol=1e-6)
    cfg = layer.get_config()
    assert kb.TorchLikeBatchNormalization.from_config(cfg).momentum == 0.9
