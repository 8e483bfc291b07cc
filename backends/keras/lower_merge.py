"""Lowerings of :mod:`archdsl.layers.merge`."""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .layout import axis_in
from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
)


@LOWERINGS.register("add", "concat", "multiply")
def lower_merge(node: Node, ctx: Context = DEFAULT) -> Apply:
    """add, concat (axis mapped to channels-last), multiply (broadcasts, e.g. an SE gate)."""
    key = node.type
    common = {"name": node.id, "dtype": ctx.dtype}
    if key == "add":
        return keras.layers.Add(**common)
    if key == "multiply":
        return keras.layers.Multiply(**common)
    axis = axis_in(node.params.axis, len(node.in_shapes[0]), ctx.layout)
    return keras.layers.Concatenate(axis=axis, **common)
