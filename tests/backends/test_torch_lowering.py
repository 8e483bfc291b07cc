"""The torch lowering of every golden layer case, checked against an independent reference.

For every case in ``tests/layer_cases.py``: the module's output shape at every node equals the
IR shape, ``count_params`` equals the IR's analytic count, weights round-trip exactly, and a
float64 forward pass equals a plain-numpy evaluation of the graph written here from the
definitions (TF 'same' padding, PyTorch ceil mode, average-pool divisors, transposed-conv
cropping, depthwise channel order c·M + m, BatchNorm inference, channel-first flatten...).
The numpy reference recomputes padding and cropping from the layer *parameters*, not from the
IR's resolved attributes, so it also checks the core's geometry.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from layer_cases import CASE_IDS, CASES, Case  # noqa: E402

import archdsl  # noqa: E402
from archdsl.backends import torch as tb  # noqa: E402
from archdsl.init import init_weights  # noqa: E402
from archdsl.layers import REGISTRY  # noqa: E402


def _one(name: str, shape: tuple[int, ...], layer: str) -> Case:
    return Case(name, shape, f"  - {layer}\n")


#: more cases, for the paths the golden cases do not reach in this backend
EXTRA_CASES: list[Case] = [
    Case("rank5_bn_pad_gmax_concat", (2, 3, 3, 3, 3),
         "  - batchnorm: {eps: 0.01}\n  - zero_padding: {padding: [1, 0, 2, 1]}\n"
         "  - global_max_pool: {keepdims: true, id: g}\n  - concat: {from: [g, g], axis: -1}\n"),
    Case("bn_seq_no_center", (4, 6), "  - batchnorm: {center: false, momentum: 0.2}\n"),
    _one("maxpool_pad_over_half", (2, 7, 7), "max_pool2d: {pool: 3, stride: 2, padding: 2}"),
    _one("maxpool1d_same_ceil", (2, 10),
         "max_pool1d: {pool: 3, stride: 2, padding: same, ceil_mode: true}"),
    _one("avgpool_same_incl", (2, 8, 7),
         "avg_pool2d: {pool: 3, stride: 2, padding: same, count_include_pad: true}"),
    _one("avgpool_pad_over_half_ceil_incl", (2, 9, 8),
         "avg_pool2d: {pool: 3, stride: 2, padding: 2, ceil_mode: true, count_include_pad: true}"),
    _one("avgpool3d_same_ceil", (2, 5, 6, 7),
         "avg_pool3d: {pool: 2, stride: 2, padding: same, ceil_mode: true}"),
    _one("convT_dilated_op", (2, 4, 5),
         "conv_transpose2d: {filters: 3, kernel: 3, dilation: 2, padding: 1, output_padding: 1}"),
    _one("convT1d_same_k1_s3", (2, 4),
         "conv_transpose1d: {filters: 2, kernel: 1, stride: 3, padding: same}"),
    _one("convT_same_dilated", (2, 4, 4),
         "conv_transpose2d: {filters: 2, kernel: 3, stride: 2, dilation: 2, padding: same}"),
    _one("convT3d_same_odd", (2, 3, 2, 3),
         "conv_transpose3d: {filters: 2, kernel: 3, stride: 2, padding: same, bias: false}"),
    _one("conv3d_dilated_groups", (4, 5, 6, 7),
         "conv3d: {filters: 4, kernel: 2, dilation: 2, groups: 2, padding: same}"),
    _one("conv2d_frozen", (2, 6, 6), "conv2d: {filters: 3, kernel: 3, trainable: false}"),
    _one("depthwise1d_causal", (3, 9),
         "depthwise_conv1d: {kernel: 3, padding: causal, multiplier: 2}"),
    _one("separable_explicit", (3, 7, 8),
         "separable_conv2d: {filters: 4, kernel: 3, padding: [[0, 2], [1, 0]], multiplier: 2}"),
    _one("softmax_neg_axis", (3, 4, 5), "softmax: {axis: -1}"),
    Case("concat_spatial", (3, 4, 5),
         "  - identity: {id: a}\n  - concat: {from: [input, a], axis: 1}\n"),
]
ALL_CASES = CASES + EXTRA_CASES
ALL_IDS = CASE_IDS + [c.name for c in EXTRA_CASES]
BY_NAME = {c.name: c for c in ALL_CASES}


@functools.cache
def graph_of(name: str) -> archdsl.Graph:
    return archdsl.loads(BY_NAME[name].spec(), file=f"<{name}>")


def random_weights(graph: archdsl.Graph, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Random canonical weights (fixed filters kept), positive running variances."""
    rng = np.random.default_rng(seed)
    base = init_weights(graph, "torch_default", seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for node_id, arrays in base.items():
        out[node_id] = {}
        for name, arr in arrays.items():
            w = graph[node_id]["weights"][name]
            if w.fixed is not None:
                out[node_id][name] = arr
            elif w.role == "running_var":
                out[node_id][name] = rng.uniform(0.5, 2.0, arr.shape)
            else:
                out[node_id][name] = rng.normal(0.0, 0.5, arr.shape)
    return out


# ============================================================================ numpy reference


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def _pads(padding: Any, spatial: tuple[int, ...], k_eff: tuple[int, ...],
          stride: tuple[int, ...]) -> list[tuple[int, int]]:
    """Padding pairs from the layer parameter, by definition."""
    n = len(spatial)
    if padding == "valid":
        return [(0, 0)] * n
    if padding == "same":  # TensorFlow: out = ceil(n / s), the odd cell goes at the end
        pairs = []
        for x, k, s in zip(spatial, k_eff, stride):
            total = max((math.ceil(x / s) - 1) * s + k - x, 0)
            pairs.append((total // 2, total - total // 2))
        return pairs
    if padding == "causal":
        return [(k_eff[0] - 1, 0)]
    if isinstance(padding, int):
        return [(padding, padding)] * n
    if all(isinstance(p, list) for p in padding):
        return [(a, b) for a, b in padding]
    return [(p, p) for p in padding]


def np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
            dilation: tuple[int, ...], pads: list[tuple[int, int]], groups: int) -> np.ndarray:
    """Cross-correlation with zero padding; w (O, C/groups, *k), groups contiguous."""
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1
              for i in range(len(k))]
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    cg, og = c // groups, o // groups
    out = np.zeros((n, o, *out_sp))
    for tap in itertools.product(*(range(kk) for kk in k)):
        sl = tuple(slice(t * d, t * d + s * (m - 1) + 1, s)
                   for t, d, s, m in zip(tap, dilation, stride, out_sp))
        patch = xp[(slice(None), slice(None), *sl)]
        for g in range(groups):
            wt = w[(slice(g * og, (g + 1) * og), slice(None), *tap)]
            out[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...",
                                                     patch[:, g * cg:(g + 1) * cg], wt)
    if b is not None:
        out += b.reshape(1, -1, *([1] * len(k)))
    return out


def transposed_crops(p: Any, spatial: tuple[int, ...], dims: int) -> list[tuple[int, int]]:
    """Crops of a transposed convolution from its parameters (negative end = zero rows)."""
    k = _tuple(p.kernel, dims)
    s = _tuple(p.stride, dims)
    d = _tuple(p.dilation, dims)
    op = _tuple(p.output_padding, dims)
    crops = []
    for i in range(dims):
        k_eff = d[i] * (k[i] - 1) + 1
        if p.padding == "same":  # out = n·s; TF crops the excess, the odd cell at the end
            total = k_eff - s[i]
            crops.append((total // 2, total - total // 2) if total >= 0 else (0, total))
        else:
            pad = 0 if p.padding == "valid" else _tuple(p.padding, dims)[i]
            crops.append((pad, pad - op[i]))
    return crops


def np_conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                      stride: tuple[int, ...], dilation: tuple[int, ...],
                      crops: list[tuple[int, int]]) -> np.ndarray:
    """Scatter form: each input cell adds w[c, o, tap] at position i·s + tap·d; then crop."""
    n_sp = x.shape[2:]
    k = w.shape[2:]
    full = [(n - 1) * s + d * (kk - 1) + 1 for n, s, d, kk in zip(n_sp, stride, dilation, k)]
    out = np.zeros((x.shape[0], w.shape[1], *full))
    for tap in itertools.product(*(range(kk) for kk in k)):
        sl = tuple(slice(t * d, t * d + s * (n - 1) + 1, s)
                   for t, d, s, n in zip(tap, dilation, stride, n_sp))
        out[(slice(None), slice(None), *sl)] += np.einsum(
            "nc...,co->no...", x, w[(slice(None), slice(None), *tap)])
    for axis, (lo, hi) in enumerate(crops):
        if hi < 0:
            widths = [(0, 0)] * out.ndim
            widths[axis + 2] = (0, -hi)
            out = np.pad(out, widths)
            hi = 0
        size = out.shape[axis + 2]
        out = out[(slice(None), slice(None), *([slice(None)] * axis), slice(lo, size - hi))]
    if b is not None:
        out = out + b.reshape(1, -1, *([1] * len(k)))
    return out


def np_pool(x: np.ndarray, p: Any, dims: int, kind: str) -> np.ndarray:
    """Max / average pooling by definition: windows, −∞ / zero padding, ceil mode, divisors."""
    k = _tuple(p.pool, dims)
    s = _tuple(p.stride if p.stride is not None else p.pool, dims)
    spatial = x.shape[2:]
    pads = _pads(p.padding, spatial, k, s)
    outs = []
    for n, kk, ss, (b, e) in zip(spatial, k, s, pads):
        if p.ceil_mode:  # PyTorch: ceil, but the last window must start inside input/left pad
            o = math.ceil((n + b + e - kk) / ss) + 1
            if (o - 1) * ss >= n + b:
                o -= 1
        else:
            o = (n + b + e - kk) // ss + 1
        outs.append(o)
    out = np.zeros((*x.shape[:2], *outs))
    for idx in itertools.product(*(range(o) for o in outs)):
        real, counted = [], []
        for i, o in enumerate(idx):
            start = o * s[i] - pads[i][0]
            stop = start + k[i]
            real.append(slice(max(start, 0), min(stop, spatial[i])))
            counted.append(min(stop, spatial[i] + pads[i][1]) - max(start, -pads[i][0]))
        window = x[(slice(None), slice(None), *real)]
        flat = window.reshape(*x.shape[:2], -1)
        if kind == "max":
            val = flat.max(axis=-1)
        else:
            divisor = math.prod(counted) if p.count_include_pad else flat.shape[-1]
            val = flat.sum(axis=-1) / divisor
        out[(slice(None), slice(None), *idx)] = val
    return out


_erf = np.vectorize(math.erf)


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "relu": lambda x, p: np.maximum(x, 0.0),
    "relu6": lambda x, p: _relu6(x),
    "sigmoid": lambda x, p: _sigmoid(x),
    "hard_sigmoid": lambda x, p: _relu6(x + 3.0) / 6.0,
    "swish": lambda x, p: x * _sigmoid(x),
    "hard_swish": lambda x, p: x * _relu6(x + 3.0) / 6.0,
    "tanh": lambda x, p: np.tanh(x),
    "leaky_relu": lambda x, p: np.where(x > 0, x, p.negative_slope * x),
    "elu": lambda x, p: np.where(x > 0, x, p.alpha * (np.exp(x) - 1.0)),
    "gelu": lambda x, p: (
        0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))) if p.approximate == "none"
        else 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    ),
}


def np_node(node: dict[str, Any], xs: list[np.ndarray], w: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate one node in numpy (eval mode) from its type and parameters."""
    t, p = node["type"], node["params"]
    x = xs[0]
    dims = x.ndim - 2
    if t in ACTIVATIONS:
        return ACTIVATIONS[t](x, p)  # type: ignore[no-any-return]
    if t.startswith(("conv1d", "conv2d", "conv3d", "depthwise", "separable")):
        k = _tuple(p.kernel, dims)
        d = _tuple(p.dilation, dims)
        s = _tuple(p.stride, dims)
        pads = _pads(p.padding, x.shape[2:], tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d)), s)
        assert [tuple(pp) for pp in node["attrs"]["pads"]] == pads
        if t.startswith("conv"):
            return np_conv(x, w["kernel"], w.get("bias"), s, d, pads, p.groups)
        if t.startswith("depthwise"):
            return np_conv(x, w["kernel"], w.get("bias"), s, d, pads, x.shape[1])
        y = np_conv(x, w["depthwise_kernel"], None, s, d, pads, x.shape[1])
        return np_conv(y, w["pointwise_kernel"], w.get("bias"), (1,) * dims, (1,) * dims,
                       [(0, 0)] * dims, 1)
    if t.startswith("conv_transpose"):
        crops = transposed_crops(p, x.shape[2:], dims)
        assert [tuple(c) for c in node["attrs"]["crops"]] == crops
        return np_conv_transpose(x, w["kernel"], w.get("bias"), _tuple(p.stride, dims),
                                 _tuple(p.dilation, dims), crops)
    if t.startswith("max_pool"):
        return np_pool(x, p, dims, "max")
    if t.startswith("avg_pool"):
        return np_pool(x, p, dims, "avg")
    if t in ("global_avg_pool", "global_max_pool"):
        fn = np.mean if t == "global_avg_pool" else np.max
        return fn(x, axis=tuple(range(2, x.ndim)), keepdims=p.keepdims)  # type: ignore[no-any-return]
    if t == "batchnorm":
        shape = (1, -1, *([1] * (x.ndim - 2)))
        y = (x - w["running_mean"].reshape(shape)) / np.sqrt(w["running_var"].reshape(shape)
                                                            + p.eps)
        if "gamma" in w:
            y = y * w["gamma"].reshape(shape)
        if "beta" in w:
            y = y + w["beta"].reshape(shape)
        return y  # type: ignore[no-any-return]
    if t in ("dropout", "spatial_dropout", "identity"):
        return x
    if t == "softmax":
        axis = p.axis + 1 if p.axis >= 0 else p.axis
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)  # type: ignore[no-any-return]
    if t == "flatten":
        return x.reshape(x.shape[0], -1)
    if t == "dense":
        y = x @ w["kernel"].T
        return y + w["bias"] if "bias" in w else y  # type: ignore[no-any-return]
    if t == "add":
        return sum(xs[1:], xs[0])  # type: ignore[no-any-return]
    if t == "multiply":
        return functools.reduce(np.multiply, xs)
    if t == "concat":
        return np.concatenate(xs, axis=p.axis + 1 if p.axis >= 0 else p.axis)
    if t == "scale":
        return x * p.factor  # type: ignore[no-any-return]
    if t == "zero_padding":
        return np.pad(x, [(0, 0), (0, 0), *_pads(p.padding, x.shape[2:], (1,) * dims,
                                                 (1,) * dims)])
    raise AssertionError(f"no numpy reference for {t}")


def np_graph(graph: archdsl.Graph, inputs: list[np.ndarray],
             weights: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    values = dict(zip(graph.inputs, inputs))
    for node_id, node in graph.layers():
        xs = [values[s] for s in node["inputs"]]
        values[node_id] = np_node(node, xs, weights.get(node_id, {}))
    return values


# ============================================================================ tests


def test_every_registered_type_has_a_lowering() -> None:
    assert set(tb.LOWERINGS) == set(REGISTRY)
    assert all(callable(fn) for fn in tb.LOWERINGS.values())


def test_golden_cases_cover_every_type() -> None:
    used = {graph_of(c.name)[n]["type"] for c in CASES for n in graph_of(c.name)}
    assert set(REGISTRY) - used == set()


@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_shapes_and_param_counts(case: Case) -> None:
    g = graph_of(case.name)
    model = tb.build(g, seed=0)
    assert tb.count_params(model) == {k: g.params[k] for k in ("trainable", "non_trainable")}
    x = np.random.default_rng(0).normal(size=(2, *case.input))
    out = tb.forward(model, g, x)
    assert set(out) == set(g)
    for node_id in g:
        assert out[node_id].shape == (2, *g[node_id]["shape"]), node_id
        assert out[node_id].dtype == np.float32
    # the lean forward (reused slots) agrees with forward_all
    model.eval()
    with torch.no_grad():
        y = model(torch.as_tensor(x, dtype=torch.float32))
    np.testing.assert_array_equal(y.numpy(), out[g.outputs[0]])


@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_float64_forward_matches_numpy_reference(case: Case) -> None:
    g = graph_of(case.name)
    weights = random_weights(g, seed=1)
    model = tb.build(g, weights=weights, dtype="float64")
    x = np.random.default_rng(2).normal(size=(3, *case.input))
    got = tb.forward(model, g, x)
    want = np_graph(g, [x], weights)
    for node_id in g:
        assert got[node_id].dtype == np.float64
        np.testing.assert_allclose(got[node_id], want[node_id], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{case.name}: node {node_id}")


@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_weights_round_trip_exactly(case: Case) -> None:
    g = graph_of(case.name)
    model = tb.build(g, dtype="float64")
    new = random_weights(g, seed=3)
    tb.set_weights(model, g, new)
    back = tb.get_weights(model, g)
    assert set(back) == set(new)
    for node_id, arrays in new.items():
        assert set(back[node_id]) == set(arrays)
        for name, arr in arrays.items():
            assert back[node_id][name].shape == g[node_id]["weights"][name].shape
            np.testing.assert_array_equal(back[node_id][name], arr)
    # float32: get(set(w)) == w cast to float32, and set(get()) is the identity
    m32 = tb.build(g, weights=new)
    once = tb.get_weights(m32, g)
    tb.set_weights(m32, g, once)
    for node_id, arrays in tb.get_weights(m32, g).items():
        for name, arr in arrays.items():
            np.testing.assert_array_equal(arr, new[node_id][name].astype(np.float32))
            np.testing.assert_array_equal(arr, once[node_id][name])


@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_non_trainable_weights_are_frozen(case: Case) -> None:
    g = graph_of(case.name)
    model = tb.build(g)
    tensors = tb.weights.node_tensors(model, g)
    for node_id, arrays in tensors.items():
        for name, t in arrays.items():
            w = g[node_id]["weights"][name]
            if w.role in ("running_mean", "running_var"):
                assert not isinstance(t, torch.nn.Parameter)
            else:
                assert isinstance(t, torch.nn.Parameter)
                assert t.requires_grad == w.trainable, (node_id, name)


# ---------------------------------------------------------------- conventions, spelled out


def test_same_padding_stride2_even_input_is_asymmetric() -> None:
    """k3 s2 'same' on n=8 pads (0, 1): F.pad + F.conv2d, not padding=1."""
    g = graph_of("conv2d_k3_s2_same_n8")
    model = tb.build(g, dtype="float64")
    w = tb.get_weights(model, g)["conv2d_1"]
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)),
                                      torch.from_numpy(w["kernel"]), torch.from_numpy(w["bias"]),
                                      stride=2)
    wrong = torch.nn.functional.conv2d(x, torch.from_numpy(w["kernel"]),
                                       torch.from_numpy(w["bias"]), stride=2, padding=1)
    got = tb.forward(model, g, x.numpy(), nodes=["conv2d_1"])["conv2d_1"]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
    assert np.abs(got - wrong.numpy()).max() > 1e-3


def test_avg_pool_same_divides_by_valid_cells() -> None:
    g = graph_of("avgpool_k3_s2_same_n8")
    model = tb.build(g, dtype="float64")
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1))
    sums = torch.nn.functional.avg_pool2d(padded, 3, 2, divisor_override=1)
    counts = torch.nn.functional.avg_pool2d(
        torch.nn.functional.pad(torch.ones(1, 1, 8, 8, dtype=torch.float64), (0, 1, 0, 1)),
        3, 2, divisor_override=1)
    got = tb.forward(model, g, x.numpy(), nodes=["avg_pool2d_1"])["avg_pool2d_1"]
    np.testing.assert_allclose(got, (sums / counts).numpy(), rtol=1e-12)
    assert not any("divisor" in key for key in model.state_dict())


def test_max_pool_same_pads_with_minus_infinity() -> None:
    g = graph_of("maxpool_k3_s2_same_n8")
    model = tb.build(g, dtype="float64")
    x = -torch.rand(1, 3, 8, 8, dtype=torch.float64) - 1.0  # all negative: zero pad would win
    want = torch.nn.functional.max_pool2d(
        torch.nn.functional.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)
    got = tb.forward(model, g, x.numpy(), nodes=["max_pool2d_1"])["max_pool2d_1"]
    np.testing.assert_array_equal(got, want.numpy())
    assert got.max() < 0


def test_depthwise_multiplier_channel_order() -> None:
    """Output channel c·M + m reads input channel c (grouped conv, groups = C)."""
    g = graph_of("depthwise_m2_s2_same")
    weights = random_weights(g, seed=4)
    model = tb.build(g, weights=weights, dtype="float64")
    conv = model.get_submodule("depthwise_conv2d_1")
    assert (conv.in_channels, conv.out_channels, conv.groups) == (3, 6, 3)
    x = np.zeros((1, 3, 8, 8))
    x[0, 1] = 1.0  # only channel 1 is non-zero → only outputs 2 and 3 see it
    got = tb.forward(model, g, x, nodes=["depthwise_conv2d_1"])["depthwise_conv2d_1"][0]
    bias = weights["depthwise_conv2d_1"]["bias"]
    for ch in range(6):
        moved = np.abs(got[ch] - bias[ch]).max() > 1e-9
        assert moved == (ch in (2, 3)), ch


def test_transposed_same_odd_excess_crops_at_the_end() -> None:
    """k3 s2 'same' crops (0, 1) like TF; torch's padding=1, output_padding=1 would shift."""
    g = graph_of("convT_k3_s2_same")
    model = tb.build(g, dtype="float64")
    w = tb.get_weights(model, g)["conv_transpose2d_1"]
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    kernel, bias = torch.from_numpy(w["kernel"]), torch.from_numpy(w["bias"])
    full = torch.nn.functional.conv_transpose2d(x, kernel, bias, stride=2)
    got = tb.forward(model, g, x.numpy(), nodes=["conv_transpose2d_1"])["conv_transpose2d_1"]
    np.testing.assert_allclose(got, full[..., :-1, :-1].numpy(), rtol=1e-12, atol=1e-12)
    shifted = torch.nn.functional.conv_transpose2d(x, kernel, bias, stride=2, padding=1,
                                                   output_padding=1)
    assert np.abs(got - shifted.numpy()).max() > 1e-3


def test_batchnorm_training_step_uses_torch_momentum_and_unbiased_variance() -> None:
    g = graph_of("batchnorm2d")
    model = tb.build(g, dtype="float64")
    bn = model.get_submodule("batchnorm_1")
    assert isinstance(bn, torch.nn.BatchNorm2d)
    assert (bn.momentum, bn.eps) == (0.1, 0.001)
    x = torch.randn(4, 4, 5, 5, dtype=torch.float64) * 3 + 1
    model.train()
    model(x)
    mean = x.mean(dim=(0, 2, 3))
    var = x.var(dim=(0, 2, 3), unbiased=True)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var.numpy(), rtol=1e-12)


def test_batchnorm_without_scale_has_no_gamma() -> None:
    g = graph_of("batchnorm_noscale")
    model = tb.build(g)
    bn = model.get_submodule("batchnorm_1")
    assert bn.weight is None and isinstance(bn.bias, torch.nn.Parameter)
    assert sorted(model.state_dict()) == ["batchnorm_1.bias", "batchnorm_1.num_batches_tracked",
                                          "batchnorm_1.running_mean", "batchnorm_1.running_var"]
    assert tb.count_params(model) == {"trainable": 4, "non_trainable": 8}


def test_batchnorm_without_center_uses_native_bias_false() -> None:
    g = archdsl.loads("archdsl: 1\nname: t\ninput: [3, 4]\nbody:\n  - batchnorm: {center: false}\n")
    model = tb.build(g)
    bn = model.get_submodule("batchnorm_1")
    assert isinstance(bn, torch.nn.BatchNorm1d) and bn.bias is None and bn.weight is not None
    assert tb.count_params(model) == {"trainable": 3, "non_trainable": 6}
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    np.testing.assert_allclose(tb.forward(model, g, x)["batchnorm_1"],
                               x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_spatial_dropout_drops_whole_channels_in_training() -> None:
    g = graph_of("spatial_dropout")
    model = tb.build(g)
    assert isinstance(model.get_submodule("spatial_dropout_1"), torch.nn.Dropout2d)
    torch.manual_seed(0)
    model.train()
    y = model(torch.ones(64, 3, 4, 4))
    per_channel = y.reshape(64 * 3, 16)
    assert torch.all((per_channel == 0).all(1) | (per_channel == 1 / 0.7).all(1))
    assert 0 < (per_channel == 0).all(1).sum() < 64 * 3


def test_softmax_axis_is_the_ir_axis_plus_batch() -> None:
    assert tb.LOWERINGS["softmax"](graph_of("act_softmax")["softmax_1"], [(5, 3, 3)]).dim == 1
    out = tb.forward(tb.build(graph_of("act_softmax")), graph_of("act_softmax"),
                     np.random.default_rng(0).normal(size=(2, 5, 3, 3)))["softmax_1"]
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)


def test_flatten_then_dense_uses_channel_first_order() -> None:
    g = graph_of("flatten_dense")
    model = tb.build(g, dtype="float64")
    w = tb.get_weights(model, g)["dense_1"]
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    got = tb.forward(model, g, x, nodes=["dense_1"])["dense_1"]
    np.testing.assert_allclose(got, x.reshape(2, 60) @ w["kernel"].T + w["bias"], rtol=1e-12)
