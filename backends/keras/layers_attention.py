"""Custom Keras layer for :mod:`archdsl.layers.attention`: self-attention, exact in float64.

:class:`SelfAttention` is ``keras.layers.MultiHeadAttention`` (its q/k/v/output ``EinsumDense``
sublayers and variables unchanged), called as ``layer(x, x)`` so queries, keys and values are
all its input. It overrides only the documented hook ``_compute_attention``: the stock layer with
dropout 0 calls ``ops.dot_product_attention``, whose TensorFlow form turns the Python scale
``1/√(D/heads)`` into a float32 tensor before casting it (an error of about 1e-8 in float64
models). Here the scores are ``softmax((q · 1/√(D/heads)) kᵀ)`` with the scale as a Python
float, so a float64 model computes in float64 throughout, on every backend.

Example:
    >>> import numpy as np
    >>> att = SelfAttention(num_heads=2, key_dim=3)
    >>> x = np.zeros((1, 4, 6), "float32")
    >>> keras.ops.convert_to_numpy(att(x, x)).shape
    (1, 4, 6)
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class SelfAttention(keras.layers.MultiHeadAttention):
    """Multi-head self-attention on ``(N, L, D)`` tokens (``key_dim = D / num_heads``)."""

    def _compute_attention(self, query: Any, key: Any, value: Any, attention_mask: Any = None,
                           training: Any = None, return_attention_scores: bool = False,
                           use_causal_mask: bool = False) -> Any:
        """``(B, T, N, H)`` projected heads → ``(B, T, N, H)`` attention output and scores."""
        if attention_mask is not None or use_causal_mask or len(query.shape) != 4:
            return super()._compute_attention(query, key, value, attention_mask, training,
                                              return_attention_scores, use_causal_mask)
        query = query * (1.0 / math.sqrt(float(self.key_dim)))
        scores = ops.softmax(ops.einsum("btnh,bsnh->bnts", query, key), axis=-1)
        weights = self._dropout_layer(scores, training=training) if self.dropout else scores
        return ops.einsum("bnts,bsnh->btnh", weights, value), scores


__all__ = ["SelfAttention"]
