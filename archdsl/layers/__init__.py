"""The layer registry (see :mod:`archdsl.layers.base`); importing it registers all types.

One module per family, each class with its key written literally (``key = "conv2d"``).
"""

from archdsl.layers import (  # noqa: F401  (registration)
    activation,
    attention,
    conv,
    dense,
    dropout,
    indexing,
    matmul,
    merge,
    normalization,
    pool,
    reduce,
    resample,
    reshape,
    residual,
    tensor_ops,
    tokens,
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
    families,
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
    "families",
    "get_layer",
]
