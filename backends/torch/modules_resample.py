"""Torch modules for resampling that ``torch.nn`` lacks.

* :class:`NearestGather`: nearest-neighbour upsampling as one ``index_select`` per spatial
  axis, with the IR's source indices (:func:`archdsl.layers.resample.nearest_source`). Used
  for the size pairs where ``nn.Upsample(mode="nearest")`` computes its index differently in
  float64 than in float32 (its float64 CPU kernels use other arithmetic, by rank), so the
  model is exact in every dtype.

The indices are non-persistent buffers: the module has no state-dict entries and moves with
``.to(device)``.

Example:
    >>> import torch
    >>> up = NearestGather([[0, 0, 1]])
    >>> up(torch.tensor([[[5.0, 7.0]]])).tolist()
    [[[5.0, 5.0, 7.0]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class NearestGather(nn.Module):
    """Gather ``indices[a]`` along spatial axis ``a`` (NC* layout), for every axis."""

    def __init__(self, indices: Sequence[Sequence[int]]) -> None:
        super().__init__()
        self.rank = len(indices)
        for a, idx in enumerate(indices):
            self.register_buffer(f"index{a}", torch.tensor(list(idx), dtype=torch.long),
                                 persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        for a in range(self.rank):
            x = x.index_select(2 + a, getattr(self, f"index{a}"))
        return x

    def extra_repr(self) -> str:
        sizes = tuple(int(getattr(self, f"index{a}").numel()) for a in range(self.rank))
        return f"size={sizes}"


__all__ = ["NearestGather"]
