"""Custom Keras element-wise layers that are exact in float64: constant scale, leaky ReLU,
GELU with an explicit form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class LeakyReLU(keras.layers.LeakyReLU):
    """``keras.layers.LeakyReLU`` that is exact in float64 (TensorFlow's LeakyRelu op keeps its
    slope as a float32 attribute). Always pass ``negative_slope``: Keras' default is 0.3,
    PyTorch's 0.01 (docs/conventions.md, Activations and dropout).

    Example:
        >>> layer = LeakyReLU(negative_slope=0.1, dtype="float64")
        >>> float(keras.ops.convert_to_numpy(layer(-keras.ops.ones((1,), "float64")))[0])
        -0.1
    """

    def call(self, inputs: Any) -> Any:
        if keras.backend.standardize_dtype(inputs.dtype) != "float64":
            return super().call(inputs)
        return ops.where(inputs >= 0, inputs, inputs * self.negative_slope)


@keras.saving.register_keras_serializable(package=PACKAGE)
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
