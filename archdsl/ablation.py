"""Attribute the PyTorch-vs-Keras gap to conventions, one convention at a time.

Each run trains both frameworks the same number of steps on identical batches from one init
(:func:`archdsl.training.lockstep_run`); only the set of conventions left at a framework's own
default (*native*) changes:

* ``matched``: every convention matched (the frameworks should agree to round-off),
* ``native``: every convention native (what a naive port of the same model gets),
* ``only C``: only convention ``C`` native: how much of the gap ``C`` causes *alone*,
* ``all but C``: every convention native except ``C``: how much of the gap goes away when
  only ``C`` is fixed.

Two measures of disagreement between the frameworks: the final training-loss difference (mean
|Δloss| over the last steps, same batches) and the eval-mode logit difference on held-out
images. A convention's *share* is its run's measure minus ``matched``'s, over the gap
(``native`` minus ``matched``); the *removal* share is ``native`` minus ``all but C``, over the
gap. Shares need not add up to 1: conventions interact.

Cost: ``2 + 2 × conventions`` runs (16 with the trainers' seven conventions) of ``steps`` lock-step
steps each: about 3 minutes on the digits CNN and 45–50 minutes on CIFAR-10 with the chapter's
CNN at the default 300 steps on 2 CPU cores. Progress is printed after every run.

Example (needs both frameworks)::

    >>> from archdsl.ablation import run_ablation
    >>> report = run_ablation(archdsl.load("digits_cnn.yaml"), steps=300)  # doctest: +SKIP
    >>> print(report.markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.fsutil import atomic_write_text
from archdsl.metrics import finite_or_none
from archdsl.trainconfig import TrainConfig
from archdsl.training import (
    Framework,
    LockstepRun,
    TrainingError,
    all_conventions,
    load_framework,
    lockstep_run,
    override_config,
    prepare_data,
    resolve_config,
)

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: The default number of steps of every run.
DEFAULT_STEPS = 300
#: The final loss difference is averaged over this many last steps.
TAIL = 10
MEASURES = ("final_loss_diff", "eval_logit_diff")


@dataclass
class AblationRun:
    """One run of the ablation: which conventions were native and how far the frameworks
    ended apart."""

    label: str
    native: tuple[str, ...]
    final_loss_diff: float
    eval_logit_diff: float
    eval_logit_mean_diff: float
    final_loss: dict[str, float]
    eval_acc: dict[str, float]
    wall_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "native": list(self.native),
            "final_loss_diff": self.final_loss_diff,
            "eval_logit_diff": self.eval_logit_diff,
            "eval_logit_mean_diff": self.eval_logit_mean_diff,
            "final_loss": self.final_loss,
            "eval_acc": self.eval_acc,
            "wall_s": self.wall_s,
        }


def share(value: float, matched: float, native: float) -> float | None:
    """``(value - matched) / (native - matched)``; ``None`` when there is no gap.

    Example:
        >>> share(0.6, 0.1, 1.1), share(0.5, 0.5, 0.5)
        (0.5, None)
    """
    gap = native - matched
    if not gap > 0:
        return None
    return finite_or_none((value - matched) / gap)


@dataclass
class AblationReport:
    """All runs of an ablation and the table of what each convention explains."""

    spec: str
    dataset: str
    steps: int
    frameworks: tuple[str, ...]
    conventions: tuple[str, ...]
    runs: dict[str, AblationRun]
    files: dict[str, str] = field(default_factory=dict)

    def measure(self, label: str, name: str) -> float:
        value: float = getattr(self.runs[label], name)
        return value

    def rows(self) -> list[dict[str, Any]]:
        """Per convention: its runs' measures and shares of the gap."""
        out = []
        for c in self.conventions:
            row: dict[str, Any] = {"convention": c}
            for kind, label in (("alone", f"only {c}"), ("removed", f"all but {c}")):
                entry: dict[str, Any] = {}
                for m in MEASURES:
                    v = self.measure(label, m)
                    lo, hi = self.measure("matched", m), self.measure("native", m)
                    entry[m] = v
                    entry[f"{m}_share"] = (
                        share(v, lo, hi) if kind == "alone" else share(hi - v + lo, lo, hi)
                    )
                row[kind] = entry
            out.append(row)
        return out

    def as_json(self) -> dict[str, Any]:
        """The object ``archdsl ablate --json`` prints."""
        gap = {m: self.measure("native", m) - self.measure("matched", m) for m in MEASURES}
        return {
            "spec": self.spec,
            "dataset": self.dataset,
            "steps": self.steps,
            "frameworks": list(self.frameworks),
            "conventions": list(self.conventions),
            "gap": gap,
            "runs": {label: run.as_json() for label, run in self.runs.items()},
            "table": self.rows(),
            "files": self.files,
        }

    def markdown(self) -> str:
        """``ablation.md``: the runs and the attribution table."""

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.0f}%"

        a, b = self.frameworks
        lines = [
            f"# Convention ablation: {self.spec}",
            "",
            f"{self.steps} lock-step training steps on `{self.dataset}` per run, {a} vs {b}, "
            "identical batches, dropout masks and initial weights. *Δloss*: mean |loss "
            f"difference| over the last {TAIL} steps; *Δlogit*: max |difference| of eval-mode "
            "logits on held-out images. *Share*: fraction of the matched→native gap.",
            "",
            f"| run | native conventions | Δloss | Δlogit | eval acc {a} / {b} |",
            "|---|---|---|---|---|",
        ]
        for label, run in self.runs.items():
            nat = ", ".join(run.native) if run.native else "none"
            if label == "native":
                nat = "all"
            lines.append(
                f"| {label} | {nat} | {run.final_loss_diff:.3g} | {run.eval_logit_diff:.3g} | "
                f"{run.eval_acc[a]:.3f} / {run.eval_acc[b]:.3f} |"
            )
        lines += [
            "",
            "## What each convention explains",
            "",
            "| convention | alone: Δloss (share) | alone: Δlogit (share) | "
            "all others native: Δloss (share removed) | "
            "all others native: Δlogit (share removed) |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows():
            al, rm = row["alone"], row["removed"]
            lines.append(
                f"| {row['convention']} "
                f"| {al['final_loss_diff']:.3g} ({pct(al['final_loss_diff_share'])}) "
                f"| {al['eval_logit_diff']:.3g} ({pct(al['eval_logit_diff_share'])}) "
                f"| {rm['final_loss_diff']:.3g} ({pct(rm['final_loss_diff_share'])}) "
                f"| {rm['eval_logit_diff']:.3g} ({pct(rm['eval_logit_diff_share'])}) |"
            )
        lines += [
            "",
            "*alone*: only this convention native, all others matched. *all others native*: "
            "every convention native except this one; its share is how much of the gap "
            "matching this one convention removes.",
        ]
        return "\n".join(lines) + "\n"


def ablation_plan(conventions: Sequence[str]) -> list[tuple[str, frozenset[str]]]:
    """The runs: ``(label, native set)``.

    Example:
        >>> [label for label, _ in ablation_plan(["eps", "init"])]
        ['matched', 'native', 'only eps', 'all but eps', 'only init', 'all but init']
    """
    every = frozenset(conventions)
    plan = [("matched", frozenset()), ("native", every)]
    for c in conventions:
        plan += [(f"only {c}", frozenset({c})), (f"all but {c}", every - {c})]
    return plan


def run_ablation(
    graph: Graph,
    config: TrainConfig | None = None,
    *,
    steps: int = DEFAULT_STEPS,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    backends: Sequence[str | Framework] = ("torch", "keras"),
    progress: bool = True,
    eval_samples: int = 256,
) -> AblationReport:
    """Run :func:`ablation_plan` over the trainers' ``CONVENTIONS``; see the module docs.

    With ``out_dir``, writes ``ablation.md`` and ``ablation.json`` there.

    Raises:
        TrainingError: fewer than two frameworks, or the trainers declare no conventions.
    """
    config = override_config(resolve_config(graph, config), {"conventions": "matched"})
    fws = [load_framework(b) for b in backends]
    if len(fws) != 2:
        raise TrainingError(f"an ablation compares two frameworks. Received: {len(fws)}")
    conventions = all_conventions(fws)
    if not conventions:
        raise TrainingError("the trainers declare no CONVENTIONS to switch")
    data = prepare_data(graph, config, data_dir)
    plan = ablation_plan(conventions)
    runs: dict[str, AblationRun] = {}
    for i, (label, native) in enumerate(plan, 1):
        t0 = time.perf_counter()
        r = lockstep_run(graph, config, data, fws, steps, native=native, device=device,
                         eval_samples=eval_samples)
        run = ablation_run(label, tuple(c for c in conventions if c in native), r,
                           time.perf_counter() - t0)
        runs[label] = run
        if progress:
            print(
                f"[{i}/{len(plan)}] {label}: Δloss {run.final_loss_diff:.3g}, "
                f"Δlogit {run.eval_logit_diff:.3g} ({run.wall_s:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    report = AblationReport(
        graph.name, data.dataset.name, steps, tuple(fw.name for fw in fws), conventions, runs
    )
    if out_dir is not None:
        write_report(report, Path(out_dir))
    return report


def ablation_run(label: str, native: tuple[str, ...], r: LockstepRun, wall_s: float
                 ) -> AblationRun:
    """The :class:`AblationRun` of one lock-step run: its measures of disagreement."""
    a, b = r.frameworks
    tail = min(TAIL, len(r.losses[a]))
    diffs = [abs(x - y) for x, y in zip(r.losses[a][-tail:], r.losses[b][-tail:])]
    return AblationRun(
        label=label,
        native=native,
        final_loss_diff=sum(diffs) / len(diffs),
        eval_logit_diff=r.eval_logit_max_abs_diff,
        eval_logit_mean_diff=r.eval_logit_mean_abs_diff,
        final_loss={n: r.losses[n][-1] for n in r.frameworks},
        eval_acc=r.eval_acc,
        wall_s=wall_s,
    )


def write_report(report: AblationReport, out: Path) -> None:
    """Write ``ablation.md`` and ``ablation.json`` to ``out``; sets ``report.files``."""
    report.files = {"markdown": str(out / "ablation.md"), "json": str(out / "ablation.json")}
    atomic_write_text(out / "ablation.md", report.markdown())
    atomic_write_text(out / "ablation.json", json.dumps(report.as_json(), indent=2) + "\n")
