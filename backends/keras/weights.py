"""Weight transfer between the canonical layout (PyTorch's) and the Keras layers.

Canonical weights are ``{node id: {weight name: array}}`` (:mod:`archdsl.init`), each array in
the layout of :class:`archdsl.layers.Weight` ``shape``. The Keras variable of a weight is the
attribute of the layer named by the node id (see :mod:`archdsl.backends.keras.lower`):

================  ==========================  ========================================
canonical role    canonical → Keras            Keras attribute
================  ==========================  ========================================
kernel (dense)    ``(out, in)`` → ``W.T``      ``kernel``
kernel (conv)     ``(O, I/g, *k)`` → ``(*k, I/g, O)``  ``kernel`` / ``pointwise_kernel``
transposed        ``(I, O, *k)`` → ``(*k, O, I)``      ``kernel``
depthwise         ``(C·M, 1, *k)`` → reshape ``(C, M, *k)`` → ``(*k, C, M)``
                                               ``kernel`` (Depthwise) / ``depthwise_kernel``
bias, γ, β        unchanged                    ``bias``, ``gamma``, ``beta``
running stats     unchanged                    ``moving_mean``, ``moving_variance``
================  ==========================  ========================================

Example:
    >>> import numpy as np
    >>> from archdsl.layers import Weight
    >>> w = Weight((6, 1, 3, 3), "depthwise_kernel", groups=3)  # C=3, M=2
    >>> to_keras(w, np.zeros(w.shape)).shape
    (3, 3, 3, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from archdsl.errors import BackendError, did_you_mean
from archdsl.layers import Weight

Weights = dict[str, dict[str, np.ndarray]]

#: canonical weight name → Keras layer attribute
ATTRIBUTES = {
    "kernel": "kernel",
    "depthwise_kernel": "depthwise_kernel",
    "pointwise_kernel": "pointwise_kernel",
    "bias": "bias",
    "gamma": "gamma",
    "beta": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def _perm(rank: int) -> tuple[int, ...]:
    """(A, B, *k) → (*k, B, A); for rank 2 this is the plain transpose."""
    return (*range(2, rank), 1, 0)


def to_keras(w: Weight, arr: np.ndarray) -> np.ndarray:
    """Convert one canonical array to the Keras layout of the same weight."""
    rank = len(w.shape)
    if rank < 2:
        return arr
    if w.role == "depthwise_kernel":
        c = w.groups
        m = w.shape[0] // c
        split = arr.reshape(c, m, *w.shape[2:])
        return split.transpose(*range(2, rank), 0, 1)
    return arr.transpose(_perm(rank))


def from_keras(w: Weight, arr: np.ndarray) -> np.ndarray:
    """Convert one Keras array back to the canonical layout (inverse of :func:`to_keras`)."""
    rank = len(w.shape)
    if rank < 2:
        return arr
    if w.role == "depthwise_kernel":
        k = arr.ndim - 2
        return arr.transpose(k, k + 1, *range(k)).reshape(w.shape)
    return arr.transpose(np.argsort(_perm(rank)))


def keras_variable(model: keras.Model, node_id: str, name: str) -> Any:
    """The Keras variable holding canonical weight ``name`` of node ``node_id``."""
    try:
        layer = model.get_layer(node_id)
    except ValueError:
        raise BackendError(f"the Keras model has no layer '{node_id}'",
                           hint="was it built from this graph?") from None
    attr = ATTRIBUTES.get(name, name)
    var = getattr(layer, attr, None)
    if var is None:
        raise BackendError(
            f"node '{node_id}': the Keras layer {type(layer).__name__} has no variable "
            f"'{attr}' for weight '{name}'"
        )
    return var


def get_weights(model: keras.Model, graph: Any) -> Weights:
    """Read every weight of ``model`` in the canonical layout ``{node: {name: array}}``.

    Arrays keep the model's dtype (float32 or float64).

    Example:
        >>> import archdsl
        >>> from archdsl.backends import keras as kb
        >>> g = archdsl.load("specs/cifar10_cnn.yaml")
        >>> w = kb.get_weights(kb.build(g), g)
        >>> w["logits"]["kernel"].shape
        (10, 512)
    """
    out: Weights = {}
    for node_id, node in graph.layers():
        if not node.weights:
            continue
        arrays = {}
        for name, w in node.weights.items():
            value = keras.ops.convert_to_numpy(keras_variable(model, node_id, name))
            arrays[name] = from_keras(w, value)
        out[node_id] = arrays
    return out


def set_weights(model: keras.Model, graph: Any, weights: Weights, *, strict: bool = True) -> None:
    """Assign canonical weights to ``model``, converting layouts and casting to its dtype.

    ``strict`` (default) requires exactly the graph's weights: a missing node or weight, or a
    node without weights, is an error. ``strict=False`` assigns the given subset and skips
    nodes the graph does not have (like ``torch.nn.Module.load_state_dict``). Always errors:
    an unknown weight name of a known node, or an array of the wrong shape, as a
    :class:`~archdsl.errors.BackendError` naming the node, the weight, the expected and the
    received shape. Nothing is assigned when an error is raised.

    Example:
        >>> import archdsl, numpy as np
        >>> from archdsl.backends import keras as kb
        >>> g = archdsl.load("specs/cifar10_cnn.yaml")
        >>> m = kb.build(g)
        >>> kb.set_weights(m, g, {"logits": {"bias": np.arange(10.0)}}, strict=False)
        >>> kb.get_weights(m, g)["logits"]["bias"][:3].tolist()
        [0.0, 1.0, 2.0]
    """
    if strict:
        _check_exact(graph, weights)
    plan = [
        _converted(model, node_id, name, graph[node_id].weights, value)
        for node_id, arrays in weights.items() if node_id in graph.nx
        for name, value in arrays.items()
    ]
    for var, converted in plan:
        var.assign(converted.astype(var.dtype))


def _check_exact(graph: Any, weights: Weights) -> None:
    """``set_weights(strict=True)``: every weighted node of ``graph`` and no other node."""
    expected_nodes = {n: node.weights for n, node in graph.layers() if node.weights}
    for node_id in weights:
        if node_id not in expected_nodes:
            why = ("has no weights" if node_id in graph.nx else "is not a node of the graph."
                   + did_you_mean(node_id, graph.nx.nodes))
            raise BackendError(f"set_weights: '{node_id}' {why}")
    for node_id, names in expected_nodes.items():
        missing = [name for name in names if name not in weights.get(node_id, {})]
        if missing:
            raise BackendError(
                f"set_weights: no value given for weight(s) {', '.join(missing)} of node "
                f"'{node_id}'", hint="pass strict=False to set a subset"
            )


def _converted(model: keras.Model, node_id: str, name: str, expected: Mapping[str, Weight],
               value: Any) -> tuple[Any, np.ndarray]:
    """(Keras variable, array in its layout) for canonical weight ``name`` of ``node_id``,
    after checking the name and both shapes."""
    if name not in expected:
        valid = ", ".join(expected) or "(none)"
        raise BackendError(
            f"set_weights: node '{node_id}' has no weight '{name}'."
            f"{did_you_mean(name, expected)} Its weights: {valid}"
        )
    w = expected[name]
    arr = np.asarray(value)
    if tuple(arr.shape) != tuple(w.shape):
        raise BackendError(
            f"set_weights: node '{node_id}', weight '{name}': expected shape "
            f"{list(w.shape)} (canonical PyTorch layout), received {list(arr.shape)}"
        )
    var = keras_variable(model, node_id, name)
    converted = to_keras(w, arr)
    if tuple(converted.shape) != tuple(var.shape):
        raise BackendError(
            f"set_weights: node '{node_id}', weight '{name}': the Keras variable has "
            f"shape {list(var.shape)}, the converted weight {list(converted.shape)}"
        )
    return var, converted


__all__ = ["ATTRIBUTES", "Weights", "from_keras", "get_weights", "set_weights", "to_keras"]
