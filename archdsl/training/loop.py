"""The lock-step loop: every framework's trainer steps on the same batch with the same masks.

:func:`start_session` initializes the weights **once** (seeded) and builds every framework's
model and trainer from them; :class:`Lockstep` steps them together (:meth:`Lockstep.step`) or
runs whole epochs (:meth:`Lockstep.run`), calling a :class:`LoopHooks` object at the start of
every epoch, after every step and at the end of every epoch. ``run_training`` and
``lockstep_run`` are two sets of hooks on this one loop.

Example (with any trainers)::

    >>> loop = Lockstep.for_config(session.trainers, g, config)  # doctest: +SKIP
    >>> results, seconds = loop.step(xb, yb, epoch=0, index=0)  # doctest: +SKIP
    >>> steps = loop.run(data.train, config, limit=100, hooks=MyHooks())  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.trainconfig import TrainConfig
from archdsl.training.errors import TrainingDivergedError
from archdsl.training.frameworks import Framework
from archdsl.training.masks import DropoutNode, dropout_masks, dropout_nodes
from archdsl.training.trainer import StepResult, Trainer

if TYPE_CHECKING:
    from archdsl.data import Batches
    from archdsl.graph import Graph


@dataclass
class Session:
    """The models and trainers of one run, all started from the same weights."""

    frameworks: dict[str, Framework]
    models: dict[str, Any]
    trainers: dict[str, Trainer]
    native: frozenset[str]


def start_session(
    graph: Graph,
    config: TrainConfig,
    frameworks: Sequence[Framework],
    native: frozenset[str],
    device: str = "cpu",
) -> Session:
    """Initialize the weights once (seeded) and build every framework's model and trainer."""
    from archdsl.init import init_weights

    weights = init_weights(graph, None, config.seed)
    models: dict[str, Any] = {}
    trainers: dict[str, Trainer] = {}
    for fw in frameworks:
        models[fw.name] = fw.build(graph, weights, config, native)
        trainers[fw.name] = fw.trainer(models[fw.name], graph, config, native, device)
    return Session({fw.name: fw for fw in frameworks}, models, trainers, native)


@dataclass(frozen=True)
class StepEvent:
    """One lock-step step: its position (``epoch`` and batch ``index`` 0-based, ``step`` the
    number of steps done including this one), learning rate, and every framework's result and
    seconds."""

    epoch: int
    index: int
    step: int
    lr: float
    results: Mapping[str, StepResult]
    seconds: Mapping[str, float]


@dataclass(frozen=True)
class EpochEnd:
    """The end of an epoch: ``batches`` is the next batch index (the epoch's length unless the
    step limit cut it short, then ``partial``)."""

    epoch: int
    batches: int
    step: int
    lr: float
    partial: bool


class LoopHooks:
    """What :meth:`Lockstep.run` calls; every method does nothing here, subclasses override."""

    def on_epoch_start(self, epoch: int, lr: float) -> None:
        """Before the first step of ``epoch`` (0-based), its learning rate already set."""

    def on_step(self, event: StepEvent) -> None:
        """After every step (before the finiteness check)."""

    def on_diverged(self, event: StepEvent) -> None:
        """A loss of ``event`` is NaN or infinite; the loop raises after this returns."""

    def on_epoch_end(self, end: EpochEnd) -> None:
        """After the last step of an epoch (also a cut-short one)."""


class Lockstep:
    """Steps every trainer on one batch, with the same dropout masks; times each framework.

    Example (with any trainers)::

        >>> loop = Lockstep(session.trainers, dropout_nodes(g), seed=0)  # doctest: +SKIP
        >>> results, seconds = loop.step(xb, yb, epoch=0, index=0)  # doctest: +SKIP
    """

    def __init__(
        self,
        trainers: Mapping[str, Trainer],
        nodes: Sequence[DropoutNode],
        *,
        seed: int,
        dtype: str = "float32",
        masks: bool = True,
    ) -> None:
        self.trainers = dict(trainers)
        self.nodes = list(nodes)
        self.seed, self.dtype = seed, dtype
        self.masks = masks and bool(self.nodes)

    @classmethod
    def for_config(
        cls, trainers: Mapping[str, Trainer], graph: Graph, config: TrainConfig
    ) -> Lockstep:
        """The loop of ``config``: its seed and dtype, masks when ``dropout: matched``."""
        return cls(trainers, dropout_nodes(graph), seed=config.seed, dtype=config.dtype,
                   masks=config.dropout == "matched")

    def step(
        self, x: np.ndarray, y: np.ndarray, *, epoch: int, index: int
    ) -> tuple[dict[str, StepResult], dict[str, float]]:
        """One optimizer step of every trainer; returns the results and seconds per framework."""
        masks = (
            dropout_masks(
                self.nodes, x.shape[0], seed=self.seed, epoch=epoch, index=index, dtype=self.dtype
            )
            if self.masks
            else None
        )
        results: dict[str, StepResult] = {}
        seconds: dict[str, float] = {}
        for name, trainer in self.trainers.items():
            t0 = time.perf_counter()
            results[name] = trainer.step(x, y, masks)
            seconds[name] = time.perf_counter() - t0
        return results, seconds

    def set_lr(self, lr: float) -> None:
        """Set every trainer's learning rate."""
        for trainer in self.trainers.values():
            trainer.set_lr(lr)

    def run(
        self,
        batches: Batches,
        config: TrainConfig,
        *,
        limit: int,
        start: tuple[int, int, int] = (0, 0, 0),
        epochs: int | None = None,
        hooks: LoopHooks | None = None,
    ) -> int:
        """Step through ``batches`` epoch by epoch from ``start`` = (epoch, batch, steps done)
        until ``limit`` steps are done (or ``epochs`` epochs, when given); returns the steps
        done. Each epoch's learning rate is ``config.schedule``'s.

        Raises:
            TrainingDivergedError: a loss became NaN or infinite (after ``hooks.on_diverged``).
        """
        hooks = hooks or LoopHooks()
        epoch, first, step = start
        while step < limit and (epochs is None or epoch < epochs):
            lr = config.schedule.lr(config.optimizer.lr, epoch, config.epochs)
            self.set_lr(lr)
            hooks.on_epoch_start(epoch, lr)
            index = first
            for xb, yb in _from_batch(batches.epoch(epoch), first):
                if step >= limit:
                    break
                results, seconds = self.step(xb, yb, epoch=epoch, index=index)
                step += 1
                event = StepEvent(epoch, index, step, lr, results, seconds)
                index += 1
                hooks.on_step(event)
                _check_event(event, hooks)
            partial = index < len(batches)
            hooks.on_epoch_end(EpochEnd(epoch, index, step, lr, partial))
            if partial:
                break
            epoch, first = epoch + 1, 0
        return step


def _from_batch(
    batches: Iterator[tuple[np.ndarray, np.ndarray]], first: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    return itertools.islice(batches, first, None) if first else batches


def _check_event(event: StepEvent, hooks: LoopHooks) -> None:
    """Call ``hooks.on_diverged`` and raise when a loss of ``event`` is not finite."""
    for name, r in event.results.items():
        loss = float(r.loss)
        if not math.isfinite(loss):
            hooks.on_diverged(event)
            check_finite(name, loss, step=event.step, epoch=event.epoch + 1, lr=event.lr)


def evaluate(trainers: Mapping[str, Trainer], batches: Batches) -> dict[str, dict[str, float]]:
    """Sample-weighted validation loss and accuracy of every trainer over ``batches`` (epoch 0;
    an unshuffled pipeline yields the same batches every time)."""
    sums = {name: [0.0, 0, 0] for name in trainers}
    for xb, yb in batches.epoch(0):
        for name, trainer in trainers.items():
            r = trainer.evaluate(xb, yb)
            acc = sums[name]
            acc[0] += float(r.loss) * int(r.count)
            acc[1] += int(r.correct)
            acc[2] += int(r.count)
    return {
        name: {
            "val_loss": s[0] / s[2] if s[2] else math.nan,
            "val_acc": s[1] / s[2] if s[2] else math.nan,
        }
        for name, s in sums.items()
    }


def check_finite(framework: str, loss: float, *, step: int, epoch: int, lr: float) -> None:
    """Raise :class:`TrainingDivergedError` when ``loss`` is NaN or infinite.

    Example:
        >>> check_finite("torch", float("nan"), step=3, epoch=1, lr=1e6)
        Traceback (most recent call last):
        ...
        archdsl.training.errors.TrainingDivergedError: torch loss became nan at step 3 (epoch 1) \
with lr 1000000.0; training stopped: lower optimizer.lr or check the data normalization
    """
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"{framework} loss became {loss} at step {step} (epoch {epoch}) with lr {lr}; "
            "training stopped: lower optimizer.lr or check the data normalization"
        )


__all__ = [
    "EpochEnd",
    "Lockstep",
    "LoopHooks",
    "Session",
    "StepEvent",
    "check_finite",
    "evaluate",
    "start_session",
]
