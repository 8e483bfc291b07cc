"""Torch modules for :mod:`archdsl.layers.tokens`.

:class:`Parameter`: a tensor (learned ``nn.Parameter``, or frozen with
``requires_grad=False`` for fixed constants) repeated over the batch of its input, which it
reads only for the batch size. (``repeat``, not an ``expand`` view: a view of a parameter keeps
``requires_grad`` even under ``torch.no_grad``.)

Example:
    >>> import torch
    >>> p = Parameter((2, 3))
    >>> p(torch.zeros(5, 7)).shape, p.value.requires_grad
    (torch.Size([5, 2, 3]), True)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Parameter(nn.Module):
    """The tensor ``value`` of shape ``shape``, expanded to ``(N, *shape)``."""

    def __init__(self, shape: tuple[int, ...], trainable: bool = True) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(shape), requires_grad=trainable)
        self.ones = (1,) * len(shape)  # a Python tuple: torch.fx traces the repeat

    def forward(self, x: Tensor) -> Tensor:
        return self.value.unsqueeze(0).repeat(x.shape[0], *self.ones)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.value.shape)}, trainable={self.value.requires_grad}"


__all__ = ["Parameter"]
