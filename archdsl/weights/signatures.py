"""Layer signatures: when a spec node and a reference layer can hold the same weights.

Two layers are *compatible* when their families agree (:mod:`archdsl.weights.families`) and
they hold the same weight names with the same shapes, trailing 1-sized kernel dimensions
ignored: a 1×1 convolution after global pooling carries a dense layer's weights.

Example:
    >>> import numpy as np
    >>> from archdsl.weights.records import RefLayer, SpecLayer
    >>> fc = SpecLayer("fc", "conv", {"kernel": (10, 8), "bias": (10,)})
    >>> conv1x1 = RefLayer("logits", "conv", {"kernel": np.ones((10, 8, 1, 1)),
    ...                                       "bias": np.zeros(10)})
    >>> compatible(fc, conv1x1), describe(fc.kind, fc.shapes)
    (True, 'conv: kernel [10, 8], bias [10]')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archdsl.weights.families import CONV_OR_TRANSPOSED, families_match
from archdsl.weights.records import RefLayer, Shape, SpecLayer


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


def shapes_match(spec_shapes: Mapping[str, Shape], ref_shapes: Mapping[str, Shape]) -> bool:
    """The same weight names, with the same shapes once squeezed (:func:`squeeze_shape`)."""
    if set(spec_shapes) != set(ref_shapes):
        return False
    return all(squeeze_shape(spec_shapes[k]) == squeeze_shape(ref_shapes[k]) for k in spec_shapes)


def compatible(spec: SpecLayer, ref: RefLayer) -> bool:
    """Same family and the same weights with the same (squeezed) shapes."""
    return families_match(spec.kind, ref.kind) and shapes_match(spec.shapes, ref.shapes)


def signature_key(kind: str, shapes: Mapping[str, Shape]) -> tuple[Any, ...]:
    """A hashable signature; conv and transposed layers share one (the raw state dict cannot
    tell them apart), so downstream structure compares equal across both sides.

    >>> signature_key("transposed", {"kernel": (4, 2, 3, 1)}) == signature_key(
    ...     "conv", {"kernel": (4, 2, 3)})
    True
    """
    family = "conv" if kind in ("conv", "transposed", CONV_OR_TRANSPOSED) else kind
    return (family, tuple(sorted((k, squeeze_shape(v)) for k, v in shapes.items())))


def describe(kind: str, shapes: Mapping[str, Shape]) -> str:
    """``"conv: kernel [64, 3, 7, 7], bias [64]"``: a layer for messages."""
    parts = ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
    return f"{kind}: {parts}" if parts else kind


__all__ = ["compatible", "describe", "shapes_match", "signature_key", "squeeze_shape"]
