"""Lowerings of :mod:`archdsl.layers.resample`: upsampling and adaptive pooling with
PyTorch's index rules (:class:`~.layers_resample.Resample`,
:class:`~.layers_resample.AdaptivePooling`), to the IR's output size.

Example:
    >>> import archdsl, keras
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 13, 13]\\nbody:\\n"
    ...                   "  - adaptive_avg_pool2d: {size: 6}\\n")
    >>> LOWERINGS["adaptive_avg_pool2d"](g["adaptive_avg_pool2d_1"], DEFAULT)(
    ...     keras.Input((13, 13, 3))).shape
    (None, 6, 6, 3)
"""

from __future__ import annotations

from archdsl.ir import Node

from .layers_resample import AdaptivePooling, Resample
from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("upsample")
def lower_upsample(node: Node, ctx: Context = DEFAULT) -> Apply:
    """upsample: :class:`Resample` to the IR's output size (nearest or linear per axis)."""
    p = node.params
    return Resample(node.shape[1:], p.mode, p.align_corners, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("adaptive_avg_pool2d", "adaptive_max_pool2d")
def lower_adaptive_pool(node: Node, ctx: Context = DEFAULT) -> Apply:
    """adaptive_avg_pool2d / adaptive_max_pool2d: :class:`AdaptivePooling` over PyTorch's bins."""
    mode = "max" if node.type == "adaptive_max_pool2d" else "average"
    return AdaptivePooling(node.shape[1:], mode, name=node.id, dtype=ctx.dtype)
