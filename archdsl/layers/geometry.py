"""Window geometry shared by convolutions and pooling: tuples, padding rules, output sizes.

All padding is resolved here to explicit ``(before, after)`` pairs per spatial dimension, so
both backends pad identically (``"same"`` with stride > 1 is asymmetric and depends on the
input size; see docs/conventions.md, Padding and pooling).

Example:
    >>> same_pads(8, 3, 2), same_pads(9, 3, 2)
    ((0, 1), (1, 1))
    >>> conv_out(28, 3, 1, (0, 0)), conv_out(28, 3, 2, (0, 0))
    (26, 13)
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt

from archdsl.layers.base import Shape, ShapeRuleError

PosInt = Annotated[StrictInt, Field(gt=0)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]
Sizes = PosInt | list[PosInt]
Padding = Literal["valid", "same", "causal"] | NonNegInt | list[NonNegInt] | list[list[NonNegInt]]
Pads = tuple[tuple[int, int], ...]


def ntuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """Expand an int to ``n`` copies, or check a list has ``n`` entries."""
    if isinstance(value, int):
        return (value,) * n
    values = tuple(value)
    if len(values) != n:
        raise ShapeRuleError(
            f"'{name}' needs 1 or {n} values for {n} spatial dimension(s), received {list(values)}"
        )
    return values


def effective_kernel(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """``d·(k−1)+1`` per dimension."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def same_pads(n: int, k_eff: int, s: int) -> tuple[int, int]:
    """TensorFlow's "same": ``out = ceil(n/s)``, any odd padding goes after (bottom/right)."""
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def resolve_pads(
    padding: Any, spatial: Shape, k_eff: tuple[int, ...], stride: tuple[int, ...]
) -> Pads:
    """Resolve a padding argument to explicit ``(before, after)`` pairs."""
    n = len(spatial)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        return tuple(same_pads(x, k, s) for x, k, s in zip(spatial, k_eff, stride))
    if padding == "causal":
        if n != 1:
            raise ShapeRuleError("padding 'causal' is only valid for 1-D layers")
        return ((k_eff[0] - 1, 0),)
    if isinstance(padding, int):
        return ((padding, padding),) * n
    items = list(padding)
    if items and all(isinstance(p, list) for p in items):
        if len(items) != n or any(len(p) != 2 for p in items):
            raise ShapeRuleError(
                f"explicit padding needs {n} [before, after] pairs, received {items}"
            )
        return tuple((int(a), int(b)) for a, b in items)
    return tuple((p, p) for p in ntuple(items, n, "padding"))


def conv_out(n: int, k_eff: int, s: int, pads: tuple[int, int]) -> int:
    """``out = 1 + (n + p_before + p_after − k_eff) // s`` (the chapter's formula)."""
    return 1 + (n + pads[0] + pads[1] - k_eff) // s


def window_outputs(
    spatial: Shape, k_eff: tuple[int, ...], stride: tuple[int, ...], pads: Pads
) -> tuple[int, ...]:
    """Output sizes of a sliding window; raises if the window does not fit."""
    out = []
    for axis, (x, k, s, p) in enumerate(zip(spatial, k_eff, stride, pads)):
        if x + p[0] + p[1] < k:
            raise ShapeRuleError(
                f"window of size {k} does not fit spatial dimension {axis + 1} of size {x} "
                f"(padding {p[0]}+{p[1]}); use a smaller kernel, padding 'same', or a larger input"
            )
        out.append(conv_out(x, k, s, p))
    return tuple(out)


def ceil_mode_pads(spatial: Shape, k: tuple[int, ...], stride: tuple[int, ...], pads: Pads) -> Pads:
    """Extra end padding that reproduces PyTorch's ``ceil_mode=True`` pooling."""
    result = []
    for x, kk, s, (b, e) in zip(spatial, k, stride, pads):
        out = math.ceil((x + b + e - kk) / s) + 1
        if (out - 1) * s >= x + b:  # the last window must start inside input or left padding
            out -= 1
        extra = max((out - 1) * s + kk - (x + b + e), 0)
        result.append((b, e + extra))
    return tuple(result)


def spatial_of(shape: Shape, dims: int, key: str) -> Shape:
    """Check an input is ``(C, *spatial)`` with ``dims`` spatial dimensions."""
    if len(shape) != dims + 1:
        want = "(C" + ", S" * dims + ")"
        raise ShapeRuleError(
            f"{key} expects input of rank {dims + 1} {want}, received {list(shape)}"
        )
    return shape[1:]
