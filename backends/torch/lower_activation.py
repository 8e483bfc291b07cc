"""Lowerings of :mod:`archdsl.layers.activation`."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from .lowerings import LOWERINGS, batch_axis

# --------------------------------------------------------------------------- activations

_SIMPLE: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "swish": nn.SiLU,
    "hard_swish": nn.Hardswish,
    "tanh": nn.Tanh,
}


def _simple(key: str, cls: type[nn.Module]) -> None:
    def lower(node: Node, ctx: LowerContext) -> nn.Module:
        return cls()

    lower.__doc__ = f"``nn.{cls.__name__}()``"
    LOWERINGS.register(key)(lower)


for _key, _cls in _SIMPLE.items():
    _simple(_key, _cls)


@LOWERINGS.register("leaky_relu")
def lower_leaky_relu(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.LeakyReLU(negative_slope)`` with the IR's slope."""
    return nn.LeakyReLU(node.params.negative_slope)


@LOWERINGS.register("elu")
def lower_elu(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.ELU(alpha)``."""
    return nn.ELU(node.params.alpha)


@LOWERINGS.register("gelu")
def lower_gelu(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.GELU(approximate='none'|'tanh')``."""
    return nn.GELU(approximate=node.params.approximate)



@LOWERINGS.register("softmax")
def lower_softmax(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.Softmax(dim=axis + 1)`` (negative axes unchanged)."""
    return nn.Softmax(dim=batch_axis(node.params.axis))
