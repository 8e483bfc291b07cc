"""``archdsl train``: :func:`run_training` trains one graph in every framework side by side.

It loads the dataset and computes the normalization from the training set
(:func:`~archdsl.training.prepare_data`), initializes the weights **once** and copies them into
every framework's model (:func:`~archdsl.training.start_session`), then runs the lock-step loop
(:class:`~archdsl.training.Lockstep`): the **same** numpy batches in the **same** order, with
the **same** dropout masks, for every framework. :class:`RunRecorder` is the loop's hooks: it
logs every step of every framework, and ends every epoch with a validation pass,
``metrics.csv`` / ``metrics.json`` / ``curves.png`` and an atomic checkpoint from which
``resume=True`` continues bit-exactly.

Example (needs both frameworks)::

    >>> import archdsl
    >>> g = archdsl.load("digits_cnn.yaml")  # doctest: +SKIP
    >>> r = run_training(g, None, out_dir="out/digits", epochs=2)  # doctest: +SKIP
    >>> r.final["torch"]["val_acc"], r.final["keras"]["val_acc"]  # doctest: +SKIP
    (0.9415, 0.9415)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.metrics import StepLog, epoch_record
from archdsl.trainconfig import TrainConfig
from archdsl.training.checkpoints import (
    CHECKPOINT_FORMAT,
    Position,
    load_run_checkpoint,
    resume_position,
    rng_position,
    save_checkpoint,
    state_arrays,
)
from archdsl.training.config import config_hash, resolve_config, step_limit, with_length
from archdsl.training.data import TrainData, prepare_data
from archdsl.training.frameworks import Framework, load_frameworks, native_set
from archdsl.training.loop import (
    EpochEnd,
    Lockstep,
    LoopHooks,
    Session,
    StepEvent,
    evaluate,
    start_session,
)
from archdsl.training.outputs import (
    OUTPUT_FILES,
    TrainResult,
    clear_outputs,
    result_files,
    write_outputs,
)
from archdsl.training.progress import TrainProgress

if TYPE_CHECKING:
    from archdsl.graph import Graph

Saved = tuple[dict[str, Any], dict[str, np.ndarray]]


def run_training(
    graph: Graph,
    config: TrainConfig | None = None,
    *,
    backends: Sequence[str | Framework] = ("torch", "keras"),
    data_dir: str | Path | None = None,
    out_dir: str | Path,
    epochs: int | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str = "cpu",
    native: Sequence[str] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``graph`` in every framework of ``backends`` side by side; see the module docs.

    ``config`` defaults to the spec's ``train:`` section (then to :class:`TrainConfig`'s
    defaults); ``epochs`` / ``max_steps`` override it. ``native`` names conventions to leave at
    a framework's own default (``config.conventions == "native"`` means all of them).
    ``on_epoch`` is called with each epoch's ``metrics.json`` entry. Files in ``out_dir``:
    ``metrics.csv``, ``metrics.json``, ``curves.png``, ``checkpoint.npz``.

    With ``resume=True`` the run continues from ``out_dir/checkpoint.npz`` (written at the end
    of every epoch) and ends exactly where an uninterrupted run would; without a checkpoint it
    starts from scratch.

    Raises:
        DataError: the dataset's files are missing or corrupt.
        TrainingError: the spec does not fit the dataset; :class:`TrainingDivergedError` when
            a loss becomes NaN/inf; :class:`CheckpointError` for an unusable checkpoint.
        BackendError: a framework or its trainer is missing.
    """
    config = with_length(resolve_config(graph, config), epochs, max_steps)
    fws = load_frameworks(backends)
    names = tuple(fw.name for fw in fws)
    nat = native_set(config, fws, native)
    out = Path(out_dir)
    chash = config_hash(graph, config, names, nat)
    saved = _saved_checkpoint(out, chash, resume)
    data = prepare_data(graph, config, data_dir)
    session = start_session(graph, config, fws, nat, device)
    pos = Position(StepLog(names), [])
    if saved is not None:
        pos = resume_position(out / OUTPUT_FILES["checkpoint"], *saved, session.trainers, names)
    result = new_result(graph, config, data, out, names, nat, chash, pos, saved is not None)
    recorder = RunRecorder(graph, result, session, data, pos, saved, on_epoch)
    return recorder.run(config, progress)


def _saved_checkpoint(out: Path, chash: str, resume: bool) -> Saved | None:
    """The checkpoint to resume from (``None``: start afresh, deleting old outputs unless
    ``resume``)."""
    path = out / OUTPUT_FILES["checkpoint"]
    if resume and path.exists():
        return load_run_checkpoint(path, chash)
    if not resume:
        clear_outputs(out)
    return None


def new_result(
    graph: Graph, config: TrainConfig, data: TrainData, out: Path, names: tuple[str, ...],
    native: frozenset[str], chash: str, pos: Position, resumed: bool,
) -> TrainResult:
    """The :class:`TrainResult` of a run starting at ``pos`` (its epoch list is ``pos.history``,
    which the run extends)."""
    norm = data.normalization
    return TrainResult(
        out_dir=out, spec=graph.name, dataset=data.dataset.name, frameworks=names,
        native=tuple(sorted(native)), config=config, config_hash=chash, epochs=pos.history,
        steps=pos.step, complete=False,
        resumed_from={"epoch": pos.epoch + 1, "batch": pos.batch, "step": pos.step}
        if resumed else None,
        normalization=None if norm is None else {"mean": list(norm.mean), "std": list(norm.std)},
        files=result_files(out),
    )


class RunRecorder(LoopHooks):
    """The hooks of :func:`run_training`: step log, progress, epoch summaries, checkpoints."""

    def __init__(
        self, graph: Graph, result: TrainResult, session: Session, data: TrainData,
        pos: Position, saved: Saved | None, on_epoch: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.graph, self.result, self.session, self.data = graph, result, session, data
        self.pos = pos
        self.saved_meta: Mapping[str, Any] = saved[0] if saved is not None else {}
        self.on_epoch = on_epoch
        self.log = pos.log
        self.wall: dict[str, float] = {}
        self.t_epoch = 0.0
        self.bars: TrainProgress | None = None

    def run(self, config: TrainConfig, progress: bool) -> TrainResult:
        """Run the loop to the end of the run; returns the finished result."""
        result = self.result
        limit = step_limit(config, len(self.data.train))
        loop = Lockstep.for_config(self.session.trainers, self.graph, config)
        self.bars = TrainProgress(progress, result.frameworks, limit, min(self.pos.step, limit))
        try:
            step = loop.run(self.data.train, config, limit=limit, start=self.pos.start,
                            epochs=config.epochs, hooks=self)
        finally:
            self.bars.close()
        result.complete = step >= limit
        resumed_step = (result.resumed_from or {}).get("step", 0)
        plotted = step > resumed_step and Path(result.files["curves"]).exists()
        write_outputs(result, self.log, plot=not plotted)
        return result

    # ------------------------------------------------------------------ the loop's hooks
    def on_epoch_start(self, epoch: int, lr: float) -> None:
        self.wall = dict.fromkeys(self.result.frameworks, 0.0)
        self.t_epoch = time.perf_counter()

    def on_step(self, event: StepEvent) -> None:
        assert self.bars is not None
        epochs = self.result.config.epochs
        for name in self.result.frameworks:
            r = event.results[name]
            loss, count = float(r.loss), int(r.count)
            self.log.add(event.epoch + 1, event.step, name, loss, correct=int(r.correct),
                         count=count, lr=event.lr)
            self.wall[name] += event.seconds[name]
            self.bars.update(name, event.epoch + 1, epochs, loss, int(r.correct) / max(count, 1))
        self.bars.step_done()

    def on_diverged(self, event: StepEvent) -> None:
        self.result.steps = event.step
        write_outputs(self.result, self.log, diverged=True)

    def on_epoch_end(self, end: EpochEnd) -> None:
        val = evaluate(self.session.trainers, self.data.val)
        self.wall["total"] = time.perf_counter() - self.t_epoch
        if end.epoch == self.pos.epoch and self.pos.batch and self.result.resumed_from:
            self.wall["total"] += float(self.saved_meta.get("partial_wall_s", 0.0))
        record = epoch_record(end.epoch + 1, end.step, end.lr, self.log.epoch_stats(end.epoch + 1),
                              val, self.wall, partial=end.partial)
        self.result.epochs.append(record)
        self.result.steps = end.step
        self._checkpoint(end)
        write_outputs(self.result, self.log)
        if self.on_epoch is not None:
            self.on_epoch(record)

    def _checkpoint(self, end: EpochEnd) -> None:
        """Save the trainers' states and the position the run continues from."""
        r = self.result
        epoch, batch = (end.epoch, end.batches) if end.partial else (end.epoch + 1, 0)
        meta = {
            "format": CHECKPOINT_FORMAT,
            "config_hash": r.config_hash,
            "spec": r.spec,
            "frameworks": list(r.frameworks),
            "native": list(r.native),
            "epoch": epoch,
            "batch": batch,
            "step": end.step,
            "rng": rng_position(r.config.seed, epoch, batch),
            "epochs": r.epochs,
            "partial_wall_s": self.wall["total"] if end.partial else 0.0,
        }
        arrays = {**state_arrays(self.session.trainers), **self.log.to_arrays()}
        save_checkpoint(Path(r.files["checkpoint"]), meta, arrays)


__all__ = ["RunRecorder", "new_result", "run_training"]
