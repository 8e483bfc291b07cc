"""Weight-import converters for normalization, layer scale, parameters and attention.

:func:`archdsl.backends.keras.importer.convert_layer` tries these after its convolution, Dense
and BatchNorm converters. Each returns ``(family, canonical arrays, attrs)``:

==========================  =========================================  ====================
Keras layer                 Keras variable(s)                          family, canonical
==========================  =========================================  ====================
LayerNormalization          gamma, beta (if scale / center), last axis  ``layer_norm``
GroupNormalization          gamma, beta (if scale / center), last axis  ``group_norm``
LayerScale (archdsl's, or   scale / gamma ``(C,)``                     ``layer_scale``
keras.applications')
Parameter (archdsl's)       value                                      ``parameter``
MultiHeadAttention          q, k, v, output EinsumDense kernels and    ``attention``:
                            biases                                     in/out kernel, bias
==========================  =========================================  ====================

Attention imports when its projections are the plain ones of self-attention in
``nn.MultiheadAttention``'s layout: ``key_dim · heads = value_dim · heads = D`` and the
output width D (:func:`archdsl.backends.keras.weights.from_keras_parts` joins the parts).

Example:
    >>> import keras, numpy as np
    >>> att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    >>> x = np.zeros((1, 4, 6), "float32")
    >>> _ = att(x, x)
    >>> kind, arrays, _ = _attention(att, None)
    >>> kind, {k: v.shape for k, v in arrays.items()}
    ('attention', {'in_kernel': (18, 6), 'in_bias': (18,), 'out_kernel': (6, 6), 'out_bias': (6,)})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from archdsl.errors import BackendError
from archdsl.layers import Weight

from .layers_residual import LayerScale
from .layers_tokens import Parameter
from .weights import from_keras_parts

#: (family, canonical arrays, attrs) of one converted layer
Converted = tuple[str, dict[str, np.ndarray], dict[str, Any]]


def _np(var: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(var))


def _norm(family: str) -> Callable[[Any, Any], Converted]:
    def convert(layer: Any, _: Any) -> Converted:
        axes = [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)
        last = axes in ([-1], [len(layer.input.shape) - 1])
        if not last or getattr(layer, "rms_scaling", False):
            raise BackendError(f"Keras layer '{layer.name}' ({type(layer).__name__}) normalizes "
                               f"axis {layer.axis}" + (" with rms_scaling" if last else "")
                               + "; weight import reads the normalization of the last axis")
        arrays = {"gamma": _np(layer.gamma)} if layer.scale else {}
        if layer.center:
            arrays["beta"] = _np(layer.beta)
        return family, arrays, {"eps": float(layer.epsilon)}
    return convert


def _attention(layer: Any, _: Any) -> Converted:
    heads, key_dim = int(layer.num_heads), int(layer.key_dim)
    d = int(layer.query_dense.kernel.shape[0])
    value_dim = int(layer.value_dim or key_dim)
    out = int(layer.output_dense.kernel.shape[-1])
    if heads * key_dim != d or heads * value_dim != d or out != d:
        raise BackendError(
            f"Keras MultiHeadAttention '{layer.name}' projects width {d} to heads·key_dim = "
            f"{heads}·{key_dim}, heads·value_dim = {heads}·{value_dim}, output {out}; weight "
            "import needs all of them equal to the token width (nn.MultiheadAttention's form)")
    dense = (layer.query_dense, layer.key_dense, layer.value_dense)
    arrays = {"in_kernel": from_keras_parts(Weight((3 * d, d), "in_kernel", groups=heads),
                                            [_np(x.kernel) for x in dense])}
    if layer.use_bias:
        arrays["in_bias"] = from_keras_parts(Weight((3 * d,), "in_bias", groups=heads),
                                             [_np(x.bias) for x in dense])
    arrays["out_kernel"] = from_keras_parts(Weight((d, d), "out_kernel", groups=heads),
                                            [_np(layer.output_dense.kernel)])
    if layer.use_bias:
        arrays["out_bias"] = _np(layer.output_dense.bias)
    return "attention", arrays, {}


def _layer_scale(layer: Any, _: Any) -> Converted:
    scale = layer.scale if isinstance(layer, LayerScale) else layer.gamma
    return "layer_scale", {"scale": _np(scale)}, {}


def _parameter(layer: Any, _: Any) -> Converted:
    return "parameter", {"value": _np(layer.value)}, {}


def _applications_layer_scale() -> tuple[type, ...]:
    """keras.applications' ConvNeXt ``LayerScale`` (private; γ is its ``gamma``)."""
    try:
        from keras.src.applications.convnext import LayerScale as Applications
    except ImportError:  # pragma: no cover - another Keras layout
        return ()
    return (Applications,)


#: Keras layer classes → converter, tried after the importer's own (convolutions, Dense, BN)
FAMILY_CONVERTERS: tuple[tuple[tuple[type, ...], Callable[[Any, Any], Converted]], ...] = (
    ((keras.layers.LayerNormalization,), _norm("layer_norm")),
    ((keras.layers.GroupNormalization,), _norm("group_norm")),
    ((keras.layers.MultiHeadAttention,), _attention),
    ((LayerScale, *_applications_layer_scale()), _layer_scale),
    ((Parameter,), _parameter),
)
#: every layer class weight import reads (the importer's own and this module's), for hints
SUPPORTED_LAYERS = ("Conv1D/2D/3D, Conv*Transpose, DepthwiseConv*, SeparableConv*, Dense, "
                    "BatchNormalization, LayerNormalization, GroupNormalization, "
                    "MultiHeadAttention, LayerScale, Parameter")

__all__ = ["FAMILY_CONVERTERS", "SUPPORTED_LAYERS", "Converted"]
