"""Lowerings of :mod:`archdsl.layers.residual`: layer scale and stochastic depth."""

from __future__ import annotations

from archdsl.ir import Node

from .layers_residual import LayerScale, StochasticDepth
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("layer_scale")
def lower_layer_scale(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`~.layers_residual.LayerScale` on the last axis: the builder hands channels-last
    maps for ``axis: channels`` and IR-order tensors for ``axis: last``."""
    return LayerScale(node.params.init, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("stochastic_depth")
def lower_stochastic_depth(node: Node, ctx: Context = DEFAULT) -> Apply:
    """:class:`~.layers_residual.StochasticDepth` (one keep/drop per sample, any layout); in
    matched training the trainer substitutes the step's mask (:mod:`.train_dropout`)."""
    return StochasticDepth(node.params.rate, name=node.id, dtype=ctx.dtype)
