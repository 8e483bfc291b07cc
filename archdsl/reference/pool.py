"""Pooling, 1-3 D: max and average over windows, global average and global max.

Windows come from the IR: the pads of ``PoolWindows`` already include ``ceil_mode``'s extra end
cells.
Max pooling pads with −∞ (padding never wins); average pooling sums the real cells (zero
padding) and divides by :func:`archdsl.layers.pool.avg_pool_divisor`, the one divisor rule both
backends follow (``count_include_pad`` counts explicit padding, never ceil-mode cells).

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [1, 4]\\nbody:\\n"
    ...                   "  - avg_pool1d: {pool: 3, stride: 1, padding: 1}\\n")
    >>> forward(g, {}, np.array([[[3.0, 3.0, 6.0, 6.0]]]))["avg_pool1d_1"].tolist()
    [[[3.0, 4.0, 5.0, 6.0]]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archdsl.layers.base import PoolWindows
from archdsl.layers.geometry import ntuple
from archdsl.layers.pool import avg_pool_divisor
from archdsl.reference.registry import ACC, OpContext, reference_op
from archdsl.reference.windows import pad_spatial, patches

if TYPE_CHECKING:
    from archdsl.ir import Node


def _window(node: Node) -> tuple[tuple[int, ...], tuple[int, ...]]:
    dims = node.layer.dims or 0
    p = node.params
    pool = ntuple(p.pool, dims, "pool")
    return pool, ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")


@reference_op("max_pool1d", "max_pool2d", "max_pool3d")
def max_pool_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Maximum over each window; padded cells are −∞."""
    pool, stride = _window(node)
    xp = pad_spatial(xs[0], node.resolved(PoolWindows).pads, value=-np.inf)
    return patches(xp, pool, stride, (1,) * len(pool)).max(axis=2)


@reference_op("avg_pool1d", "avg_pool2d", "avg_pool3d")
def avg_pool_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Sum over each window divided by the explicit divisor rule."""
    x = xs[0]
    pool, stride = _window(node)
    attrs: PoolWindows = node.resolved(PoolWindows)
    sums = patches(pad_spatial(x, attrs.pads), pool, stride, (1,) * len(pool)).sum(
        axis=2, dtype=ACC
    )
    divisor = avg_pool_divisor(
        x.shape[2:], pool, stride, attrs.pads, attrs.counted_pads, node.params.count_include_pad
    )
    return (sums / divisor).astype(x.dtype)


def _global(x: np.ndarray, node: Node, reduce: str) -> np.ndarray:
    axes = tuple(range(2, x.ndim))
    keep = bool(node.params.keepdims)
    if reduce == "max":
        return x.max(axis=axes, keepdims=keep)
    return x.mean(axis=axes, keepdims=keep, dtype=ACC).astype(x.dtype)


@reference_op("global_avg_pool")
def global_avg_pool_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Mean over every spatial position."""
    return _global(xs[0], node, "mean")


@reference_op("global_max_pool")
def global_max_pool_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Maximum over every spatial position."""
    return _global(xs[0], node, "max")


__all__: list[str] = []
