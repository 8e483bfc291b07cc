"""One lowering per registered layer type: IR node → native ``torch.nn`` module.

A lowering takes the node's attribute dict (``type``, ``params``, ``inputs``, ``shape``,
``attrs``, ``weights``) and the input shapes (IR layout, batch excluded) and returns a module
whose forward maps NCHW tensors to the node's output. Weights are set later, from canonical
arrays (:mod:`archdsl.backends.torch.weights`), so lowerings only fix the structure.

Padding is already resolved by the IR to explicit ``(before, after)`` pairs: symmetric pairs
go to the module's own ``padding=``, anything else to an explicit ``F.pad`` (zeros for
convolutions, −∞ for max pooling) before the native module with ``padding=0``.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> LOWERINGS["conv2d"](g["conv2d_1"], [(3, 8, 8)])
    PaddedConv2d(3, 4, kernel_size=(3, 3), stride=(2, 2), explicit_pad=(0, 1, 0, 1))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from archdsl.errors import BackendError
from archdsl.layers import REGISTRY
from archdsl.layers.geometry import ntuple
from archdsl.layers.pool import avg_pool_divisor

from . import modules as M

Shape = tuple[int, ...]
Node = Mapping[str, Any]
Lowering = Callable[[Node, list[Shape]], nn.Module]

#: layer type → lowering
LOWERINGS: dict[str, Lowering] = {}


def lowering(*keys: str) -> Callable[[Lowering], Lowering]:
    """Register a function as the lowering of one or more layer types."""

    def deco(fn: Lowering) -> Lowering:
        for key in keys:
            LOWERINGS[key] = fn
        return fn

    return deco


# --------------------------------------------------------------------------- helpers


def _dims(node: Node) -> int:
    """Number of spatial dimensions of a windowed layer type (its registry ``dims``)."""
    return int(REGISTRY[node["type"]].dims)  # type: ignore[attr-defined]


def torch_pad(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """IR ``((before, after), ...)`` (first spatial dim first) → ``F.pad`` order (last first).

    >>> torch_pad(((1, 2), (3, 4)))
    (3, 4, 1, 2)
    """
    return tuple(v for b, e in reversed(pads) for v in (b, e))


def _symmetric(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...] | None:
    """Per-dimension padding when every pair is symmetric, else ``None``."""
    if all(b == e for b, e in pads):
        return tuple(b for b, _ in pads)
    return None


def _pool_out(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    """PyTorch's ``pooling_output_shape`` (dilation 1)."""
    out = (n + 2 * p - k + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _native_pool_padding(node: Node, ins: list[Shape]) -> tuple[int, ...] | None:
    """Symmetric padding with which a native pool reproduces the IR's windows, or ``None``.

    Native pools accept symmetric padding of at most half the window; ``ceil_mode`` is passed
    through (the IR's extra end pads replicate PyTorch's rule, checked here on the sizes).
    """
    p = node["params"]
    dims = _dims(node)
    k = ntuple(p.pool, dims, "pool")
    s = ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")
    sym = _symmetric(node["attrs"]["counted_pads"])
    if sym is None or any(2 * pp > kk for pp, kk in zip(sym, k)):
        return None
    outs = tuple(_pool_out(n, kk, ss, pp, p.ceil_mode)
                 for n, kk, ss, pp in zip(ins[0][1:], k, s, sym))
    return sym if outs == tuple(node["shape"][1:]) else None


# --------------------------------------------------------------------------- convolutions


def _conv_kwargs(p: Any, dims: int) -> dict[str, Any]:
    return {
        "kernel_size": ntuple(p.kernel, dims, "kernel"),
        "stride": ntuple(p.stride, dims, "stride"),
        "dilation": ntuple(p.dilation, dims, "dilation"),
    }


def _conv(dims: int, cin: int, cout: int, pads: Any, groups: int, bias: bool,
          kw: dict[str, Any]) -> nn.Module:
    sym = _symmetric(pads)
    if sym is not None:
        return M.CONV[dims](cin, cout, padding=sym, groups=groups, bias=bias, **kw)
    return M.PADDED_CONV[dims](cin, cout, padding=0, groups=groups, bias=bias,
                               explicit_pad=torch_pad(pads), **kw)


@lowering("conv1d", "conv2d", "conv3d")
def lower_conv(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.ConvNd`` (grouped, dilated); asymmetric pads → :class:`PaddedConv2d`."""
    p, dims = node["params"], _dims(node)
    return _conv(dims, ins[0][0], p.filters, node["attrs"]["pads"], p.groups, p.bias,
                 _conv_kwargs(p, dims))


@lowering("depthwise_conv1d", "depthwise_conv2d")
def lower_depthwise(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.ConvNd(C, C·M, groups=C)``: output channel ``c·M + m``."""
    p, dims = node["params"], _dims(node)
    c = ins[0][0]
    return _conv(dims, c, c * p.multiplier, node["attrs"]["pads"], c, p.bias,
                 _conv_kwargs(p, dims))


@lowering("separable_conv1d", "separable_conv2d")
def lower_separable(node: Node, ins: list[Shape]) -> nn.Module:
    """:class:`SeparableConv`: depthwise (``bias=False``) + pointwise 1×1 (with bias)."""
    p, dims = node["params"], _dims(node)
    c = ins[0][0]
    cm = c * p.multiplier
    depthwise = _conv(dims, c, cm, node["attrs"]["pads"], c, False, _conv_kwargs(p, dims))
    pointwise = M.CONV[dims](cm, p.filters, kernel_size=1, bias=p.bias)
    return M.SeparableConv(depthwise, pointwise)


@lowering("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def lower_transposed(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.ConvTransposeNd`` with ``padding``/``output_padding`` when the IR crops allow it.

    Crops ``(b, e)`` are native when ``b = padding`` and ``output_padding = b − e`` is in
    ``[0, max(stride, dilation))``. Otherwise ``padding=0`` (``output_padding = −e`` for a
    negative ``e``) and a slice: :class:`CroppedConvTranspose2d`.
    """
    p, dims = node["params"], _dims(node)
    kw = _conv_kwargs(p, dims)
    crops = node["attrs"]["crops"]
    limit = [max(s, d) for s, d in zip(kw["stride"], kw["dilation"])]
    cin = ins[0][0]
    if all(b >= 0 and 0 <= b - e < lim for (b, e), lim in zip(crops, limit)):
        return M.CONV_T[dims](cin, p.filters, padding=tuple(b for b, _ in crops),
                              output_padding=tuple(b - e for b, e in crops), bias=p.bias, **kw)
    opad = tuple(max(-e, 0) for _, e in crops)
    if any(op >= lim for op, lim in zip(opad, limit)):
        raise BackendError(f"transposed convolution crops {crops} cannot be lowered to PyTorch")
    out = node["shape"][1:]
    crop = tuple((b, b + n) for (b, _), n in zip(crops, out))
    return M.CROPPED_CONV_T[dims](cin, p.filters, padding=0, output_padding=opad, bias=p.bias,
                                  crop=crop, **kw)


# --------------------------------------------------------------------------- pooling


@lowering("max_pool1d", "max_pool2d", "max_pool3d")
def lower_max_pool(node: Node, ins: list[Shape]) -> nn.Module:
    """Native ``nn.MaxPoolNd`` when it can pad; else −∞ ``F.pad`` + pool (``PaddedMaxPool2d``)."""
    p, dims = node["params"], _dims(node)
    k = ntuple(p.pool, dims, "pool")
    s = ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")
    sym = _native_pool_padding(node, ins)
    if sym is not None:
        return M.MAX_POOL[dims](k, s, padding=sym, ceil_mode=p.ceil_mode)
    return M.PADDED_MAX_POOL[dims](k, s, padding=0, explicit_pad=torch_pad(node["attrs"]["pads"]))


@lowering("avg_pool1d", "avg_pool2d", "avg_pool3d")
def lower_avg_pool(node: Node, ins: list[Shape]) -> nn.Module:
    """Native ``nn.AvgPoolNd(count_include_pad=...)`` when its divisor rule is the IR's.

    PyTorch divides by the window clipped to input + symmetric padding (``count_include_pad``)
    or to the input, never counting ``ceil_mode``'s extra end cells: exactly
    :func:`~archdsl.layers.pool.avg_pool_divisor` whenever the counted padding is symmetric
    and native. Otherwise :class:`SumPool` divides a zero-padded window sum by that divisor.
    """
    p, dims = node["params"], _dims(node)
    k = ntuple(p.pool, dims, "pool")
    s = ntuple(p.stride if p.stride is not None else p.pool, dims, "stride")
    sym = _native_pool_padding(node, ins)
    if sym is not None:
        return M.AVG_POOL[dims](k, s, padding=sym, ceil_mode=p.ceil_mode,
                                count_include_pad=p.count_include_pad)
    pads, counted = node["attrs"]["pads"], node["attrs"]["counted_pads"]
    divisor = avg_pool_divisor(ins[0][1:], k, s, pads, counted, p.count_include_pad)
    return M.SumPool(dims, k, s, torch_pad(pads), divisor)


@lowering("global_avg_pool")
def lower_global_avg(node: Node, ins: list[Shape]) -> nn.Module:
    """Mean over all spatial dimensions (``keepdims`` kept)."""
    return M.GlobalAvgPool(len(ins[0]) - 1, node["params"].keepdims)


@lowering("global_max_pool")
def lower_global_max(node: Node, ins: list[Shape]) -> nn.Module:
    """Max over all spatial dimensions (``keepdims`` kept)."""
    return M.GlobalMaxPool(len(ins[0]) - 1, node["params"].keepdims)


# --------------------------------------------------------------------------- normalization

_BN: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d,
                                   4: nn.BatchNorm3d}
_BN_HAS_BIAS = "bias" in inspect.signature(nn.BatchNorm2d.__init__).parameters


@lowering("batchnorm")
def lower_batchnorm(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.BatchNorm1d/2d/3d`` by input rank, momentum and eps from the IR (torch convention).

    ``center: false`` uses the native ``bias=False``; otherwise, without γ or β, the module is
    built with ``affine=False`` and gets only the parameters the IR counts (``weight`` = γ,
    ``bias`` = β), so parameter counts stay exact.
    """
    p = node["params"]
    c = ins[0][0]
    cls = _BN.get(len(ins[0]), M.BatchNormNd)
    kw: dict[str, Any] = {"eps": p.eps, "momentum": p.momentum, "track_running_stats": True}
    if p.scale and p.center:
        return cls(c, affine=True, **kw)
    if p.scale and _BN_HAS_BIAS:
        return cls(c, affine=True, bias=False, **kw)
    bn = cls(c, affine=False, **kw)
    if p.scale:
        bn.weight = nn.Parameter(torch.ones(c))
    if p.center:
        bn.bias = nn.Parameter(torch.zeros(c))
    return bn


@lowering("dropout")
def lower_dropout(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.Dropout(rate)`` (inverted scaling in training, identity in eval)."""
    return nn.Dropout(node["params"].rate)


_SPATIAL_DROPOUT: dict[int, type[nn.Module]] = {2: nn.Dropout1d, 3: nn.Dropout2d, 4: nn.Dropout3d}


@lowering("spatial_dropout")
def lower_spatial_dropout(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.Dropout1d/2d/3d`` by the number of spatial dimensions (whole channels dropped)."""
    return _SPATIAL_DROPOUT[len(ins[0])](node["params"].rate)


# --------------------------------------------------------------------------- activations

_SIMPLE: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "swish": nn.SiLU,
    "hard_swish": nn.Hardswish,
    "tanh": nn.Tanh,
}


def _simple(cls: type[nn.Module]) -> Lowering:
    def lower(node: Node, ins: list[Shape]) -> nn.Module:
        return cls()

    lower.__doc__ = f"``nn.{cls.__name__}()``"
    return lower


for _key, _cls in _SIMPLE.items():
    LOWERINGS[_key] = _simple(_cls)


@lowering("leaky_relu")
def lower_leaky_relu(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.LeakyReLU(negative_slope)`` with the IR's slope."""
    return nn.LeakyReLU(node["params"].negative_slope)


@lowering("elu")
def lower_elu(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.ELU(alpha)``."""
    return nn.ELU(node["params"].alpha)


@lowering("gelu")
def lower_gelu(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.GELU(approximate='none'|'tanh')``."""
    return nn.GELU(approximate=node["params"].approximate)


def _batch_axis(axis: int) -> int:
    """IR axis (batch excluded) → tensor dim (batch first); negative axes stay."""
    return axis + 1 if axis >= 0 else axis


@lowering("softmax")
def lower_softmax(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.Softmax(dim=axis + 1)`` (negative axes unchanged)."""
    return nn.Softmax(dim=_batch_axis(node["params"].axis))


# --------------------------------------------------------------------------- structure


@lowering("flatten")
def lower_flatten(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.Flatten(1)``: channel-first order, the IR's order."""
    return nn.Flatten(1)


@lowering("dense")
def lower_dense(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.Linear(features, units, bias)``."""
    p = node["params"]
    return nn.Linear(ins[0][0], p.units, bias=p.bias)


@lowering("add")
def lower_add(node: Node, ins: list[Shape]) -> nn.Module:
    """Sum of the inputs."""
    return M.Add()


@lowering("multiply")
def lower_multiply(node: Node, ins: list[Shape]) -> nn.Module:
    """Broadcasting product of the inputs."""
    return M.Multiply()


@lowering("concat")
def lower_concat(node: Node, ins: list[Shape]) -> nn.Module:
    """``torch.cat(dim=axis + 1)`` (negative axes unchanged)."""
    return M.Concat(_batch_axis(node["params"].axis))


@lowering("identity")
def lower_identity(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.Identity()``."""
    return nn.Identity()


@lowering("scale")
def lower_scale(node: Node, ins: list[Shape]) -> nn.Module:
    """``x * factor``."""
    return M.Scale(node["params"].factor)


_ZERO_PAD: dict[int, type[nn.Module]] = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d, 3: nn.ZeroPad3d}


@lowering("zero_padding")
def lower_zero_padding(node: Node, ins: list[Shape]) -> nn.Module:
    """``nn.ZeroPad1d/2d/3d`` with the IR's (possibly asymmetric) pads."""
    pads = node["attrs"]["pads"]
    cls = _ZERO_PAD.get(len(pads))
    return cls(torch_pad(pads)) if cls is not None else M.Pad(torch_pad(pads))


def lower_node(node_id: str, node: Node, ins: list[Shape]) -> nn.Module:
    """Lower one node, with a :class:`BackendError` naming it when its type has no lowering."""
    fn = LOWERINGS.get(node["type"])
    if fn is None:
        raise BackendError(f"node '{node_id}': the torch backend has no lowering for "
                           f"layer type '{node['type']}'", node.get("loc"))
    return fn(node, ins)


__all__ = ["LOWERINGS", "lower_node", "lowering", "torch_pad"]
