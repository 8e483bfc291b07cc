"""Physical layouts of a channels-last model's tensors: channels-last maps, IR-order tokens.

Shared by the Keras lowering (``backends/keras/layout.py`` adds the ``Permute`` layers) and the
keras-src exporter, which must place its permutes exactly where the lowering does.

The IR is layout-neutral: feature maps are ``(C, *S)``, tokens ``(L, D)``, in the order
PyTorch stores them. Keras convolutions want feature maps channels-last, ``(*S, C)``, while
reshapes, permutes and matmuls index axes in the IR's order. Each tensor of the Keras model
therefore has a physical layout, decided per node from the layer's ``layout`` trait:

* ``"channels"`` layers (convolutions, pooling, BatchNorm...) read and write channels-last;
* ``"ordered"`` layers (reshape, permute, matmul, dense on tokens...) read and write IR order;
* ``"follow"`` layers (element-wise) keep the layout of their first input (axis arguments are
  mapped by the lowering through :func:`axis_in`).

A ``Permute`` layer (named ``"<node id>-to_ir<i>"`` or ``"<node id>-to_last<i>"``) converts an
input whose layout differs from what its reader wants. Rank ≤ 2 tensors with one axis or flat
vectors are the same in both layouts (``IR``).

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3}\\n  - flatten: {}\\n")
    >>> physical_layouts(g)
    {'input': 'channels_last', 'conv2d_1': 'channels_last', 'flatten_1': 'ir'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archdsl.ir import Node

if TYPE_CHECKING:
    from archdsl.graph import Graph

CHANNELS_LAST = "channels_last"
IR = "ir"


def wanted(node: Node) -> str | None:
    """The layout a node reads its inputs in; ``None`` when it follows its first input."""
    kind = node.layer.layout_of(node.params)
    return CHANNELS_LAST if kind == "channels" else IR if kind == "ordered" else None


def settle(layout: str, shape: tuple[int, ...]) -> str:
    """Tensors of rank 1 (batch excluded) have one order: call them IR."""
    return IR if len(shape) <= 1 else layout


def physical_layouts(graph: Graph) -> dict[str, str]:
    """``{node id: layout}`` of every node's output in the Keras model of ``graph``."""
    out: dict[str, str] = {}
    for n in graph:
        node = graph[n]
        if node.is_input:
            out[n] = settle(CHANNELS_LAST, node.shape)
            continue
        want = wanted(node)
        out[n] = settle(want if want is not None else out[node.inputs[0]], node.shape)
    return out


def input_layouts(node: Node, layouts: dict[str, str]) -> list[str]:
    """The layout each input of ``node`` must be converted to before the node reads it."""
    want = wanted(node)
    target = want if want is not None else layouts[node.inputs[0]]
    return [settle(target, s) for s in node.in_shapes]


def permutation(src: str, dst: str, rank: int) -> tuple[int, ...] | None:
    """Keras ``Permute`` dims (1-based, batch excluded) turning ``src`` into ``dst``."""
    if src == dst or rank <= 1:
        return None
    if dst == IR:  # (*S, C) → (C, *S)
        return (rank, *range(1, rank))
    return (*range(2, rank + 1), 1)  # (C, *S) → (*S, C)


def axis_in(axis: int, rank: int, layout: str) -> int:
    """An IR axis (batch excluded) → the axis of the batched tensor stored in ``layout``.

    >>> axis_in(0, 3, CHANNELS_LAST), axis_in(1, 3, CHANNELS_LAST), axis_in(0, 3, IR)
    (3, 1, 1)
    """
    a = axis % rank
    if layout == IR or rank <= 1:
        return a + 1
    return rank if a == 0 else a


def to_physical(x: np.ndarray, layout: str) -> np.ndarray:
    """Batched IR array (N, C, *S) → the array stored in ``layout``."""
    if layout == IR or x.ndim <= 2:
        return x
    return np.moveaxis(x, 1, -1)


def from_physical(y: np.ndarray, layout: str) -> np.ndarray:
    """A batched array stored in ``layout`` → IR order (N, C, *S)."""
    if layout == IR or y.ndim <= 2:
        return y
    return np.moveaxis(y, -1, 1)


__all__ = [
    "CHANNELS_LAST",
    "IR",
    "axis_in",
    "from_physical",
    "input_layouts",
    "permutation",
    "physical_layouts",
    "to_physical",
    "wanted",
]
