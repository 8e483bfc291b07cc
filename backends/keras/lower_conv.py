"""Lowerings of :mod:`archdsl.layers.conv`: convolutions, exact padding and cropping."""

from __future__ import annotations

from typing import Any

import keras

from archdsl.ir import Node
from archdsl.layers import Layer, conv
from archdsl.layers.geometry import effective_kernel, ntuple

from .layers import (
    GeneralConvTranspose,
    sliced,
)
from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
    chain,
    frozen_if_fixed,
    padding_mode,
    zero_padding,
)

_CONV: dict[type[Layer], dict[int, Any]] = {
    conv.Conv: {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D},
    conv.Depthwise: {1: keras.layers.DepthwiseConv1D, 2: keras.layers.DepthwiseConv2D},
    conv.Separable: {1: keras.layers.SeparableConv1D, 2: keras.layers.SeparableConv2D},
    conv.Transposed: {1: keras.layers.Conv1DTranspose, 2: keras.layers.Conv2DTranspose,
                      3: keras.layers.Conv3DTranspose},
}


def _conv_class(node: Node) -> Any:
    """The Keras class of a convolution node, by its layer family and spatial rank."""
    family = next(v for cls, v in _CONV.items() if isinstance(node.layer, cls))
    return family[node.layer.dims]


def _window(node: Node, dims: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    p = node.params
    return (ntuple(p.kernel, dims, "kernel"), ntuple(p.stride, dims, "stride"),
            ntuple(p.dilation, dims, "dilation"))


@LOWERINGS.register(
    "conv1d", "conv2d", "conv3d", "depthwise_conv1d", "depthwise_conv2d", "separable_conv1d",
    "separable_conv2d",
)
def lower_conv(node: Node, ctx: Context = DEFAULT) -> Apply:
    """conv1d/2d/3d, depthwise_conv1d/2d, separable_conv1d/2d.

    Stride > 1 with dilation > 1 (which Keras rejects) runs the dilated convolution at stride 1
    on the explicitly padded input and keeps every s-th output (a ``Sliced*`` layer).
    """
    dims = node.layer.dims
    p = node.params
    kernel, stride, dilation = _window(node, dims)
    k_eff = effective_kernel(kernel, dilation)
    spatial = node.in_shapes[0][1:]
    pads = node.attrs.pads
    pre: list[Any] = []
    kwargs: dict[str, Any] = {
        "kernel_size": kernel, "dilation_rate": dilation, "use_bias": p.bias,
        "name": node.id, "dtype": ctx.dtype,
    }
    cls = _conv_class(node)
    if max(stride) > 1 and max(dilation) > 1:
        if any(b or e for b, e in pads):
            pre.append(zero_padding(pads, f"{node.id}-pad", ctx.dtype))
        full = [n + b + e - k + 1 for n, (b, e), k in zip(spatial, pads, k_eff)]
        kwargs.update(strides=1, padding="valid", slices=[(0, f, s) for f, s in zip(full, stride)])
        cls = sliced(cls)
    else:
        mode = padding_mode(pads, spatial, k_eff, stride)
        if mode is None:
            pre.append(zero_padding(pads, f"{node.id}-pad", ctx.dtype))
            mode = "valid"
        kwargs.update(strides=stride, padding=mode)
    if isinstance(node.layer, conv.Conv):
        kwargs.update(filters=p.filters, groups=p.groups)
    elif isinstance(node.layer, conv.Depthwise):
        kwargs.update(depth_multiplier=p.multiplier)
    else:
        kwargs.update(filters=p.filters, depth_multiplier=p.multiplier)
    layer = frozen_if_fixed(cls(**kwargs), node)
    return chain(*pre, layer)


@LOWERINGS.register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def lower_conv_transpose(node: Node, ctx: Context = DEFAULT) -> Apply:
    """conv_transpose1d/2d/3d, reproducing the IR ``crops`` exactly.

    * crops equal to TensorFlow's 'same' rule → native ``padding='same'``;
    * else native ``padding='valid'`` with ``output_padding`` = the extra end rows (a negative
      end crop) and a static output slice for the positive crops (``Sliced*`` layer);
    * dilation > 1 (Keras rejects it with stride > 1; TensorFlow's CPU kernel rejects it in
      float64 and without oneDNN) and output_padding ≥ stride: :class:`GeneralConvTranspose`.
    """
    dims = node.layer.dims
    p = node.params
    kernel, stride, dilation = _window(node, dims)
    k_eff = effective_kernel(kernel, dilation)
    spatial = node.in_shapes[0][1:]
    crops = tuple(tuple(c) for c in node.attrs.crops)
    full = [s * (n - 1) + k for n, k, s in zip(spatial, k_eff, stride)]
    ext = tuple(max(-e, 0) for _, e in crops)
    same = tuple(
        (t // 2, t - t // 2) if t >= 0 else (0, t)
        for t in (f - n * s for f, n, s in zip(full, spatial, stride))
    )
    common = {"use_bias": p.bias, "name": node.id, "dtype": ctx.dtype}
    if max(dilation) > 1 or any(x >= s for x, s in zip(ext, stride)):
        return GeneralConvTranspose(p.filters, kernel, stride, dilation, crops, ext, **common)
    base = _conv_class(node)
    kwargs = {"filters": p.filters, "kernel_size": kernel, "strides": stride,
              "dilation_rate": dilation, **common}
    if crops == same:
        return base(padding="same", **kwargs)
    kwargs.update(padding="valid", output_padding=ext)
    if all(b == 0 and e <= 0 for b, e in crops):
        return base(**kwargs)
    slices = [(b, f + x - max(e, 0), 1) for (b, e), f, x in zip(crops, full, ext)]
    return sliced(base)(slices=slices, **kwargs)
