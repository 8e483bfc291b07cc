"""Lowerings of :mod:`archdsl.layers.dropout`."""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
)


@LOWERINGS.register("dropout")
def lower_dropout(node: Node, ctx: Context = DEFAULT) -> Apply:
    """Element-wise dropout (inverted scaling, like PyTorch)."""
    return keras.layers.Dropout(node.params.rate, name=node.id, dtype=ctx.dtype)


_SPATIAL_DROPOUT = {1: keras.layers.SpatialDropout1D, 2: keras.layers.SpatialDropout2D,
                    3: keras.layers.SpatialDropout3D}


@LOWERINGS.register("spatial_dropout")
def lower_spatial_dropout(node: Node, ctx: Context = DEFAULT) -> Apply:
    """Channel dropout: SpatialDropout1D/2D/3D by the number of spatial dims."""
    cls = _SPATIAL_DROPOUT[len(node.in_shapes[0]) - 1]
    return cls(node.params.rate, name=node.id, dtype=ctx.dtype)
