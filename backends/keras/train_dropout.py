"""Dropout control of the Keras trainer: off, the caller's numpy masks, or Keras' own RNG.

The trainer replaces the ``call`` of every stochastic layer (the nodes of
:func:`archdsl.training.dropout_nodes`: dropout, spatial dropout, stochastic depth) by one that
reads a shared :class:`DropoutControl`: in training calls it returns the input (``off``),
multiplies it by the step's mask (``masks``, the format of
:func:`archdsl.training.dropout_masks`, moved to NHWC by :func:`keras_mask`), or runs Keras' own
dropout (``native``, the ``dropout_kind`` convention).
Inference calls are always the identity.

Example:
    >>> import numpy as np
    >>> keras_mask(np.array([[2.0, 0.0]]), (2, 3, 3), 0.5, "float64").shape  # (N, C) → NHWC
    (1, 1, 1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from archdsl.training.masks import DropoutNode, dropout_nodes, mask_multiplier

from .lower import to_keras_layout

if TYPE_CHECKING:
    from archdsl.graph import Graph


@dataclass
class DropoutControl:
    """How the wrapped dropout layers behave in training calls.

    ``mode``: ``"off"`` (identity), ``"masks"`` (multiply by ``current[node]``) or
    ``"native"`` (Keras' own RNG). Inference calls are always the identity.
    """

    mode: str = "off"
    current: dict[str, Any] = field(default_factory=dict)


def wrap_dropout(layer: Any, node: DropoutNode, control: DropoutControl) -> None:
    """Replace ``layer.call`` (a Keras Dropout / SpatialDropout layer) by a controlled one."""
    original = type(layer).call
    rate, node_id = node.rate, node.node
    spatial = node.kind == "channel"

    def call(inputs: Any, training: bool | None = None) -> Any:
        if not training or control.mode == "off":
            return inputs
        if control.mode == "native":
            if spatial:  # a port that writes Keras Dropout for torch's Dropout2d
                return keras.random.dropout(inputs, rate, seed=layer.seed_generator)
            return original(layer, inputs, training=True)
        mask = control.current[node_id]
        return inputs * keras.ops.cast(mask, inputs.dtype)  # bfloat16 under mixed precision

    layer.call = call


def configure_dropout(
    model: keras.Model, graph: Graph, mode: str
) -> tuple[DropoutControl, dict[str, DropoutNode]]:
    """Wrap every stochastic layer of ``model``; returns their control (in ``mode``) and nodes."""
    control = DropoutControl(mode)
    nodes = {}
    for node in dropout_nodes(graph):
        wrap_dropout(model.get_layer(node.node), node, control)
        nodes[node.node] = node
    return control, nodes


def keras_mask(mask: np.ndarray, node_shape: tuple[int, ...], rate: float, dtype: str
               ) -> np.ndarray:
    """IR-layout mask (N, C, *S) or channel mask (N, C) → Keras multiplier (N, *S, C) (or
    broadcastable to it), in ``dtype``."""
    mult = to_keras_layout(mask_multiplier(mask, node_shape, rate))
    return np.ascontiguousarray(mult, dtype=dtype)


__all__ = ["DropoutControl", "configure_dropout", "keras_mask", "wrap_dropout"]
