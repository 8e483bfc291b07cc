"""Indexing and reshaping on any axis: slice, pad, roll, take, reshape, permute, mean.

Axes are the IR's (batch excluded; negative from the end), so array axis = IR axis + 1.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n"
    ...                   "  - roll: {shifts: 1, axes: 0}\\n  - slice: {axis: 0, start: 1}\\n")
    >>> forward(g, {}, np.array([[1.0, 2.0, 3.0, 4.0]]))["slice_1"].tolist()
    [[1.0, 2.0, 3.0]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.layers.indexing import Take
from archdsl.reference.registry import ACC, OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node


def array_axis(axis: int, rank: int) -> int:
    """An IR axis (batch excluded, may be negative) of a rank-``rank`` IR shape, batch first."""
    return axis % rank + 1


def _axes(value: Any, rank: int) -> list[int]:
    return [array_axis(a, rank) for a in ([value] if isinstance(value, int) else value)]


@reference_op("slice")
def slice_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x[start:stop:step]`` along one axis."""
    x, p = xs[0], node.params
    index = [slice(None)] * x.ndim
    index[array_axis(p.axis, x.ndim - 1)] = slice(p.start, p.stop, p.step)
    return x[tuple(index)]


@reference_op("pad")
def pad_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """A constant around every axis, ``[before, after]`` each."""
    p = node.params
    widths = [(0, 0), *(tuple(pair) for pair in p.pads)]
    return np.pad(xs[0], widths, constant_values=p.value)


@reference_op("roll")
def roll_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Cyclic shift: element ``i`` moves to ``i + shift`` (torch.roll)."""
    x, p = xs[0], node.params
    shifts = [p.shifts] if isinstance(p.shifts, int) else list(p.shifts)
    return np.roll(x, shifts, axis=_axes(p.axes, x.ndim - 1))


@reference_op("take")
def take_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Entries gathered along an axis by a fixed index."""
    x, p = xs[0], node.params
    return np.take(x, Take.index(p), axis=array_axis(p.axis, x.ndim - 1))


@reference_op("reshape")
def reshape_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """The same elements in row-major (PyTorch's) order, shaped as the IR says."""
    return xs[0].reshape(xs[0].shape[0], *node.shape)


@reference_op("permute")
def permute_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Output axis ``i`` is input axis ``dims[i]`` (batch stays first)."""
    return np.ascontiguousarray(xs[0].transpose(0, *(d + 1 for d in node.params.dims)))


@reference_op("mean")
def mean_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Mean over the IR axes (accumulated in float64)."""
    x, p = xs[0], node.params
    axes = tuple(_axes(p.axes, x.ndim - 1))
    return x.mean(axis=axes, keepdims=p.keepdims, dtype=ACC).astype(x.dtype)


__all__ = ["array_axis"]
