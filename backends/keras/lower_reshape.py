"""Lowerings of :mod:`archdsl.layers.reshape`: stock ``Reshape`` and ``Permute``.

Both are ``"ordered"`` layers: the builder hands them IR-order tensors (a channels-last
feature map is permuted to ``(C, *S)`` first), so Keras' row-major ``Reshape`` keeps
PyTorch's element order and ``Permute`` takes the IR's dims shifted past the batch.
"""

from __future__ import annotations

import keras

from archdsl.ir import Node

from .lowerings import DEFAULT, LOWERINGS, Apply, Context


@LOWERINGS.register("reshape")
def lower_reshape(node: Node, ctx: Context = DEFAULT) -> Apply:
    """``keras.layers.Reshape`` to the IR's resolved shape."""
    return keras.layers.Reshape(node.shape, name=node.id, dtype=ctx.dtype)


@LOWERINGS.register("permute")
def lower_permute(node: Node, ctx: Context = DEFAULT) -> Apply:
    """``keras.layers.Permute`` with 1-based dims (Keras counts from the first non-batch
    axis)."""
    dims = tuple(d + 1 for d in node.params.dims)
    return keras.layers.Permute(dims, name=node.id, dtype=ctx.dtype)
