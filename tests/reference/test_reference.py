"""The numpy reference executor (:mod:`archdsl.reference`), the third vote of ``crosscheck``.

For every golden layer case (tests/layer_cases.py): the reference equals each layer's textbook
definition (tests/reference/definitions.py, padding recomputed from the parameters) and the
case's analytic expectation, and equals PyTorch and Keras to 1e-5 in float32 and 1e-12 in
float64, at every node. Whole specs (the chapter's CNN, ResNet-18 at 32×32, an odd-size
U-Net-like graph) equal PyTorch to 1e-12 in float64. Train mode: BatchNorm on batch
statistics equals PyTorch's train-mode forward; dropout applies the trainers' masks.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import pytest
from layer_cases import CASE_IDS, CASES, Case
from reference.definitions import expected_graph

import archdsl
from archdsl.errors import BackendError
from archdsl.init import init_weights
from archdsl.layers import REGISTRY
from archdsl.reference import REFERENCE_OPS, ReferenceExecutor, count_params, forward

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def _one(name: str, shape: tuple[int, ...], layer: str) -> Case:
    return Case(name, shape, f"  - {layer}\n")


#: the layer types beyond the chapter (tokens, resampling, normalization, indexing), until
#: tests/layer_cases.py holds cases of its own for them
EXTRA_CASES = [
    _one("layer_norm_tokens", (5, 8), "layer_norm: {}"),
    _one("layer_norm_channels", (4, 3, 5), "layer_norm: {axis: channels, eps: 1.0e-6}"),
    _one("group_norm", (6, 4, 3), "group_norm: {groups: 3}"),
    _one("group_norm_1d", (4, 7), "group_norm: {groups: 2, eps: 0.001}"),
    _one("layer_scale_channels", (4, 3, 3), "layer_scale: {init: 0.5}"),
    _one("layer_scale_tokens", (5, 6), "layer_scale: {axis: last}"),
    Case("parameter_add", (3, 4),
         "  - parameter: {shape: [3, 4], init: normal, id: p}\n  - add: {from: [input, p]}\n"),
    Case("reshape_permute", (6, 2, 3),
         "  - reshape: {shape: [6, -1]}\n  - permute: {dims: [1, 0]}\n"),
    _one("permute_3d", (2, 3, 4), "permute: {dims: [2, 0, 1]}"),
    _one("pad_any_axis", (3, 4), "pad: {pads: [[1, 0], [2, 1]], value: -1.5}"),
    _one("slice_channels", (6, 4, 4), "slice: {axis: 0, start: 1, stop: -1, step: 2}"),
    _one("slice_last_axis", (3, 4, 7), "slice: {axis: -1, start: -4}"),
    _one("roll_two_axes", (3, 5, 4), "roll: {shifts: [2, -1], axes: [1, -1]}"),
    _one("take_list", (5, 3), "take: {axis: 0, index: [4, 0, 0, 2]}"),
    _one("take_relative_position", (9, 2), "take: {index: 'relative_position_index(2)'}"),
    _one("mean_spatial_keepdims", (4, 5, 6), "mean: {axes: [1, 2], keepdims: true}"),
    _one("mean_tokens", (5, 3), "mean: {axes: 0}"),
    Case("matmul_scores", (2, 3, 4),
         "  - identity: {id: a}\n  - matmul: {from: [a, a], transpose_b: true}\n"),
    Case("matmul_transpose_a", (3, 4),
         "  - identity: {id: a}\n  - matmul: {from: [a, a], transpose_a: true}\n"),
    _one("attention", (5, 8), "multi_head_attention: {heads: 2}"),
    _one("attention_no_bias", (4, 6), "multi_head_attention: {heads: 3, bias: false}"),
    _one("upsample_nearest", (2, 3, 4), "upsample: {scale: 2}"),
    _one("upsample_nearest_size", (2, 3, 4), "upsample: {size: [5, 7]}"),
    _one("upsample_bilinear_size", (2, 3, 4), "upsample: {size: [7, 5], mode: bilinear}"),
    _one("upsample_bilinear_align", (2, 3, 4),
         "upsample: {scale: 2, mode: bilinear, align_corners: true}"),
    _one("upsample_linear_1d", (2, 5), "upsample: {scale: 3, mode: bilinear}"),
    _one("adaptive_avg", (3, 7, 5), "adaptive_avg_pool2d: {size: [3, 2]}"),
    _one("adaptive_max", (3, 6, 6), "adaptive_max_pool2d: {size: 4}"),
    _one("stochastic_depth", (3, 4, 4), "stochastic_depth: {rate: 0.3}"),
]
ALL_CASES = CASES + EXTRA_CASES
ALL_IDS = CASE_IDS + [c.name for c in EXTRA_CASES]
BY_NAME = {c.name: c for c in ALL_CASES}

#: a U-Net-like graph at odd sizes: asymmetric 'same' pads, dilated convs, transposed convs
#: whose output_padding differs per axis to meet the skip connections, concat merges
UNET_ODD = """\
archdsl: 1
name: unet-odd
input: [3, 19, 21]
body:
  - conv2d: {filters: 8, kernel: 3, padding: same}
  - batchnorm: {}
  - relu: {id: e1}
  - conv2d: {filters: 12, kernel: 3, stride: 2, padding: same}
  - batchnorm: {}
  - relu: {id: e2}
  - conv2d: {filters: 16, kernel: 3, stride: 2, padding: same}
  - relu: {id: e3}
  - conv2d: {filters: 16, kernel: 3, dilation: 2, padding: same}
  - elu: {}
  - conv2d: {filters: 16, kernel: 3, dilation: 3, padding: 3, id: mid}
  - add: {from: [mid, e3]}
  - conv_transpose2d: {filters: 12, kernel: 3, stride: 2, padding: 1, output_padding: [1, 0]}
  - concat: {from: [conv_transpose2d_1, e2]}
  - separable_conv2d: {filters: 12, kernel: 3, padding: same}
  - relu: {}
  - conv_transpose2d: {filters: 8, kernel: 3, stride: 2, padding: 1}
  - concat: {from: [conv_transpose2d_2, e1]}
  - depthwise_conv2d: {kernel: 3, dilation: 2, padding: same, multiplier: 2}
  - conv2d: {filters: 2, kernel: 1}
  - softmax: {}
"""


@functools.cache
def graph_of(name: str) -> archdsl.Graph:
    return archdsl.loads(BY_NAME[name].spec(), file=f"<{name}>")


def random_weights(graph: archdsl.Graph, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """he_normal kernels (activations stay O(1), so the absolute bounds mean what they say),
    N(0, 0.5) biases and BatchNorm affine and means, variances in [0.5, 2]; fixed filters kept."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for node_id, arrays in init_weights(graph, "he_normal", seed).items():
        out[node_id] = {}
        for name, arr in arrays.items():
            w = graph[node_id].weights[name]
            if w.fixed is not None or w.role.endswith("kernel"):
                out[node_id][name] = arr
            elif w.role == "running_var":
                out[node_id][name] = rng.uniform(0.5, 2.0, arr.shape)
            else:
                out[node_id][name] = rng.normal(0.0, 0.5, arr.shape)
    return out


def case_run(case: Case, dtype: str) -> tuple[archdsl.Graph, dict, np.ndarray, dict]:
    """(graph, weights, input, reference outputs) of one golden case."""
    g = graph_of(case.name)
    weights = random_weights(g, seed=1)
    x = np.random.default_rng(2).normal(size=(3, *case.input)).astype(dtype)
    return g, weights, x, forward(g, weights, x, dtype=dtype)


def lowered(graph: archdsl.Graph, lowerings: Any, backend: str) -> None:
    """Skip, naming them, when the backend has no lowering yet for some of the graph's types."""
    missing = sorted({node.type for node in graph.walk()} - set(lowerings))
    if missing:
        pytest.skip(f"the {backend} backend does not lower {', '.join(missing)} yet")


def max_diffs(graph: archdsl.Graph, ref: dict, other: dict) -> dict[str, float]:
    """Max abs difference per node (shapes must match)."""
    out = {}
    for n in graph:
        assert ref[n].shape == other[n].shape, (n, ref[n].shape, other[n].shape)
        a, b = ref[n].astype(np.float64), np.asarray(other[n], np.float64)
        out[n] = float(np.max(np.abs(a - b))) if a.size else 0.0
    return out


# ================================================================================ coverage


def test_every_registered_layer_type_has_a_reference_op() -> None:
    missing = sorted(set(REGISTRY) - set(REFERENCE_OPS))
    assert not missing, f"layer types without a reference op: {', '.join(missing)}"
    assert set(REFERENCE_OPS) <= set(REGISTRY), set(REFERENCE_OPS) - set(REGISTRY)
    assert all(callable(op) and op.__doc__ for op in REFERENCE_OPS.values())


def test_cases_use_every_reference_op() -> None:
    used = {graph_of(c.name)[n].type for c in ALL_CASES for n in graph_of(c.name)}
    assert set(REFERENCE_OPS) - used == set()


# ========================================================== definitions and expectations


@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_case_matches_definition(case: Case) -> None:
    g, weights, x, ref = case_run(case, "float64")
    want = expected_graph(g, [x], weights)
    for n in g:
        assert ref[n].dtype == np.float64
        np.testing.assert_allclose(ref[n], want[n], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{case.name}: node {n}")
    if case.expect is not None:
        assert ref[g.outputs[0]].shape == (3, *case.expect.shape)
        counts = count_params(g, weights)
        assert (counts["trainable"], counts["non_trainable"]) == (case.expect.trainable,
                                                                   case.expect.frozen)


@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_float32_stays_float32(case: Case) -> None:
    g, _, _, ref = case_run(case, "float32")
    assert {str(v.dtype) for v in ref.values()} == {"float32"}
    assert set(ref) == set(g)


# ============================================================================ frameworks


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_case_matches_torch(case: Case, dtype: str) -> None:
    pytest.importorskip("torch", reason="the PyTorch comparison needs torch")
    from archdsl.backends import load_backend

    tb = load_backend("torch")
    g, weights, x, ref = case_run(case, dtype)
    lowered(g, tb.LOWERINGS, "torch")
    got = tb.forward(tb.build(g, weights=weights, dtype=dtype), g, x)
    diffs = max_diffs(g, ref, got)
    assert max(diffs.values()) <= TOLERANCE[dtype], diffs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_case_matches_keras(case: Case, dtype: str) -> None:
    pytest.importorskip("keras", reason="the Keras comparison needs keras")
    from archdsl.backends import load_backend

    kb = load_backend("keras")
    g, weights, x, ref = case_run(case, dtype)
    lowered(g, kb.LOWERINGS, "keras")
    got = kb.forward(kb.build(g, weights=weights, dtype=dtype), g, x)
    diffs = max_diffs(g, ref, got)
    assert max(diffs.values()) <= TOLERANCE[dtype], diffs


def _torch_ops(torch: Any) -> dict[str, Any]:
    """PyTorch's own functions for the types the backends may not lower yet:
    ``(x, weights, node) → tensor``, float64."""
    f = torch.nn.functional

    def t(a: Any) -> Any:
        return torch.from_numpy(np.asarray(a))

    def attention(x: Any, w: dict, node: Any) -> Any:
        d = x.shape[-1]
        mha = torch.nn.MultiheadAttention(d, node.params.heads, bias=node.params.bias,
                                          batch_first=True, dtype=torch.float64)
        state = {"in_proj_weight": t(w["in_kernel"]), "out_proj.weight": t(w["out_kernel"])}
        if node.params.bias:
            state |= {"in_proj_bias": t(w["in_bias"]), "out_proj.bias": t(w["out_bias"])}
        mha.load_state_dict(state)
        return mha.eval()(x, x, x, need_weights=False)[0]

    def upsample(x: Any, w: dict, node: Any) -> Any:
        p = node.params
        mode = p.mode if p.mode == "nearest" else ("linear", "bilinear")[x.ndim - 3]
        kw = {"align_corners": p.align_corners} if p.mode != "nearest" else {}
        return f.interpolate(x, size=node.shape[1:], mode=mode, **kw)

    def layer_norm(x: Any, w: dict, node: Any) -> Any:
        p = node.params
        if p.axis == "last":
            return f.layer_norm(x, x.shape[-1:], t(w["gamma"]), t(w["beta"]), p.eps)
        y = f.layer_norm(x.movedim(1, -1), x.shape[1:2], t(w["gamma"]), t(w["beta"]), p.eps)
        return y.movedim(-1, 1)

    return {
        "layer_norm": layer_norm,
        "group_norm": lambda x, w, n: f.group_norm(x, n.params.groups, t(w["gamma"]),
                                                   t(w["beta"]), n.params.eps),
        "upsample": upsample,
        "adaptive_avg_pool2d": lambda x, w, n: f.adaptive_avg_pool2d(x, n.shape[1:]),
        "adaptive_max_pool2d": lambda x, w, n: f.adaptive_max_pool2d(x, n.shape[1:]),
        "multi_head_attention": attention,
        "roll": lambda x, w, n: torch.roll(x, n.params.shifts, [a % (x.ndim - 1) + 1 for a in (
            [n.params.axes] if isinstance(n.params.axes, int) else n.params.axes)]),
    }


@pytest.mark.parametrize("case", EXTRA_CASES, ids=[c.name for c in EXTRA_CASES])
def test_beyond_the_chapter_matches_torch_functions(case: Case) -> None:
    """The newer types against PyTorch's own functions (float64), lowering or not."""
    torch = pytest.importorskip("torch", reason="the PyTorch comparison needs torch")
    ops = _torch_ops(torch)
    g, weights, x, ref = case_run(case, "float64")
    node = next(iter(g.walk()))
    if node.type not in ops:
        pytest.skip(f"{node.type}: checked against its definition only")
    with torch.no_grad():
        got = ops[node.type](torch.from_numpy(x), weights.get(node.id, {}), node).numpy()
    np.testing.assert_allclose(ref[node.id], got, rtol=1e-12, atol=1e-12)


def spec_graph(name: str) -> archdsl.Graph:
    if name == "unet_odd":
        return archdsl.loads(UNET_ODD, file="<unet_odd>")
    shapes = [[3, 32, 32]] if name == "resnet18" else None
    return archdsl.load(f"specs/{name}.yaml", input_shapes=shapes)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["cifar10_cnn", "unet_odd", "resnet18"])
def test_whole_spec_matches_torch(name: str, dtype: str) -> None:
    pytest.importorskip("torch", reason="the PyTorch comparison needs torch")
    from archdsl.backends import load_backend

    tb = load_backend("torch")
    g = spec_graph(name)
    weights = init_weights(g, None, seed=0)
    x = np.random.default_rng(0).standard_normal((2, *g.input_shapes[0])).astype(dtype)
    ref = forward(g, weights, x, dtype=dtype)
    got = tb.forward(tb.build(g, weights=weights, dtype=dtype), g, x)
    diffs = max_diffs(g, ref, got)
    assert max(diffs.values()) <= TOLERANCE[dtype], sorted(diffs.items(), key=lambda kv: -kv[1])


# ============================================================================ train mode


@pytest.mark.parametrize("name", ["batchnorm2d", "batchnorm_noscale", "batchnorm_flat"])
def test_batchnorm_train_mode_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch", reason="the PyTorch comparison needs torch")
    from archdsl.backends import load_backend

    tb = load_backend("torch")
    g, weights, x, _ = case_run(BY_NAME[name], "float64")
    x = x * 3 + 1  # batch statistics far from the running ones
    ref = forward(g, weights, x, train=True)
    model = tb.build(g, weights=weights, dtype="float64")
    model.train()
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ref[g.outputs[0]], got, rtol=1e-12, atol=1e-12)
    eval_out = forward(g, weights, x)[g.outputs[0]]
    assert np.abs(eval_out - got).max() > 0.1  # the two modes really differ


@pytest.mark.parametrize(
    "name", ["dropout", "spatial_dropout", "flatten_dropout_dense", "stochastic_depth"]
)
def test_dropout_train_mode_applies_the_trainers_masks(name: str) -> None:
    from archdsl.training import dropout_masks, dropout_nodes

    g, weights, x, ref_eval = case_run(BY_NAME[name], "float64")
    masks = dropout_masks(dropout_nodes(g), 3, seed=0, epoch=0, index=0, dtype="float64")
    assert masks
    ref = forward(g, weights, x, train=True, masks=masks)
    for node in g.walk():
        if node.id in masks:
            m = masks[node.id]  # (N, *shape), (N, C) or (N,): broadcast over the rest
            m = m.reshape(*m.shape, *[1] * (ref[node.id].ndim - m.ndim))
            np.testing.assert_array_equal(ref[node.id], ref[node.inputs[0]] * m)
            assert (ref[node.id] == 0).any() and not (ref_eval[node.id] == 0).any()
    # eval mode ignores masks
    again = forward(g, weights, x, masks=masks)
    np.testing.assert_array_equal(again[g.outputs[0]], ref_eval[g.outputs[0]])


def test_train_mode_without_a_mask_names_the_node() -> None:
    g, weights, x, _ = case_run(BY_NAME["dropout"], "float64")
    with pytest.raises(BackendError, match="'dropout_1'.*without a mask"):
        forward(g, weights, x, train=True)


def test_wrong_weights_and_inputs_are_named() -> None:
    g = graph_of("conv2d_k3_s2_same_n8")
    x = np.zeros((1, 3, 8, 8))
    with pytest.raises(BackendError, match="no weight 'kernel' for node 'conv2d_1'"):
        forward(g, {}, x)
    bad = {"conv2d_1": {"kernel": np.zeros((4, 3, 3, 2)), "bias": np.zeros(4)}}
    with pytest.raises(BackendError, match=r"'conv2d_1/kernel' has shape \[4, 3, 3, 2\]"):
        forward(g, bad, x)
    with pytest.raises(BackendError, match=r"expected shape \(N, 3, 8, 8\)"):
        forward(g, None, np.zeros((1, 3, 8, 9)))
    with pytest.raises(BackendError, match="dtype"):
        ReferenceExecutor(g, init_weights(g), dtype="float16")


def test_keep_all_false_keeps_only_inputs_and_outputs() -> None:
    g = spec_graph("cifar10_cnn")
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    lean = ReferenceExecutor(g, init_weights(g), keep_all=False).run(x)
    assert set(lean) == {*g.inputs, *g.outputs}
    full = forward(g, init_weights(g), x)
    np.testing.assert_array_equal(lean["logits"], full["logits"])
