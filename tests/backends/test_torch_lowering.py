"""The torch lowering of every golden layer case, checked against an independent reference.

For every case in ``tests/layer_cases.py``: the module's output shape at every node equals the
IR shape, ``count_params`` equals the IR's analytic count, weights round-trip exactly, and a
float64 forward pass equals :mod:`archdsl.reference`, the framework-free numpy executor (TF
'same' padding, PyTorch ceil mode, average-pool divisors, transposed-conv cropping, depthwise
channel order c·M + m, BatchNorm inference, channel-first flatten...). The core's geometry
itself is pinned by the analytic golden values of tests/test_layers_golden.py.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from layer_cases import CASE_IDS, CASES, Case  # noqa: E402

import archdsl  # noqa: E402
from archdsl import reference  # noqa: E402
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
            w = graph[node_id].weights[name]
            if w.fixed is not None:
                out[node_id][name] = arr
            elif w.role == "running_var":
                out[node_id][name] = rng.uniform(0.5, 2.0, arr.shape)
            else:
                out[node_id][name] = rng.normal(0.0, 0.5, arr.shape)
    return out


# ============================================================================ tests


def test_every_registered_type_has_a_lowering() -> None:
    assert set(tb.LOWERINGS) == set(REGISTRY)
    assert all(callable(fn) for fn in tb.LOWERINGS.values())


def test_golden_cases_cover_every_type() -> None:
    used = {graph_of(c.name)[n].type for c in CASES for n in graph_of(c.name)}
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
        assert out[node_id].shape == (2, *g[node_id].shape), node_id
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
    want = reference.forward(g, weights, x, dtype="float64")
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
            assert back[node_id][name].shape == g[node_id].weights[name].shape
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
            w = g[node_id].weights[name]
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
    assert tb.LOWERINGS["softmax"](graph_of("act_softmax")["softmax_1"], tb.lower.CONTEXT).dim == 1
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
