"""Tensor operations without weights: flatten, identity, constant scale, zero padding, channel
shuffle.

Example:
    >>> from archdsl.layers import get_layer
    >>> shuffle = get_layer("channel_shuffle")
    >>> shuffle.infer(shuffle.parse({"groups": 4}), [(8, 5, 5)]).shape
    (8, 5, 5)
    >>> pad = get_layer("zero_padding")
    >>> pad.infer(pad.parse({"padding": [[1, 2], [0, 0]]}), [(3, 4, 4)]).shape
    (3, 7, 4)
"""

from __future__ import annotations

import math
import random
from typing import Any

from pydantic import Field

from archdsl.finite import FiniteFloat
from archdsl.layers.base import (
    Inferred,
    Layer,
    Padded,
    Params,
    Resolved,
    Shape,
    ShapeRuleError,
    Window,
    register,
)
from archdsl.layers.geometry import NonNegInt, PosInt, resolve_pads


class ZeroPaddingParams(Params):
    padding: NonNegInt | list[NonNegInt] | list[list[NonNegInt]] = Field(
        description="an int, one int per spatial dimension, or [before, after] pairs"
    )


class ScaleParams(Params):
    factor: FiniteFloat = Field(description="constant multiplier, e.g. Inception-ResNet's 0.17")


class ChannelShuffleParams(Params):
    groups: PosInt = Field(description="channel groups g; the channels must divide by g")


@register
class Flatten(Layer):
    key = "flatten"
    category = "structure"
    layout = "channels"
    doc = "Flatten to (C·ΠS,) in channel-first order (Keras gets a matching Dense permutation)."
    shape_doc = "(C, *S) → (C·ΠS,)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        return Inferred((math.prod(ins[0]),))

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window:
        return Window(collapse=True)


@register
class Identity(Layer):
    key = "identity"
    category = "structure"
    doc = "Passes its input through (a named tap point)."


@register
class Scale(Layer):
    key = "scale"
    category = "structure"
    label = "×{factor}"
    Params = ScaleParams
    doc = "Multiply by a constant (residual scaling in Inception-ResNet)."

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"factor": 0.5}


@register
class ZeroPadding(Layer):
    key = "zero_padding"
    category = "structure"
    layout = "channels"
    Params = ZeroPaddingParams
    doc = "Pad spatial dimensions with zeros."
    shape_doc = "(C, *S) → (C, *(S + p_b + p_a))"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        spatial = ins[0][1:]
        if not spatial:
            raise ShapeRuleError(f"zero_padding needs spatial dims, received {list(ins[0])}")
        pads = resolve_pads(p.padding, spatial, (1,) * len(spatial), (1,) * len(spatial))
        out = tuple(x + b + e for x, (b, e) in zip(spatial, pads))
        return Inferred((ins[0][0], *out), Padded(pads))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"padding": 1} if shape[-1] <= 14 else None


@register
class ChannelShuffle(Layer):
    key = "channel_shuffle"
    category = "structure"
    layout = "channels"
    Params = ChannelShuffleParams
    doc = (
        "ShuffleNet's channel shuffle: view the channels as (groups, C/groups), transpose, "
        "flatten (PyTorch nn.ChannelShuffle); channel g·(C/groups) + j moves to j·groups + g."
    )
    shape_doc = "(C, *S) → (C, *S); groups must divide C"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        c = ins[0][0]
        if len(ins[0]) < 2 or c % p.groups:
            raise ShapeRuleError(
                f"channel_shuffle needs (C, *S) with C divisible by groups={p.groups}, "
                f"received {list(ins[0])}"
            )
        return Inferred(ins[0])

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        groups = [g for g in (2, 3) if shape[0] % g == 0]
        return {"groups": rng.choice(groups)} if groups else None
