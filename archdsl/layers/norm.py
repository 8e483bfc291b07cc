"""Normalization and regularization: batch normalization, dropout, spatial dropout.

BatchNorm's ``momentum`` uses PyTorch's convention (weight of the new batch statistic,
``running = (1 − m)·running + m·batch``); the Keras lowering passes ``1 − m``. Running mean and
variance are non-trainable parameters, as Keras counts them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, Weight, register


class BatchNormParams(Params):
    momentum: float = Field(0.1, gt=0, lt=1, description="PyTorch convention; Keras gets 1 − m")
    eps: float = Field(1e-5, gt=0, description="added to the variance")
    scale: bool = Field(True, description="learn γ")
    center: bool = Field(True, description="learn β")


class DropoutParams(Params):
    rate: float = Field(ge=0, lt=1, description="fraction of units (or channels) dropped")


@register
class BatchNorm(Layer):
    key = "batchnorm"
    category = "normalization"
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


@register
class Dropout(Layer):
    key = "dropout"
    category = "regularization"
    Params = DropoutParams
    doc = "Element-wise dropout with inverted scaling 1/(1 − rate) in training; identity in eval."


@register
class SpatialDropout(Layer):
    key = "spatial_dropout"
    category = "regularization"
    Params = DropoutParams
    doc = "Drops whole channels (PyTorch Dropout1d/2d/3d, Keras SpatialDropout1D/2D/3D)."

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if not 2 <= len(ins[0]) <= 4:
            raise ShapeRuleError(
                f"spatial_dropout needs (C, *S) with 1-3 spatial dims, received {list(ins[0])}"
            )
        return Inferred(ins[0])
