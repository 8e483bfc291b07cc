"""The Keras 3 backend: lower an archdsl graph to a channels-last functional ``keras.Model``.

Implements the backend interface of :mod:`archdsl.backends` with ``keras.*`` APIs only (no
TensorFlow import), so the lowering also runs on Keras' JAX backend. The IR is
channels-first ``(C, *spatial)``; Keras runs NHWC, and every array crossing this interface is
in the IR's channels-first layout (weights in PyTorch's canonical layout).

* ``LOWERINGS``: layer type → lowering (:mod:`.lower`),
* :func:`build`, :func:`forward`, :func:`count_params` (:mod:`.model`),
* :func:`get_weights`, :func:`set_weights` (:mod:`.weights`),
* :class:`TorchLikeBatchNormalization` and the other custom layers (:mod:`.layers`).

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.backends import keras as kb
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> model = kb.build(g, seed=0)
    >>> kb.count_params(model) == {k: g.params[k] for k in ("trainable", "non_trainable")}
    True
    >>> kb.forward(model, g, np.zeros((4, 3, 32, 32)), nodes=["logits"])["logits"].shape
    (4, 10)
"""

from __future__ import annotations

from .layers import (
    GELU,
    ConstantPadding,
    ExplicitAveragePooling,
    GeneralConvTranspose,
    LeakyReLU,
    Scale,
    SeparablePooling3D,
    TorchLikeBatchNormalization,
)
from .lower import (
    LOWERINGS,
    Context,
    from_keras_layout,
    keras_axis,
    keras_shape,
    to_keras_layout,
)
from .model import build, count_params, forward
from .weights import get_weights, set_weights

__all__ = [
    "GELU",
    "LOWERINGS",
    "ConstantPadding",
    "Context",
    "ExplicitAveragePooling",
    "GeneralConvTranspose",
    "LeakyReLU",
    "Scale",
    "SeparablePooling3D",
    "TorchLikeBatchNormalization",
    "build",
    "count_params",
    "forward",
    "from_keras_layout",
    "get_weights",
    "keras_axis",
    "keras_shape",
    "set_weights",
    "to_keras_layout",
]
