"""Forward equivalence of the two lowerings, with a third vote: same weights, same input, every
node compared.

Both models are built from one graph, initialized from one seeded numpy scheme
(:mod:`archdsl.init`), run in eval mode on the same random input, and compared node by node
in the IR's channel-first layout. The first node (in topological order) whose output differs by
more than the tolerance is reported: the place to look for a lowering bug.

Two frameworks that disagree do not say which one is wrong. The numpy reference
(:mod:`archdsl.reference`, computed from the layer definitions alone) runs on the same weights
and input and is the third vote: at the first node where the three do not all agree, the
framework that departs from the reference is named (``departs``: ``"torch"``, ``"keras"``,
``"both"``; ``None`` when all three agree). ``reference=False`` (``crosscheck
--no-reference``) skips it.

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
one BatchNorm variance off by 1 % is caught (tests/zoo/test_zoo_crosscheck.py). The reference
is held to the same per-node allowance.

Example (needs both frameworks)::

    >>> import archdsl
    >>> from archdsl.crosscheck import forward_check
    >>> r = forward_check(archdsl.load("specs/cifar10_cnn.yaml"))  # doctest: +SKIP
    >>> r.ok, r.first_divergent_node, r.departs  # doctest: +SKIP
    (True, None, None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.backends import load_backend
from archdsl.init import init_weights
from archdsl.reference import count_params as reference_params
from archdsl.reference import forward as reference_forward
from archdsl.reference import missing_ops

if TYPE_CHECKING:
    from archdsl.graph import Graph
    from archdsl.init import Weights

#: Default tolerances (max abs diff), from the measured float32 / float64 agreement
#: (docs/conventions.md).
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
#: Calibrated check: a node may differ by this many times what a one-ulp input perturbation
#: changes there in PyTorch.
SENSITIVITY = 100.0
#: Calibrated check: each BatchNorm variance is floored at this fraction of its layer's mean; a
#: near-constant channel would otherwise divide round-off by √ε (×300) and make the comparison
#: measure conditioning instead of the lowering.
VARIANCE_FLOOR = 0.01


#: the two frameworks, in the order reports list them
FRAMEWORKS = ("torch", "keras")
#: how reports name them
FRAMEWORK_NAMES = {"torch": "PyTorch", "keras": "Keras"}


@dataclass
class ForwardReport:
    """The outcome of :func:`forward_check`.

    ``per_node`` holds each node's PyTorch–Keras difference. With the reference (the default),
    ``reference_per_node`` holds each node's difference of each framework from the numpy
    reference, and ``departs`` names who leaves it at the first node where the three votes
    disagree (``departs_at``): ``"torch"``, ``"keras"``, ``"both"``, or ``None`` when all
    three agree.
    """

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
    #: whether the numpy reference ran (the third vote), else why not
    reference: bool = False
    reference_skipped: str | None = None
    reference_per_node: dict[str, dict[str, float]] = field(default_factory=dict)
    reference_max_abs_diff: dict[str, float] = field(default_factory=dict)
    departs: str | None = None
    departs_at: str | None = None

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
        """Every count (PyTorch, Keras, the reference when it ran) equals the analytic one."""
        return all(counts == self.params["analytic"] for counts in self.params.values())

    @property
    def ok(self) -> bool:
        return (
            self.first_divergent_node is None
            and self.shapes_match
            and self.params_match
            and self.departs is None
        )

    def limit(self, node_id: str) -> float:
        """The difference allowed at a node: its measured allowance, else the tolerance."""
        return self.allowed.get(node_id, self.tolerance)

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
            "reference": self.reference,
            **({} if self.reference else {"reference_skipped": self.reference_skipped}),
            "reference_max_abs_diff": self.reference_max_abs_diff,
            "reference_per_node": self.reference_per_node,
            "departs": self.departs,
            "departs_at": self.departs_at,
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
    reference: bool = True,
) -> ForwardReport:
    """Build both models with identical weights and compare every node's output.

    ``weights`` (canonical ``{node: {name: array}}``, e.g. imported) replaces the seeded init.
    ``calibrated`` compares against a measured per-node allowance (see the module docs), with
    :func:`calibrated_weights` unless ``weights`` are given. ``reference`` also runs the numpy
    reference (:mod:`archdsl.reference`) on the same weights and input, the third vote that
    says which framework departs when the two disagree.
    """
    if weights is None:
        weights = calibrated_weights(graph, seed) if calibrated else init_weights(graph, init, seed)
    inputs = random_inputs(graph, batch, seed, dtype)
    runs = _run_frameworks(graph, weights, inputs, dtype, calibrated)
    report = _compare(graph, runs, dtype, TOLERANCE[dtype] if tolerance is None else tolerance)
    if reference:
        _reference_vote(report, graph, weights, inputs, runs.outputs)
    else:
        report.reference_skipped = "not requested"
    return report


@dataclass
class _Runs:
    """Both frameworks' outputs and parameter counts, and PyTorch's one-ulp run (calibrated)."""

    outputs: dict[str, dict[str, np.ndarray]]
    params: dict[str, dict[str, int]]
    ulp: dict[str, np.ndarray]


def _run_frameworks(
    graph: Graph, weights: Any, inputs: list[np.ndarray], dtype: str, calibrated: bool
) -> _Runs:
    outputs: dict[str, dict[str, np.ndarray]] = {}
    params = {"analytic": {k: graph.params[k] for k in ("trainable", "non_trainable")}}
    ulp: dict[str, np.ndarray] = {}
    for name in FRAMEWORKS:
        backend = load_backend(name)
        model = backend.build(graph, weights=weights, dtype=dtype)
        outputs[name] = backend.forward(model, graph, inputs)
        params[name] = backend.count_params(model)
        if calibrated and name == "torch":
            ulp = backend.forward(model, graph, one_ulp(inputs))
    return _Runs(outputs, params, ulp)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a − b|`` in float64; 0 for empty arrays, ∞ when the shapes differ."""
    if a.shape != b.shape:
        return float("inf")
    if not a.size:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def _compare(graph: Graph, runs: _Runs, dtype: str, tol: float) -> ForwardReport:
    """PyTorch against Keras at every node, with the calibrated allowance when measured."""
    t_out, k_out = runs.outputs["torch"], runs.outputs["keras"]
    per_node: dict[str, float] = {}
    allowed: dict[str, float] = {}
    mismatched: dict[str, Any] = {}
    first = None
    for node_id in graph:
        a, b = t_out[node_id], k_out[node_id]
        if a.shape != b.shape:
            mismatched[node_id] = {"torch": list(a.shape), "keras": list(b.shape)}
            first = first or node_id
            continue
        per_node[node_id] = diff = max_abs_diff(a, b)
        limit = tol
        if runs.ulp and a.size:
            sensitivity = max_abs_diff(runs.ulp[node_id], a)
            scale = max(1.0, float(np.max(np.abs(a.astype(np.float64)))))
            limit = allowed[node_id] = max(SENSITIVITY * sensitivity, tol * scale)
        if first is None and not diff <= limit:
            first = node_id
    return ForwardReport(
        dtype=dtype,
        tolerance=tol,
        params=runs.params,
        per_node=per_node,
        max_abs_diff=max(per_node.get(o, float("inf")) for o in graph.outputs),
        first_divergent_node=first,
        shapes_match=not mismatched,
        mismatched_shapes=mismatched,
        allowed=allowed,
    )


def _reference_vote(
    report: ForwardReport,
    graph: Graph,
    weights: Any,
    inputs: list[np.ndarray],
    outputs: dict[str, dict[str, np.ndarray]],
) -> None:
    """Run the numpy reference and record how far each framework is from it, and who departs."""
    missing = missing_ops(graph)
    if missing:
        report.reference_skipped = f"no reference op for {', '.join(missing)}"
        return
    ref = reference_forward(graph, weights, *inputs, dtype=report.dtype)
    report.reference = True
    report.params["reference"] = reference_params(graph, weights)
    per = {n: {fw: max_abs_diff(outputs[fw][n], ref[n]) for fw in FRAMEWORKS} for n in graph}
    report.reference_per_node = per
    report.reference_max_abs_diff = {
        fw: max(per[o][fw] for o in graph.outputs) for fw in FRAMEWORKS
    }
    report.departs, report.departs_at = departs(report)


def departs(report: ForwardReport) -> tuple[str | None, str | None]:
    """(who departs from the reference, where): at the first node where the three votes do not
    all agree within the node's limit, the frameworks whose difference from the reference
    exceeds it (``"both"`` for two). When PyTorch and Keras disagree there but each stays
    within the limit of the reference, the one farther from it. ``(None, None)``: all agree.
    """
    for node_id, diffs in report.reference_per_node.items():
        limit = report.limit(node_id)
        pair = report.per_node.get(node_id, float("inf"))
        away = [fw for fw in FRAMEWORKS if not diffs[fw] <= limit]
        if len(away) == 2:
            return "both", node_id
        if away:
            return away[0], node_id
        if not pair <= limit:
            return max(FRAMEWORKS, key=lambda fw: diffs[fw]), node_id
    return None, None
