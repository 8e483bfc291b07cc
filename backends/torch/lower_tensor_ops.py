"""Lowerings of :mod:`archdsl.layers.tensor_ops`."""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from . import modules as M
from .lowerings import LOWERINGS, torch_pad


@LOWERINGS.register("flatten")
def lower_flatten(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.Flatten(1)``: channel-first order, the IR's order."""
    return nn.Flatten(1)



@LOWERINGS.register("identity")
def lower_identity(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.Identity()``."""
    return nn.Identity()


@LOWERINGS.register("channel_shuffle")
def lower_channel_shuffle(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.ChannelShuffle(groups)``."""
    return nn.ChannelShuffle(node.params.groups)


@LOWERINGS.register("scale")
def lower_scale(node: Node, ctx: LowerContext) -> nn.Module:
    """``x * factor``."""
    return M.Scale(node.params.factor)


_ZERO_PAD: dict[int, type[nn.Module]] = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d, 3: nn.ZeroPad3d}


@LOWERINGS.register("zero_padding")
def lower_zero_padding(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.ZeroPad1d/2d/3d`` with the IR's (possibly asymmetric) pads."""
    pads = node.attrs.pads
    cls = _ZERO_PAD.get(len(pads))
    return cls(torch_pad(pads)) if cls is not None else M.Pad(torch_pad(pads))
