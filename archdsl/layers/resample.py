"""Resampling: upsampling (nearest, bilinear) and adaptive pooling to a fixed output size.

Index rules are PyTorch's, stated so every backend reproduces them exactly:

* ``upsample`` nearest: output cell ``i`` reads input cell ``floor(i · in / out)``;
* ``upsample`` bilinear (linear along each spatial axis): source coordinate
  ``i · (in − 1) / (out − 1)`` with ``align_corners: true``, else
  ``max((i + 0.5) · in / out − 0.5, 0)``; the ratio is always ``in / out`` (PyTorch's ``size=``
  semantics);
* adaptive pooling: output cell ``i`` pools input cells ``floor(i · in / out)`` up to
  ``ceil((i + 1) · in / out)`` (exclusive).

Example:
    >>> from archdsl.layers import get_layer
    >>> up = get_layer("upsample")
    >>> up.infer(up.parse({"scale": 2, "mode": "bilinear"}), [(4, 5, 7)]).shape
    (4, 10, 14)
    >>> adaptive_bins(5, 3)
    ((0, 2), (1, 4), (3, 5))
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from archdsl.layers.base import (
    Inferred,
    Layer,
    Params,
    Resolved,
    Shape,
    ShapeRuleError,
    Window,
    register,
)
from archdsl.layers.geometry import Sizes, ntuple


def adaptive_bins(size: int, out: int) -> tuple[tuple[int, int], ...]:
    """PyTorch's adaptive pooling bins ``(start, stop)`` of ``out`` cells over ``size``."""
    return tuple(((i * size) // out, -(-(i + 1) * size // out)) for i in range(out))


class UpsampleParams(Params):
    scale: Sizes | None = Field(None, description="integer factor, one or one per spatial axis")
    size: Sizes | None = Field(None, description="output spatial size instead of a factor")
    mode: Literal["nearest", "bilinear"] = Field(
        "nearest", description="'bilinear' is linear along every spatial axis (any rank)"
    )
    align_corners: bool = Field(False, description="bilinear only: corners map to corners")

    @model_validator(mode="after")
    def _check(self) -> UpsampleParams:
        if (self.scale is None) == (self.size is None):
            raise ValueError("give exactly one of 'scale' or 'size'")
        if self.align_corners and self.mode != "bilinear":
            raise ValueError("align_corners applies to mode 'bilinear' only")
        return self


class AdaptivePoolParams(Params):
    size: Sizes = Field(description="output size (H', W'), one int for a square")


@register
class Upsample(Layer):
    key = "upsample"
    category = "pooling"
    layout = "channels"
    Params = UpsampleParams
    doc = "Upsampling by an integer factor or to a size: nearest or (bi)linear interpolation."
    shape_doc = "(C, *S) → (C, *(S·scale)) or (C, *size)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        spatial = ins[0][1:]
        if not spatial:
            raise ShapeRuleError(f"upsample needs (C, *S), received {list(ins[0])}")
        if p.size is not None:
            return Inferred((ins[0][0], *ntuple(p.size, len(spatial), "size")))
        scale = ntuple(p.scale, len(spatial), "scale")
        return Inferred((ins[0][0], *(n * s for n, s in zip(spatial, scale))))

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window | None:
        spatial = ins[0][1:]
        out = self.infer(p, ins).shape[1:]
        if any(o % n for n, o in zip(spatial, out)):
            return None  # not an integer factor: the field is not a simple window
        taps = 2 if p.mode == "bilinear" else 1
        return Window((taps,) * len(spatial), tuple(o // n for n, o in zip(spatial, out)),
                      transposed=True)


class _AdaptivePool(Layer):
    category = "pooling"
    layout = "channels"
    dims: ClassVar[int] = 2
    Params = AdaptivePoolParams
    shape_doc = "(C, H, W) → (C, *size), bins floor(i·in/out) … ceil((i+1)·in/out)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(ins[0]) != self.dims + 1:
            raise ShapeRuleError(
                f"{self.key} expects input of rank {self.dims + 1} (C, H, W), "
                f"received {list(ins[0])}"
            )
        return Inferred((ins[0][0], *ntuple(p.size, self.dims, "size")))

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window:
        out = ntuple(p.size, self.dims, "size")
        kernel = tuple(max(b - a for a, b in adaptive_bins(n, o)) for n, o in zip(ins[0][1:], out))
        stride = tuple(max(n // o, 1) for n, o in zip(ins[0][1:], out))
        return Window(kernel, stride)


@register
class AdaptiveAvgPool2D(_AdaptivePool):
    key = "adaptive_avg_pool2d"
    doc = "Average over adaptive bins to a fixed output size (PyTorch's bin rule)."


@register
class AdaptiveMaxPool2D(_AdaptivePool):
    key = "adaptive_max_pool2d"
    doc = "Maximum over adaptive bins to a fixed output size (PyTorch's bin rule)."
    selects = True


def upsample_sources(size: int, out: int, mode: str, align_corners: bool) -> list[Any]:
    """For each output cell, ``[(input index, weight), ...]`` along one axis (the index rule
    of the module doc); shared by every backend that builds resampling from gathers or
    matrices.

    >>> upsample_sources(2, 4, "nearest", False)
    [[(0, 1.0)], [(0, 1.0)], [(1, 1.0)], [(1, 1.0)]]
    >>> upsample_sources(2, 4, "bilinear", True)[1]
    [(0, 0.6666666666666667), (1, 0.33333333333333337)]
    """
    if mode == "nearest":
        return [[(min((i * size) // out, size - 1), 1.0)] for i in range(out)]
    rows = []
    for i in range(out):
        if align_corners:
            src = i * (size - 1) / (out - 1) if out > 1 else 0.0
        else:
            src = max((i + 0.5) * size / out - 0.5, 0.0)
        lo = min(math.floor(src), size - 1)
        hi = min(lo + 1, size - 1)
        frac = src - lo
        rows.append([(lo, 1.0 - frac), (hi, frac)])
    return rows


__all__ = ["adaptive_bins", "upsample_sources"]
