"""Lowerings of :mod:`archdsl.layers.attention`: multi-head self-attention."""

from __future__ import annotations

from typing import Any

from archdsl.ir import Node

from .layers_attention import SelfAttention
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("multi_head_attention")
def lower_multi_head_attention(node: Node, ctx: Context = DEFAULT) -> Apply:
    """``MultiHeadAttention(heads, key_dim=D/heads, use_bias, dropout)``
    (:class:`~.layers_attention.SelfAttention`, float64-exact) applied as ``layer(x, x)``."""
    p = node.params
    layer = SelfAttention(num_heads=p.heads, key_dim=node.in_shapes[0][-1] // p.heads,
                          use_bias=p.bias, dropout=p.dropout, name=node.id, dtype=ctx.dtype)

    def apply(x: Any) -> Any:
        return layer(x, x)

    return apply
