"""Lowering of :mod:`archdsl.layers.matmul`: products between activations."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from . import modules_tensor as T
from .lowerings import LOWERINGS


@LOWERINGS.register("matmul")
def lower_matmul(node: Node, ctx: LowerContext) -> nn.Module:
    """``torch.matmul`` of the two inputs, each optionally transposed on its last two axes."""
    p = node.params
    return T.MatMul(p.transpose_a, p.transpose_b)
