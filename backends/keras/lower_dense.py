"""Lowering of :mod:`archdsl.layers.dense`."""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
)


@LOWERINGS.register("dense")
def lower_dense(node: Node, ctx: Context = DEFAULT) -> Apply:
    """Dense (kernel = the canonical (units, F) weight transposed)."""
    p = node.params
    return keras.layers.Dense(p.units, use_bias=p.bias, name=node.id, dtype=ctx.dtype)
