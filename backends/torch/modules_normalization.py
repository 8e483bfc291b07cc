"""Torch modules for :mod:`archdsl.layers.normalization` that ``torch.nn`` lacks.

:class:`ChannelLayerNorm`: layer normalization over the channels of a ``(N, C, *S)`` map at
every position (ConvNeXt's ``LayerNorm2d``), a subclass of ``nn.LayerNorm`` so its parameters
keep the native names (``weight``, ``bias``) and weight import recognizes it.

Example:
    >>> import torch
    >>> ln = ChannelLayerNorm(3)
    >>> y = ln(torch.arange(24.0).reshape(1, 3, 2, 4)).detach()
    >>> y.shape, round(float(y[0, :, 0, 0].mean()), 6)
    (torch.Size([1, 3, 2, 4]), 0.0)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ChannelLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm(C)`` applied over dim 1 of ``(N, C, *S)``: channels moved last,
    normalized, moved back (torchvision's ``LayerNorm2d``)."""

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return y.movedim(-1, 1)


__all__ = ["ChannelLayerNorm"]
