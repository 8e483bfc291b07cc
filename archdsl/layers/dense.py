"""The fully connected layer on a flat input.

Example:
    >>> from archdsl.layers import get_layer
    >>> dense = get_layer("dense")
    >>> p = dense.parse({"units": 10})
    >>> dense.infer(p, [(64,)]).shape, dense.macs(p, [(64,)], (10,))
    ((10,), 640)
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, Weight, register
from archdsl.layers.geometry import PosInt


class DenseParams(Params):
    units: PosInt = Field(description="output features")
    bias: bool = Field(True, description="add a learned bias")


@register
class Dense(Layer):
    key = "dense"
    category = "structure"
    weight_family = "conv"
    layout = "ordered"
    label = "{units} units"
    Params = DenseParams
    doc = (
        "Fully connected layer y = xWᵀ + b on a flat input (F,), or on the last axis of "
        "tokens (L, F), as PyTorch's nn.Linear."
    )
    shape_doc = "(F,) → (units,); (L, F) → (L, units)"
    weights_doc = "kernel (units, F) + bias (units): (F + 1)·units"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(ins[0]) > 2:
            raise ShapeRuleError(
                f"dense expects a flat input (features,) or tokens (L, features), received "
                f"{list(ins[0])}; add a flatten or global_avg_pool before it"
            )
        return Inferred((*ins[0][:-1], p.units))

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        f = ins[0][-1]
        w = {"kernel": Weight((p.units, f), "kernel")}
        if p.bias:
            w["bias"] = Weight((p.units,), "bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        return math.prod(ins[0]) * p.units
