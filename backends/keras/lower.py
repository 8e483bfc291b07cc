"""Lowerings: one function per registered layer type, IR node → Keras layers (channels-last).

A lowering is called as ``LOWERINGS[type](node_id, node, in_shapes, ctx)`` where ``node`` is
the graph node's attribute dict (``type``, ``params``, ``inputs``, ``shape``, ``attrs``,
``weights``), ``in_shapes`` the IR (channels-first, batch-less) shapes of its inputs and ``ctx``
an optional :class:`Context` (dtype, BatchNorm flavour). It returns a callable applied to the
Keras input tensor (or to the list of tensors for merges).

Naming rule (relied on by weight transfer and :func:`archdsl.backends.keras.forward`): a node
lowers to zero or more *pre* layers named ``"<node id>-<role>"`` (``-pad``, ``-permute``; node
ids never contain ``-``) followed by exactly one layer named ``<node id>`` that holds all the
node's weights and whose output is the node's output.

Layout: the IR is channels-first ``(C, *spatial)``; Keras tensors are ``(N, *spatial, C)``.
Flat tensors ``(F,)`` are ``(N, F)`` in both. ``flatten`` of a rank > 1 tensor first permutes to
channels-first (``Permute``), so the flat order is PyTorch's ``(C, H, W)`` and a following
Dense kernel transfers with a plain transpose (no per-Dense permutation to remember).

Padding: the IR resolves every padding to explicit ``(before, after)`` pairs. A lowering uses
Keras ``padding='valid'`` when they are all zero, ``'same'`` when they equal TensorFlow's rule
for that input (fast native path), else an explicit ``ZeroPadding*D`` (``-inf`` padding before
max pools) plus ``'valid'``.

Example:
    >>> import archdsl, keras
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> node = g["conv2d_1"]
    >>> layer = LOWERINGS["conv2d"]("conv2d_1", node, [(3, 8, 8)])
    >>> layer(keras.Input((8, 8, 3))).shape
    (None, 4, 4, 4)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from archdsl.layers.geometry import effective_kernel, ntuple, same_pads
from archdsl.layers.pool import avg_pool_divisor

from .layers import (
    GELU,
    ConstantPadding,
    ExplicitAveragePooling,
    GeneralConvTranspose,
    LeakyReLU,
    Scale,
    SeparablePooling3D,
    TorchLikeBatchNormalization,
    sliced,
)

Shape = tuple[int, ...]
Node = dict[str, Any]
Apply = Callable[[Any], Any]


@dataclass(frozen=True)
class Context:
    """Options shared by all lowerings of one build.

    ``dtype``: the Keras dtype policy of every layer (``None``: Keras' global policy);
    ``bn``: ``"keras"`` (stock BatchNormalization) or ``"torch"``
    (:class:`TorchLikeBatchNormalization`, unbiased moving-variance update).
    """

    dtype: str | None = None
    bn: str = "keras"


Lowering = Callable[[str, Node, list[Shape], Context], Apply]

_DEFAULT = Context()


# ---------------------------------------------------------------------------- layout helpers
def keras_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """IR shape (C, *S) → Keras shape (*S, C) (batch excluded); flat shapes are unchanged.

    >>> keras_shape((3, 32, 16)), keras_shape((10,))
    ((32, 16, 3), (10,))
    """
    shape = tuple(shape)
    return shape if len(shape) < 2 else (*shape[1:], shape[0])


def keras_axis(axis: int, rank: int) -> int:
    """Map an IR axis (batch-excluded, channels-first, rank ``rank``) to the Keras axis of the
    batched channels-last tensor: channels → the last axis, spatial axis i → i.

    >>> keras_axis(0, 3), keras_axis(1, 3), keras_axis(-1, 3), keras_axis(0, 1)
    (3, 1, 2, 1)
    """
    a = axis % rank
    if rank == 1:
        return 1
    return rank if a == 0 else a


def to_keras_layout(x: np.ndarray) -> np.ndarray:
    """Batched IR array (N, C, *S) → (N, *S, C); (N, F) unchanged."""
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def from_keras_layout(y: np.ndarray) -> np.ndarray:
    """Batched Keras array (N, *S, C) → (N, C, *S); (N, F) unchanged."""
    return np.moveaxis(y, -1, 1) if y.ndim > 2 else y


def padding_mode(
    pads: Sequence[tuple[int, int]], spatial: Sequence[int], k_eff: Sequence[int],
    stride: Sequence[int],
) -> str | None:
    """``'valid'`` / ``'same'`` when Keras' native padding reproduces ``pads`` exactly, else None.

    >>> padding_mode(((0, 1),), (8,), (3,), (2,)), padding_mode(((1, 1),), (8,), (3,), (2,))
    ('same', None)
    """
    pads = tuple((int(b), int(e)) for b, e in pads)
    if all(b == 0 and e == 0 for b, e in pads):
        return "valid"
    if pads == tuple(same_pads(n, k, s) for n, k, s in zip(spatial, k_eff, stride)):
        return "same"
    return None


def _chain(*layers: Callable[[Any], Any]) -> Apply:
    def apply(x: Any) -> Any:
        for layer in layers:
            x = layer(x)
        return x

    return apply


_ZERO_PAD = {1: keras.layers.ZeroPadding1D, 2: keras.layers.ZeroPadding2D,
             3: keras.layers.ZeroPadding3D}


def _zero_padding(pads: Sequence[tuple[int, int]], name: str, dtype: str | None) -> Any:
    pairs = tuple((int(b), int(e)) for b, e in pads)
    arg: Any = pairs[0] if len(pairs) == 1 else pairs
    return _ZERO_PAD[len(pairs)](padding=arg, name=name, dtype=dtype)


def _frozen_if_fixed(layer: Any, node: Node) -> Any:
    weights = node["weights"]
    if weights and not any(w.trainable for w in weights.values()):
        layer.trainable = False
    return layer


# ---------------------------------------------------------------------------- convolutions
_CONV = {
    "conv": {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D},
    "depthwise_conv": {1: keras.layers.DepthwiseConv1D, 2: keras.layers.DepthwiseConv2D},
    "separable_conv": {1: keras.layers.SeparableConv1D, 2: keras.layers.SeparableConv2D},
    "conv_transpose": {1: keras.layers.Conv1DTranspose, 2: keras.layers.Conv2DTranspose,
                       3: keras.layers.Conv3DTranspose},
}


def _kind_dims(key: str) -> tuple[str, int]:
    return key[:-2], int(key[-2])


def _window(node: Node, dims: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    p = node["params"]
    return (ntuple(p.kernel, dims, "kernel"), ntuple(p.stride, dims, "stride"),
            ntuple(p.dilation, dims, "dilation"))


def lower_conv(node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT) -> Apply:
    """conv1d/2d/3d, depthwise_conv1d/2d, separable_conv1d/2d.

    Stride > 1 with dilation > 1 (which Keras rejects) runs the dilated convolution at stride 1
    on the explicitly padded input and keeps every s-th output (a ``Sliced*`` layer).
    """
    kind, dims = _kind_dims(node["type"])
    p = node["params"]
    kernel, stride, dilation = _window(node, dims)
    k_eff = effective_kernel(kernel, dilation)
    spatial = in_shapes[0][1:]
    pads = node["attrs"]["pads"]
    pre: list[Any] = []
    kwargs: dict[str, Any] = {
        "kernel_size": kernel, "dilation_rate": dilation, "use_bias": p.bias,
        "name": node_id, "dtype": ctx.dtype,
    }
    cls = _CONV[kind][dims]
    if max(stride) > 1 and max(dilation) > 1:
        if any(b or e for b, e in pads):
            pre.append(_zero_padding(pads, f"{node_id}-pad", ctx.dtype))
        full = [n + b + e - k + 1 for n, (b, e), k in zip(spatial, pads, k_eff)]
        kwargs.update(strides=1, padding="valid", slices=[(0, f, s) for f, s in zip(full, stride)])
        cls = sliced(cls)
    else:
        mode = padding_mode(pads, spatial, k_eff, stride)
        if mode is None:
            pre.append(_zero_padding(pads, f"{node_id}-pad", ctx.dtype))
            mode = "valid"
        kwargs.update(strides=stride, padding=mode)
    if kind == "conv":
        kwargs.update(filters=p.filters, groups=p.groups)
    elif kind == "depthwise_conv":
        kwargs.update(depth_multiplier=p.multiplier)
    else:
        kwargs.update(filters=p.filters, depth_multiplier=p.multiplier)
    layer = _frozen_if_fixed(cls(**kwargs), node)
    return _chain(*pre, layer)


def lower_conv_transpose(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """conv_transpose1d/2d/3d, reproducing the IR ``crops`` exactly.

    * crops equal to TensorFlow's 'same' rule → native ``padding='same'``;
    * else native ``padding='valid'`` with ``output_padding`` = the extra end rows (a negative
      end crop) and a static output slice for the positive crops (``Sliced*`` layer);
    * dilation > 1 (Keras rejects it with stride > 1; TensorFlow's CPU kernel rejects it in
      float64 and without oneDNN) and output_padding ≥ stride: :class:`GeneralConvTranspose`.
    """
    _, dims = _kind_dims(node["type"])
    p = node["params"]
    kernel, stride, dilation = _window(node, dims)
    k_eff = effective_kernel(kernel, dilation)
    spatial = in_shapes[0][1:]
    crops = tuple(tuple(c) for c in node["attrs"]["crops"])
    full = [s * (n - 1) + k for n, k, s in zip(spatial, k_eff, stride)]
    ext = tuple(max(-e, 0) for _, e in crops)
    same = tuple(
        (t // 2, t - t // 2) if t >= 0 else (0, t)
        for t in (f - n * s for f, n, s in zip(full, spatial, stride))
    )
    common = {"use_bias": p.bias, "name": node_id, "dtype": ctx.dtype}
    if max(dilation) > 1 or any(x >= s for x, s in zip(ext, stride)):
        return GeneralConvTranspose(p.filters, kernel, stride, dilation, crops, ext, **common)
    base = _CONV["conv_transpose"][dims]
    kwargs = {"filters": p.filters, "kernel_size": kernel, "strides": stride,
              "dilation_rate": dilation, **common}
    if crops == same:
        return base(padding="same", **kwargs)
    kwargs.update(padding="valid", output_padding=ext)
    if all(b == 0 and e <= 0 for b, e in crops):
        return base(**kwargs)
    slices = [(b, f + x - max(e, 0), 1) for (b, e), f, x in zip(crops, full, ext)]
    return sliced(base)(slices=slices, **kwargs)


# ---------------------------------------------------------------------------- pooling
_MAX_POOL = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D,
             3: keras.layers.MaxPooling3D}
_AVG_POOL = {1: keras.layers.AveragePooling1D, 2: keras.layers.AveragePooling2D,
             3: keras.layers.AveragePooling3D}


def _pool_geometry(node: Node, dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    p = node["params"]
    pool = ntuple(p.pool, dims, "pool")
    return pool, ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")


def lower_max_pool(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """max_pool1d/2d/3d: native when the pads are 'valid'/'same', else −∞ padding + 'valid'."""
    dims = int(node["type"][-2])
    pool, stride = _pool_geometry(node, dims)
    pads = node["attrs"]["pads"]
    mode = padding_mode(pads, in_shapes[0][1:], pool, stride)
    pre: list[Any] = []
    if mode is None:
        pre.append(ConstantPadding(pads, float("-inf"), name=f"{node_id}-pad", dtype=ctx.dtype))
        mode = "valid"
    layer = _pool_layer("max", pool, stride, mode, node_id, ctx.dtype)
    return _chain(*pre, layer)


def _pool_layer(
    kind: str, pool: tuple[int, ...], stride: tuple[int, ...], mode: str, name: str,
    dtype: str | None,
) -> Any:
    if len(pool) == 3 and dtype == "float64":  # no float64 3-D pooling kernels on TF's CPU
        return SeparablePooling3D(kind, pool, stride, mode, name=name, dtype=dtype)
    table = _MAX_POOL if kind == "max" else _AVG_POOL
    return table[len(pool)](pool_size=pool, strides=stride, padding=mode, name=name, dtype=dtype)


def lower_avg_pool(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """avg_pool1d/2d/3d: native 'valid'/'same' when Keras' divisor (real cells only) equals the
    IR's (:func:`~archdsl.layers.pool.avg_pool_divisor`), else :class:`ExplicitAveragePooling`."""
    dims = int(node["type"][-2])
    pool, stride = _pool_geometry(node, dims)
    pads, counted = node["attrs"]["pads"], node["attrs"]["counted_pads"]
    include = node["params"].count_include_pad
    spatial = in_shapes[0][1:]
    mode = padding_mode(pads, spatial, pool, stride)
    if mode is not None:
        want = avg_pool_divisor(spatial, pool, stride, pads, counted, include)
        native = avg_pool_divisor(spatial, pool, stride, pads, pads, False)
        if np.array_equal(want, native):
            return _pool_layer("average", pool, stride, mode, node_id, ctx.dtype)
    return ExplicitAveragePooling(pool, stride, pads, counted, include, name=node_id,
                                  dtype=ctx.dtype)


_GLOBAL = {
    "global_avg_pool": {1: keras.layers.GlobalAveragePooling1D,
                        2: keras.layers.GlobalAveragePooling2D,
                        3: keras.layers.GlobalAveragePooling3D},
    "global_max_pool": {1: keras.layers.GlobalMaxPooling1D, 2: keras.layers.GlobalMaxPooling2D,
                        3: keras.layers.GlobalMaxPooling3D},
}


def lower_global_pool(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """global_avg_pool / global_max_pool over 1-3 spatial dims (``keepdims`` kept)."""
    cls = _GLOBAL[node["type"]][len(in_shapes[0]) - 1]
    return cls(keepdims=node["params"].keepdims, name=node_id, dtype=ctx.dtype)


# ---------------------------------------------------------------------------- normalization
def lower_batchnorm(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """BatchNormalization over the last (channel) axis, momentum ``1 − m``, explicit epsilon."""
    p = node["params"]
    cls = TorchLikeBatchNormalization if ctx.bn == "torch" else keras.layers.BatchNormalization
    return cls(axis=-1, momentum=1.0 - p.momentum, epsilon=p.eps, center=p.center,
               scale=p.scale, name=node_id, dtype=ctx.dtype)


def lower_dropout(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """Element-wise dropout (inverted scaling, like PyTorch)."""
    return keras.layers.Dropout(node["params"].rate, name=node_id, dtype=ctx.dtype)


_SPATIAL_DROPOUT = {1: keras.layers.SpatialDropout1D, 2: keras.layers.SpatialDropout2D,
                    3: keras.layers.SpatialDropout3D}


def lower_spatial_dropout(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """Channel dropout: SpatialDropout1D/2D/3D by the number of spatial dims."""
    cls = _SPATIAL_DROPOUT[len(in_shapes[0]) - 1]
    return cls(node["params"].rate, name=node_id, dtype=ctx.dtype)


# ---------------------------------------------------------------------------- activations
_ACTIVATION_NAMES = {
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",  # Keras 3: relu6(x + 3) / 6, PyTorch's Hardsigmoid
    "swish": "silu",
    "hard_swish": "hard_silu",
    "tanh": "tanh",
}


def lower_activation(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """relu, relu6, sigmoid, hard_sigmoid, swish, hard_swish, tanh, elu, leaky_relu, gelu,
    softmax. Every constant is passed explicitly (Keras defaults differ; parity.md E)."""
    key, p = node["type"], node["params"]
    common = {"name": node_id, "dtype": ctx.dtype}
    if key == "relu":
        return keras.layers.ReLU(**common)
    if key == "relu6":
        return keras.layers.ReLU(max_value=6.0, **common)
    if key == "elu":
        return keras.layers.ELU(alpha=p.alpha, **common)
    if key == "leaky_relu":
        return LeakyReLU(negative_slope=p.negative_slope, **common)
    if key == "gelu":
        return GELU(approximate=p.approximate == "tanh", **common)
    if key == "softmax":
        return keras.layers.Softmax(axis=keras_axis(p.axis, len(in_shapes[0])), **common)
    return keras.layers.Activation(_ACTIVATION_NAMES[key], **common)


# ---------------------------------------------------------------------------- structure
def lower_flatten(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """Flatten in channels-first order: ``Permute`` to (C, *S), then ``Flatten``."""
    rank = len(in_shapes[0])
    flat = keras.layers.Flatten(name=node_id, dtype=ctx.dtype)
    if rank < 2:
        return flat
    permute = keras.layers.Permute((rank, *range(1, rank)), name=f"{node_id}-permute",
                                   dtype=ctx.dtype)
    return _chain(permute, flat)


def lower_dense(node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT) -> Apply:
    """Dense (kernel = the canonical (units, F) weight transposed)."""
    p = node["params"]
    return keras.layers.Dense(p.units, use_bias=p.bias, name=node_id, dtype=ctx.dtype)


def lower_merge(node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT) -> Apply:
    """add, concat (axis mapped to channels-last), multiply (broadcasts, e.g. an SE gate)."""
    key = node["type"]
    common = {"name": node_id, "dtype": ctx.dtype}
    if key == "add":
        return keras.layers.Add(**common)
    if key == "multiply":
        return keras.layers.Multiply(**common)
    axis = keras_axis(node["params"].axis, len(in_shapes[0]))
    return keras.layers.Concatenate(axis=axis, **common)


def lower_identity(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """A named pass-through."""
    return keras.layers.Identity(name=node_id, dtype=ctx.dtype)


def lower_zero_padding(
    node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT
) -> Apply:
    """ZeroPadding1D/2D/3D with the resolved (before, after) pairs."""
    return _zero_padding(node["attrs"]["pads"], node_id, ctx.dtype)


def lower_scale(node_id: str, node: Node, in_shapes: list[Shape], ctx: Context = _DEFAULT) -> Apply:
    """Multiply by a constant."""
    return Scale(node["params"].factor, name=node_id, dtype=ctx.dtype)


# ---------------------------------------------------------------------------- the table
LOWERINGS: dict[str, Lowering] = {
    **{f"conv{d}d": lower_conv for d in (1, 2, 3)},
    **{f"depthwise_conv{d}d": lower_conv for d in (1, 2)},
    **{f"separable_conv{d}d": lower_conv for d in (1, 2)},
    **{f"conv_transpose{d}d": lower_conv_transpose for d in (1, 2, 3)},
    **{f"max_pool{d}d": lower_max_pool for d in (1, 2, 3)},
    **{f"avg_pool{d}d": lower_avg_pool for d in (1, 2, 3)},
    "global_avg_pool": lower_global_pool,
    "global_max_pool": lower_global_pool,
    "batchnorm": lower_batchnorm,
    "dropout": lower_dropout,
    "spatial_dropout": lower_spatial_dropout,
    **{key: lower_activation for key in (
        "relu", "relu6", "sigmoid", "hard_sigmoid", "swish", "hard_swish", "tanh", "elu",
        "leaky_relu", "gelu", "softmax")},
    "flatten": lower_flatten,
    "dense": lower_dense,
    "add": lower_merge,
    "concat": lower_merge,
    "multiply": lower_merge,
    "identity": lower_identity,
    "zero_padding": lower_zero_padding,
    "scale": lower_scale,
}

__all__ = [
    "LOWERINGS",
    "Context",
    "Lowering",
    "from_keras_layout",
    "keras_axis",
    "keras_shape",
    "padding_mode",
    "to_keras_layout",
]
