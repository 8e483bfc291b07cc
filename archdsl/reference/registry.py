"""The registry of reference ops: one numpy function per layer type, keyed by its literal name.

An op is called as ``op(node, xs, ctx)``: the typed IR :class:`~archdsl.ir.Node`, its inputs'
values (batch-first arrays in the IR layout, ``(N, C, *spatial)``, in ``node.inputs`` order)
and an :class:`OpContext` holding the node's weights (canonical PyTorch layout, already in the
run's dtype), the mode and the node's dropout mask. It returns the node's output in the input
dtype. Ops register themselves with :func:`reference_op`, as ONNX's reference evaluator keeps
one small implementation per operator.

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.reference import REFERENCE_OPS
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2]\\nbody:\\n  - leaky_relu: {}\\n")
    >>> node = g["leaky_relu_1"]
    >>> REFERENCE_OPS[node.type](node, [np.array([[-1.0, 2.0]])], OpContext()).tolist()
    [[-0.01, 2.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from archdsl.ir import Node

#: Accumulator dtype of every reduction (convolutions, dense, sums, means, batch statistics):
#: float32 runs accumulate in float64 and round once, so the reference is the most exact vote.
ACC = np.float64


@dataclass(frozen=True)
class OpContext:
    """What an op needs besides its node and inputs.

    ``weights``: the node's arrays by weight name (canonical layout, the run's dtype);
    ``train``: training-mode semantics (batch statistics, masks); ``mask``: the node's dropout
    multiplier in the trainers' format (:func:`archdsl.training.dropout_masks`), or ``None``.
    """

    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    train: bool = False
    mask: np.ndarray | None = None


Op = Callable[["Node", list[np.ndarray], OpContext], np.ndarray]

#: layer type → reference op
REFERENCE_OPS: dict[str, Op] = {}


def reference_op(*keys: str) -> Callable[[Op], Op]:
    """Register a function as the reference op of one or more layer types."""

    def deco(fn: Op) -> Op:
        for key in keys:
            if key in REFERENCE_OPS:
                raise TypeError(f"reference op for {key!r} registered twice")
            REFERENCE_OPS[key] = fn
        return fn

    return deco


__all__ = ["ACC", "REFERENCE_OPS", "Op", "OpContext", "reference_op"]
