"""Helpers shared by archdsl's custom Keras layers (:mod:`.layers`)."""

from __future__ import annotations

from collections.abc import Sequence

Pairs = tuple[tuple[int, int], ...]
#: the Keras serialization package of every archdsl layer
PACKAGE = "archdsl"


def pairs(pads: Sequence[Sequence[int]]) -> Pairs:
    return tuple((int(a), int(b)) for a, b in pads)


def spatial_index(slices: Sequence[tuple[int, int, int]]) -> tuple[slice, ...]:
    return (slice(None), *(slice(a, b, c) for a, b, c in slices), slice(None))


def sliced_shape(shape: Sequence[int | None], slices: Sequence[tuple[int, int, int]]) -> tuple:
    out = list(shape)
    for i, (a, b, c) in enumerate(slices):
        n = out[1 + i]
        if n is not None:
            out[1 + i] = len(range(*slice(a, b, c).indices(n)))
    return tuple(out)
