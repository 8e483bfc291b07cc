"""Batches cut from larger decoded images: random-resized crops for training, center crops
for validation, and channel statistics streamed from disk.

:class:`CropBatches` is :class:`~archdsl.data.Batches` with one more step before the flip,
crop and normalization: each image is cut to the model's input size, by a random-resized crop
drawn per sample from ``SeedSequence([seed, epoch, CROP_STREAM])`` (identical batches for every
framework, a resumed run draws the same crops) or by a center crop. :func:`streamed_stats`
computes :func:`~archdsl.data.channel_stats`' exact numbers chunk by chunk, so a dataset
streamed from the cache is never read into memory whole.

Example:
    >>> x = np.arange(4 * 1 * 6 * 6, dtype=np.uint8).reshape(4, 1, 6, 6)
    >>> b = CropBatches(x, np.arange(4), 2, size=(4, 4), crop="center", shuffle=False)
    >>> [xb.shape for xb, _ in b.epoch(0)]
    [(2, 1, 4, 4), (2, 1, 4, 4)]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from archdsl.data.diskarray import DiskArray
from archdsl.data.images import center_crop, crop_resize, random_resized_crop_boxes
from archdsl.data.pipeline import Batches, FloatArray, channel_stats

#: Extra entropy word of the crop streams ("crop").
CROP_STREAM = 0x63726F70


class CropBatches(Batches):
    """:class:`~archdsl.data.Batches` whose images are first cut to ``size``: ``crop="random"``
    (random-resized crop, ``scale`` and ``ratio`` as torchvision's) or ``"center"``. Other
    arguments as :class:`~archdsl.data.Batches`."""

    def __init__(self, x: Any, y: npt.NDArray[np.integer], batch_size: int, *,
                 size: tuple[int, int], crop: str = "center",
                 scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), **kw: Any) -> None:
        super().__init__(x, y, batch_size, **kw)
        if crop not in ("random", "center"):
            raise ValueError(f"crop must be 'random' or 'center'. Received: {crop!r}")
        self.size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.crop, self.scale, self.ratio = crop, scale, ratio

    def epoch(self, epoch: int) -> Iterator[tuple[FloatArray, npt.NDArray[np.int64]]]:
        order, flips, offsets = self.draws(epoch)
        n = order.shape[0]
        boxes = None
        if self.crop == "random":
            rng = np.random.Generator(np.random.PCG64(
                np.random.SeedSequence([self.seed, epoch, CROP_STREAM])))
            height, width = int(self.x.shape[2]), int(self.x.shape[3])
            boxes = random_resized_crop_boxes(rng, n, height, width, self.scale, self.ratio)
        for b in range(len(self)):
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, n))
            idx = order[sl]
            xb = self._cut(self.x[idx], None if boxes is None else boxes[sl])
            yield self._transform(xb, None if flips is None else flips[sl], offsets[sl]), \
                self.y[idx]

    def _cut(self, xb: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
        if boxes is None:
            return np.ascontiguousarray(center_crop(xb, self.size))
        out = crop_resize(xb, boxes, self.size)
        if xb.dtype == np.uint8:
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return out.astype(xb.dtype)


def streamed_stats(x: Any, chunk_bytes: int = 8 << 20
                   ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """:func:`~archdsl.data.channel_stats` of ``x``, read about ``chunk_bytes`` at a time when
    it is a :class:`~archdsl.data.diskarray.DiskArray` (the same numbers: uint8 histograms add
    up exactly).

    >>> x = np.array([[[[0]], [[255]]], [[[255]], [[255]]]], np.uint8)
    >>> streamed_stats(x) == channel_stats(x)
    True
    """
    if not isinstance(x, DiskArray):
        return channel_stats(x)
    chunk = max(1, chunk_bytes // max(1, x.nbytes // max(len(x), 1)))
    if x.dtype != np.uint8:
        return channel_stats(cast(Any, x), chunk=chunk)
    c = x.shape[1]
    hists = np.zeros((c, 256), dtype=np.int64)
    for block in x.chunks(chunk):
        for ch in range(c):
            hists[ch] += np.bincount(block[:, ch].ravel(), minlength=256)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    levels = np.arange(256, dtype=np.float64) / 255.0
    means = [float(h @ levels) / n for h in hists]
    stds = [math.sqrt(float(h @ (levels - m) ** 2) / n) for h, m in zip(hists, means)]
    return tuple(means), tuple(stds)


__all__ = ["CROP_STREAM", "CropBatches", "streamed_stats"]
