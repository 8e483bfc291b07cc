"""Activations. Every form and constant is explicit (docs/conventions.md, Activations and dropout).

``gelu`` takes ``approximate: none|tanh`` (PyTorch's names); ``hard_sigmoid`` is
``relu6(x + 3) / 6`` (PyTorch and Keras 3); ``leaky_relu``'s slope defaults to PyTorch's 0.01.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field, StrictInt

from archdsl.finite import FiniteFloat
from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register


class LeakyReluParams(Params):
    negative_slope: FiniteFloat = Field(
        0.01, description="slope for x < 0 (PyTorch 0.01; Keras layer 0.3)"
    )


class EluParams(Params):
    alpha: FiniteFloat = Field(1.0, description="scale of the negative part")


class GeluParams(Params):
    approximate: Literal["none", "tanh"] = Field(
        "none", description="'none' = exact erf form; 'tanh' = the tanh approximation"
    )


class SoftmaxParams(Params):
    axis: StrictInt = Field(0, description="axis in the layout-neutral shape; 0 = channels")


class _Activation(Layer):
    category = "activation"


@register
class Relu(_Activation):
    key = "relu"
    doc = "max(x, 0)"


@register
class Relu6(_Activation):
    key = "relu6"
    doc = "min(max(x, 0), 6)"


@register
class Sigmoid(_Activation):
    key = "sigmoid"
    doc = "1 / (1 + exp(−x))"


@register
class HardSigmoid(_Activation):
    key = "hard_sigmoid"
    doc = "relu6(x + 3) / 6"


@register
class Swish(_Activation):
    key = "swish"
    doc = "x · sigmoid(x) (SiLU)"


@register
class HardSwish(_Activation):
    key = "hard_swish"
    doc = "x · relu6(x + 3) / 6"


@register
class Tanh(_Activation):
    key = "tanh"
    doc = "tanh(x)"


@register
class LeakyRelu(_Activation):
    key = "leaky_relu"
    Params = LeakyReluParams
    doc = "x if x > 0 else negative_slope · x"

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"negative_slope": 0.1}


@register
class Elu(_Activation):
    key = "elu"
    Params = EluParams
    doc = "x if x > 0 else alpha · (exp(x) − 1)"


@register
class Gelu(_Activation):
    key = "gelu"
    Params = GeluParams
    doc = "x · Φ(x) (exact) or its tanh approximation"


@register
class Softmax(_Activation):
    key = "softmax"
    Params = SoftmaxParams
    doc = "exp(x) / Σ exp(x) along an axis (0 = channels)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if not -len(ins[0]) <= p.axis < len(ins[0]):
            raise ShapeRuleError(f"softmax axis {p.axis} out of range for shape {list(ins[0])}")
        return Inferred(ins[0])
