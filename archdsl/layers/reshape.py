"""Reshaping: reshape and permute, in the IR's axis order (batch excluded).

Both read axes in the IR's order (PyTorch's): ``reshape: {shape: [768, 196]}`` after a
``(768, 14, 14)`` map, then ``permute: {dims: [1, 0]}``, gives ViT's tokens ``(196, 768)``.

Example:
    >>> from archdsl.layers import get_layer
    >>> r, t = get_layer("reshape"), get_layer("permute")
    >>> r.infer(r.parse({"shape": [768, -1]}), [(768, 14, 14)]).shape
    (768, 196)
    >>> t.infer(t.parse({"dims": [1, 0]}), [(768, 196)]).shape
    (196, 768)
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Any

from pydantic import Field, StrictInt

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register

#: a reshape target dimension: positive, or -1 once (inferred)
Dim = Annotated[StrictInt, Field(ge=-1)]


class ReshapeParams(Params):
    shape: list[Dim] = Field(description="target shape, batch excluded; one entry may be -1")


class PermuteParams(Params):
    dims: list[Annotated[StrictInt, Field(ge=0)]] = Field(
        description="a permutation of the input's axes (batch excluded): output axis i is "
        "input axis dims[i]"
    )


@register
class Reshape(Layer):
    key = "reshape"
    category = "structure"
    layout = "ordered"
    Params = ReshapeParams
    doc = "Reshape in the IR's (PyTorch's) element order; one dimension may be -1."
    shape_doc = "any shape with the same number of elements"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        total = math.prod(ins[0])
        known = [d for d in p.shape if d != -1]
        holes = len(p.shape) - len(known)
        if holes > 1 or 0 in known or not p.shape:
            raise ShapeRuleError(
                f"reshape shape {p.shape} needs positive sizes and at most one -1"
            )
        size = math.prod(known)
        if (holes == 0 and size != total) or (holes == 1 and total % size):
            raise ShapeRuleError(
                f"cannot reshape {list(ins[0])} ({total} elements) to {p.shape}"
            )
        return Inferred(tuple(d if d != -1 else total // size for d in p.shape))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        # the same shape through IR order (a -1 included): exercises the layout conversions
        return {"shape": [shape[0], -1, *shape[2:]]} if len(shape) == 3 else None


@register
class Permute(Layer):
    key = "permute"
    category = "structure"
    layout = "ordered"
    Params = PermuteParams
    doc = "Reorder the axes (batch excluded), like torch.permute on axes 1…n."
    shape_doc = "output axis i = input axis dims[i]"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if sorted(p.dims) != list(range(len(ins[0]))):
            raise ShapeRuleError(
                f"permute dims {p.dims} must be a permutation of 0…{len(ins[0]) - 1} for "
                f"input {list(ins[0])}"
            )
        return Inferred(tuple(ins[0][d] for d in p.dims))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"dims": [0, 2, 1]} if len(shape) == 3 else None
