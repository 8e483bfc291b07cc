"""Reductions: the mean over axes.

Example:
    >>> from archdsl.layers import get_layer
    >>> m = get_layer("mean")
    >>> m.infer(m.parse({"axes": 0}), [(197, 768)]).shape
    (768,)
    >>> m.infer(m.parse({"axes": [1, 2], "keepdims": True}), [(8, 7, 7)]).shape
    (8, 1, 1)
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field, StrictInt

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register


class MeanParams(Params):
    axes: StrictInt | list[StrictInt] = Field(description="axes averaged (batch excluded)")
    keepdims: bool = Field(False, description="keep the averaged axes with size 1")


@register
class Mean(Layer):
    key = "mean"
    category = "pooling"
    layout = "ordered"
    Params = MeanParams
    doc = "Mean over one or more axes (batch excluded)."
    shape_doc = "the averaged axes are dropped (or kept as 1)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        rank = len(ins[0])
        axes = [p.axes] if isinstance(p.axes, int) else list(p.axes)
        if not axes or any(not -rank <= a < rank for a in axes):
            raise ShapeRuleError(f"mean axes {p.axes} out of range for shape {list(ins[0])}")
        drop = {a % rank for a in axes}
        if len(drop) != len(axes):
            raise ShapeRuleError(f"mean axes {p.axes} repeat an axis")
        if p.keepdims:
            return Inferred(tuple(1 if i in drop else n for i, n in enumerate(ins[0])))
        out = tuple(n for i, n in enumerate(ins[0]) if i not in drop)
        if not out:
            raise ShapeRuleError("mean over every axis leaves no feature axis; keep one")
        return Inferred(out)

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"axes": rng.choice([0, [1, 2]]), "keepdims": True} if len(shape) == 3 else None
