"""The few modules torch.nn lacks, each a thin subclass or a one-line forward.

Native modules are used wherever they compute exactly what the IR says. The classes here cover
the rest and keep the native parameter names, so state-dict keys stay ``<node>.weight``:

* :class:`PaddedConv2d` (and 1d/3d), :class:`PaddedMaxPool2d` (and 1d/3d): an explicit,
  possibly asymmetric ``F.pad`` (zeros for convolutions, −∞ for max pooling) before the native
  forward with ``padding=0``,
* :class:`CroppedConvTranspose2d` (and 1d/3d): the native transposed convolution, then a slice
  (cropping PyTorch's ``padding``/``output_padding`` cannot express),
* :class:`SumPool` ``/`` divisor: average pooling with a precomputed divisor per output cell,
* :class:`SeparableConv`: depthwise (no bias) then pointwise 1×1 convolution,
* merges and small ops: :class:`Add`, :class:`Concat`, :class:`Multiply`, :class:`Scale`,
  :class:`GlobalAvgPool`, :class:`GlobalMaxPool`, :class:`Pad`, :class:`BatchNormNd`.

Example:
    >>> import torch
    >>> conv = PaddedConv2d(1, 1, 3, stride=2, explicit_pad=(0, 1, 0, 1))
    >>> conv(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 1, 4, 4])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --------------------------------------------------------------------------- explicit padding


class _ExplicitPad:
    """Mixin: pad the input with ``F.pad(x, explicit_pad, value=pad_value)`` first.

    ``explicit_pad`` is in ``F.pad`` order (last dimension first: left, right, top, bottom...).
    """

    explicit_pad: tuple[int, ...]
    pad_value: float

    def _init_pad(self, explicit_pad: tuple[int, ...], pad_value: float) -> None:
        self.explicit_pad = tuple(int(p) for p in explicit_pad)
        self.pad_value = float(pad_value)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.explicit_pad, value=self.pad_value))  # type: ignore[misc]

    def extra_repr(self) -> str:
        base = super().extra_repr()  # type: ignore[misc]
        return f"{base}, explicit_pad={self.explicit_pad}"


def _padded(base: type[nn.Module], name: str, value: float) -> type[nn.Module]:
    def __init__(self: Any, *args: Any, explicit_pad: tuple[int, ...], **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self._init_pad(explicit_pad, value)

    doc = (f"``nn.{base.__name__}`` after an explicit ``F.pad`` with value {value} "
           "(``explicit_pad`` in F.pad order); keeps the native parameter names.")
    return type(name, (_ExplicitPad, base), {"__init__": __init__, "__doc__": doc,
                                              "__module__": __name__})


PaddedConv1d = _padded(nn.Conv1d, "PaddedConv1d", 0.0)
PaddedConv2d = _padded(nn.Conv2d, "PaddedConv2d", 0.0)
PaddedConv3d = _padded(nn.Conv3d, "PaddedConv3d", 0.0)
PaddedMaxPool1d = _padded(nn.MaxPool1d, "PaddedMaxPool1d", float("-inf"))
PaddedMaxPool2d = _padded(nn.MaxPool2d, "PaddedMaxPool2d", float("-inf"))
PaddedMaxPool3d = _padded(nn.MaxPool3d, "PaddedMaxPool3d", float("-inf"))

CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
PADDED_CONV: dict[int, type[nn.Module]] = {1: PaddedConv1d, 2: PaddedConv2d, 3: PaddedConv3d}
MAX_POOL: dict[int, type[nn.Module]] = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
PADDED_MAX_POOL: dict[int, type[nn.Module]] = {
    1: PaddedMaxPool1d, 2: PaddedMaxPool2d, 3: PaddedMaxPool3d,
}
AVG_POOL: dict[int, type[nn.Module]] = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
CONV_T: dict[int, type[nn.Module]] = {
    1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d,
}


# --------------------------------------------------------------------------- transposed conv


class _Cropped:
    """Mixin: slice the native transposed convolution's output (``crop``: per spatial dim)."""

    crop: tuple[tuple[int, int], ...]

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(x)  # type: ignore[misc]
        return y[self._index]

    def _init_crop(self, crop: tuple[tuple[int, int], ...]) -> None:
        self.crop = tuple((int(a), int(b)) for a, b in crop)
        self._index = (slice(None), slice(None), *(slice(a, b) for a, b in self.crop))

    def extra_repr(self) -> str:
        base = super().extra_repr()  # type: ignore[misc]
        return f"{base}, crop={self.crop}"


def _cropped(base: type[nn.Module], name: str) -> type[nn.Module]:
    def __init__(self: Any, *args: Any, crop: tuple[tuple[int, int], ...], **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self._init_crop(crop)

    doc = (f"``nn.{base.__name__}`` followed by ``y[..., a:b]`` per spatial dimension "
           "(``crop``: ((a, b), ...)); keeps the native parameter names.")
    return type(name, (_Cropped, base), {"__init__": __init__, "__doc__": doc,
                                          "__module__": __name__})


CroppedConvTranspose1d = _cropped(nn.ConvTranspose1d, "CroppedConvTranspose1d")
CroppedConvTranspose2d = _cropped(nn.ConvTranspose2d, "CroppedConvTranspose2d")
CroppedConvTranspose3d = _cropped(nn.ConvTranspose3d, "CroppedConvTranspose3d")
CROPPED_CONV_T: dict[int, type[nn.Module]] = {
    1: CroppedConvTranspose1d, 2: CroppedConvTranspose2d, 3: CroppedConvTranspose3d,
}


# --------------------------------------------------------------------------- pooling


class SumPool(nn.Module):
    """Average pooling as ``sum over the window / divisor`` with a per-cell divisor.

    ``explicit_pad`` (F.pad order) zero-pads first; ``divisor`` has the output's spatial shape
    and is a non-persistent buffer (it follows ``.to(dtype/device)`` but is not in the
    state dict).

    >>> import torch
    >>> m = SumPool(1, (3,), (1,), (1, 1), torch.tensor([2.0, 3.0, 3.0, 2.0]))
    >>> m(torch.ones(1, 1, 4)).tolist()
    [[[1.0, 1.0, 1.0, 1.0]]]
    """

    divisor: Tensor

    def __init__(self, dims: int, kernel: tuple[int, ...], stride: tuple[int, ...],
                 explicit_pad: tuple[int, ...], divisor: Tensor | np.ndarray) -> None:
        super().__init__()
        self.dims = dims
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.explicit_pad = tuple(int(p) for p in explicit_pad)
        self.register_buffer("divisor", torch.as_tensor(np.asarray(divisor)).float(),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if any(self.explicit_pad):
            x = F.pad(x, self.explicit_pad)
        if self.dims == 1:  # avg_pool1d has no divisor_override: pool a (1, L) plane
            s = F.avg_pool2d(x.unsqueeze(-2), (1, *self.kernel), (1, *self.stride),
                             divisor_override=1).squeeze(-2)
        elif self.dims == 2:
            s = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
        else:
            s = F.avg_pool3d(x, self.kernel, self.stride, divisor_override=1)
        return s / self.divisor

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel}, stride={self.stride}, "
                f"explicit_pad={self.explicit_pad}, divisor=per-cell")


class GlobalAvgPool(nn.Module):
    """Mean over the spatial dimensions (the last ``spatial`` dims)."""

    def __init__(self, spatial: int, keepdim: bool = False) -> None:
        super().__init__()
        self.dims = tuple(range(-spatial, 0))
        self.keepdim = keepdim

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=self.dims, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, keepdim={self.keepdim}"


class GlobalMaxPool(GlobalAvgPool):
    """Maximum over the spatial dimensions (the last ``spatial`` dims)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.amax(dim=self.dims, keepdim=self.keepdim)


# --------------------------------------------------------------------------- convolutions


class SeparableConv(nn.Module):
    """Depthwise convolution (``bias=False``) then a pointwise 1×1 convolution (with bias).

    State-dict keys: ``depthwise.weight``, ``pointwise.weight``, ``pointwise.bias``.
    """

    def __init__(self, depthwise: nn.Module, pointwise: nn.Module) -> None:
        super().__init__()
        self.depthwise = depthwise
        self.pointwise = pointwise

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


class BatchNormNd(nn.BatchNorm1d):
    """BatchNorm over the channel axis of an input with more than 3 spatial dimensions."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.flatten(2)).reshape(x.shape)


# --------------------------------------------------------------------------- merges and ops


class Add(nn.Module):
    """Element-wise sum of all inputs."""

    def forward(self, *xs: Tensor) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Element-wise product of all inputs, with broadcasting (SE gates)."""

    def forward(self, *xs: Tensor) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """``torch.cat`` along ``dim`` (batch included)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Scale(nn.Module):
    """Multiply by a constant ``factor``."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class Pad(nn.Module):
    """``F.pad`` with a constant (used for zero padding beyond 3 spatial dimensions)."""

    def __init__(self, padding: tuple[int, ...], value: float = 0.0) -> None:
        super().__init__()
        self.padding = tuple(int(p) for p in padding)
        self.value = float(value)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class Scope(nn.Module):
    """A container for the nodes of one block instance (``block1`` in ``block1.conv1``)."""
