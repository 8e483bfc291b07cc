"""Each layer type by its textbook definition, one output cell at a time (tests only).

The expectations the reference is checked against, written independently of it: padding and
cropping are recomputed from the layer *parameters* (TensorFlow's 'same' rule, PyTorch's
ceil mode and transposed-conv padding), not read from the IR; convolutions sum each output
cell's window in a Python loop, transposed convolutions scatter each input cell, pools list
the real cells of each window, activations apply Python's ``math`` per element.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np

import archdsl


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def pads_of(padding: Any, spatial: tuple[int, ...], k_eff: tuple[int, ...],
            stride: tuple[int, ...]) -> list[tuple[int, int]]:
    """(before, after) per axis from a padding parameter; 'same' is TensorFlow's rule."""
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "same":
        totals = [max((math.ceil(n / s) - 1) * s + k - n, 0)
                  for n, k, s in zip(spatial, k_eff, stride)]
        return [(t // 2, t - t // 2) for t in totals]
    if padding == "causal":
        return [(k_eff[0] - 1, 0)]
    if isinstance(padding, int):
        return [(padding, padding)] * len(spatial)
    if all(isinstance(p, list) for p in padding):
        return [(a, b) for a, b in padding]
    return [(p, p) for p in padding]


def direct_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
                dilation: tuple[int, ...], pads: list[tuple[int, int]], groups: int) -> np.ndarray:
    """out[n, o, p] = b[o] + Σ_{c in o's group, t} w[o, c, t] · x_padded[n, c, p·s + t·d]."""
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    k = w.shape[2:]
    outs = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1
            for i in range(len(k))]
    o_ch, cg = w.shape[0], w.shape[1]
    og = o_ch // groups
    out = np.zeros((x.shape[0], o_ch, *outs))
    for o in range(o_ch):
        chans = slice((o // og) * cg, (o // og + 1) * cg)
        for pos in itertools.product(*(range(m) for m in outs)):
            window = xp[(slice(None), chans, *(
                slice(p * s, p * s + d * (kk - 1) + 1, d)
                for p, s, d, kk in zip(pos, stride, dilation, k)))]
            total = (window * w[o]).reshape(x.shape[0], -1).sum(axis=1)
            out[(slice(None), o, *pos)] = total + (b[o] if b is not None else 0.0)
    return out


def scatter_conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, p: Any,
                           dims: int) -> np.ndarray:
    """Each input cell i adds x[i]·w[:, :, t] at output i·s + t·d; then the crops."""
    k, s, d = w.shape[2:], _tuple(p.stride, dims), _tuple(p.dilation, dims)
    op = _tuple(p.output_padding, dims)
    full = [(n - 1) * ss + dd * (kk - 1) + 1 for n, ss, dd, kk in zip(x.shape[2:], s, d, k)]
    # room for the zero rows a 'same' (k < s) or output_padding crop may add at the end
    out = np.zeros((x.shape[0], w.shape[1], *[f + ss + dd for f, ss, dd in zip(full, s, d)]))
    for i in itertools.product(*(range(n) for n in x.shape[2:])):
        for t in itertools.product(*(range(kk) for kk in k)):
            at = tuple(ii * ss + tt * dd for ii, tt, ss, dd in zip(i, t, s, d))
            out[(slice(None), slice(None), *at)] += x[(slice(None), slice(None), *i)] @ w[
                (slice(None), slice(None), *t)]
    crops = []
    for axis in range(dims):
        k_eff = d[axis] * (k[axis] - 1) + 1
        if p.padding == "same":  # out = n·s; the odd cell of the excess is cropped at the end
            total = k_eff - s[axis]
            lo = max(total, 0) // 2
            crops.append(slice(lo, lo + x.shape[2 + axis] * s[axis]))
        else:  # PyTorch: crop `padding` each side, then output_padding rows at the end
            pad = 0 if p.padding == "valid" else _tuple(p.padding, dims)[axis]
            crops.append(slice(pad, full[axis] - pad + op[axis]))
    out = out[(slice(None), slice(None), *crops)]
    return out + (b.reshape(1, -1, *[1] * dims) if b is not None else 0.0)


def window_pool(x: np.ndarray, p: Any, dims: int, kind: str) -> np.ndarray:
    """Pool each window over its real cells; average divisor by count_include_pad."""
    k = _tuple(p.pool, dims)
    s = _tuple(p.stride if p.stride is not None else p.pool, dims)
    pads = pads_of(p.padding, x.shape[2:], k, s)
    outs = []
    for n, kk, ss, (lo, hi) in zip(x.shape[2:], k, s, pads):
        o = (math.ceil if p.ceil_mode else math.floor)((n + lo + hi - kk) / ss) + 1
        outs.append(o - 1 if p.ceil_mode and (o - 1) * ss >= n + lo else o)
    out = np.zeros((*x.shape[:2], *outs))
    for pos in itertools.product(*(range(o) for o in outs)):
        starts = [q * ss - lo for q, ss, (lo, _) in zip(pos, s, pads)]
        cells = [range(max(a, 0), min(a + kk, n)) for a, kk, n in zip(starts, k, x.shape[2:])]
        vals = np.stack([x[(slice(None), slice(None), *c)] for c in itertools.product(*cells)])
        if kind == "max":
            out[(slice(None), slice(None), *pos)] = vals.max(axis=0)
            continue
        counted = math.prod(
            min(a + kk, n + hi) - max(a, -lo)
            for a, kk, n, (lo, hi) in zip(starts, k, x.shape[2:], pads)
        ) if p.count_include_pad else len(vals)
        out[(slice(None), slice(None), *pos)] = vals.sum(axis=0) / counted
    return out


def _per_element(fn: Any) -> Any:
    vec = np.vectorize(fn, otypes=[float])
    return lambda x, p: vec(x, p)


def _gelu(v: float, p: Any) -> float:
    if p.approximate == "none":
        return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))
    return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))


ACTIVATIONS = {
    "relu": _per_element(lambda v, p: max(v, 0.0)),
    "relu6": _per_element(lambda v, p: min(max(v, 0.0), 6.0)),
    "sigmoid": _per_element(lambda v, p: 1 / (1 + math.exp(-v))),
    "hard_sigmoid": _per_element(lambda v, p: min(max(v + 3, 0.0), 6.0) / 6),
    "swish": _per_element(lambda v, p: v / (1 + math.exp(-v))),
    "hard_swish": _per_element(lambda v, p: v * min(max(v + 3, 0.0), 6.0) / 6),
    "tanh": _per_element(lambda v, p: math.tanh(v)),
    "leaky_relu": _per_element(lambda v, p: v if v > 0 else p.negative_slope * v),
    "elu": _per_element(lambda v, p: v if v > 0 else p.alpha * math.expm1(v)),
    "gelu": _per_element(_gelu),
}


def _window_conv(t: str, x: np.ndarray, p: Any, w: dict[str, np.ndarray]) -> np.ndarray:
    dims = x.ndim - 2
    k, s, d = _tuple(p.kernel, dims), _tuple(p.stride, dims), _tuple(p.dilation, dims)
    pads = pads_of(p.padding, x.shape[2:], tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d)), s)
    if t.startswith("conv"):
        return direct_conv(x, w["kernel"], w.get("bias"), s, d, pads, p.groups)
    if t.startswith("depthwise"):
        return direct_conv(x, w["kernel"], w.get("bias"), s, d, pads, x.shape[1])
    y = direct_conv(x, w["depthwise_kernel"], None, s, d, pads, x.shape[1])
    ones = (1,) * dims
    return direct_conv(y, w["pointwise_kernel"], w.get("bias"), ones, ones, [(0, 0)] * dims, 1)


def _batchnorm(x: np.ndarray, p: Any, w: dict[str, np.ndarray]) -> np.ndarray:
    shape = (1, -1, *[1] * (x.ndim - 2))
    y = (x - w["running_mean"].reshape(shape)) / np.sqrt(w["running_var"].reshape(shape) + p.eps)
    y = y * w["gamma"].reshape(shape) if "gamma" in w else y
    return y + w["beta"].reshape(shape) if "beta" in w else y



def _normalized(x: np.ndarray, axes: tuple[int, ...], eps: float) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


def _group_norm(x: np.ndarray, p: Any, w: dict[str, np.ndarray]) -> np.ndarray:
    cg = x.shape[1] // p.groups
    axes = tuple(range(1, x.ndim))
    y = np.concatenate([_normalized(x[:, g * cg:(g + 1) * cg], axes, p.eps)
                        for g in range(p.groups)], axis=1)
    shape = (1, -1, *[1] * (x.ndim - 2))
    return y * w["gamma"].reshape(shape) + w["beta"].reshape(shape)


def _layer_norm(x: np.ndarray, p: Any, w: dict[str, np.ndarray]) -> np.ndarray:
    if p.axis == "last":
        return _normalized(x, (-1,), p.eps) * w["gamma"] + w["beta"]
    shape = (1, -1, *[1] * (x.ndim - 2))
    return _normalized(x, (1,), p.eps) * w["gamma"].reshape(shape) + w["beta"].reshape(shape)


def linear_1d(x: np.ndarray, axis: int, out: int, mode: str, align: bool) -> np.ndarray:
    """Resample one axis by PyTorch's rule: nearest floor(i·(n/out)) computed in float32 (as
    PyTorch does; it differs from the exact quotient for some sizes, e.g. 2 → 82); linear at the
    source coordinate i·(n−1)/(out−1) (align_corners) or max((i + ½)·n/out − ½, 0)."""
    n = x.shape[axis]
    cells = []
    for i in range(out):
        if mode == "nearest":
            scale = np.float32(n) / np.float32(out)
            cells.append(np.take(x, min(int(np.floor(np.float32(i) * scale)), n - 1), axis=axis))
            continue
        src = (i * (n - 1) / (out - 1) if out > 1 else 0.0) if align else max(
            (i + 0.5) * n / out - 0.5, 0.0)
        lo = min(math.floor(src), n - 1)
        hi = min(lo + 1, n - 1)
        frac = src - lo
        cells.append(np.take(x, lo, axis=axis) * (1 - frac) + np.take(x, hi, axis=axis) * frac)
    return np.stack(cells, axis=axis)


def adaptive_pool(x: np.ndarray, size: tuple[int, ...], kind: str) -> np.ndarray:
    """Each output cell i pools cells floor(i·n/out) … ceil((i+1)·n/out) − 1, per axis."""
    out = np.zeros((*x.shape[:2], *size))
    for pos in itertools.product(*(range(o) for o in size)):
        window = tuple(slice(i * n // o, -(-(i + 1) * n // o))
                       for i, n, o in zip(pos, x.shape[2:], size))
        cells = x[(slice(None), slice(None), *window)].reshape(*x.shape[:2], -1)
        out[(slice(None), slice(None), *pos)] = cells.max(-1) if kind == "max" else cells.mean(-1)
    return out


def attention(x: np.ndarray, p: Any, w: dict[str, np.ndarray]) -> np.ndarray:
    """nn.MultiheadAttention, one head at a time."""
    d = x.shape[-1]
    hd = d // p.heads
    q, k, v = (x @ w["in_kernel"][i * d:(i + 1) * d].T + w.get("in_bias", np.zeros(3 * d))[
        i * d:(i + 1) * d] for i in range(3))
    heads = []
    for h in range(p.heads):
        cols = slice(h * hd, (h + 1) * hd)
        scores = np.einsum("nld,nmd->nlm", q[..., cols], k[..., cols]) / math.sqrt(hd)
        weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
        heads.append(np.einsum("nlm,nmd->nld", weights, v[..., cols]))
    return np.concatenate(heads, -1) @ w["out_kernel"].T + w.get("out_bias", 0.0)


def _axis(ir_axis: int, x: np.ndarray) -> int:
    return ir_axis % (x.ndim - 1) + 1


def _indexing(t: str, p: Any, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """slice, pad, roll, take, reshape, permute, mean; ``None`` for other types."""
    from archdsl.layers.indexing import Take

    if t == "slice":
        a = _axis(p.axis, x)
        picks = list(range(x.shape[a]))[p.start:p.stop:p.step]
        return np.take(x, picks, axis=a)
    if t == "roll":  # out[i] = x[i − shift]
        y = x
        shifts = [p.shifts] if isinstance(p.shifts, int) else p.shifts
        for s, a in zip(shifts, [p.axes] if isinstance(p.axes, int) else p.axes):
            n = x.shape[_axis(a, x)]
            y = np.take(y, [(i - s) % n for i in range(n)], axis=_axis(a, x))
        return y
    if t == "mean":
        axes = tuple(_axis(a, x) for a in ([p.axes] if isinstance(p.axes, int) else p.axes))
        return x.sum(axis=axes, keepdims=p.keepdims) / math.prod(x.shape[a] for a in axes)
    simple = {
        "pad": lambda: np.pad(x, [(0, 0), *map(tuple, p.pads)], constant_values=p.value),
        "take": lambda: np.stack([np.take(x, i, axis=_axis(p.axis, x)) for i in Take.index(p)],
                                 axis=_axis(p.axis, x)),
        "reshape": lambda: x.reshape(x.shape[0], *shape),
        "permute": lambda: np.transpose(x, (0, *(d + 1 for d in p.dims))),
    }
    return simple[t]() if t in simple else None


def _new_types(t: str, p: Any, xs: list[np.ndarray], w: dict[str, np.ndarray],
               shape: tuple[int, ...]) -> np.ndarray | None:
    """Types beyond the chapter (tokens, resampling, normalization); ``None`` if not one."""
    x = xs[0]
    ch = (1, -1, *[1] * (x.ndim - 2))
    table = {
        "layer_norm": lambda: _layer_norm(x, p, w),
        "group_norm": lambda: _group_norm(x, p, w),
        "layer_scale": lambda: x * (w["scale"].reshape(ch) if p.axis == "channels"
                                    else w["scale"]),
        "parameter": lambda: np.stack([w["value"]] * x.shape[0]),
        "matmul": lambda: np.einsum("...ij,...jk->...ik",
                                    xs[0].swapaxes(-1, -2) if p.transpose_a else xs[0],
                                    xs[1].swapaxes(-1, -2) if p.transpose_b else xs[1]),
        "multi_head_attention": lambda: attention(x, p, w),
        "adaptive_avg_pool2d": lambda: adaptive_pool(x, shape[1:], "avg"),
        "adaptive_max_pool2d": lambda: adaptive_pool(x, shape[1:], "max"),
        "stochastic_depth": lambda: x,
    }
    if t in table:
        return table[t]()  # type: ignore[no-any-return]
    if t == "upsample":
        for axis, out in enumerate(shape[1:], start=2):
            x = linear_1d(x, axis, out, p.mode, p.align_corners)
        return x
    return _indexing(t, p, x, shape)


def expected_node(t: str, p: Any, xs: list[np.ndarray], w: dict[str, np.ndarray],
                  shape: tuple[int, ...]) -> np.ndarray:
    """One node (eval mode) by definition, from its type, parameters and IR output shape."""
    x, dims = xs[0], xs[0].ndim - 2
    ir_axis = getattr(p, "axis", 0)
    axis = ir_axis % (x.ndim - 1) + 1 if isinstance(ir_axis, int) else 0
    if t in ACTIVATIONS:
        return ACTIVATIONS[t](x, p)  # type: ignore[no-any-return]
    if t.startswith(("conv1d", "conv2d", "conv3d", "depthwise", "separable")):
        return _window_conv(t, x, p, w)
    if t.startswith("conv_transpose"):
        return scatter_conv_transpose(x, w["kernel"], w.get("bias"), p, dims)
    if t.startswith(("max_pool", "avg_pool")):
        return window_pool(x, p, dims, t[:3])
    if t.startswith("global_"):
        fn = np.mean if t == "global_avg_pool" else np.max
        return fn(x, axis=tuple(range(2, x.ndim)), keepdims=p.keepdims)  # type: ignore[no-any-return]
    simple = {
        "batchnorm": lambda: _batchnorm(x, p, w),
        "softmax": lambda: np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True),
        "flatten": lambda: x.reshape(x.shape[0], -1),
        "dense": lambda: x @ w["kernel"].T + w.get("bias", 0.0),
        "add": lambda: sum(xs[1:], xs[0]),
        "multiply": lambda: functools.reduce(np.multiply, xs),
        "concat": lambda: np.concatenate(xs, axis=axis),
        "scale": lambda: x * p.factor,
        "zero_padding": lambda: np.pad(
            x, [(0, 0), (0, 0), *pads_of(p.padding, x.shape[2:], (1,) * dims, (1,) * dims)]),
    }
    if t in simple:
        return simple[t]()  # type: ignore[no-any-return]
    if t in ("dropout", "spatial_dropout", "identity"):
        return x
    if t == "channel_shuffle":
        g, c = p.groups, x.shape[1]
        return x[:, [(i % g) * (c // g) + i // g for i in range(c)]]
    y = _new_types(t, p, xs, w, shape)
    if y is None:
        raise AssertionError(f"no definition for layer type {t!r}")
    return y


def expected_graph(graph: archdsl.Graph, inputs: list[np.ndarray],
                   weights: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every node's expected output, in float64."""
    values = dict(zip(graph.inputs, (np.asarray(x, np.float64) for x in inputs)))
    for node in graph.walk():
        xs = [values[s] for s in node.inputs]
        values[node.id] = expected_node(node.type, node.params, xs, weights.get(node.id, {}),
                                        node.shape)
    return values
