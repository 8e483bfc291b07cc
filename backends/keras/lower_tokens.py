"""Lowerings of :mod:`archdsl.layers.tokens`: learned (or fixed) tensors."""

from __future__ import annotations

from archdsl.ir import Node

from .layers_tokens import Parameter
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("parameter")
def lower_parameter(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`~.layers_tokens.Parameter` in the IR's axis order, frozen when the IR's weight is
    not trainable (a fixed constant)."""
    value = node.weights["value"]
    return Parameter(value.shape, name=node.id, dtype=ctx.dtype, trainable=value.trainable)
