"""Lowering of :mod:`archdsl.layers.dense`."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from .lowerings import LOWERINGS


@LOWERINGS.register("dense")
def lower_dense(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.Linear(features, units, bias)``."""
    p = node.params
    return nn.Linear(node.in_shapes[0][-1], p.units, bias=p.bias)
