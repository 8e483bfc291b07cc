"""Indexing on any axis: slice, constant pad, roll and take (gather by a fixed index).

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
from archdsl.reference.registry import OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node


def array_axis(axis: int, rank: int) -> int:
    """An IR axis (batch excluded, may be negative) of a rank-``rank`` IR shape, batch first.

    >>> array_axis(0, 3), array_axis(-1, 3)
    (1, 3)
    """
    return axis % rank + 1


def axes_of(value: Any, rank: int) -> list[int]:
    """One IR axis or a list of them → array axes (batch first).

    >>> axes_of(-1, 2), axes_of([0, 1], 3)
    ([2], [1, 2])
    """
    return [array_axis(a, rank) for a in ([value] if isinstance(value, int) else value)]


@reference_op("slice")
def slice_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x[start:stop:step]`` along one axis (Python's slicing rules)."""
    x, p = xs[0], node.params
    index = [slice(None)] * x.ndim
    index[array_axis(p.axis, x.ndim - 1)] = slice(p.start, p.stop, p.step)
    return np.ascontiguousarray(x[tuple(index)])


@reference_op("pad")
def pad_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """A constant around every axis, ``[before, after]`` each."""
    p = node.params
    widths = [(0, 0), *(tuple(pair) for pair in p.pads)]
    return np.pad(xs[0], widths, constant_values=np.asarray(p.value, xs[0].dtype))


@reference_op("roll")
def roll_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Cyclic shift: element ``i`` moves to ``i + shift`` (torch.roll)."""
    x, p = xs[0], node.params
    shifts = [p.shifts] if isinstance(p.shifts, int) else list(p.shifts)
    return np.roll(x, shifts, axis=axes_of(p.axes, x.ndim - 1))


@reference_op("take")
def take_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Entries gathered along an axis by a fixed index (a list or a named constant)."""
    x, p = xs[0], node.params
    return np.take(x, Take.index(p), axis=array_axis(p.axis, x.ndim - 1))


__all__ = ["array_axis", "axes_of"]
