"""The Keras backend's lowering table, its context and the helpers the family modules share.

A lowering is called as ``LOWERINGS[type](node, ctx)`` (the contract of
:mod:`archdsl.lowering`) where ``node`` is the typed :class:`archdsl.ir.Node` (``params``,
``in_shapes`` in the IR's channels-first batch-less layout, ``shape``, resolved ``attrs``) and
``ctx`` an optional :class:`Context` (dtype, BatchNorm flavour). It returns a callable applied
to the Keras input tensor (or to the list of tensors for merges).

Naming rule (relied on by weight transfer and :func:`archdsl.backends.keras.forward`): a node
lowers to zero or more *pre* layers named ``"<node id>-<role>"`` (``-pad``, ``-permute``; node
ids never contain ``-``) followed by exactly one layer named ``<node id>`` that holds all the
node's weights and whose output is the node's output.

Layout: the IR is channels-first ``(C, *spatial)``; Keras tensors are ``(N, *spatial, C)``.
Flat tensors ``(F,)`` are ``(N, F)`` in both. ``flatten`` of a rank > 1 tensor first permutes to
channels-first (``Permute``), so the flat order is PyTorch's ``(C, H, W)`` and a following
Dense kernel transfers with a plain transpose (no per-Dense permutation to remember).

Padding: the IR resolves every padding to explicit ``(before, after)`` pairs. A lowering uses
Keras ``padding='valid'`` when they are all zero, ``'same'`` when they equal TensorFlow's rule
for that input (fast native path), else an explicit ``ZeroPadding*D`` (``-inf`` padding before
max pools) plus ``'valid'``.

Example:
    >>> import archdsl, keras
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> node = g["conv2d_1"]
    >>> from archdsl.backends.keras import lower  # registers every family's lowerings
    >>> layer = LOWERINGS["conv2d"](node, Context())
    >>> layer(keras.Input((8, 8, 3))).shape
    (None, 4, 4, 4)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from archdsl.ir import Node
from archdsl.layers.geometry import same_pads
from archdsl.lowering import LowerContext, Lowerings

from .layout import CHANNELS_LAST

Shape = tuple[int, ...]
Apply = Callable[[Any], Any]


@dataclass(frozen=True)
class Context(LowerContext):
    """Options shared by all lowerings of one build.

    ``dtype``: the Keras dtype policy of every layer (``None``: Keras' global policy);
    ``bn``: ``"keras"`` (stock BatchNormalization) or ``"torch"``
    (:class:`TorchLikeBatchNormalization`, unbiased moving-variance update);
    ``layout``: the physical layout of the node's inputs (:mod:`.layout`), set per node.
    """

    bn: str = "keras"
    layout: str = CHANNELS_LAST


#: layer type → lowering ``(node, ctx) -> Apply`` (the contract: :mod:`archdsl.lowering`)
LOWERINGS: Lowerings[Apply] = Lowerings("keras")
DEFAULT = Context()


# ---------------------------------------------------------------------------- layout helpers
def keras_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """IR shape (C, *S) → Keras shape (*S, C) (batch excluded); flat shapes are unchanged.

    >>> keras_shape((3, 32, 16)), keras_shape((10,))
    ((32, 16, 3), (10,))
    """
    shape = tuple(shape)
    return shape if len(shape) < 2 else (*shape[1:], shape[0])


def keras_axis(axis: int, rank: int) -> int:
    """Map an IR axis (batch-excluded, channels-first, rank ``rank``) to the Keras axis of the
    batched channels-last tensor: channels → the last axis, spatial axis i → i.

    >>> keras_axis(0, 3), keras_axis(1, 3), keras_axis(-1, 3), keras_axis(0, 1)
    (3, 1, 2, 1)
    """
    a = axis % rank
    if rank == 1:
        return 1
    return rank if a == 0 else a


def to_keras_layout(x: np.ndarray) -> np.ndarray:
    """Batched IR array (N, C, *S) → (N, *S, C); (N, F) unchanged."""
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def from_keras_layout(y: np.ndarray) -> np.ndarray:
    """Batched Keras array (N, *S, C) → (N, C, *S); (N, F) unchanged."""
    return np.moveaxis(y, -1, 1) if y.ndim > 2 else y


def padding_mode(
    pads: Sequence[tuple[int, int]], spatial: Sequence[int], k_eff: Sequence[int],
    stride: Sequence[int],
) -> str | None:
    """``'valid'`` / ``'same'`` when Keras' native padding reproduces ``pads`` exactly, else None.

    >>> padding_mode(((0, 1),), (8,), (3,), (2,)), padding_mode(((1, 1),), (8,), (3,), (2,))
    ('same', None)
    """
    pads = tuple((int(b), int(e)) for b, e in pads)
    if all(b == 0 and e == 0 for b, e in pads):
        return "valid"
    if pads == tuple(same_pads(n, k, s) for n, k, s in zip(spatial, k_eff, stride)):
        return "same"
    return None


def chain(*layers: Callable[[Any], Any]) -> Apply:
    def apply(x: Any) -> Any:
        for layer in layers:
            x = layer(x)
        return x

    return apply


_ZERO_PAD = {1: keras.layers.ZeroPadding1D, 2: keras.layers.ZeroPadding2D,
             3: keras.layers.ZeroPadding3D}


def zero_padding(pads: Sequence[tuple[int, int]], name: str, dtype: str | None) -> Any:
    pairs = tuple((int(b), int(e)) for b, e in pads)
    arg: Any = pairs[0] if len(pairs) == 1 else pairs
    return _ZERO_PAD[len(pairs)](padding=arg, name=name, dtype=dtype)


def frozen_if_fixed(layer: Any, node: Node) -> Any:
    weights = node.weights
    if weights and not any(w.trainable for w in weights.values()):
        layer.trainable = False
    return layer




__all__ = [
    "DEFAULT",
    "LOWERINGS",
    "Apply",
    "Context",
    "chain",
    "from_keras_layout",
    "frozen_if_fixed",
    "keras_axis",
    "keras_shape",
    "padding_mode",
    "to_keras_layout",
    "zero_padding",
]
