"""torch-src emitters: what each layer type becomes in a generated PyTorch file.

They mirror the torch lowering (``backends/torch/lower_*.py``) decision by decision, so the
generated module computes exactly what the lowering computes, with the same parameter names
(state-dict keys ``<node id>.weight``): native ``torch.nn`` modules wherever the lowering uses
them, the helper classes of :mod:`archdsl.export.helpers_torch` (``PaddedConv2d``, ``SumPool2d``
...) where it uses its own, and inline expressions for merges and indexing.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> from archdsl.export.code import render_call
    >>> render_call(EMITTERS.emit(g["conv2d_1"], None).call)
    'PaddedConv2d(3, 4, 3, stride=2, explicit_pad=(0, 1, 0, 1))'
"""

from __future__ import annotations

from typing import Any

from archdsl.export.code import REQUIRED, Arg, Call
from archdsl.export.emitters import ALIAS, Emitters, Inline, Module, compact, unsupported
from archdsl.ir import Node
from archdsl.layers.base import Cropped, Padded, PoolWindows
from archdsl.layers.geometry import ceil_mode_pads, ntuple, window_outputs
from archdsl.layers.pool import divisor_counts

#: layer type → torch-src emitter ``(node, ctx) -> Module | Inline``
EMITTERS: Emitters[Module | Inline] = Emitters("torch-src")
TARGET = "torch-src"


def _pad(pads: Any) -> tuple[int, ...]:
    """IR pads ``((before, after), ...)`` → ``F.pad`` order (last dimension first)."""
    return tuple(int(v) for b, e in reversed(pads) for v in (b, e))


def _symmetric(pads: Any) -> tuple[int, ...] | None:
    return tuple(int(b) for b, _ in pads) if all(b == e for b, e in pads) else None


def _kw(name: str, value: Any, default: Any = REQUIRED) -> list[Arg]:
    """A keyword argument (left out of the source when it equals ``default``)."""
    return [Arg(name, compact(value), name, default)]


def _dim(axis: int) -> int:
    """IR axis (batch excluded) → tensor dim; negative axes stay."""
    return axis + 1 if axis >= 0 else axis


def _dim_of(axis: int, rank: int) -> int:
    return axis % rank + 1


# ---------------------------------------------------------------------------- convolutions
def _conv(node: Node, dims: int, cin: int, cout: int, groups: int, bias: bool,
          pads: Any) -> Module:
    p = node.params
    k, s = ntuple(p.kernel, dims, "kernel"), ntuple(p.stride, dims, "stride")
    d = ntuple(p.dilation, dims, "dilation")
    sym = _symmetric(pads)
    args = [Arg("in_channels", cin), Arg("out_channels", cout), Arg("kernel_size", compact(k)),
            *_kw("stride", s, 1)]
    if sym is not None:
        args += _kw("padding", sym, 0)
    args += [*_kw("dilation", d, 1), *_kw("groups", groups, 1), *_kw("bias", bias, True)]
    if sym is not None:
        return Module(Call(f"nn.Conv{dims}d", tuple(args)))
    args.append(Arg("explicit_pad", _pad(pads), "explicit_pad"))
    return Module(Call(f"PaddedConv{dims}d", tuple(args)), helpers=(f"PaddedConv{dims}d",))


@EMITTERS.register("conv1d", "conv2d", "conv3d")
def emit_conv(node: Node, ctx: Any) -> Module:
    """``nn.ConvNd``; asymmetric pads → ``PaddedConvNd``."""
    p = node.params
    return _conv(node, node.layer.dims or 2, node.in_shapes[0][0], p.filters, p.groups, p.bias,
                 node.resolved(Padded).pads)


@EMITTERS.register("depthwise_conv1d", "depthwise_conv2d")
def emit_depthwise(node: Node, ctx: Any) -> Module:
    """``nn.ConvNd(C, C·M, groups=C)``."""
    c = node.in_shapes[0][0]
    p = node.params
    pads = node.resolved(Padded).pads
    return _conv(node, node.layer.dims or 2, c, c * p.multiplier, c, p.bias, pads)


@EMITTERS.register("separable_conv1d", "separable_conv2d")
def emit_separable(node: Node, ctx: Any) -> Module:
    """``SeparableConv(depthwise, pointwise)``."""
    p, dims = node.params, node.layer.dims or 2
    c = node.in_shapes[0][0]
    dw = _conv(node, dims, c, c * p.multiplier, c, False, node.resolved(Padded).pads)
    pw = Call(f"nn.Conv{dims}d", (Arg("in_channels", c * p.multiplier),
                                  Arg("out_channels", p.filters), Arg("kernel_size", 1),
                                  *_kw("bias", p.bias, True)))
    return Module(Call("SeparableConv", (Arg("depthwise", dw.call), Arg("pointwise", pw))),
                  paths={"depthwise_kernel": "depthwise.weight",
                         "pointwise_kernel": "pointwise.weight", "bias": "pointwise.bias"},
                  helpers=("SeparableConv", *dw.helpers))


@EMITTERS.register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def emit_transposed(node: Node, ctx: Any) -> Module:
    """``nn.ConvTransposeNd``, or ``CroppedConvTransposeNd`` (see the torch lowering)."""
    p, dims = node.params, node.layer.dims or 2
    k, s = ntuple(p.kernel, dims, "kernel"), ntuple(p.stride, dims, "stride")
    d = ntuple(p.dilation, dims, "dilation")
    crops = node.resolved(Cropped).crops
    limit = [max(a, b) for a, b in zip(s, d)]
    head = [Arg("in_channels", node.in_shapes[0][0]), Arg("out_channels", p.filters),
            Arg("kernel_size", compact(k)), *_kw("stride", s, 1)]
    tail = [*_kw("dilation", d, 1), *_kw("bias", p.bias, True)]
    if all(b >= 0 and 0 <= b - e < lim for (b, e), lim in zip(crops, limit)):
        args = [*head, *_kw("padding", tuple(b for b, _ in crops), 0),
                *_kw("output_padding", tuple(b - e for b, e in crops), 0), *tail]
        return Module(Call(f"nn.ConvTranspose{dims}d", tuple(args)))
    opad = tuple(max(-e, 0) for _, e in crops)
    if any(op >= lim for op, lim in zip(opad, limit)):
        raise unsupported(node, TARGET, f"cannot express the crops {crops}")
    crop = tuple(v for (b, _), n in zip(crops, node.shape[1:]) for v in (b, b + n))
    args = [*head, *_kw("output_padding", opad, 0), *tail, Arg("crop", crop, "crop")]
    name = f"CroppedConvTranspose{dims}d"
    return Module(Call(name, tuple(args)), helpers=(name,))


# ---------------------------------------------------------------------------- pooling
def _native_padding(node: Node, k: tuple[int, ...], s: tuple[int, ...]) -> tuple[int, ...] | None:
    """Symmetric padding with which ``nn.*PoolNd`` gives the node's output shape, or None."""
    sym = _symmetric(node.resolved(PoolWindows).counted_pads)
    if sym is None or any(2 * pp > kk for pp, kk in zip(sym, k)):
        return None
    spatial = tuple(node.in_shapes[0][1:])
    pads = tuple((pp, pp) for pp in sym)
    if node.params.ceil_mode:
        pads = ceil_mode_pads(spatial, k, s, pads)
    return sym if window_outputs(spatial, k, s, pads) == tuple(node.shape[1:]) else None


def _window(node: Node) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    p, dims = node.params, node.layer.dims or 2
    k = ntuple(p.pool, dims, "pool")
    return dims, k, ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")


def _pool_args(k: tuple[int, ...], s: tuple[int, ...]) -> list[Arg]:
    return [Arg("kernel_size", compact(k)), Arg("stride", compact(s), "stride", compact(k))]


@EMITTERS.register("max_pool1d", "max_pool2d", "max_pool3d")
def emit_max_pool(node: Node, ctx: Any) -> Module:
    """``nn.MaxPoolNd``; padding it cannot express → ``PaddedMaxPoolNd`` (−∞ padding)."""
    dims, k, s = _window(node)
    sym = _native_padding(node, k, s)
    if sym is not None:
        args = [*_pool_args(k, s), *_kw("padding", sym, 0),
                *_kw("ceil_mode", node.params.ceil_mode, False)]
        return Module(Call(f"nn.MaxPool{dims}d", tuple(args)))
    name = f"PaddedMaxPool{dims}d"
    args = [Arg("kernel_size", compact(k)), Arg("stride", compact(s), "stride"),
            Arg("explicit_pad", _pad(node.resolved(Padded).pads), "explicit_pad")]
    return Module(Call(name, tuple(args)), helpers=(name,))


@EMITTERS.register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def emit_avg_pool(node: Node, ctx: Any) -> Module:
    """``nn.AvgPoolNd``; a divisor rule it cannot express → ``SumPoolNd`` with the counts."""
    dims, k, s = _window(node)
    p = node.params
    sym = _native_padding(node, k, s)
    if sym is not None:
        args = [*_pool_args(k, s), *_kw("padding", sym, 0), *_kw("ceil_mode", p.ceil_mode, False),
                *_kw("count_include_pad", p.count_include_pad, True)]
        return Module(Call(f"nn.AvgPool{dims}d", tuple(args)))
    counts = divisor_counts(node.in_shapes[0][1:], k, s, node.resolved(Padded).pads,
                            node.resolved(PoolWindows).counted_pads, p.count_include_pad)
    name = f"SumPool{dims}d"
    args = [Arg("kernel_size", compact(k)), Arg("stride", compact(s), "stride"),
            Arg("explicit_pad", _pad(node.resolved(Padded).pads), "explicit_pad"),
            Arg("counts", counts, "counts")]
    return Module(Call(name, tuple(args)), helpers=(name,))


@EMITTERS.register("global_avg_pool", "global_max_pool")
def emit_global_pool(node: Node, ctx: Any) -> Module:
    """``GlobalAvgPool`` / ``GlobalMaxPool``: mean / max over every spatial dimension."""
    name = "GlobalAvgPool" if node.type == "global_avg_pool" else "GlobalMaxPool"
    return Module(Call(name, tuple(_kw("keepdim", node.params.keepdims, False))),
                  helpers=(name,))


# ---------------------------------------------------------------------------- normalization
_BN = {1: "nn.BatchNorm1d", 2: "nn.BatchNorm1d", 3: "nn.BatchNorm2d", 4: "nn.BatchNorm3d"}


@EMITTERS.register("batchnorm")
def emit_batchnorm(node: Node, ctx: Any) -> Module:
    """``nn.BatchNormNd(C, eps, momentum)`` (``bias=False`` without β); without γ,
    ``PartialBatchNormNd`` (only the affine parameters the IR counts)."""
    p = node.params
    cls = _BN.get(len(node.in_shapes[0]))
    if cls is None:
        raise unsupported(node, TARGET, "supports batchnorm on inputs of rank ≤ 4")
    head = [Arg("num_features", node.in_shapes[0][0]), *_kw("eps", p.eps, 1e-5),
            *_kw("momentum", p.momentum, 0.1)]
    if p.scale:
        return Module(Call(cls, (*head, *_kw("bias", p.center, True))))
    name = "Partial" + cls[3:]
    return Module(Call(name, (*head, Arg("scale", False, "scale"),
                              Arg("center", p.center, "center"))), helpers=(name,))


@EMITTERS.register("layer_norm")
def emit_layer_norm(node: Node, ctx: Any) -> Module:
    """``nn.LayerNorm(D, eps)``, or ``ChannelLayerNorm`` over the channels of a map."""
    p, shape = node.params, node.in_shapes[0]
    if p.axis == "channels" and len(shape) > 1:
        return Module(Call("ChannelLayerNorm", (Arg("channels", shape[0]),
                                                *_kw("eps", p.eps, 1e-5))),
                      helpers=("ChannelLayerNorm",))
    width = shape[-1] if p.axis == "last" else shape[0]
    return Module(Call("nn.LayerNorm", (Arg("normalized_shape", width),
                                        *_kw("eps", p.eps, 1e-5))))


@EMITTERS.register("group_norm")
def emit_group_norm(node: Node, ctx: Any) -> Module:
    """``nn.GroupNorm(groups, C, eps)``."""
    p = node.params
    return Module(Call("nn.GroupNorm", (Arg("num_groups", p.groups),
                                        Arg("num_channels", node.in_shapes[0][0]),
                                        *_kw("eps", p.eps, 1e-5))))


# ---------------------------------------------------------------------------- activations
_SIMPLE = {"relu": "nn.ReLU", "relu6": "nn.ReLU6", "sigmoid": "nn.Sigmoid",
           "hard_sigmoid": "nn.Hardsigmoid", "swish": "nn.SiLU", "hard_swish": "nn.Hardswish",
           "tanh": "nn.Tanh"}


@EMITTERS.register("relu", "relu6", "sigmoid", "hard_sigmoid", "swish", "hard_swish", "tanh",
                   "leaky_relu", "elu", "gelu", "softmax")
def emit_activation(node: Node, ctx: Any) -> Module:
    """The ``torch.nn`` activation with the IR's constants."""
    p = node.params
    if node.type in _SIMPLE:
        return Module(Call(_SIMPLE[node.type]))
    if node.type == "leaky_relu":
        return Module(Call("nn.LeakyReLU", (Arg("negative_slope", p.negative_slope),)))
    if node.type == "elu":
        return Module(Call("nn.ELU", (Arg("alpha", p.alpha),)))
    if node.type == "gelu":
        return Module(Call("nn.GELU", tuple(_kw("approximate", p.approximate, "none"))))
    return Module(Call("nn.Softmax", (Arg("dim", _dim(p.axis), "dim"),)))


# ---------------------------------------------------------------------------- dense, dropout
@EMITTERS.register("dense")
def emit_dense(node: Node, ctx: Any) -> Module:
    """``nn.Linear(features, units, bias)``."""
    p = node.params
    return Module(Call("nn.Linear", (Arg("in_features", node.in_shapes[0][-1]),
                                     Arg("out_features", p.units), *_kw("bias", p.bias, True))))


@EMITTERS.register("dropout", "spatial_dropout")
def emit_dropout(node: Node, ctx: Any) -> Module:
    """``nn.Dropout`` / ``nn.Dropout1d/2d/3d`` (identity in eval mode)."""
    rank = len(node.in_shapes[0])
    cls = "nn.Dropout" if node.type == "dropout" else f"nn.Dropout{rank - 1}d"
    if node.type == "spatial_dropout" and not 2 <= rank <= 4:
        raise unsupported(node, TARGET, "supports spatial dropout on 1-3 spatial dimensions")
    return Module(Call(cls, (Arg("p", node.params.rate),)))


# ---------------------------------------------------------------------------- merges
@EMITTERS.register("add")
def emit_add(node: Node, ctx: Any) -> Inline:
    """``a + b + ...`` (left to right, as the lowering)."""
    return Inline(" + ".join(f"{{{i}}}" for i in range(len(node.inputs))))


@EMITTERS.register("multiply")
def emit_multiply(node: Node, ctx: Any) -> Inline:
    """``a * b * ...`` (broadcasting)."""
    return Inline(" * ".join(f"{{{i}}}" for i in range(len(node.inputs))))


@EMITTERS.register("concat")
def emit_concat(node: Node, ctx: Any) -> Inline:
    """``torch.cat([...], dim)``."""
    return Inline("torch.cat([{*}], {dim})", (("dim", _dim(node.params.axis)),))


@EMITTERS.register("matmul")
def emit_matmul(node: Node, ctx: Any) -> Inline:
    """``torch.matmul(a, b)``, an operand transposed on its last two axes first."""
    p = node.params
    a = "{0}.transpose(-1, -2)" if p.transpose_a else "{0}"
    b = "{1}.transpose(-1, -2)" if p.transpose_b else "{1}"
    return Inline(f"torch.matmul({a}, {b})")


# ---------------------------------------------------------------------------- tensor ops
@EMITTERS.register("flatten")
def emit_flatten(node: Node, ctx: Any) -> Inline:
    """``torch.flatten(x, 1)`` (channel-first order, the IR's)."""
    return Inline("torch.flatten({0}, 1)", module=Call("nn.Flatten"))


@EMITTERS.register("identity")
def emit_identity(node: Node, ctx: Any) -> Inline:
    """Nothing: the output is the input."""
    return ALIAS


@EMITTERS.register("scale")
def emit_scale(node: Node, ctx: Any) -> Inline:
    """``x * factor``."""
    return Inline("{0} * {factor}", (("factor", float(node.params.factor)),))


@EMITTERS.register("zero_padding")
def emit_zero_padding(node: Node, ctx: Any) -> Module | Inline:
    """``nn.ZeroPad1d/2d/3d`` with the IR's pads (``F.pad`` beyond three dimensions)."""
    pads = node.resolved(Padded).pads
    if len(pads) > 3:
        return Inline("F.pad({0}, {pads})", (("pads", list(_pad(pads))),))
    return Module(Call(f"nn.ZeroPad{len(pads)}d", (Arg("padding", _pad(pads)),)))


@EMITTERS.register("channel_shuffle")
def emit_channel_shuffle(node: Node, ctx: Any) -> Module:
    """``nn.ChannelShuffle(groups)``."""
    return Module(Call("nn.ChannelShuffle", (Arg("groups", node.params.groups),)))


@EMITTERS.register("reshape")
def emit_reshape(node: Node, ctx: Any) -> Inline:
    """``x.reshape(N, *shape)``."""
    slots = tuple((f"d{i + 1}", int(d)) for i, d in enumerate(node.shape))
    return Inline("{0}.reshape(-1, " + ", ".join(f"{{{k}}}" for k, _ in slots) + ")", slots)


@EMITTERS.register("permute")
def emit_permute(node: Node, ctx: Any) -> Inline:
    """``x.permute(0, ...)``."""
    dims = ", ".join(str(d + 1) for d in node.params.dims)
    return Inline("{0}.permute(0, " + dims + ")")


@EMITTERS.register("mean")
def emit_mean(node: Node, ctx: Any) -> Inline:
    """``x.mean([dims], keepdim)``."""
    p, rank = node.params, len(node.in_shapes[0])
    axes = [p.axes] if isinstance(p.axes, int) else list(p.axes)
    dims = [_dim_of(a, rank) for a in axes]
    keep = ", keepdim=True" if p.keepdims else ""
    return Inline("{0}.mean({dims}" + keep + ")", (("dims", dims),))


@EMITTERS.register("slice")
def emit_slice(node: Node, ctx: Any) -> Inline:
    """``x[:, ..., start:stop:step]``."""
    p = node.params
    lead = ", ".join([":"] * _dim_of(p.axis, len(node.in_shapes[0])))
    stop = "" if p.stop is None else "{stop}"
    step = "" if p.step == 1 else f":{p.step}"
    start = "" if p.start == 0 else "{start}"
    values = (("start", p.start), ("stop", p.stop))
    return Inline("{0}[" + lead + ", " + start + ":" + stop + step + "]", values)


@EMITTERS.register("pad")
def emit_pad(node: Node, ctx: Any) -> Inline:
    """``F.pad(x, pads, value=value)`` over every axis but the batch."""
    pads = list(_pad(tuple((b, a) for b, a in node.params.pads)))
    value = float(node.params.value)
    return Inline("F.pad({0}, {pads}" + (", value={value})" if value else ")"),
                  (("pads", pads), ("value", value)))


@EMITTERS.register("roll")
def emit_roll(node: Node, ctx: Any) -> Inline:
    """``torch.roll(x, shifts, dims)``."""
    p, rank = node.params, len(node.in_shapes[0])
    shifts = [p.shifts] if isinstance(p.shifts, int) else list(p.shifts)
    axes = [p.axes] if isinstance(p.axes, int) else list(p.axes)
    dims = [_dim_of(a, rank) for a in axes]
    return Inline("torch.roll({0}, {shifts}, {dims})", (("shifts", shifts), ("dims", dims)))


@EMITTERS.register("take")
def emit_take(node: Node, ctx: Any) -> Module:
    """``Take(index, dim)``: ``x.index_select(dim, index)``."""
    from archdsl.layers.indexing import Take

    p = node.params
    index: Any = list(p.index) if isinstance(p.index, list) else Take.index(p)
    helpers: tuple[str, ...] = ("Take",)
    if isinstance(p.index, str):
        from archdsl.export.code import Expr

        index = Expr(p.index.replace(" ", "").replace(",", ", "))
        helpers = ("Take", "const:" + p.index.split("(")[0].strip())
    dim = _dim_of(p.axis, len(node.in_shapes[0]))
    return Module(Call("Take", (Arg("index", index), Arg("dim", dim))), helpers=helpers)


# ---------------------------------------------------------------------------- resampling
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


@EMITTERS.register("upsample")
def emit_upsample(node: Node, ctx: Any) -> Module:
    """``nn.Upsample(size, mode)``; ``NearestGather`` where native nearest is not exact."""
    from archdsl.layers.resample import nearest_source

    p = node.params
    spatial, out = node.in_shapes[0][1:], tuple(node.shape[1:])
    if p.mode == "nearest":
        exact = all(_nearest_exact(n, o) for n, o in zip(spatial, out))
        if exact:
            return Module(Call("nn.Upsample", (Arg("size", compact(out), "size"),
                                               Arg("mode", "nearest", "mode"))))
        idx = [[nearest_source(i, n, o) for i in range(o)] for n, o in zip(spatial, out)]
        return Module(Call("NearestGather", (Arg("indices", idx),)), helpers=("NearestGather",))
    return Module(Call("nn.Upsample", (Arg("size", compact(out), "size"),
                                       Arg("mode", _LINEAR[len(out)], "mode"),
                                       Arg("align_corners", p.align_corners, "align_corners"))))


def _nearest_exact(size: int, out: int) -> bool:
    import math

    from archdsl.layers.resample import nearest_source

    for i in range(out):
        want = nearest_source(i, size, out)
        if want != min(i * size // out, size - 1) or want != min(
                math.floor(i * (size / out)), size - 1):
            return False
    return True


@EMITTERS.register("adaptive_avg_pool2d", "adaptive_max_pool2d")
def emit_adaptive(node: Node, ctx: Any) -> Module:
    """``nn.AdaptiveAvgPool2d`` / ``nn.AdaptiveMaxPool2d``."""
    cls = "nn.AdaptiveAvgPool2d" if node.type == "adaptive_avg_pool2d" else "nn.AdaptiveMaxPool2d"
    return Module(Call(cls, (Arg("output_size", compact(ntuple(node.params.size, 2, "size"))),)))


# ---------------------------------------------------------------------------- residual, tokens
@EMITTERS.register("layer_scale")
def emit_layer_scale(node: Node, ctx: Any) -> Module:
    """``LayerScale(C, init, trailing)``: a learned factor per channel."""
    p, shape = node.params, node.in_shapes[0]
    channels, trailing = (shape[0], len(shape) - 1) if p.axis == "channels" else (shape[-1], 0)
    return Module(Call("LayerScale", (Arg("channels", channels), Arg("init", float(p.init)),
                                      *_kw("trailing", trailing, 0))),
                  paths={"scale": "scale"}, helpers=("LayerScale",))


@EMITTERS.register("stochastic_depth")
def emit_stochastic_depth(node: Node, ctx: Any) -> Module:
    """``StochasticDepth(p)``: torchvision's row mode (identity in eval mode)."""
    return Module(Call("StochasticDepth", (Arg("p", node.params.rate),)),
                  helpers=("StochasticDepth",))


@EMITTERS.register("parameter")
def emit_parameter(node: Node, ctx: Any) -> Module:
    """``Parameter(shape)``: a learned tensor repeated over the batch."""
    value = node.weights["value"]
    return Module(Call("Parameter", (Arg("shape", tuple(value.shape)),
                                     *_kw("trainable", value.trainable, True))),
                  paths={"value": "value"}, helpers=("Parameter",))


@EMITTERS.register("multi_head_attention")
def emit_attention(node: Node, ctx: Any) -> Module:
    """``SelfAttention(D, heads)``: ``nn.MultiheadAttention`` on ``(x, x, x)``."""
    p = node.params
    return Module(
        Call("SelfAttention", (Arg("dim", node.in_shapes[0][-1]), Arg("heads", p.heads),
                               *_kw("dropout", p.dropout, 0.0), *_kw("bias", p.bias, True))),
        paths={"in_kernel": "mha.in_proj_weight", "in_bias": "mha.in_proj_bias",
               "out_kernel": "mha.out_proj.weight", "out_bias": "mha.out_proj.bias"},
        helpers=("SelfAttention",))


__all__ = ["EMITTERS"]
