"""Early stopping and best-k checkpoints: both watch one validation value per epoch.

The monitored value of an epoch is ``val_loss`` or ``val_acc`` averaged over the frameworks
trained (with matched conventions they are equal to round-off, so the mean is either one).
:class:`EarlyStopping` ends a run when it has not improved by ``min_delta`` for ``patience``
epochs; it is rebuilt from the epoch history on ``--resume``, so a resumed run stops where an
uninterrupted one would. :class:`BestCheckpoints` keeps a copy of the checkpoint of the
``count`` best epochs as ``best/epoch-NNNN.npz`` (the list lives in the checkpoint's meta).

Example:
    >>> from archdsl.trainconfig import EarlyStoppingConfig
    >>> stop = EarlyStopping(EarlyStoppingConfig(patience=2), ("torch", "keras"))
    >>> for loss in (1.0, 0.8, 0.9, 0.85):
    ...     stop.update({"epoch": 0, "torch": {"val_loss": loss}, "keras": {"val_loss": loss}})
    >>> stop.stopped, stop.reason
    (True, 'val_loss has not improved on 0.8 (epoch 0) for 2 epochs (patience 2)')
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archdsl.fsutil import atomic_write_bytes
from archdsl.trainconfig import EarlyStoppingConfig, KeepBestConfig

#: The folder of the best-k checkpoints in a run's output folder.
BEST_DIR = "best"


def monitor_value(record: Mapping[str, Any], frameworks: Sequence[str], metric: str
                  ) -> float | None:
    """The mean of ``metric`` over the frameworks' entries of an epoch record (``None`` when
    none is a finite number).

    >>> monitor_value({"a": {"val_acc": 0.5}, "b": {"val_acc": 0.7}}, ("a", "b"), "val_acc")
    0.6
    """
    values = []
    for name in frameworks:
        v = (record.get(name) or {}).get(metric)
        if isinstance(v, (int, float)) and math.isfinite(v):
            values.append(float(v))
    return sum(values) / len(values) if values else None


def improves(value: float, best: float | None, metric: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (lower loss, higher
    accuracy)."""
    if best is None:
        return True
    return value < best - min_delta if metric == "val_loss" else value > best + min_delta


class EarlyStopping:
    """Counts the epochs since the monitored value last improved (see the module docs)."""

    def __init__(self, config: EarlyStoppingConfig, frameworks: Sequence[str]) -> None:
        self.config, self.frameworks = config, tuple(frameworks)
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.stopped = False
        self.reason = ""

    def replay(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Feed the epochs of a resumed run."""
        for record in history:
            self.update(record)

    def update(self, record: Mapping[str, Any]) -> None:
        """Take one epoch's record; sets :attr:`stopped` when the patience is used up."""
        patience, metric = self.config.patience, self.config.monitor
        value = monitor_value(record, self.frameworks, metric)
        if patience is None or value is None:
            return
        if improves(value, self.best, metric, self.config.min_delta):
            self.best, self.best_epoch, self.wait = value, int(record.get("epoch", 0)), 0
            return
        self.wait += 1
        if self.wait >= patience:
            self.stopped = True
            self.reason = (f"{metric} has not improved on {self.best:.4g} (epoch "
                           f"{self.best_epoch}) for {self.wait} epochs (patience {patience})")


class BestCheckpoints:
    """The ``count`` best epochs' checkpoints, copied into ``folder/best/``."""

    def __init__(self, config: KeepBestConfig, frameworks: Sequence[str], folder: Path,
                 kept: Sequence[Mapping[str, Any]] = ()) -> None:
        self.config, self.frameworks, self.folder = config, tuple(frameworks), folder
        self.kept: list[dict[str, Any]] = [dict(k) for k in kept]

    def select(self, record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Path]]:
        """Whether an epoch enters the best ``count``: its entry (or ``None``) and the files
        that drop out. :attr:`kept` is updated; call :meth:`store` once the checkpoint is
        written."""
        value = monitor_value(record, self.frameworks, self.config.monitor)
        if not self.config.count or value is None:
            return None, []
        epoch = int(record["epoch"])
        entry = {"epoch": epoch, "value": value, "monitor": self.config.monitor,
                 "file": f"{BEST_DIR}/epoch-{epoch:04d}.npz"}
        ranked = sorted([*(k for k in self.kept if k["epoch"] != epoch), entry],
                        key=lambda k: k["value"] * (1 if self.config.monitor == "val_loss"
                                                    else -1))
        keep, drop = ranked[: self.config.count], ranked[self.config.count:]
        self.kept = sorted(keep, key=lambda k: k["epoch"])
        gone = [self.folder / k["file"] for k in drop if k is not entry]
        return (entry if entry in keep else None), gone

    def store(self, entry: dict[str, Any] | None, checkpoint: Path, gone: Sequence[Path]
              ) -> None:
        """Copy ``checkpoint`` to ``entry``'s file and delete the files that dropped out."""
        if entry is not None:
            atomic_write_bytes(self.folder / entry["file"], checkpoint.read_bytes())
        for path in gone:
            with contextlib.suppress(OSError):
                path.unlink()


__all__ = ["BEST_DIR", "BestCheckpoints", "EarlyStopping", "improves", "monitor_value"]
