"""Lowerings of :mod:`archdsl.layers.tokens`: learned (or fixed) tensors."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from .lowerings import LOWERINGS
from .modules_tokens import Parameter


@LOWERINGS.register("parameter")
def lower_parameter(node: Node, ctx: LowerContext) -> nn.Module:
    """:class:`~.modules_tokens.Parameter`: the node's tensor expanded over the input's batch
    (frozen when the IR says the weight is not trainable, e.g. a fixed constant)."""
    value = node.weights["value"]
    return Parameter(tuple(value.shape), trainable=value.trainable)
