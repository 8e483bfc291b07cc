"""Learned tensors: ``parameter``, a tensor broadcast over the batch (ViT's class token and
position embedding, Swin's relative-position bias table), or a fixed one (Swin's mask).

The node reads one input only for its batch size: write ``from:`` to say which.

Example:
    >>> from archdsl.layers import get_layer
    >>> par = get_layer("parameter")
    >>> p = par.parse({"shape": [197, 768], "init": "normal", "std": 0.02})
    >>> par.infer(p, [(196, 768)]).shape, par.weights(p, [(196, 768)], (197, 768))["value"].init
    ((197, 768), ('normal', 0.02))
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from archdsl.finite import PositiveFiniteFloat
from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, Weight, register
from archdsl.layers.constants import constant
from archdsl.layers.conv import nested_shape
from archdsl.layers.geometry import PosInt


class ParameterParams(Params):
    shape: list[PosInt] = Field(description="the tensor's shape, batch excluded")
    init: Literal["zeros", "ones", "normal", "trunc_normal"] = Field(
        "zeros", description="its initializer (the spec's init scheme does not apply)"
    )
    std: PositiveFiniteFloat = Field(
        0.02, description="standard deviation of 'normal'/'trunc_normal'"
    )
    fixed: str | list[Any] | None = Field(
        None,
        description="constant values: nested lists or a named constant such as "
        "'shifted_window_mask(56, 56, 7, 3)'; makes it non-trainable by default",
    )
    trainable: bool | None = Field(None, description="default: true unless `fixed` is set")


@register
class Parameter(Layer):
    key = "parameter"
    category = "structure"
    layout = "ordered"
    weight_family = "parameter"
    Params = ParameterParams
    doc = "A learned (or fixed) tensor, broadcast over the batch of its input."
    shape_doc = "(any) → shape"
    weights_doc = "value (shape): Πshape"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        return Inferred(tuple(p.shape))

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        fixed = self.fixed_values(p)
        if fixed is not None and nested_shape(fixed) != tuple(p.shape):
            raise ShapeRuleError(
                f"fixed values of shape {list(nested_shape(fixed) or ['ragged'])} do not match "
                f"shape {p.shape}"
            )
        trainable = p.trainable if p.trainable is not None else fixed is None
        init = {"zeros": ("constant", 0.0), "ones": ("constant", 1.0)}.get(p.init, (p.init, p.std))
        return {"value": Weight(tuple(p.shape), "parameter", trainable, fixed, init=init)}

    @staticmethod
    def fixed_values(p: Any) -> Any:
        """The fixed values, evaluating a named constant; ``None`` when learned."""
        if not isinstance(p.fixed, str):
            return p.fixed
        try:
            return constant(p.fixed)
        except ValueError as exc:
            raise ShapeRuleError(str(exc)) from None
