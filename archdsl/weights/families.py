"""Weight families: which layers can take each other's weights.

A family groups the layer kinds whose weights have the same names and layout: ``conv``
(convolutions of any rank, depthwise convolutions and dense layers: a dense kernel is a 1×1
convolution's), ``transposed``, ``separable``, ``batchnorm``, the affine norms, layer scale,
``parameter`` and ``attention``. Each layer type declares its family on its class
(:attr:`archdsl.layers.base.Layer.weight_family`); :func:`type_families` reads the table from
the registry, so no list of layer types is kept here.

A reference layer whose kind cannot be told from what the importer sees has a *loose* family
that matches several: :data:`CONV_OR_TRANSPOSED` (a raw conv-like tensor), :data:`AFFINE_NORM`
(a state dict's 1-D ``weight``/``bias``: LayerNorm or GroupNorm) and :data:`TENSOR` (a learned
tensor held directly by a PyTorch container module, such as ViT's class token or ConvNeXt's
``layer_scale``: a ``parameter`` or a ``layer_scale`` node, compared by shape up to 1-sized
dimensions, :func:`archdsl.weights.signatures.shapes_match`).

Example:
    >>> family_of("conv2d"), family_of("dense"), family_of("conv_transpose2d")
    ('conv', 'conv', 'transposed')
    >>> family_of("relu") is None
    True
    >>> families_match("transposed", CONV_OR_TRANSPOSED), families_match("conv", "batchnorm")
    (True, False)
    >>> families_match("layer_scale", TENSOR), families_match("group_norm", AFFINE_NORM)
    (True, True)
"""

from __future__ import annotations

from archdsl.layers.base import REGISTRY

#: weight families that can match each other
FAMILIES = ("conv", "transposed", "separable", "batchnorm", "layer_norm", "group_norm",
            "layer_scale", "parameter", "attention")
#: the family of a conv-like tensor whose kind is unknown (a raw state dict cannot tell a
#: ConvTranspose weight ``(I, O, *k)`` from a Conv weight ``(O, I, *k)``)
CONV_OR_TRANSPOSED = "conv_or_transposed"
#: a 1-D ``weight`` (and ``bias``) without running statistics: LayerNorm or GroupNorm
AFFINE_NORM = "affine_norm"
#: a bare learned tensor (its one array is ``value``): a ``parameter`` or a ``layer_scale``
TENSOR = "tensor"
#: loose reference family → the spec families it stands for
LOOSE = {CONV_OR_TRANSPOSED: ("conv", "transposed"), AFFINE_NORM: ("layer_norm", "group_norm"),
         TENSOR: ("parameter", "layer_scale")}


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
    (a loose family, :data:`LOOSE`, stands for each of its families)."""
    if ref_family in LOOSE:
        return spec_family in LOOSE[ref_family]
    return spec_family == ref_family


__all__ = ["AFFINE_NORM", "CONV_OR_TRANSPOSED", "FAMILIES", "LOOSE", "TENSOR", "families_match",
           "family_of", "type_families"]
