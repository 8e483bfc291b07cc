"""Attention: multi-head self-attention on tokens ``(L, D)``.

Weights in the canonical (PyTorch ``nn.MultiheadAttention``) layout: the stacked query, key and
value projections ``in_kernel (3D, D)`` and ``in_bias (3D)``, the output projection
``out_kernel (D, D)`` and ``out_bias (D)``. Scores are ``q·kᵀ / √(D/heads)``.

Example:
    >>> from archdsl.layers import get_layer
    >>> mha = get_layer("multi_head_attention")
    >>> p = mha.parse({"heads": 12})
    >>> sum(w.size for w in mha.weights(p, [(197, 768)], (197, 768)).values())
    2362368
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, Weight, register
from archdsl.layers.geometry import PosInt


class AttentionParams(Params):
    heads: PosInt = Field(description="number of heads; must divide the token width D")
    dropout: float = Field(
        0.0, ge=0, lt=1,
        description="dropout on the attention weights in training (not mask-matched between "
        "frameworks: identical training needs 0)",
    )
    bias: bool = Field(True, description="biases on the four projections")


@register
class MultiHeadAttention(Layer):
    key = "multi_head_attention"
    category = "attention"
    layout = "ordered"
    weight_family = "attention"
    Params = AttentionParams
    doc = "Multi-head self-attention (queries, keys and values from the same tokens)."
    shape_doc = "(L, D) → (L, D)"
    weights_doc = "in (3D, D) + (3D), out (D, D) + (D): 4·D² + 4·D"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(ins[0]) != 2 or ins[0][1] % p.heads:
            raise ShapeRuleError(
                f"multi_head_attention needs tokens (L, D) with D divisible by heads={p.heads}, "
                f"received {list(ins[0])}"
            )
        return Inferred(ins[0])

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        d = ins[0][1]
        # groups = heads: Keras' per-head kernel layout (weight transfer)
        w = {"in_kernel": Weight((3 * d, d), "in_kernel", groups=p.heads)}
        if p.bias:
            w["in_bias"] = Weight((3 * d,), "in_bias", groups=p.heads)
        w["out_kernel"] = Weight((d, d), "out_kernel", groups=p.heads)
        if p.bias:
            w["out_bias"] = Weight((d,), "out_bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        length, d = ins[0]
        return 4 * length * d * d + 2 * length * length * d
