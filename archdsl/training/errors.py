"""The errors a training run raises; all are :class:`~archdsl.errors.ArchdslError` (CLI exit 2).

Example:
    >>> issubclass(CheckpointError, TrainingError), TrainingDivergedError.kind
    (True, 'training diverged')
"""

from __future__ import annotations

from archdsl.errors import ArchdslError


class TrainingError(ArchdslError):
    """A training run cannot start or continue (the message says why; CLI exit code 2)."""

    kind = "training error"


class TrainingDivergedError(TrainingError):
    """A loss became NaN or infinite; the message names the framework, step and epoch."""

    kind = "training diverged"


class CheckpointError(TrainingError):
    """A checkpoint is unreadable, corrupt, or was written by a different run."""

    kind = "checkpoint error"


__all__ = ["CheckpointError", "TrainingDivergedError", "TrainingError"]
