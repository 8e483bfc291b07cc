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
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

Shape = tuple[int, ...]


class Params(BaseModel):
    """Base of every layer's parameter model: unknown keys are errors, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class NoParams(Params):
    """A layer without arguments."""


@dataclass(frozen=True)
class Weight:
    """One weight tensor in the canonical (PyTorch) layout.

    ``role`` tells initializers and weight transfer what it is: ``kernel``, ``depthwise_kernel``,
    ``pointwise_kernel``, ``transposed_kernel``, ``bias``, ``gamma``, ``beta``,
    ``running_mean``, ``running_var``, ``scale`` (layer scale), ``parameter`` (a learned tensor),
    ``in_kernel``/``in_bias``/``out_kernel``/``out_bias`` (attention). ``groups`` is the
    convolution's group count (C for a depthwise kernel), which initializers need for Keras'
    fan computation. ``fixed`` holds
    constant values for fixed-weight filters (nested lists), else ``None``.
    """

    shape: Shape
    role: str
    trainable: bool = True
    fixed: Any = None
    groups: int = 1
    #: an initializer the layer prescribes whatever the spec's scheme: ``("normal", std)``,
    #: ``("trunc_normal", std)`` (cut at ±2 std), ``("constant", value)``; ``None``: the scheme's
    init: tuple[str, float] | None = None

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


Pads = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Resolved:
    """Shape-dependent attributes a shape rule resolves; the base class holds none."""


@dataclass(frozen=True)
class Padded(Resolved):
    """Explicit ``(before, after)`` zero padding per spatial dimension (convolutions, padding)."""

    pads: Pads


@dataclass(frozen=True)
class PoolWindows(Padded):
    """Pooling windows: ``pads`` include ``ceil_mode``'s extra end cells, ``counted_pads`` are
    the explicit padding an average pool may count in its divisor."""

    counted_pads: Pads


@dataclass(frozen=True)
class Cropped(Resolved):
    """Transposed convolution: ``(before, after)`` crops of the full output per dimension."""

    crops: Pads


@dataclass(frozen=True)
class Inferred:
    """The result of a shape rule: the output shape and resolved attributes (e.g. ``pads``)."""

    shape: Shape
    attrs: Resolved = field(default_factory=Resolved)


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
    #: Weight family for the structural importers (:mod:`archdsl.weights`): layers of one
    #: family can take each other's weights (``conv``, ``transposed``, ``separable``,
    #: ``batchnorm``); ``None`` for weight-free layers.
    weight_family: ClassVar[str | None] = None
    #: Training-mode randomness the trainers replace with numpy masks: ``"element"`` (one value
    #: per element, dropout), ``"channel"`` (one per channel, spatial dropout), ``"sample"`` (one
    #: per sample, stochastic depth); ``None`` for deterministic layers.
    stochastic: ClassVar[str | None] = None
    #: Number of spatial dimensions of a windowed layer type (conv2d: 2); ``None`` when the type
    #: works at any rank.
    dims: ClassVar[int | None] = None
    #: How the layer reads axes, for backends that store feature maps channels-last (Keras):
    #: ``"channels"`` (axis 0 is channels, the rest spatial: convolutions, pooling, BatchNorm),
    #: ``"follow"`` (any physical order: element-wise layers; an ``axis`` argument is mapped),
    #: ``"ordered"`` (axes in the IR's order: reshape, permute, matmul, dense on tokens).
    layout: ClassVar[str] = "follow"

    #: Diagrams: the text shown in a layer's box, formatted with its arguments (``"p={rate}"``);
    #: ``None`` shows the arguments that are required or differ from their defaults.
    label: ClassVar[str | None] = None
    #: Diagrams: the symbol drawn in a merge node's circle (``"+"`` for add).
    symbol: ClassVar[str | None] = None

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

    def window(self, p: Any, ins: list[Shape], attrs: Resolved) -> Window | None:
        """Receptive-field step; ``None`` for pointwise layers."""
        return None

    def layout_of(self, p: Any) -> str:
        """The :attr:`layout` of a node with parameters ``p`` (a type whose arguments choose
        its axes overrides this)."""
        return self.layout

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        """Random arguments for the fuzz generator (:mod:`archdsl.fuzz`) on an input of
        ``shape``, or ``None`` to skip this type there. Default: no arguments, when the type
        needs none. The generator keeps a draw only if the shape rule accepts it."""
        required = [n for n, f in self.Params.model_fields.items() if f.is_required()]
        return None if required else {}


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


def families() -> tuple[str, ...]:
    """The layer families: the modules of :mod:`archdsl.layers` that define registered types.

    Each backend has one lowering module per family (``lower_<family>``) and imports them
    from this list, so a new family cannot be left out of a backend silently.

    Example:
        >>> import archdsl.layers
        >>> families()[:3]
        ('activation', 'attention', 'conv')
    """
    return tuple(sorted({type(layer).__module__.rpartition(".")[2] for layer in REGISTRY.values()}))


def stride_fraction(window: Window, axis: int) -> Fraction:
    """The effective stride multiplier of ``window`` along ``axis``."""
    s = window.stride[axis]
    return Fraction(1, s) if window.transposed else Fraction(s)


__all__ = [
    "REGISTRY",
    "Cropped",
    "Inferred",
    "Layer",
    "NoParams",
    "Padded",
    "Pads",
    "Params",
    "PoolWindows",
    "Resolved",
    "Shape",
    "ShapeRuleError",
    "ValidationError",
    "Weight",
    "Window",
    "get_layer",
    "register",
]
