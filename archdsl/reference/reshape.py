"""Reshaping in the IR's axis order: reshape and permute.

Both read the IR's order (PyTorch's, batch excluded): a reshape keeps the row-major element
order of the ``(C, *spatial)`` or ``(L, D)`` array, a permute moves whole axes.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 2, 3]\\nbody:\\n"
    ...                   "  - reshape: {shape: [2, 6]}\\n  - permute: {dims: [1, 0]}\\n")
    >>> out = forward(g, {}, np.arange(12.0).reshape(1, 2, 2, 3))
    >>> out["reshape_1"].shape, out["permute_1"][0, :2].tolist()
    ((1, 2, 6), [[0.0, 6.0], [1.0, 7.0]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archdsl.reference.registry import OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node


@reference_op("reshape")
def reshape_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """The same elements in row-major (PyTorch's) order, shaped as the IR says."""
    return xs[0].reshape(xs[0].shape[0], *node.shape)


@reference_op("permute")
def permute_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Output axis ``i`` is input axis ``dims[i]`` (batch stays first)."""
    return np.ascontiguousarray(xs[0].transpose(0, *(d + 1 for d in node.params.dims)))


__all__: list[str] = []
