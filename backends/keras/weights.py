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
scale, parameter  unchanged (IR axis order)    ``scale`` (LayerScale), ``value`` (Parameter)
in_kernel         ``(3D, D)`` → q, k, v each   ``query_dense.kernel`` ... ``value_dense``
                  ``W.T`` → ``(D, heads, D/h)``
in_bias           ``(3D)`` → q, k, v each      ``query_dense.bias`` ... ``value_dense``
                  ``(heads, D/h)``
out_kernel        ``(D, D)`` → ``W.T`` →       ``output_dense.kernel``
                  ``(heads, D/h, D)``
out_bias          unchanged                    ``output_dense.bias``
================  ==========================  ========================================

Attention's canonical tensors are nn.MultiheadAttention's (stacked q, k, v projections); Keras'
MultiHeadAttention keeps one EinsumDense per projection, so one canonical tensor maps to three
variables (``Weight.groups`` holds the number of heads).

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
    if rank < 2 or w.role == "parameter":
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
    if rank < 2 or w.role == "parameter":
        return arr
    if w.role == "depthwise_kernel":
        k = arr.ndim - 2
        return arr.transpose(k, k + 1, *range(k)).reshape(w.shape)
    return arr.transpose(np.argsort(_perm(rank)))


#: attention role → the MultiHeadAttention sublayers holding its parts, and the variable
_ATTENTION = {
    "in_kernel": (("query_dense", "key_dense", "value_dense"), "kernel"),
    "in_bias": (("query_dense", "key_dense", "value_dense"), "bias"),
    "out_kernel": (("output_dense",), "kernel"),
    "out_bias": (("output_dense",), "bias"),
}


def to_keras_parts(w: Weight, arr: np.ndarray) -> list[np.ndarray]:
    """One canonical array → the arrays of the Keras variables holding it, in the order of
    :func:`keras_variables` (one, except attention's stacked q, k, v projections: three).

    >>> w = Weight((12, 4), "in_kernel", groups=2)  # D = 4, 2 heads
    >>> [a.shape for a in to_keras_parts(w, np.zeros(w.shape))]
    [(4, 2, 2), (4, 2, 2), (4, 2, 2)]
    """
    if w.role not in _ATTENTION:
        return [to_keras(w, arr)]
    heads = w.groups
    if w.role == "out_bias":
        return [arr]
    if w.role == "out_kernel":
        d = w.shape[0]
        return [arr.T.reshape(heads, d // heads, d)]
    parts = np.split(arr, 3, axis=0)
    if w.role == "in_bias":
        return [p.reshape(heads, -1) for p in parts]
    return [p.T.reshape(p.shape[1], heads, -1) for p in parts]


def from_keras_parts(w: Weight, arrays: list[np.ndarray]) -> np.ndarray:
    """Inverse of :func:`to_keras_parts`."""
    if w.role not in _ATTENTION:
        return from_keras(w, arrays[0])
    if w.role == "out_bias":
        return arrays[0]
    if w.role == "out_kernel":
        return arrays[0].reshape(-1, w.shape[1]).T
    if w.role == "in_bias":
        return np.concatenate([a.reshape(-1) for a in arrays])
    return np.concatenate([a.reshape(a.shape[0], -1).T for a in arrays])


def keras_variables(model: keras.Model, node_id: str, name: str, w: Weight) -> list[Any]:
    """The Keras variable(s) holding canonical weight ``name`` (role ``w.role``) of
    ``node_id``: :func:`keras_variable`'s one, or the q, k, v (or output) projections'
    variables of a MultiHeadAttention layer."""
    if w.role not in _ATTENTION:
        return [keras_variable(model, node_id, name)]
    layer = model.get_layer(node_id)
    sublayers, attr = _ATTENTION[w.role]
    return [getattr(getattr(layer, s), attr) for s in sublayers]


def _read(model: keras.Model, node_id: str, name: str, w: Weight) -> np.ndarray:
    """Canonical array of weight ``name`` of ``node_id`` read from the model."""
    values = [keras.ops.convert_to_numpy(v) for v in keras_variables(model, node_id, name, w)]
    return from_keras_parts(w, values)


def keras_variable(model: keras.Model, node_id: str, name: str) -> Any:
    """The Keras variable holding canonical weight ``name`` of node ``node_id`` (attention's
    weights are held by several: :func:`keras_variables`)."""
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
            arrays[name] = _read(model, node_id, name, w)
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
        pair
        for node_id, arrays in weights.items() if node_id in graph.nx
        for name, value in arrays.items()
        for pair in _converted(model, node_id, name, graph[node_id].weights, value)
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
               value: Any) -> list[tuple[Any, np.ndarray]]:
    """[(Keras variable, array in its layout)] for canonical weight ``name`` of ``node_id``
    (several for attention's stacked projections), after checking the name and both
    shapes."""
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
    pairs = list(zip(keras_variables(model, node_id, name, w), to_keras_parts(w, arr)))
    for var, converted in pairs:
        if tuple(converted.shape) != tuple(var.shape):
            raise BackendError(
                f"set_weights: node '{node_id}', weight '{name}': the Keras variable has "
                f"shape {list(var.shape)}, the converted weight {list(converted.shape)}"
            )
    return pairs


__all__ = ["ATTRIBUTES", "Weights", "from_keras", "from_keras_parts", "get_weights",
           "keras_variable", "keras_variables", "set_weights", "to_keras", "to_keras_parts"]
