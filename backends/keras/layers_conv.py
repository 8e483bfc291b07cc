"""Custom Keras layers for convolutions: statically sliced outputs and the general transposed
convolution (zero insertion plus a regular convolution)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE, pairs, sliced_shape, spatial_index


class _SlicedOutput:
    """Mixin for a stock convolution: slice its output by static ``(start, stop, step)`` per
    spatial dimension. The weights, their names and layouts stay those of the stock layer."""

    def __init__(self, *args: Any, slices: Sequence[Sequence[int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slices = tuple((int(a), int(b), int(c)) for a, b, c in slices)

    def call(self, inputs: Any) -> Any:
        return super().call(inputs)[spatial_index(self.slices)]  # type: ignore[misc]

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        full = super().compute_output_shape(input_shape)  # type: ignore[misc]
        return sliced_shape(full, self.slices)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()  # type: ignore[misc]
        config["slices"] = [list(s) for s in self.slices]
        return config


def _make_sliced(base: type[keras.layers.Layer]) -> type[keras.layers.Layer]:
    name = "Sliced" + base.__name__
    cls = type(
        name,
        (_SlicedOutput, base),
        {
            "__doc__": f"``keras.layers.{base.__name__}`` followed by a static output slice.",
            "__module__": __name__,
        },
    )
    registered: type[keras.layers.Layer] = keras.saving.register_keras_serializable(
        package=PACKAGE, name=name
    )(cls)
    return registered


_SLICED: dict[type, type[keras.layers.Layer]] = {
    base: _make_sliced(base)
    for base in (
        keras.layers.Conv1D,
        keras.layers.Conv2D,
        keras.layers.Conv3D,
        keras.layers.DepthwiseConv1D,
        keras.layers.DepthwiseConv2D,
        keras.layers.SeparableConv1D,
        keras.layers.SeparableConv2D,
        keras.layers.Conv1DTranspose,
        keras.layers.Conv2DTranspose,
        keras.layers.Conv3DTranspose,
    )
}


def sliced(base: type[keras.layers.Layer]) -> type[keras.layers.Layer]:
    """The ``Sliced<base>`` class: ``base`` whose output is sliced by ``slices=[(a, b, step)]``.

    Example:
        >>> import keras
        >>> conv = sliced(keras.layers.Conv1D)(2, 3, dilation_rate=2, slices=[(0, 6, 2)])
        >>> conv(keras.Input((10, 1))).shape
        (None, 3, 2)
    """
    return _SLICED[base]


@keras.saving.register_keras_serializable(package=PACKAGE)
class GeneralConvTranspose(keras.layers.Layer):
    """Transposed convolution for any stride, dilation, crop and extension (1-3 D).

    Computes PyTorch's transposed convolution exactly: zero-insert the input (stride), pad by
    ``d·(k−1)`` on both sides plus ``ext`` extra cells at the end (output rows that only get the
    bias), convolve with the spatially flipped kernel at stride 1 and dilation ``d``, then crop
    ``(crop_before, crop_after)``. The kernel has Keras' ``Conv*DTranspose`` layout
    ``(*k, filters, in_channels)``, so weight transfer is the same as for the stock layer.
    Used only where Keras rejects the combination (stride > 1 with dilation > 1, or an
    ``output_padding`` not smaller than the stride).

    Example:
        >>> import keras
        >>> layer = GeneralConvTranspose(2, (3,), (2,), (2,), crops=((0, 0),), ext=(0,))
        >>> layer(keras.Input((4, 3))).shape  # 2·(4−1) + 2·(3−1) + 1
        (None, 11, 2)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Sequence[int],
        strides: Sequence[int],
        dilation_rate: Sequence[int],
        crops: Sequence[Sequence[int]],
        ext: Sequence[int],
        use_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = tuple(int(s) for s in strides)
        self.dilation_rate = tuple(int(d) for d in dilation_rate)
        self.crops = pairs(crops)
        self.ext = tuple(int(e) for e in ext)
        self.use_bias = bool(use_bias)

    @property
    def _k_eff(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, self.filters, int(input_shape[-1])),  # type: ignore[arg-type]
            initializer="glorot_uniform",
            name="kernel",
        )
        self.bias = (
            self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs: Any) -> Any:
        x = inputs
        rank = len(self.kernel_size)
        for i, s in enumerate(self.strides):
            if s == 1:
                continue
            axis = 1 + i
            n = int(x.shape[axis])
            x = ops.expand_dims(x, axis + 1)
            width = [(0, 0)] * (rank + 3)
            width[axis + 1] = (0, s - 1)
            x = ops.pad(x, width)  # (..., n, s, ...): the value then s−1 zeros
            merged = [int(d) for d in x.shape[1:]]
            merged[i : i + 2] = [n * s]
            x = ops.reshape(x, (-1, *merged))
            index = [slice(None)] * (rank + 2)
            index[axis] = slice(0, (n - 1) * s + 1)
            x = x[tuple(index)]
        width = [(0, 0), *((k - 1, k - 1 + e) for k, e in zip(self._k_eff, self.ext)), (0, 0)]
        x = ops.pad(x, width)
        kernel = ops.swapaxes(ops.flip(self.kernel, axis=tuple(range(rank))), -1, -2)
        y = ops.conv(
            x,
            kernel,
            strides=1,
            padding="valid",
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )
        index = [slice(None)] * (rank + 2)
        for i, (b, e) in enumerate(self.crops):
            index[1 + i] = slice(b, int(y.shape[1 + i]) - max(e, 0))
        y = y[tuple(index)]
        if self.bias is not None:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        out: list[int | None] = [input_shape[0]]
        for n, k, s, e, (b, a) in zip(
            input_shape[1:-1], self._k_eff, self.strides, self.ext, self.crops
        ):
            out.append(None if n is None else s * (n - 1) + k + e - b - max(a, 0))
        return (*out, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "dilation_rate": list(self.dilation_rate),
            "crops": [list(c) for c in self.crops],
            "ext": list(self.ext),
            "use_bias": self.use_bias,
        }
