"""Torch modules for :mod:`archdsl.layers.residual`: layer scale and stochastic depth.

* :class:`LayerScale`: ``x · γ`` with a learned per-channel ``scale`` (ConvNeXt's γ),
* :class:`StochasticDepth`: torchvision's ``StochasticDepth(p, "row")``: in training each
  sample is kept with probability ``1 − p`` and scaled by ``1 / (1 − p)``, else zeroed; the
  identity in eval mode. Matched training (:mod:`archdsl.backends.torch.train`) keeps the
  module in eval mode and multiplies its output by the step's numpy mask (shape ``(N,)``,
  :func:`archdsl.training.dropout_masks`) through a forward hook, exactly as for dropout.

Example:
    >>> import torch
    >>> sd = StochasticDepth(0.5).eval()
    >>> bool(torch.equal(sd(torch.ones(4, 3)), torch.ones(4, 3)))
    True
    >>> y = sd.train()(torch.ones(64, 3))
    >>> sorted({float(v) for v in y.unique()}) in ([0.0, 2.0], [2.0], [0.0])
    True
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LayerScale(nn.Module):
    """Multiply by a learned factor per channel: the channel axis is followed by ``trailing``
    axes (a ``(N, C, H, W)`` map: 2; the last axis of tokens: 0)."""

    def __init__(self, channels: int, init: float = 1e-6, trailing: int = 0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((channels,), float(init)))
        self.trailing = int(trailing)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.view(-1, *((1,) * self.trailing))

    def extra_repr(self) -> str:
        return f"{self.scale.shape[0]}, trailing={self.trailing}"


class StochasticDepth(nn.Module):
    """Drop whole samples with probability ``p`` in training (kept ones scaled by
    ``1 / (1 − p)``); identity in eval mode."""

    def __init__(self, p: float, dims: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"StochasticDepth p must be in [0, 1), received {p}")
        self.p = float(p)
        #: axes after the batch axis; given, the module traces with torch.fx in training too
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        ones = (1,) * (self.dims if self.dims is not None else x.dim() - 1)
        noise = x.new_empty(x.shape[0]).bernoulli_(survival).div_(survival)
        return x * noise.view(-1, *ones)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode=row"


__all__ = ["LayerScale", "StochasticDepth"]
