"""The layer registry: one class per layer type holds everything the core knows about it.

A layer type defines, in one place:

* ``Params``: its pydantic parameter model (the DSL schema for the type),
* :meth:`Layer.infer`: the shape rule, which also resolves shape-dependent attributes such as
  explicit (possibly asymmetric) padding, so both backends compute the same windows,
* :meth:`Layer.weights`: its weight tensors in the canonical layout (PyTorch's, e.g. OIHW),
  from which trainable / non-trainable parameter counts follow,
* :meth:`Layer.macs`: multiply-accumulates (convolutions and dense layers only, the convention
  of ``torch.utils.flop_counter`` divided by two),
* :meth:`Layer.window`: how it changes the receptive field.

Backends register a lowering for the same key and nothing else.

Example:
    >>> from archdsl.layers import get_layer
    >>> conv = get_layer("conv2d")
    >>> p = conv.parse({"filters": 4, "kernel": 5})
    >>> conv.infer(p, [(3, 28, 28)]).shape
    (4, 24, 24)
    >>> sum(w.size for w in conv.weights(p, [(3, 28, 28)], (4, 24, 24)).values())
    304
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

Shape = tuple[int, ...]


class Params(BaseModel):
    """Base of every layer's parameter model: unknown keys are errors, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """A layer without arguments."""


@dataclass(frozen=True)
class Weight:
    """One weight tensor in the canonical (PyTorch) layout.

    ``role`` tells initializers and weight transfer what it is: ``kernel``, ``depthwise_kernel``,
    ``pointwise_kernel``, ``transposed_kernel``, ``bias``, ``gamma``, ``beta``,
    ``running_mean``, ``running_var``. ``groups`` is the convolution's group count (C for a
    depthwise kernel), which initializers need for Keras' fan computation. ``fixed`` holds
    constant values for fixed-weight filters (nested lists), else ``None``.
    """

    shape: Shape
    role: str
    trainable: bool = True
    fixed: Any = None
    groups: int = 1

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Window:
    """How a node maps input positions to output positions, per spatial dimension.

    ``kernel`` is the effective extent (dilation applied), ``stride`` the step. A transposed
    window (``transposed=True``) upsamples by ``stride``. ``collapse`` means the node sees the
    whole input (global pooling, flatten).
    """

    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    transposed: bool = False
    collapse: bool = False


@dataclass(frozen=True)
class Inferred:
    """The result of a shape rule: the output shape and resolved attributes (e.g. ``pads``)."""

    shape: Shape
    attrs: dict[str, Any] = field(default_factory=dict)


class ShapeRuleError(ValueError):
    """Raised by a shape rule; the graph pass turns it into a located ShapeError."""


class Layer:
    """Base class of a layer type. Subclasses set ``key``, ``Params`` and the rules."""

    key: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    category: ClassVar[str] = "other"
    #: (minimum, maximum) number of inputs; ``None`` means unbounded.
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    #: one-line description, the shape rule and the weight rule, for the reference docs.
    doc: ClassVar[str] = ""
    shape_doc: ClassVar[str] = "output shape = input shape"
    weights_doc: ClassVar[str] = "none"
    #: The output picks one input element per window (max pooling): its gradient flows to that
    #: element alone, so round-off that changes the pick changes the gradient by its whole size.
    selects: ClassVar[bool] = False

    def parse(self, raw: dict[str, Any]) -> BaseModel:
        """Validate raw arguments into this type's Params (raises pydantic ValidationError)."""
        return self.Params.model_validate(raw)

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        """Shape rule. The default keeps the (single) input shape."""
        return Inferred(ins[0])

    def weights(self, p: Any, ins: list[Shape], out: Shape) -> dict[str, Weight]:
        """Weight tensors in canonical layout. Default: none."""
        return {}

    def macs(self, p: Any, ins: list[Shape], out: Shape) -> int:
        """Multiply-accumulates for one sample. Default: 0."""
        return 0

    def window(self, p: Any, ins: list[Shape], attrs: dict[str, Any]) -> Window | None:
        """Receptive-field step; ``None`` for pointwise layers."""
        return None


REGISTRY: dict[str, Layer] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: add one instance of a layer type to the registry."""
    if not cls.key:
        raise TypeError(f"{cls.__name__} has no key")
    if cls.key in REGISTRY:
        raise TypeError(f"layer type {cls.key!r} registered twice")
    REGISTRY[cls.key] = cls()
    return cls


def get_layer(key: str) -> Layer:
    """Return the registered layer type ``key`` (KeyError if unknown)."""
    return REGISTRY[key]


def stride_fraction(window: Window, axis: int) -> Fraction:
    """The effective stride multiplier of ``window`` along ``axis``."""
    s = window.stride[axis]
    return Fraction(1, s) if window.transposed else Fraction(s)


__all__ = [
    "REGISTRY",
    "Inferred",
    "Layer",
    "NoParams",
    "Params",
    "Shape",
    "ShapeRuleError",
    "ValidationError",
    "Weight",
    "Window",
    "get_layer",
    "register",
]
