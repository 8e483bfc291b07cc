"""Training metrics: the per-step log of every framework, epoch summaries, CSV and JSON text.

The log is columnar (one list per column) so a 75-epoch CIFAR-10 run (75,000 rows per
framework) stays small, round-trips exactly through a checkpoint (:meth:`StepLog.to_arrays` /
:meth:`StepLog.from_arrays`) and writes ``metrics.csv`` with every float in full precision
(``repr``), so two runs can be compared bit for bit.

Example:
    >>> log = StepLog(("torch", "keras"))
    >>> log.add(1, 1, "torch", 2.5, correct=3, count=4, lr=0.001)
    >>> log.add(1, 1, "keras", 2.5, correct=3, count=4, lr=0.001)
    >>> print(log.csv_text(), end="")
    epoch,step,framework,loss,acc,lr
    1,1,torch,2.5,0.75,0.001
    1,1,keras,2.5,0.75,0.001
    >>> log.epoch_stats(1)["keras"]
    {'train_loss': 2.5, 'train_acc': 0.75, 'steps': 1}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The columns of ``metrics.csv``, in order.
CSV_COLUMNS = ("epoch", "step", "framework", "loss", "acc", "lr")


def _num(value: float) -> str:
    """Full-precision text of a float (``repr`` round-trips exactly)."""
    return repr(float(value))


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or ``None`` when it is NaN or infinite (JSON has no NaN).

    Example:
        >>> finite_or_none(1.5), finite_or_none(float("nan"))
        (1.5, None)
    """
    v = float(value)
    return v if math.isfinite(v) else None


@dataclass
class StepLog:
    """One row per optimizer step and framework: epoch and step (1-based), loss, accuracy, lr.

    ``correct`` and ``count`` are kept as integers so epoch accuracies are exact.
    """

    frameworks: tuple[str, ...]
    epoch: list[int] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    framework: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    correct: list[int] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.step)

    def add(
        self, epoch: int, step: int, framework: str, loss: float, *, correct: int, count: int,
        lr: float,
    ) -> None:
        """Append one row."""
        self.epoch.append(int(epoch))
        self.step.append(int(step))
        self.framework.append(self.frameworks.index(framework))
        self.loss.append(float(loss))
        self.correct.append(int(correct))
        self.count.append(int(count))
        self.lr.append(float(lr))

    def truncate(self, steps: int) -> None:
        """Drop every row after global step ``steps``."""
        keep = sum(1 for s in self.step if s <= steps)
        for column in (self.epoch, self.step, self.framework, self.loss, self.correct,
                       self.count, self.lr):
            del column[keep:]

    def rows(self) -> Iterable[tuple[int, int, str, float, float, float]]:
        """``(epoch, step, framework, loss, acc, lr)`` per row."""
        for i in range(len(self.step)):
            acc = self.correct[i] / self.count[i] if self.count[i] else 0.0
            yield (self.epoch[i], self.step[i], self.frameworks[self.framework[i]],
                   self.loss[i], acc, self.lr[i])

    def csv_text(self) -> str:
        """The text of ``metrics.csv`` (header and one line per row)."""
        lines = [",".join(CSV_COLUMNS)]
        for e, s, f, loss, acc, lr in self.rows():
            lines.append(f"{e},{s},{f},{_num(loss)},{_num(acc)},{_num(lr)}")
        return "\n".join(lines) + "\n"

    def series(self, framework: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(steps, losses, accuracies)`` of one framework, as arrays."""
        k = self.frameworks.index(framework)
        idx = [i for i, f in enumerate(self.framework) if f == k]
        steps = np.asarray([self.step[i] for i in idx], np.int64)
        losses = np.asarray([self.loss[i] for i in idx], np.float64)
        acc = np.asarray(
            [self.correct[i] / max(self.count[i], 1) for i in idx], np.float64
        )
        return steps, losses, acc

    def epoch_stats(self, epoch: int) -> dict[str, dict[str, Any]]:
        """Per framework: the sample-weighted mean loss and the accuracy of ``epoch``'s steps."""
        out: dict[str, dict[str, Any]] = {}
        for k, name in enumerate(self.frameworks):
            loss_sum, correct, count, steps = 0.0, 0, 0, 0
            for i in range(len(self.step)):
                if self.epoch[i] == epoch and self.framework[i] == k:
                    loss_sum += self.loss[i] * self.count[i]
                    correct += self.correct[i]
                    count += self.count[i]
                    steps += 1
            out[name] = {
                "train_loss": loss_sum / count if count else math.nan,
                "train_acc": correct / count if count else math.nan,
                "steps": steps,
            }
        return out

    # ---------------------------------------------------------------- checkpoint round trip
    def to_arrays(self, prefix: str = "log/") -> dict[str, np.ndarray]:
        """The columns as numpy arrays (for ``np.savez``), keys prefixed with ``prefix``."""
        return {
            f"{prefix}epoch": np.asarray(self.epoch, np.int64),
            f"{prefix}step": np.asarray(self.step, np.int64),
            f"{prefix}framework": np.asarray(self.framework, np.int64),
            f"{prefix}loss": np.asarray(self.loss, np.float64),
            f"{prefix}correct": np.asarray(self.correct, np.int64),
            f"{prefix}count": np.asarray(self.count, np.int64),
            f"{prefix}lr": np.asarray(self.lr, np.float64),
        }

    @classmethod
    def from_arrays(
        cls, frameworks: Sequence[str], arrays: Any, prefix: str = "log/"
    ) -> StepLog:
        """Rebuild a log from :meth:`to_arrays` output (any mapping, e.g. an ``NpzFile``)."""

        def col(name: str) -> list[Any]:
            return [x.item() for x in np.asarray(arrays[f"{prefix}{name}"])]

        return cls(
            tuple(frameworks), col("epoch"), col("step"), col("framework"), col("loss"),
            col("correct"), col("count"), col("lr"),
        )


def epoch_record(
    epoch: int,
    step: int,
    lr: float,
    train: dict[str, dict[str, Any]],
    val: dict[str, dict[str, float]],
    wall: dict[str, float],
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """One entry of ``metrics.json``'s ``epochs`` list.

    Example:
        >>> r = epoch_record(1, 10, 0.1, {"torch": {"train_loss": 1.0, "train_acc": 0.5,
        ...                   "steps": 10}}, {"torch": {"val_loss": 0.9, "val_acc": 0.6}},
        ...                  {"torch": 2.0, "total": 2.5})
        >>> r["torch"]["val_acc"], r["torch"]["step_ms"], r["wall_s"]
        (0.6, 200.0, 2.5)
    """
    rec: dict[str, Any] = {"epoch": epoch, "step": step, "lr": lr, "partial": partial}
    for name, stats in train.items():
        steps = int(stats.get("steps", 0))
        fw_wall = float(wall.get(name, 0.0))
        rec[name] = {
            "train_loss": finite_or_none(stats["train_loss"]),
            "train_acc": finite_or_none(stats["train_acc"]),
            "val_loss": finite_or_none(val.get(name, {}).get("val_loss", math.nan)),
            "val_acc": finite_or_none(val.get(name, {}).get("val_acc", math.nan)),
            "steps": steps,
            "wall_s": fw_wall,
            "step_ms": 1000.0 * fw_wall / steps if steps else None,
        }
    rec["wall_s"] = float(wall.get("total", 0.0))
    return rec


def strip_timings(value: Any) -> Any:
    """A copy of a metrics JSON object without wall-clock fields (to compare two runs).

    Example:
        >>> strip_timings({"a": 1, "wall_s": 2.0, "b": [{"step_ms": 3.0, "c": 4}]})
        {'a': 1, 'b': [{'c': 4}]}
    """
    timing = {"wall_s", "step_ms", "resumed_from", "total_wall_s"}
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items() if k not in timing}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value
