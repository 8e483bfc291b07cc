"""Custom Keras layers for :mod:`archdsl.layers.residual`: layer scale and stochastic depth.

* :class:`LayerScale`: ``x · γ`` with a learned ``scale`` along the last axis (the channels
  of a channels-last map, or the width of tokens),
* :class:`StochasticDepth`: torchvision's ``StochasticDepth(p, "row")``: in training each
  sample is kept with probability ``1 − p`` and scaled by ``1 / (1 − p)``, else zeroed;
  identity in inference. Matched training (:mod:`.train_dropout`) replaces its ``call`` to
  multiply by the step's numpy mask (one value per sample), exactly as for dropout.

Example:
    >>> import numpy as np
    >>> ls = LayerScale(init=0.5)
    >>> keras.ops.convert_to_numpy(ls(np.ones((1, 2, 3), "float32"))).tolist()
    [[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]]
    >>> sd = StochasticDepth(0.5, seed=1)
    >>> y = keras.ops.convert_to_numpy(sd(np.ones((64, 3), "float32"), training=True))
    >>> sorted(set(y.ravel().tolist())), bool((y == y[:, :1]).all())  # whole samples
    ([0.0, 2.0], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class LayerScale(keras.layers.Layer):
    """Multiply the last axis by a learned factor per entry, initialized to ``init``."""

    def __init__(self, init: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.init = float(init)

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.scale = self.add_weight(
            name="scale", shape=(int(input_shape[-1]),),  # type: ignore[arg-type]
            initializer=keras.initializers.Constant(self.init), trainable=True)

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "init": self.init}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StochasticDepth(keras.layers.Layer):
    """Drop whole samples with probability ``rate`` in training (kept ones scaled by
    ``1 / (1 − rate)``); identity in inference."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"StochasticDepth rate must be in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or self.rate == 0.0:
            return inputs
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        u = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        keep = ops.cast(u >= self.rate, inputs.dtype)
        return inputs * keep / (1.0 - self.rate)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


__all__ = ["LayerScale", "StochasticDepth"]
