"""Lowerings of :mod:`archdsl.layers.pool`: max / average pooling (1-3 D), global pooling.

Max pooling pads with −∞ when a native module cannot pad as the IR does; average pooling
divides by :func:`~archdsl.layers.pool.avg_pool_divisor` exactly.
"""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.layers.geometry import ntuple
from archdsl.layers.pool import avg_pool_divisor
from archdsl.lowering import LowerContext

from . import modules as M
from .lowerings import LOWERINGS, symmetric, torch_pad


def _pool_out(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    """PyTorch's ``pooling_output_shape`` (dilation 1)."""
    out = (n + 2 * p - k + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _native_pool_padding(node: Node) -> tuple[int, ...] | None:
    """Symmetric padding with which a native pool reproduces the IR's windows, or ``None``.

    Native pools accept symmetric padding of at most half the window; ``ceil_mode`` is passed
    through (the IR's extra end pads replicate PyTorch's rule, checked here on the sizes).
    """
    p = node.params
    dims = node.layer.dims
    k = ntuple(p.pool, dims, "pool")
    s = ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")
    sym = symmetric(node.attrs.counted_pads)
    if sym is None or any(2 * pp > kk for pp, kk in zip(sym, k)):
        return None
    outs = tuple(_pool_out(n, kk, ss, pp, p.ceil_mode)
                 for n, kk, ss, pp in zip(node.in_shapes[0][1:], k, s, sym))
    return sym if outs == tuple(node.shape[1:]) else None



# --------------------------------------------------------------------------- pooling


@LOWERINGS.register("max_pool1d", "max_pool2d", "max_pool3d")
def lower_max_pool(node: Node, ctx: LowerContext) -> nn.Module:
    """Native ``nn.MaxPoolNd`` when it can pad; else −∞ ``F.pad`` + pool (``PaddedMaxPool2d``)."""
    p, dims = node.params, node.layer.dims
    k = ntuple(p.pool, dims, "pool")
    s = ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")
    sym = _native_pool_padding(node)
    if sym is not None:
        return M.MAX_POOL[dims](k, s, padding=sym, ceil_mode=p.ceil_mode)
    return M.PADDED_MAX_POOL[dims](k, s, padding=0, explicit_pad=torch_pad(node.attrs.pads))


@LOWERINGS.register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def lower_avg_pool(node: Node, ctx: LowerContext) -> nn.Module:
    """Native ``nn.AvgPoolNd(count_include_pad=...)`` when its divisor rule is the IR's.

    PyTorch divides by the window clipped to input + symmetric padding (``count_include_pad``)
    or to the input, never counting ``ceil_mode``'s extra end cells: exactly
    :func:`~archdsl.layers.pool.avg_pool_divisor` whenever the counted padding is symmetric
    and native. Otherwise :class:`SumPool` divides a zero-padded window sum by that divisor.
    """
    p, dims = node.params, node.layer.dims
    k = ntuple(p.pool, dims, "pool")
    s = ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")
    sym = _native_pool_padding(node)
    if sym is not None:
        return M.AVG_POOL[dims](k, s, padding=sym, ceil_mode=p.ceil_mode,
                                count_include_pad=p.count_include_pad)
    pads, counted = node.attrs.pads, node.attrs.counted_pads
    divisor = avg_pool_divisor(node.in_shapes[0][1:], k, s, pads, counted, p.count_include_pad)
    return M.SumPool(dims, k, s, torch_pad(pads), divisor)


@LOWERINGS.register("global_avg_pool")
def lower_global_avg(node: Node, ctx: LowerContext) -> nn.Module:
    """Mean over all spatial dimensions (``keepdims`` kept)."""
    return M.GlobalAvgPool(len(node.in_shapes[0]) - 1, node.params.keepdims)


@LOWERINGS.register("global_max_pool")
def lower_global_max(node: Node, ctx: LowerContext) -> nn.Module:
    """Max over all spatial dimensions (``keepdims`` kept)."""
    return M.GlobalMaxPool(len(node.in_shapes[0]) - 1, node.params.keepdims)
