"""Reductions over IR axes: the mean.

Axes are the IR's (batch excluded, negative from the end); the sum accumulates in float64
and is rounded once to the run's dtype.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 3]\\nbody:\\n"
    ...                   "  - mean: {axes: -1, keepdims: true}\\n")
    >>> forward(g, {}, np.arange(6.0).reshape(1, 2, 3))["mean_1"].tolist()
    [[[1.0], [4.0]]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archdsl.reference.indexing import axes_of
from archdsl.reference.registry import ACC, OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node


@reference_op("mean")
def mean_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Mean over the IR axes (accumulated in float64)."""
    x, p = xs[0], node.params
    axes = tuple(axes_of(p.axes, x.ndim - 1))
    return x.mean(axis=axes, keepdims=p.keepdims, dtype=ACC).astype(x.dtype)


__all__: list[str] = []
