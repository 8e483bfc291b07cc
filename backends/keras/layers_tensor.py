"""Custom Keras layers for tensor operations on any axis, written with ``keras.ops`` only.

Their axes are *physical*: the axes of the batched tensor as Keras stores it (the lowerings
map IR axes through :func:`~archdsl.backends.keras.layout.axis_in`), so a layer that follows a
channels-last input and one that reads IR-order tokens are the same class.

* :class:`AxisSlice`: ``x[start:stop:step]`` along one axis,
* :class:`AxisPad`: constant padding of any axes (``ZeroPadding*D`` pads spatial axes with
  zeros only),
* :class:`Roll`: ``keras.ops.roll`` over several axes,
* :class:`Take`: gather along an axis by a fixed index (Swin's relative position bias),
* :class:`Mean`: the mean over axes,
* :class:`MatMul`: ``a @ b`` between two activations, either transposed on its last two axes.

Example:
    >>> import keras
    >>> x = keras.Input((4, 6))
    >>> AxisSlice(2, 1, None, 2)(x).shape, Take((0, 0, 3), 1)(x).shape
    ((None, 4, 3), (None, 3, 6))
    >>> MatMul(transpose_b=True)([x, x]).shape
    (None, 4, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from .layers_common import PACKAGE

Shape = Sequence[int | None]


def _sliced(n: int | None, start: int, stop: int | None, step: int) -> int | None:
    return None if n is None else len(range(*slice(start, stop, step).indices(n)))


@keras.saving.register_keras_serializable(package=PACKAGE)
class AxisSlice(keras.layers.Layer):
    """``x[start:stop:step]`` along the batched tensor's ``axis`` (Python's slicing rules).

    Example:
        >>> x = keras.ops.reshape(keras.ops.arange(6.0), (1, 6))
        >>> keras.ops.convert_to_numpy(AxisSlice(1, -4, 5, 2)(x)).tolist()
        [[2.0, 4.0]]
    """

    def __init__(self, axis: int, start: int = 0, stop: int | None = None, step: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis, self.start, self.step = int(axis), int(start), int(step)
        self.stop = None if stop is None else int(stop)

    def call(self, inputs: Any) -> Any:
        index = (*([slice(None)] * self.axis), slice(self.start, self.stop, self.step))
        return inputs[index]

    def compute_output_shape(self, input_shape: Shape) -> tuple:
        out = list(input_shape)
        out[self.axis] = _sliced(out[self.axis], self.start, self.stop, self.step)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "start": self.start,
                "stop": self.stop, "step": self.step}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AxisPad(keras.layers.Layer):
    """Pad the batched tensor with ``value``: ``pads[i]`` is the ``(before, after)`` pair of
    axis ``i`` (the batch's pair included, normally ``(0, 0)``).

    Example:
        >>> y = AxisPad(((0, 0), (1, 2)), value=-1.0)(keras.ops.ones((1, 2)))
        >>> keras.ops.convert_to_numpy(y).tolist()
        [[-1.0, 1.0, 1.0, -1.0, -1.0]]
    """

    def __init__(self, pads: Sequence[Sequence[int]], value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pads = tuple((int(b), int(a)) for b, a in pads)
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        return ops.pad(inputs, self.pads, mode="constant", constant_values=self.value)

    def compute_output_shape(self, input_shape: Shape) -> tuple:
        return tuple(None if n is None else n + b + a
                     for n, (b, a) in zip(input_shape, self.pads))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pads": [list(p) for p in self.pads],
                "value": self.value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Roll(keras.layers.Layer):
    """Cyclic shift along axes of the batched tensor (``torch.roll``): element ``i`` moves to
    ``i + shift``.

    Example:
        >>> x = keras.ops.reshape(keras.ops.arange(4.0), (1, 4))
        >>> keras.ops.convert_to_numpy(Roll((1,), (1,))(x)).tolist()
        [[3.0, 0.0, 1.0, 2.0]]
    """

    def __init__(self, shifts: Sequence[int], axes: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shifts = tuple(int(s) for s in shifts)
        self.axes = tuple(int(a) for a in axes)

    def call(self, inputs: Any) -> Any:
        return ops.roll(inputs, list(self.shifts), axis=list(self.axes))

    def compute_output_shape(self, input_shape: Shape) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shifts": list(self.shifts), "axes": list(self.axes)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Take(keras.layers.Layer):
    """Entries of the batched tensor's ``axis`` gathered by a fixed ``index`` list.

    Example:
        >>> x = keras.ops.reshape(keras.ops.arange(3.0), (1, 3))
        >>> keras.ops.convert_to_numpy(Take((2, 2, 0), 1)(x)).tolist()
        [[2.0, 2.0, 0.0]]
    """

    def __init__(self, index: Sequence[int], axis: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = tuple(int(i) for i in index)
        self.axis = int(axis)

    def call(self, inputs: Any) -> Any:
        return ops.take(inputs, ops.convert_to_tensor(self.index, "int32"), axis=self.axis)

    def compute_output_shape(self, input_shape: Shape) -> tuple:
        out = list(input_shape)
        out[self.axis] = len(self.index)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "index": list(self.index), "axis": self.axis}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Mean(keras.layers.Layer):
    """The mean over ``axes`` of the batched tensor.

    Example:
        >>> x = keras.ops.reshape(keras.ops.arange(6.0), (1, 2, 3))
        >>> keras.ops.convert_to_numpy(Mean((2,))(x)).tolist()
        [[1.0, 4.0]]
    """

    def __init__(self, axes: Sequence[int], keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes = tuple(int(a) for a in axes)
        self.keepdims = bool(keepdims)

    def call(self, inputs: Any) -> Any:
        return ops.mean(inputs, axis=self.axes, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape: Shape) -> tuple:
        if self.keepdims:
            return tuple(1 if i in self.axes else n for i, n in enumerate(input_shape))
        return tuple(n for i, n in enumerate(input_shape) if i not in self.axes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": list(self.axes), "keepdims": self.keepdims}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MatMul(keras.layers.Layer):
    """``a @ b`` over the last two axes of two inputs, ``transpose_a``/``transpose_b``
    swapping an operand's last two axes first.

    Example:
        >>> a = keras.ops.reshape(keras.ops.arange(4.0), (1, 2, 2))
        >>> keras.ops.convert_to_numpy(MatMul(transpose_b=True)([a, a])).tolist()
        [[[1.0, 3.0], [3.0, 13.0]]]
    """

    def __init__(self, transpose_a: bool = False, transpose_b: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transpose_a, self.transpose_b = bool(transpose_a), bool(transpose_b)

    def call(self, inputs: Sequence[Any]) -> Any:
        a, b = inputs
        if self.transpose_a:
            a = ops.swapaxes(a, -1, -2)
        if self.transpose_b:
            b = ops.swapaxes(b, -1, -2)
        return ops.matmul(a, b)

    def compute_output_shape(self, input_shape: Sequence[Shape]) -> tuple:
        a, b = (list(s) for s in input_shape)
        n = a[-1] if self.transpose_a else a[-2]
        m = b[-2] if self.transpose_b else b[-1]
        return (*a[:-2], n, m)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "transpose_a": self.transpose_a,
                "transpose_b": self.transpose_b}


__all__ = ["AxisPad", "AxisSlice", "MatMul", "Mean", "Roll", "Take"]
