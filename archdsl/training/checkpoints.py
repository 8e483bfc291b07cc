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
) -> Position:
    """Restore the trainers from a checkpoint and return the position it recorded."""
    restore_states(path, trainers, arrays)
    try:
        pos = Position(StepLog.from_arrays(names, arrays), list(meta["epochs"]),
                       int(meta["epoch"]), int(meta["batch"]), int(meta["step"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: incomplete checkpoint (missing {exc})") from None
    pos.log.truncate(pos.step)
    if pos.history and pos.history[-1].get("partial"):
        pos.history.pop()  # that epoch continues now
    return pos


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
    "load_checkpoint",
    "load_run_checkpoint",
    "restore_states",
    "resume_position",
    "rng_position",
    "save_checkpoint",
    "state_arrays",
]
