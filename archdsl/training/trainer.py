"""What the lock-step loop calls on a framework's trainer: the :class:`Trainer` protocol.

A backend's ``make_trainer(model, graph, config, *, device, native)`` returns an object with
these methods (``archdsl.backends.torch.train.TorchTrainer``,
``archdsl.backends.keras.train.KerasTrainer``); the protocol imports no framework. Arrays are
numpy, in the IR layout (``(N, C, *spatial)``, batch first); the trainer converts them.

Example:
    >>> class Constant:
    ...     def step(self, x, y, masks=None): return StepResult(0.5, 1, len(y))
    ...     def evaluate(self, x, y): return StepResult(0.5, 1, len(y))
    ...     def set_lr(self, lr): pass
    ...     def get_state(self): return {}
    ...     def set_state(self, state): pass
    ...     def gradients(self): return {}
    >>> isinstance(Constant(), Trainer), Constant().step(None, [0, 1]).loss
    (True, 0.5)

A trainer may also define ``nonfinite() -> str | None``: after every step the loop asks it
which weight or statistic (BatchNorm's running variance, ...) is NaN or infinite, in words, and
stops the run when one is, before a checkpoint could save it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class StepResult:
    """One batch's mean loss and accuracy counts, and the global L2 norm of its gradients
    (before clipping; ``None`` when the trainer does not report it)."""

    loss: float
    correct: int
    count: int
    grad_norm: float | None = None


@runtime_checkable
class Trainer(Protocol):
    """A framework's model, optimizer and loss, stepping on numpy batches in place."""

    def step(
        self, x: np.ndarray, y: np.ndarray, masks: Mapping[str, np.ndarray] | None = None
    ) -> StepResult:
        """One optimizer step on one batch; returns the batch loss (mean, before the update)
        and accuracy counts. ``masks`` are :func:`~archdsl.training.dropout_masks`' output
        (``dropout: matched``), ``None`` otherwise."""
        ...

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        """Eval-mode loss (mean) and accuracy counts on one batch; no update."""
        ...

    def set_lr(self, lr: float) -> None:
        """Set the learning rate (the loop sets it at the start of every epoch)."""
        ...

    def get_state(self) -> dict[str, np.ndarray]:
        """Weights (canonical layout) and optimizer state as flat numpy arrays (checkpoints)."""
        ...

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`get_state`'s output; training then continues bit-identically."""
        ...

    def gradients(self) -> dict[str, dict[str, np.ndarray]]:
        """The last step's gradients, canonical layout, ``{node: {weight: array}}``."""
        ...


__all__ = ["StepResult", "Trainer"]
