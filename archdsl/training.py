"""Train one graph in PyTorch and Keras side by side, on identical batches, from one init.

:func:`run_training` is ``archdsl train``: it loads the dataset, computes the normalization from
the training set, initializes the weights **once** (:func:`archdsl.init.init_weights`, seeded)
and copies them into every framework's model, then feeds the **same** numpy batches in the
**same** order to every framework's trainer, with the **same** numpy dropout masks
(:func:`dropout_masks`). Every step of every framework is logged; every epoch ends with a
validation pass, ``metrics.csv`` / ``metrics.json`` / ``curves.png`` and an atomic checkpoint
from which ``resume=True`` continues bit-exactly (all randomness is keyed by
``(seed, epoch, batch)``, so the checkpoint's position *is* the RNG state).

:func:`train_crosscheck` is ``archdsl crosscheck --train-steps N``: N lock-step steps, then the
per-step loss differences, each node's parameter drift and the first node whose gradients
diverge.

Frameworks are plugged in through :class:`Framework`: a backend module
(``build``/``get_weights``/``forward``) plus its trainer module (``make_trainer``,
``CONVENTIONS``; see :class:`archdsl.trainconfig.Trainer`). Nothing here imports a framework
at import time.

Example (needs both frameworks)::

    >>> import archdsl
    >>> from archdsl.training import run_training
    >>> g = archdsl.load("digits_cnn.yaml")  # doctest: +SKIP
    >>> r = run_training(g, None, out_dir="out/digits", epochs=2)  # doctest: +SKIP
    >>> r.final["torch"]["val_acc"], r.final["keras"]["val_acc"]  # doctest: +SKIP
    (0.9415, 0.9415)
"""

from __future__ import annotations

import hashlib
import importlib
import io
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.errors import ArchdslError, BackendError, SpecError
from archdsl.fsutil import atomic_write_bytes, atomic_write_text
from archdsl.metrics import StepLog, epoch_record, finite_or_none
from archdsl.trainconfig import StepResult, TrainConfig, Trainer

if TYPE_CHECKING:
    from archdsl.data import Batches, Dataset, Normalization
    from archdsl.graph import Graph

#: Version of the checkpoint layout (``meta["format"]``).
CHECKPOINT_FORMAT = 1
#: Batch size of the validation pass (no gradients, so larger than a training batch).
EVAL_BATCH_SIZE = 500
#: Extra entropy word of the dropout-mask streams ("mask"), so they never meet the data streams.
MASK_STREAM = 0x6D61736B
#: Gradient tolerance of :func:`train_crosscheck` (max |Δg| / max |g| per node).
GRAD_TOLERANCE = {"float32": 1e-3, "float64": 1e-9}
#: Loss tolerance of :func:`train_crosscheck` (max relative per-step loss difference); float32
#: with BatchNorm and Adam drifts to ~1e-4 in 50 steps (parity.md section 3).
LOSS_TOLERANCE = {"float32": 1e-3, "float64": 1e-9}
#: A float32 relative loss difference above this means the runs have parted (matched
#: arithmetic without such layers stays near 1e-5: bench/divergence.py).
PARTED = 1e-4


# ================================================================================ errors
class TrainingError(ArchdslError):
    """A training run cannot start or continue (the message says why; CLI exit code 2)."""

    kind = "training error"


class TrainingDivergedError(TrainingError):
    """A loss became NaN or infinite; the message names the framework, step and epoch."""

    kind = "training diverged"


class CheckpointError(TrainingError):
    """A checkpoint is unreadable, corrupt, or was written by a different run."""

    kind = "checkpoint error"


# ================================================================================ frameworks
MakeTrainer = Callable[..., Trainer]


@dataclass(frozen=True)
class Framework:
    """One framework as training sees it: its backend and its trainer factory.

    ``backend`` provides ``build(graph, *, weights, dtype, **options)``,
    ``get_weights(model, graph)`` and ``forward(model, graph, inputs, nodes)`` (see
    :mod:`archdsl.backends`); ``make_trainer(model, graph, config, *, device, native)`` returns
    a :class:`~archdsl.trainconfig.Trainer` that trains ``model`` **in place**. ``conventions``
    are the names ``native`` may contain; ``build_options(config, native)``, when given, returns
    extra keyword arguments for ``backend.build`` (e.g. Keras' ``bn="torch"``).

    Load the real ones with :func:`load_framework`; tests pass their own.
    """

    name: str
    backend: Any
    make_trainer: MakeTrainer
    conventions: tuple[str, ...] = ()
    build_options: Callable[[TrainConfig, frozenset[str]], dict[str, Any]] | None = None

    def build(
        self, graph: Graph, weights: Mapping[str, Mapping[str, np.ndarray]], config: TrainConfig,
        native: frozenset[str],
    ) -> Any:
        """Build this framework's model of ``graph`` holding ``weights``."""
        own = native & frozenset(self.conventions)
        options = dict(self.build_options(config, own)) if self.build_options else {}
        options.setdefault("dtype", config.dtype)
        return self.backend.build(graph, weights=weights, **options)

    def trainer(
        self, model: Any, graph: Graph, config: TrainConfig, native: frozenset[str], device: str
    ) -> Trainer:
        """This framework's trainer of ``model``, with its share of the ``native`` conventions."""
        own = native & frozenset(self.conventions)
        return self.make_trainer(model, graph, config, device=device, native=own)


_REGISTERED: dict[str, Framework] = {}


def register_framework(framework: Framework | None, name: str | None = None) -> None:
    """Make ``load_framework(name)`` return ``framework`` (``None`` removes the override)."""
    key = name or (framework.name if framework is not None else "")
    if framework is None:
        _REGISTERED.pop(key, None)
    else:
        _REGISTERED[key] = framework


def load_framework(name: str | Framework) -> Framework:
    """The backend and trainer of framework ``name`` (``"torch"`` or ``"keras"``).

    Raises:
        BackendError: the framework is not installed or its backend has no trainer.
    """
    if isinstance(name, Framework):
        return name
    if name in _REGISTERED:
        return _REGISTERED[name]
    from archdsl.backends import load_backend

    backend = load_backend(name)
    module = f"{backend.__name__}.train"
    try:
        train = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise BackendError(f"the {name} backend has no trainer yet ({module} is missing)") from None
    return Framework(
        name,
        backend,
        train.make_trainer,
        tuple(getattr(train, "CONVENTIONS", ())),
        getattr(train, "build_options", None),
    )


def all_conventions(frameworks: Sequence[Framework]) -> tuple[str, ...]:
    """The union of the frameworks' ``CONVENTIONS``, in order of first appearance.

    Example:
        >>> fw = [Framework("a", None, print, ("eps", "init")), Framework("b", None, print,
        ...       ("init", "bn"))]
        >>> all_conventions(fw)
        ('eps', 'init', 'bn')
    """
    return tuple(dict.fromkeys(c for fw in frameworks for c in fw.conventions))


def native_set(
    config: TrainConfig, frameworks: Sequence[Framework], native: Sequence[str] | None = None
) -> frozenset[str]:
    """The conventions that run natively: all of them when ``config.conventions == "native"``.

    Raises:
        TrainingError: a name in ``native`` is no framework's convention.
    """
    known = all_conventions(frameworks)
    if config.conventions == "native":
        return frozenset(known)
    chosen = frozenset(native or ())
    unknown = sorted(chosen - set(known))
    if unknown:
        raise TrainingError(
            f"unknown convention '{unknown[0]}'; the trainers know: {', '.join(known) or 'none'}"
        )
    return chosen


# ================================================================================ config
def resolve_config(graph: Graph, config: TrainConfig | None = None) -> TrainConfig:
    """``config``, else the spec's ``train:`` section, else the defaults (digits, Adam 1e-3)."""
    if config is not None:
        return config
    spec_cfg = getattr(graph.spec, "train", None)
    return spec_cfg if isinstance(spec_cfg, TrainConfig) else TrainConfig()


def override_config(config: TrainConfig, changes: Mapping[str, Any]) -> TrainConfig:
    """A validated copy of ``config`` with dotted keys changed (``"optimizer.lr": 0.01``).

    Raises:
        SpecError: a key or value is invalid (the message names the key).

    Example:
        >>> c = override_config(TrainConfig(), {"optimizer.lr": 0.01, "dataset": "mnist"})
        >>> c.optimizer.lr, c.dataset
        (0.01, 'mnist')
    """
    from pydantic import ValidationError

    data = config.model_dump()
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise SpecError(f"train setting '{key}': '{part}' is not a section")
            node = node[part]
        node[parts[-1]] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SpecError(
            f"invalid train setting '{where}': {err['msg']}. Received: {err.get('input')!r}"
        ) from None


def config_hash(
    graph: Graph, config: TrainConfig, frameworks: Sequence[str], native: frozenset[str]
) -> str:
    """A fingerprint of everything that decides a run's trajectory (not ``epochs``/``max_steps``,
    so a finished run can be resumed for more epochs)."""
    payload = {
        "config": config.model_dump(mode="json", exclude={"epochs", "max_steps"}),
        "graph": graph.expanded(),
        "frameworks": list(frameworks),
        "native": sorted(native),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ================================================================================ data
@dataclass
class TrainData:
    """The dataset and the two batch pipelines every framework shares."""

    dataset: Dataset
    normalization: Normalization | None
    train: Batches
    val: Batches

    def eval_inputs(self, n: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` test images, normalized like the batches, and their labels."""
        from archdsl.data import to_unit

        x = self.dataset.x_test[:n]
        xs = self.normalization(x, dtype) if self.normalization else to_unit(x, dtype)
        return np.ascontiguousarray(xs), self.dataset.y_test[:n]


def check_fits(graph: Graph, dataset: Dataset) -> None:
    """Raise a located :class:`TrainingError` when the spec's input or output cannot take the
    dataset (one image input, one output of at least ``num_classes`` logits)."""
    loc = graph.tree.key_loc("input") if "input" in graph.tree else None
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TrainingError(
            f"training needs one input and one output; '{graph.name}' has "
            f"{len(graph.inputs)} input(s) and {len(graph.outputs)} output(s)", loc,
        )
    want, got = list(graph.input_shapes[0]), list(dataset.input_shape)
    if want != got:
        from archdsl.data import DATASET_SHAPES

        shapes = ", ".join(f"{k} {list(v)}" for k, v in DATASET_SHAPES.items())
        raise TrainingError(
            f"dataset '{dataset.name}' has images of shape {got} but '{graph.name}' takes "
            f"input {want}; choose the dataset with --data ({shapes})", loc,
        )
    out = graph.output_shapes[0]
    if len(out) != 1 or out[0] < dataset.num_classes:
        raise TrainingError(
            f"'{graph.name}' outputs shape {list(out)} but dataset '{dataset.name}' has "
            f"{dataset.num_classes} classes; the last layer must be a dense layer with "
            f"{dataset.num_classes} units (logits, no softmax)", loc,
        )


def prepare_data(
    graph: Graph, config: TrainConfig, data_dir: str | Path | None = None
) -> TrainData:
    """Load ``config.dataset``, check it fits ``graph``, and set up the shared pipelines.

    Raises:
        DataError: missing or corrupt dataset files (the message names the file).
        TrainingError: the spec does not fit the dataset.
    """
    from archdsl.data import Batches, Normalization, load_dataset

    ds = load_dataset(config.dataset, data_dir)
    check_fits(graph, ds)
    x, y = ds.x_train, ds.y_train
    if config.train_subset is not None:
        x, y = x[: config.train_subset], y[: config.train_subset]
    norm_cfg = config.normalize
    norm: Normalization | None
    if norm_cfg.stats == "computed":
        norm = Normalization.from_data(x)
    elif norm_cfg.stats == "given":
        assert norm_cfg.mean is not None and norm_cfg.std is not None
        if len(norm_cfg.mean) != x.shape[1] or len(norm_cfg.std) != x.shape[1]:
            raise TrainingError(
                f"normalize: {len(norm_cfg.mean)} mean / {len(norm_cfg.std)} std values for "
                f"{x.shape[1]}-channel images"
            )
        norm = Normalization(tuple(norm_cfg.mean), tuple(norm_cfg.std))
    else:
        norm = None
    train = Batches(
        x, y, config.batch_size, seed=config.seed, shuffle=True, flip=config.augment.flip,
        crop_padding=config.augment.crop_padding, normalization=norm, dtype=config.dtype,
    )
    val = Batches(
        ds.x_test, ds.y_test, max(EVAL_BATCH_SIZE, config.batch_size), seed=config.seed,
        shuffle=False, normalization=norm, dtype=config.dtype,
    )
    return TrainData(ds, norm, train, val)


# ================================================================================ dropout masks
@dataclass(frozen=True)
class DropoutNode:
    """A dropout node: its id, rate, kind (``dropout``/``spatial_dropout``) and input shape."""

    node: str
    rate: float
    kind: str
    shape: tuple[int, ...]

    def mask_shape(self, batch: int) -> tuple[int, ...]:
        """``(N, *shape)`` element-wise; ``(N, C)`` for whole-channel (spatial) dropout."""
        if self.kind == "spatial_dropout":
            return (batch, self.shape[0])
        return (batch, *self.shape)


def dropout_nodes(graph: Graph) -> list[DropoutNode]:
    """The graph's dropout and spatial-dropout nodes, in topological order."""
    out = []
    for node_id, node in graph.layers():
        if node["type"] in ("dropout", "spatial_dropout"):
            shape = tuple(graph[node["inputs"][0]]["shape"])
            out.append(DropoutNode(node_id, float(node["params"].rate), node["type"], shape))
    return out


def dropout_masks(
    nodes: Sequence[DropoutNode], batch: int, *, seed: int, epoch: int, index: int,
    dtype: str = "float32",
) -> dict[str, np.ndarray]:
    """The dropout masks of one training step: the format every trainer's ``step`` accepts.

    ``{node id: mask}``, one per dropout node, in the IR layout (batch first, channels first):
    ``(N, *node shape)`` for ``dropout``, ``(N, C)`` for ``spatial_dropout`` (one value per
    channel, broadcast over the spatial axes). Values are ``0`` (dropped) or ``1 / (1 - rate)``
    (kept, inverted scaling already applied), in ``dtype``: a trainer multiplies the node's
    output by the mask in training steps (moving the channel axis last for NHWC frameworks)
    and ignores masks in eval mode. This is the float-multiplier form the torch and Keras
    trainers' ``step(x, y, masks)`` accept. The masks depend only on ``(seed, epoch, index)``,
    so a resumed run draws the same ones.

    Example:
        >>> n = DropoutNode("drop", 0.5, "spatial_dropout", (4, 3, 3))
        >>> m = dropout_masks([n], 2, seed=0, epoch=0, index=0)["drop"]
        >>> m.shape, set(m.ravel().tolist()) <= {0.0, 2.0}
        ((2, 4), True)
    """
    ss = np.random.SeedSequence([seed, epoch, index, MASK_STREAM])
    rng = np.random.Generator(np.random.PCG64(ss))
    out: dict[str, np.ndarray] = {}
    for n in nodes:
        shape = n.mask_shape(batch)
        keep = rng.random(shape, dtype=np.float32) >= np.float32(n.rate)
        scale = np.asarray(1.0 / (1.0 - n.rate), dtype)
        out[n.node] = keep.astype(dtype) * scale
    return out


# ================================================================================ lock-step loop
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
        archdsl.training.TrainingDivergedError: torch loss became nan at step 3 (epoch 1) \
with lr 1000000.0; training stopped: lower optimizer.lr or check the data normalization
    """
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"{framework} loss became {loss} at step {step} (epoch {epoch}) with lr {lr}; "
            "training stopped: lower optimizer.lr or check the data normalization"
        )


# ================================================================================ checkpoints
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


def _state_arrays(trainers: Mapping[str, Trainer]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, trainer in trainers.items():
        for key, value in trainer.get_state().items():
            out[f"state/{name}/{key}"] = np.asarray(value)
    return out


def _restore_states(
    path: Path, trainers: Mapping[str, Trainer], arrays: Mapping[str, np.ndarray]
) -> None:
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


# ================================================================================ progress
class _Progress:
    """Rich progress bars, one per framework, on a terminal; elsewhere (logs, CI) at most one
    plain heartbeat line per ``interval`` seconds; nothing when disabled."""

    def __init__(
        self, enabled: bool, frameworks: Sequence[str], total: int, done: int,
        interval: float = 60.0,
    ) -> None:
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self.plain = False
        self.total, self.done, self.interval = total, done, interval
        self.started = self.last = time.monotonic()
        self.start_done = done
        self.latest: dict[str, str] = {}
        self.epoch_text = ""
        if not enabled:
            return
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            self.plain = True
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description:<7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        for name in frameworks:
            self.tasks[name] = self.bar.add_task(name, total=total, completed=done, info="")
        self.bar.start()

    def update(self, name: str, epoch: int, epochs: int, loss: float, acc: float) -> None:
        if self.bar is not None:
            info = f"epoch {epoch}/{epochs}  loss {loss:.4f}  acc {acc:.3f}"
            self.bar.update(self.tasks[name], advance=1, info=info)
        elif self.plain:
            self.latest[name] = f"{name} loss {loss:.4f}"
            self.epoch_text = f"epoch {epoch}/{epochs}"

    def step_done(self) -> None:
        """Count one lock-step step; print a heartbeat line when one is due (plain mode)."""
        self.done += 1
        if not self.plain:
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (now - self.started) / max(self.done - self.start_done, 1)
        print(f"step {self.done}/{self.total} ({self.epoch_text}): "
              + ", ".join(self.latest.values()) + f"; {rate:.2f} s/step", file=sys.stderr,
              flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ================================================================================ run_training
@dataclass
class TrainResult:
    """What :func:`run_training` did: per-epoch summaries and where the files are."""

    out_dir: Path
    spec: str
    dataset: str
    frameworks: tuple[str, ...]
    native: tuple[str, ...]
    config: TrainConfig
    config_hash: str
    epochs: list[dict[str, Any]]
    steps: int
    complete: bool
    resumed_from: dict[str, int] | None = None
    normalization: dict[str, list[float]] | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, dict[str, Any]]:
        """The last epoch's summary per framework (``train_loss``, ``val_acc``, ...)."""
        if not self.epochs:
            return {}
        last = self.epochs[-1]
        return {name: last[name] for name in self.frameworks if name in last}

    def summary_lines(self) -> list[str]:
        """One line per epoch (validation accuracy and train loss of every framework) and a
        last line with the final accuracies and their spread in percentage points.

        Example:
            >>> r = TrainResult(Path("o"), "net", "digits", ("torch", "keras"), (),
            ...     TrainConfig(), "h", [{"epoch": 1, "partial": False,
            ...     "torch": {"val_acc": 0.9, "train_loss": 0.5, "wall_s": 1.0},
            ...     "keras": {"val_acc": 0.9, "train_loss": 0.5, "wall_s": 1.5}}], 10, True)
            >>> print("\\n".join(r.summary_lines()))
            epoch 1: torch val 90.00% (train loss 0.5000, 1.0 s) | keras val 90.00% (train loss 0.5000, 1.5 s)
            final after 10 steps: torch 90.00% | keras 90.00% (spread 0.00 points)
        """  # noqa: E501

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.2f}%"

        def num(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.4f}"

        lines = []
        for rec in self.epochs:
            parts = [
                f"{n} val {pct(rec[n]['val_acc'])} (train loss {num(rec[n]['train_loss'])}, "
                f"{rec[n]['wall_s']:.1f} s)"
                for n in self.frameworks
            ]
            tag = " (partial)" if rec.get("partial") else ""
            lines.append(f"epoch {rec['epoch']}{tag}: " + " | ".join(parts))
        final = self.final
        accs = [final[n]["val_acc"] for n in self.frameworks if n in final]
        if accs:
            text = " | ".join(f"{n} {pct(final[n]['val_acc'])}" for n in self.frameworks)
            if len(accs) > 1 and all(a is not None for a in accs):
                text += f" (spread {100 * (max(accs) - min(accs)):.2f} points)"
            lines.append(f"final after {self.steps} steps: {text}")
        return lines

    def as_json(self) -> dict[str, Any]:
        """The object written to ``metrics.json`` (and printed by ``archdsl train --json``)."""
        return {
            "spec": self.spec,
            "dataset": self.dataset,
            "frameworks": list(self.frameworks),
            "native": list(self.native),
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config_hash,
            "normalization": self.normalization,
            "steps": self.steps,
            "complete": self.complete,
            "resumed_from": self.resumed_from,
            "epochs": self.epochs,
            "final": self.final,
            "files": self.files,
        }


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
    config = resolve_config(graph, config)
    changes: dict[str, Any] = {}
    if epochs is not None:
        changes["epochs"] = epochs
    if max_steps is not None:
        changes["max_steps"] = max_steps
    if changes:
        config = override_config(config, changes)
    fws = [load_framework(b) for b in backends]
    names = tuple(fw.name for fw in fws)
    if not names or len(set(names)) != len(names):
        raise TrainingError(f"backends must name distinct frameworks. Received: {list(names)}")
    nat = native_set(config, fws, native)
    out = Path(out_dir)
    ckpt_path = out / "checkpoint.npz"
    chash = config_hash(graph, config, names, nat)

    meta: dict[str, Any] | None = None
    arrays: dict[str, np.ndarray] = {}
    if resume and ckpt_path.exists():
        meta, arrays = load_checkpoint(ckpt_path)
        if meta.get("config_hash") != chash:
            raise CheckpointError(
                f"{ckpt_path}: written by a different run (config hash {meta.get('config_hash')}, "
                f"this run {chash}: spec, train settings, frameworks or conventions changed); "
                "use another --out or run without --resume"
            )
    elif not resume:
        for stale in ("checkpoint.npz", "metrics.csv", "metrics.json", "curves.png"):
            (out / stale).unlink(missing_ok=True)

    data = prepare_data(graph, config, data_dir)
    session = start_session(graph, config, fws, nat, device)
    loop = Lockstep(
        session.trainers, dropout_nodes(graph), seed=config.seed, dtype=config.dtype,
        masks=config.dropout == "matched",
    )
    pos = _Position(StepLog(names), [], 0, 0, 0)
    resumed_from: dict[str, int] | None = None
    if meta is not None:
        pos = _resume(ckpt_path, meta, arrays, session.trainers, names)
        resumed_from = {"epoch": pos.epoch + 1, "batch": pos.batch, "step": pos.step}
    log, history, start_epoch, start_batch, step = (
        pos.log, pos.history, pos.epoch, pos.batch, pos.step
    )

    per_epoch = len(data.train)
    total_epochs = config.epochs
    limit = total_epochs * per_epoch
    if config.max_steps is not None:
        limit = min(limit, config.max_steps)
    norm = data.normalization
    result = TrainResult(
        out_dir=out,
        spec=graph.name,
        dataset=data.dataset.name,
        frameworks=names,
        native=tuple(sorted(nat)),
        config=config,
        config_hash=chash,
        epochs=history,
        steps=step,
        complete=False,
        resumed_from=resumed_from,
        normalization=None if norm is None else {"mean": list(norm.mean), "std": list(norm.std)},
        files={
            "metrics_csv": str(out / "metrics.csv"),
            "metrics_json": str(out / "metrics.json"),
            "curves": str(out / "curves.png"),
            "checkpoint": str(ckpt_path),
        },
    )
    bars = _Progress(progress, names, limit, min(step, limit))
    try:
        epoch = start_epoch
        while epoch < total_epochs and step < limit:
            lr = config.schedule.lr(config.optimizer.lr, epoch, total_epochs)
            loop.set_lr(lr)
            wall = dict.fromkeys(names, 0.0)
            t_epoch = time.perf_counter()
            first = start_batch if epoch == start_epoch else 0
            batches: Iterator[tuple[np.ndarray, np.ndarray]] = data.train.epoch(epoch)
            if first:
                batches = itertools.islice(batches, first, None)
            index = first
            for xb, yb in batches:
                if step >= limit:
                    break
                results, seconds = loop.step(xb, yb, epoch=epoch, index=index)
                step += 1
                index += 1
                for name in names:
                    r = results[name]
                    loss, count = float(r.loss), int(r.count)
                    log.add(epoch + 1, step, name, loss, correct=int(r.correct), count=count,
                            lr=lr)
                    wall[name] += seconds[name]
                    if not math.isfinite(loss):
                        result.steps = step
                        _write_outputs(result, log, diverged=True)
                    check_finite(name, loss, step=step, epoch=epoch + 1, lr=lr)
                    bars.update(name, epoch + 1, total_epochs, loss, int(r.correct) / max(count, 1))
                bars.step_done()
            partial = index < per_epoch
            val = evaluate(session.trainers, data.val)
            wall["total"] = time.perf_counter() - t_epoch
            if epoch == start_epoch and start_batch and resumed_from is not None:
                wall["total"] += _previous_wall(meta)
            record = epoch_record(epoch + 1, step, lr, log.epoch_stats(epoch + 1), val, wall,
                                  partial=partial)
            history.append(record)
            result.steps = step
            next_epoch, next_batch = (epoch, index) if partial else (epoch + 1, 0)
            ckpt_meta = {
                "format": CHECKPOINT_FORMAT,
                "config_hash": chash,
                "spec": graph.name,
                "frameworks": list(names),
                "native": sorted(nat),
                "epoch": next_epoch,
                "batch": next_batch,
                "step": step,
                "rng": _rng_position(config.seed, next_epoch, next_batch),
                "epochs": history,
                "partial_wall_s": wall["total"] if partial else 0.0,
            }
            save_checkpoint(ckpt_path, ckpt_meta, {**_state_arrays(session.trainers),
                                                   **log.to_arrays()})
            _write_outputs(result, log)
            if on_epoch is not None:
                on_epoch(record)
            epoch = next_epoch if partial else epoch + 1
            if partial:
                break
    finally:
        bars.close()
    result.complete = step >= limit
    plotted = step > (resumed_from or {}).get("step", 0) and (out / "curves.png").exists()
    _write_outputs(result, log, plot=not plotted)
    return result


@dataclass
class _Position:
    """Where a run stands: its step log, epoch summaries, and the next (epoch, batch, step)."""

    log: StepLog
    history: list[dict[str, Any]]
    epoch: int
    batch: int
    step: int


def _resume(
    path: Path,
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    trainers: Mapping[str, Trainer],
    names: tuple[str, ...],
) -> _Position:
    """Restore the trainers from a checkpoint and return the position it recorded."""
    _restore_states(path, trainers, arrays)
    try:
        pos = _Position(StepLog.from_arrays(names, arrays), list(meta["epochs"]),
                        int(meta["epoch"]), int(meta["batch"]), int(meta["step"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: incomplete checkpoint (missing {exc})") from None
    pos.log.truncate(pos.step)
    if pos.history and pos.history[-1].get("partial"):
        pos.history.pop()  # that epoch continues now
    return pos


def _rng_position(seed: int, epoch: int, batch: int) -> dict[str, Any]:
    """The random state of a run at (epoch, batch): every draw is keyed by its position."""
    return {"seed": seed, "epoch": epoch, "batch": batch,
            "batches": "SeedSequence([seed, epoch])",
            "masks": f"SeedSequence([seed, epoch, batch, {MASK_STREAM:#x}])"}


def _previous_wall(meta: Mapping[str, Any] | None) -> float:
    return float(meta.get("partial_wall_s", 0.0)) if meta else 0.0


def _write_outputs(
    result: TrainResult, log: StepLog, *, diverged: bool = False, plot: bool = True
) -> None:
    """Write ``metrics.csv``, ``metrics.json`` and ``curves.png`` (each atomically)."""
    out = result.out_dir
    atomic_write_text(out / "metrics.csv", log.csv_text())
    obj = result.as_json()
    if diverged:
        obj["diverged"] = True
    atomic_write_text(out / "metrics.json", json.dumps(obj, indent=2) + "\n")
    if plot and len(log):
        from archdsl.plots import plot_curves

        series = {name: log.series(name) for name in result.frameworks}
        plot_curves(out / "curves.png", series, epochs=result.epochs,
                    title=f"{result.spec} on {result.dataset}")


# ================================================================================ crosscheck
def grad_rel_diffs(
    graph: Graph,
    a: Mapping[str, Mapping[str, np.ndarray]],
    b: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, float]:
    """Per node (topological order): max |Δg| over its weights / max |g| over its weights.

    Normalizing by the node's largest gradient keeps a mathematically-zero gradient (a conv
    bias before BatchNorm) from reporting round-off as divergence. A node missing on one side,
    or with different weight names or shapes, gets ``inf``.

    Example:
        >>> import archdsl
        >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n- dense: {units: 2}")
        >>> ga = {"dense_1": {"kernel": np.ones((2, 4)), "bias": np.zeros(2)}}
        >>> gb = {"dense_1": {"kernel": np.ones((2, 4)) * 1.5, "bias": np.zeros(2)}}
        >>> grad_rel_diffs(g, ga, gb)
        {'dense_1': 0.3333333333333333}
    """
    out: dict[str, float] = {}
    for node in graph:
        if node not in a and node not in b:
            continue
        wa, wb = a.get(node), b.get(node)
        if wa is None or wb is None or set(wa) != set(wb):
            out[node] = math.inf
            continue
        diff = scale = 0.0
        for name in wa:
            x = np.asarray(wa[name], np.float64)
            y = np.asarray(wb[name], np.float64)
            if x.shape != y.shape:
                diff = math.inf
                break
            if x.size:
                diff = max(diff, float(np.max(np.abs(x - y))))
                scale = max(scale, float(np.max(np.abs(x))), float(np.max(np.abs(y))))
        out[node] = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
    return out


def weight_rel_diffs(
    graph: Graph,
    a: Mapping[str, Mapping[str, np.ndarray]],
    b: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, float]:
    """Per node: max over its weights of max |Δw| / max |w| (each weight scaled by itself)."""
    out: dict[str, float] = {}
    for node in graph:
        if node not in a or node not in b:
            continue
        worst = 0.0
        for name, x in a[node].items():
            if name not in b[node]:
                worst = math.inf
                continue
            x64 = np.asarray(x, np.float64)
            y64 = np.asarray(b[node][name], np.float64)
            if x64.shape != y64.shape:
                worst = math.inf
                continue
            if not x64.size:
                continue
            d = float(np.max(np.abs(x64 - y64)))
            s = float(np.max(np.abs(x64)))
            worst = max(worst, d / s if s > 0 else (0.0 if d == 0 else math.inf))
        out[node] = worst
    return out


@dataclass
class LockstepRun:
    """The outcome of :func:`lockstep_run`: per-step losses, drift, eval logits."""

    frameworks: tuple[str, ...]
    native: tuple[str, ...]
    losses: dict[str, list[float]]
    accuracies: dict[str, list[float]]
    param_rel_diff: dict[str, float]
    eval_logit_max_abs_diff: float
    eval_logit_mean_abs_diff: float
    eval_acc: dict[str, float]
    grad_rel_diff_first_step: dict[str, float]
    first_divergent_grad_node: str | None
    first_divergent_grad_step: int | None
    grad_tolerance: float
    wall_s: dict[str, float]


def lockstep_run(
    graph: Graph,
    config: TrainConfig,
    data: TrainData,
    frameworks: Sequence[Framework],
    steps: int,
    *,
    native: frozenset[str] = frozenset(),
    device: str = "cpu",
    gradients: bool = False,
    grad_tolerance: float | None = None,
    eval_samples: int = 256,
) -> LockstepRun:
    """Train two frameworks ``steps`` steps on identical batches (crossing epochs as needed) and
    compare them: losses, gradients (with ``gradients=True``), weights and eval-mode logits."""
    if len(frameworks) != 2:
        raise TrainingError(f"a cross-check needs two frameworks. Received: {len(frameworks)}")
    if steps < 1:
        raise TrainingError(f"the number of steps must be >= 1. Received: {steps}")
    session = start_session(graph, config, frameworks, native, device)
    names = tuple(session.trainers)
    first, second = names
    loop = Lockstep(session.trainers, dropout_nodes(graph), seed=config.seed,
                    dtype=config.dtype, masks=config.dropout == "matched")
    tol = GRAD_TOLERANCE[config.dtype] if grad_tolerance is None else grad_tolerance
    losses: dict[str, list[float]] = {n: [] for n in names}
    accs: dict[str, list[float]] = {n: [] for n in names}
    wall = dict.fromkeys(names, 0.0)
    grad_first: dict[str, float] = {}
    bad_node: str | None = None
    bad_step: int | None = None
    step = 0
    for epoch in itertools.count():
        if step >= steps:
            break
        lr = config.schedule.lr(config.optimizer.lr, epoch, config.epochs)
        loop.set_lr(lr)
        for index, (xb, yb) in enumerate(data.train.epoch(epoch)):
            if step >= steps:
                break
            results, seconds = loop.step(xb, yb, epoch=epoch, index=index)
            step += 1
            for name in names:
                loss = float(results[name].loss)
                losses[name].append(loss)
                accs[name].append(int(results[name].correct) / max(int(results[name].count), 1))
                wall[name] += seconds[name]
                check_finite(name, loss, step=step, epoch=epoch + 1, lr=lr)
            if gradients:
                diffs = grad_rel_diffs(
                    graph, session.trainers[first].gradients(), session.trainers[second].gradients()
                )
                if step == 1:
                    grad_first = diffs
                if bad_node is None:
                    bad_node = next((n for n, d in diffs.items() if not d <= tol), None)
                    bad_step = step if bad_node is not None else None
    weights = {
        name: session.frameworks[name].backend.get_weights(session.models[name], graph)
        for name in names
    }
    x_eval, y_eval = data.eval_inputs(eval_samples, config.dtype)
    out_node = graph.outputs[0]
    logits = {
        name: np.asarray(
            session.frameworks[name].backend.forward(
                session.models[name], graph, x_eval, nodes=[out_node]
            )[out_node],
            np.float64,
        )
        for name in names
    }
    delta = np.abs(logits[first] - logits[second])
    return LockstepRun(
        frameworks=names,
        native=tuple(sorted(native)),
        losses=losses,
        accuracies=accs,
        param_rel_diff=weight_rel_diffs(graph, weights[first], weights[second]),
        eval_logit_max_abs_diff=float(delta.max()) if delta.size else 0.0,
        eval_logit_mean_abs_diff=float(delta.mean()) if delta.size else 0.0,
        eval_acc={n: float(np.mean(np.argmax(v, axis=1) == y_eval)) for n, v in logits.items()},
        grad_rel_diff_first_step=grad_first,
        first_divergent_grad_node=bad_node,
        first_divergent_grad_step=bad_step,
        grad_tolerance=tol,
        wall_s=wall,
    )


@dataclass
class TrainCheckReport:
    """The outcome of :func:`train_crosscheck`; :meth:`as_json` is the ``train`` JSON object."""

    spec: str
    dataset: str
    steps: int
    dtype: str
    run: LockstepRun
    loss_tolerance: float
    files: dict[str, str] = field(default_factory=dict)
    #: nodes that choose one element per window (max pooling): where float32 round-off can
    #: become a different gradient route (:meth:`notes`)
    choice_nodes: tuple[str, ...] = ()

    def notes(self) -> list[str]:
        """What the numbers mean, where a reading needs it: float32 runs that part in a graph
        with max pooling (measured on the chapter's CNN: bench/divergence.py)."""
        out = []
        if self.dtype == "float32" and self.choice_nodes and self.max_rel_loss_diff > PARTED:
            shown = ", ".join(self.choice_nodes[:3]) + (", ..." if len(self.choice_nodes) > 3
                                                         else "")
            out.append(
                f"the float32 runs part (relative loss difference up to "
                f"{self.max_rel_loss_diff:.1e}); this graph has max pooling ({shown}), which "
                "sends each window's gradient to its largest element, and where two elements "
                "differ by less than round-off each framework may pick another one. Check the "
                "arithmetic itself with --dtype float64"
            )
        return out

    @property
    def ok(self) -> bool:
        """The runs agree: every step's relative loss difference within ``loss_tolerance``
        and, at step 1 (identical weights), every node's gradients within the gradient
        tolerance. Later gradient divergence is reported, not failed: float32 trajectories
        drift apart slowly by round-off."""
        grads = self.run.grad_rel_diff_first_step.values()
        return self.max_rel_loss_diff <= self.loss_tolerance and all(
            g <= self.run.grad_tolerance for g in grads
        )

    @property
    def per_step(self) -> list[dict[str, Any]]:
        """``{"step", <framework>: loss, ..., "abs_diff", "rel_diff"}`` per step."""
        a, b = self.run.frameworks
        rows = []
        for i, (la, lb) in enumerate(zip(self.run.losses[a], self.run.losses[b])):
            d = abs(la - lb)
            rows.append({"step": i + 1, a: la, b: lb, "abs_diff": d,
                         "rel_diff": d / abs(la) if la else (0.0 if d == 0 else math.inf)})
        return rows

    @property
    def max_abs_loss_diff(self) -> float:
        return max((r["abs_diff"] for r in self.per_step), default=0.0)

    @property
    def max_rel_loss_diff(self) -> float:
        return max((r["rel_diff"] for r in self.per_step), default=0.0)

    @property
    def max_param_rel_diff(self) -> float:
        return max(self.run.param_rel_diff.values(), default=0.0)

    def as_json(self) -> dict[str, Any]:
        """The ``train`` object that ``archdsl crosscheck --train-steps N --json`` prints."""
        r = self.run
        return {
            "ok": self.ok,
            "spec": self.spec,
            "dataset": self.dataset,
            "steps": self.steps,
            "dtype": self.dtype,
            "loss_tolerance": self.loss_tolerance,
            "frameworks": list(r.frameworks),
            "native": list(r.native),
            "max_rel_loss_diff": self.max_rel_loss_diff,
            "max_abs_loss_diff": self.max_abs_loss_diff,
            "max_param_rel_diff": self.max_param_rel_diff,
            "param_rel_diff": r.param_rel_diff,
            "first_divergent_grad_node": r.first_divergent_grad_node,
            "first_divergent_grad_step": r.first_divergent_grad_step,
            "grad_tolerance": r.grad_tolerance,
            "grad_rel_diff_first_step": {
                k: finite_or_none(v) for k, v in r.grad_rel_diff_first_step.items()
            },
            "eval_logit_max_abs_diff": r.eval_logit_max_abs_diff,
            "eval_acc": r.eval_acc,
            "wall_s": r.wall_s,
            "per_step": self.per_step,
            "files": self.files,
            "notes": self.notes(),
        }

    def markdown(self) -> str:
        """``report.md``: the summary, the per-node drift table and the curves."""
        r = self.run
        a, b = r.frameworks
        lines = [
            f"# Training cross-check: {self.spec}",
            "",
            f"{self.steps} steps on `{self.dataset}` ({self.dtype}), identical batches, "
            "dropout masks and initial weights in both frameworks; native conventions: "
            f"{', '.join(r.native) or 'none (all matched)'}.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| verdict | {'agree' if self.ok else 'DISAGREE'} |",
            f"| max relative loss difference (tolerance {self.loss_tolerance:g}) | "
            f"{self.max_rel_loss_diff:.3g} |",
            f"| max absolute loss difference | {self.max_abs_loss_diff:.3g} |",
            f"| max parameter drift (max abs Δ / max abs w, worst node) | "
            f"{self.max_param_rel_diff:.3g} |",
            f"| eval-mode logits, max abs difference | {r.eval_logit_max_abs_diff:.3g} |",
            f"| eval accuracy {a} / {b} | {r.eval_acc[a]:.4f} / {r.eval_acc[b]:.4f} |",
            f"| first node with gradients beyond {r.grad_tolerance:g} | "
            + (f"`{r.first_divergent_grad_node}` (step {r.first_divergent_grad_step})"
               if r.first_divergent_grad_node else "none")
            + " |",
            f"| final loss {a} / {b} | {r.losses[a][-1]:.6g} / {r.losses[b][-1]:.6g} |",
            "",
            *[f"Note: {note}.\n" for note in self.notes()],
            "## Per node",
            "",
            "| node | parameter drift | gradient difference at step 1 |",
            "|---|---|---|",
        ]
        for node in dict.fromkeys([*r.param_rel_diff, *r.grad_rel_diff_first_step]):
            p = r.param_rel_diff.get(node)
            g = r.grad_rel_diff_first_step.get(node)
            lines.append(f"| `{node}` | {'' if p is None else f'{p:.3g}'} | "
                         f"{'' if g is None else f'{g:.3g}'} |")
        if self.files:
            lines += ["", "## Curves", ""]
            for key in ("curves", "loss_diff"):
                if key in self.files:
                    lines.append(f"![{key}]({Path(self.files[key]).name})")
        return "\n".join(lines) + "\n"


def choice_nodes(graph: Graph) -> tuple[str, ...]:
    """The nodes whose layer type picks one element per window (``Layer.selects``: max
    pooling), in topological order.

    >>> import archdsl
    >>> choice_nodes(archdsl.load("specs/cifar10_cnn.yaml"))
    ('block1.pool', 'block2.pool', 'block3.pool')
    """
    from archdsl.layers import get_layer

    types = {n: graph[n]["type"] for n in graph}
    return tuple(n for n, t in types.items() if t != "input" and get_layer(t).selects)


def train_crosscheck(
    graph: Graph,
    steps: int,
    config: TrainConfig | None = None,
    *,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    native: Sequence[str] | None = None,
    grad_tolerance: float | None = None,
    loss_tolerance: float | None = None,
    backends: Sequence[str | Framework] = ("torch", "keras"),
    eval_samples: int = 256,
) -> TrainCheckReport:
    """Train both frameworks ``steps`` steps on identical batches and compare them.

    Returns per-step loss differences, every node's parameter drift (max |Δw| / max |w|), the
    eval-mode logit difference, and the first node (topological order) whose gradients differ
    by more than ``grad_tolerance`` (default :data:`GRAD_TOLERANCE`) relative to the node's
    largest gradient, with the step where that happened. ``report.ok`` also needs every
    relative loss difference within ``loss_tolerance`` (default :data:`LOSS_TOLERANCE`).
    ``config`` defaults to the spec's ``train:`` section. With ``out_dir`` it writes
    ``report.md``, ``curves.png`` and ``loss_diff.png`` there.

    Example (needs both frameworks)::

        >>> r = train_crosscheck(archdsl.load("digits_cnn.yaml"), 50)  # doctest: +SKIP
        >>> {"train": r.as_json()}["train"]["max_rel_loss_diff"] < 1e-4  # doctest: +SKIP
        True
    """
    config = resolve_config(graph, config)
    fws = [load_framework(b) for b in backends]
    nat = native_set(config, fws, native)
    data = prepare_data(graph, config, data_dir)
    run = lockstep_run(graph, config, data, fws, steps, native=nat, device=device,
                       gradients=True, grad_tolerance=grad_tolerance, eval_samples=eval_samples)
    loss_tol = LOSS_TOLERANCE[config.dtype] if loss_tolerance is None else loss_tolerance
    report = TrainCheckReport(graph.name, data.dataset.name, steps, config.dtype, run, loss_tol,
                              choice_nodes=choice_nodes(graph))
    if out_dir is not None:
        _write_crosscheck(report, Path(out_dir))
    return report


def _write_crosscheck(report: TrainCheckReport, out: Path) -> None:
    from archdsl.plots import plot_curves, plot_differences

    run = report.run
    steps = np.arange(1, report.steps + 1)
    series = {n: (steps, np.asarray(run.losses[n]), np.asarray(run.accuracies[n]))
              for n in run.frameworks}
    report.files = {"report": str(out / "report.md"), "curves": str(out / "curves.png"),
                    "loss_diff": str(out / "loss_diff.png")}
    plot_curves(out / "curves.png", series, title=f"{report.spec}: training loss, lock-step")
    rows = report.per_step
    plot_differences(out / "loss_diff.png", steps, np.asarray([r["abs_diff"] for r in rows]),
                     np.asarray([r["rel_diff"] for r in rows]), title=f"{report.spec}")
    atomic_write_text(out / "report.md", report.markdown())

