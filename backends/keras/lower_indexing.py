"""Lowerings of :mod:`archdsl.layers.indexing`: slice, pad, roll and take.

All four are ``"follow"`` layers: they read their input in whatever layout it has (a
channels-last feature map, IR-order tokens) and map each IR axis to the physical one with
:func:`~archdsl.backends.keras.layout.axis_in`, so no Permute is inserted around them.
"""

from __future__ import annotations

from archdsl.ir import Node
from archdsl.layers.indexing import Take as TakeLayer

from .layers_tensor import AxisPad, AxisSlice, Roll, Take
from .layout import axis_in
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


def _listed(value: int | list[int]) -> list[int]:
    return [value] if isinstance(value, int) else list(value)


@LOWERINGS.register("slice")
def lower_slice(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`AxisSlice` on the physical axis."""
    p = node.params
    axis = axis_in(p.axis, len(node.in_shapes[0]), ctx.layout)
    return AxisSlice(axis, p.start, p.stop, p.step, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("pad")
def lower_pad(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`AxisPad` with the IR's pairs moved to their physical axes."""
    rank = len(node.in_shapes[0])
    pads = [(0, 0)] * (rank + 1)
    for i, (before, after) in enumerate(node.params.pads):
        pads[axis_in(i, rank, ctx.layout)] = (before, after)
    return AxisPad(pads, node.params.value, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("roll")
def lower_roll(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`Roll` over the physical axes."""
    p, rank = node.params, len(node.in_shapes[0])
    axes = [axis_in(a, rank, ctx.layout) for a in _listed(p.axes)]
    return Roll(_listed(p.shifts), axes, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("take")
def lower_take(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`Take` with the index list (a named constant evaluated) on the physical axis."""
    p = node.params
    axis = axis_in(p.axis, len(node.in_shapes[0]), ctx.layout)
    return Take(TakeLayer.index(p), axis, name=node.id, dtype=ctx.dtype)
