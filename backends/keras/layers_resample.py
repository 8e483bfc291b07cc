"""Custom Keras layers for resampling with PyTorch's index rules, in ``keras.ops`` only.

Both work on channels-last tensors ``(N, *S, C)`` with static spatial sizes, and act on one
spatial axis at a time with constants built from the single definition of the rules in
:mod:`archdsl.layers.resample`:

* :class:`Resample`: nearest (``take`` of the source cells) or (bi/tri)linear interpolation
  (``einsum`` with the ``(out, in)`` interpolation matrix of each axis; linear interpolation
  of a box is the product of per-axis interpolations, exactly as PyTorch computes it). The
  linear weights are PyTorch's for the layer's compute dtype: below float64 they come from its
  float32 coordinate arithmetic, so a float32 model matches ``nn.Upsample`` at any size;
* :class:`AdaptivePooling`: average (``einsum`` with a bin-averaging matrix) or maximum
  (``take`` of each bin's cells, the last one repeated to the widest bin, then ``max``) over
  PyTorch's adaptive bins; a box mean or max is the per-axis mean or max taken in turn.

Keras' ``UpSampling2D``/``Resizing`` are not used: their bilinear and size rules are not
PyTorch's in every case (half-pixel centres differ for ``align_corners: true``, sizes that are
not integer factors).

Example:
    >>> import numpy as np
    >>> up = Resample((4,), "bilinear", align_corners=True)
    >>> keras.ops.convert_to_numpy(up(np.array([[[0.0], [3.0]]], "float32")))[0, :, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from archdsl.layers.resample import adaptive_bins, upsample_sources

from .layers_common import PACKAGE

_LETTERS = "abcdefgh"


def _static_spatial(layer: keras.layers.Layer, input_shape: Sequence[int | None]) -> tuple:
    spatial = tuple(input_shape[1:-1])
    if any(n is None for n in spatial):
        raise ValueError(
            f"{type(layer).__name__} needs static spatial sizes. Received: {input_shape}"
        )
    return tuple(int(n) for n in spatial)  # type: ignore[arg-type]


def apply_matrix(x: Any, m: Any, axis: int) -> Any:
    """``y[..., i, ...] = Σ_j m[i, j] · x[..., j, ...]`` along ``axis`` of ``x``."""
    src = _LETTERS[: len(x.shape)]
    dst = src[:axis] + "z" + src[axis + 1:]
    return ops.einsum(f"{src},z{src[axis]}->{dst}", x, m)


def _out_shape(input_shape: Sequence[int | None], size: Sequence[int]) -> tuple:
    return (input_shape[0], *size, input_shape[-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class Resample(keras.layers.Layer):
    """Upsample (or resize) a channels-last tensor to ``size`` with PyTorch's rules.

    Args:
        size: the output spatial size.
        mode: ``"nearest"`` or ``"bilinear"`` (linear along every spatial axis).
        align_corners: bilinear only, as PyTorch's ``align_corners``.
    """

    def __init__(self, size: Sequence[int], mode: str = "nearest",
                 align_corners: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear'. Received: mode={mode!r}")
        self.size = tuple(int(n) for n in size)
        self.mode = mode
        self.align_corners = bool(align_corners)
        self._steps: list[tuple[int, np.ndarray]] = []

    def build(self, input_shape: Sequence[int | None]) -> None:
        steps = []
        float32 = keras.backend.standardize_dtype(self.compute_dtype) != "float64"
        for a, (n, o) in enumerate(zip(_static_spatial(self, input_shape), self.size)):
            rows = upsample_sources(n, o, self.mode, self.align_corners, float32=float32)
            if self.mode == "nearest":
                if [r[0][0] for r in rows] != list(range(n)):  # not the identity
                    steps.append((1 + a, np.array([r[0][0] for r in rows], "int32")))
                continue
            m = np.zeros((o, n))
            for i, row in enumerate(rows):
                for j, weight in row:
                    m[i, j] += weight
            steps.append((1 + a, m))
        self._steps = steps

    def call(self, inputs: Any) -> Any:
        x = inputs if self._steps else ops.copy(inputs)  # the identity: a new tensor
        for axis, const in self._steps:
            if self.mode == "nearest":
                x = ops.take(x, const, axis=axis)
            else:
                x = apply_matrix(x, ops.convert_to_tensor(const, dtype=x.dtype), axis)
        return x

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return _out_shape(input_shape, self.size)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size), "mode": self.mode,
                "align_corners": self.align_corners}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaptivePooling(keras.layers.Layer):
    """Adaptive average or max pooling of a channels-last tensor to ``size``, over PyTorch's
    bins :func:`~archdsl.layers.resample.adaptive_bins`.

    Example:
        >>> import numpy as np
        >>> pool = AdaptivePooling((2,), "max")
        >>> x = np.array([1.0, 5.0, 2.0, 0.0, 3.0], "float32").reshape(1, 5, 1)
        >>> keras.ops.convert_to_numpy(pool(x))[0, :, 0].tolist()
        [5.0, 3.0]
    """

    def __init__(self, size: Sequence[int], mode: str = "average", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("average", "max"):
            raise ValueError(f"mode must be 'average' or 'max'. Received: mode={mode!r}")
        self.size = tuple(int(n) for n in size)
        self.mode = mode
        self._steps: list[tuple[int, np.ndarray]] = []

    def build(self, input_shape: Sequence[int | None]) -> None:
        steps = []
        for a, (n, o) in enumerate(zip(_static_spatial(self, input_shape), self.size)):
            bins = adaptive_bins(n, o)
            if n == o:
                continue  # one cell per bin: the identity
            if self.mode == "average":
                m = np.zeros((o, n))
                for i, (start, stop) in enumerate(bins):
                    m[i, start:stop] = 1.0 / (stop - start)
                steps.append((1 + a, m))
            else:
                width = max(stop - start for start, stop in bins)
                idx = [[min(start + k, stop - 1) for k in range(width)] for start, stop in bins]
                steps.append((1 + a, np.array(idx, "int32")))
        self._steps = steps

    def call(self, inputs: Any) -> Any:
        x = inputs if self._steps else ops.copy(inputs)  # the identity: a new tensor
        for axis, const in self._steps:
            if self.mode == "average":
                x = apply_matrix(x, ops.convert_to_tensor(const, dtype=x.dtype), axis)
            else:
                x = ops.max(ops.take(x, const, axis=axis), axis=axis + 1)
        return x

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return _out_shape(input_shape, self.size)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size), "mode": self.mode}


__all__ = ["AdaptivePooling", "Resample", "apply_matrix"]
