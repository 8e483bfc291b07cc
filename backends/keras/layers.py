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
  tanh form, ``keras.activations.gelu`` to the exact one; docs/conventions.md, Activations and
  dropout) that is exact in float64,
* :class:`SeparablePooling3D`, :class:`Scale`, :class:`LeakyReLU`: float64-exact forms (TensorFlow's
  CPU has no float64 3-D pooling; Rescaling and LeakyRelu round their constant to float32),
* :class:`TorchLikeBatchNormalization`: BatchNormalization whose training-mode moving-variance
  update uses the unbiased batch variance like PyTorch (docs/conventions.md, Batch normalization).

Every layer here works on channels-last tensors and serializes with ``get_config``.

Example:
    >>> import keras
    >>> x = keras.Input((5, 5, 2))
    >>> ConstantPadding(((1, 0), (0, 2)), value=float("-inf"))(x).shape
    (None, 6, 7, 2)
"""

from __future__ import annotations

from .layers_attention import SelfAttention
from .layers_conv import GeneralConvTranspose, sliced
from .layers_elementwise import GELU, LeakyReLU, Scale
from .layers_normalization import TorchLikeBatchNormalization
from .layers_pool import ConstantPadding, ExplicitAveragePooling, SeparablePooling3D, pool
from .layers_resample import AdaptivePooling, Resample
from .layers_residual import LayerScale, StochasticDepth
from .layers_tensor import AxisPad, AxisSlice, MatMul, Mean, Roll, Take
from .layers_tokens import Parameter

__all__ = [
    "GELU",
    "AdaptivePooling",
    "AxisPad",
    "AxisSlice",
    "ConstantPadding",
    "ExplicitAveragePooling",
    "GeneralConvTranspose",
    "LayerScale",
    "LeakyReLU",
    "MatMul",
    "Mean",
    "Parameter",
    "Resample",
    "Roll",
    "Scale",
    "SelfAttention",
    "SeparablePooling3D",
    "StochasticDepth",
    "Take",
    "TorchLikeBatchNormalization",
    "pool",
    "sliced",
]
