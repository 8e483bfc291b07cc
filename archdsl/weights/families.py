"""Weight families: which layers can take each other's weights.

A family groups the layer kinds whose weights have the same names and layout: ``conv``
(convolutions of any rank, depthwise convolutions and dense layers: a dense kernel is a 1×1
convolution's), ``transposed``, ``separable`` and ``batchnorm``. Each layer type declares its
family on its class (:attr:`archdsl.layers.base.Layer.weight_family`); :func:`type_families`
reads the table from the registry, so no list of layer types is kept here.

Example:
    >>> family_of("conv2d"), family_of("dense"), family_of("conv_transpose2d")
    ('conv', 'conv', 'transposed')
    >>> family_of("relu") is None
    True
    >>> families_match("transposed", CONV_OR_TRANSPOSED), families_match("conv", "batchnorm")
    (True, False)
"""

from __future__ import annotations

from archdsl.layers.base import REGISTRY

#: weight families that can match each other
FAMILIES = ("conv", "transposed", "separable", "batchnorm", "layer_norm", "group_norm",
            "layer_scale", "parameter", "attention")
#: the family of a conv-like tensor whose kind is unknown (a raw state dict cannot tell a
#: ConvTranspose weight ``(I, O, *k)`` from a Conv weight ``(O, I, *k)``)
CONV_OR_TRANSPOSED = "conv_or_transposed"


def type_families() -> dict[str, str]:
    """Layer type → weight family, for every registered type that declares one.

    >>> families = type_families()
    >>> families["batchnorm"], families["separable_conv2d"], "add" in families
    ('batchnorm', 'separable', False)
    """
    return {key: layer.weight_family for key, layer in REGISTRY.items() if layer.weight_family}


def family_of(layer_type: str) -> str | None:
    """The weight family of a layer type, ``None`` for weight-free (or unknown) types."""
    layer = REGISTRY.get(layer_type)
    return layer.weight_family if layer is not None else None


def families_match(spec_family: str, ref_family: str) -> bool:
    """Whether a spec layer of ``spec_family`` can take a reference layer of ``ref_family``
    (:data:`CONV_OR_TRANSPOSED` stands for either conv or transposed)."""
    if ref_family == CONV_OR_TRANSPOSED:
        return spec_family in ("conv", "transposed")
    return spec_family == ref_family


__all__ = ["CONV_OR_TRANSPOSED", "FAMILIES", "families_match", "family_of", "type_families"]
