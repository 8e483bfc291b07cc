"""Lowerings of :mod:`archdsl.layers.conv`: cross-channel, depthwise, separable, transposed.

Padding is already resolved by the IR to explicit ``(before, after)`` pairs: symmetric pairs
go to the module's own ``padding=``, anything else to an explicit ``F.pad`` before the native
module with ``padding=0``.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> lower_conv(g["conv2d_1"], LowerContext())
    PaddedConv2d(3, 4, kernel_size=(3, 3), stride=(2, 2), explicit_pad=(0, 1, 0, 1))
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archdsl.errors import BackendError
from archdsl.ir import Node
from archdsl.layers.geometry import ntuple
from archdsl.lowering import LowerContext

from . import modules as M
from .lowerings import LOWERINGS, symmetric, torch_pad

# --------------------------------------------------------------------------- convolutions


def _conv_kwargs(p: Any, dims: int) -> dict[str, Any]:
    return {
        "kernel_size": ntuple(p.kernel, dims, "kernel"),
        "stride": ntuple(p.stride, dims, "stride"),
        "dilation": ntuple(p.dilation, dims, "dilation"),
    }


def _conv(dims: int, cin: int, cout: int, pads: Any, groups: int, bias: bool,
          kw: dict[str, Any]) -> nn.Module:
    sym = symmetric(pads)
    if sym is not None:
        return M.CONV[dims](cin, cout, padding=sym, groups=groups, bias=bias, **kw)
    return M.PADDED_CONV[dims](cin, cout, padding=0, groups=groups, bias=bias,
                               explicit_pad=torch_pad(pads), **kw)


@LOWERINGS.register("conv1d", "conv2d", "conv3d")
def lower_conv(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.ConvNd`` (grouped, dilated); asymmetric pads → :class:`PaddedConv2d`."""
    p, dims = node.params, node.layer.dims
    return _conv(dims, node.in_shapes[0][0], p.filters, node.attrs.pads, p.groups, p.bias,
                 _conv_kwargs(p, dims))


@LOWERINGS.register("depthwise_conv1d", "depthwise_conv2d")
def lower_depthwise(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.ConvNd(C, C·M, groups=C)``: output channel ``c·M + m``."""
    p, dims = node.params, node.layer.dims
    c = node.in_shapes[0][0]
    return _conv(dims, c, c * p.multiplier, node.attrs.pads, c, p.bias,
                 _conv_kwargs(p, dims))


@LOWERINGS.register("separable_conv1d", "separable_conv2d")
def lower_separable(node: Node, ctx: LowerContext) -> nn.Module:
    """:class:`SeparableConv`: depthwise (``bias=False``) + pointwise 1×1 (with bias)."""
    p, dims = node.params, node.layer.dims
    c = node.in_shapes[0][0]
    cm = c * p.multiplier
    depthwise = _conv(dims, c, cm, node.attrs.pads, c, False, _conv_kwargs(p, dims))
    pointwise = M.CONV[dims](cm, p.filters, kernel_size=1, bias=p.bias)
    return M.SeparableConv(depthwise, pointwise)


@LOWERINGS.register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def lower_transposed(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.ConvTransposeNd`` with ``padding``/``output_padding`` when the IR crops allow it.

    Crops ``(b, e)`` are native when ``b = padding`` and ``output_padding = b − e`` is in
    ``[0, max(stride, dilation))``. Otherwise ``padding=0`` (``output_padding = −e`` for a
    negative ``e``) and a slice: :class:`CroppedConvTranspose2d`.
    """
    p, dims = node.params, node.layer.dims
    kw = _conv_kwargs(p, dims)
    crops = node.attrs.crops
    limit = [max(s, d) for s, d in zip(kw["stride"], kw["dilation"])]
    cin = node.in_shapes[0][0]
    if all(b >= 0 and 0 <= b - e < lim for (b, e), lim in zip(crops, limit)):
        return M.CONV_T[dims](cin, p.filters, padding=tuple(b for b, _ in crops),
                              output_padding=tuple(b - e for b, e in crops), bias=p.bias, **kw)
    opad = tuple(max(-e, 0) for _, e in crops)
    if any(op >= lim for op, lim in zip(opad, limit)):
        raise BackendError(f"transposed convolution crops {crops} cannot be lowered to PyTorch")
    out = node.shape[1:]
    crop = tuple((b, b + n) for (b, _), n in zip(crops, out))
    return M.CROPPED_CONV_T[dims](cin, p.filters, padding=0, output_padding=opad, bias=p.bias,
                                  crop=crop, **kw)
