"""``archdsl crosscheck --train-steps N``: :func:`train_crosscheck` and its report.

N lock-step steps of two frameworks (:func:`~archdsl.training.lockstep_run`), then the
per-step loss differences, each node's parameter drift, the eval-mode logit difference and the
first node whose gradients diverge, as JSON (:meth:`TrainCheckReport.as_json`) and as
``report.md`` with curves.

Example (needs both frameworks)::

    >>> import archdsl
    >>> r = train_crosscheck(archdsl.load("digits_cnn.yaml"), 50)  # doctest: +SKIP
    >>> {"train": r.as_json()}["train"]["max_rel_loss_diff"] < 1e-4  # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.errors import ArchdslError
from archdsl.fsutil import atomic_write_text
from archdsl.metrics import finite_or_none
from archdsl.trainconfig import TrainConfig
from archdsl.training.compare import LockstepRun, lockstep_run
from archdsl.training.config import resolve_config
from archdsl.training.data import TrainData, prepare_data
from archdsl.training.frameworks import Framework, load_framework, native_set
from archdsl.verdict import verdict

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: Loss tolerance of :func:`train_crosscheck` (max relative per-step loss difference); float32
#: with BatchNorm and Adam drifts to ~1e-4 in 50 steps (docs/conventions.md, "Training").
LOSS_TOLERANCE = {"float32": 1e-3, "float64": 1e-9}
#: A float32 relative loss difference above this means the runs have parted (matched
#: arithmetic without such layers stays near 1e-5: bench/divergence.py).
PARTED = 1e-4


@dataclass(frozen=True)
class Roundoff:
    """A float32 run that parted, rerun in float64 over the same steps (identical batches,
    masks and initial weights): if float64 agrees, the float32 difference was round-off."""

    parted_at_step: int
    float64_max_rel_loss_diff: float | None
    reason: str = ""

    @property
    def explains(self) -> bool:
        """The float64 rerun agrees within its tolerance: the runs parted by round-off."""
        diff = self.float64_max_rel_loss_diff
        return diff is not None and diff <= LOSS_TOLERANCE["float64"]

    def as_json(self) -> dict[str, Any]:
        return {"parted_at_step": self.parted_at_step, "explains": self.explains,
                "float64_max_rel_loss_diff": self.float64_max_rel_loss_diff,
                "reason": self.reason}

    def note(self, max_rel: float) -> str:
        """What the rerun showed, in words."""
        head = (f"the float32 runs part from step {self.parted_at_step} (relative loss "
                f"difference up to {max_rel:.1e})")
        if self.float64_max_rel_loss_diff is None:
            return f"{head}; no float64 rerun could tell why: {self.reason}"
        verdict_text = ("the difference is round-off, not a convention" if self.explains else
                        "so a convention or a lowering differs, not only round-off")
        return (f"{head}; a float64 rerun of the same steps agrees to "
                f"{self.float64_max_rel_loss_diff:.1e}: {verdict_text}")


@dataclass
class TrainCheckReport:
    """The outcome of :func:`train_crosscheck`; :meth:`as_json` is the ``train`` JSON object."""

    spec: str
    dataset: str
    steps: int
    dtype: str
    run: LockstepRun
    loss_tolerance: float
    files: dict[str, str] = field(default_factory=dict)
    #: nodes that choose one element per window (max pooling): where float32 round-off can
    #: become a different gradient route (:meth:`notes`)
    choice_nodes: tuple[str, ...] = ()
    #: the float64 rerun made when a float32 run parts (:func:`train_crosscheck`)
    roundoff: Roundoff | None = None

    def notes(self) -> list[str]:
        """What the numbers mean, where a reading needs it: what the float64 rerun showed;
        runs that differ from step 1 (a real mismatch, which round-off cannot explain); float32
        runs that part later in a graph with max pooling (measured on the chapter's CNN:
        bench/divergence.py)."""
        out = [self.roundoff.note(self.max_rel_loss_diff)] if self.roundoff is not None else []
        if not self.first_step_agrees:
            node = self.run.first_divergent_grad_node
            out.append(
                f"the gradients differ already at step 1, from identical weights (first at "
                f"'{node}'), before round-off can grow: a convention or a lowering differs "
                "(archdsl ablate switches the conventions one at a time)"
            )
        elif self.dtype == "float32" and self.choice_nodes and self.max_rel_loss_diff > PARTED:
            out.append(self._max_pool_note())
        return out

    def _max_pool_note(self) -> str:
        shown = ", ".join(self.choice_nodes[:3]) + (", ..." if len(self.choice_nodes) > 3
                                                     else "")
        why = (f"this graph has max pooling ({shown}), which sends each window's gradient to "
               "its largest element, and where two elements differ by less than round-off "
               "each framework may pick another one")
        if self.roundoff is not None:
            return f"why float32 runs of it part: {why}"
        return (f"the float32 runs part (relative loss difference up to "
                f"{self.max_rel_loss_diff:.1e}); {why}. Check the arithmetic itself with "
                "--dtype float64")

    @property
    def first_step_agrees(self) -> bool:
        """At step 1 (identical weights) every node's gradients are within the tolerance."""
        grads = self.run.grad_rel_diff_first_step.values()
        return all(g <= self.run.grad_tolerance for g in grads)

    @property
    def strict_ok(self) -> bool:
        """Every step's relative loss difference within ``loss_tolerance`` and step 1 agrees."""
        return self.max_rel_loss_diff <= self.loss_tolerance and self.first_step_agrees

    @property
    def ok(self) -> bool:
        """The runs agree: :attr:`strict_ok`, or a float32 run whose first step agrees and that
        parts later only by round-off (a float64 rerun of the same steps agrees: see
        :class:`Roundoff`). A convention left native fails: it also parts in float64."""
        if self.strict_ok:
            return True
        return self.first_step_agrees and self.roundoff is not None and self.roundoff.explains

    @property
    def parted_at_step(self) -> int | None:
        """The first step whose relative loss difference exceeds the tolerance."""
        return next((r["step"] for r in self.per_step if r["rel_diff"] > self.loss_tolerance),
                    None)

    @property
    def per_step(self) -> list[dict[str, Any]]:
        """``{"step", <framework>: loss, ..., "abs_diff", "rel_diff"}`` per step."""
        a, b = self.run.frameworks
        rows = []
        for i, (la, lb) in enumerate(zip(self.run.losses[a], self.run.losses[b])):
            d = abs(la - lb)
            rows.append({"step": i + 1, a: la, b: lb, "abs_diff": d,
                         "rel_diff": d / abs(la) if la else (0.0 if d == 0 else math.inf)})
        return rows

    @property
    def max_abs_loss_diff(self) -> float:
        return max((r["abs_diff"] for r in self.per_step), default=0.0)

    @property
    def max_rel_loss_diff(self) -> float:
        return max((r["rel_diff"] for r in self.per_step), default=0.0)

    @property
    def max_param_rel_diff(self) -> float:
        return max(self.run.param_rel_diff.values(), default=0.0)

    def as_json(self) -> dict[str, Any]:
        """The ``train`` object that ``archdsl crosscheck --train-steps N --json`` prints."""
        r = self.run
        return {
            "ok": self.ok,
            "verdict": verdict(self.ok),
            "roundoff": self.roundoff.as_json() if self.roundoff is not None else None,
            "spec": self.spec,
            "dataset": self.dataset,
            "steps": self.steps,
            "dtype": self.dtype,
            "loss_tolerance": self.loss_tolerance,
            "frameworks": list(r.frameworks),
            "native": list(r.native),
            "max_rel_loss_diff": self.max_rel_loss_diff,
            "max_abs_loss_diff": self.max_abs_loss_diff,
            "max_param_rel_diff": self.max_param_rel_diff,
            "param_rel_diff": r.param_rel_diff,
            "first_divergent_grad_node": r.first_divergent_grad_node,
            "first_divergent_grad_step": r.first_divergent_grad_step,
            "grad_tolerance": r.grad_tolerance,
            "grad_rel_diff_first_step": {
                k: finite_or_none(v) for k, v in r.grad_rel_diff_first_step.items()
            },
            "eval_logit_max_abs_diff": r.eval_logit_max_abs_diff,
            "eval_acc": r.eval_acc,
            "wall_s": r.wall_s,
            "per_step": self.per_step,
            "files": self.files,
            "notes": self.notes(),
        }

    def markdown(self) -> str:
        """``report.md``: the summary, the per-node drift table and the curves."""
        r = self.run
        a, b = r.frameworks
        lines = [
            f"# Training cross-check: {self.spec}",
            "",
            f"{self.steps} steps on `{self.dataset}` ({self.dtype}), identical batches, "
            "dropout masks and initial weights in both frameworks; native conventions: "
            f"{', '.join(r.native) or 'none (all matched)'}.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| verdict | {verdict(self.ok)} |",
            f"| max relative loss difference (tolerance {self.loss_tolerance:g}) | "
            f"{self.max_rel_loss_diff:.3g} |",
            f"| max absolute loss difference | {self.max_abs_loss_diff:.3g} |",
            f"| max parameter drift (max abs Δ / max abs w, worst node) | "
            f"{self.max_param_rel_diff:.3g} |",
            f"| eval-mode logits, max abs difference | {r.eval_logit_max_abs_diff:.3g} |",
            f"| eval accuracy {a} / {b} | {r.eval_acc[a]:.4f} / {r.eval_acc[b]:.4f} |",
            f"| first node with gradients beyond {r.grad_tolerance:g} | "
            + (f"`{r.first_divergent_grad_node}` (step {r.first_divergent_grad_step})"
               if r.first_divergent_grad_node else "none")
            + " |",
            f"| final loss {a} / {b} | {r.losses[a][-1]:.6g} / {r.losses[b][-1]:.6g} |",
            "",
            *[f"Note: {note}.\n" for note in self.notes()],
            "## Per node",
            "",
            "| node | parameter drift | gradient difference at step 1 |",
            "|---|---|---|",
        ]
        for node in dict.fromkeys([*r.param_rel_diff, *r.grad_rel_diff_first_step]):
            p = r.param_rel_diff.get(node)
            g = r.grad_rel_diff_first_step.get(node)
            lines.append(f"| `{node}` | {'' if p is None else f'{p:.3g}'} | "
                         f"{'' if g is None else f'{g:.3g}'} |")
        if self.files:
            lines += ["", "## Curves", ""]
            for key in ("curves", "loss_diff"):
                if key in self.files:
                    lines.append(f"![{key}]({Path(self.files[key]).name})")
        return "\n".join(lines) + "\n"


def choice_nodes(graph: Graph) -> tuple[str, ...]:
    """The nodes whose layer type picks one element per window (``Layer.selects``: max
    pooling), in topological order.

    >>> import archdsl
    >>> choice_nodes(archdsl.load("specs/cifar10_cnn.yaml"))
    ('block1.pool', 'block2.pool', 'block3.pool')
    """
    return tuple(node.id for node in graph.walk() if node.layer.selects)


def train_crosscheck(
    graph: Graph,
    steps: int,
    config: TrainConfig | None = None,
    *,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    native: Sequence[str] | None = None,
    grad_tolerance: float | None = None,
    loss_tolerance: float | None = None,
    backends: Sequence[str | Framework] = ("torch", "keras"),
    eval_samples: int = 256,
) -> TrainCheckReport:
    """Train both frameworks ``steps`` steps on identical batches and compare them.

    Returns per-step loss differences, every node's parameter drift (max |Δw| / max |w|), the
    eval-mode logit difference, and the first node (topological order) whose gradients differ
    by more than ``grad_tolerance`` (default :data:`~archdsl.training.GRAD_TOLERANCE`) relative
    to the node's largest gradient, with the step where that happened. ``report.ok`` also needs
    every relative loss difference within ``loss_tolerance`` (default :data:`LOSS_TOLERANCE`).
    ``config`` defaults to the spec's ``train:`` section. With ``out_dir`` it writes
    ``report.md``, ``curves.png`` and ``loss_diff.png`` there.
    """
    config = resolve_config(graph, config)
    fws = [load_framework(b) for b in backends]
    nat = native_set(config, fws, native)
    data = prepare_data(graph, config, data_dir)
    run = lockstep_run(graph, config, data, fws, steps, native=nat, device=device,
                       gradients=True, grad_tolerance=grad_tolerance, eval_samples=eval_samples)
    loss_tol = LOSS_TOLERANCE[config.dtype] if loss_tolerance is None else loss_tolerance
    report = TrainCheckReport(graph.name, data.dataset.name, steps, config.dtype, run, loss_tol,
                              choice_nodes=choice_nodes(graph))
    parted = report.parted_at_step
    if config.dtype == "float32" and parted is not None and report.first_step_agrees:
        report.roundoff = float64_rerun(graph, config, data, fws, steps, nat, device, parted)
    if out_dir is not None:
        write_crosscheck(report, Path(out_dir))
    return report


def float64_rerun(
    graph: Graph, config: TrainConfig, data: TrainData, frameworks: Sequence[Framework],
    steps: int, native: frozenset[str], device: str, parted: int,
) -> Roundoff:
    """Rerun the same steps in float64 and measure how far the two frameworks part there."""
    config64 = config.model_copy(update={"dtype": "float64"})
    try:
        run = lockstep_run(graph, config64, data, frameworks, steps, native=native,
                           device=device, eval_samples=8)
    except ArchdslError as exc:
        return Roundoff(parted, None, exc.message)
    a, b = run.frameworks
    rel = [abs(x - y) / abs(x) if x else abs(x - y) for x, y in zip(run.losses[a], run.losses[b])]
    return Roundoff(parted, max(rel, default=0.0))


def write_crosscheck(report: TrainCheckReport, out: Path) -> None:
    """Write ``report.md``, ``curves.png`` and ``loss_diff.png`` to ``out``; sets
    ``report.files``."""
    from archdsl.plots import plot_curves, plot_differences

    run = report.run
    steps = np.arange(1, report.steps + 1)
    series = {n: (steps, np.asarray(run.losses[n]), np.asarray(run.accuracies[n]))
              for n in run.frameworks}
    report.files = {"report": str(out / "report.md"), "curves": str(out / "curves.png"),
                    "loss_diff": str(out / "loss_diff.png")}
    plot_curves(out / "curves.png", series, title=f"{report.spec}: training loss, lock-step")
    rows = report.per_step
    plot_differences(out / "loss_diff.png", steps, np.asarray([r["abs_diff"] for r in rows]),
                     np.asarray([r["rel_diff"] for r in rows]), title=f"{report.spec}")
    atomic_write_text(out / "report.md", report.markdown())


__all__ = [
    "LOSS_TOLERANCE",
    "PARTED",
    "Roundoff",
    "TrainCheckReport",
    "choice_nodes",
    "float64_rerun",
    "train_crosscheck",
    "write_crosscheck",
]
