"""Tensor operations on any axis as small modules: reshape, permute, slice, pad, roll, take,
mean and matmul between activations.

Each module takes IR axes (batch excluded, negative from the end) and shifts them by one for
the batch, so ``Permute((1, 0))`` turns tokens ``(N, D, L)`` into ``(N, L, D)``. Every forward
is one tensor expression: the modules trace with ``torch.fx`` and compile with
``torch.compile(fullgraph=True)``.

Example:
    >>> import torch
    >>> x = torch.arange(24.0).reshape(1, 2, 3, 4)
    >>> Reshape((2, 12))(x).shape, Permute((1, 0))(Reshape((2, 12))(x)).shape
    (torch.Size([1, 2, 12]), torch.Size([1, 12, 2]))
    >>> Slice(0, 1, None, 1, rank=3)(x).shape
    torch.Size([1, 1, 3, 4])
    >>> Take((2, 0), -1, rank=3)(x)[0, 0, 0].tolist()
    [2.0, 0.0]
    >>> MatMul(transpose_b=True)(x, x).shape
    torch.Size([1, 2, 3, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def dim_of(axis: int, rank: int) -> int:
    """An IR axis (batch excluded, may be negative) of a rank-``rank`` IR shape → the tensor dim.

    >>> dim_of(0, 3), dim_of(-1, 3)
    (1, 3)
    """
    return axis % rank + 1


class Reshape(nn.Module):
    """``x.reshape(N, *shape)``: row-major (PyTorch's) element order, the IR's."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1).unflatten(1, self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """``x.permute(0, *(d + 1 for d in dims))``: output axis i is input axis dims[i]."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        self._order = (0, *(d + 1 for d in self.dims))

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self._order)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Slice(nn.Module):
    """``x[start:stop:step]`` along IR axis ``axis`` of a rank-``rank`` IR shape."""

    def __init__(self, axis: int, start: int, stop: int | None, step: int, *, rank: int) -> None:
        super().__init__()
        self.axis, self.start, self.stop, self.step = int(axis), int(start), stop, int(step)
        self._index = (*([slice(None)] * dim_of(axis, rank)), slice(start, stop, step))

    def forward(self, x: Tensor) -> Tensor:
        return x[self._index]

    def extra_repr(self) -> str:
        return f"axis={self.axis}, start={self.start}, stop={self.stop}, step={self.step}"


class Roll(nn.Module):
    """``torch.roll``: element ``i`` moves to ``i + shift`` along each IR axis."""

    def __init__(self, shifts: Sequence[int], axes: Sequence[int], *, rank: int) -> None:
        super().__init__()
        self.shifts = tuple(int(s) for s in shifts)
        self.axes = tuple(int(a) for a in axes)
        self._dims = tuple(dim_of(a, rank) for a in self.axes)

    def forward(self, x: Tensor) -> Tensor:
        return torch.roll(x, self.shifts, self._dims)

    def extra_repr(self) -> str:
        return f"shifts={self.shifts}, axes={self.axes}"


class Take(nn.Module):
    """``x.index_select(axis, index)`` with a fixed index (a non-persistent buffer: it follows
    ``.to(device)``, stays integer under ``.to(dtype)`` and is no weight)."""

    index: Tensor

    def __init__(self, index: Sequence[int], axis: int, *, rank: int) -> None:
        super().__init__()
        self.axis = int(axis)
        self._dim = dim_of(axis, rank)
        self.register_buffer("index", torch.as_tensor(list(index), dtype=torch.long),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x.index_select(self._dim, self.index)

    def extra_repr(self) -> str:
        return f"axis={self.axis}, entries={self.index.numel()}"


class Mean(nn.Module):
    """``x.mean(dims, keepdim)`` over IR axes."""

    def __init__(self, axes: Sequence[int], keepdims: bool, *, rank: int) -> None:
        super().__init__()
        self.axes = tuple(int(a) for a in axes)
        self.keepdims = bool(keepdims)
        self._dims = tuple(dim_of(a, rank) for a in self.axes)

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(self._dims, keepdim=self.keepdims)

    def extra_repr(self) -> str:
        return f"axes={self.axes}, keepdims={self.keepdims}"


class MatMul(nn.Module):
    """``a @ b`` over the last two axes, either operand transposed first."""

    def __init__(self, transpose_a: bool = False, transpose_b: bool = False) -> None:
        super().__init__()
        self.transpose_a, self.transpose_b = bool(transpose_a), bool(transpose_b)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if self.transpose_a:
            a = a.transpose(-1, -2)
        if self.transpose_b:
            b = b.transpose(-1, -2)
        return torch.matmul(a, b)

    def extra_repr(self) -> str:
        return f"transpose_a={self.transpose_a}, transpose_b={self.transpose_b}"


__all__ = ["MatMul", "Mean", "Permute", "Reshape", "Roll", "Slice", "Take", "dim_of"]
