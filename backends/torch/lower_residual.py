"""Lowerings of :mod:`archdsl.layers.residual`: layer scale and stochastic depth."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from .lowerings import LOWERINGS
from .modules_residual import LayerScale, StochasticDepth


@LOWERINGS.register("layer_scale")
def lower_layer_scale(node: Node, ctx: LowerContext) -> nn.Module:
    """:class:`~.modules_residual.LayerScale` per channel (dim 1) or along the last axis."""
    p = node.params
    shape = node.in_shapes[0]
    if p.axis == "channels":
        return LayerScale(shape[0], p.init, trailing=len(shape) - 1)
    return LayerScale(shape[-1], p.init, trailing=0)


@LOWERINGS.register("stochastic_depth")
def lower_stochastic_depth(node: Node, ctx: LowerContext) -> nn.Module:
    """:class:`~.modules_residual.StochasticDepth` (torchvision's, mode "row"); in matched
    training the trainer hooks it like dropout and multiplies by the step's mask."""
    return StochasticDepth(node.params.rate, dims=len(node.in_shapes[0]))
