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
from collections.abc import Callable, Iterator, Mapping, Sequence
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
        """A loss, gradient or statistic of ``event`` is NaN or infinite; the loop raises
        after this returns."""

    def on_epoch_end(self, end: EpochEnd) -> None:
        """After the last step of an epoch (also a cut-short one)."""

    def should_stop(self) -> bool:
        """Asked after every full epoch: end the run there (early stopping)."""
        return False


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
        until ``limit`` steps are done (or ``epochs`` epochs, when given, or
        ``hooks.should_stop()`` after an epoch); returns the steps done. The learning rate is
        ``config.schedule``'s (:func:`schedule_lr`), set before every epoch or every step.

        Raises:
            TrainingDivergedError: a loss, the gradients or a weight/statistic became NaN or
                infinite (after ``hooks.on_diverged``).
        """
        hooks = hooks or LoopHooks()
        epoch, first, step = start
        per_epoch = len(batches)
        per_step = config.schedule.per_step
        while step < limit and (epochs is None or epoch < epochs):
            lr = schedule_lr(config, epoch, step, per_epoch)
            self.set_lr(lr)
            hooks.on_epoch_start(epoch, lr)
            index = first
            for xb, yb in _from_batch(batches.epoch(epoch), first):
                if step >= limit:
                    break
                if per_step and index != first:
                    lr = schedule_lr(config, epoch, step, per_epoch)
                    self.set_lr(lr)
                results, seconds = self.step(xb, yb, epoch=epoch, index=index)
                step += 1
                event = StepEvent(epoch, index, step, lr, results, seconds)
                index += 1
                hooks.on_step(event)
                _check_event(event, hooks, self.trainers)
            partial = index < per_epoch
            hooks.on_epoch_end(EpochEnd(epoch, index, step, lr, partial))
            if partial or hooks.should_stop():
                break
            epoch, first = epoch + 1, 0
        return step


def schedule_lr(config: TrainConfig, epoch: int, step: int, per_epoch: int) -> float:
    """The learning rate of the step after ``step`` steps (in ``epoch``, 0-based): the
    schedule's interval is the epoch or the step; its horizon is ``config.epochs`` epochs.

    Example:
        >>> cfg = TrainConfig.model_validate({"optimizer": {"lr": 1.0}, "epochs": 2,
        ...     "schedule": {"name": "cosine", "interval": "step"}})
        >>> [schedule_lr(cfg, s // 2, s, 2) for s in range(4)]
        [1.0, 0.8535533905932737, 0.5, 0.14644660940672627]
    """
    sched, base = config.schedule, config.optimizer.lr
    if sched.per_step:
        return sched.lr_at(base, step, config.epochs * per_epoch)
    return sched.lr_at(base, epoch, config.epochs)


def _from_batch(
    batches: Iterator[tuple[np.ndarray, np.ndarray]], first: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    return itertools.islice(batches, first, None) if first else batches


def _check_event(event: StepEvent, hooks: LoopHooks, trainers: Mapping[str, Trainer]) -> None:
    """Call ``hooks.on_diverged`` and raise when a loss, the gradients' norm or (for trainers
    with a ``nonfinite()`` method) a weight or statistic of ``event`` is NaN or infinite."""
    for name, r in event.results.items():
        what = nonfinite_result(r)
        if what is None:
            probe = getattr(trainers.get(name), "nonfinite", None)
            what = probe() if callable(probe) else None
        if what is not None:
            hooks.on_diverged(event)
            raise TrainingDivergedError(
                f"{name} {what} at step {event.step} (epoch {event.epoch + 1}) with lr "
                f"{event.lr}; training stopped: lower optimizer.lr, set clip_grad_norm or "
                "check the data normalization"
            )


def nonfinite_result(r: StepResult) -> str | None:
    """What of a step result is NaN or infinite, in words (``None``: all finite).

    Example:
        >>> nonfinite_result(StepResult(float("nan"), 0, 4))
        'loss became nan'
        >>> nonfinite_result(StepResult(0.5, 0, 4, grad_norm=float("inf")))
        'gradients became inf (global norm)'
    """
    loss = float(r.loss)
    if not math.isfinite(loss):
        return f"loss became {loss}"
    norm = getattr(r, "grad_norm", None)
    if norm is not None and not math.isfinite(float(norm)):
        return f"gradients became {float(norm)} (global norm)"
    return None


def evaluate(
    trainers: Mapping[str, Trainer], batches: Batches,
    on_batch: Callable[[], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Sample-weighted validation loss and accuracy of every trainer over ``batches`` (epoch 0;
    an unshuffled pipeline yields the same batches every time); ``on_batch`` is called after
    each batch (progress)."""
    sums = {name: [0.0, 0, 0] for name in trainers}
    for xb, yb in batches.epoch(0):
        if on_batch is not None:
            on_batch()
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
    "nonfinite_result",
    "schedule_lr",
    "start_session",
]
