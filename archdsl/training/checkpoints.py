"""Checkpoints: every trainer's state and the run's position, in one atomic ``.npz`` file.

All randomness of a run is keyed by ``(seed, epoch, batch)`` (the batch order, the
augmentation and the dropout masks), so a checkpoint's position *is* the RNG state: a run
resumed from it continues bit-exactly.

Example:
    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "checkpoint.npz"
    >>> save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "step": 3}, {"w": np.ones(2)})
    >>> meta, arrays = load_checkpoint(path)
    >>> meta["step"], arrays["w"].tolist()
    (3, [1.0, 1.0])
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archdsl.fsutil import atomic_write_bytes
from archdsl.metrics import StepLog
from archdsl.training.errors import CheckpointError
from archdsl.training.masks import MASK_STREAM
from archdsl.training.trainer import Trainer

#: Version of the checkpoint layout (``meta["format"]``).
CHECKPOINT_FORMAT = 1


def save_checkpoint(path: Path, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON) and ``arrays`` to ``path`` as ``.npz`` via a temp file and
    ``os.replace``: a reader sees the old checkpoint or the new one, never half of one."""
    buffer = io.BytesIO()
    payload: dict[str, Any] = {"meta": np.asarray(json.dumps(meta)), **arrays}
    np.savez(buffer, **payload)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(meta, arrays)``.

    Raises:
        CheckpointError: the file is unreadable, truncated, not a checkpoint, or corrupt.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays.pop("meta")))
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not an archdsl checkpoint of format {CHECKPOINT_FORMAT}")
    except CheckpointError:
        raise
    except Exception as exc:  # zipfile, numpy, json and OS errors all mean "unusable"
        raise CheckpointError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); delete it to start "
            "over, or run without --resume"
        ) from None
    return meta, arrays


def load_run_checkpoint(
    path: Path, config_hash: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """:func:`load_checkpoint`, refusing a checkpoint written by a run with another hash.

    Raises:
        CheckpointError: unusable, or written by a different run.
    """
    meta, arrays = load_checkpoint(path)
    if meta.get("config_hash") != config_hash:
        raise CheckpointError(
            f"{path}: written by a different run (config hash {meta.get('config_hash')}, "
            f"this run {config_hash}: spec, train settings, frameworks or conventions changed); "
            "use another --out or run without --resume"
        )
    return meta, arrays


def state_arrays(trainers: Mapping[str, Trainer]) -> dict[str, np.ndarray]:
    """Every trainer's state under ``state/<framework>/<key>``."""
    out: dict[str, np.ndarray] = {}
    for name, trainer in trainers.items():
        for key, value in trainer.get_state().items():
            out[f"state/{name}/{key}"] = np.asarray(value)
    return out


def restore_states(
    path: Path, trainers: Mapping[str, Trainer], arrays: Mapping[str, np.ndarray]
) -> None:
    """Give every trainer its state from :func:`state_arrays`' layout.

    Raises:
        CheckpointError: a framework's state is missing or does not fit its model.
    """
    for name, trainer in trainers.items():
        prefix = f"state/{name}/"
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        if not state:
            raise CheckpointError(f"{path}: holds no state for {name}")
        bad = next((k for k, v in state.items()
                    if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()), None)
        if bad is not None:
            raise CheckpointError(f"{path}: the {name} state '{bad}' holds NaN or infinite "
                                  "values; delete the checkpoint to start over")
        try:
            trainer.set_state(state)
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{path}: the {name} state does not fit this model ({type(exc).__name__}: {exc})"
            ) from None


@dataclass
class Position:
    """Where a run stands: its step log, epoch summaries, and the next (epoch, batch, step)."""

    log: StepLog
    history: list[dict[str, Any]]
    epoch: int = 0
    batch: int = 0
    step: int = 0

    @property
    def start(self) -> tuple[int, int, int]:
        """``(epoch, batch, step)``, as :meth:`archdsl.training.Lockstep.run` takes it."""
        return self.epoch, self.batch, self.step


def resume_position(
    path: Path,
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    trainers: Mapping[str, Trainer],
    names: tuple[str, ...],
    per_epoch: int | None = None,
) -> Position:
    """Restore the trainers from a checkpoint and return the position it recorded, after
    :func:`check_position` (with ``per_epoch``, the batches per epoch of this run's data).

    Raises:
        CheckpointError: the position or the step log is inconsistent, or a state does not fit.
    """
    epoch, batch, step = check_position(path, meta, per_epoch)
    log = _step_log(path, names, arrays, step)
    restore_states(path, trainers, arrays)
    pos = Position(log, [dict(r) for r in meta["epochs"]], epoch, batch, step)
    pos.log.truncate(pos.step)
    if pos.history and pos.history[-1].get("partial"):
        pos.history.pop()  # that epoch continues now
    return pos


def _count(meta: Mapping[str, Any], key: str, path: Path) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(f"{path}: invalid checkpoint: '{key}' must be a whole number "
                              f">= 0. Received: {str(value)[:80]}")
    return value


def check_position(
    path: Path, meta: Mapping[str, Any], per_epoch: int | None
) -> tuple[int, int, int]:
    """``(epoch, batch, step)`` of a checkpoint's meta, checked: whole numbers, ``batch`` inside
    an epoch, ``step == epoch · per_epoch + batch``, and one ``epochs`` record (a mapping whose
    ``epoch`` counts up from 1) per epoch begun.

    Raises:
        CheckpointError: the meta is inconsistent (hand-edited or corrupt); the message names
            the key.

    Example:
        >>> check_position(Path("c.npz"), {"epoch": 1, "batch": 0, "step": 4,
        ...                "epochs": [{"epoch": 1}]}, per_epoch=4)
        (1, 0, 4)
        >>> check_position(Path("c.npz"), {"epoch": 10**9, "batch": 0, "step": 4,
        ...                "epochs": [{"epoch": 1}]}, per_epoch=4)
        Traceback (most recent call last):
        ...
        archdsl.training.errors.CheckpointError: c.npz: invalid checkpoint: step 4 is not \
epoch 1000000000 × 4 batches + batch 0; delete it to start over
    """
    epoch, batch, step = (_count(meta, k, path) for k in ("epoch", "batch", "step"))
    if per_epoch is not None:
        if batch >= per_epoch:
            raise CheckpointError(f"{path}: invalid checkpoint: batch {batch} is beyond an "
                                  f"epoch of {per_epoch} batches; delete it to start over")
        if step != epoch * per_epoch + batch:
            raise CheckpointError(
                f"{path}: invalid checkpoint: step {step} is not epoch {epoch} × {per_epoch} "
                f"batches + batch {batch}; delete it to start over")
    history = meta.get("epochs")
    begun = epoch + (1 if batch else 0)
    if not isinstance(history, list) or len(history) != begun or any(
        not isinstance(r, dict) or r.get("epoch") != i + 1 for i, r in enumerate(history)
    ):
        raise CheckpointError(
            f"{path}: invalid checkpoint: 'epochs' must hold one record per epoch begun "
            f"({begun}, each a mapping with its 'epoch' number). Received: "
            f"{str(history)[:80]}")
    return epoch, batch, step


def _step_log(path: Path, names: tuple[str, ...], arrays: Mapping[str, np.ndarray],
              step: int) -> StepLog:
    try:
        log = StepLog.from_arrays(names, arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: incomplete checkpoint (step log: {exc})") from None
    columns = (log.epoch, log.step, log.framework, log.loss, log.correct, log.count, log.lr)
    if len({len(c) for c in columns}) != 1 or len(log) < step * len(names):
        raise CheckpointError(f"{path}: invalid checkpoint: its step log does not cover "
                              f"{step} steps of {len(names)} framework(s)")
    return log


def rng_position(seed: int, epoch: int, batch: int) -> dict[str, Any]:
    """The random state of a run at (epoch, batch): every draw is keyed by its position.

    >>> rng_position(0, 1, 2)["masks"]
    'SeedSequence([seed, epoch, batch, 0x6d61736b])'
    """
    return {"seed": seed, "epoch": epoch, "batch": batch,
            "batches": "SeedSequence([seed, epoch])",
            "masks": f"SeedSequence([seed, epoch, batch, {MASK_STREAM:#x}])"}


__all__ = [
    "CHECKPOINT_FORMAT",
    "Position",
    "check_position",
    "load_checkpoint",
    "load_run_checkpoint",
    "restore_states",
    "resume_position",
    "rng_position",
    "save_checkpoint",
    "state_arrays",
]
