"""Activations, element-wise in the input dtype, and softmax along an IR axis.

Forms follow the layer definitions (:mod:`archdsl.layers.activation`): exact GELU uses erf,
``approximate: tanh`` the tanh formula; hard sigmoid is ``relu6(x + 3) / 6``; leaky ReLU and
ELU take their explicit constants. Softmax's axis is the IR's (0 = channels), i.e. the
array's ``axis + 1`` past the batch.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [5]\\nbody:\\n  - hard_sigmoid: {}\\n")
    >>> x = np.array([[-4.0, -1.0, 0.0, 1.0, 4.0]])
    >>> forward(g, {}, x)["hard_sigmoid_1"].tolist()
    [[0.0, 0.3333333333333333, 0.5, 0.6666666666666666, 1.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.reference.registry import ACC, OpContext, reference_op

if TYPE_CHECKING:
    from archdsl.ir import Node

_ERF = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function element-wise (``math.erf``; numpy has none), in float64."""
    return np.asarray(_ERF(x.astype(ACC)), dtype=ACC)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(−x))``; saturates to 0 without an overflow warning."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6)


def _simple(key: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    def op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
        return fn(xs[0]).astype(xs[0].dtype, copy=False)

    op.__name__ = op.__qualname__ = f"{key}_op"
    op.__doc__ = f"The {key} activation, element-wise."
    reference_op(key)(op)


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "relu": lambda x: np.maximum(x, 0),
    "relu6": relu6,
    "sigmoid": sigmoid,
    "hard_sigmoid": lambda x: relu6(x + 3) / 6,
    "swish": lambda x: x * sigmoid(x),
    "hard_swish": lambda x: x * relu6(x + 3) / 6,
    "tanh": np.tanh,
}
for _key, _fn in _SIMPLE.items():
    _simple(_key, _fn)


@reference_op("leaky_relu")
def leaky_relu_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x`` if x > 0 else ``negative_slope · x``."""
    x = xs[0]
    return np.where(x > 0, x, x * np.asarray(node.params.negative_slope, x.dtype))


@reference_op("elu")
def elu_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``x`` if x > 0 else ``alpha · (exp(x) − 1)`` (expm1, as PyTorch)."""
    x = xs[0]
    neg = np.asarray(node.params.alpha, x.dtype) * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, neg)


@reference_op("gelu")
def gelu_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Exact ``x · Φ(x)`` (erf, computed in float64) or the tanh approximation."""
    x = xs[0]
    if node.params.approximate == "none":
        x64 = x.astype(ACC)
        return (0.5 * x64 * (1 + erf(x64 / math.sqrt(2)))).astype(x.dtype)
    c = np.asarray(math.sqrt(2 / math.pi), x.dtype)
    return 0.5 * x * (1 + np.tanh(c * (x + np.asarray(0.044715, x.dtype) * x**3)))


@reference_op("softmax")
def softmax_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``exp(x − max) / Σ exp(x − max)`` along the IR axis (sum accumulated in float64)."""
    x = xs[0]
    axis = node.params.axis + 1 if node.params.axis >= 0 else node.params.axis
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True, dtype=ACC)).astype(x.dtype)


__all__ = ["erf", "relu6", "sigmoid"]
