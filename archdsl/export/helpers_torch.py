'''The helper classes a generated PyTorch file may need, as source text.

Each is the standalone twin of a module of the torch lowering (``backends/torch/modules*.py``):
same computation, same parameter names, written to be scriptable (``torch.jit.script``) and to
import nothing but torch. :func:`helper_source` returns the ones a file uses, dependencies
first.

Example:
    >>> print(helper_source(["GlobalAvgPool"]).splitlines()[0])
    class GlobalAvgPool(nn.Module):
'''

from __future__ import annotations

import inspect
from collections.abc import Iterable

from archdsl.export.code import dependency_order

_PADDED_CONV = '''
class PaddedConv{n}d(nn.Conv{n}d):
    """nn.Conv{n}d after an explicit, possibly asymmetric zero padding (F.pad order)."""

    def __init__(
        self, *args: Any, explicit_pad: Tuple[int, ...], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.explicit_pad = list(explicit_pad)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(F.pad(x, self.explicit_pad), self.weight, self.bias)
'''

_PADDED_MAX_POOL = '''
class PaddedMaxPool{n}d(nn.Module):
    """Max pooling after an explicit -inf padding (F.pad order): padded cells never win."""

    def __init__(
        self, kernel_size: Any, stride: Any, explicit_pad: Tuple[int, ...]
    ) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, {n})
        self.stride = _ntuple(stride, {n})
        self.explicit_pad = list(explicit_pad)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.explicit_pad, value=float("-inf"))
        return F.max_pool{n}d(x, self.kernel_size, self.stride)
'''

_SUM_POOL = '''
class SumPool{n}d(nn.Module):
    """Average pooling as a window sum divided by the cells each window counts (PyTorch's
    divisor for any padding: ``counts`` per axis, their outer product the divisor)."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any,
        explicit_pad: Tuple[int, ...],
        counts: List[List[int]],
    ) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, {n})
        self.stride = _ntuple(stride, {n})
        self.explicit_pad = list(explicit_pad)
        divisor = torch.ones([len(c) for c in counts])
        for axis, c in enumerate(counts):
            shape = [1] * len(counts)
            shape[axis] = len(c)
            divisor = divisor * torch.tensor(c, dtype=torch.float32).reshape(shape)
        self.register_buffer("divisor", divisor, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.explicit_pad)
{body}        return s / self.divisor
'''
_SUM_BODY = {
    1: "        s = F.avg_pool2d(\n"
       "            x.unsqueeze(-2),\n"
       "            [1, self.kernel_size[0]],\n"
       "            [1, self.stride[0]],\n"
       "            divisor_override=1,\n"
       "        ).squeeze(-2)\n",
    2: "        s = F.avg_pool2d(x, self.kernel_size, self.stride, divisor_override=1)\n",
    3: "        s = F.avg_pool3d(x, self.kernel_size, self.stride, divisor_override=1)\n",
}

_PARTIAL_BN = '''
class PartialBatchNorm{n}d(nn.BatchNorm{n}d):
    """nn.BatchNorm{n}d with only the affine parameters asked for (scale, center)."""

    def __init__(
        self, num_features: int, *, scale: bool, center: bool, **kwargs: Any
    ) -> None:
        super().__init__(num_features, affine=False, **kwargs)
        if scale:
            self.weight = nn.Parameter(torch.ones(num_features))
        if center:
            self.bias = nn.Parameter(torch.zeros(num_features))
'''

_CROPPED = '''
class CroppedConvTranspose{n}d(nn.ConvTranspose{n}d):
    """nn.ConvTranspose{n}d followed by a crop (start, stop) per spatial dimension."""

    def __init__(self, *args: Any, crop: Tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crop = list(crop)

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv_transpose{n}d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )
        c = self.crop
        return y[{index}]
'''
_CROP_INDEX = {1: ":, :, c[0] : c[1]", 2: ":, :, c[0] : c[1], c[2] : c[3]",
               3: ":, :, c[0] : c[1], c[2] : c[3], c[4] : c[5]"}

_STATIC = {
    "_ntuple": '''
def _ntuple(value: Any, n: int) -> List[int]:
    return list(value) if isinstance(value, (tuple, list)) else [value] * n
''',
    "SeparableConv": '''
class SeparableConv(nn.Module):
    """A depthwise convolution (no bias) then a pointwise 1x1 convolution."""

    def __init__(self, depthwise: nn.Module, pointwise: nn.Module) -> None:
        super().__init__()
        self.depthwise = depthwise
        self.pointwise = pointwise

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))
''',
    "GlobalAvgPool": '''
class GlobalAvgPool(nn.Module):
    """The mean over every spatial dimension."""

    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(list(range(2, x.dim())), keepdim=self.keepdim)
''',
    "GlobalMaxPool": '''
class GlobalMaxPool(nn.Module):
    """The maximum over every spatial dimension."""

    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: Tensor) -> Tensor:
        return x.amax(list(range(2, x.dim())), keepdim=self.keepdim)
''',
    "ChannelLayerNorm": '''
class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels (dim 1) of a (N, C, *S) map."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(
            x.movedim(1, -1), self.normalized_shape, self.weight, self.bias, self.eps
        )
        return y.movedim(-1, 1)
''',
    "Take": '''
class Take(nn.Module):
    """x.index_select(dim, index) with a fixed index."""

    def __init__(self, index: List[int], dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("index", torch.tensor(index), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x.index_select(self.dim, self.index)
''',
    "NearestGather": '''
class NearestGather(nn.Module):
    """Nearest-neighbour resampling by fixed source indices per spatial axis."""

    def __init__(self, indices: List[List[int]]) -> None:
        super().__init__()
        self.indices = indices

    def forward(self, x: Tensor) -> Tensor:
        for axis, index in enumerate(self.indices):
            x = x.index_select(2 + axis, torch.tensor(index, device=x.device))
        return x
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """Multiply by a learned factor per channel (followed by `trailing` axes)."""

    def __init__(self, channels: int, init: float = 1e-6, trailing: int = 0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((channels,), init))
        self.shape = [-1] + [1] * trailing

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.view(self.shape)
''',
    "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """Drop whole samples with probability p in training (torchvision's row mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.dim() - 1)
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)
''',
    "Parameter": '''
class Parameter(nn.Module):
    """A learned tensor `value`, repeated over the batch of the input."""

    def __init__(self, shape: Tuple[int, ...], trainable: bool = True) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(shape), requires_grad=trainable)
        self.ones = [1] * len(shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.value.unsqueeze(0).repeat([x.shape[0]] + self.ones)
''',
    "SelfAttention": '''
class SelfAttention(nn.Module):
    """Multi-head self-attention on (N, L, D) tokens."""

    def __init__(
        self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(
            dim, heads, dropout=dropout, bias=bias, batch_first=True
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.mha(x, x, x, need_weights=False)[0]
''',
}

#: helper → the helpers it uses
_DEPS = {f"{kind}{n}d": ("_ntuple",) for kind in ("PaddedMaxPool", "SumPool") for n in (1, 2, 3)}


def _source(name: str) -> str:
    if name.startswith("const:"):
        from archdsl.layers import constants

        return "\n" + inspect.getsource(constants.CONSTANTS[name[6:]])
    if name in _STATIC:
        return _STATIC[name]
    n = int(name[-2])
    if name.startswith("PaddedConv"):
        return _PADDED_CONV.format(n=n)
    if name.startswith("PaddedMaxPool"):
        return _PADDED_MAX_POOL.format(n=n)
    if name.startswith("SumPool"):
        return _SUM_POOL.format(n=n, body=_SUM_BODY[n])
    if name.startswith("PartialBatchNorm"):
        return _PARTIAL_BN.format(n=n)
    if name.startswith("CroppedConvTranspose"):
        return _CROPPED.format(n=n, index=_CROP_INDEX[n])
    raise KeyError(f"no torch helper '{name}'")


def helper_names() -> list[str]:
    """Every helper this module can write."""
    dims = (1, 2, 3)
    kinds = ("PaddedConv", "PaddedMaxPool", "SumPool", "CroppedConvTranspose",
             "PartialBatchNorm")
    return [*_STATIC, *(f"{k}{n}d" for k in kinds for n in dims)]


def helper_source(names: Iterable[str]) -> str:
    """The source of the helpers ``names`` and their dependencies, dependencies first,
    separated by two blank lines."""
    order = dependency_order(names, _DEPS)
    return "\n\n".join(_source(n).strip("\n") for n in order)


__all__ = ["helper_names", "helper_source"]
