"""The training features users expect (issue 14), matched in both frameworks.

The harness parts (per-step schedules, early stopping, best-k checkpoints, TensorBoard files,
validation subsets, thread settings, ``--device``) run with the numpy fake frameworks of
test_training.py; the ``real`` tests train the digits CNN in PyTorch and Keras in float64 for
20 steps and require every per-step loss to agree to 1e-9 relative with each feature on.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_training import MLP, fake_frameworks, mlp_graph, real

import archdsl
import archdsl.commands.train as train_cmd
from archdsl.cli import main
from archdsl.trainconfig import ScheduleConfig, TrainConfig
from archdsl.training import load_checkpoint, run_training
from archdsl.training.loop import schedule_lr
from archdsl.training.tensorboard import read_scalars
from archdsl.training.threads import configure_threads, thread_settings


def config(**changes: Any) -> TrainConfig:
    return TrainConfig.model_validate({**mlp_graph().spec.train.model_dump(), **changes})


def fake_run(out: Path, cfg: TrainConfig | None = None, **kw: Any) -> Any:
    return run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=out, progress=False, **kw)


# ---------------------------------------------------------------------------- schedules
def test_one_cycle_and_step_match_torch_schedulers() -> None:
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    for sched, make in (
        (ScheduleConfig(name="one_cycle"), lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=37)),
        (ScheduleConfig(name="one_cycle", pct_start=0.1, div_factor=10, final_div_factor=100),
         lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=37, pct_start=0.1, div_factor=10, final_div_factor=100)),
        (ScheduleConfig(name="step", step_size=5, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 5, 0.5)),
        (ScheduleConfig(name="cosine"), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 37)),
    ):
        opt = torch.optim.SGD([p], lr=0.1)
        scheduler = make(opt)
        for t in range(37):
            assert opt.param_groups[0]["lr"] == pytest.approx(sched.lr_at(0.1, t, 37), rel=1e-12, abs=1e-15), (sched.name, t)
            opt.step()
            scheduler.step()


def test_warmup_then_cosine() -> None:
    s = ScheduleConfig(name="cosine", interval="step", warmup=4, min_lr=0.01)
    lrs = [s.lr_at(1.0, t, 14) for t in range(14)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0] and lrs[4] == 1.0
    decay = lrs[4:]
    assert all(decay[i] > decay[i + 1] for i in range(len(decay) - 1)) and lrs[-1] > 0.01
    assert ScheduleConfig(name="one_cycle").per_step and not ScheduleConfig(name="cosine").per_step


def test_per_step_schedule_reaches_every_framework_and_the_log(tmp_path: Path) -> None:
    cfg = config(epochs=2, schedule={"name": "cosine", "interval": "step", "warmup": 3})
    fake_run(tmp_path, cfg)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    per_epoch = 12
    for r in rows:
        step = int(r["step"])
        assert float(r["lr"]) == schedule_lr(cfg, (step - 1) // per_epoch, step - 1, per_epoch)
    lrs = [float(r["lr"]) for r in rows if r["framework"] == "torch"]
    assert lrs[:3] == pytest.approx([0.2 / 3, 0.4 / 3, 0.2], rel=1e-15) and lrs[3] == 0.2
    assert len(set(lrs)) == len(lrs)  # a new rate before every step


def test_resumed_per_step_schedule_continues_exactly(tmp_path: Path) -> None:
    cfg = config(epochs=3, schedule={"name": "one_cycle"})
    fake_run(tmp_path / "a", cfg, max_steps=17)
    fake_run(tmp_path / "a", cfg, resume=True)
    fake_run(tmp_path / "b", cfg)
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


# ---------------------------------------------------------------------------- early stopping / best-k
def test_early_stopping_ends_the_run_and_survives_resume(tmp_path: Path) -> None:
    cfg = config(epochs=10, optimizer={"name": "sgd", "lr": 1e-12}, early_stopping={"patience": 2, "monitor": "val_loss", "min_delta": 1e-3})
    r = fake_run(tmp_path, cfg)
    assert len(r.epochs) == 3 and r.complete and r.steps == 36
    assert r.stopped_early.startswith("val_loss has not improved on") and "for 2 epochs (patience 2)" in r.stopped_early
    assert json.loads((tmp_path / "metrics.json").read_text())["stopped_early"] == r.stopped_early
    again = fake_run(tmp_path, cfg, resume=True)
    assert again.steps == 36 and len(again.epochs) == 3 and again.stopped_early == r.stopped_early


def test_keep_best_checkpoints(tmp_path: Path) -> None:
    cfg = config(epochs=5, keep_best={"count": 2, "monitor": "val_acc"})
    r = fake_run(tmp_path, cfg)
    accs = {e["epoch"]: (e["torch"]["val_acc"] + e["keras"]["val_acc"]) / 2 for e in r.epochs}
    best = sorted(accs, key=lambda e: -accs[e])[:2]
    assert sorted(b["epoch"] for b in r.best) == sorted(best)
    files = sorted(p.name for p in (tmp_path / "best").iterdir())
    assert files == [f"epoch-{e:04d}.npz" for e in sorted(best)]
    for entry in r.best:
        meta, _ = load_checkpoint(tmp_path / entry["file"])
        assert meta["epoch"] == entry["epoch"] and entry["value"] == pytest.approx(accs[entry["epoch"]])
    assert json.loads((tmp_path / "metrics.json").read_text())["best"] == r.best


# ---------------------------------------------------------------------------- TensorBoard
def test_tensorboard_event_files_beside_the_metrics(tmp_path: Path) -> None:
    r = fake_run(tmp_path, max_steps=15, tensorboard=True)
    for fw in ("torch", "keras"):
        (events,) = (tmp_path / "tensorboard" / fw).glob("events.out.tfevents.*")
        scalars = read_scalars(events)
        tags = {t for t, _, _ in scalars}
        assert {"train/loss", "train/acc", "train/lr", "val/loss", "val/acc"} <= tags
        losses = [v for t, s, v in scalars if t == "train/loss"]
        assert len(losses) == 15
        logged = [float(row["loss"]) for row in csv.DictReader((tmp_path / "metrics.csv").open()) if row["framework"] == fw]
        np.testing.assert_allclose(losses, logged, rtol=1e-6)  # float32 in the event file
    assert r.files["tensorboard"] == str(tmp_path / "tensorboard")


def test_tensorboard_reads_the_files(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the optional `tensorboard` package is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fake_run(tmp_path, max_steps=5, tensorboard=True)
    acc = EventAccumulator(str(tmp_path / "tensorboard" / "torch"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4, 5]


def test_tensorflow_reads_the_files(tmp_path: Path) -> None:
    """TensorFlow's reader checks the record framing and both CRCs."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    fake_run(tmp_path, max_steps=3, tensorboard=True)
    (path,) = (tmp_path / "tensorboard" / "keras").glob("events*")
    events = list(tf.compat.v1.train.summary_iterator(str(path)))
    assert events[0].file_version == "brain.Event:2"
    assert [(v.tag, e.step) for e in events[1:4] for v in e.summary.value][:1] == [("train/loss", 1)]


# ---------------------------------------------------------------------------- fast, visible runs
def test_val_limit(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    r = fake_run(tmp_path / "a", max_steps=3, val_limit=50)
    assert r.val_samples == 50 and json.loads((tmp_path / "a" / "metrics.json").read_text())["val_samples"] == 50
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    monkeypatch.setattr(train_cmd, "DEFAULT_VAL_LIMIT", 100)
    assert main(["train", str(spec), "--out", str(tmp_path / "b"), "--max-steps", "2", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["val_samples"] == 100
    assert main(["train", str(spec), "--out", str(tmp_path / "c"), "--epochs", "1", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["val_samples"] == 359  # every test image
    assert main(["train", str(spec), "--out", str(tmp_path / "d"), "--max-steps", "2", "--val-limit", "7", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["val_samples"] == 7


def test_progress_names_each_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_training(mlp_graph(), None, backends=fake_frameworks(), out_dir=tmp_path, max_steps=2, progress=True)
    err = capsys.readouterr().err
    for phase in ("loading torch and keras ...", "loading the dataset digits ...",
                  "building the torch and keras model(s) ...", "validating on 359 images"):
        assert phase in err, err


def test_thread_settings_are_one_function(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    assert configure_threads(env, cpus=3) == thread_settings(3) == env
    assert configure_threads({"OMP_NUM_THREADS": "1"}, cpus=3)["OMP_NUM_THREADS"] == "1"
    for key in thread_settings(1):
        monkeypatch.delenv(key, raising=False)
    train_cmd.quiet_threads()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and int(os.environ["OMP_NUM_THREADS"]) >= 1
    # no second copy of the policy anywhere in the package or the demo
    root = Path(__file__).resolve().parents[2]
    hits = [p for p in (root / "archdsl").rglob("*.py") if "OMP_WAIT_POLICY" in p.read_text() and p.name != "threads.py"]
    assert hits == []


def test_device_argument() -> None:
    assert train_cmd.device_arg("CPU") == "cpu" and train_cmd.device_arg("auto") == "auto"
    import argparse

    for bad in ("gpu", "cuda:x", "cuda:-1", "cuda:"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected cpu, cuda, cuda:N"):
            train_cmd.device_arg(bad)


def test_device_without_cuda_is_a_usage_error(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_cmd, "cuda_devices", lambda: 0)
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    with pytest.raises(SystemExit) as info:
        main(["train", str(spec), "--device", "cuda:1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "archdsl train: error: argument --device: 'cuda:1': CUDA is not available on this machine" in err
    monkeypatch.setattr(train_cmd, "cuda_devices", lambda: 1)
    with pytest.raises(SystemExit):
        main(["train", str(spec), "--device", "cuda:1"])
    assert "this machine has 1 CUDA device(s), cuda:0 to cuda:0" in capsys.readouterr().err


# ---------------------------------------------------------------------------- real frameworks
FEATURES = {
    "warmup_cosine_per_step": {"schedule": {"name": "cosine", "interval": "step", "warmup": 5}},
    "one_cycle": {"schedule": {"name": "one_cycle"}},
    "step_per_step": {"schedule": {"name": "step", "interval": "step", "step_size": 7, "gamma": 0.5}},
    "label_smoothing": {"loss": {"label_smoothing": 0.1}},
    "adamw": {"optimizer": {"name": "adamw", "lr": 0.002, "weight_decay": 0.05}},
    "adam_decoupled": {"optimizer": {"name": "adam", "lr": 0.002, "weight_decay": 0.05, "decay": "decoupled"}},
    "sgd_decoupled": {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "decay": "decoupled"}},
    "rmsprop_decoupled": {"optimizer": {"name": "rmsprop", "lr": 0.001, "weight_decay": 0.01, "decay": "decoupled"}},
    "clip_grad_norm": {"clip_grad_norm": 0.5},
}


@pytest.fixture(scope="module")
def digits() -> Any:
    return archdsl.load(Path(__file__).resolve().parents[2] / "specs" / "digits_cnn.yaml")


@real
@pytest.mark.parametrize("feature", list(FEATURES))
def test_feature_trains_identically_in_float64(digits: Any, feature: str) -> None:
    from archdsl.training import load_framework, lockstep_run, prepare_data

    cfg = TrainConfig.model_validate({**digits.spec.train.model_dump(), **FEATURES[feature], "dtype": "float64"})
    run = lockstep_run(digits, cfg, prepare_data(digits, cfg), [load_framework("torch"), load_framework("keras")], 20)
    a, b = run.losses["torch"], run.losses["keras"]
    rel = max(abs(x - y) / abs(x) for x, y in zip(a, b))
    assert rel <= 1e-9, (feature, rel)
    assert max(run.param_rel_diff.values()) <= 1e-9
    assert a[-1] < a[0]  # it trains


@real
def test_clipping_clips_and_both_frameworks_see_the_same_norm(digits: Any) -> None:
    from archdsl.training import Lockstep, load_framework, prepare_data, start_session

    cfg = TrainConfig.model_validate({**digits.spec.train.model_dump(), "clip_grad_norm": 0.5, "dtype": "float64"})
    data = prepare_data(digits, cfg)
    session = start_session(digits, cfg, [load_framework("torch"), load_framework("keras")], frozenset())
    loop = Lockstep.for_config(session.trainers, digits, cfg)
    norms = []
    for index, (x, y) in zip(range(5), data.train.epoch(0)):
        results, _ = loop.step(x, y, epoch=0, index=index)
        t, k = results["torch"].grad_norm, results["keras"].grad_norm
        assert t is not None and k is not None and abs(t - k) <= 1e-12 * t
        norms.append(t)
    assert max(norms) > 0.5  # clipping was active
    grads = session.trainers["torch"].gradients()
    total = math.sqrt(sum(float(np.sum(g ** 2)) for ws in grads.values() for g in ws.values()))
    assert total == pytest.approx(0.5, rel=1e-5)  # after clipping, the gradients' norm is the limit


@real
def test_lr_1e6_stops_on_nonfinite_statistics(tmp_path: Path, digits: Any) -> None:
    from archdsl.training import TrainingDivergedError

    cfg = TrainConfig.model_validate({**digits.spec.train.model_dump(), "optimizer": {"name": "sgd", "lr": 1e6}})
    with pytest.raises(TrainingDivergedError, match=r"(became (nan|inf)|became non-finite).* at step \d+ \(epoch 1\) with lr 1000000.0"):
        run_training(digits, cfg, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.npz").exists()


@real
def test_bf16_trains_in_both_frameworks(digits: Any) -> None:
    from archdsl.training import load_framework, lockstep_run, prepare_data

    base = {**digits.spec.train.model_dump(), "dropout": "off"}
    fws = [load_framework("torch"), load_framework("keras")]
    gaps = {}
    for precision in ("full", "bf16"):
        cfg = TrainConfig.model_validate({**base, "precision": precision})
        run = lockstep_run(digits, cfg, prepare_data(digits, cfg), fws, 20)
        a, b = run.losses["torch"], run.losses["keras"]
        assert all(math.isfinite(v) for v in a + b) and a[-1] < a[0] and b[-1] < b[0]
        gaps[precision] = max(abs(x - y) / abs(x) for x, y in zip(a, b))
    assert gaps["full"] < 1e-4 and gaps["bf16"] < 0.1, gaps
    assert gaps["bf16"] > gaps["full"]  # the gap bf16 opens (measured in docs/benchmarks.md)
