"""Layer signatures: when a spec node and a reference layer can hold the same weights.

Two layers are *compatible* when their families agree (:mod:`archdsl.weights.families`) and
they hold the same weight names with the same shapes, trailing 1-sized kernel dimensions
ignored: a 1×1 convolution after global pooling carries a dense layer's weights. A lone learned
tensor (``parameter``, ``layer_scale``, a reference :data:`~archdsl.weights.families.TENSOR`)
is compared by its shape without any 1-sized dimension, whatever its name: torchvision's class
token ``(1, 1, D)`` fills a ``(1, D)`` parameter, ConvNeXt's ``layer_scale`` ``(C, 1, 1)`` a
``(C,)`` layer scale.

Example:
    >>> import numpy as np
    >>> from archdsl.weights.records import RefLayer, SpecLayer
    >>> fc = SpecLayer("fc", "conv", {"kernel": (10, 8), "bias": (10,)})
    >>> conv1x1 = RefLayer("logits", "conv", {"kernel": np.ones((10, 8, 1, 1)),
    ...                                       "bias": np.zeros(10)})
    >>> compatible(fc, conv1x1), describe(fc.kind, fc.shapes)
    (True, 'conv: kernel [10, 8], bias [10]')
    >>> gamma = SpecLayer("ls", "layer_scale", {"scale": (96,)})
    >>> compatible(gamma, RefLayer("features.1.0.layer_scale", "tensor",
    ...                            {"value": np.ones((96, 1, 1))}))
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archdsl.weights.families import AFFINE_NORM, CONV_OR_TRANSPOSED, TENSOR, families_match
from archdsl.weights.records import RefLayer, Shape, SpecLayer

#: families holding one learned tensor, compared by shape up to 1-sized dimensions
LONE_TENSORS = ("parameter", "layer_scale", TENSOR)


def squeeze_shape(shape: Sequence[int]) -> Shape:
    """Drop trailing 1-sized kernel dimensions (beyond the first two): a 1×1 convolution's
    ``(O, I, 1, 1)`` kernel compares equal to a dense layer's ``(O, I)``.

    >>> squeeze_shape((64, 32, 1, 1)), squeeze_shape((64, 1, 3, 3)), squeeze_shape((10,))
    ((64, 32), (64, 1, 3, 3), (10,))
    """
    dims = [int(d) for d in shape]
    while len(dims) > 2 and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def core_shape(shape: Sequence[int]) -> Shape:
    """``shape`` without its 1-sized dimensions (how lone tensors compare).

    >>> core_shape((1, 1, 768)), core_shape((96, 1, 1)), core_shape((169, 3))
    ((768,), (96,), (169, 3))
    """
    return tuple(int(d) for d in shape if int(d) != 1)


def lone_tensor(kind: str, shapes: Mapping[str, Shape]) -> Shape | None:
    """The core shape of a layer holding one learned tensor (:data:`LONE_TENSORS`), else
    ``None``."""
    if kind not in LONE_TENSORS or len(shapes) != 1:
        return None
    return core_shape(next(iter(shapes.values())))


def shapes_match(spec_shapes: Mapping[str, Shape], ref_shapes: Mapping[str, Shape]) -> bool:
    """The same weight names, with the same shapes once squeezed (:func:`squeeze_shape`)."""
    if set(spec_shapes) != set(ref_shapes):
        return False
    return all(squeeze_shape(spec_shapes[k]) == squeeze_shape(ref_shapes[k]) for k in spec_shapes)


def compatible(spec: SpecLayer, ref: RefLayer) -> bool:
    """Same family and the same weights with the same (squeezed) shapes; a lone tensor by its
    core shape (:func:`core_shape`)."""
    if not families_match(spec.kind, ref.kind):
        return False
    mine, theirs = lone_tensor(spec.kind, spec.shapes), lone_tensor(ref.kind, ref.shapes)
    if mine is not None and theirs is not None:
        return mine == theirs
    return shapes_match(spec.shapes, ref.shapes)


def signature_key(kind: str, shapes: Mapping[str, Shape]) -> tuple[Any, ...]:
    """A hashable signature; conv and transposed layers share one (the raw state dict cannot
    tell them apart), so downstream structure compares equal across both sides.

    >>> signature_key("transposed", {"kernel": (4, 2, 3, 1)}) == signature_key(
    ...     "conv", {"kernel": (4, 2, 3)})
    True
    """
    lone = lone_tensor(kind, shapes)
    if lone is not None:
        return (TENSOR, lone)
    family = {"transposed": "conv", CONV_OR_TRANSPOSED: "conv", "group_norm": "layer_norm",
              AFFINE_NORM: "layer_norm"}.get(kind, kind)
    return (family, tuple(sorted((k, squeeze_shape(v)) for k, v in shapes.items())))


def describe(kind: str, shapes: Mapping[str, Shape]) -> str:
    """``"conv: kernel [64, 3, 7, 7], bias [64]"``: a layer for messages."""
    parts = ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
    return f"{kind}: {parts}" if parts else kind


__all__ = ["LONE_TENSORS", "compatible", "core_shape", "describe", "lone_tensor", "shapes_match",
           "signature_key", "squeeze_shape"]
