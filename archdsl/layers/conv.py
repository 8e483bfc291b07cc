"""Convolutions: cross-channel (grouped, dilated), depthwise, separable, transposed; 1-3 D.

Shape rule: ``out = 1 + (in + p_before + p_after − d·(k−1) − 1) // s``; transposed:
``out = s·(in−1) + d·(k−1) + 1 − crop_before − crop_after`` (``crop = p``, ``p − output_padding``).
Weights (canonical PyTorch layout): cross-channel ``(Cout, Cin/groups, *k)`` + bias, so
``(Cin/groups·Πk + 1)·Cout`` parameters; depthwise ``(C·M, 1, *k)`` + bias, ``(Πk + 1)·M·C``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from archdsl.layers.base import (
    Inferred,
    Layer,
    Params,
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


class _ConvBase(Layer):
    dims: int = 2
    category = "convolution"

    def _geometry(self, p: Any, ins: list[Shape]) -> tuple[Shape, tuple[int, ...], tuple[int, ...]]:
        spatial = spatial_of(ins[0], self.dims, self.key)
        kernel = ntuple(p.kernel, self.dims, "kernel")
        stride = ntuple(p.stride, self.dims, "stride")
        dilation = ntuple(p.dilation, self.dims, "dilation")
        return spatial, effective_kernel(kernel, dilation), stride

    def _out_spatial(self, p: Any, ins: list[Shape]) -> tuple[tuple[int, ...], dict[str, Any]]:
        spatial, k_eff, stride = self._geometry(p, ins)
        pads = resolve_pads(p.padding, spatial, k_eff, stride)
        return window_outputs(spatial, k_eff, stride, pads), {"pads": pads}

    def window(self, p: Any, ins: list[Shape], attrs: dict[str, Any]) -> Window:
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
        w = {"kernel": Weight((p.filters, cin, *kernel), "kernel", trainable, fixed, p.groups)}
        if p.bias:
            w["bias"] = Weight(
                (p.filters,), "bias", trainable, [0.0] if fixed is not None else None
            )
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        kernel = ntuple(p.kernel, self.dims, "kernel")
        return math.prod(out) * (ins[0][0] // p.groups) * math.prod(kernel)


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


class Separable(_ConvBase):
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


class Transposed(_ConvBase):
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
        return Inferred((p.filters, *out), {"crops": tuple(crops)})

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        kernel = ntuple(p.kernel, self.dims, "kernel")
        w = {"kernel": Weight((ins[0][0], p.filters, *kernel), "transposed_kernel")}
        if p.bias:
            w["bias"] = Weight((p.filters,), "bias")
        return w

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        k = math.prod(ntuple(p.kernel, self.dims, "kernel"))
        return ins[0][0] * p.filters * k * math.prod(ins[0][1:])

    def window(self, p: Any, ins: list[Shape], attrs: dict[str, Any]) -> Window:
        _, k_eff, stride = self._geometry(p, ins)
        return Window(k_eff, stride, transposed=True)


def _variant(base: type[_ConvBase], key: str, dims: int) -> type[_ConvBase]:
    cls = type(base.__name__ + f"{dims}D", (base,), {"key": key, "dims": dims})
    return register(cls)  # type: ignore[return-value]


for _d in (1, 2, 3):
    _variant(Conv, f"conv{_d}d", _d)
    _variant(Transposed, f"conv_transpose{_d}d", _d)
for _d in (1, 2):
    _variant(Depthwise, f"depthwise_conv{_d}d", _d)
    _variant(Separable, f"separable_conv{_d}d", _d)

__all__ = ["FIXED_FILTERS", "same_pads"]
