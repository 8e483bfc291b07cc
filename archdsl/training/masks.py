"""The dropout masks of a training step: the one generator both frameworks' trainers take.

Which nodes get a mask, and of which kind, comes from the layer registry: a layer type whose
``Layer.stochastic`` trait is set (``"element"``: dropout, ``"channel"``: spatial dropout,
``"sample"``: stochastic depth, one value per sample) has its training-mode randomness replaced
by numpy masks, so both frameworks drop the same units.

**The mask format** (what every trainer's ``step(x, y, masks)`` accepts): ``{node id: mask}``,
one float array per stochastic node in the IR layout (batch first, channels first):
``(N, *node shape)`` for ``element``, ``(N, C)`` for ``channel``, ``(N,)`` for ``sample``.
Values are ``0`` (dropped) or ``1 / (1 - rate)`` (kept, the inverted scaling already applied).

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 4, 4]\\nbody:\\n"
    ...                   "  - spatial_dropout: {rate: 0.5, id: d}\\n")
    >>> nodes = dropout_nodes(g)
    >>> nodes
    [DropoutNode(node='d', rate=0.5, kind='channel', shape=(3, 4, 4))]
    >>> m = dropout_masks(nodes, 8, seed=0, epoch=0, index=0)["d"]
    >>> m.shape, m.dtype, sorted(set(m.ravel().tolist())) == [0.0, 2.0]
    ((8, 3), dtype('float32'), True)
    >>> mask_multiplier(m, nodes[0].shape, nodes[0].rate).shape  # broadcasts over (N, C, H, W)
    (8, 3, 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from archdsl.errors import BackendError
from archdsl.layers import REGISTRY

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: Extra entropy word of the dropout-mask streams ("mask"), so they never meet the data streams.
MASK_STREAM = 0x6D61736B


def stochastic_types() -> dict[str, str]:
    """Layer type → its ``Layer.stochastic`` kind, for every registered type that has one.

    Example:
        >>> {k: v for k, v in stochastic_types().items() if "dropout" in k}
        {'dropout': 'element', 'spatial_dropout': 'channel'}
    """
    return {k: layer.stochastic for k, layer in REGISTRY.items() if layer.stochastic}


@dataclass(frozen=True)
class DropoutNode:
    """A stochastic node: its id, rate, kind (``Layer.stochastic``) and input shape."""

    node: str
    rate: float
    kind: str
    shape: tuple[int, ...]

    def mask_shape(self, batch: int) -> tuple[int, ...]:
        """``(N, *shape)`` element-wise, ``(N, C)`` per channel, ``(N,)`` per sample."""
        if self.kind == "channel":
            return (batch, self.shape[0])
        if self.kind == "sample":
            return (batch,)
        return (batch, *self.shape)


def dropout_nodes(graph: Graph) -> list[DropoutNode]:
    """The graph's stochastic nodes (dropout, spatial dropout, ...), in topological order."""
    kinds = stochastic_types()
    return [
        DropoutNode(node.id, float(node.params.rate), kinds[node.type], graph[node.inputs[0]].shape)
        for node in graph.walk()
        if node.type in kinds
    ]


def dropout_masks(
    nodes: Sequence[DropoutNode], batch: int, *, seed: int, epoch: int, index: int,
    dtype: str = "float32",
) -> dict[str, np.ndarray]:
    """The masks of one training step (see the module docs for the format), in ``dtype``.

    A trainer multiplies each node's output by its mask in training steps (moving the channel
    axis last for NHWC frameworks) and ignores masks in eval mode. The masks depend only on
    ``(seed, epoch, index)``, so a resumed run draws the same ones.

    Example:
        >>> n = DropoutNode("drop", 0.5, "element", (4,))
        >>> m = dropout_masks([n], 2, seed=0, epoch=0, index=0, dtype="float64")["drop"]
        >>> m.shape, set(m.ravel().tolist()) <= {0.0, 2.0}
        ((2, 4), True)
    """
    ss = np.random.SeedSequence([seed, epoch, index, MASK_STREAM])
    rng = np.random.Generator(np.random.PCG64(ss))
    out: dict[str, np.ndarray] = {}
    for n in nodes:
        shape = n.mask_shape(batch)
        keep = rng.random(shape, dtype=np.float32) >= np.float32(n.rate)
        scale = np.asarray(1.0 / (1.0 - n.rate), dtype)
        out[n.node] = keep.astype(dtype) * scale
    return out


def mask_multiplier(mask: np.ndarray, shape: Sequence[int], rate: float) -> np.ndarray:
    """A mask as a trainer receives it → the multiplier of the node's ``(N, *shape)`` output,
    IR layout: channel masks become ``(N, C, 1, ...)``, sample masks ``(N, 1, ...)``.

    Float masks are used as given; a boolean keep-mask (True = keep) is scaled by
    ``1 / (1 - rate)`` here.

    Raises:
        BackendError: the mask fits none of the three forms.

    Example:
        >>> mask_multiplier(np.array([[True, False]]), (2, 3), 0.5)
        array([[[2.],
                [0.]]])
    """
    arr = np.asarray(mask)
    mult = arr.astype(np.float64) * (1.0 / (1.0 - rate)) if arr.dtype == np.bool_ else arr
    node = tuple(shape)
    if mult.ndim == 1:
        return mult.reshape(mult.shape[0], *([1] * len(node)))
    if mult.ndim == 2 and len(node) > 1 and mult.shape[1] == node[0]:
        return mult.reshape(*mult.shape, *([1] * (len(node) - 1)))
    if tuple(mult.shape[1:]) != node:
        raise BackendError(f"dropout mask of shape {list(arr.shape)} fits neither (N, "
                           f"{', '.join(map(str, node))}) nor (N, {node[0]})")
    return mult


__all__ = [
    "MASK_STREAM",
    "DropoutNode",
    "dropout_masks",
    "dropout_nodes",
    "mask_multiplier",
    "stochastic_types",
]
