'''Resampling helper layers of a generated Keras file, as source text: adaptive pooling,
interpolation (``Resample``) and the general transposed convolution.

Part of :mod:`archdsl.export.helpers_keras` (which merges :data:`RESAMPLE_HELPERS` into its
table); each is the standalone twin of a custom layer of the Keras lowering, written with
``keras.ops`` and numpy only.
'''

from __future__ import annotations

#: helper name → source text (functions start with ``_``)
RESAMPLE_HELPERS = {
    "_apply_matrix": '''
def _apply_matrix(x: Any, m: Any, axis: int) -> Any:
    """y[..., i, ...] = sum_j m[i, j] x[..., j, ...] along `axis`."""
    src = "abcdefgh"[: len(x.shape)]
    dst = src[:axis] + "z" + src[axis + 1 :]
    return ops.einsum(f"{src},z{src[axis]}->{dst}", x, m)
''',
    "_f32": '''
def _f32(x: float) -> float:
    return float(np.float32(x))
''',
    "AdaptivePooling": '''
class AdaptivePooling(layers.Layer):
    """Adaptive average or max pooling of a channels-last map over PyTorch's bins."""

    def __init__(self, size: Any, mode: str = "average", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size, self.mode = [int(n) for n in size], mode

    def build(self, input_shape: Any) -> None:
        self._steps = []
        for a, (n, o) in enumerate(zip(input_shape[1:-1], self.size)):
            if n == o:
                continue
            bins = [((i * n) // o, -(-(i + 1) * n // o)) for i in range(o)]
            if self.mode == "average":
                m = np.zeros((o, n))
                for i, (start, stop) in enumerate(bins):
                    m[i, start:stop] = 1.0 / (stop - start)
                self._steps.append((1 + a, m))
            else:
                width = max(stop - start for start, stop in bins)
                idx = [[min(s + k, e - 1) for k in range(width)] for s, e in bins]
                self._steps.append((1 + a, np.array(idx, "int32")))

    def call(self, inputs: Any) -> Any:
        x = inputs if self._steps else ops.copy(inputs)
        for axis, const in self._steps:
            if self.mode == "average":
                x = _apply_matrix(x, ops.convert_to_tensor(const, dtype=x.dtype), axis)
            else:
                x = ops.max(ops.take(x, const, axis=axis), axis=axis + 1)
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "mode": self.mode}
''',
    "Resample": '''
class Resample(layers.Layer):
    """Upsample a channels-last map to `size` with PyTorch's nearest or linear rules."""

    def __init__(
        self, size: Any, mode: str = "nearest", align_corners: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.size, self.mode = [int(n) for n in size], mode
        self.align_corners = bool(align_corners)

    def _rows(self, n: int, o: int, float32: bool) -> list:
        rows = []
        for i in range(o):
            if self.mode == "nearest":
                rows.append([(min(int(np.floor(_f32(i * _f32(n / o)))), n - 1), 1.0)])
                continue
            if self.align_corners:
                src = 0.0 if o == 1 else (n - 1) / (o - 1) * i
                if float32 and o > 1:
                    src = _f32(_f32((n - 1) / (o - 1)) * i)
            elif float32:
                src = max(_f32(_f32(n / o) * (i + 0.5) - 0.5), 0.0)
            else:
                src = max(n / o * (i + 0.5) - 0.5, 0.0)
            lo = min(int(np.floor(src)), n - 1)
            frac = src - lo
            keep = _f32(1.0 - frac) if float32 else 1.0 - frac
            rows.append([(lo, keep), (min(lo + 1, n - 1), frac)])
        return rows

    def build(self, input_shape: Any) -> None:
        self._steps = []
        float32 = keras.backend.standardize_dtype(self.compute_dtype) != "float64"
        for a, (n, o) in enumerate(zip(input_shape[1:-1], self.size)):
            rows = self._rows(n, o, float32)
            if self.mode == "nearest":
                if [r[0][0] for r in rows] != list(range(n)):
                    self._steps.append((1 + a, np.array([r[0][0] for r in rows], "int32")))
                continue
            m = np.zeros((o, n))
            for i, row in enumerate(rows):
                for j, weight in row:
                    m[i, j] += weight
            self._steps.append((1 + a, m))

    def call(self, inputs: Any) -> Any:
        x = inputs if self._steps else ops.copy(inputs)
        for axis, const in self._steps:
            if self.mode == "nearest":
                x = ops.take(x, const, axis=axis)
            else:
                x = _apply_matrix(x, ops.convert_to_tensor(const, dtype=x.dtype), axis)
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self) -> dict:
        config = {"size": self.size, "mode": self.mode}
        return {**super().get_config(), **config, "align_corners": self.align_corners}
''',
    "GeneralConvTranspose": '''
class GeneralConvTranspose(layers.Layer):
    """PyTorch's transposed convolution for any stride, dilation, crop and extension: zero
    insertion, padding, a convolution with the flipped kernel, then a crop."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any,
        dilation_rate: Any,
        crops: Any,
        ext: Any,
        use_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters, self.use_bias = filters, use_bias
        self.kernel_size, self.strides = list(kernel_size), list(strides)
        self.dilation_rate, self.ext = list(dilation_rate), list(ext)
        self.crops = [list(c) for c in crops]

    def build(self, input_shape: Any) -> None:
        shape = (*self.kernel_size, self.filters, int(input_shape[-1]))
        self.kernel = self.add_weight(shape=shape, name="kernel")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.filters,), initializer="zeros", name="bias"
            )

    def call(self, inputs: Any) -> Any:
        x, rank = inputs, len(self.kernel_size)
        for i, s in enumerate(self.strides):
            if s == 1:
                continue
            axis, n = 1 + i, int(x.shape[1 + i])
            x = ops.expand_dims(x, axis + 1)
            width = [(0, 0)] * (rank + 3)
            width[axis + 1] = (0, s - 1)
            x = ops.pad(x, width)
            merged = [int(d) for d in x.shape[1:]]
            merged[i : i + 2] = [n * s]
            x = ops.reshape(x, (-1, *merged))
            index = [slice(None)] * (rank + 2)
            index[axis] = slice(0, (n - 1) * s + 1)
            x = x[tuple(index)]
        k_eff = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
        x = ops.pad(x, [(0, 0), *((k - 1, k - 1 + e) for k, e in zip(k_eff, self.ext)), (0, 0)])
        kernel = ops.swapaxes(ops.flip(self.kernel, axis=tuple(range(rank))), -1, -2)
        y = ops.conv(x, kernel, 1, "valid", dilation_rate=self.dilation_rate)
        index = [slice(None)] * (rank + 2)
        for i, (b, e) in enumerate(self.crops):
            index[1 + i] = slice(b, int(y.shape[1 + i]) - max(e, 0))
        y = y[tuple(index)]
        return y + self.bias if self.bias is not None else y

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
            "crops": self.crops,
            "ext": self.ext,
            "use_bias": self.use_bias,
        }
''',
}

__all__ = ["RESAMPLE_HELPERS"]
