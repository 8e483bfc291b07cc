"""Weight-import converters for normalization, layer scale, parameters and attention.

:func:`archdsl.backends.torch.importer.convert_module` tries these after its convolution,
Linear and BatchNorm converters. Each returns ``(family, canonical arrays, attrs)``;
PyTorch's layouts are the canonical ones, so arrays are copied unchanged:

==============================  ==========================================  ==============
module                          tensors                                     family
==============================  ==========================================  ==============
``nn.LayerNorm`` (and its       weight, bias → gamma, beta (one normalized  ``layer_norm``
subclasses: torchvision's       axis; ``eps`` as an attribute)
``LayerNorm2d``, archdsl's
``ChannelLayerNorm``)
``nn.GroupNorm``                weight, bias → gamma, beta                  ``group_norm``
``nn.MultiheadAttention``       in_proj_weight, in_proj_bias,               ``attention``
                                out_proj.weight, out_proj.bias → in/out
                                kernel, bias
archdsl's ``LayerScale``,       scale; value                                ``layer_scale``,
``Parameter``                                                               ``parameter``
==============================  ==========================================  ==============

A ``MultiheadAttention`` is one reference layer: the importer skips its ``out_proj`` child
(:data:`OWNS_CHILDREN`). Attention imports only with ``kdim = vdim = embed_dim`` and without
``add_bias_kv`` (the stacked ``in_proj_weight`` of self-attention).

Example:
    >>> from torch import nn
    >>> kind, arrays, attrs = convert_family_module(nn.LayerNorm(8, eps=1e-6))
    >>> kind, sorted(arrays), attrs
    ('layer_norm', ['beta', 'gamma'], {'eps': 1e-06})
    >>> kind, arrays, _ = convert_family_module(nn.MultiheadAttention(6, 3))
    >>> kind, {k: v.shape for k, v in arrays.items()}["in_kernel"]
    ('attention', (18, 6))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from archdsl.errors import BackendError

from .modules_residual import LayerScale
from .modules_tokens import Parameter

#: (family, canonical arrays, attrs) of one converted module
Converted = tuple[str, dict[str, np.ndarray], dict[str, Any]]
#: module classes converted as one reference layer together with their children
OWNS_CHILDREN = (nn.MultiheadAttention,)


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)


def _affine(module: Any, family: str) -> Converted:
    arrays = {}
    if module.weight is not None:
        arrays["gamma"] = _np(module.weight)
    if module.bias is not None:
        arrays["beta"] = _np(module.bias)
    return family, arrays, {"eps": float(module.eps)}


def _attention(module: nn.MultiheadAttention) -> Converted:
    if not module._qkv_same_embed_dim or module.bias_k is not None:
        raise BackendError(f"{module} has separate key/value widths or add_bias_kv; weight "
                           "import reads self-attention's stacked in_proj_weight only")
    arrays = {"in_kernel": _np(module.in_proj_weight)}
    if module.in_proj_bias is not None:
        arrays["in_bias"] = _np(module.in_proj_bias)
    arrays["out_kernel"] = _np(module.out_proj.weight)
    if module.out_proj.bias is not None:
        arrays["out_bias"] = _np(module.out_proj.bias)
    return "attention", arrays, {}


def convert_family_module(module: nn.Module) -> Converted | None:
    """(family, canonical arrays, attrs) of a module of the families above, else ``None``.

    Raises:
        BackendError: a LayerNorm over several axes, or a cross-attention module.
    """
    if isinstance(module, nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            raise BackendError(f"{module} normalizes over {len(module.normalized_shape)} axes; "
                               "weight import reads layer norms over one axis")
        return _affine(module, "layer_norm")
    if isinstance(module, nn.GroupNorm):
        return _affine(module, "group_norm")
    if isinstance(module, nn.MultiheadAttention):
        return _attention(module)
    if isinstance(module, LayerScale):
        return "layer_scale", {"scale": _np(module.scale)}, {}
    if isinstance(module, Parameter):
        return "parameter", {"value": _np(module.value)}, {}
    return None


#: the module classes this module converts, for error hints
SUPPORTED = "LayerNorm, GroupNorm, MultiheadAttention, archdsl's LayerScale and Parameter"

__all__ = ["OWNS_CHILDREN", "SUPPORTED", "Converted", "convert_family_module"]
