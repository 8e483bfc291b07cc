"""Convolutions: cross-channel (grouped, dilated), depthwise, separable, transposed; 1-3 D.

Shape rule: ``out = 1 + (in + p_before + p_after − d·(k−1) − 1) // s``; transposed:
``out = s·(in−1) + d·(k−1) + 1 − crop_before − crop_after`` (``crop = p``, ``p − output_padding``).
Weights (canonical PyTorch layout): cross-channel ``(Cout, Cin/groups, *k)`` + bias, so
``(Cin/groups·Πk + 1)·Cout`` parameters; depthwise ``(C·M, 1, *k)`` + bias, ``(Πk + 1)·M·C``.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from archdsl.layers.base import (
    Cropped,
    Inferred,
    Layer,
    Padded,
    Params,
    Resolved,
    Shape,
    ShapeRuleError,
    Weight,
    Window,
    register,
)
from archdsl.layers.geometry import (
    NonNegInt,
    Padding,
    PosInt,
    Sizes,
    effective_kernel,
    ntuple,
    resolve_pads,
    same_pads,
    spatial_of,
    window_outputs,
)

#: Named fixed filters of the chapter, usable as ``fixed: sobel_x``.
FIXED_FILTERS: dict[str, list[list[float]]] = {
    "blur3": [[1 / 9] * 3 for _ in range(3)],
    "blur5": [[1 / 25] * 5 for _ in range(5)],
    "gaussian3": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sobel_x": [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
    "sobel_y": [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],
    "laplace": [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
    "identity3": [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
}


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of rectangular nested lists of numbers; ``None`` if ragged or not numbers.

    >>> nested_shape([[1, 2], [3, 4], [5, 6]]), nested_shape([[1, 2], [3]]), nested_shape(2.0)
    ((3, 2), None, ())
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return () if math.isfinite(value) else None
    if not isinstance(value, list) or not value:
        return None
    inner = [nested_shape(v) for v in value]
    if inner[0] is None or any(s != inner[0] for s in inner):
        return None
    return (len(value), *inner[0])


def check_fixed(fixed: Any, kernel_shape: tuple[int, ...]) -> None:
    """``fixed`` values must be rectangular, finite and broadcast to the kernel's shape."""
    shape = nested_shape(fixed)
    if shape is None:
        raise ShapeRuleError(
            "'fixed' must be rectangular nested lists of finite numbers (every row the same "
            "length)"
        )
    tail = kernel_shape[len(kernel_shape) - len(shape):] if shape else ()
    if len(shape) > len(kernel_shape) or any(a not in (1, b) for a, b in zip(shape, tail)):
        raise ShapeRuleError(
            f"fixed weights of shape {list(shape)} do not fit the kernel {list(kernel_shape)}; "
            "give the kernel window k or the full (filters, Cin/groups, *k)"
        )


class _WindowParams(Params):
    kernel: Sizes = Field(description="kernel size, one int or one per spatial dimension")
    stride: Sizes = Field(1, description="step of the window")
    padding: Padding = Field(
        "valid",
        description="'valid', 'same' (TF rule, may be asymmetric), 'causal' (1-D), an int, "
        "one int per dimension, or [before, after] pairs",
    )
    dilation: Sizes = Field(1, description="spacing between kernel taps")
    bias: bool = Field(True, description="add a learned bias")


class ConvParams(_WindowParams):
    filters: PosInt = Field(description="output channels")
    groups: PosInt = Field(1, description="channel groups; in and out channels must divide")
    fixed: str | list[Any] | None = Field(
        None,
        description="fixed kernel: a name (" + ", ".join(FIXED_FILTERS) + ") or nested lists "
        "of shape k or (Cout, Cin/groups, *k); makes the layer non-trainable by default",
    )
    trainable: bool | None = Field(None, description="default: true unless `fixed` is set")


class DepthwiseParams(_WindowParams):
    multiplier: PosInt = Field(1, description="channel multiplier M: output channels C·M")


class SeparableParams(_WindowParams):
    filters: PosInt = Field(description="output channels of the pointwise step")
    multiplier: PosInt = Field(1, description="depthwise channel multiplier M")


class TransposedParams(Params):
    filters: PosInt = Field(description="output channels")
    kernel: Sizes = Field(description="kernel size")
    stride: Sizes = Field(1, description="upsampling factor")
    padding: Literal["valid", "same"] | NonNegInt | list[NonNegInt] = Field(
        "valid",
        description="'valid' (=0), 'same' (out = in·s, TF cropping), or PyTorch's int padding p",
    )
    output_padding: NonNegInt | list[NonNegInt] = Field(
        0, description="extra size added at the end (PyTorch's output_padding)"
    )
    dilation: Sizes = Field(1, description="spacing between kernel taps")
    bias: bool = Field(True, description="add a learned bias")

    @model_validator(mode="after")
    def _check(self) -> TransposedParams:
        if self.padding == "same" and self.output_padding not in (0, [0], [0, 0], [0, 0, 0]):
            raise ValueError(
                "output_padding cannot be combined with padding 'same'; use int padding"
            )
        return self


def sample_window(rng: random.Random, size: int) -> dict[str, Any]:
    """Random kernel, stride and padding for a window over ``size`` cells (fuzzing)."""
    k = rng.choice([1, 2, 3])
    s = rng.choice([1, 1, 2]) if size >= 4 else 1
    pad = rng.choice(["same", "valid", 0, 1])
    if isinstance(pad, int) and pad >= k:
        pad = "same"
    return {"kernel": k, "stride": s, "padding": pad}


class _ConvBase(Layer):
    dims: ClassVar[int] = 2
    category = "convolution"
    weight_family = "conv"
    layout = "channels"

    def _geometry(self, p: Any, ins: list[Shape]) -> tuple[Shape, tuple[int, ...], tuple[int, ...]]:
        spatial = spatial_of(ins[0], self.dims, self.key)
        kernel = ntuple(p.kernel, self.dims, "kernel")
        stride = ntuple(p.stride, self.dims, "stride")
        dilation = ntuple(p.dilation, self.dims, "dilation")
        return spatial, effective_kernel(kernel, dilation), stride

    def _out_spatial(self, p: Any, ins: list[Shape]) -> tuple[tuple[int, ...], Padded]:
        spatial, k_eff, stride = self._geometry(p, ins)
        pads = resolve_pads(p.padding, spatial, k_eff, stride)
        return window_outputs(spatial, k_eff, stride, pads), Padded(pads)

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window:
        _, k_eff, stride = self._geometry(p, ins)
        return Window(k_eff, stride)


class Conv(_ConvBase):
    doc = "Cross-channel convolution (grouped, dilated, strided; optional fixed filter)."
    Params = ConvParams
    shape_doc = "(Cin, *S) → (filters, *S'), S' = 1 + (S + p_b + p_a − d(k−1) − 1) // s"
    weights_doc = "kernel (filters, Cin/groups, *k) + bias (filters): (Cin/groups·Πk + 1)·filters"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        cin = ins[0][0]
        for what, ch in (("input", cin), ("output", p.filters)):
            if ch % p.groups:
                raise ShapeRuleError(
                    f"groups={p.groups} must divide the {what} channels, received {ch}"
                )
        out, attrs = self._out_spatial(p, ins)
        return Inferred((p.filters, *out), attrs)

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        cin = ins[0][0] // p.groups
        kernel = ntuple(p.kernel, self.dims, "kernel")
        trainable = p.trainable if p.trainable is not None else p.fixed is None
        fixed = FIXED_FILTERS.get(p.fixed, p.fixed) if isinstance(p.fixed, str) else p.fixed
        if isinstance(p.fixed, str) and p.fixed not in FIXED_FILTERS:
            raise ShapeRuleError(
                f"unknown fixed filter '{p.fixed}'; valid: {', '.join(FIXED_FILTERS)}"
            )
        shape = (p.filters, cin, *kernel)
        if fixed is not None:
            check_fixed(fixed, shape)
        w = {"kernel": Weight(shape, "kernel", trainable, fixed, p.groups)}
        if p.bias:
            w["bias"] = Weight(
                (p.filters,), "bias", trainable, [0.0] if fixed is not None else None
            )
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        kernel = ntuple(p.kernel, self.dims, "kernel")
        return math.prod(out) * (ins[0][0] // p.groups) * math.prod(kernel)

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        g = rng.choice([g for g in (1, 2, 3) if shape[0] % g == 0])
        args = sample_window(rng, shape[-1])
        return {"filters": g * rng.randint(1, 3), **args, "dilation": rng.choice([1, 1, 2]),
                "groups": g, "bias": rng.random() < 0.5}


class Depthwise(_ConvBase):
    doc = "Depthwise convolution: one filter per input channel, times a channel multiplier M."
    Params = DepthwiseParams
    shape_doc = "(C, *S) → (C·M, *S'), S' as for conv; output channel c·M + m"
    weights_doc = "kernel (C·M, 1, *k) + bias (C·M): (Πk + 1)·M·C"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        out, attrs = self._out_spatial(p, ins)
        return Inferred((ins[0][0] * p.multiplier, *out), attrs)

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        kernel = ntuple(p.kernel, self.dims, "kernel")
        c = ins[0][0] * p.multiplier
        w = {"kernel": Weight((c, 1, *kernel), "depthwise_kernel", groups=ins[0][0])}
        if p.bias:
            w["bias"] = Weight((c,), "bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        return math.prod(out) * math.prod(ntuple(p.kernel, self.dims, "kernel"))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {**sample_window(rng, shape[-1]), "multiplier": rng.choice([1, 2])}


class Separable(_ConvBase):
    weight_family = "separable"
    doc = "Depthwise-separable convolution: depthwise (no bias) then a 1×1 pointwise conv."
    Params = SeparableParams
    shape_doc = "(C, *S) → (filters, *S'), S' as for conv"
    weights_doc = "depthwise (C·M, 1, *k) + pointwise (filters, C·M, 1…) + bias (filters)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        out, attrs = self._out_spatial(p, ins)
        return Inferred((p.filters, *out), attrs)

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        kernel = ntuple(p.kernel, self.dims, "kernel")
        c = ins[0][0]
        cm = c * p.multiplier
        ones = (1,) * self.dims
        w = {
            "depthwise_kernel": Weight((cm, 1, *kernel), "depthwise_kernel", groups=c),
            "pointwise_kernel": Weight((p.filters, cm, *ones), "kernel"),
        }
        if p.bias:
            w["bias"] = Weight((p.filters,), "bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        spatial = math.prod(out[1:])
        cm = ins[0][0] * p.multiplier
        k = math.prod(ntuple(p.kernel, self.dims, "kernel"))
        return spatial * cm * k + spatial * cm * p.filters

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"filters": rng.randint(1, 6), **sample_window(rng, shape[-1])}


class Transposed(_ConvBase):
    weight_family = "transposed"
    doc = "Transposed convolution (fractionally strided), with PyTorch or TF 'same' cropping."
    Params = TransposedParams
    shape_doc = "S' = s(S−1) + d(k−1) + 1 − crop_b − crop_a; 'valid': crops (0,0) + output_padding"
    weights_doc = "kernel (Cin, filters, *k) + bias (filters): (Cin·Πk + 1)·filters"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        spatial, k_eff, stride = self._geometry(p, ins)
        opad = ntuple(p.output_padding, self.dims, "output_padding")
        crops = []
        out = []
        for axis, (n, k, s, op) in enumerate(zip(spatial, k_eff, stride, opad)):
            full = s * (n - 1) + k
            if p.padding == "same":
                total = full - n * s
                crop = (total // 2, total - total // 2) if total >= 0 else (0, total)
            else:
                pad = ntuple(0 if p.padding == "valid" else p.padding, self.dims, "padding")[axis]
                if op >= max(s, ntuple(p.dilation, self.dims, "dilation")[axis]):
                    raise ShapeRuleError(
                        f"output_padding ({op}) must be smaller than stride or dilation"
                    )
                crop = (pad, pad - op)
            size = full - crop[0] - crop[1]
            if size < 1:
                raise ShapeRuleError(f"output size {size} < 1 along dimension {axis + 1}")
            crops.append(crop)
            out.append(size)
        return Inferred((p.filters, *out), Cropped(tuple(crops)))

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        kernel = ntuple(p.kernel, self.dims, "kernel")
        w = {"kernel": Weight((ins[0][0], p.filters, *kernel), "transposed_kernel")}
        if p.bias:
            w["bias"] = Weight((p.filters,), "bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        k = math.prod(ntuple(p.kernel, self.dims, "kernel"))
        return ins[0][0] * p.filters * k * math.prod(ins[0][1:])

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window:
        _, k_eff, stride = self._geometry(p, ins)
        return Window(k_eff, stride, transposed=True)

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        if shape[-1] > 8:
            return None
        args = sample_window(rng, shape[-1])
        return {**args, "filters": rng.randint(1, 4), "padding": rng.choice(["same", "valid"])}


# One class per layer type: the key is written here, literally.
@register
class Conv1D(Conv):
    key = "conv1d"
    dims = 1


@register
class Conv2D(Conv):
    key = "conv2d"
    dims = 2


@register
class Conv3D(Conv):
    key = "conv3d"
    dims = 3


@register
class ConvTranspose1D(Transposed):
    key = "conv_transpose1d"
    dims = 1


@register
class ConvTranspose2D(Transposed):
    key = "conv_transpose2d"
    dims = 2


@register
class ConvTranspose3D(Transposed):
    key = "conv_transpose3d"
    dims = 3


@register
class DepthwiseConv1D(Depthwise):
    key = "depthwise_conv1d"
    dims = 1


@register
class DepthwiseConv2D(Depthwise):
    key = "depthwise_conv2d"
    dims = 2


@register
class SeparableConv1D(Separable):
    key = "separable_conv1d"
    dims = 1


@register
class SeparableConv2D(Separable):
    key = "separable_conv2d"
    dims = 2


__all__ = ["FIXED_FILTERS", "same_pads"]
