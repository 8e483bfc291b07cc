"""Lowering of :mod:`archdsl.layers.reduce`: the mean over IR axes (an ``"ordered"`` layer,
so its input arrives in IR order and an IR axis ``a`` is the batched tensor's ``a + 1``)."""

from __future__ import annotations

from archdsl.ir import Node

from .layers_tensor import Mean
from .layout import axis_in
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("mean")
def lower_mean(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`Mean` over the mapped axes."""
    p, rank = node.params, len(node.in_shapes[0])
    axes = [p.axes] if isinstance(p.axes, int) else list(p.axes)
    mapped = sorted(axis_in(a, rank, ctx.layout) for a in axes)
    return Mean(mapped, p.keepdims, name=node.id, dtype=ctx.dtype)
