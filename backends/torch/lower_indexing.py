"""Lowerings of :mod:`archdsl.layers.indexing`: slice, pad, roll and take on any IR axis."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.layers.indexing import Take
from archdsl.lowering import LowerContext

from . import modules as M
from . import modules_tensor as T
from .lowerings import LOWERINGS, torch_pad


def _listed(value: int | list[int]) -> list[int]:
    return [value] if isinstance(value, int) else list(value)


@LOWERINGS.register("slice")
def lower_slice(node: Node, ctx: LowerContext) -> nn.Module:
    """``x[start:stop:step]`` on the axis shifted past the batch."""
    p = node.params
    return T.Slice(p.axis, p.start, p.stop, p.step, rank=len(node.in_shapes[0]))


@LOWERINGS.register("pad")
def lower_pad(node: Node, ctx: LowerContext) -> nn.Module:
    """``F.pad(x, pads, value=value)`` over every axis but the batch."""
    return M.Pad(torch_pad(tuple((b, a) for b, a in node.params.pads)), node.params.value)


@LOWERINGS.register("roll")
def lower_roll(node: Node, ctx: LowerContext) -> nn.Module:
    """``torch.roll(x, shifts, dims)``."""
    p = node.params
    return T.Roll(_listed(p.shifts), _listed(p.axes), rank=len(node.in_shapes[0]))


@LOWERINGS.register("take")
def lower_take(node: Node, ctx: LowerContext) -> nn.Module:
    """``x.index_select(dim, index)`` with the index list (a named constant evaluated)."""
    p = node.params
    return T.Take(Take.index(p), p.axis, rank=len(node.in_shapes[0]))
