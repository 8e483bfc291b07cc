"""Merges of several inputs: element-wise add, concatenation along an axis, product.

Example:
    >>> from archdsl.layers import get_layer
    >>> concat = get_layer("concat")
    >>> concat.infer(concat.parse({}), [(8, 4, 4), (16, 4, 4)]).shape
    (24, 4, 4)
    >>> mul = get_layer("multiply")
    >>> mul.infer(mul.parse({}), [(8, 1, 1), (8, 4, 4)]).shape
    (8, 4, 4)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register


class ConcatParams(Params):
    axis: StrictInt = Field(0, description="axis in the layout-neutral shape; 0 = channels")


def shapes_text(ins: list[Shape]) -> str:
    """``[8, 4, 4] and [16, 4, 4]``: input shapes for error messages."""
    return " and ".join(str(list(s)) for s in ins)


class _Merge(Layer):
    category = "merge"
    arity = (2, None)


def broadcast(key: str, ins: list[Shape]) -> Shape:
    """numpy broadcasting of equal-rank shapes (a size-1 axis stretches), or ShapeRuleError."""
    rank = len(ins[0])
    if any(len(s) != rank for s in ins):
        raise ShapeRuleError(f"{key} needs inputs of equal rank, received {shapes_text(ins)}")
    out = []
    for dims in zip(*ins):
        big = max(dims)
        if any(d not in (1, big) for d in dims):
            raise ShapeRuleError(f"{key} cannot broadcast {shapes_text(ins)}")
        out.append(big)
    return tuple(out)


@register
class Add(_Merge):
    key = "add"
    symbol = "+"
    doc = "Element-wise sum (residual connections); size-1 axes broadcast, as in PyTorch."
    shape_doc = "numpy broadcasting of equal-rank inputs"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        return Inferred(broadcast("add", ins))


@register
class Concat(_Merge):
    key = "concat"
    symbol = "‖"
    Params = ConcatParams
    doc = "Concatenation along an axis (default channels)."
    shape_doc = "sizes add along axis; all other dims equal"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        rank = len(ins[0])
        axis = p.axis % rank if -rank <= p.axis < rank else None
        if axis is None or any(len(s) != rank for s in ins):
            raise ShapeRuleError(f"concat axis {p.axis} invalid for inputs {shapes_text(ins)}")
        for s in ins:
            if s[:axis] + s[axis + 1 :] != ins[0][:axis] + ins[0][axis + 1 :]:
                raise ShapeRuleError(
                    f"concat along axis {p.axis} needs all other dims equal, "
                    f"received {shapes_text(ins)}"
                )
        out = list(ins[0])
        out[axis] = sum(s[axis] for s in ins)
        return Inferred(tuple(out))


@register
class Multiply(_Merge):
    key = "multiply"
    symbol = "×"
    doc = "Element-wise product with broadcasting, e.g. an SE gate (C, 1, 1) × (C, H, W)."
    shape_doc = "numpy broadcasting of equal-rank inputs"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        return Inferred(broadcast("multiply", ins))
