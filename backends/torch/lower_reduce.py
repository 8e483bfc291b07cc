"""Lowering of :mod:`archdsl.layers.reduce`: the mean over IR axes."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from . import modules_tensor as T
from .lowerings import LOWERINGS


@LOWERINGS.register("mean")
def lower_mean(node: Node, ctx: LowerContext) -> nn.Module:
    """``x.mean(dims, keepdim)``."""
    p = node.params
    axes = [p.axes] if isinstance(p.axes, int) else list(p.axes)
    return T.Mean(axes, p.keepdims, rank=len(node.in_shapes[0]))
