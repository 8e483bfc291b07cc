"""Attention on tokens: matrix products between activations and multi-head self-attention.

Multi-head attention follows PyTorch's ``nn.MultiheadAttention`` with the canonical weights:
``q, k, v = split(x @ in_kernelᵀ + in_bias)``, per head ``softmax(q·kᵀ / √(D/heads)) · v``,
the heads concatenated, then ``@ out_kernelᵀ + out_bias``. Products accumulate in float64.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 2]\\nbody:\\n"
    ...                   "  - identity: {id: a}\\n"
    ...                   "  - matmul: {from: [a, a], transpose_b: true}\\n")
    >>> forward(g, {}, np.array([[[1.0, 2.0], [3.0, 4.0]]]))["matmul_1"].tolist()
    [[[5.0, 11.0], [11.0, 25.0]]]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from archdsl.errors import BackendError
from archdsl.reference.registry import ACC, OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node


@reference_op("matmul")
def matmul_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``a @ b`` over the last two axes, either operand optionally transposed."""
    p = node.params
    a = xs[0].astype(ACC)
    b = xs[1].astype(ACC)
    a = a.swapaxes(-1, -2) if p.transpose_a else a
    b = b.swapaxes(-1, -2) if p.transpose_b else b
    return np.matmul(a, b).astype(xs[0].dtype)


def _softmax_last(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@reference_op("multi_head_attention")
def multi_head_attention_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Self-attention of tokens ``(N, L, D)`` with ``heads`` heads (eval semantics)."""
    x, w, p = xs[0], ctx.weights, node.params
    if ctx.train and p.dropout > 0:
        raise BackendError(
            f"the reference cannot run '{node.id}' in train mode: attention dropout "
            f"({p.dropout}) has no mask"
        )
    n, length, d = x.shape
    head = d // p.heads
    qkv = x.astype(ACC) @ w["in_kernel"].astype(ACC).T
    if "in_bias" in w:
        qkv += w["in_bias"].astype(ACC)
    q, k, v = (
        t.reshape(n, length, p.heads, head).transpose(0, 2, 1, 3) for t in np.split(qkv, 3, -1)
    )
    attn = _softmax_last(q @ k.swapaxes(-1, -2) / math.sqrt(head))
    y = (attn @ v).transpose(0, 2, 1, 3).reshape(n, length, d) @ w["out_kernel"].astype(ACC).T
    if "out_bias" in w:
        y += w["out_bias"].astype(ACC)
    return y.astype(x.dtype)


__all__: list[str] = []
