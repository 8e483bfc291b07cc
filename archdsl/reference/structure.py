"""Structure and merges: flatten, dense, add, concat, multiply, identity, scale, zero padding,
channel shuffle, layer scale, parameter.

Flatten keeps the IR's channel-first order ``(C, *S)``, so a following dense kernel
``(units, F)`` applies as ``x @ Wᵀ``. Concat's axis is the IR's (0 = channels). Channel
shuffle is PyTorch's ``nn.ChannelShuffle``: view ``(N, g, C/g, *S)``, swap axes 1 and 2.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [1, 2, 2]\\nbody:\\n"
    ...                   "  - zero_padding: {padding: [[1, 0], [0, 1]]}\\n")
    >>> forward(g, {}, np.ones((1, 1, 2, 2)))["zero_padding_1"][0, 0].tolist()
    [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from archdsl.layers.base import Padded
from archdsl.reference.registry import ACC, OpContext, reference_op
from archdsl.reference.windows import channel_view, pad_spatial

if TYPE_CHECKING:
    from archdsl.ir import Node


def _axis(ir_axis: int) -> int:
    """An IR axis (batch excluded) as an array axis (batch first)."""
    return ir_axis + 1 if ir_axis >= 0 else ir_axis


@reference_op("flatten")
def flatten_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``(N, C, *S) → (N, C·ΠS)`` in channel-first order."""
    return xs[0].reshape(xs[0].shape[0], -1)


@reference_op("dense")
def dense_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x @ Wᵀ + b`` with ``W`` (units, F), accumulated in float64."""
    x, w = xs[0], ctx.weights
    y = x.astype(ACC) @ w["kernel"].astype(ACC).T
    if "bias" in w:
        y += w["bias"].astype(ACC)
    return y.astype(x.dtype)


@reference_op("add")
def add_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Element-wise sum, left to right."""
    return functools.reduce(np.add, xs)


@reference_op("multiply")
def multiply_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Element-wise product with numpy broadcasting, left to right."""
    return functools.reduce(np.multiply, xs)


@reference_op("concat")
def concat_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Concatenation along the IR axis."""
    return np.concatenate(xs, axis=_axis(node.params.axis))


@reference_op("identity")
def identity_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """The input, unchanged."""
    return xs[0]


@reference_op("scale")
def scale_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x · factor``, the factor rounded to the input dtype."""
    return xs[0] * np.asarray(node.params.factor, xs[0].dtype)


@reference_op("zero_padding")
def zero_padding_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Zeros around the spatial axes, ``(before, after)`` per axis from the IR."""
    return pad_spatial(xs[0], node.resolved(Padded).pads)


@reference_op("channel_shuffle")
def channel_shuffle_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``(N, g, C/g, *S)`` → swap axes 1 and 2 → ``(N, C, *S)``."""
    x = xs[0]
    g = node.params.groups
    n, c = x.shape[:2]
    y = x.reshape(n, g, c // g, *x.shape[2:]).swapaxes(1, 2)
    return y.reshape(x.shape)


@reference_op("layer_scale")
def layer_scale_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x · γ``, per channel or along the last axis."""
    x, scale = xs[0], ctx.weights["scale"]
    return x * (channel_view(scale, x.ndim) if node.params.axis == "channels" else scale)


@reference_op("parameter")
def parameter_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """The node's tensor, repeated over the batch of its input."""
    value = ctx.weights["value"]
    return np.broadcast_to(value, (xs[0].shape[0], *value.shape)).copy()


__all__: list[str] = []
