"""One lowering per registered layer type: IR node → Keras layers.

The table, its :class:`Context` and the shared helpers live in :mod:`.lowerings`; one module
per layer family registers into it, named after the family's module in :mod:`archdsl.layers`
(``lower_conv`` for ``layers/conv.py``). Importing this module registers them all
(:func:`archdsl.layers.families` lists them).

Example:
    >>> import archdsl, keras
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> LOWERINGS["conv2d"](g["conv2d_1"], Context())(keras.Input((8, 8, 3))).shape
    (None, 4, 4, 4)
"""

from __future__ import annotations

from importlib import import_module

from archdsl.layers import families

from .lowerings import (
    DEFAULT,
    LOWERINGS,
    Apply,
    Context,
    from_keras_layout,
    keras_axis,
    keras_shape,
    padding_mode,
    to_keras_layout,
)

__all__ = [
    "DEFAULT",
    "LOWERINGS",
    "Apply",
    "Context",
    "from_keras_layout",
    "keras_axis",
    "keras_shape",
    "padding_mode",
    "to_keras_layout",
]

for _family in families():  # registration: one lowering module per layer family
    import_module(f"{__package__}.lower_{_family}")
