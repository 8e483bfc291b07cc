"""Forward equivalence of the two lowerings: same weights, same input, every node compared.

Both models are built from one graph, initialized from one seeded numpy scheme
(:mod:`archdsl.init`), run in eval mode on the same random input, and compared node by node
in the IR's channel-first layout. The first node (in topological order) whose output differs by
more than the tolerance is reported: the place to look for a lowering bug.

A fixed absolute tolerance suits small and shallow networks. Deep ones need ``calibrated=True``
(``archdsl crosscheck --calibrated``): PyTorch's default init shrinks activations layer by layer
(EfficientNet-B0's pooled features are ~1e-12 at 64×64), so the deep end of a default-init
check compares near-zeros, while random deep networks amplify round-off (ResNet-152 reaches
~1e-3 relative by layer4), so no fixed tolerance separates round-off from a bug. The
calibrated check therefore uses he_normal weights whose BatchNorm statistics come from a random
batch (:func:`calibrated_weights`: activations O(1)–O(10) at every depth) and a *measured*
per-node tolerance: PyTorch runs a second time on the input perturbed by one ulp, and a node may
differ by :data:`SENSITIVITY` × the change that perturbation causes there, and always by
``tolerance`` · max(1, |x|). Measured on the 17 zoo specs: at most 0.20 of that allowance, while
one BatchNorm variance off by 1 % is caught (tests/zoo/test_zoo_crosscheck.py).

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
    from archdsl.init import Weights

#: Default tolerances (max abs diff), from parity.md's measured float32 / float64 agreement.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
#: Calibrated check: a node may differ by this many times what a one-ulp input perturbation
#: changes there in PyTorch.
SENSITIVITY = 100.0
#: Calibrated check: each BatchNorm variance is floored at this fraction of its layer's mean; a
#: near-constant channel would otherwise divide round-off by √ε (×300) and make the comparison
#: measure conditioning instead of the lowering.
VARIANCE_FLOOR = 0.01


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
    #: calibrated check only: each node's measured allowance (max abs diff allowed there)
    allowed: dict[str, float] = field(default_factory=dict)

    @property
    def calibrated(self) -> bool:
        return bool(self.allowed)

    @property
    def worst(self) -> tuple[str, float] | None:
        """Calibrated check: (node, difference / allowance) of the tightest node."""
        if not self.allowed:
            return None
        ratios = {n: self.per_node[n] / a for n, a in self.allowed.items()}
        node = max(ratios, key=lambda n: ratios[n])
        return node, ratios[node]

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
            "calibrated": self.calibrated,
            **({"allowed": self.allowed, "worst": list(self.worst)} if self.worst else {}),
        }


def random_inputs(
    graph: Graph, batch: int = 2, seed: int = 0, dtype: str = "float32"
) -> list[np.ndarray]:
    """Standard-normal inputs in the IR layout (N, C, *spatial), one per graph input."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, *s)).astype(dtype) for s in graph.input_shapes]


def calibrated_weights(graph: Graph, seed: int = 0, batch: int = 8) -> Weights:
    """he_normal weights with BatchNorm running statistics from a random batch.

    One train-mode PyTorch pass over ``batch`` standard-normal inputs sets each BatchNorm's
    statistics to its input's (as in a trained network, so activations stay O(1)–O(10) at any
    depth); each layer's variances are floored at :data:`VARIANCE_FLOOR` of their mean. Needs
    PyTorch.
    """
    torch_be = load_backend("torch")
    weights = init_weights(graph, "he_normal", seed)
    model = torch_be.build(graph, weights=weights)
    torch_be.calibrate_batchnorm(model, graph, random_inputs(graph, batch, seed + 1))
    out: Weights = torch_be.get_weights(model, graph)
    for arrays in out.values():
        if "running_var" in arrays:
            var = arrays["running_var"]
            arrays["running_var"] = np.maximum(var, VARIANCE_FLOOR * float(var.mean()))
    return out


def one_ulp(inputs: list[np.ndarray], seed: int = 99) -> list[np.ndarray]:
    """The first input with every element moved by one ulp up or down (random signs)."""
    x = inputs[0]
    eps = float(np.finfo(x.dtype).eps)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=x.shape)
    return [x * (1 + signs * eps).astype(x.dtype), *inputs[1:]]


def forward_check(
    graph: Graph,
    dtype: str = "float32",
    tolerance: float | None = None,
    batch: int = 2,
    seed: int = 0,
    init: str | None = None,
    weights: Any = None,
    calibrated: bool = False,
) -> ForwardReport:
    """Build both models with identical weights and compare every node's output.

    ``weights`` (canonical ``{node: {name: array}}``, e.g. imported) replaces the seeded init.
    ``calibrated`` compares against a measured per-node allowance (see the module docs), with
    :func:`calibrated_weights` unless ``weights`` are given.
    """
    torch_be, keras_be = load_backend("torch"), load_backend("keras")
    if weights is None:
        weights = calibrated_weights(graph, seed) if calibrated else init_weights(graph, init, seed)
    t_model = torch_be.build(graph, weights=weights, dtype=dtype)
    k_model = keras_be.build(graph, weights=weights, dtype=dtype)
    inputs = random_inputs(graph, batch, seed, dtype)
    t_out = torch_be.forward(t_model, graph, inputs)
    k_out = keras_be.forward(k_model, graph, inputs)
    t_ulp = torch_be.forward(t_model, graph, one_ulp(inputs)) if calibrated else {}
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    per_node: dict[str, float] = {}
    allowed: dict[str, float] = {}
    mismatched: dict[str, Any] = {}
    first = None
    for node_id in graph:
        a, b = t_out[node_id].astype(np.float64), k_out[node_id].astype(np.float64)
        if a.shape != b.shape:
            mismatched[node_id] = {"torch": list(a.shape), "keras": list(b.shape)}
            first = first or node_id
            continue
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        per_node[node_id] = diff
        limit = tol
        if calibrated and a.size:
            sensitivity = float(np.max(np.abs(t_ulp[node_id].astype(np.float64) - a)))
            scale = max(1.0, float(np.max(np.abs(a))))
            limit = allowed[node_id] = max(SENSITIVITY * sensitivity, tol * scale)
        if first is None and not diff <= limit:
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
        allowed=allowed,
    )
