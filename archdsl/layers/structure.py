"""Structure: flatten, dense, merges (add, concat, multiply), identity, zero padding, scale."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, StrictInt

from archdsl.layers.base import (
    Inferred,
    Layer,
    Params,
    Shape,
    ShapeRuleError,
    Weight,
    Window,
    register,
)
from archdsl.layers.geometry import NonNegInt, PosInt, resolve_pads


class DenseParams(Params):
    units: PosInt = Field(description="output features")
    bias: bool = Field(True, description="add a learned bias")


class ConcatParams(Params):
    axis: StrictInt = Field(0, description="axis in the layout-neutral shape; 0 = channels")


class ZeroPaddingParams(Params):
    padding: NonNegInt | list[NonNegInt] | list[list[NonNegInt]] = Field(
        description="an int, one int per spatial dimension, or [before, after] pairs"
    )


class ScaleParams(Params):
    factor: float = Field(description="constant multiplier, e.g. Inception-ResNet's 0.17")


def _shapes(ins: list[Shape]) -> str:
    return " and ".join(str(list(s)) for s in ins)


@register
class Flatten(Layer):
    key = "flatten"
    category = "structure"
    doc = "Flatten to (C·ΠS,) in channel-first order (Keras gets a matching Dense permutation)."
    shape_doc = "(C, *S) → (C·ΠS,)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        return Inferred((math.prod(ins[0]),))

    def window(self, p: Any, ins: list[Shape], attrs: dict[str, Any]) -> Window:
        return Window(collapse=True)


@register
class Dense(Layer):
    key = "dense"
    category = "structure"
    Params = DenseParams
    doc = "Fully connected layer y = xWᵀ + b on a flat input."
    shape_doc = "(F,) → (units,)"
    weights_doc = "kernel (units, F) + bias (units): (F + 1)·units"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(ins[0]) != 1:
            raise ShapeRuleError(
                f"dense expects a flat input (features,), received {list(ins[0])}; "
                "add a flatten or global_avg_pool before it"
            )
        return Inferred((p.units,))

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        f = ins[0][0]
        w = {"kernel": Weight((p.units, f), "kernel")}
        if p.bias:
            w["bias"] = Weight((p.units,), "bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * p.units


@register
class Add(Layer):
    key = "add"
    category = "merge"
    arity = (2, None)
    doc = "Element-wise sum of inputs of identical shape (residual connections)."
    shape_doc = "all inputs equal → same shape"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if any(s != ins[0] for s in ins):
            raise ShapeRuleError(f"add needs identical input shapes, received {_shapes(ins)}")
        return Inferred(ins[0])


@register
class Concat(Layer):
    key = "concat"
    category = "merge"
    arity = (2, None)
    Params = ConcatParams
    doc = "Concatenation along an axis (default channels)."
    shape_doc = "sizes add along axis; all other dims equal"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        rank = len(ins[0])
        axis = p.axis % rank if -rank <= p.axis < rank else None
        if axis is None or any(len(s) != rank for s in ins):
            raise ShapeRuleError(f"concat axis {p.axis} invalid for inputs {_shapes(ins)}")
        for s in ins:
            if s[:axis] + s[axis + 1 :] != ins[0][:axis] + ins[0][axis + 1 :]:
                raise ShapeRuleError(
                    f"concat along axis {p.axis} needs all other dims equal, "
                    f"received {_shapes(ins)}"
                )
        out = list(ins[0])
        out[axis] = sum(s[axis] for s in ins)
        return Inferred(tuple(out))


@register
class Multiply(Layer):
    key = "multiply"
    category = "merge"
    arity = (2, None)
    doc = "Element-wise product with broadcasting, e.g. an SE gate (C, 1, 1) × (C, H, W)."
    shape_doc = "numpy broadcasting of equal-rank inputs"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        rank = len(ins[0])
        if any(len(s) != rank for s in ins):
            raise ShapeRuleError(f"multiply needs inputs of equal rank, received {_shapes(ins)}")
        out = []
        for dims in zip(*ins):
            big = max(dims)
            if any(d not in (1, big) for d in dims):
                raise ShapeRuleError(f"multiply cannot broadcast {_shapes(ins)}")
            out.append(big)
        return Inferred(tuple(out))


@register
class Identity(Layer):
    key = "identity"
    category = "structure"
    doc = "Passes its input through (a named tap point)."


@register
class Scale(Layer):
    key = "scale"
    category = "structure"
    Params = ScaleParams
    doc = "Multiply by a constant (residual scaling in Inception-ResNet)."


@register
class ZeroPadding(Layer):
    key = "zero_padding"
    category = "structure"
    Params = ZeroPaddingParams
    doc = "Pad spatial dimensions with zeros."
    shape_doc = "(C, *S) → (C, *(S + p_b + p_a))"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        spatial = ins[0][1:]
        if not spatial:
            raise ShapeRuleError(f"zero_padding needs spatial dims, received {list(ins[0])}")
        pads = resolve_pads(p.padding, spatial, (1,) * len(spatial), (1,) * len(spatial))
        out = tuple(x + b + e for x, (b, e) in zip(spatial, pads))
        return Inferred((ins[0][0], *out), {"pads": pads})
