"""What a training run leaves behind: :class:`TrainResult` and the files in its ``out_dir``.

``metrics.csv`` (one row per framework and step), ``metrics.json`` (:meth:`TrainResult.as_json`),
``curves.png`` (loss and accuracy per framework) and ``checkpoint.npz``; each is written
atomically. The trained weights, ``weights.npz`` (and ``weights.best.npz``), ``model.pt`` and
``model.keras``, are :mod:`archdsl.training.weightfiles`' (their names are results too).

Example:
    >>> sorted(result_files(Path("out")))
    ['checkpoint', 'curves', 'metrics_csv', 'metrics_json']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archdsl.fsutil import atomic_write_text
from archdsl.metrics import StepLog
from archdsl.trainconfig import TrainConfig

#: The files of a run: result key → file name in ``out_dir``.
OUTPUT_FILES = {
    "metrics_csv": "metrics.csv",
    "metrics_json": "metrics.json",
    "curves": "curves.png",
    "checkpoint": "checkpoint.npz",
}


#: Folders of a run's results: the best-k checkpoints and the TensorBoard event files.
OUTPUT_DIRS = {"best": "best", "tensorboard": "tensorboard"}


def result_names() -> tuple[str, ...]:
    """Every file and folder name a run writes in its ``out_dir`` (what "holds results"
    means to :func:`~archdsl.training.outdir.claim_output`).

    >>> "metrics.csv" in result_names() and "best" in result_names()
    True
    """
    from archdsl.training.weightfiles import WEIGHT_FILES

    return (*OUTPUT_FILES.values(), *WEIGHT_FILES.values(), *OUTPUT_DIRS.values())


def result_files(out: Path) -> dict[str, str]:
    """:data:`OUTPUT_FILES` as paths in ``out`` (``TrainResult.files``)."""
    return {key: str(out / name) for key, name in OUTPUT_FILES.items()}


def clear_outputs(out: Path) -> None:
    """Delete a previous run's files from ``out`` (a fresh run must not mix with them)."""
    from archdsl.training.weightfiles import clear_weight_files

    for name in OUTPUT_FILES.values():
        (out / name).unlink(missing_ok=True)
    clear_weight_files(out)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


@dataclass
class TrainResult:
    """What :func:`~archdsl.training.run_training` did: per-epoch summaries and where the
    files are."""

    out_dir: Path
    spec: str
    dataset: str
    frameworks: tuple[str, ...]
    native: tuple[str, ...]
    config: TrainConfig
    config_hash: str
    epochs: list[dict[str, Any]]
    steps: int
    complete: bool
    resumed_from: dict[str, int] | None = None
    normalization: dict[str, list[float]] | None = None
    files: dict[str, str] = field(default_factory=dict)
    #: sentences for the user (where the run wrote, what was cleaned up)
    notes: list[str] = field(default_factory=list)
    #: the best-k checkpoints kept (``keep_best``): epoch, value, monitor, file
    best: list[dict[str, Any]] = field(default_factory=list)
    #: why early stopping ended the run (``None``: it did not)
    stopped_early: str | None = None
    #: the number of test images each validation pass used
    val_samples: int | None = None

    @property
    def final(self) -> dict[str, dict[str, Any]]:
        """The last epoch's summary per framework (``train_loss``, ``val_acc``, ...)."""
        if not self.epochs:
            return {}
        last = self.epochs[-1]
        return {name: last[name] for name in self.frameworks if name in last}

    def summary_lines(self) -> list[str]:
        """One line per epoch (validation accuracy and train loss of every framework) and a
        last line with the final accuracies and their spread in percentage points.

        Example:
            >>> r = TrainResult(Path("o"), "net", "digits", ("torch", "keras"), (),
            ...     TrainConfig(), "h", [{"epoch": 1, "partial": False,
            ...     "torch": {"val_acc": 0.9, "train_loss": 0.5, "wall_s": 1.0},
            ...     "keras": {"val_acc": 0.9, "train_loss": 0.5, "wall_s": 1.5}}], 10, True)
            >>> print("\\n".join(r.summary_lines()))
            epoch 1: torch val 90.00% (train loss 0.5000, 1.0 s) | keras val 90.00% (train loss 0.5000, 1.5 s)
            final after 10 steps: torch 90.00% | keras 90.00% (spread 0.00 points)
        """  # noqa: E501
        lines = []
        for rec in self.epochs:
            parts = [
                f"{n} val {_pct(rec[n]['val_acc'])} (train loss {_num(rec[n]['train_loss'])}, "
                f"{rec[n]['wall_s']:.1f} s)"
                for n in self.frameworks
            ]
            tag = " (partial)" if rec.get("partial") else ""
            lines.append(f"epoch {rec['epoch']}{tag}: " + " | ".join(parts))
        final = self.final
        accs = [final[n]["val_acc"] for n in self.frameworks if n in final]
        if accs:
            text = " | ".join(f"{n} {_pct(final[n]['val_acc'])}" for n in self.frameworks)
            if len(accs) > 1 and all(a is not None for a in accs):
                text += f" (spread {100 * (max(accs) - min(accs)):.2f} points)"
            lines.append(f"final after {self.steps} steps: {text}")
        return lines

    def as_json(self) -> dict[str, Any]:
        """The object written to ``metrics.json`` (and printed by ``archdsl train --json``)."""
        return {
            "spec": self.spec,
            "dataset": self.dataset,
            "frameworks": list(self.frameworks),
            "native": list(self.native),
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config_hash,
            "normalization": self.normalization,
            "steps": self.steps,
            "complete": self.complete,
            "resumed_from": self.resumed_from,
            "epochs": self.epochs,
            "final": self.final,
            "files": self.files,
            "val_samples": self.val_samples,
            "best": self.best,
            "stopped_early": self.stopped_early,
            "notes": self.notes,
        }


def write_outputs(
    result: TrainResult, log: StepLog, *, diverged: bool = False, plot: bool = True
) -> None:
    """Write ``metrics.csv``, ``metrics.json`` and ``curves.png`` (each atomically)."""
    out = result.out_dir
    atomic_write_text(out / "metrics.csv", log.csv_text())
    obj = result.as_json()
    if diverged:
        obj["diverged"] = True
    atomic_write_text(out / "metrics.json", json.dumps(obj, indent=2) + "\n")
    if plot and len(log):
        from archdsl.plots import plot_curves

        series = {name: log.series(name) for name in result.frameworks}
        plot_curves(out / "curves.png", series, epochs=result.epochs,
                    title=f"{result.spec} on {result.dataset}")


__all__ = ["OUTPUT_DIRS", "OUTPUT_FILES", "TrainResult", "clear_outputs", "result_files",
           "result_names", "write_outputs"]
