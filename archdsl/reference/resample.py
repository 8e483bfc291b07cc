"""Resampling: upsampling (nearest, (bi)linear) and adaptive pooling, by PyTorch's index rules.

Upsampling applies, along each spatial axis, the interpolation matrix of
:func:`archdsl.layers.resample.upsample_sources` (output cell ← input cells and weights), with
the linear weights PyTorch computes in the run's precision (float32 coordinates in a float32
run); adaptive pooling reduces each bin of :func:`archdsl.layers.resample.adaptive_bins`.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [1, 2]\\nbody:\\n"
    ...                   "  - upsample: {scale: 2, mode: bilinear, align_corners: true}\\n")
    >>> forward(g, {}, np.array([[[0.0, 3.0]]]))["upsample_1"].tolist()
    [[[0.0, 1.0, 2.0, 3.0]]]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.layers.resample import adaptive_bins, upsample_sources
from archdsl.reference.registry import ACC, OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node


def interpolation_matrix(size: int, out: int, mode: str, align_corners: bool,
                         float32: bool = False) -> np.ndarray:
    """``(out, size)``: row ``i`` holds the weights output cell ``i`` gives each input cell
    (``float32``: PyTorch's float32 linear weights)."""
    m = np.zeros((out, size), dtype=ACC)
    for i, sources in enumerate(upsample_sources(size, out, mode, align_corners, float32)):
        for j, weight in sources:
            m[i, j] += weight
    return m


@reference_op("upsample")
def upsample_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Nearest or linear interpolation along every spatial axis, to the IR's output size."""
    x = xs[0]
    p = node.params
    y = x.astype(ACC)
    float32 = x.dtype != np.float64
    for axis, (n, o) in enumerate(zip(x.shape[2:], node.shape[1:]), start=2):
        m = interpolation_matrix(n, o, p.mode, p.align_corners, float32)
        y = np.moveaxis(np.tensordot(y, m, axes=([axis], [1])), -1, axis)
    return y.astype(x.dtype)


def _adaptive(node: Node, x: np.ndarray, reduce: str) -> np.ndarray:
    bins = [adaptive_bins(n, o) for n, o in zip(x.shape[2:], node.shape[1:])]
    out = np.empty((*x.shape[:2], *node.shape[1:]), dtype=x.dtype)
    for pos in itertools.product(*(range(len(b)) for b in bins)):
        window = tuple(slice(*b[i]) for b, i in zip(bins, pos))
        cells = x[(slice(None), slice(None), *window)]
        axes = tuple(range(2, x.ndim))
        value = cells.max(axis=axes) if reduce == "max" else cells.mean(axis=axes, dtype=ACC)
        cell: tuple[Any, ...] = (slice(None), slice(None), *pos)
        out[cell] = value
    return out


@reference_op("adaptive_avg_pool2d")
def adaptive_avg_pool_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Mean over each adaptive bin ``floor(i·in/out) … ceil((i+1)·in/out)``."""
    return _adaptive(node, xs[0], "mean")


@reference_op("adaptive_max_pool2d")
def adaptive_max_pool_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Maximum over each adaptive bin."""
    return _adaptive(node, xs[0], "max")


__all__ = ["interpolation_matrix"]
