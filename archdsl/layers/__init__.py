"""The layer registry (see :mod:`archdsl.layers.base`); importing it registers all types.

One module per family, each class with its key written literally (``key = "conv2d"``).
"""

from archdsl.layers import (  # noqa: F401  (registration)
    activation,
    conv,
    dense,
    dropout,
    merge,
    normalization,
    pool,
    tensor_ops,
)
from archdsl.layers.base import (
    REGISTRY,
    Cropped,
    Inferred,
    Layer,
    Padded,
    Params,
    PoolWindows,
    Resolved,
    Shape,
    ShapeRuleError,
    Weight,
    Window,
    get_layer,
)

__all__ = [
    "REGISTRY",
    "Cropped",
    "Inferred",
    "Layer",
    "Padded",
    "Params",
    "PoolWindows",
    "Resolved",
    "Shape",
    "ShapeRuleError",
    "Weight",
    "Window",
    "get_layer",
]
