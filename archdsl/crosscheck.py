"""Forward equivalence of the two lowerings: same weights, same input, every node compared.

Both models are built from one graph, initialized from one seeded numpy scheme
(:mod:`archdsl.init`), run in eval mode on the same random input, and compared node by node
in the IR's channel-first layout. The first node (in topological order) whose output differs by
more than the tolerance is reported: the place to look for a lowering bug.

Example (needs both frameworks)::

    >>> import archdsl
    >>> from archdsl.crosscheck import forward_check
    >>> r = forward_check(archdsl.load("specs/cifar10_cnn.yaml"))  # doctest: +SKIP
    >>> r.ok, r.first_divergent_node  # doctest: +SKIP
    (True, None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.backends import load_backend
from archdsl.init import init_weights

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: Default tolerances (max abs diff), from parity.md's measured float32 / float64 agreement.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


@dataclass
class ForwardReport:
    """The outcome of :func:`forward_check`."""

    dtype: str
    tolerance: float
    params: dict[str, dict[str, int]]
    per_node: dict[str, float]
    max_abs_diff: float
    first_divergent_node: str | None
    shapes_match: bool
    mismatched_shapes: dict[str, Any] = field(default_factory=dict)

    @property
    def params_match(self) -> bool:
        return self.params["analytic"] == self.params["torch"] == self.params["keras"]

    @property
    def ok(self) -> bool:
        return self.first_divergent_node is None and self.shapes_match and self.params_match

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dtype": self.dtype,
            "tolerance": self.tolerance,
            "params": self.params,
            "max_abs_diff": self.max_abs_diff,
            "first_divergent_node": self.first_divergent_node,
            "shapes_match": self.shapes_match,
            "mismatched_shapes": self.mismatched_shapes,
            "per_node": self.per_node,
        }


def random_inputs(
    graph: Graph, batch: int = 2, seed: int = 0, dtype: str = "float32"
) -> list[np.ndarray]:
    """Standard-normal inputs in the IR layout (N, C, *spatial), one per graph input."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, *s)).astype(dtype) for s in graph.input_shapes]


def forward_check(
    graph: Graph,
    dtype: str = "float32",
    tolerance: float | None = None,
    batch: int = 2,
    seed: int = 0,
    init: str | None = None,
    weights: Any = None,
) -> ForwardReport:
    """Build both models with identical weights and compare every node's output.

    ``weights`` (canonical ``{node: {name: array}}``, e.g. imported) replaces the seeded init.
    """
    torch_be, keras_be = load_backend("torch"), load_backend("keras")
    if weights is None:
        weights = init_weights(graph, init, seed)
    t_model = torch_be.build(graph, weights=weights, dtype=dtype)
    k_model = keras_be.build(graph, weights=weights, dtype=dtype)
    inputs = random_inputs(graph, batch, seed, dtype)
    t_out = torch_be.forward(t_model, graph, inputs)
    k_out = keras_be.forward(k_model, graph, inputs)
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    per_node: dict[str, float] = {}
    mismatched: dict[str, Any] = {}
    first = None
    for node_id in graph:
        a, b = t_out[node_id], k_out[node_id]
        if a.shape != b.shape:
            mismatched[node_id] = {"torch": list(a.shape), "keras": list(b.shape)}
            first = first or node_id
            continue
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        per_node[node_id] = diff
        if first is None and not diff <= tol:
            first = node_id
    finals = [per_node.get(o, float("inf")) for o in graph.outputs]
    analytic = {k: graph.params[k] for k in ("trainable", "non_trainable")}
    return ForwardReport(
        dtype=dtype,
        tolerance=tol,
        params={
            "analytic": analytic,
            "torch": torch_be.count_params(t_model),
            "keras": keras_be.count_params(k_model),
        },
        per_node=per_node,
        max_abs_diff=max(finals),
        first_divergent_node=first,
        shapes_match=not mismatched,
        mismatched_shapes=mismatched,
    )
