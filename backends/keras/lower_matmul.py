"""Lowering of :mod:`archdsl.layers.matmul`: products between two activations (an
``"ordered"`` layer: both inputs arrive in IR order)."""

from __future__ import annotations

from archdsl.ir import Node

from .layers_tensor import MatMul
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("matmul")
def lower_matmul(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`MatMul` of the two inputs."""
    p = node.params
    return MatMul(p.transpose_a, p.transpose_b, name=node.id, dtype=ctx.dtype)
