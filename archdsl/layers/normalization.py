"""Normalization: batch normalization over the channel axis.

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
from typing import Any

from pydantic import Field

from archdsl.layers.base import Layer, Params, Shape, Weight, register


class BatchNormParams(Params):
    momentum: float = Field(0.1, gt=0, lt=1, description="PyTorch convention; Keras gets 1 − m")
    eps: float = Field(1e-5, gt=0, description="added to the variance")
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
