"""Torch modules for :mod:`archdsl.layers.attention`.

:class:`SelfAttention` holds a native ``nn.MultiheadAttention(batch_first=True)`` as its child
``mha`` and calls it with queries, keys and values all equal to its input
(``need_weights=False``). The wrapper exists because a node module takes one tensor; the
native module stays a child so ``torch.fx`` keeps it a leaf and weight import recognizes it
(its tensors: ``mha.in_proj_weight``, ``mha.in_proj_bias``, ``mha.out_proj.weight``,
``mha.out_proj.bias``).

Example:
    >>> import torch
    >>> att = SelfAttention(6, heads=3)
    >>> att(torch.zeros(2, 5, 6)).shape
    torch.Size([2, 5, 6])
"""

from __future__ import annotations

from torch import Tensor, nn


class SelfAttention(nn.Module):
    """Multi-head self-attention on ``(N, L, D)`` tokens."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, heads, dropout=dropout, bias=bias,
                                         batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.mha(x, x, x, need_weights=False)[0]


__all__ = ["SelfAttention"]
