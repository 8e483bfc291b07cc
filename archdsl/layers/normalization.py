"""Normalization: batch normalization over the channel axis, layer normalization over one
axis (tokens or channels), group normalization.

BatchNorm's ``momentum`` uses PyTorch's convention (weight of the new batch statistic,
``running = (1 − m)·running + m·batch``); the Keras lowering passes ``1 − m``. Running mean and
variance are non-trainable parameters, as Keras counts them.

Example:
    >>> from archdsl.layers import get_layer
    >>> bn = get_layer("batchnorm")
    >>> sorted(bn.weights(bn.parse({}), [(8, 4, 4)], (8, 4, 4)))
    ['beta', 'gamma', 'running_mean', 'running_var']
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from archdsl.finite import PositiveFiniteFloat
from archdsl.layers.base import (
    Inferred,
    Layer,
    Params,
    Shape,
    ShapeRuleError,
    Weight,
    register,
)
from archdsl.layers.geometry import PosInt


class BatchNormParams(Params):
    momentum: float = Field(0.1, gt=0, lt=1, description="PyTorch convention; Keras gets 1 − m")
    eps: PositiveFiniteFloat = Field(1e-5, description="added to the variance")
    scale: bool = Field(True, description="learn γ")
    center: bool = Field(True, description="learn β")


@register
class BatchNorm(Layer):
    key = "batchnorm"
    category = "normalization"
    weight_family = "batchnorm"
    layout = "channels"
    Params = BatchNormParams
    doc = "Batch normalization over the channel axis (any rank)."
    weights_doc = "γ, β (C) trainable; running mean, var (C) non-trainable: 4·C"

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        c = (ins[0][0],)
        w: dict[str, Weight] = {}
        if p.scale:
            w["gamma"] = Weight(c, "gamma")
        if p.center:
            w["beta"] = Weight(c, "beta")
        w["running_mean"] = Weight(c, "running_mean", trainable=False)
        w["running_var"] = Weight(c, "running_var", trainable=False)
        return w

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"eps": 0.001}


class LayerNormParams(Params):
    axis: Literal["last", "channels"] = Field(
        "last",
        description="'last': the last axis, as PyTorch's nn.LayerNorm on tokens (L, D); "
        "'channels': the channels of a (C, *S) map at every position (ConvNeXt's LayerNorm2d)",
    )
    eps: PositiveFiniteFloat = Field(
        1e-5, description="added to the variance (PyTorch 1e-5, Keras 1e-3)"
    )


class GroupNormParams(Params):
    groups: PosInt = Field(description="channel groups; the channels must divide by it")
    eps: PositiveFiniteFloat = Field(
        1e-5, description="added to the variance (PyTorch 1e-5, Keras 1e-3)"
    )


@register
class LayerNorm(Layer):
    key = "layer_norm"
    category = "normalization"
    weight_family = "layer_norm"
    Params = LayerNormParams
    doc = "Layer normalization (biased variance) over one axis, with learned γ and β."
    shape_doc = "output shape = input shape"
    weights_doc = "γ, β (D) over the normalized axis of size D: 2·D"

    def layout_of(self, p: Any) -> str:
        return "channels" if p.axis == "channels" else "ordered"

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        d = (ins[0][0] if p.axis == "channels" else ins[0][-1],)
        return {"gamma": Weight(d, "gamma"), "beta": Weight(d, "beta")}


@register
class GroupNorm(Layer):
    key = "group_norm"
    category = "normalization"
    weight_family = "group_norm"
    layout = "channels"
    Params = GroupNormParams
    doc = "Group normalization: statistics over each group of C/groups channels and all positions."
    weights_doc = "γ, β (C): 2·C"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if ins[0][0] % p.groups:
            raise ShapeRuleError(
                f"group_norm groups={p.groups} must divide the channels, received {ins[0][0]}"
            )
        return Inferred(ins[0])

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        c = (ins[0][0],)
        return {"gamma": Weight(c, "gamma"), "beta": Weight(c, "beta")}
