"""Lowerings of :mod:`archdsl.layers.normalization`: batch, layer and group normalization."""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .layers import (
    TorchLikeBatchNormalization,
)
from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
)


@LOWERINGS.register("batchnorm")
def lower_batchnorm(node: Node, ctx: Context = DEFAULT) -> Apply:
    """BatchNormalization over the last (channel) axis, momentum ``1 − m``, explicit epsilon."""
    p = node.params
    cls = TorchLikeBatchNormalization if ctx.bn == "torch" else keras.layers.BatchNormalization
    return cls(axis=-1, momentum=1.0 - p.momentum, epsilon=p.eps, center=p.center,
               scale=p.scale, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("layer_norm")
def lower_layer_norm(node: Node, ctx: Context = DEFAULT) -> Apply:
    """``LayerNormalization(axis=-1, epsilon)`` for both axis modes: the builder hands
    channels-last maps for ``axis: channels`` and IR-order tensors for ``axis: last``."""
    return keras.layers.LayerNormalization(axis=-1, epsilon=node.params.eps, name=node.id,
                                           dtype=ctx.dtype)


@LOWERINGS.register("group_norm")
def lower_group_norm(node: Node, ctx: Context = DEFAULT) -> Apply:
    """``GroupNormalization(groups, axis=-1, epsilon)`` on channels-last maps (contiguous
    channel groups, as PyTorch's ``nn.GroupNorm``)."""
    p = node.params
    return keras.layers.GroupNormalization(groups=p.groups, axis=-1, epsilon=p.eps,
                                           name=node.id, dtype=ctx.dtype)
