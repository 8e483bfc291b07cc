'''The helper layers a generated Keras file may need, as source text.

Each is the standalone twin of a custom layer of the Keras lowering (``backends/keras/
layers_*.py``): same computation (float64-exact where the lowering is), same weight names,
written with ``keras.ops`` and numpy only and registered under :data:`PACKAGE`, so a ``.keras``
file saved from the generated model loads wherever the generated file was imported, with no
archdsl installed. :func:`helper_source` returns the ones a file uses, dependencies first.

Example:
    >>> print(helper_source(["Scale"]).splitlines()[:2])
    ['@keras.saving.register_keras_serializable(package=PACKAGE)', 'class Scale(layers.Layer):']
'''

from __future__ import annotations

import inspect
from collections.abc import Iterable

from archdsl.export.code import dependency_order
from archdsl.export.helpers_keras_resample import RESAMPLE_HELPERS

#: the Keras serialization package of the generated helper layers
PACKAGE = "archdsl_export"
_REG = "@keras.saving.register_keras_serializable(package=PACKAGE)"

_STATIC = {
    "Scale": '''
class Scale(layers.Layer):
    """Multiply by a constant (exact in float64, unlike Rescaling)."""

    def __init__(self, factor: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factor = float(factor)

    def call(self, inputs: Any) -> Any:
        return inputs * self._factor

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self._factor}
''',
    "LeakyReLU": '''
class LeakyReLU(layers.LeakyReLU):
    """LeakyReLU that is exact in float64."""

    def call(self, inputs: Any) -> Any:
        if keras.backend.standardize_dtype(inputs.dtype) != "float64":
            return super().call(inputs)
        return ops.where(inputs >= 0, inputs, inputs * self.negative_slope)
''',
    "GELU": '''
class GELU(layers.Layer):
    """GELU, exact (erf) or tanh-approximated, with float64 constants in float64."""

    def __init__(self, approximate: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def call(self, inputs: Any) -> Any:
        if keras.backend.standardize_dtype(inputs.dtype) != "float64":
            return keras.activations.gelu(inputs, approximate=self.approximate)
        x = inputs
        if self.approximate:
            inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1.0 + ops.tanh(inner))
        return 0.5 * x * (1.0 + ops.erf(x * 0.7071067811865476))

    def get_config(self) -> dict:
        return {**super().get_config(), "approximate": self.approximate}
''',
    "_pool": '''
def _pool(x: Any, mode: str, pool_size: Any, strides: Any, padding: str) -> Any:
    """ops.max_pool / ops.average_pool; 3-D float64 pooling as a 2-D pool over (H, W) then a
    1-D pool over D (TensorFlow's CPU has no float64 3-D pooling kernels)."""
    fn = ops.max_pool if mode == "max" else ops.average_pool
    if len(pool_size) != 3 or keras.backend.standardize_dtype(x.dtype) != "float64":
        return fn(x, pool_size, strides, padding=padding)
    depth, height, width, channels = (int(d) for d in x.shape[1:])
    y = ops.reshape(x, (-1, height, width, channels))
    y = fn(y, pool_size[1:], strides[1:], padding=padding)
    h2, w2 = int(y.shape[1]), int(y.shape[2])
    y = ops.reshape(y, (-1, depth, h2 * w2 * channels))
    y = fn(y, pool_size[:1], strides[:1], padding=padding)
    return ops.reshape(y, (-1, int(y.shape[1]), h2, w2, channels))
''',
    "Pooling3D": '''
class Pooling3D(layers.Layer):
    """3-D max or average pooling, also in float64 (see _pool)."""

    def __init__(
        self, mode: str, pool_size: Any, strides: Any, padding: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.mode, self.padding = mode, padding
        self.pool_size = [pool_size] * 3 if isinstance(pool_size, int) else list(pool_size)
        self.strides = [strides] * 3 if isinstance(strides, int) else list(strides)

    def call(self, inputs: Any) -> Any:
        return _pool(inputs, self.mode, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        out = list(input_shape)
        for i, (k, s) in enumerate(zip(self.pool_size, self.strides)):
            n = out[1 + i]
            if n is not None:
                out[1 + i] = -(-n // s) if self.padding == "same" else (n - k) // s + 1
        return tuple(out)

    def get_config(self) -> dict:
        config = {"mode": self.mode, "pool_size": self.pool_size, "strides": self.strides}
        return {**super().get_config(), **config, "padding": self.padding}
''',
    "ConstantPadding": '''
class ConstantPadding(layers.Layer):
    """Pad the spatial axes of a channels-last tensor with a constant (-inf before a max
    pool: padded cells never win)."""

    def __init__(self, pads: Any, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pads = [list(p) for p in pads]
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        width = [(0, 0), *[tuple(p) for p in self.pads], (0, 0)]
        return ops.pad(inputs, width, constant_values=self.value)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        out = list(input_shape)
        for i, (b, e) in enumerate(self.pads):
            out[1 + i] = None if out[1 + i] is None else out[1 + i] + b + e
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "pads": self.pads, "value": self.value}
''',
    "ExplicitAveragePooling": '''
class ExplicitAveragePooling(layers.Layer):
    """Average pooling with explicit zero padding and PyTorch's divisor: per axis, the
    cells each window counts (``counts``); the divisor is their outer product."""

    def __init__(
        self, pool_size: Any, strides: Any, pads: Any, counts: Any, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        n = len(counts)
        self.pool_size = [pool_size] * n if isinstance(pool_size, int) else list(pool_size)
        self.strides = [strides] * n if isinstance(strides, int) else list(strides)
        self.pads = [list(p) for p in pads]
        self.counts = [list(c) for c in counts]

    def build(self, input_shape: Any) -> None:
        divisor = np.ones([len(c) for c in self.counts])
        for axis, c in enumerate(self.counts):
            shape = [1] * len(self.counts)
            shape[axis] = len(c)
            divisor = divisor * np.reshape(np.asarray(c, "float64"), shape)
        self._factor = (np.prod(self.pool_size) / divisor)[..., None]

    def call(self, inputs: Any) -> Any:
        x = ops.pad(inputs, [(0, 0), *[tuple(p) for p in self.pads], (0, 0)])
        y = _pool(x, "average", self.pool_size, self.strides, "valid")
        return y * ops.cast(self._factor, y.dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "pads": self.pads,
            "counts": self.counts,
        }
''',
    "AxisSlice": '''
class AxisSlice(layers.Layer):
    """x[start:stop:step] along one axis of the batched tensor."""

    def __init__(
        self, axis: int, start: int = 0, stop: Any = None, step: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.axis, self.start, self.stop, self.step = axis, start, stop, step

    def call(self, inputs: Any) -> Any:
        index = [slice(None)] * self.axis + [slice(self.start, self.stop, self.step)]
        return inputs[tuple(index)]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        out = list(input_shape)
        n = out[self.axis]
        if n is not None:
            out[self.axis] = len(range(*slice(self.start, self.stop, self.step).indices(n)))
        return tuple(out)

    def get_config(self) -> dict:
        config = {"axis": self.axis, "start": self.start, "stop": self.stop}
        return {**super().get_config(), **config, "step": self.step}
''',
    "AxisPad": '''
class AxisPad(layers.Layer):
    """Pad the batched tensor with a constant, (before, after) per axis."""

    def __init__(self, pads: Any, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pads = [list(p) for p in pads]
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        pads = [tuple(p) for p in self.pads]
        return ops.pad(inputs, pads, mode="constant", constant_values=self.value)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(
            None if n is None else n + b + a for n, (b, a) in zip(input_shape, self.pads)
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "pads": self.pads, "value": self.value}
''',
    "Roll": '''
class Roll(layers.Layer):
    """Cyclic shift along axes of the batched tensor (torch.roll)."""

    def __init__(self, shifts: Any, axes: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shifts, self.axes = list(shifts), list(axes)

    def call(self, inputs: Any) -> Any:
        return ops.roll(inputs, self.shifts, axis=self.axes)

    def get_config(self) -> dict:
        return {**super().get_config(), "shifts": self.shifts, "axes": self.axes}
''',
    "Take": '''
class Take(layers.Layer):
    """Entries of one axis of the batched tensor, gathered by a fixed index."""

    def __init__(self, index: Any, axis: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index, self.axis = [int(i) for i in index], axis

    def call(self, inputs: Any) -> Any:
        index = ops.convert_to_tensor(self.index, "int32")
        return ops.take(inputs, index, axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        out = list(input_shape)
        out[self.axis] = len(self.index)
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "index": self.index, "axis": self.axis}
''',
    "Mean": '''
class Mean(layers.Layer):
    """The mean over some axes of the batched tensor."""

    def __init__(self, axes: Any, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes, self.keepdims = list(axes), keepdims

    def call(self, inputs: Any) -> Any:
        return ops.mean(inputs, axis=tuple(self.axes), keepdims=self.keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "keepdims": self.keepdims}
''',
    "MatMul": '''
class MatMul(layers.Layer):
    """a @ b over the last two axes, either operand transposed first."""

    def __init__(
        self, transpose_a: bool = False, transpose_b: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.transpose_a, self.transpose_b = transpose_a, transpose_b

    def call(self, inputs: Any) -> Any:
        a, b = inputs
        if self.transpose_a:
            a = ops.swapaxes(a, -1, -2)
        if self.transpose_b:
            b = ops.swapaxes(b, -1, -2)
        return ops.matmul(a, b)

    def get_config(self) -> dict:
        config = {"transpose_a": self.transpose_a, "transpose_b": self.transpose_b}
        return {**super().get_config(), **config}
''',
    "LayerScale": '''
class LayerScale(layers.Layer):
    """Multiply the last axis by a learned factor per entry."""

    def __init__(self, init: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.init = float(init)

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(
            name="scale",
            shape=(int(input_shape[-1]),),
            initializer=keras.initializers.Constant(self.init),
        )

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale

    def get_config(self) -> dict:
        return {**super().get_config(), "init": self.init}
''',
    "StochasticDepth": '''
class StochasticDepth(layers.Layer):
    """Drop whole samples with probability rate in training; identity in inference."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed_generator = keras.random.SeedGenerator()

    def call(self, inputs: Any, training: Any = None) -> Any:
        if not training or self.rate == 0.0:
            return inputs
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        u = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        return inputs * ops.cast(u >= self.rate, inputs.dtype) / (1.0 - self.rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}
''',
    "Parameter": '''
class Parameter(layers.Layer):
    """A tensor `value` (learned or fixed), repeated over the batch of the input."""

    def __init__(self, shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value_shape = tuple(int(d) for d in shape)

    def build(self, input_shape: Any) -> None:
        self.value = self.add_weight(
            name="value",
            shape=self.value_shape,
            initializer="zeros",
            trainable=self.trainable,
        )

    def call(self, inputs: Any) -> Any:
        value = ops.expand_dims(ops.convert_to_tensor(self.value, self.compute_dtype), 0)
        return ops.broadcast_to(value, (ops.shape(inputs)[0], *self.value_shape))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], *self.value_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": list(self.value_shape)}
''',
    "SelfAttention": '''
class SelfAttention(layers.MultiHeadAttention):
    """MultiHeadAttention called as layer(x, x), scaled by a Python float (float64-exact)."""

    def _compute_attention(
        self,
        query: Any,
        key: Any,
        value: Any,
        attention_mask: Any = None,
        training: Any = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Any:
        if attention_mask is not None or use_causal_mask or len(query.shape) != 4:
            return super()._compute_attention(
                query,
                key,
                value,
                attention_mask,
                training,
                return_attention_scores,
                use_causal_mask,
            )
        query = query * (1.0 / float(self.key_dim) ** 0.5)
        scores = ops.softmax(ops.einsum("btnh,bsnh->bnts", query, key), axis=-1)
        if self.dropout:
            scores = self._dropout_layer(scores, training=training)
        return ops.einsum("bnts,bsnh->btnh", scores, value), scores
''',
    **RESAMPLE_HELPERS,
}

_SLICED = '''
class Sliced{base}(layers.{base}):
    """layers.{base} followed by a static slice (start, stop, step) per spatial axis."""

    def __init__(self, *args: Any, slices: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slices = [list(s) for s in slices]

    def call(self, inputs: Any) -> Any:
        index = [slice(None)] + [slice(*s) for s in self.slices] + [slice(None)]
        return super().call(inputs)[tuple(index)]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        out = list(super().compute_output_shape(input_shape))
        for i, s in enumerate(self.slices):
            if out[1 + i] is not None:
                out[1 + i] = len(range(*slice(*s).indices(out[1 + i])))
        return tuple(out)

    def get_config(self) -> dict:
        return {{**super().get_config(), "slices": self.slices}}
'''

_DEPS = {"AdaptivePooling": ("_apply_matrix",), "Resample": ("_apply_matrix", "_f32"),
         "Pooling3D": ("_pool",), "ExplicitAveragePooling": ("_pool",)}
_FUNCTIONS = ("_apply_matrix", "_f32", "_pool")


def _source(name: str) -> str:
    if name.startswith("const:"):
        from archdsl.layers import constants

        return inspect.getsource(constants.CONSTANTS[name[6:]])
    if name.startswith("Sliced"):
        return _REG + "\n" + _SLICED.format(base=name[6:]).strip("\n")
    text = _STATIC[name].strip("\n")
    return text if name in _FUNCTIONS else _REG + "\n" + text


def helper_names() -> list[str]:
    """Every helper this module can write (the ``Sliced*`` family aside)."""
    return list(_STATIC)


def helper_source(names: Iterable[str]) -> str:
    """The source of the helpers ``names`` and their dependencies, dependencies first."""
    order = dependency_order(names, _DEPS)
    return "\n\n\n".join(_source(n) for n in order)


__all__ = ["PACKAGE", "helper_names", "helper_source"]
