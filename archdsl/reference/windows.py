"""Sliding-window helpers shared by the convolution and pooling ops.

Padding arrives resolved in the IR (``node.attrs``), as explicit ``(before, after)`` pairs per
spatial dimension; :func:`pad_spatial` applies them (a negative amount crops). :func:`patches`
gathers every kernel tap's view of the padded input, so a convolution is one matrix product
and a pooling one reduction over the tap axis.

Example:
    >>> import numpy as np
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> pad_spatial(x, ((1, -2),)).tolist()
    [[[0.0, 0.0, 1.0, 2.0]]]
    >>> patches(x, (2,), (2,), (1,))[0, 0].tolist()  # taps × outputs
    [[0.0, 2.0], [1.0, 3.0]]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

Pairs = Sequence[tuple[int, int]]


def pad_spatial(x: np.ndarray, pads: Pairs, value: float = 0.0) -> np.ndarray:
    """Pad (positive) or crop (negative) the spatial axes of ``x`` (N, C, *S) per side."""
    widths = [(0, 0), (0, 0), *((max(b, 0), max(a, 0)) for b, a in pads)]
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, constant_values=value)
    crops = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pads, x.shape[2:]))
    return x[(slice(None), slice(None), *crops)]


def out_sizes(
    spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> tuple[int, ...]:
    """Output sizes of a window over an already padded input: ``1 + (n − d(k−1) − 1) // s``."""
    return tuple(
        1 + (n - d * (k - 1) - 1) // s for n, k, s, d in zip(spatial, kernel, stride, dilation)
    )


def patches(
    xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> np.ndarray:
    """Every tap's strided view of padded ``xp`` (N, C, *S): an array (N, C, K, *out).

    Taps are in row-major kernel order (K = Πkernel), the order of a canonical kernel's
    flattened spatial axes, so ``kernel.reshape(O, C·K)`` lines up with ``(C, K)``.
    """
    out = out_sizes(xp.shape[2:], kernel, stride, dilation)
    views = []
    for tap in itertools.product(*(range(k) for k in kernel)):
        sl = (
            slice(t * d, t * d + s * (o - 1) + 1, s)
            for t, d, s, o in zip(tap, dilation, stride, out)
        )
        views.append(xp[(slice(None), slice(None), *sl)])
    return np.stack(views, axis=2)


def channel_view(v: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector (C,) shaped to broadcast over (N, C, *S) of rank ``ndim``."""
    return v.reshape(1, -1, *([1] * (ndim - 2)))


__all__ = ["channel_view", "out_sizes", "pad_spatial", "patches"]
