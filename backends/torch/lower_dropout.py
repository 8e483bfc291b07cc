"""Lowerings of :mod:`archdsl.layers.dropout` (masks in matched training: the trainers)."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from .lowerings import LOWERINGS


@LOWERINGS.register("dropout")
def lower_dropout(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.Dropout(rate)`` (inverted scaling in training, identity in eval)."""
    return nn.Dropout(node.params.rate)


_SPATIAL_DROPOUT: dict[int, type[nn.Module]] = {2: nn.Dropout1d, 3: nn.Dropout2d, 4: nn.Dropout3d}


@LOWERINGS.register("spatial_dropout")
def lower_spatial_dropout(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.Dropout1d/2d/3d`` by the number of spatial dimensions (whole channels dropped)."""
    return _SPATIAL_DROPOUT[len(node.in_shapes[0])](node.params.rate)
