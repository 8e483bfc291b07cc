"""Lowerings of :mod:`archdsl.layers.reshape`: reshape and permute in the IR's axis order."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from . import modules_tensor as T
from .lowerings import LOWERINGS


@LOWERINGS.register("reshape")
def lower_reshape(node: Node, ctx: LowerContext) -> nn.Module:
    """``x.reshape(N, *shape)`` with the IR's resolved shape (no -1 left)."""
    return T.Reshape(node.shape)


@LOWERINGS.register("permute")
def lower_permute(node: Node, ctx: LowerContext) -> nn.Module:
    """``x.permute(0, *(d + 1 for d in dims))``."""
    return T.Permute(node.params.dims)
