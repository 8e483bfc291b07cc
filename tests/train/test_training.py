"""Side-by-side training: metrics files, NaN stop, crosscheck, ablation and the CLI.

Most tests drive :func:`archdsl.training.run_training` with a small numpy "framework" (an MLP
trained exactly as the Trainer protocol says), so the harness is tested in seconds and without
PyTorch or Keras. The tests marked ``real`` run the real backends' trainers and are skipped
until ``backends/{torch,keras}/train.py`` exist.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import archdsl
import archdsl.commands.train  # registers train and ablate (until cli lists the module)
from archdsl.cli import main
from archdsl.errors import BackendError
from archdsl.metrics import CSV_COLUMNS, StepLog, strip_timings
from archdsl.trainconfig import TrainConfig
from archdsl.training import (
    CheckpointError,
    DropoutNode,
    EpochEnd,
    Framework,
    Lockstep,
    LoopHooks,
    StepEvent,
    Trainer,
    TrainingDivergedError,
    TrainingError,
    dropout_masks,
    dropout_nodes,
    load_checkpoint,
    mask_multiplier,
    prepare_data,
    run_training,
    start_session,
    stochastic_types,
    train_crosscheck,
)

# ---------------------------------------------------------------------------- the fake framework
MLP = """\
archdsl: 1
name: fake-mlp
input: [1, 8, 8]
body:
  - flatten: {}
  - dense: {units: 16, id: hidden}
  - relu: {}
  - dropout: {rate: 0.25, id: drop}
  - dense: {units: 10, id: logits}
train:
  dataset: digits
  batch_size: 128
  epochs: 2
  optimizer: {name: sgd, lr: 0.2, momentum: 0.9}
"""

#: The fake "keras" has two conventions whose native defaults differ from the matched ones.
FAKE_CONVENTIONS = ("logit_scale", "lr_scale")


def mlp_graph() -> archdsl.Graph:
    return archdsl.loads(MLP, "mlp.yaml")


@dataclass
class Result:
    loss: float
    correct: int
    count: int


class FakeModel:
    """Canonical weights of a flatten → dense → relu → dropout → dense graph, in float64."""

    def __init__(self, graph: archdsl.Graph, weights: dict[str, dict[str, np.ndarray]]) -> None:
        self.graph = graph
        self.w = {n: {k: np.array(v, np.float64) for k, v in ws.items()} for n, ws in weights.items()}

    def forward(self, x: np.ndarray, masks: dict[str, np.ndarray] | None, scale: float) -> tuple[np.ndarray, list[Any]]:
        h = x.reshape(x.shape[0], -1).astype(np.float64)
        tape: list[Any] = []
        for node_id, node in self.graph.layers():
            kind = node.type
            if kind == "dense":
                tape.append(("dense", node_id, h))
                h = h @ self.w[node_id]["kernel"].T + self.w[node_id]["bias"]
            elif kind == "relu":
                tape.append(("relu", node_id, h > 0))
                h = np.maximum(h, 0)
            elif kind == "dropout" and masks is not None:
                m = masks[node_id].astype(np.float64)
                tape.append(("dropout", node_id, m))
                h = h * m
        return h * scale, tape


class FakeBackend:
    """The backend interface (build / get_weights / forward) for :class:`FakeModel`."""

    @staticmethod
    def build(graph: archdsl.Graph, *, weights: Any, dtype: str = "float32", **options: Any) -> FakeModel:
        return FakeModel(graph, weights)

    @staticmethod
    def get_weights(model: FakeModel, graph: archdsl.Graph) -> dict[str, dict[str, np.ndarray]]:
        return {n: {k: v.copy() for k, v in ws.items()} for n, ws in model.w.items()}

    @staticmethod
    def forward(model: FakeModel, graph: archdsl.Graph, x: np.ndarray, nodes: list[str] | None = None) -> dict[str, np.ndarray]:
        logits, _ = model.forward(x, None, 1.0)
        return {graph.outputs[0]: logits}


class FakeTrainer:
    """SGD with PyTorch's momentum on softmax cross-entropy, exactly per the Trainer protocol."""

    def __init__(self, model: FakeModel, graph: archdsl.Graph, config: TrainConfig, *, device: str = "cpu", native: frozenset[str] = frozenset(), delay: float = 0.0, keras_like: bool = False) -> None:
        self.model, self.config = model, config
        self.lr = config.optimizer.lr
        self.momentum = config.optimizer.momentum
        self.scale = 1.05 if keras_like and "logit_scale" in native else 1.0
        self.lr_factor = 1.1 if keras_like and "lr_scale" in native else 1.0
        self.buf = {n: {k: np.zeros_like(v) for k, v in ws.items()} for n, ws in model.w.items()}
        self.steps = 0
        self.grads: dict[str, dict[str, np.ndarray]] = {}
        self.delay = delay
        self.seen_masks: list[dict[str, np.ndarray] | None] = []

    def _loss(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, int]:
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-300)))
        correct = int(np.sum(np.argmax(logits, axis=1) == y))
        return loss, p, correct

    def step(self, x: np.ndarray, y: np.ndarray, masks: dict[str, np.ndarray] | None = None) -> Result:
        if self.delay:
            time.sleep(self.delay)
        self.seen_masks.append(masks)
        with np.errstate(all="ignore"):
            logits, tape = self.model.forward(x, masks, self.scale)
            loss, p, correct = self._loss(logits, y)
            g = p.copy()
            g[np.arange(len(y)), y] -= 1
            g *= self.scale / len(y)
            grads: dict[str, dict[str, np.ndarray]] = {}
            for kind, node_id, saved in reversed(tape):
                if kind == "dense":
                    grads[node_id] = {"kernel": g.T @ saved, "bias": g.sum(axis=0)}
                    g = g @ self.model.w[node_id]["kernel"]
                elif kind in ("relu", "dropout"):
                    g = g * saved
            for n, ws in grads.items():
                for k, gw in ws.items():
                    b = self.buf[n][k]
                    b *= self.momentum
                    b += gw
                    self.model.w[n][k] -= self.lr * self.lr_factor * b
        self.grads = grads
        self.steps += 1
        return Result(loss, correct, len(y))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> Result:
        with np.errstate(all="ignore"):
            logits, _ = self.model.forward(x, None, self.scale)
            loss, _, correct = self._loss(logits, y)
        return Result(loss, correct, len(y))

    def set_lr(self, lr: float) -> None:
        self.lr = lr

    def get_state(self) -> dict[str, np.ndarray]:
        out = {f"w/{n}/{k}": v.copy() for n, ws in self.model.w.items() for k, v in ws.items()}
        out.update({f"m/{n}/{k}": v.copy() for n, ws in self.buf.items() for k, v in ws.items()})
        out["steps"] = np.asarray(self.steps)
        return out

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for n, ws in self.model.w.items():
            for k in ws:
                ws[k][...] = state[f"w/{n}/{k}"]
                self.buf[n][k][...] = state[f"m/{n}/{k}"]
        self.steps = int(state["steps"])

    def gradients(self) -> dict[str, dict[str, np.ndarray]]:
        return self.grads


def fake_frameworks(delay: float = 0.0) -> tuple[Framework, Framework]:
    """A "torch" and a "keras" fake that agree exactly when every convention is matched."""
    backend = FakeBackend()

    def torch_trainer(model: Any, graph: Any, config: Any, *, device: str = "cpu", native: frozenset[str] = frozenset()) -> FakeTrainer:
        return FakeTrainer(model, graph, config, device=device, native=native, delay=delay)

    def keras_trainer(model: Any, graph: Any, config: Any, *, device: str = "cpu", native: frozenset[str] = frozenset()) -> FakeTrainer:
        return FakeTrainer(model, graph, config, device=device, native=native, delay=delay, keras_like=True)

    return (
        Framework("torch", backend, torch_trainer, ()),
        Framework("keras", backend, keras_trainer, FAKE_CONVENTIONS),
    )


def real_trainers_available() -> bool:
    root = Path(__file__).resolve().parents[2]
    return all((root / "backends" / fw / "train.py").exists() for fw in ("torch", "keras")) and all(
        importlib.util.find_spec(m) is not None for m in ("torch", "keras")
    )


real = pytest.mark.skipif(not real_trainers_available(), reason="backends/*/train.py not written yet")

DIGITS_CNN = """\
archdsl: 1
name: digits-cnn
input: [1, 8, 8]
body:
  - conv2d: {filters: 8, kernel: 3, padding: same, bias: false}
  - batchnorm: {}
  - relu: {}
  - max_pool2d: {pool: 2}
  - spatial_dropout: {rate: 0.1}
  - flatten: {}
  - dense: {units: 10, id: logits}
train:
  dataset: digits
  batch_size: 64
  epochs: 1
  optimizer: {name: adam, lr: 0.003}
"""


# ---------------------------------------------------------------------------- run_training
def test_metrics_files_shapes_and_both_frameworks(tmp_path: Path) -> None:
    g = mlp_graph()
    r = run_training(g, None, backends=fake_frameworks(), out_dir=tmp_path, progress=False)
    per_epoch = math.ceil(1438 / 128)
    assert r.complete and r.steps == 2 * per_epoch and r.frameworks == ("torch", "keras")
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * 2 * per_epoch
    assert {r_["framework"] for r_ in rows} == {"torch", "keras"}
    assert [int(r_["step"]) for r_ in rows[:4]] == [1, 1, 2, 2]
    assert {int(r_["epoch"]) for r_ in rows} == {1, 2}
    assert all(float(r_["lr"]) == 0.2 for r_ in rows)
    # matched fakes agree bit for bit, step by step
    by_step: dict[tuple[str, str], str] = {(r_["step"], r_["framework"]): r_["loss"] for r_ in rows}
    assert all(by_step[(s, "torch")] == by_step[(s, "keras")] for s, _ in by_step)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["complete"] and summary["steps"] == 2 * per_epoch
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2]
    for e in summary["epochs"]:
        for fw in ("torch", "keras"):
            assert set(e[fw]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "wall_s", "step_ms"}
            assert 0.0 <= e[fw]["val_acc"] <= 1.0 and e[fw]["steps"] == per_epoch
        assert e["wall_s"] >= e["torch"]["wall_s"]
    assert summary["epochs"][-1]["torch"]["val_acc"] > 0.8  # it learns
    assert summary["normalization"]["mean"][0] == pytest.approx(float(archdsl.data.load_digits().x_train.mean()))
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    meta, arrays = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["epoch"] == 2 and meta["step"] == r.steps and meta["config_hash"] == r.config_hash
    assert any(k.startswith("state/torch/") for k in arrays) and any(k.startswith("state/keras/") for k in arrays)
    assert r.summary_lines()[-1].startswith(f"final after {r.steps} steps: torch ")


def test_max_steps_and_epochs_override(tmp_path: Path) -> None:
    r = run_training(mlp_graph(), None, backends=fake_frameworks(), out_dir=tmp_path, epochs=3, max_steps=5, progress=False)
    assert r.steps == 5 and r.complete and len(r.epochs) == 1 and r.epochs[0]["partial"]
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 2 * 5


def test_one_framework_only(tmp_path: Path) -> None:
    r = run_training(mlp_graph(), None, backends=fake_frameworks()[:1], out_dir=tmp_path, max_steps=3, progress=False)
    assert r.frameworks == ("torch",) and set(r.final) == {"torch"}


def test_dropout_masks_identical_for_both_and_keyed_by_position(tmp_path: Path) -> None:
    fws = fake_frameworks()
    g = mlp_graph()
    seen: dict[str, list[Any]] = {}

    def spy(fw: Framework) -> Framework:
        def make(*a: Any, **k: Any) -> FakeTrainer:
            t = fw.make_trainer(*a, **k)
            seen[fw.name] = t.seen_masks
            return t

        return Framework(fw.name, fw.backend, make, fw.conventions)

    run_training(g, None, backends=[spy(f) for f in fws], out_dir=tmp_path, max_steps=3, progress=False)
    torch_masks, keras_masks = seen["torch"], seen["keras"]
    assert len(torch_masks) == 3
    for a, b in zip(torch_masks, keras_masks):
        assert a is not None and b is not None and a.keys() == {"drop"}
        assert a["drop"] is b["drop"]  # the very same array for both frameworks
        assert a["drop"].shape == (128, 16) and a["drop"].dtype == np.float32
        assert set(np.unique(a["drop"]).tolist()) <= {0.0, np.float32(1 / 0.75)}
    again = dropout_masks(dropout_nodes(g), 128, seed=0, epoch=0, index=1)
    np.testing.assert_array_equal(again["drop"], torch_masks[1]["drop"])
    assert not np.array_equal(torch_masks[0]["drop"], torch_masks[1]["drop"])


def test_spatial_dropout_mask_shape() -> None:
    g = archdsl.loads(DIGITS_CNN, "cnn.yaml")
    (node,) = dropout_nodes(g)
    m = dropout_masks([node], 5, seed=1, epoch=0, index=0, dtype="float64")[node.node]
    assert m.shape == (5, 8) and m.dtype == np.float64


def test_stochastic_nodes_come_from_the_layer_traits() -> None:
    """Which nodes get masks, and of which kind, is the registry's ``Layer.stochastic``."""
    import archdsl.trainconfig
    from archdsl.layers import REGISTRY

    kinds = stochastic_types()
    assert kinds == {k: layer.stochastic for k, layer in REGISTRY.items() if layer.stochastic}
    assert kinds["dropout"] == "element" and kinds["spatial_dropout"] == "channel"
    (node,) = dropout_nodes(archdsl.loads(DIGITS_CNN, "cnn.yaml"))
    assert (node.kind, node.shape, node.mask_shape(5)) == ("channel", (8, 4, 4), (5, 8))
    (node,) = dropout_nodes(mlp_graph())
    assert (node.node, node.kind, node.rate, node.mask_shape(2)) == ("drop", "element", 0.25, (2, 16))
    assert not hasattr(archdsl.trainconfig, "DROPOUT_TYPES")


def test_mask_multiplier_broadcasts_every_form() -> None:
    m = dropout_masks([DropoutNode("d", 0.5, "channel", (3, 4, 4))], 2, seed=0, epoch=0, index=0)["d"]
    assert mask_multiplier(m, (3, 4, 4), 0.5).shape == (2, 3, 1, 1)
    assert mask_multiplier(np.ones((2, 3, 4, 4)), (3, 4, 4), 0.5).shape == (2, 3, 4, 4)
    assert mask_multiplier(np.ones(2), (3, 4, 4), 0.5).shape == (2, 1, 1, 1)  # per sample
    np.testing.assert_array_equal(mask_multiplier(np.array([[True, False]]), (2,), 0.5), [[2.0, 0.0]])
    with pytest.raises(BackendError, match="fits neither"):
        mask_multiplier(np.ones((2, 5)), (3, 4, 4), 0.5)


def test_trainers_satisfy_the_protocol() -> None:
    g = mlp_graph()
    fw = fake_frameworks()[0]
    trainer = fw.trainer(fw.build(g, {"hidden": {}, "logits": {}}, TrainConfig(), frozenset()), g, TrainConfig(), frozenset(), "cpu")
    assert isinstance(trainer, Trainer)
    assert not isinstance(object(), Trainer)


def test_lockstep_loop_calls_its_hooks_across_epochs() -> None:
    g = mlp_graph()
    cfg = g.spec.train
    data = prepare_data(g, cfg)
    session = start_session(g, cfg, fake_frameworks(), frozenset())
    calls: list[tuple[Any, ...]] = []

    class Spy(LoopHooks):
        def on_epoch_start(self, epoch: int, lr: float) -> None:
            calls.append(("start", epoch))

        def on_step(self, event: StepEvent) -> None:
            calls.append(("step", event.epoch, event.index, event.step, sorted(event.results)))

        def on_epoch_end(self, end: EpochEnd) -> None:
            calls.append(("end", end.epoch, end.batches, end.step, end.partial))

    per_epoch = len(data.train)
    done = Lockstep.for_config(session.trainers, g, cfg).run(data.train, cfg, limit=per_epoch + 2, hooks=Spy())
    assert done == per_epoch + 2
    assert calls[0] == ("start", 0) and calls[1] == ("step", 0, 0, 1, ["keras", "torch"])
    assert calls[per_epoch + 1] == ("end", 0, per_epoch, per_epoch, False)
    assert calls[per_epoch + 2:] == [("start", 1), ("step", 1, 0, per_epoch + 1, ["keras", "torch"]),
                                     ("step", 1, 1, per_epoch + 2, ["keras", "torch"]), ("end", 1, 2, per_epoch + 2, True)]
    resumed = Lockstep.for_config(session.trainers, g, cfg).run(data.train, cfg, limit=3, start=(1, 1, 1), hooks=Spy())
    assert resumed == 3 and calls[-3][1:3] == (1, 1)  # continues at epoch 1, batch 1


def test_nan_stops_with_one_line_naming_framework_step_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig.model_validate({"dataset": "digits", "batch_size": 128, "optimizer": {"name": "sgd", "lr": 1e200}})
    with pytest.raises(TrainingDivergedError) as info:
        run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=tmp_path, progress=False)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("torch loss became nan at step ") and "(epoch 1)" in msg
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[-1].split(",")[3] == "nan"  # the diverged step is logged for inspection
    assert json.loads((tmp_path / "metrics.json").read_text())["diverged"] is True


def test_spec_that_does_not_fit_the_dataset(tmp_path: Path) -> None:
    g = archdsl.load("specs/cifar10_cnn.yaml")
    digits = TrainConfig.model_validate({**g.spec.train.model_dump(), "dataset": "digits"})
    with pytest.raises(TrainingError, match=r"dataset 'digits' has images of shape \[1, 8, 8\] but 'cifar10-cnn' takes input \[3, 32, 32\]"):
        run_training(g, digits, backends=fake_frameworks(), out_dir=tmp_path, progress=False)


def test_corrupt_dataset_file_error_names_the_file(tmp_path: Path) -> None:
    from archdsl.data import DataError

    bad = tmp_path / "data" / "mnist"
    bad.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (bad / name).write_bytes(b"\x1f\x8b\x08\x00garbage")
    g = archdsl.loads(MLP.replace("[1, 8, 8]", "[1, 28, 28]"), "m.yaml")
    cfg = TrainConfig(dataset="mnist")
    with pytest.raises(DataError) as info:
        run_training(g, cfg, backends=fake_frameworks(), data_dir=tmp_path / "data", out_dir=tmp_path / "o", progress=False)
    assert str(bad) in str(info.value) and "idx" in str(info.value)


def test_lr_schedule_per_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig.model_validate({"dataset": "digits", "batch_size": 512, "epochs": 3, "optimizer": {"name": "sgd", "lr": 0.1}, "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}})
    run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=tmp_path, progress=False)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert {(int(r["epoch"]), float(r["lr"])) for r in rows} == {(1, 0.1), (2, 0.05), (3, 0.025)}


def test_resume_finished_run_is_idempotent_and_extends(tmp_path: Path) -> None:
    g = mlp_graph()
    first = run_training(g, None, backends=fake_frameworks(), out_dir=tmp_path, epochs=1, progress=False)
    again = run_training(g, None, backends=fake_frameworks(), out_dir=tmp_path, epochs=1, resume=True, progress=False)
    assert again.steps == first.steps and strip_timings(again.epochs) == strip_timings(first.epochs)
    more = run_training(g, None, backends=fake_frameworks(), out_dir=tmp_path, epochs=2, resume=True, progress=False)
    full = run_training(g, None, backends=fake_frameworks(), out_dir=tmp_path / "full", epochs=2, progress=False)
    assert strip_timings(more.epochs) == strip_timings(full.epochs)


def test_corrupt_checkpoint_error_names_the_file(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoint.npz"
    ckpt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(CheckpointError) as info:
        run_training(mlp_graph(), None, backends=fake_frameworks(), out_dir=tmp_path, resume=True, progress=False)
    assert str(ckpt) in str(info.value) and "unreadable checkpoint" in str(info.value)


def test_checkpoint_of_another_config_is_refused(tmp_path: Path) -> None:
    run_training(mlp_graph(), None, backends=fake_frameworks(), out_dir=tmp_path, max_steps=2, progress=False)
    cfg = TrainConfig.model_validate({"dataset": "digits", "batch_size": 128, "optimizer": {"name": "sgd", "lr": 0.3}})
    with pytest.raises(CheckpointError, match="written by a different run"):
        run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=tmp_path, resume=True, progress=False)


def test_steplog_round_trip() -> None:
    log = StepLog(("a", "b"))
    log.add(1, 1, "a", 0.1 + 0.2, correct=1, count=3, lr=1e-3)
    log.add(1, 1, "b", float("nan"), correct=0, count=3, lr=1e-3)
    back = StepLog.from_arrays(("a", "b"), log.to_arrays())
    assert back.csv_text() == log.csv_text() and "0.30000000000000004" in log.csv_text()


# ---------------------------------------------------------------------------- crosscheck / ablation
def test_train_crosscheck_fields_and_matched_much_smaller_than_native(tmp_path: Path) -> None:
    g = mlp_graph()
    matched = train_crosscheck(g, 20, backends=fake_frameworks(), out_dir=tmp_path)
    t = {"train": matched.as_json()}["train"]
    assert {"steps", "max_rel_loss_diff", "max_abs_loss_diff", "max_param_rel_diff", "first_divergent_grad_node", "per_step", "ok"} <= set(t)
    assert t["steps"] == 20 and len(t["per_step"]) == 20
    assert set(t["per_step"][0]) == {"step", "torch", "keras", "abs_diff", "rel_diff"}
    assert t["max_rel_loss_diff"] == 0.0 and t["first_divergent_grad_node"] is None and matched.ok
    assert set(t["param_rel_diff"]) == {"hidden", "logits"}
    json.dumps(t)
    report = (tmp_path / "report.md").read_text()
    assert "Training cross-check: fake-mlp" in report and "![curves](curves.png)" in report
    assert (tmp_path / "curves.png").exists() and (tmp_path / "loss_diff.png").exists()
    native = train_crosscheck(g, 20, TrainConfig.model_validate({**g.spec.train.model_dump(), "conventions": "native"}), backends=fake_frameworks())
    n = native.as_json()
    assert n["max_rel_loss_diff"] > 1e-3 and not native.ok
    assert n["first_divergent_grad_node"] == "hidden" and n["first_divergent_grad_step"] == 1
    assert n["max_param_rel_diff"] > 1e-3 > t["max_param_rel_diff"]


def test_crosscheck_notes_tell_a_step_one_mismatch_from_later_parting() -> None:
    import dataclasses

    from archdsl.training.crosscheck import Roundoff

    g = mlp_graph()
    cfg = TrainConfig.model_validate({**g.spec.train.model_dump(), "conventions": "native"})
    native = train_crosscheck(g, 20, cfg, backends=fake_frameworks())
    assert native.dtype == "float32" and native.max_rel_loss_diff > 1e-4
    pools = ("b1.pool", "b2.pool", "b3.pool", "gmp")
    # a convention left native parts at step 1: max pooling is no excuse, whatever the graph
    (note,) = dataclasses.replace(native, choice_nodes=pools).notes()
    assert note.startswith("the gradients differ already at step 1, from identical weights "
                           "(first at 'hidden')") and "max pooling" not in note
    assert native.as_json()["notes"] == [note] and f"Note: {note}." in native.markdown()
    # the same numbers with an agreeing step 1: runs that part later, through max pooling
    agreeing = dataclasses.replace(native.run, grad_rel_diff_first_step={"hidden": 0.0})
    parted = dataclasses.replace(native, run=agreeing)
    assert parted.choice_nodes == () and parted.notes() == []  # no max pooling in this graph
    with_pools = dataclasses.replace(parted, choice_nodes=pools)
    (note,) = with_pools.notes()
    assert "this graph has max pooling (b1.pool, b2.pool, b3.pool, ...)" in note
    assert note.endswith("Check the arithmetic itself with --dtype float64")
    rerun = dataclasses.replace(with_pools, roundoff=Roundoff(3, 2e-14))
    explained, why = rerun.notes()
    assert explained.endswith("a float64 rerun of the same steps agrees to 2.0e-14: the "
                              "difference is round-off, not a convention")
    assert why.startswith("why float32 runs of it part: this graph has max pooling (b1.pool, "
                          "b2.pool, b3.pool, ...)") and "--dtype float64" not in why
    as_float64 = dataclasses.replace(with_pools, dtype="float64")
    assert as_float64.notes() == []  # in float64 a parting is not round-off: no excuse offered
    matched = train_crosscheck(g, 20, backends=fake_frameworks())
    assert dataclasses.replace(matched, choice_nodes=("pool",)).notes() == []


def test_crosscheck_choice_nodes_are_the_max_pools() -> None:
    from archdsl.training import choice_nodes

    assert choice_nodes(archdsl.load(Path(__file__).resolve().parents[2] / "specs" / "cifar10_cnn.yaml")) == (
        "block1.pool", "block2.pool", "block3.pool")
    assert choice_nodes(mlp_graph()) == ()
    from archdsl.layers import REGISTRY

    selecting = {k for k, layer in REGISTRY.items() if layer.selects}
    assert {"global_max_pool", "max_pool1d", "max_pool2d", "max_pool3d"} <= selecting
    assert all("max" in k for k in selecting), selecting  # max pooling of every kind, only
    g = archdsl.loads("archdsl: 1\nname: g\ninput: [2, 6, 6]\nbody:\n  - global_max_pool: {}\n", "g.yaml")
    assert choice_nodes(g) == ("global_max_pool_1",)


def test_ablation_attributes_the_gap(tmp_path: Path) -> None:
    from archdsl.ablation import run_ablation

    rep = run_ablation(mlp_graph(), steps=15, backends=fake_frameworks(), out_dir=tmp_path, progress=False)
    j = rep.as_json()
    assert j["conventions"] == list(FAKE_CONVENTIONS)
    assert set(j["runs"]) == {"matched", "native", "only logit_scale", "all but logit_scale", "only lr_scale", "all but lr_scale"}
    assert j["runs"]["matched"]["eval_logit_diff"] == 0.0 and j["gap"]["eval_logit_diff"] > 0
    rows = {r["convention"]: r for r in j["table"]}
    for row in rows.values():
        assert 0 < row["alone"]["eval_logit_diff_share"] <= 1.5
    md = (tmp_path / "ablation.md").read_text()
    assert "| logit_scale |" in md and "What each convention explains" in md
    assert json.loads((tmp_path / "ablation.json").read_text())["steps"] == 15


# ---------------------------------------------------------------------------- CLI
def write_spec(tmp_path: Path, text: str = MLP) -> str:
    p = tmp_path / "net.yaml"
    p.write_text(text)
    return str(p)


def test_cli_train_json_and_exit_codes(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "run"
    code = main(["train", spec, "--out", str(out), "--max-steps", "4", "--json", "--quiet", "--set", "train.optimizer.lr=0.05"])
    assert code == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["steps"] == 4 and obj["config"]["optimizer"]["lr"] == 0.05 and obj["frameworks"] == ["torch", "keras"]
    assert main(["train", spec, "--out", str(out), "--backend", "keras", "--max-steps", "2", "--quiet"]) == 0
    assert "keras val" in capsys.readouterr().out
    # NaN → one-line error, exit 2
    assert main(["train", spec, "--out", str(out), "--quiet", "--set", "train.optimizer.lr=1e200"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("training diverged: torch loss became nan at step") and "\n" not in err
    # bad train setting → exit 2
    assert main(["train", spec, "--out", str(out), "--set", "train.batch_size=0"]) == 2
    assert "batch_size" in capsys.readouterr().err
    # corrupt checkpoint → exit 2, names the file
    (out / "checkpoint.npz").write_bytes(b"junk")
    assert main(["train", spec, "--out", str(out), "--resume", "--quiet"]) == 2
    assert str(out / "checkpoint.npz") in capsys.readouterr().err
    # unknown dataset → exit 2
    assert main(["train", spec, "--data", "cifar", "--out", str(out)]) == 2
    assert "did you mean 'cifar10'" in capsys.readouterr().err


def test_cli_train_file_with_located_error(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    good = tmp_path / "train.yaml"
    good.write_text("train:\n  dataset: digits\n  batch_size: 256\n  optimizer: {name: sgd, lr: 0.1}\n")
    assert main(["train", spec, "--train", str(good), "--out", str(tmp_path / "o"), "--max-steps", "2", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["batch_size"] == 256
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: digits\noptimizer:\n  name: sgd\n  lrate: 0.1\n")
    assert main(["train", spec, "--train", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:3" in err and "unknown key 'lrate'" in err and "valid keys: name, lr" in err


def test_cli_ablate_json(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    assert main(["ablate", spec, "--steps", "5", "--out", str(tmp_path / "ab"), "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["steps"] == 5 and len(obj["table"]) == 2
    assert (tmp_path / "ab" / "ablation.md").exists()


def test_core_training_modules_import_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, archdsl.training, archdsl.ablation, archdsl.metrics, archdsl.plots, archdsl.commands.train\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch','tensorflow','keras','jax','matplotlib'}))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


# ---------------------------------------------------------------------------- real frameworks
@real
def test_real_digits_cnn_matched_vs_native(tmp_path: Path) -> None:
    """PyTorch vs Keras: matched conventions agree to round-off, native ones do not (the real
    run_training path is exercised by test_resume.py's real SIGKILL test)."""
    g = archdsl.loads(DIGITS_CNN, "cnn.yaml")
    matched = train_crosscheck(g, 12, out_dir=tmp_path)
    native = train_crosscheck(g, 12, TrainConfig.model_validate({**g.spec.train.model_dump(), "conventions": "native"}))
    assert matched.ok, matched.as_json()
    assert matched.max_rel_loss_diff < 1e-5 and matched.run.first_divergent_grad_node is None
    assert native.run.first_divergent_grad_step == 1  # BN eps differs from the first step
    assert matched.run.eval_logit_max_abs_diff * 10 < native.run.eval_logit_max_abs_diff
    assert matched.max_abs_loss_diff * 10 < native.max_abs_loss_diff


@real
def test_real_nan_stop(tmp_path: Path) -> None:
    g = archdsl.loads(DIGITS_CNN, "cnn.yaml")
    cfg = TrainConfig.model_validate({"dataset": "digits", "optimizer": {"name": "sgd", "lr": 1e30}})
    with pytest.raises(TrainingDivergedError, match=r"loss became (nan|inf) at step \d+ \(epoch 1\)"):
        run_training(g, cfg, out_dir=tmp_path, progress=False)
