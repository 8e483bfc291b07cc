"""Matrix products between activations (attention scores, attention-weighted values).

MACs count the product like ``torch.utils.flop_counter`` (halved): ``batch · n · k · m``.

Example:
    >>> from archdsl.layers import get_layer
    >>> mm = get_layer("matmul")
    >>> p = mm.parse({"transpose_b": True})
    >>> mm.infer(p, [(12, 197, 64), (12, 197, 64)]).shape
    (12, 197, 197)
    >>> mm.macs(p, [(12, 197, 64), (12, 197, 64)], (12, 197, 197))
    29805312
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register


class MatmulParams(Params):
    transpose_a: bool = Field(False, description="use the first input's last two axes swapped")
    transpose_b: bool = Field(False, description="use the second input's last two axes swapped")


def _matrix(shape: Shape, transpose: bool) -> tuple[Shape, int, int]:
    rows, cols = shape[-2], shape[-1]
    return shape[:-2], (cols if transpose else rows), (rows if transpose else cols)


@register
class Matmul(Layer):
    key = "matmul"
    category = "merge"
    layout = "ordered"
    arity = (2, 2)
    symbol = "@"
    Params = MatmulParams
    doc = "a @ b over the last two axes; leading axes must be equal (batch excluded)."
    shape_doc = "(…, n, k) @ (…, k, m) → (…, n, m)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(ins[0]) < 2 or len(ins[0]) != len(ins[1]):
            raise ShapeRuleError(
                f"matmul needs two inputs of equal rank ≥ 2, received {list(ins[0])} and "
                f"{list(ins[1])}"
            )
        lead_a, n, k = _matrix(ins[0], p.transpose_a)
        lead_b, k2, m = _matrix(ins[1], p.transpose_b)
        if lead_a != lead_b or k != k2:
            raise ShapeRuleError(
                f"matmul cannot multiply {list(ins[0])} by {list(ins[1])} "
                f"(transpose_a={p.transpose_a}, transpose_b={p.transpose_b})"
            )
        return Inferred((*lead_a, n, m))

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        _, _, k = _matrix(ins[0], p.transpose_a)
        return math.prod(out) * k
