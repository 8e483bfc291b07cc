"""Regularization by dropout: element-wise dropout and spatial (whole-channel) dropout.

Both are stochastic in training (trait ``stochastic``): the trainers draw their masks with
numpy, so both frameworks drop the same units; in evaluation they are the identity.

Example:
    >>> from archdsl.layers import get_layer
    >>> get_layer("dropout").stochastic, get_layer("spatial_dropout").stochastic
    ('element', 'channel')
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register


class DropoutParams(Params):
    rate: float = Field(ge=0, lt=1, description="fraction of units (or channels) dropped")


class _Dropout(Layer):
    category = "regularization"
    Params = DropoutParams
    label = "p={rate}"

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"rate": 0.25}


@register
class Dropout(_Dropout):
    key = "dropout"
    stochastic = "element"
    doc = "Element-wise dropout with inverted scaling 1/(1 − rate) in training; identity in eval."


@register
class SpatialDropout(_Dropout):
    key = "spatial_dropout"
    stochastic = "channel"
    layout = "channels"
    doc = "Drops whole channels (PyTorch Dropout1d/2d/3d, Keras SpatialDropout1D/2D/3D)."

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if not 2 <= len(ins[0]) <= 4:
            raise ShapeRuleError(
                f"spatial_dropout needs (C, *S) with 1-3 spatial dims, received {list(ins[0])}"
            )
        return Inferred(ins[0])
