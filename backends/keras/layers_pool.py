"""Custom Keras layers for padding and pooling: constant (−∞) padding, float64 3-D pooling,
exact average-pool divisors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from archdsl.layers.pool import avg_pool_divisor

from .layers_common import PACKAGE, pairs


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConstantPadding(keras.layers.Layer):
    """Pad the spatial axes of a channels-last tensor with a constant.

    Args:
        pads: ``(before, after)`` per spatial dimension.
        value: the fill value, e.g. ``float("-inf")`` before a max pool.

    Example:
        >>> import numpy as np
        >>> y = ConstantPadding(((1, 1),), value=-1.0)(np.zeros((1, 2, 1), "float32"))
        >>> keras.ops.convert_to_numpy(y)[0, :, 0].tolist()
        [-1.0, 0.0, 0.0, -1.0]
    """

    def __init__(self, pads: Sequence[Sequence[int]], value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pads = pairs(pads)
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        width = [(0, 0), *self.pads, (0, 0)]
        return ops.pad(inputs, width, constant_values=self.value)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        out = list(input_shape)
        for i, (b, e) in enumerate(self.pads):
            n = out[1 + i]
            if n is not None:
                out[1 + i] = n + b + e
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pads": [list(p) for p in self.pads], "value": self.value}


def pool(x: Any, mode: str, pool_size: Sequence[int], strides: Sequence[int], padding: str) -> Any:
    """``keras.ops.max_pool`` / ``average_pool`` (channels-last), with 3-D float64 pooling done
    as a 2-D pool over (H, W) then a 1-D pool over D: TensorFlow's CPU has no float64 3-D pool
    kernels. Exact for both modes and for 'valid' and 'same' (a box reduces axis by axis; the
    'same' divisor is a product of per-axis counts).
    """
    fn = ops.max_pool if mode == "max" else ops.average_pool
    pool_size, strides = tuple(pool_size), tuple(strides)
    if len(pool_size) != 3 or keras.backend.standardize_dtype(x.dtype) != "float64":
        return fn(x, pool_size, strides, padding=padding, data_format="channels_last")
    depth, height, width, channels = (int(d) for d in x.shape[1:])
    y = ops.reshape(x, (-1, height, width, channels))
    y = fn(y, pool_size[1:], strides[1:], padding=padding, data_format="channels_last")
    h2, w2 = int(y.shape[1]), int(y.shape[2])
    y = ops.reshape(y, (-1, depth, h2 * w2 * channels))
    y = fn(y, pool_size[:1], strides[:1], padding=padding, data_format="channels_last")
    return ops.reshape(y, (-1, int(y.shape[1]), h2, w2, channels))


@keras.saving.register_keras_serializable(package=PACKAGE)
class SeparablePooling3D(keras.layers.Layer):
    """3-D max or average pooling via :func:`pool` (used for float64, which TensorFlow's CPU
    kernels lack); same arguments and results as ``MaxPooling3D`` / ``AveragePooling3D``.

    Example:
        >>> import numpy as np
        >>> layer = SeparablePooling3D("max", (2, 2, 2), (2, 2, 2), "valid", dtype="float64")
        >>> keras.ops.convert_to_numpy(layer(np.arange(8.0).reshape(1, 2, 2, 2, 1))).ravel()
        array([7.])
    """

    def __init__(
        self,
        mode: str,
        pool_size: Sequence[int],
        strides: Sequence[int],
        padding: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("max", "average"):
            raise ValueError(f"mode must be 'max' or 'average'. Received: mode={mode!r}")
        self.mode = mode
        self.pool_size = tuple(int(k) for k in pool_size)
        self.strides = tuple(int(s) for s in strides)
        self.padding = padding

    def call(self, inputs: Any) -> Any:
        return pool(inputs, self.mode, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        out = list(input_shape)
        for i, (k, s) in enumerate(zip(self.pool_size, self.strides)):
            n = out[1 + i]
            if n is not None:
                out[1 + i] = -(-n // s) if self.padding == "same" else (n - k) // s + 1
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mode": self.mode,
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ExplicitAveragePooling(keras.layers.Layer):
    """Average pooling with explicit padding and PyTorch's divisor rules.

    Zero-pads by ``pads``, sum-pools (Keras average × window size) and divides every output
    cell by :func:`archdsl.layers.pool.avg_pool_divisor`: the real input cells of its window,
    plus the explicit padding ``counted_pads`` when ``count_include_pad`` (the extra end cells
    of ``ceil_mode`` never count). The divisor is computed once, from the static input shape.

    Example:
        >>> import numpy as np
        >>> pool = ExplicitAveragePooling((3,), (1,), ((1, 1),), ((1, 1),), False)
        >>> y = pool(np.ones((1, 4, 1), "float32"))
        >>> keras.ops.convert_to_numpy(y)[0, :, 0].tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(
        self,
        pool_size: Sequence[int],
        strides: Sequence[int],
        pads: Sequence[Sequence[int]],
        counted_pads: Sequence[Sequence[int]],
        count_include_pad: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = tuple(int(k) for k in pool_size)
        self.strides = tuple(int(s) for s in strides)
        self.pads = pairs(pads)
        self.counted_pads = pairs(counted_pads)
        self.count_include_pad = bool(count_include_pad)
        self._factor: np.ndarray | None = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        if any(n is None for n in input_shape[1:-1]):
            raise ValueError(
                f"ExplicitAveragePooling needs static spatial sizes. Received: {input_shape}"
            )
        spatial = tuple(int(n) for n in input_shape[1:-1])  # type: ignore[arg-type]
        divisor = avg_pool_divisor(
            spatial,
            self.pool_size,
            self.strides,
            self.pads,
            self.counted_pads,
            self.count_include_pad,
        )
        self._factor = (math.prod(self.pool_size) / divisor)[..., None]

    def call(self, inputs: Any) -> Any:
        x = ops.pad(inputs, [(0, 0), *self.pads, (0, 0)])
        y = pool(x, "average", self.pool_size, self.strides, "valid")
        return y * ops.cast(self._factor, y.dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        out = list(input_shape)
        for i, (k, s, (b, e)) in enumerate(zip(self.pool_size, self.strides, self.pads)):
            n = out[1 + i]
            if n is not None:
                out[1 + i] = (n + b + e - k) // s + 1
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "pads": [list(p) for p in self.pads],
            "counted_pads": [list(p) for p in self.counted_pads],
            "count_include_pad": self.count_include_pad,
        }
