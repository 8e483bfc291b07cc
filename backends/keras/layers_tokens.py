"""Custom Keras layer for :mod:`archdsl.layers.tokens`: a tensor repeated over the batch.

:class:`Parameter` holds ``value`` (learned, or frozen for fixed constants) and returns it
repeated over the batch of its input, which it reads only for the batch size. The tensor is
stored in the IR's axis order (the node's layout is ``ordered``), so weight transfer copies it
unchanged.

Example:
    >>> import numpy as np
    >>> p = Parameter((2, 3))
    >>> keras.ops.convert_to_numpy(p(np.zeros((4, 7), "float32"))).shape
    (4, 2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class Parameter(keras.layers.Layer):
    """The variable ``value`` of shape ``shape`` (zeros until weights are set), broadcast to
    ``(N, *shape)``."""

    def __init__(self, shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape = tuple(int(d) for d in shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.value = self.add_weight(name="value", shape=self.shape, initializer="zeros",
                                     trainable=self.trainable)

    def call(self, inputs: Any) -> Any:
        value = ops.expand_dims(ops.convert_to_tensor(self.value, self.compute_dtype), 0)
        return ops.broadcast_to(value, (ops.shape(inputs)[0], *self.shape))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return (input_shape[0], *self.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shape": list(self.shape)}


__all__ = ["Parameter"]
