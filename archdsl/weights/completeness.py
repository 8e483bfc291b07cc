"""Completeness: every weight of a graph present, with its canonical shape, and no other.

What ``build`` / ``crosscheck --weights FILE.npz`` need before they hand weights to a
backend: an error here names the node, the weight and both shapes, where a backend would fail
later with a framework's message.

Example:
    >>> import archdsl, numpy as np
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n  - dense: {units: 2}\\n")
    >>> check_complete(g, {"dense_1": {"kernel": np.zeros((2, 4)), "bias": np.zeros(2)}})
    >>> def check(weights):
    ...     try:
    ...         check_complete(g, {"dense_1": weights})
    ...     except WeightsError as err:
    ...         print(err)
    >>> check({"kernel": np.zeros((2, 4))})
    weights for node 'dense_1' lack 'bias' (expected: kernel, bias)
    >>> check({"kernel": np.zeros((4, 2)), "bias": np.zeros(2)})
    node 'dense_1', weight 'kernel': expected shape [2, 4], received [4, 2]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.weights.errors import WeightsError

if TYPE_CHECKING:
    from archdsl.graph import Graph
    from archdsl.layers.base import Weight


def check_node(node_id: str, expected: Mapping[str, Weight], given: Mapping[str, Any]) -> None:
    """Raise :class:`WeightsError` unless ``given`` holds exactly the ``expected`` weights of
    node ``node_id``, each with its canonical shape."""
    for name, w in expected.items():
        if name not in given:
            raise WeightsError(f"weights for node '{node_id}' lack '{name}' "
                               f"(expected: {', '.join(expected)})")
        shape = tuple(np.shape(given[name]))
        if shape != tuple(w.shape):
            raise WeightsError(f"node '{node_id}', weight '{name}': expected shape "
                               f"{list(w.shape)}, received {list(shape)}")
    extra = [n for n in given if n not in expected]
    if extra:
        raise WeightsError(f"node '{node_id}' has no weight(s) {', '.join(extra)} "
                           f"(its weights: {', '.join(expected)})")


def check_complete(graph: Graph, weights: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise :class:`WeightsError` unless ``weights`` has every weight of ``graph`` (and no
    other) with the canonical shape (see the module docstring)."""
    known = set()
    for node_id, node in graph.layers():
        if not node.weights:
            continue
        known.add(node_id)
        given = weights.get(node_id)
        if given is None:
            raise WeightsError(f"no weights for node '{node_id}' "
                               f"(expected: {', '.join(node.weights)})")
        check_node(node_id, node.weights, given)
    extra_nodes = [n for n in weights if n not in known]
    if extra_nodes:
        raise WeightsError(f"the weights name node(s) the graph does not have (or that have no "
                           f"weights): {', '.join(extra_nodes[:5])}"
                           + (" ..." if len(extra_nodes) > 5 else ""))


__all__ = ["check_complete", "check_node"]
