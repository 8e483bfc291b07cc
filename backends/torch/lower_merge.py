"""Lowerings of :mod:`archdsl.layers.merge`."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from . import modules as M
from .lowerings import LOWERINGS, batch_axis


@LOWERINGS.register("add")
def lower_add(node: Node, ctx: LowerContext) -> nn.Module:
    """Sum of the inputs."""
    return M.Add()


@LOWERINGS.register("multiply")
def lower_multiply(node: Node, ctx: LowerContext) -> nn.Module:
    """Broadcasting product of the inputs."""
    return M.Multiply()


@LOWERINGS.register("concat")
def lower_concat(node: Node, ctx: LowerContext) -> nn.Module:
    """``torch.cat(dim=axis + 1)`` (negative axes unchanged)."""
    return M.Concat(batch_axis(node.params.axis))
