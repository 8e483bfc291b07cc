"""Lowerings of :mod:`archdsl.layers.pool`: pooling with PyTorch's windows and divisors."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from archdsl.ir import Node
from archdsl.layers.geometry import ntuple
from archdsl.layers.pool import avg_pool_divisor

from .layers import (
    ConstantPadding,
    ExplicitAveragePooling,
    SeparablePooling3D,
)
from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
    chain,
    padding_mode,
)

_MAX_POOL = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D,
             3: keras.layers.MaxPooling3D}
_AVG_POOL = {1: keras.layers.AveragePooling1D, 2: keras.layers.AveragePooling2D,
             3: keras.layers.AveragePooling3D}


def _pool_geometry(node: Node, dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    p = node.params
    pool = ntuple(p.pool, dims, "pool")
    return pool, ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")


@LOWERINGS.register("max_pool1d", "max_pool2d", "max_pool3d")
def lower_max_pool(node: Node, ctx: Context = DEFAULT) -> Apply:
    """max_pool1d/2d/3d: native when the pads are 'valid'/'same', else −∞ padding + 'valid'."""
    dims = node.layer.dims
    pool, stride = _pool_geometry(node, dims)
    pads = node.attrs.pads
    mode = padding_mode(pads, node.in_shapes[0][1:], pool, stride)
    pre: list[Any] = []
    if mode is None:
        pre.append(ConstantPadding(pads, float("-inf"), name=f"{node.id}-pad", dtype=ctx.dtype))
        mode = "valid"
    layer = _pool_layer("max", pool, stride, mode, node.id, ctx.dtype)
    return chain(*pre, layer)


def _pool_layer(
    kind: str, pool: tuple[int, ...], stride: tuple[int, ...], mode: str, name: str,
    dtype: str | None,
) -> Any:
    if len(pool) == 3 and dtype == "float64":  # no float64 3-D pooling kernels on TF's CPU
        return SeparablePooling3D(kind, pool, stride, mode, name=name, dtype=dtype)
    table = _MAX_POOL if kind == "max" else _AVG_POOL
    return table[len(pool)](pool_size=pool, strides=stride, padding=mode, name=name, dtype=dtype)


@LOWERINGS.register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def lower_avg_pool(node: Node, ctx: Context = DEFAULT) -> Apply:
    """avg_pool1d/2d/3d: native 'valid'/'same' when Keras' divisor (real cells only) equals the
    IR's (:func:`~archdsl.layers.pool.avg_pool_divisor`), else :class:`ExplicitAveragePooling`."""
    dims = node.layer.dims
    pool, stride = _pool_geometry(node, dims)
    pads, counted = node.attrs.pads, node.attrs.counted_pads
    include = node.params.count_include_pad
    spatial = node.in_shapes[0][1:]
    mode = padding_mode(pads, spatial, pool, stride)
    if mode is not None:
        want = avg_pool_divisor(spatial, pool, stride, pads, counted, include)
        native = avg_pool_divisor(spatial, pool, stride, pads, pads, False)
        if np.array_equal(want, native):
            return _pool_layer("average", pool, stride, mode, node.id, ctx.dtype)
    return ExplicitAveragePooling(pool, stride, pads, counted, include, name=node.id,
                                  dtype=ctx.dtype)


_GLOBAL = {
    "global_avg_pool": {1: keras.layers.GlobalAveragePooling1D,
                        2: keras.layers.GlobalAveragePooling2D,
                        3: keras.layers.GlobalAveragePooling3D},
    "global_max_pool": {1: keras.layers.GlobalMaxPooling1D, 2: keras.layers.GlobalMaxPooling2D,
                        3: keras.layers.GlobalMaxPooling3D},
}


@LOWERINGS.register("global_avg_pool", "global_max_pool")
def lower_global_pool(node: Node, ctx: Context = DEFAULT) -> Apply:
    """global_avg_pool / global_max_pool over 1-3 spatial dims (``keepdims`` kept)."""
    cls = _GLOBAL[node.type][len(node.in_shapes[0]) - 1]
    return cls(keepdims=node.params.keepdims, name=node.id, dtype=ctx.dtype)
