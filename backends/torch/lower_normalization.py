"""Lowerings of :mod:`archdsl.layers.normalization`: batch, layer and group normalization."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext

from . import modules as M
from .lowerings import LOWERINGS
from .modules_normalization import ChannelLayerNorm

# --------------------------------------------------------------------------- normalization

_BN: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d,
                                   4: nn.BatchNorm3d}
_BN_HAS_BIAS = "bias" in inspect.signature(nn.BatchNorm2d.__init__).parameters


@LOWERINGS.register("batchnorm")
def lower_batchnorm(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.BatchNorm1d/2d/3d`` by input rank, momentum and eps from the IR (torch convention).

    ``center: false`` uses the native ``bias=False``; otherwise, without γ or β, the module is
    built with ``affine=False`` and gets only the parameters the IR counts (``weight`` = γ,
    ``bias`` = β), so parameter counts stay exact.
    """
    p = node.params
    c = node.in_shapes[0][0]
    cls = _BN.get(len(node.in_shapes[0]), M.BatchNormNd)
    kw: dict[str, Any] = {"eps": p.eps, "momentum": p.momentum, "track_running_stats": True}
    if p.scale and p.center:
        return cls(c, affine=True, **kw)
    if p.scale and _BN_HAS_BIAS:
        return cls(c, affine=True, bias=False, **kw)
    bn = cls(c, affine=False, **kw)
    if p.scale:
        bn.weight = nn.Parameter(torch.ones(c))
    if p.center:
        bn.bias = nn.Parameter(torch.zeros(c))
    return bn


@LOWERINGS.register("layer_norm")
def lower_layer_norm(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.LayerNorm(D, eps)`` over the last axis; over the channels of a ``(C, *S)`` map,
    :class:`~.modules_normalization.ChannelLayerNorm` (channels moved last, normalized, moved
    back: ConvNeXt's ``LayerNorm2d``)."""
    p = node.params
    shape = node.in_shapes[0]
    if p.axis == "channels" and len(shape) > 1:
        return ChannelLayerNorm(shape[0], eps=p.eps)
    return nn.LayerNorm(shape[-1] if p.axis == "last" else shape[0], eps=p.eps)


@LOWERINGS.register("group_norm")
def lower_group_norm(node: Node, ctx: LowerContext) -> nn.Module:
    """``nn.GroupNorm(groups, C, eps)`` (contiguous channel groups, statistics over each group
    and every position)."""
    return nn.GroupNorm(node.params.groups, node.in_shapes[0][0], eps=node.params.eps)
