"""Convolutions, 1-3 D: cross-channel (grouped, dilated, strided), depthwise, separable,
transposed. Every convolution is one matrix product over gathered windows, accumulated in
float64 (:data:`~archdsl.reference.registry.ACC`) and rounded once to the input dtype.

A depthwise convolution is a grouped one with ``groups = C``: output channel ``c·M + m`` reads
input channel ``c``. A transposed convolution is the convolution of the stride-upsampled input
(zeros between samples) with the spatially flipped, in/out-swapped kernel; the IR's crops
become that convolution's padding (``d(k−1) − crop``; a negative crop adds rows).

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [1, 4]\\nbody:\\n"
    ...                   "  - conv1d: {filters: 1, kernel: 2, bias: false}\\n")
    >>> w = {"conv1d_1": {"kernel": np.array([[[1.0, -1.0]]])}}
    >>> forward(g, w, np.array([[[1.0, 4.0, 9.0, 16.0]]]))["conv1d_1"].tolist()
    [[[-3.0, -5.0, -7.0]]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from archdsl.layers.base import Cropped, Padded
from archdsl.layers.geometry import ntuple
from archdsl.reference.registry import ACC, OpContext, reference_op
from archdsl.reference.windows import Pairs, channel_view, pad_spatial, patches

if TYPE_CHECKING:
    from archdsl.ir import Node


def conv(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    *,
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pairs,
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlation of ``x`` (N, C, *S) with ``w`` (O, C/groups, *k), zero ``pads``.

    >>> x = np.arange(4.0).reshape(1, 1, 4)
    >>> conv(x, np.ones((1, 1, 2)), None, stride=(1,), dilation=(1,), pads=((0, 0),)).tolist()
    [[[1.0, 3.0, 5.0]]]
    """
    kernel = w.shape[2:]
    cols = patches(pad_spatial(x, pads), kernel, stride, dilation)  # (N, C, K, *out)
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    out = cols.shape[3:]
    k = math.prod(kernel)
    cols = cols.reshape(n, groups, (c // groups) * k, math.prod(out)).astype(ACC)
    wm = w.reshape(groups, o // groups, (c // groups) * k).astype(ACC)
    y = np.matmul(wm, cols).reshape(n, o, *out)
    if b is not None:
        y += channel_view(b.astype(ACC), y.ndim)
    return y.astype(x.dtype)


def _window(node: Node) -> tuple[tuple[int, ...], tuple[int, ...]]:
    dims = node.layer.dims or 0
    return ntuple(node.params.stride, dims, "stride"), ntuple(node.params.dilation, dims, "d")


def _conv_node(
    node: Node, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, groups: int
) -> np.ndarray:
    """:func:`conv` with ``node``'s stride, dilation and resolved pads."""
    stride, dilation = _window(node)
    pads = node.resolved(Padded).pads
    return conv(x, kernel, bias, stride=stride, dilation=dilation, pads=pads, groups=groups)


@reference_op("conv1d", "conv2d", "conv3d")
def conv_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Cross-channel convolution (grouped, dilated, strided, explicit pads)."""
    w = ctx.weights
    return _conv_node(node, xs[0], w["kernel"], w.get("bias"), node.params.groups)


@reference_op("depthwise_conv1d", "depthwise_conv2d")
def depthwise_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Depthwise convolution: groups = C, output channel c·M + m."""
    w = ctx.weights
    return _conv_node(node, xs[0], w["kernel"], w.get("bias"), xs[0].shape[1])


@reference_op("separable_conv1d", "separable_conv2d")
def separable_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Depthwise (no bias) then a 1×1 pointwise convolution with the bias."""
    w = ctx.weights
    y = _conv_node(node, xs[0], w["depthwise_kernel"], None, xs[0].shape[1])
    ones = (1,) * (y.ndim - 2)
    return conv(
        y,
        w["pointwise_kernel"],
        w.get("bias"),
        stride=ones,
        dilation=ones,
        pads=((0, 0),) * len(ones),
    )


def conv_transpose(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    *,
    stride: Sequence[int],
    dilation: Sequence[int],
    crops: Pairs,
) -> np.ndarray:
    """Transposed convolution of ``x`` (N, I, *S) with ``w`` (I, O, *k), then ``crops``.

    Output size per axis: ``s(n−1) + d(k−1) + 1 − crop_before − crop_after``.

    >>> x = np.array([[[1.0, 2.0]]])
    >>> conv_transpose(x, np.array([[[1.0, 10.0]]]), None, stride=(2,), dilation=(1,),
    ...                crops=((0, 0),)).tolist()
    [[[1.0, 10.0, 2.0, 20.0]]]
    """
    n, i = x.shape[:2]
    kernel = w.shape[2:]
    up = np.zeros((n, i, *(s * (m - 1) + 1 for s, m in zip(stride, x.shape[2:]))), x.dtype)
    up[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = x
    flipped = np.flip(w, axis=tuple(range(2, w.ndim))).swapaxes(0, 1)
    pads = [(d * (k - 1) - lo, d * (k - 1) - hi) for k, d, (lo, hi) in zip(kernel, dilation, crops)]
    ones = (1,) * len(kernel)
    return conv(up, np.ascontiguousarray(flipped), b, stride=ones, dilation=dilation, pads=pads)


@reference_op("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def conv_transpose_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Transposed convolution with the IR's per-side crops (PyTorch or TF 'same')."""
    stride, dilation = _window(node)
    w = ctx.weights
    return conv_transpose(
        xs[0],
        w["kernel"],
        w.get("bias"),
        stride=stride,
        dilation=dilation,
        crops=node.resolved(Cropped).crops,
    )


__all__ = ["conv", "conv_transpose"]
