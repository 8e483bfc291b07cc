"""The reference executor: the graph run by the numpy ops of :data:`REFERENCE_OPS`.

:class:`ReferenceExecutor` is an :class:`~archdsl.interpreter.Interpreter`: it walks the graph
in topological order and calls each node's op with its inputs' arrays and an
:class:`~archdsl.reference.registry.OpContext` (the node's weights cast to the run's dtype, the
mode, its dropout mask). Every output is checked against the IR shape, so a reference op and
the shape rule also check each other.

Example:
    >>> import archdsl
    >>> from archdsl.init import init_weights
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> x = np.zeros((2, 3, 32, 32), dtype="float32")
    >>> out = ReferenceExecutor(g, init_weights(g), dtype="float32").run(x)
    >>> out["logits"].shape, out["logits"].dtype
    ((2, 10), dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.errors import BackendError
from archdsl.interpreter import Interpreter
from archdsl.reference.registry import REFERENCE_OPS, OpContext

if TYPE_CHECKING:
    from archdsl.graph import Graph
    from archdsl.ir import Node

DTYPES = ("float32", "float64")


def missing_ops(graph: Graph | None = None) -> list[str]:
    """Layer types without a reference op: in ``graph``, or registered at all (``None``).

    >>> missing_ops()
    []
    """
    from archdsl.layers import REGISTRY

    types = REGISTRY if graph is None else {node.type for node in graph.walk()}
    return sorted(t for t in types if t not in REFERENCE_OPS)


class ReferenceExecutor(Interpreter[np.ndarray]):
    """Run ``graph`` in numpy with canonical ``weights`` (``{node: {name: array}}``).

    ``dtype``: float32 or float64, the dtype of every value (weights and inputs are cast to
    it; reductions accumulate in float64). ``train``: BatchNorm uses the batch statistics and
    dropout the supplied ``masks`` (``{node id: multiplier}``, see
    :func:`archdsl.training.dropout_masks`); eval mode ignores masks.
    """

    def __init__(
        self,
        graph: Graph,
        weights: Mapping[str, Mapping[str, Any]],
        *,
        dtype: str = "float64",
        train: bool = False,
        masks: Mapping[str, Any] | None = None,
        keep_all: bool = True,
    ) -> None:
        super().__init__(graph, keep_all=keep_all)
        if dtype not in DTYPES:
            raise BackendError(f"reference dtype must be one of {DTYPES}, received {dtype!r}")
        missing = missing_ops(graph)
        if missing:
            raise BackendError(f"no reference op for layer type(s): {', '.join(missing)}")
        self.dtype = np.dtype(dtype)
        self.train = train
        self.masks = dict(masks or {})
        self.weights = {
            node.id: self._node_weights(node, weights.get(node.id, {})) for node in graph.walk()
        }

    def _node_weights(self, node: Node, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        out = {}
        for name, w in node.weights.items():
            if name not in arrays:
                raise BackendError(f"no weight '{name}' for node '{node.id}' in the weights")
            arr = np.asarray(arrays[name], dtype=self.dtype)
            if arr.shape != tuple(w.shape):
                raise BackendError(
                    f"weight '{node.id}/{name}' has shape {list(arr.shape)}, the graph needs "
                    f"{list(w.shape)}"
                )
            out[name] = arr
        return out

    def run(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every node's output (``keep_all``) for batch-first inputs in the IR layout."""
        if len(inputs) == len(self.graph.inputs):  # else the base class names the inputs
            inputs = tuple(self._input(n, x) for n, x in zip(self.graph.inputs, inputs))
        return super().run(*inputs)

    def _input(self, node_id: str, x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=self.dtype)
        want = tuple(self.graph[node_id].shape)
        if arr.shape[1:] != want:
            raise BackendError(
                f"input '{node_id}': expected shape (N, {', '.join(map(str, want))}), "
                f"received {arr.shape}"
            )
        return arr

    def run_node(self, node: Node, args: list[np.ndarray]) -> np.ndarray:
        ctx = OpContext(self.weights[node.id], self.train, self.masks.get(node.id))
        y = np.asarray(REFERENCE_OPS[node.type](node, args, ctx), dtype=self.dtype)
        if y.shape[1:] != tuple(node.shape):
            raise BackendError(
                f"reference op '{node.type}' at node '{node.id}' returned shape "
                f"{list(y.shape[1:])}, the IR says {list(node.shape)}"
            )
        return y


def count_params(graph: Graph, weights: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Trainable / non-trainable sizes of the arrays the reference reads from ``weights``."""
    counts = {"trainable": 0, "non_trainable": 0}
    for node in graph.walk():
        for name, w in node.weights.items():
            if name in weights.get(node.id, {}):
                size = int(np.size(weights[node.id][name]))
                counts["trainable" if w.trainable else "non_trainable"] += size
    return counts


def forward(
    graph: Graph,
    weights: Mapping[str, Mapping[str, Any]] | None,
    *inputs: Any,
    dtype: str = "float64",
    train: bool = False,
    masks: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Every node's output (inputs included) of ``graph`` on ``inputs``, computed in numpy.

    ``weights``: canonical ``{node: {name: array}}`` (:func:`archdsl.init.init_weights`);
    ``None`` initializes with the spec's scheme, seed 0. ``inputs``: one batch-first array per
    graph input, IR layout (N, C, *S).

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2]\\nbody:\\n  - softmax: {}\\n")
    >>> forward(g, None, np.zeros((1, 2)))["softmax_1"].tolist()
    [[0.5, 0.5]]
    """
    if weights is None:
        from archdsl.init import init_weights

        weights = init_weights(graph)
    ex = ReferenceExecutor(graph, weights, dtype=dtype, train=train, masks=masks)
    return ex.run(*inputs)


__all__ = ["DTYPES", "ReferenceExecutor", "count_params", "forward", "missing_ops"]
