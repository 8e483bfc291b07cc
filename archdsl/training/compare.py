"""Two frameworks trained in lock-step, compared: :func:`lockstep_run` and the per-node diffs.

:func:`lockstep_run` runs the lock-step loop for a number of steps (crossing epochs as needed)
with hooks that record every step's losses and, optionally, the first node whose gradients
diverge; then it compares the weights and the eval-mode logits. ``archdsl crosscheck
--train-steps`` (:func:`~archdsl.training.train_crosscheck`) and ``archdsl ablate``
(:func:`archdsl.ablation.run_ablation`) are built on it.

Example:
    >>> a = {"conv": {"kernel": np.ones(3), "bias": np.zeros(1)}}
    >>> b = {"conv": {"kernel": np.ones(3) * 1.5, "bias": np.zeros(1)}}
    >>> weight_rel_diffs(["input", "conv"], a, b)
    {'conv': 0.5}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from archdsl.trainconfig import TrainConfig
from archdsl.training.data import TrainData
from archdsl.training.errors import TrainingError
from archdsl.training.frameworks import Framework
from archdsl.training.loop import Lockstep, LoopHooks, Session, StepEvent, start_session

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: Gradient tolerance of a cross-check (max |Δg| / max |g| per node).
GRAD_TOLERANCE = {"float32": 1e-3, "float64": 1e-9}

Weights = Mapping[str, Mapping[str, np.ndarray]]


def grad_rel_diffs(graph: Iterable[str], a: Weights, b: Weights) -> dict[str, float]:
    """Per node (topological order): max |Δg| over its weights / max |g| over its weights.

    Normalizing by the node's largest gradient keeps a mathematically-zero gradient (a conv
    bias before BatchNorm) from reporting round-off as divergence. A node missing on one side,
    or with different weight names or shapes, gets ``inf``.

    Example:
        >>> import archdsl
        >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n- dense: {units: 2}")
        >>> ga = {"dense_1": {"kernel": np.ones((2, 4)), "bias": np.zeros(2)}}
        >>> gb = {"dense_1": {"kernel": np.ones((2, 4)) * 1.5, "bias": np.zeros(2)}}
        >>> grad_rel_diffs(g, ga, gb)
        {'dense_1': 0.3333333333333333}
    """
    out: dict[str, float] = {}
    for node in graph:
        if node not in a and node not in b:
            continue
        wa, wb = a.get(node), b.get(node)
        if wa is None or wb is None or set(wa) != set(wb):
            out[node] = math.inf
            continue
        diff = scale = 0.0
        for name in wa:
            x = np.asarray(wa[name], np.float64)
            y = np.asarray(wb[name], np.float64)
            if x.shape != y.shape:
                diff = math.inf
                break
            if x.size:
                diff = max(diff, float(np.max(np.abs(x - y))))
                scale = max(scale, float(np.max(np.abs(x))), float(np.max(np.abs(y))))
        out[node] = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
    return out


def weight_rel_diffs(graph: Iterable[str], a: Weights, b: Weights) -> dict[str, float]:
    """Per node: max over its weights of max |Δw| / max |w| (each weight scaled by itself)."""
    out: dict[str, float] = {}
    for node in graph:
        if node not in a or node not in b:
            continue
        worst = 0.0
        for name, x in a[node].items():
            worst = max(worst, _rel(x, b[node].get(name)))
        out[node] = worst
    return out


def _rel(x: np.ndarray, y: np.ndarray | None) -> float:
    """max |x - y| / max |x|; ``inf`` when ``y`` is missing or has another shape."""
    if y is None:
        return math.inf
    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x64.shape != y64.shape:
        return math.inf
    if not x64.size:
        return 0.0
    d = float(np.max(np.abs(x64 - y64)))
    s = float(np.max(np.abs(x64)))
    return d / s if s > 0 else (0.0 if d == 0 else math.inf)


@dataclass
class LockstepRun:
    """The outcome of :func:`lockstep_run`: per-step losses, drift, eval logits."""

    frameworks: tuple[str, ...]
    native: tuple[str, ...]
    losses: dict[str, list[float]]
    accuracies: dict[str, list[float]]
    param_rel_diff: dict[str, float]
    eval_logit_max_abs_diff: float
    eval_logit_mean_abs_diff: float
    eval_acc: dict[str, float]
    grad_rel_diff_first_step: dict[str, float]
    first_divergent_grad_node: str | None
    first_divergent_grad_step: int | None
    grad_tolerance: float
    wall_s: dict[str, float]


class StepRecorder(LoopHooks):
    """The hooks of :func:`lockstep_run`: losses, accuracies and seconds per framework, and
    with ``gradients`` the gradient differences (step 1, and the first divergent node)."""

    def __init__(self, graph: Graph, session: Session, gradients: bool, tolerance: float) -> None:
        self.graph, self.session = graph, session
        self.names = tuple(session.trainers)
        self.gradients, self.tolerance = gradients, tolerance
        self.losses: dict[str, list[float]] = {n: [] for n in self.names}
        self.accs: dict[str, list[float]] = {n: [] for n in self.names}
        self.wall = dict.fromkeys(self.names, 0.0)
        self.grad_first: dict[str, float] = {}
        self.bad_node: str | None = None
        self.bad_step: int | None = None

    def on_step(self, event: StepEvent) -> None:
        for name in self.names:
            r = event.results[name]
            self.losses[name].append(float(r.loss))
            self.accs[name].append(int(r.correct) / max(int(r.count), 1))
            self.wall[name] += event.seconds[name]
        if self.gradients:
            first, second = (self.session.trainers[n].gradients() for n in self.names)
            diffs = grad_rel_diffs(self.graph, first, second)
            if event.step == 1:
                self.grad_first = diffs
            if self.bad_node is None:
                self.bad_node = next((n for n, d in diffs.items() if not d <= self.tolerance),
                                     None)
                self.bad_step = event.step if self.bad_node is not None else None


def lockstep_run(
    graph: Graph,
    config: TrainConfig,
    data: TrainData,
    frameworks: Sequence[Framework],
    steps: int,
    *,
    native: frozenset[str] = frozenset(),
    device: str = "cpu",
    gradients: bool = False,
    grad_tolerance: float | None = None,
    eval_samples: int = 256,
) -> LockstepRun:
    """Train two frameworks ``steps`` steps on identical batches (crossing epochs as needed) and
    compare them: losses, gradients (with ``gradients=True``), weights and eval-mode logits."""
    if len(frameworks) != 2:
        raise TrainingError(f"a cross-check needs two frameworks. Received: {len(frameworks)}")
    if steps < 1:
        raise TrainingError(f"the number of steps must be >= 1. Received: {steps}")
    session = start_session(graph, config, frameworks, native, device)
    tol = GRAD_TOLERANCE[config.dtype] if grad_tolerance is None else grad_tolerance
    rec = StepRecorder(graph, session, gradients, tol)
    Lockstep.for_config(session.trainers, graph, config).run(
        data.train, config, limit=steps, hooks=rec)
    return _compare(graph, config, data, session, rec, eval_samples)


def _compare(
    graph: Graph, config: TrainConfig, data: TrainData, session: Session, rec: StepRecorder,
    eval_samples: int,
) -> LockstepRun:
    """The :class:`LockstepRun` of a finished run: weights and eval-mode logits compared."""
    names = rec.names
    first, second = names
    weights = {
        name: session.frameworks[name].backend.get_weights(session.models[name], graph)
        for name in names
    }
    x_eval, y_eval = data.eval_inputs(eval_samples, config.dtype)
    out = graph.outputs[0]
    logits = {
        name: np.asarray(session.frameworks[name].backend.forward(
            session.models[name], graph, x_eval, nodes=[out])[out], np.float64)
        for name in names
    }
    delta = np.abs(logits[first] - logits[second])
    return LockstepRun(
        frameworks=names,
        native=tuple(sorted(session.native)),
        losses=rec.losses,
        accuracies=rec.accs,
        param_rel_diff=weight_rel_diffs(graph, weights[first], weights[second]),
        eval_logit_max_abs_diff=float(delta.max()) if delta.size else 0.0,
        eval_logit_mean_abs_diff=float(delta.mean()) if delta.size else 0.0,
        eval_acc={n: float(np.mean(np.argmax(v, axis=1) == y_eval)) for n, v in logits.items()},
        grad_rel_diff_first_step=rec.grad_first,
        first_divergent_grad_node=rec.bad_node,
        first_divergent_grad_step=rec.bad_step,
        grad_tolerance=rec.tolerance,
        wall_s=rec.wall,
    )


__all__ = [
    "GRAD_TOLERANCE",
    "LockstepRun",
    "StepRecorder",
    "grad_rel_diffs",
    "lockstep_run",
    "weight_rel_diffs",
]
