"""One seeded numpy batch pipeline that feeds identical batches to every framework.

Everything here is plain numpy on layout-neutral NCHW arrays: the torch backend uses the batches
as they are, the Keras backend passes :func:`to_nhwc` of them. A :class:`Batches` built with the
same data, settings and ``seed`` yields bit-identical batches, in identical order, for a given
epoch, on any machine.

Per epoch the randomness comes from ``SeedSequence([seed, epoch])``, spawned into independent
streams for the shuffle, the flips and the crops, so switching one augmentation on or off does
not change the others' draws, and the draws of a sample do not depend on the batch size.

Order of operations per batch: gather (shuffled order) -> random horizontal flip -> random crop
-> scale to ``[0, 1]`` (``uint8 / 255``) -> normalize ``(x - mean) / std`` -> cast to ``dtype``,
all in float64 until the final cast.
With ``crop_fill="black"`` the crop pads raw pixels with 0 before normalizing, as torchvision's
``RandomCrop(padding=p)`` on images does; with ``crop_fill="mean"`` it pads the normalized
batch with 0 (the channel mean).

Example:
    >>> import numpy as np
    >>> x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    >>> norm = Normalization.from_data(x)
    >>> b = Batches(x, np.array([0, 1]), batch_size=1, seed=7, flip=True, crop_padding=1,
    ...             normalization=norm)
    >>> [(xb.shape, xb.dtype.name, yb.tolist()) for xb, yb in b.epoch(0)]
    [((1, 3, 4, 4), 'float32', [1]), ((1, 3, 4, 4), 'float32', [0])]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.floating]
CropFill = Literal["black", "mean"]


def to_unit(x: npt.NDArray[np.generic], dtype: npt.DTypeLike = np.float64) -> FloatArray:
    """Scale images to ``[0, 1]``: ``uint8`` is divided by 255, floats are taken as they are.

    Example:
        >>> to_unit(np.array([0, 51, 255], np.uint8)).tolist()
        [0.0, 0.2, 1.0]
    """
    out: FloatArray
    if x.dtype == np.uint8:
        out = np.divide(x, 255.0, dtype=np.float64).astype(dtype, copy=False)
    else:
        out = np.asarray(x, dtype=dtype)
    return out


def channel_stats(
    x: npt.NDArray[np.generic], *, chunk: int = 8192
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of NCHW images on the ``[0, 1]`` scale.

    ``uint8`` images are reduced exactly through a per-channel histogram of the 256 levels;
    float images in float64, in two passes over chunks of ``chunk`` images, so the full training
    set is never copied to float.

    Example:
        >>> x = np.array([[[[0]], [[255]]], [[[255]], [[255]]]], np.uint8)  # (2, 2, 1, 1)
        >>> channel_stats(x)
        ((0.5, 1.0), (0.5, 0.0))
    """
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(
            f"channel_stats expects non-empty (N, C, H, W) images. Received: {x.shape}"
        )
    n = x.shape[0] * x.shape[2] * x.shape[3]
    if x.dtype == np.uint8:
        levels = np.arange(256, dtype=np.float64) / 255.0
        hists = [np.bincount(x[:, c].ravel(), minlength=256) for c in range(x.shape[1])]
        means = [float(h @ levels) / n for h in hists]
        stds = [math.sqrt(float(h @ (levels - m) ** 2) / n) for h, m in zip(hists, means)]
        return tuple(means), tuple(stds)
    total = np.zeros(x.shape[1], np.float64)
    for i in range(0, x.shape[0], chunk):
        total += to_unit(x[i : i + chunk]).sum(axis=(0, 2, 3))
    mean = total / n
    sq = np.zeros(x.shape[1], np.float64)
    for i in range(0, x.shape[0], chunk):
        d = to_unit(x[i : i + chunk]) - mean[None, :, None, None]
        sq += np.einsum("nchw,nchw->c", d, d)
    std = np.sqrt(sq / n)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x - mean) / std`` on the ``[0, 1]`` scale.

    Example:
        >>> norm = Normalization(mean=(0.5,), std=(0.25,))
        >>> norm(np.array([[[[0, 255]]]], np.uint8)).tolist()
        [[[[-2.0, 2.0]]]]
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean and std need one value per channel. Received: {self}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive. Received: {self.std}")

    @classmethod
    def from_data(cls, x: npt.NDArray[np.generic]) -> Normalization:
        """Statistics of the given (training) images, see :func:`channel_stats`."""
        mean, std = channel_stats(x)
        return cls(mean, tuple(s if s > 0 else 1.0 for s in std))

    def __call__(self, x: npt.NDArray[np.generic], dtype: npt.DTypeLike = np.float32) -> FloatArray:
        """Return the normalized NCHW batch, computed in float64 and cast to ``dtype``."""
        if x.ndim != 4 or x.shape[1] != len(self.mean):
            raise ValueError(
                f"expected (N, {len(self.mean)}, H, W) images to normalize. Received: {x.shape}"
            )
        mean = np.asarray(self.mean, np.float64)[None, :, None, None]
        std = np.asarray(self.std, np.float64)[None, :, None, None]
        return ((to_unit(x) - mean) / std).astype(dtype, copy=False)


def flip_horizontal(
    x: npt.NDArray[np.generic], mask: npt.NDArray[np.bool_]
) -> npt.NDArray[np.generic]:
    """Mirror the images of NCHW ``x`` where ``mask`` (shape ``(N,)``) is true; a new array.

    Example:
        >>> x = np.array([[[[1, 2, 3]]], [[[4, 5, 6]]]])
        >>> flip_horizontal(x, np.array([True, False])).tolist()
        [[[[3, 2, 1]]], [[[4, 5, 6]]]]
    """
    return np.where(np.asarray(mask, bool)[:, None, None, None], x[..., ::-1], x)


def pad_crop(
    x: npt.NDArray[np.generic], offsets: npt.NDArray[np.integer], padding: int
) -> npt.NDArray[np.generic]:
    """Zero-pad each NCHW image by ``padding`` and cut an ``H x W`` window at ``offsets[i]``.

    ``offsets`` is ``(N, 2)``: the window's top row and left column in the padded image, each in
    ``[0, 2 * padding]``; ``(padding, padding)`` returns the image unchanged.

    Example:
        >>> x = np.array([[[[1, 2], [3, 4]]]])
        >>> pad_crop(x, np.array([[0, 2]]), 1).tolist()  # one row down, one column left
        [[[[0, 0], [2, 0]]]]
    """
    if padding == 0:
        return x.copy()
    offsets = np.asarray(offsets)
    if offsets.shape != (x.shape[0], 2) or offsets.min() < 0 or offsets.max() > 2 * padding:
        raise ValueError(f"offsets must be (N, 2) in [0, {2 * padding}]. Received: {offsets.shape}")
    h, w = x.shape[2], x.shape[3]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, 2p+1, 2p+1, H, W)
    # Advanced indices split by a slice: the result is (N, C, H, W).
    return windows[np.arange(x.shape[0]), :, offsets[:, 0], offsets[:, 1]]


def random_flip(
    x: npt.NDArray[np.generic], rng: np.random.Generator, p: float = 0.5
) -> npt.NDArray[np.generic]:
    """Mirror each image with probability ``p``, drawing one uniform number per image."""
    mask = np.less(rng.random(x.shape[0]), p)
    return flip_horizontal(x, mask)


def random_crop(
    x: npt.NDArray[np.generic], rng: np.random.Generator, padding: int
) -> npt.NDArray[np.generic]:
    """Zero-pad by ``padding`` and crop back at a uniformly drawn offset per image."""
    return pad_crop(x, rng.integers(0, 2 * padding + 1, size=(x.shape[0], 2)), padding)


def to_nhwc(x: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Return a C-contiguous NHWC copy of an NCHW batch (what Keras on CPU needs).

    Example:
        >>> to_nhwc(np.zeros((2, 3, 4, 5))).shape
        (2, 4, 5, 3)
    """
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def to_nchw(x: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Return a C-contiguous NCHW copy of an NHWC batch (the inverse of :func:`to_nhwc`)."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def epoch_rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    """The generator of one random stream (0 shuffle, 1 flip, 2 crop) of one epoch.

    Example:
        >>> int(epoch_rng(0, 1, 0).integers(10**6)) == int(epoch_rng(0, 1, 0).integers(10**6))
        True
    """
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0. Received: seed={seed}, epoch={epoch}")
    children = np.random.SeedSequence([seed, epoch]).spawn(3)
    return np.random.Generator(np.random.PCG64(children[stream]))


class Batches:
    """Seeded mini-batches ``(x, y)`` of NCHW images: ``x`` float32/float64, ``y`` int64.

    ``epoch(e)`` yields the batches of epoch ``e``; iterating the object itself yields epoch
    ``start_epoch``, then the next epoch on the next iteration, and so on.

    Args:
        x: ``(N, C, H, W)`` images, ``uint8`` or float in ``[0, 1]``.
        y: ``(N,)`` integer labels.
        batch_size: samples per batch.
        seed: the seed of every random draw.
        shuffle: visit samples in a seeded random order per epoch (else in order).
        flip: random horizontal flip with probability 0.5.
        crop_padding: random crop of the image zero-padded by this many pixels (0: off).
        crop_fill: ``"black"`` pads raw pixels with 0, ``"mean"`` pads normalized ones with 0.
        normalization: per-channel statistics; ``None`` only scales to ``[0, 1]``.
        dtype: ``float32`` or ``float64``.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        start_epoch: the epoch the first plain iteration yields.

    Example:
        >>> x = np.zeros((5, 1, 2, 2), np.uint8)
        >>> b = Batches(x, np.arange(5), batch_size=2, seed=0, drop_last=True)
        >>> len(b), [yb.shape for _, yb in b.epoch(3)]
        (2, [(2,), (2,)])
    """

    def __init__(
        self,
        x: npt.NDArray[np.generic],
        y: npt.NDArray[np.integer],
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        flip: bool = False,
        crop_padding: int = 0,
        crop_fill: CropFill = "black",
        normalization: Normalization | None = None,
        dtype: npt.DTypeLike = np.float32,
        drop_last: bool = False,
        start_epoch: int = 0,
    ) -> None:
        if x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W). Received: {x.shape}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},). Received: {y.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: {batch_size}")
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0. Received: {crop_padding}")
        if crop_fill not in ("black", "mean"):
            raise ValueError(f"crop_fill must be 'black' or 'mean'. Received: {crop_fill!r}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64. Received: {dtype}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0. Received: {seed}")
        self.x, self.y = x, np.asarray(y, dtype=np.int64)
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.flip, self.crop_padding, self.crop_fill = flip, crop_padding, crop_fill
        self.normalization, self.dtype = normalization, np.dtype(dtype)
        self.drop_last = drop_last
        self._next_epoch = start_epoch

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = int(self.x.shape[0])
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[FloatArray, npt.NDArray[np.int64]]]:
        epoch = self._next_epoch
        self._next_epoch += 1
        return self.epoch(epoch)

    def order(self, epoch: int) -> npt.NDArray[np.intp]:
        """The sample indices of ``epoch`` in visiting order (before ``drop_last``)."""
        n = self.x.shape[0]
        rng = epoch_rng(self.seed, epoch, 0)
        return rng.permutation(n) if self.shuffle else np.arange(n)

    def draws(self, epoch: int) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.bool_] | None, npt.NDArray[np.int64]
    ]:
        """The order, flips (None without ``flip``) and crop offsets of ``epoch``: one draw per
        sample position for the whole epoch, independent of the batch size."""
        order = self.order(epoch)
        n = order.shape[0]
        flips = np.less(epoch_rng(self.seed, epoch, 1).random(n), 0.5) if self.flip else None
        pad = self.crop_padding
        offsets = epoch_rng(self.seed, epoch, 2).integers(0, 2 * pad + 1, size=(n, 2))
        return order, flips, offsets

    def epoch(self, epoch: int) -> Iterator[tuple[FloatArray, npt.NDArray[np.int64]]]:
        """Yield the batches of ``epoch``; the same ``(seed, epoch)`` gives identical batches."""
        order, flips, offsets = self.draws(epoch)
        n = order.shape[0]
        for b in range(len(self)):
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, n))
            idx = order[sl]
            xb = self._transform(self.x[idx], None if flips is None else flips[sl], offsets[sl])
            yield xb, self.y[idx]

    def _transform(
        self,
        xb: npt.NDArray[np.generic],
        flips: npt.NDArray[np.bool_] | None,
        offsets: npt.NDArray[np.integer],
    ) -> FloatArray:
        """Flip, crop, scale and normalize one gathered batch."""
        if flips is not None:
            xb = flip_horizontal(xb, flips)
        if self.crop_padding and self.crop_fill == "black":
            xb = pad_crop(xb, offsets, self.crop_padding)
        if self.normalization is not None:
            out = self.normalization(xb, np.float64)
        else:
            out = to_unit(xb, np.float64)
        if self.crop_padding and self.crop_fill == "mean":
            out = pad_crop(out, offsets, self.crop_padding).astype(np.float64, copy=False)
        return out.astype(self.dtype, copy=False)
