"""Physical layouts of the Keras model's tensors; the rule itself is :mod:`archdsl.layouts`.

This module adds what needs Keras: :func:`convert` inserts the named ``Permute`` layer
(``"<node id>-to_ir<i>"`` or ``"<node id>-to_last<i>"``) where a reader wants the other order.
"""

from __future__ import annotations

from typing import Any

from archdsl.layouts import (
    CHANNELS_LAST,
    IR,
    axis_in,
    from_physical,
    input_layouts,
    permutation,
    physical_layouts,
    to_physical,
    wanted,
)


def convert(x: Any, src: str, dst: str, rank: int, name: str, dtype: str | None) -> Any:
    """``x`` in layout ``dst`` (a named Permute layer, or ``x`` itself)."""
    dims = permutation(src, dst, rank)
    if dims is None:
        return x
    import keras

    return keras.layers.Permute(dims, name=name, dtype=dtype)(x)


__all__ = [
    "CHANNELS_LAST",
    "IR",
    "axis_in",
    "convert",
    "from_physical",
    "input_layouts",
    "permutation",
    "physical_layouts",
    "to_physical",
    "wanted",
]
