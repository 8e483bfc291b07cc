"""Lowerings of :mod:`archdsl.layers.tensor_ops`."""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .layers import (
    Scale,
)
from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
    chain,
    keras_shape,
    zero_padding,
)


@LOWERINGS.register("flatten")
def lower_flatten(node: Node, ctx: Context = DEFAULT) -> Apply:
    """Flatten in channels-first order: ``Permute`` to (C, *S), then ``Flatten``."""
    rank = len(node.in_shapes[0])
    flat = keras.layers.Flatten(name=node.id, dtype=ctx.dtype)
    if rank < 2:
        return flat
    permute = keras.layers.Permute((rank, *range(1, rank)), name=f"{node.id}-permute",
                                   dtype=ctx.dtype)
    return chain(permute, flat)




@LOWERINGS.register("identity")
def lower_identity(node: Node, ctx: Context = DEFAULT) -> Apply:
    """A named pass-through."""
    return keras.layers.Identity(name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("zero_padding")
def lowerzero_padding(node: Node, ctx: Context = DEFAULT) -> Apply:
    """ZeroPadding1D/2D/3D with the resolved (before, after) pairs."""
    return zero_padding(node.attrs.pads, node.id, ctx.dtype)


@LOWERINGS.register("channel_shuffle")
def lower_channel_shuffle(node: Node, ctx: Context = DEFAULT) -> Apply:
    """Channel shuffle on channels-last tensors: reshape the channel axis to (groups, C/groups),
    swap the two, flatten back (PyTorch ``nn.ChannelShuffle`` order)."""
    g = node.params.groups
    c = node.shape[0]
    spatial = keras_shape(node.shape)[:-1]
    rank = len(spatial)
    return chain(
        keras.layers.Reshape((*spatial, g, c // g), name=f"{node.id}-split", dtype=ctx.dtype),
        keras.layers.Permute((*range(1, rank + 1), rank + 2, rank + 1),
                             name=f"{node.id}-permute", dtype=ctx.dtype),
        keras.layers.Reshape((*spatial, c), name=node.id, dtype=ctx.dtype),
    )


@LOWERINGS.register("scale")
def lower_scale(node: Node, ctx: Context = DEFAULT) -> Apply:
    """Multiply by a constant."""
    return Scale(node.params.factor, name=node.id, dtype=ctx.dtype)
