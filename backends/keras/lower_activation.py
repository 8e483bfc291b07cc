"""Lowerings of :mod:`archdsl.layers.activation`."""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .layers import (
    GELU,
    LeakyReLU,
)
from .layout import axis_in
from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
)

_ACTIVATION_NAMES = {
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",  # Keras 3: relu6(x + 3) / 6, PyTorch's Hardsigmoid
    "swish": "silu",
    "hard_swish": "hard_silu",
    "tanh": "tanh",
}


@LOWERINGS.register(
    "relu", "relu6", "sigmoid", "hard_sigmoid", "swish", "hard_swish", "tanh", "elu",
    "leaky_relu", "gelu", "softmax",
)
def lower_activation(node: Node, ctx: Context = DEFAULT) -> Apply:
    """relu, relu6, sigmoid, hard_sigmoid, swish, hard_swish, tanh, elu, leaky_relu, gelu,
    softmax. Every constant is passed explicitly (Keras defaults differ; docs/conventions.md,
    Activations and dropout)."""
    key, p = node.type, node.params
    common = {"name": node.id, "dtype": ctx.dtype}
    if key == "relu":
        return keras.layers.ReLU(**common)
    if key == "relu6":
        return keras.layers.ReLU(max_value=6.0, **common)
    if key == "elu":
        return keras.layers.ELU(alpha=p.alpha, **common)
    if key == "leaky_relu":
        return LeakyReLU(negative_slope=p.negative_slope, **common)
    if key == "gelu":
        return GELU(approximate=p.approximate == "tanh", **common)
    if key == "softmax":
        return keras.layers.Softmax(axis=axis_in(p.axis, len(node.in_shapes[0]), ctx.layout),
                                    **common)
    return keras.layers.Activation(_ACTIVATION_NAMES[key], **common)
