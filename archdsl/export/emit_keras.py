"""keras-src emitters: what each layer type becomes in a generated Keras file.

They mirror the Keras lowering (``backends/keras/lower_*.py``) decision by decision: stock
``keras.layers`` wherever the lowering uses them, with the same arguments, and the helper
layers of :mod:`archdsl.export.helpers_keras` (``GELU``, ``ConstantPadding``, ...) where it
uses its own. Tensors are channels-last (:func:`archdsl.layouts.physical_layouts`); ``ctx`` is
the physical layout of the node's inputs, which axis arguments are mapped through.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> from archdsl.export.code import render_call
    >>> from archdsl.layouts import CHANNELS_LAST
    >>> [render_call(c) for _, c in EMITTERS.emit(g["conv2d_1"], CHANNELS_LAST).calls]
    ['layers.Conv2D(4, 3, strides=2, padding="same")']
"""

from __future__ import annotations

from typing import Any

from archdsl.export.code import REQUIRED, Arg, Call
from archdsl.export.emitters import Emitters, Layers, compact, unsupported
from archdsl.ir import Node
from archdsl.layers import conv
from archdsl.layers.base import Cropped, Padded, PoolWindows
from archdsl.layers.geometry import effective_kernel, ntuple, same_pads
from archdsl.layers.pool import divisor_counts
from archdsl.layouts import axis_in

#: layer type → keras-src emitter ``(node, input layout) -> Layers``
EMITTERS: Emitters[Layers] = Emitters("keras-src")
TARGET = "keras-src"


def keras_shape(shape: Any) -> tuple[int, ...]:
    shape = tuple(shape)
    return shape if len(shape) < 2 else (*shape[1:], shape[0])


def padding_mode(pads: Any, spatial: Any, k_eff: Any, stride: Any) -> str | None:
    pads = tuple((int(b), int(e)) for b, e in pads)
    if all(b == 0 and e == 0 for b, e in pads):
        return "valid"
    if pads == tuple(same_pads(n, k, s) for n, k, s in zip(spatial, k_eff, stride)):
        return "same"
    return None


def _kw(name: str, value: Any, default: Any = REQUIRED) -> Arg:
    return Arg(name, compact(value), name, default)


def _pairs(pads: Any) -> Any:
    pairs = tuple((int(b), int(e)) for b, e in pads)
    return pairs[0] if len(pairs) == 1 else pairs


def _zero_padding(pads: Any) -> tuple[str, Call]:
    return ("-pad", Call(f"layers.ZeroPadding{len(pads)}D", (Arg("padding", _pairs(pads)),)))


# ---------------------------------------------------------------------------- convolutions
def _family(node: Node) -> str:
    if isinstance(node.layer, conv.Depthwise):
        return "DepthwiseConv"
    if isinstance(node.layer, conv.Separable):
        return "SeparableConv"
    return "Conv"


@EMITTERS.register("conv1d", "conv2d", "conv3d", "depthwise_conv1d", "depthwise_conv2d",
                   "separable_conv1d", "separable_conv2d")
def emit_conv(node: Node, ctx: Any) -> Layers:
    """``Conv*D`` / ``DepthwiseConv*D`` / ``SeparableConv*D``; explicit pads a ZeroPadding."""
    p, dims = node.params, node.layer.dims or 2
    k, s = ntuple(p.kernel, dims, "kernel"), ntuple(p.stride, dims, "stride")
    d = ntuple(p.dilation, dims, "dilation")
    pads, spatial = node.resolved(Padded).pads, node.in_shapes[0][1:]
    family = _family(node)
    pre: list[tuple[str, Call]] = []
    helpers: tuple[str, ...] = ()
    cls = f"layers.{family}{dims}D"
    mode: str | None
    if max(s) > 1 and max(d) > 1:
        if any(b or e for b, e in pads):
            pre.append(_zero_padding(pads))
        full = [n + b + e - kk + 1 for n, (b, e), kk in zip(spatial, pads, effective_kernel(k, d))]
        cls, helpers = f"Sliced{family}{dims}D", (f"Sliced{family}{dims}D",)
        stride, mode = 1, "valid"
        extra = [Arg("slices", [[0, f, st] for f, st in zip(full, s)], "slices")]
    else:
        mode = padding_mode(pads, spatial, effective_kernel(k, d), s)
        if mode is None:
            pre.append(_zero_padding(pads))
            mode = "valid"
        stride, extra = compact(s), []
    args: list[Arg] = []
    if family != "DepthwiseConv":
        args.append(Arg("filters", p.filters))
    args += [Arg("kernel_size", compact(k)), _kw("strides", stride, 1),
             _kw("padding", mode, "valid")]
    if family != "Conv":
        args.append(_kw("depth_multiplier", p.multiplier, 1))
    args.append(_kw("dilation_rate", d, 1))
    if family == "Conv":
        args.append(_kw("groups", p.groups, 1))
    args.append(_kw("use_bias", p.bias, True))
    if node.weights and not any(w.trainable for w in node.weights.values()):
        args.append(_kw("trainable", False))
    return Layers((*pre, ("", Call(cls, (*args, *extra)))), helpers=helpers)


@EMITTERS.register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def emit_conv_transpose(node: Node, ctx: Any) -> Layers:
    """``Conv*DTranspose`` (``same``, or ``valid`` + output padding and a slice), or the
    ``GeneralConvTranspose`` helper (see the Keras lowering)."""
    p, dims = node.params, node.layer.dims or 2
    k, s = ntuple(p.kernel, dims, "kernel"), ntuple(p.stride, dims, "stride")
    d = ntuple(p.dilation, dims, "dilation")
    k_eff = effective_kernel(k, d)
    spatial = node.in_shapes[0][1:]
    crops = tuple(tuple(c) for c in node.resolved(Cropped).crops)
    full = [st * (n - 1) + kk for n, kk, st in zip(spatial, k_eff, s)]
    ext = tuple(max(-e, 0) for _, e in crops)
    same = tuple((t // 2, t - t // 2) if t >= 0 else (0, t)
                 for t in (f - n * st for f, n, st in zip(full, spatial, s)))
    bias = _kw("use_bias", p.bias, True)
    if max(d) > 1 or any(x >= st for x, st in zip(ext, s)):
        args = (Arg("filters", p.filters), Arg("kernel_size", k), Arg("strides", s),
                Arg("dilation_rate", d), Arg("crops", crops), Arg("ext", ext), bias)
        return Layers((("", Call("GeneralConvTranspose", args)),),
                      helpers=("GeneralConvTranspose",))
    head = [Arg("filters", p.filters), Arg("kernel_size", compact(k)), _kw("strides", s, 1)]
    tail = [_kw("dilation_rate", d, 1), bias]
    cls = f"layers.Conv{dims}DTranspose"
    if crops == same:
        return Layers((("", Call(cls, (*head, _kw("padding", "same"), *tail))),))
    valid = [*head, _kw("padding", "valid", "valid"), _kw("output_padding", ext)]
    if all(b == 0 and e <= 0 for b, e in crops):
        return Layers((("", Call(cls, (*valid, *tail))),))
    slices = [[b, f + x - max(e, 0), 1] for (b, e), f, x in zip(crops, full, ext)]
    name = f"SlicedConv{dims}DTranspose"
    return Layers((("", Call(name, (*valid, *tail, _kw("slices", slices)))),), helpers=(name,))


# ---------------------------------------------------------------------------- pooling
def _window(node: Node) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    p, dims = node.params, node.layer.dims or 2
    pool = ntuple(p.pool, dims, "pool")
    return dims, pool, ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")


def _pool(kind: str, dims: int, pool: Any, stride: Any, mode: str) -> Call:
    if dims == 3:  # the helper pools float64 too (TensorFlow's CPU has no such kernel)
        return Call("Pooling3D", (Arg("mode", kind.lower()), Arg("pool_size", compact(pool)),
                                  Arg("strides", compact(stride)), Arg("padding", mode)))
    return Call(f"layers.{kind}Pooling{dims}D", (
        Arg("pool_size", compact(pool)), _kw("strides", stride, compact(pool)),
        _kw("padding", mode, "valid")))


def _pool3d(dims: int) -> tuple[str, ...]:
    return ("Pooling3D",) if dims == 3 else ()


@EMITTERS.register("max_pool1d", "max_pool2d", "max_pool3d")
def emit_max_pool(node: Node, ctx: Any) -> Layers:
    """``MaxPooling*D``; pads Keras cannot express → −∞ ``ConstantPadding`` + ``valid``."""
    dims, pool, stride = _window(node)
    pads = node.resolved(Padded).pads
    mode = padding_mode(pads, node.in_shapes[0][1:], pool, stride)
    if mode is None:
        pad = Call("ConstantPadding", (Arg("pads", tuple(tuple(p) for p in pads)),
                                       Arg("value", float("-inf"))))
        return Layers((("-pad", pad), ("", _pool("Max", dims, pool, stride, "valid"))),
                      helpers=("ConstantPadding", *_pool3d(dims)))
    return Layers((("", _pool("Max", dims, pool, stride, mode)),), helpers=_pool3d(dims))


@EMITTERS.register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def emit_avg_pool(node: Node, ctx: Any) -> Layers:
    """``AveragePooling*D`` when Keras' divisor is the IR's, else ``ExplicitAveragePooling``."""
    dims, pool, stride = _window(node)
    pads, counted = node.resolved(Padded).pads, node.resolved(PoolWindows).counted_pads
    include = node.params.count_include_pad
    spatial = node.in_shapes[0][1:]
    mode = padding_mode(pads, spatial, pool, stride)
    if mode is not None:
        want = divisor_counts(spatial, pool, stride, pads, counted, include)
        native = divisor_counts(spatial, pool, stride, pads, pads, False)
        if want == native:
            return Layers((("", _pool("Average", dims, pool, stride, mode)),),
                          helpers=_pool3d(dims))
    counts = divisor_counts(spatial, pool, stride, pads, counted, include)
    call = Call("ExplicitAveragePooling", (Arg("pool_size", compact(pool)),
                                           Arg("strides", compact(stride)),
                                           Arg("pads", tuple(tuple(p) for p in pads)),
                                           Arg("counts", counts)))
    return Layers((("", call),), helpers=("ExplicitAveragePooling",))


@EMITTERS.register("global_avg_pool", "global_max_pool")
def emit_global_pool(node: Node, ctx: Any) -> Layers:
    """``GlobalAveragePooling*D`` / ``GlobalMaxPooling*D``."""
    kind = "Average" if node.type == "global_avg_pool" else "Max"
    cls = f"layers.Global{kind}Pooling{len(node.in_shapes[0]) - 1}D"
    return Layers((("", Call(cls, (_kw("keepdims", node.params.keepdims, False),))),))


# ---------------------------------------------------------------------------- normalization
@EMITTERS.register("batchnorm")
def emit_batchnorm(node: Node, ctx: Any) -> Layers:
    """``BatchNormalization(momentum=1 − m, epsilon)`` over the channels (last axis)."""
    p = node.params
    return Layers((("", Call("layers.BatchNormalization", (
        _kw("momentum", 1.0 - p.momentum), _kw("epsilon", p.eps), _kw("center", p.center, True),
        _kw("scale", p.scale, True)))),))


@EMITTERS.register("layer_norm")
def emit_layer_norm(node: Node, ctx: Any) -> Layers:
    """``LayerNormalization(epsilon)`` on the last axis (channels-last maps or tokens)."""
    return Layers((("", Call("layers.LayerNormalization", (_kw("epsilon", node.params.eps),))),))


@EMITTERS.register("group_norm")
def emit_group_norm(node: Node, ctx: Any) -> Layers:
    """``GroupNormalization(groups, epsilon)``."""
    p = node.params
    return Layers((("", Call("layers.GroupNormalization", (
        _kw("groups", p.groups), _kw("epsilon", p.eps)))),))


# ---------------------------------------------------------------------------- activations
_ACTIVATION_NAMES = {"sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid", "swish": "silu",
                     "hard_swish": "hard_silu", "tanh": "tanh"}


@EMITTERS.register("relu", "relu6", "sigmoid", "hard_sigmoid", "swish", "hard_swish", "tanh",
                   "elu", "leaky_relu", "gelu", "softmax")
def emit_activation(node: Node, ctx: Any) -> Layers:
    """The Keras activation with every constant explicit (GELU and LeakyReLU: float64-exact
    helpers, as the lowering)."""
    key, p = node.type, node.params
    helpers: tuple[str, ...]
    if key == "relu":
        call, helpers = Call("layers.ReLU"), ()
    elif key == "relu6":
        call, helpers = Call("layers.ReLU", (_kw("max_value", 6.0),)), ()
    elif key == "elu":
        call, helpers = Call("layers.ELU", (_kw("alpha", p.alpha),)), ()
    elif key == "leaky_relu":
        call, helpers = Call("LeakyReLU", (_kw("negative_slope", p.negative_slope),)), (
            "LeakyReLU",)
    elif key == "gelu":
        call = Call("GELU", (_kw("approximate", p.approximate == "tanh", False),))
        helpers = ("GELU",)
    elif key == "softmax":
        axis = axis_in(p.axis, len(node.in_shapes[0]), ctx)
        call, helpers = Call("layers.Softmax", (_kw("axis", axis),)), ()
    else:
        call, helpers = Call("layers.Activation", (Arg("activation", _ACTIVATION_NAMES[key]),)), ()
    return Layers((("", call),), helpers=helpers)


# ---------------------------------------------------------------------------- dense, dropout
@EMITTERS.register("dense")
def emit_dense(node: Node, ctx: Any) -> Layers:
    """``Dense(units, use_bias)``."""
    p = node.params
    return Layers((("", Call("layers.Dense", (Arg("units", p.units),
                                              _kw("use_bias", p.bias, True)))),))


@EMITTERS.register("dropout", "spatial_dropout")
def emit_dropout(node: Node, ctx: Any) -> Layers:
    """``Dropout(rate)`` / ``SpatialDropout*D(rate)``."""
    if node.type == "dropout":
        return Layers((("", Call("layers.Dropout", (Arg("rate", node.params.rate),))),))
    n = len(node.in_shapes[0]) - 1
    if not 1 <= n <= 3:
        raise unsupported(node, TARGET, "supports spatial dropout on 1-3 spatial dimensions")
    return Layers((("", Call(f"layers.SpatialDropout{n}D", (Arg("rate", node.params.rate),))),))


# ---------------------------------------------------------------------------- merges
@EMITTERS.register("add", "multiply", "concat")
def emit_merge(node: Node, ctx: Any) -> Layers:
    """``Add()``, ``Multiply()``, ``Concatenate(axis)`` on the list of inputs."""
    if node.type == "add":
        return Layers((("", Call("layers.Add")),), apply="list")
    if node.type == "multiply":
        return Layers((("", Call("layers.Multiply")),), apply="list")
    rank = len(node.in_shapes[0])
    axis = axis_in(node.params.axis, rank, ctx)
    value = -1 if axis == rank else axis  # the last axis of the batched tensor
    return Layers((("", Call("layers.Concatenate", (_kw("axis", value, -1),))),), apply="list")


@EMITTERS.register("matmul")
def emit_matmul(node: Node, ctx: Any) -> Layers:
    """``MatMul(transpose_a, transpose_b)`` of the two inputs."""
    p = node.params
    return Layers((("", Call("MatMul", (_kw("transpose_a", p.transpose_a, False),
                                        _kw("transpose_b", p.transpose_b, False)))),),
                  apply="list", helpers=("MatMul",))


# ---------------------------------------------------------------------------- tensor ops
@EMITTERS.register("flatten")
def emit_flatten(node: Node, ctx: Any) -> Layers:
    """``Permute`` to channels-first, then ``Flatten``: PyTorch's (C, H, W) order."""
    rank = len(node.in_shapes[0])
    flat = ("", Call("layers.Flatten"))
    if rank < 2:
        return Layers((flat,))
    return Layers((("-permute", Call("layers.Permute", (Arg("dims", (rank, *range(1, rank))),))),
                   flat))


@EMITTERS.register("identity")
def emit_identity(node: Node, ctx: Any) -> Layers:
    """A named pass-through."""
    return Layers((("", Call("layers.Identity")),))


@EMITTERS.register("zero_padding")
def emit_zero_padding(node: Node, ctx: Any) -> Layers:
    """``ZeroPadding*D`` with the (before, after) pairs."""
    _, call = _zero_padding(node.resolved(Padded).pads)
    return Layers((("", call),))


@EMITTERS.register("channel_shuffle")
def emit_channel_shuffle(node: Node, ctx: Any) -> Layers:
    """Reshape the channels to (groups, C/groups), swap the two, flatten back."""
    g, c = node.params.groups, node.shape[0]
    spatial = keras_shape(node.shape)[:-1]
    rank = len(spatial)
    return Layers((
        ("-split", Call("layers.Reshape", (Arg("target_shape", (*spatial, g, c // g)),))),
        ("-permute", Call("layers.Permute", (Arg("dims", (*range(1, rank + 1), rank + 2,
                                                          rank + 1)),))),
        ("", Call("layers.Reshape", (Arg("target_shape", (*spatial, c)),))),
    ))


@EMITTERS.register("scale")
def emit_scale(node: Node, ctx: Any) -> Layers:
    """``Scale(factor)`` (exact in float64)."""
    return Layers((("", Call("Scale", (Arg("factor", float(node.params.factor)),))),),
                  helpers=("Scale",))


@EMITTERS.register("reshape")
def emit_reshape(node: Node, ctx: Any) -> Layers:
    """``Reshape`` to the IR's shape (IR order)."""
    return Layers((("", Call("layers.Reshape", (Arg("target_shape", tuple(node.shape)),))),))


@EMITTERS.register("permute")
def emit_permute(node: Node, ctx: Any) -> Layers:
    """``Permute`` with 1-based dims."""
    dims = tuple(d + 1 for d in node.params.dims)
    return Layers((("", Call("layers.Permute", (Arg("dims", dims),))),))


def _listed(value: Any) -> list[int]:
    return [value] if isinstance(value, int) else list(value)


@EMITTERS.register("slice")
def emit_slice(node: Node, ctx: Any) -> Layers:
    """``AxisSlice`` on the physical axis."""
    p = node.params
    axis = axis_in(p.axis, len(node.in_shapes[0]), ctx)
    return Layers((("", Call("AxisSlice", (Arg("axis", axis), Arg("start", p.start),
                                           Arg("stop", p.stop), _kw("step", p.step, 1)))),),
                  helpers=("AxisSlice",))


@EMITTERS.register("pad")
def emit_pad(node: Node, ctx: Any) -> Layers:
    """``AxisPad`` with the pairs moved to their physical axes."""
    rank = len(node.in_shapes[0])
    pads = [(0, 0)] * (rank + 1)
    for i, (before, after) in enumerate(node.params.pads):
        pads[axis_in(i, rank, ctx)] = (before, after)
    return Layers((("", Call("AxisPad", (Arg("pads", tuple(pads)),
                                         _kw("value", float(node.params.value), 0.0)))),),
                  helpers=("AxisPad",))


@EMITTERS.register("roll")
def emit_roll(node: Node, ctx: Any) -> Layers:
    """``Roll`` over the physical axes."""
    p, rank = node.params, len(node.in_shapes[0])
    axes = [axis_in(a, rank, ctx) for a in _listed(p.axes)]
    return Layers((("", Call("Roll", (Arg("shifts", _listed(p.shifts)), Arg("axes", axes)))),),
                  helpers=("Roll",))


@EMITTERS.register("take")
def emit_take(node: Node, ctx: Any) -> Layers:
    """``Take(index, axis)`` on the physical axis."""
    from archdsl.export.code import Expr
    from archdsl.layers.indexing import Take

    p = node.params
    axis = axis_in(p.axis, len(node.in_shapes[0]), ctx)
    helpers: tuple[str, ...] = ("Take",)
    index: Any = Take.index(p)
    if isinstance(p.index, str):
        index = Expr(p.index.replace(" ", "").replace(",", ", "))
        helpers = ("Take", "const:" + p.index.split("(")[0].strip())
    return Layers((("", Call("Take", (Arg("index", index), Arg("axis", axis)))),),
                  helpers=helpers)


@EMITTERS.register("mean")
def emit_mean(node: Node, ctx: Any) -> Layers:
    """``Mean(axes, keepdims)`` over the mapped axes."""
    p, rank = node.params, len(node.in_shapes[0])
    axes = sorted(axis_in(a, rank, ctx) for a in _listed(p.axes))
    return Layers((("", Call("Mean", (Arg("axes", axes), _kw("keepdims", p.keepdims, False)))),),
                  helpers=("Mean",))


# ---------------------------------------------------------------------------- resampling
@EMITTERS.register("upsample")
def emit_upsample(node: Node, ctx: Any) -> Layers:
    """``Resample(size, mode, align_corners)``: PyTorch's index and weight rules."""
    p = node.params
    return Layers((("", Call("Resample", (Arg("size", tuple(node.shape[1:])),
                                          _kw("mode", p.mode, "nearest"),
                                          _kw("align_corners", p.align_corners, False)))),),
                  helpers=("Resample",))


@EMITTERS.register("adaptive_avg_pool2d", "adaptive_max_pool2d")
def emit_adaptive(node: Node, ctx: Any) -> Layers:
    """``AdaptivePooling(size, mode)`` over PyTorch's bins."""
    mode = "max" if node.type == "adaptive_max_pool2d" else "average"
    return Layers((("", Call("AdaptivePooling", (Arg("size", tuple(node.shape[1:])),
                                                 _kw("mode", mode, "average")))),),
                  helpers=("AdaptivePooling",))


# ---------------------------------------------------------------------------- residual, tokens
@EMITTERS.register("layer_scale")
def emit_layer_scale(node: Node, ctx: Any) -> Layers:
    """``LayerScale(init)`` on the last axis."""
    return Layers((("", Call("LayerScale", (Arg("init", float(node.params.init)),))),),
                  helpers=("LayerScale",))


@EMITTERS.register("stochastic_depth")
def emit_stochastic_depth(node: Node, ctx: Any) -> Layers:
    """``StochasticDepth(rate)`` (identity in inference)."""
    return Layers((("", Call("StochasticDepth", (Arg("rate", node.params.rate),))),),
                  helpers=("StochasticDepth",))


@EMITTERS.register("parameter")
def emit_parameter(node: Node, ctx: Any) -> Layers:
    """``Parameter(shape)``: a tensor repeated over the batch (IR order)."""
    value = node.weights["value"]
    return Layers((("", Call("Parameter", (Arg("shape", tuple(value.shape)),
                                           _kw("trainable", value.trainable, True)))),),
                  helpers=("Parameter",))


@EMITTERS.register("multi_head_attention")
def emit_attention(node: Node, ctx: Any) -> Layers:
    """``SelfAttention`` (MultiHeadAttention called as ``layer(x, x)``)."""
    p = node.params
    d = node.in_shapes[0][-1]
    return Layers((("", Call("SelfAttention", (
        _kw("num_heads", p.heads), _kw("key_dim", d // p.heads), _kw("use_bias", p.bias, True),
        _kw("dropout", p.dropout, 0.0)))),), apply="self", helpers=("SelfAttention",))


__all__ = ["EMITTERS", "keras_shape"]
