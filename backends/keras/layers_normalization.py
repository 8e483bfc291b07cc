"""BatchNormalization with PyTorch's unbiased moving-variance update."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class TorchLikeBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose moving variance is updated with the **unbiased** batch variance.

    PyTorch normalizes a training batch with the biased variance but updates ``running_var``
    with ``var · n/(n−1)`` (n = values per channel in the batch); stock Keras uses the biased
    one for both (docs/conventions.md, Batch normalization). Inference and the training-mode
    output are unchanged; only the moving-variance update differs. Falls back to the stock
    layer for masks and renorm.

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
