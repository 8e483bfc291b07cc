"""Resampling: upsampling (nearest, bilinear) and adaptive pooling to a fixed output size.

Index rules are PyTorch's, stated so every backend reproduces them exactly:

* ``upsample`` nearest: output cell ``i`` reads input cell ``floor(i · in / out)`` computed as
  PyTorch computes it in float32, ``floor(f32(i) · f32(in / out))`` (clamped to ``in − 1``):
  for a few size pairs this differs from the exact quotient (2 → 82: cell 41 reads cell 0, not
  1). It is what PyTorch computes for float32 tensors (every rank) and on CUDA for every
  dtype; its float64 CPU kernels use other arithmetic, so the torch backend gathers the IR's
  indices itself for the size pairs where they would differ;
* ``upsample`` bilinear (linear along each spatial axis): source coordinate ``scale · i`` with
  ``scale = (in − 1) / (out − 1)`` when ``align_corners: true`` (0 when ``out = 1``), else
  ``max(scale · (i + 0.5) − 0.5, 0)`` with ``scale = in / out``; it reads cells
  ``lo = min(floor(src), in − 1)`` and ``min(lo + 1, in − 1)`` with weights
  ``1 − (src − lo)`` and ``src − lo``. The ratio is always ``in / out`` (PyTorch's ``size=``
  semantics, never a ``scale_factor``). PyTorch computes these in the tensor's precision: in
  float32 ``scale`` is rounded to float32 and ``src`` is one fused multiply-add rounded to
  float32 (its AVX2 / AVX-512 CPU kernels and CUDA; the plain CPU kernel rounds twice, one
  float32 ulp of ``src`` apart), which moves the weights by up to ``in · 2⁻²⁴`` from the exact
  ones: ``float32=True`` reproduces it, so float32 models agree at round-off at any size;
* adaptive pooling: output cell ``i`` pools input cells ``floor(i · in / out)`` up to
  ``ceil((i + 1) · in / out)`` (exclusive).

Example:
    >>> from archdsl.layers import get_layer
    >>> up = get_layer("upsample")
    >>> up.infer(up.parse({"scale": 2, "mode": "bilinear"}), [(4, 5, 7)]).shape
    (4, 10, 14)
    >>> adaptive_bins(5, 3)
    ((0, 2), (1, 4), (3, 5))
    >>> [nearest_source(i, 2, 82) for i in (40, 41, 42)]
    [0, 0, 1]
"""

from __future__ import annotations

import math
import struct
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
    shape_doc = "(C, *S) → (C, *(S·scale)) or (C, *size); 1 to 3 spatial dims"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        spatial = ins[0][1:]
        if not 1 <= len(spatial) <= 3:  # PyTorch interpolates 1-3 spatial dims
            raise ShapeRuleError(
                f"upsample needs (C, *S) with 1 to 3 spatial dims, received {list(ins[0])}"
            )
        if p.size is not None:
            return Inferred((ins[0][0], *ntuple(p.size, len(spatial), "size")))
        scale = ntuple(p.scale, len(spatial), "scale")
        return Inferred((ins[0][0], *(n * s for n, s in zip(spatial, scale))))

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window | None:
        spatial = ins[0][1:]
        out = self.infer(p, ins).shape[1:]
        if any(o % n for n, o in zip(spatial, out)):
            return None  # not an integer factor: the field is not a simple window
        # an output cell reads 2 neighbours (bilinear) or 1 (nearest): as a transposed
        # window of stride s, an extent of taps·s (the receptive-field pass reads ceil(k / s))
        taps = 2 if p.mode == "bilinear" else 1
        stride = tuple(o // n for n, o in zip(spatial, out))
        return Window(tuple(taps * s for s in stride), stride, transposed=True)


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


def _f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (a float32 operation on float32 operands, done in
    double then rounded, is correctly rounded for + − × ÷)."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def nearest_source(i: int, size: int, out: int) -> int:
    """PyTorch's nearest-neighbour source of output cell ``i``: ``floor(f32(i) · f32(size /
    out))``, clamped to ``size − 1`` (``upsample_nearest`` in float32, any rank, CPU or CUDA).

    >>> [nearest_source(i, 3, 7) for i in range(7)]
    [0, 0, 0, 1, 1, 2, 2]
    """
    return min(math.floor(_f32(i * _f32(size / out))), size - 1)


def linear_source(i: int, size: int, out: int, align_corners: bool,
                  float32: bool = False) -> float:
    """PyTorch's source coordinate of output cell ``i`` for linear interpolation (the
    ``area_pixel_compute_source_index`` arithmetic), in double or, with ``float32``, as its
    float32 kernels compute it.

    >>> linear_source(0, 4, 8, False), linear_source(3, 4, 7, True)
    (0.0, 1.5)
    >>> linear_source(60, 48, 97, False), linear_source(60, 48, 97, False, float32=True)
    (29.438144329896907, 29.43814468383789)
    """
    if align_corners:
        if out == 1:
            return 0.0
        if float32:
            return _f32(_f32((size - 1) / (out - 1)) * i)
        return (size - 1) / (out - 1) * i
    if float32:  # one rounding of scale · (i + ½) − ½ (exact in double): a fused multiply-add
        return max(_f32(_f32(size / out) * (i + 0.5) - 0.5), 0.0)
    return max(size / out * (i + 0.5) - 0.5, 0.0)


def upsample_sources(size: int, out: int, mode: str, align_corners: bool,
                     float32: bool = False) -> list[Any]:
    """For each output cell, ``[(input index, weight), ...]`` along one axis (the index rule
    of the module doc); shared by every backend that builds resampling from gathers or
    matrices. ``float32``: linear weights as PyTorch computes them for float32 tensors.

    >>> upsample_sources(2, 4, "nearest", False)
    [[(0, 1.0)], [(0, 1.0)], [(1, 1.0)], [(1, 1.0)]]
    >>> upsample_sources(2, 4, "bilinear", True)[1]
    [(0, 0.6666666666666667), (1, 0.3333333333333333)]
    >>> upsample_sources(2, 4, "bilinear", True, float32=True)[1]
    [(0, 0.6666666269302368), (1, 0.3333333432674408)]
    """
    if mode == "nearest":
        return [[(nearest_source(i, size, out), 1.0)] for i in range(out)]
    rows = []
    for i in range(out):
        src = linear_source(i, size, out, align_corners, float32)
        lo = min(math.floor(src), size - 1)
        hi = min(lo + 1, size - 1)
        frac = src - lo  # exact in float32 too
        keep = _f32(1.0 - frac) if float32 else 1.0 - frac
        rows.append([(lo, keep), (hi, frac)])
    return rows


__all__ = ["adaptive_bins", "linear_source", "nearest_source", "upsample_sources"]
