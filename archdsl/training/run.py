"""``archdsl train``: :func:`run_training` trains one graph in every framework side by side.

It loads the dataset and computes the normalization from the training set
(:func:`~archdsl.training.prepare_data`), initializes the weights **once** and copies them into
every framework's model (:func:`~archdsl.training.start_session`), then runs the lock-step loop
(:class:`~archdsl.training.Lockstep`): the **same** numpy batches in the **same** order, with
the **same** dropout masks, for every framework. :class:`RunRecorder` is the loop's hooks: it
logs every step of every framework, and ends every epoch with a validation pass,
``metrics.csv`` / ``metrics.json`` / ``curves.png`` and an atomic checkpoint from which
``resume=True`` continues bit-exactly.

Before it loads data or builds a model, the run claims its output folder
(:func:`~archdsl.training.outdir.claim_output`): checked, locked against a second run, cleaned
of temporary files a killed run left, and never emptied: a folder holding earlier results gets
a fresh ``run-N`` subfolder unless ``resume`` or ``overwrite`` says otherwise. A loss, gradient
or statistic that becomes NaN or infinite stops the run before a checkpoint could save it.

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
from archdsl.training.errors import TrainingDivergedError
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
from archdsl.training.monitor import BestCheckpoints, EarlyStopping
from archdsl.training.outdir import RunFolder, claim_output
from archdsl.training.outputs import (
    OUTPUT_DIRS,
    OUTPUT_FILES,
    TrainResult,
    result_files,
    result_names,
    write_outputs,
)
from archdsl.training.progress import Status, TrainProgress
from archdsl.training.weightfiles import WeightsWriter

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
    overwrite: bool = False,
    progress: bool = True,
    device: str = "cpu",
    native: Sequence[str] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    val_limit: int | None = None,
    tensorboard: bool = False,
    save_best: bool = False,
) -> TrainResult:
    """Train ``graph`` in every framework of ``backends`` side by side; see the module docs.

    ``config`` defaults to the spec's ``train:`` section (then to :class:`TrainConfig`'s
    defaults); ``epochs`` / ``max_steps`` override it. ``native`` names conventions to leave at
    a framework's own default (``config.conventions == "native"`` means all of them).
    ``on_epoch`` is called with each epoch's ``metrics.json`` entry. ``save_best``: also keep
    the weights of the best validation accuracy in ``weights.best.npz``. Files in ``out_dir``:
    ``metrics.csv``, ``metrics.json``, ``curves.png``, ``checkpoint.npz`` (and ``best/``,
    ``tensorboard/`` when asked for). ``val_limit`` validates on the first N test images.

    With ``resume=True`` the run continues from ``out_dir/checkpoint.npz`` (written at the end
    of every epoch) and ends exactly where an uninterrupted run would; without a checkpoint it
    starts from scratch. A folder that holds an earlier run's results is kept: the run writes
    to a fresh ``out_dir/run-N`` (``TrainResult.out_dir`` and ``notes`` say so), or with
    ``overwrite=True`` replaces them once its data and models are ready.

    Raises:
        DataError: the dataset's files are missing or corrupt.
        OutputError: ``out_dir`` cannot be written.
        TrainingError: the spec does not fit the dataset, another run holds ``out_dir``;
            :class:`TrainingDivergedError` when a loss, the gradients or a statistic becomes
            NaN/inf; :class:`CheckpointError` for an unusable checkpoint.
        BackendError: a framework or its trainer is missing.
    """
    config = with_length(resolve_config(graph, config), epochs, max_steps)
    status = Status(progress)
    with status.phase("loading " + " and ".join(str(getattr(b, "name", b)) for b in backends)):
        fws = load_frameworks(backends)
    resume = resume and (Path(out_dir) / OUTPUT_FILES["checkpoint"]).is_file()
    with claim_output(out_dir, result_names=result_names(), resume=resume,
                      overwrite=overwrite) as folder:
        recorder = _prepare_run(graph, config, fws, native, folder, data_dir, device, resume,
                                val_limit, status, on_epoch)
        recorder.weights = WeightsWriter(graph, recorder.result, recorder.data, save_best)
        return recorder.run(config, progress, tensorboard)


def _prepare_run(
    graph: Graph, config: TrainConfig, fws: Sequence[Framework], native: Sequence[str] | None,
    folder: RunFolder, data_dir: str | Path | None, device: str, resume: bool,
    val_limit: int | None, status: Status, on_epoch: Callable[[dict[str, Any]], None] | None,
) -> RunRecorder:
    """Everything a run checks before it writes (checkpoint, data, models), then the folder
    commit and the recorder of the run."""
    names = tuple(fw.name for fw in fws)
    nat = native_set(config, fws, native)
    chash = config_hash(graph, config, names, nat)
    if folder.note:
        status.say(folder.note)
    saved = _saved_checkpoint(folder.requested, chash, resume)
    with status.phase(f"loading the dataset {config.dataset}"):
        data = prepare_data(graph, config, data_dir, val_limit=val_limit,
                            progress=status.progress)
    with status.phase(f"building the {' and '.join(names)} model(s)"):
        session = start_session(graph, config, fws, nat, device)
    pos = Position(StepLog(names), [])
    if saved is not None:
        pos = resume_position(folder.requested / OUTPUT_FILES["checkpoint"], *saved,
                              session.trainers, names, len(data.train))
    folder.commit()
    result = new_result(graph, config, data, folder.path, names, nat, chash, pos,
                        saved is not None)
    result.notes = _folder_notes(folder)
    result.best = list(saved[0].get("best", [])) if saved is not None else []
    return RunRecorder(graph, result, session, data, pos, saved, on_epoch)


def _folder_notes(folder: RunFolder) -> list[str]:
    notes = [folder.note] if folder.note else []
    if folder.removed_temp:
        shown = ", ".join(p.name for p in folder.removed_temp[:3])
        notes.append(f"removed {len(folder.removed_temp)} temporary file(s) an interrupted run "
                     f"left in {folder.requested} ({shown})")
    return notes


def _saved_checkpoint(out: Path, chash: str, resume: bool) -> Saved | None:
    """The checkpoint to resume from (``None``: start afresh; nothing is deleted here)."""
    path = out / OUTPUT_FILES["checkpoint"]
    if resume and path.exists():
        return load_run_checkpoint(path, chash)
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
        files=result_files(out), val_samples=int(data.val.x.shape[0]),
    )


class RunRecorder(LoopHooks):
    """The hooks of :func:`run_training`: step log, progress, epoch summaries, checkpoints,
    early stopping, best-k checkpoints and TensorBoard events."""

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
        cfg, names = result.config, result.frameworks
        self.stopper = EarlyStopping(cfg.early_stopping, names)
        self.stopper.replay(pos.history)
        self.best = BestCheckpoints(cfg.keep_best, names, result.out_dir, result.best)
        self.board: Any = None
        self.last_good: int | None = int(self.saved_meta["epoch"]) if saved else None
        self.weights: WeightsWriter | None = None

    def run(self, config: TrainConfig, progress: bool, tensorboard: bool = False
            ) -> TrainResult:
        """Run the loop to the end of the run; returns the finished result."""
        result = self.result
        limit = step_limit(config, len(self.data.train))
        loop = Lockstep.for_config(self.session.trainers, self.graph, config)
        self.bars = TrainProgress(progress, result.frameworks, limit, min(self.pos.step, limit))
        if tensorboard:
            from archdsl.training.tensorboard import TensorBoardLog

            folder = result.out_dir / OUTPUT_DIRS["tensorboard"]
            self.board = TensorBoardLog(folder, result.frameworks)
            result.files["tensorboard"] = str(folder)
        step = self.pos.step
        try:
            if not self.stopper.stopped:
                step = loop.run(self.data.train, config, limit=limit, start=self.pos.start,
                                epochs=config.epochs, hooks=self)
        except TrainingDivergedError as exc:
            raise TrainingDivergedError(exc.message + self._kept_text()) from None
        finally:
            self.bars.close()
            if self.board is not None:
                self.board.close()
        result.complete = step >= limit or self.stopper.stopped
        result.stopped_early = self.stopper.reason or None
        resumed_step = (result.resumed_from or {}).get("step", 0)
        plotted = step > resumed_step and Path(result.files["curves"]).exists()
        write_outputs(result, self.log, plot=not plotted)
        if self.weights is not None:
            self.weights.finish(self.session)
            write_outputs(result, self.log, plot=False)
        return result

    def _kept_text(self) -> str:
        ckpt = self.result.files["checkpoint"]
        if self.last_good is None:
            return "; no checkpoint was written (none was good)"
        return f"; {ckpt} keeps the last good state (epoch {self.last_good})"

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
            if self.board is not None:
                self.board.scalars(name, {
                    "train/loss": loss, "train/acc": int(r.correct) / max(count, 1),
                    "train/lr": event.lr, "train/grad_norm": getattr(r, "grad_norm", None),
                }, event.step)
        self.bars.step_done()

    def on_diverged(self, event: StepEvent) -> None:
        self.result.steps = event.step
        write_outputs(self.result, self.log, diverged=True)

    def on_epoch_end(self, end: EpochEnd) -> None:
        assert self.bars is not None
        val_data = self.data.val
        tick = self.bars.validating(len(val_data), int(val_data.x.shape[0]))
        val = evaluate(self.session.trainers, val_data, tick)
        self.wall["total"] = time.perf_counter() - self.t_epoch
        if end.epoch == self.pos.epoch and self.pos.batch and self.result.resumed_from:
            self.wall["total"] += float(self.saved_meta.get("partial_wall_s", 0.0))
        record = epoch_record(end.epoch + 1, end.step, end.lr, self.log.epoch_stats(end.epoch + 1),
                              val, self.wall, partial=end.partial)
        self.result.epochs.append(record)
        self.result.steps = end.step
        self.stopper.update(record)
        entry, gone = self.best.select(record)
        self.result.best = self.best.kept
        self._checkpoint(end)
        if self.weights is not None:
            self.weights.epoch_end(self.session, record)
        self.best.store(entry, Path(self.result.files["checkpoint"]), gone)
        write_outputs(self.result, self.log)
        self._board_epoch(val, end.step)
        if self.on_epoch is not None:
            self.on_epoch(record)

    def should_stop(self) -> bool:
        return self.stopper.stopped

    def _board_epoch(self, val: Mapping[str, Mapping[str, float]], step: int) -> None:
        if self.board is None:
            return
        for name, v in val.items():
            self.board.scalars(name, {"val/loss": v["val_loss"], "val/acc": v["val_acc"]}, step)
        self.board.flush()

    def _checkpoint(self, end: EpochEnd) -> None:
        """Save the trainers' states and the position the run continues from (refused when a
        state holds NaN or inf: the last good checkpoint stays)."""
        r = self.result
        epoch, batch = (end.epoch, end.batches) if end.partial else (end.epoch + 1, 0)
        arrays = {**state_arrays(self.session.trainers), **self.log.to_arrays()}
        bad = next((k for k, v in arrays.items() if k.startswith("state/")
                    and v.dtype.kind == "f" and not np.isfinite(v).all()), None)
        if bad is not None:
            raise TrainingDivergedError(
                f"{bad.split('/')[1]} state '{bad.split('/', 2)[2]}' became non-finite by the "
                f"end of epoch {end.epoch + 1}; training stopped: lower optimizer.lr or set "
                "clip_grad_norm")  # run() adds where the last good checkpoint is
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
            "best": r.best,
            "partial_wall_s": self.wall["total"] if end.partial else 0.0,
        }
        save_checkpoint(Path(r.files["checkpoint"]), meta, arrays)
        self.last_good = epoch


__all__ = ["RunRecorder", "new_result", "run_training"]
