"""The layer registry (see :mod:`archdsl.layers.base`); importing it registers all types."""

from archdsl.layers import activation, conv, norm, pool, structure  # noqa: F401  (registration)
from archdsl.layers.base import (
    REGISTRY,
    Inferred,
    Layer,
    Params,
    Shape,
    ShapeRuleError,
    Weight,
    Window,
    get_layer,
)

__all__ = [
    "REGISTRY",
    "Inferred",
    "Layer",
    "Params",
    "Shape",
    "ShapeRuleError",
    "Weight",
    "Window",
    "get_layer",
]
