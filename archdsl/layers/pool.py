"""Pooling: max and average over windows (1-3 D), global average and global max.

Average pooling's divisor is explicit: ``count_include_pad: false`` (default, Keras/TF) divides
by the number of real input cells in the window; ``true`` (PyTorch's default) also counts the
explicit padding, but never the extra end cells added by ``ceil_mode``.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from pydantic import Field

from archdsl.layers.base import (
    Inferred,
    Layer,
    Params,
    PoolWindows,
    Resolved,
    Shape,
    ShapeRuleError,
    Window,
    register,
)
from archdsl.layers.geometry import (
    Padding,
    Sizes,
    ceil_mode_pads,
    ntuple,
    resolve_pads,
    window_outputs,
)


class PoolParams(Params):
    pool: Sizes = Field(2, description="window size")
    stride: Sizes | None = Field(None, description="step; default: the window size")
    padding: Padding = Field("valid", description="'valid', 'same' (TF rule), int or pairs")
    ceil_mode: bool = Field(False, description="PyTorch ceil_mode: keep a last partial window")


class AvgPoolParams(PoolParams):
    count_include_pad: bool = Field(
        False,
        description="true: divide by the window including explicit padding (PyTorch's default); "
        "false: by the real input cells only (Keras/TF)",
    )


class GlobalPoolParams(Params):
    keepdims: bool = Field(False, description="keep spatial dims as size 1, e.g. (C, 1, 1) for SE")


class _Pool(Layer):
    dims: ClassVar[int] = 2
    category = "pooling"
    layout = "channels"
    shape_doc = "(C, *S) → (C, *S'), S' = 1 + (S + p_b + p_a − k) // s"

    def _geometry(self, p: Any, ins: list[Shape]) -> tuple[Shape, tuple[int, ...], tuple[int, ...]]:
        if len(ins[0]) != self.dims + 1:
            raise ShapeRuleError(
                f"{self.key} expects input of rank {self.dims + 1}, received {list(ins[0])}"
            )
        k = ntuple(p.pool, self.dims, "pool")
        s = ntuple(p.stride if p.stride is not None else p.pool, self.dims, "stride")
        return ins[0][1:], k, s

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        spatial, k, s = self._geometry(p, ins)
        pads = resolve_pads(p.padding, spatial, k, s)
        for kk, (b, e) in zip(k, pads):
            if max(b, e) >= kk:
                raise ShapeRuleError(f"padding {max(b, e)} must be smaller than the window {kk}")
        counted = pads
        if p.ceil_mode:
            pads = ceil_mode_pads(spatial, k, s, pads)
        out = window_outputs(spatial, k, s, pads)
        return Inferred((ins[0][0], *out), PoolWindows(pads, counted))

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window:
        _, k, s = self._geometry(p, ins)
        return Window(k, s)

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        size = shape[-1]
        if size < 2:
            return None
        s = rng.choice([1, 1, 2]) if size >= 4 else 1
        k = rng.choice([2, 3]) if size >= 3 else 2
        return {"pool": k, "stride": s if s > 1 else k, "padding": rng.choice(["same", "valid"])}


class MaxPool(_Pool):
    doc = "Max pooling (padding never wins: padded cells are −∞)."
    Params = PoolParams
    selects = True


class AvgPool(_Pool):
    doc = "Average pooling with an explicit divisor rule (count_include_pad)."
    Params = AvgPoolParams


class _GlobalPool(Layer):
    category = "pooling"
    layout = "channels"
    Params = GlobalPoolParams
    shape_doc = "(C, *S) → (C,), or (C, 1, …) with keepdims"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(ins[0]) < 2:
            raise ShapeRuleError(
                f"{self.key} needs spatial dimensions (C, H, W), received {list(ins[0])}"
            )
        c = ins[0][0]
        return Inferred((c, *([1] * (len(ins[0]) - 1))) if p.keepdims else (c,))

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window:
        return Window(collapse=True)


@register
class GlobalAvgPool(_GlobalPool):
    key = "global_avg_pool"
    doc = "Mean over all spatial positions."


@register
class GlobalMaxPool(_GlobalPool):
    key = "global_max_pool"
    doc = "Maximum over all spatial positions."
    selects = True


@register
class MaxPool1D(MaxPool):
    key = "max_pool1d"
    dims = 1


@register
class MaxPool2D(MaxPool):
    key = "max_pool2d"
    dims = 2


@register
class MaxPool3D(MaxPool):
    key = "max_pool3d"
    dims = 3


@register
class AvgPool1D(AvgPool):
    key = "avg_pool1d"
    dims = 1


@register
class AvgPool2D(AvgPool):
    key = "avg_pool2d"
    dims = 2


@register
class AvgPool3D(AvgPool):
    key = "avg_pool3d"
    dims = 3




def avg_pool_divisor(
    spatial: Shape,
    pool: tuple[int, ...],
    stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    counted_pads: tuple[tuple[int, int], ...],
    count_include_pad: bool,
) -> Any:
    """The divisor of every output cell of an average pool, as a numpy array of the output size.

    Backends that cannot express a divisor rule natively compute ``sum_pool / divisor`` with it.
    Cells counted: real input cells, plus the explicit padding when ``count_include_pad``; the
    extra end padding of ``ceil_mode`` never counts (PyTorch's rule).

    >>> avg_pool_divisor((4,), (3,), (1,), ((1, 1),), ((1, 1),), False).tolist()
    [2.0, 3.0, 3.0, 2.0]
    """
    import numpy as np

    per_axis = []
    for n, k, s, (b, e), (cb, ce) in zip(spatial, pool, stride, pads, counted_pads):
        out = (n + b + e - k) // s + 1
        lo_bound, hi_bound = (-cb, n + ce) if count_include_pad else (0, n)
        starts = np.arange(out) * s - b
        lo = np.maximum(starts, lo_bound)
        hi = np.minimum(starts + k, hi_bound)
        per_axis.append(np.maximum(hi - lo, 0).astype(np.float64))
    div = per_axis[0]
    for axis_counts in per_axis[1:]:
        div = np.multiply.outer(div, axis_counts)
    return div


def divisor_counts(spatial: Any, k: Any, s: Any, pads: Any, counted: Any,
                   include: bool) -> list[list[int]]:
    """Per axis, the cells an average-pool window counts (their outer product is
    :func:`avg_pool_divisor`); what exported code stores instead of the full divisor."""
    out = []
    for a in range(len(k)):
        one = avg_pool_divisor((spatial[a],), (k[a],), (s[a],), (pads[a],), (counted[a],),
                               include)
        out.append([int(v) for v in one])
    return out
