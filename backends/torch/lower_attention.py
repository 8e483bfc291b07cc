"""Lowerings of :mod:`archdsl.layers.attention`: multi-head self-attention."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from .lowerings import LOWERINGS
from .modules_attention import SelfAttention


@LOWERINGS.register("multi_head_attention")
def lower_multi_head_attention(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.MultiheadAttention(D, heads, dropout, bias, batch_first=True)`` called on
    ``(x, x, x)`` (:class:`~.modules_attention.SelfAttention`)."""
    p = node.params
    return SelfAttention(node.in_shapes[0][-1], p.heads, dropout=p.dropout, bias=p.bias)
