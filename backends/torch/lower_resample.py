"""Lowerings of :mod:`archdsl.layers.resample`: upsampling and adaptive pooling.

``upsample`` lowers to ``nn.Upsample(size=<the IR's output size>)``, never a
``scale_factor`` (the IR's ratio is ``in / out``): ``mode="nearest"``, or
``"linear"``/``"bilinear"``/``"trilinear"`` by spatial rank with ``align_corners``. Nearest
falls back to :class:`~.modules_resample.NearestGather` for the few size pairs where PyTorch's
own index depends on the dtype (:func:`native_nearest_is_exact`). Adaptive pooling lowers to
``nn.AdaptiveAvgPool2d`` / ``nn.AdaptiveMaxPool2d``, whose bins are the IR's.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 5, 5]\\nbody:\\n"
    ...                   "  - upsample: {size: [7, 9], mode: bilinear}\\n")
    >>> LOWERINGS["upsample"](g["upsample_1"], CONTEXT)
    Upsample(size=(7, 9), mode='bilinear')
"""

from __future__ import annotations

import math

from torch import nn

from archdsl.ir import Node
from archdsl.layers.geometry import ntuple
from archdsl.layers.resample import nearest_source
from archdsl.lowering import LowerContext

from .lowerings import CONTEXT, LOWERINGS
from .modules_resample import NearestGather

_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def native_nearest_is_exact(size: int, out: int) -> bool:
    """Whether ``nn.Upsample(mode="nearest")`` reads the IR's source cells along an axis of
    ``size`` → ``out`` in every dtype.

    PyTorch computes the index as ``floor(i · in / out)`` in float32 arithmetic (the IR's rule,
    :func:`~archdsl.layers.resample.nearest_source`) for float32 tensors and on CUDA for every
    dtype; its float64 CPU kernels use exact arithmetic (1-D, 3-D) or a mix (2-D). When the
    float32, float64 and exact integer forms agree for every cell (all but a few size pairs,
    e.g. not 2 → 82), every kernel agrees.

    >>> native_nearest_is_exact(5, 7), native_nearest_is_exact(2, 82)
    (True, False)
    """
    for i in range(out):
        want = nearest_source(i, size, out)
        if want != min(i * size // out, size - 1) or want != min(
            math.floor(i * (size / out)), size - 1
        ):
            return False
    return True


@LOWERINGS.register("upsample")
def lower_upsample(node: Node, ctx: LowerContext = CONTEXT) -> nn.Module:
    """``nn.Upsample(size=..., mode=...)``, or :class:`NearestGather` (see the module doc)."""
    p = node.params
    spatial, out = node.in_shapes[0][1:], tuple(node.shape[1:])
    if p.mode == "nearest":
        if all(native_nearest_is_exact(n, o) for n, o in zip(spatial, out)):
            return nn.Upsample(size=out, mode="nearest")
        return NearestGather([[nearest_source(i, n, o) for i in range(o)]
                              for n, o in zip(spatial, out)])
    return nn.Upsample(size=out, mode=_LINEAR[len(out)], align_corners=p.align_corners)


@LOWERINGS.register("adaptive_avg_pool2d")
def lower_adaptive_avg(node: Node, ctx: LowerContext = CONTEXT) -> nn.Module:
    """``nn.AdaptiveAvgPool2d(size)``."""
    return nn.AdaptiveAvgPool2d(ntuple(node.params.size, 2, "size"))


@LOWERINGS.register("adaptive_max_pool2d")
def lower_adaptive_max(node: Node, ctx: LowerContext = CONTEXT) -> nn.Module:
    """``nn.AdaptiveMaxPool2d(size)``."""
    return nn.AdaptiveMaxPool2d(ntuple(node.params.size, 2, "size"))
