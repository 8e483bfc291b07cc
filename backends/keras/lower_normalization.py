"""Lowerings of :mod:`archdsl.layers.normalization`."""

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
