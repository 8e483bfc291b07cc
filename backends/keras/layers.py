"""The few custom Keras layers the lowering needs, written with ``keras.ops`` only.

Everything else lowers to stock Keras layers. These exist because Keras has no native form for:

* :class:`ConstantPadding`: padding with a constant other than zero (−∞ before max pooling, so
  padded cells never win, PyTorch's rule),
* :class:`ExplicitAveragePooling`: an average pool whose divisor rule Keras cannot express
  (``count_include_pad`` with explicit padding, PyTorch's ``ceil_mode`` windows),
* ``Sliced*`` convolutions (:func:`sliced`): a stock convolution followed by a static slice of
  its output, for stride > 1 together with dilation > 1 (run at stride 1, keep every s-th
  output) and for the exact cropping of a transposed convolution,
* :class:`GeneralConvTranspose`: a transposed convolution for what Keras rejects (stride > 1
  with dilation > 1, ``output_padding`` ≥ stride) or TensorFlow's CPU cannot run (dilation > 1:
  "Current CPU implementations do not yet support dilation rates larger than 1" in float64 and
  without oneDNN), as zero insertion plus a regular convolution with the flipped kernel,
* :class:`GELU`: GELU with an explicit ``approximate`` flag (``keras.ops.gelu`` defaults to the
  tanh form, ``keras.activations.gelu`` to the exact one; parity.md E) that is exact in float64,
* :class:`SeparablePooling3D`, :class:`Scale`, :class:`LeakyReLU`: float64-exact forms (TensorFlow's
  CPU has no float64 3-D pooling; Rescaling and LeakyRelu round their constant to float32),
* :class:`TorchLikeBatchNormalization`: BatchNormalization whose training-mode moving-variance
  update uses the unbiased batch variance like PyTorch (parity.md C).

Every layer here works on channels-last tensors and serializes with ``get_config``.

Example:
    >>> import keras
    >>> x = keras.Input((5, 5, 2))
    >>> ConstantPadding(((1, 0), (0, 2)), value=float("-inf"))(x).shape
    (None, 6, 7, 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from archdsl.layers.pool import avg_pool_divisor

Pairs = tuple[tuple[int, int], ...]
_PACKAGE = "archdsl"


def _pairs(pads: Sequence[Sequence[int]]) -> Pairs:
    return tuple((int(a), int(b)) for a, b in pads)


def _spatial_index(slices: Sequence[tuple[int, int, int]]) -> tuple[slice, ...]:
    return (slice(None), *(slice(a, b, c) for a, b, c in slices), slice(None))


def _sliced_shape(shape: Sequence[int | None], slices: Sequence[tuple[int, int, int]]) -> tuple:
    out = list(shape)
    for i, (a, b, c) in enumerate(slices):
        n = out[1 + i]
        if n is not None:
            out[1 + i] = len(range(*slice(a, b, c).indices(n)))
    return tuple(out)


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
        self.pads = _pairs(pads)
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
        self.pads = _pairs(pads)
        self.counted_pads = _pairs(counted_pads)
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


class _SlicedOutput:
    """Mixin for a stock convolution: slice its output by static ``(start, stop, step)`` per
    spatial dimension. The weights, their names and layouts stay those of the stock layer."""

    def __init__(self, *args: Any, slices: Sequence[Sequence[int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slices = tuple((int(a), int(b), int(c)) for a, b, c in slices)

    def call(self, inputs: Any) -> Any:
        return super().call(inputs)[_spatial_index(self.slices)]  # type: ignore[misc]

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        full = super().compute_output_shape(input_shape)  # type: ignore[misc]
        return _sliced_shape(full, self.slices)

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
        package=_PACKAGE, name=name
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
        self.crops = _pairs(crops)
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Scale(keras.layers.Layer):
    """Multiply by a constant. (``keras.layers.Rescaling`` rounds its scale through float32,
    which is visible in float64.)

    Example:
        >>> float(keras.ops.convert_to_numpy(Scale(0.5)(keras.ops.ones((1,))))[0])
        0.5
    """

    def __init__(self, factor: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, inputs: Any) -> Any:
        return inputs * self.factor

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LeakyReLU(keras.layers.LeakyReLU):
    """``keras.layers.LeakyReLU`` that is exact in float64 (TensorFlow's LeakyRelu op keeps its
    slope as a float32 attribute). Always pass ``negative_slope``: Keras' default is 0.3,
    PyTorch's 0.01 (parity.md E).

    Example:
        >>> layer = LeakyReLU(negative_slope=0.1, dtype="float64")
        >>> float(keras.ops.convert_to_numpy(layer(-keras.ops.ones((1,), "float64")))[0])
        -0.1
    """

    def call(self, inputs: Any) -> Any:
        if keras.backend.standardize_dtype(inputs.dtype) != "float64":
            return super().call(inputs)
        return ops.where(inputs >= 0, inputs, inputs * self.negative_slope)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GELU(keras.layers.Layer):
    """GELU with an explicit form: ``approximate=False`` is the exact erf form (PyTorch's
    default), ``True`` the tanh approximation (PyTorch ``approximate='tanh'``).

    Example:
        >>> float(keras.ops.convert_to_numpy(GELU(approximate=False)(keras.ops.ones((1,))))[0])
        0.8413447141647339
    """

    def __init__(self, approximate: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def call(self, inputs: Any) -> Any:
        if keras.backend.standardize_dtype(inputs.dtype) != "float64":
            return keras.activations.gelu(inputs, approximate=self.approximate)
        # TensorFlow's float64 GELU rounds its constants through float32 (error ~1e-9); PyTorch's
        # formulas with float64 constants instead:
        if self.approximate:
            inner = 0.7978845608028654 * (inputs + 0.044715 * inputs * inputs * inputs)
            return 0.5 * inputs * (1.0 + ops.tanh(inner))
        return 0.5 * inputs * (1.0 + ops.erf(inputs * 0.7071067811865476))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "approximate": self.approximate}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchLikeBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose moving variance is updated with the **unbiased** batch variance.

    PyTorch normalizes a training batch with the biased variance but updates ``running_var``
    with ``var · n/(n−1)`` (n = values per channel in the batch); stock Keras uses the biased
    one for both (parity.md C). Inference and the training-mode output are unchanged; only the
    moving-variance update differs. Falls back to the stock layer for masks and renorm.

    Example:
        >>> import numpy as np
        >>> bn = TorchLikeBatchNormalization(momentum=0.0)
        >>> _ = bn(np.array([[0.0], [2.0]], "float32"), training=True)
        >>> float(keras.ops.convert_to_numpy(bn.moving_variance)[0])  # unbiased: 2, biased: 1
        2.0
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not (training and self.trainable) or mask is not None or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        # float64 stays float64 on every backend (JAX's result_type(float64, float32) is float32)
        compute_dtype = (
            "float64"
            if inputs.dtype == "float64"
            else keras.backend.result_type(inputs.dtype, "float32")
        )
        x = ops.cast(inputs, compute_dtype)
        rank = len(x.shape)
        axis = self.axis % rank
        reduce_axes = [i for i in range(rank) if i != axis]
        mean, variance = ops.moments(x, axes=reduce_axes, synchronized=self.synchronized)
        n = ops.cast(ops.size(x) // ops.shape(x)[axis], compute_dtype)
        unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
        momentum = ops.convert_to_tensor(self.momentum, dtype=compute_dtype)  # no float32 rounding
        moving_mean = ops.cast(self.moving_mean, compute_dtype)
        moving_variance = ops.cast(self.moving_variance, compute_dtype)
        self.moving_mean.assign(
            ops.cast(moving_mean * momentum + mean * (1.0 - momentum), self.moving_mean.dtype)
        )
        self.moving_variance.assign(
            ops.cast(
                moving_variance * momentum + unbiased * (1.0 - momentum), self.moving_variance.dtype
            )
        )
        gamma = ops.cast(self.gamma, compute_dtype) if self.scale else None
        beta = ops.cast(self.beta, compute_dtype) if self.center else None
        outputs = ops.batch_normalization(
            x, mean, variance, axis=self.axis, offset=beta, scale=gamma, epsilon=self.epsilon
        )
        return ops.cast(outputs, self.compute_dtype)


__all__ = [
    "GELU",
    "ConstantPadding",
    "ExplicitAveragePooling",
    "GeneralConvTranspose",
    "LeakyReLU",
    "Scale",
    "SeparablePooling3D",
    "TorchLikeBatchNormalization",
    "pool",
    "sliced",
]
