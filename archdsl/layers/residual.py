"""On residual branches: stochastic depth (drop the whole branch per sample) and layer scale
(a learned per-channel factor, ConvNeXt's γ).

Example:
    >>> from archdsl.layers import get_layer
    >>> ls = get_layer("layer_scale")
    >>> ls.weights(ls.parse({}), [(96, 56, 56)], (96, 56, 56))["scale"].init
    ('constant', 1e-06)
    >>> get_layer("stochastic_depth").stochastic
    'sample'
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from archdsl.finite import FiniteFloat
from archdsl.layers.base import Layer, Params, Shape, Weight, register


class StochasticDepthParams(Params):
    rate: float = Field(ge=0, lt=1, description="probability of dropping the branch")


class LayerScaleParams(Params):
    init: FiniteFloat = Field(1e-6, description="initial value of every γ (ConvNeXt: 1e-6)")
    axis: Literal["channels", "last"] = Field(
        "channels", description="'channels' of a (C, *S) map, or the 'last' axis of tokens"
    )


@register
class StochasticDepth(Layer):
    key = "stochastic_depth"
    category = "regularization"
    stochastic = "sample"
    label = "p={rate}"
    Params = StochasticDepthParams
    doc = (
        "Drops the whole input per sample in training, scaling kept samples by 1/(1 − rate) "
        "(torchvision's StochasticDepth, mode 'row'); identity in eval."
    )

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"rate": 0.25}


@register
class LayerScale(Layer):
    key = "layer_scale"
    category = "structure"
    weight_family = "layer_scale"
    Params = LayerScaleParams
    doc = "Multiply by a learned per-channel factor γ (ConvNeXt, CaiT)."
    weights_doc = "γ (C): C"

    def layout_of(self, p: Any) -> str:
        return "channels" if p.axis == "channels" else "ordered"

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        c = ins[0][0] if p.axis == "channels" else ins[0][-1]
        return {"scale": Weight((c,), "scale", init=("constant", p.init))}
