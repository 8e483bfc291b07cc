"""Hostile input, training part (issue 15): no lost results, no surprise writes, no false
success. Every test drives the real ``run_training`` / ``archdsl train`` with the numpy fake
frameworks of test_training.py, so they run in seconds without PyTorch or Keras.

Classes pinned here:

* results are never deleted: a rerun goes to ``run-N`` (or ``--overwrite``), and a run that
  fails its checks (data, spec, checkpoint, ``--out``) changes nothing;
* one run per output folder at a time (a lock), temporary files of killed writes cleaned;
* hand-edited checkpoint metadata is a clean exit-2 error, never exit 3 or a false "complete";
* non-finite losses, gradients and statistics stop the run before a checkpoint saves them;
* NaN/inf settings are refused at validation; a model name cannot steer the default ``--out``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_training import MLP, FakeTrainer, fake_frameworks, mlp_graph

import archdsl
import archdsl.commands.train
from archdsl.cli import main
from archdsl.data import DataError
from archdsl.errors import ArchdslError, OutputError, SpecError
from archdsl.trainconfig import TrainConfig
from archdsl.training import (
    CheckpointError,
    Framework,
    TrainingDivergedError,
    TrainingError,
    load_checkpoint,
    run_training,
)
from archdsl.training.outdir import LOCK_NAME, claim_output
from archdsl.training.outputs import result_names

RESULTS = ("metrics.csv", "metrics.json", "curves.png", "checkpoint.npz")


def train(out: Path, **kw: Any) -> Any:
    kw.setdefault("max_steps", 3)
    return run_training(mlp_graph(), kw.pop("config", None), backends=fake_frameworks(),
                        out_dir=out, progress=False, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


# ---------------------------------------------------------------------------- results kept
def test_rerun_keeps_earlier_results_and_writes_a_fresh_subfolder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = train(out)
    assert first.out_dir == out and first.notes == []
    before = snapshot(out)
    second = train(out)
    assert second.out_dir == out / "run-2" and snapshot(out / "run-2").keys() >= set(RESULTS)
    assert "holds an earlier run's results, kept; this run writes to" in second.notes[0]
    assert str(out / "run-2") in json.loads((out / "run-2" / "metrics.json").read_text())["files"]["metrics_csv"]
    assert {k: v for k, v in snapshot(out).items() if not k.startswith("run-")} == before
    assert train(out).out_dir == out / "run-3"


@pytest.mark.parametrize("broken", ["data", "spec", "resume"])
def test_a_run_that_fails_its_checks_changes_nothing(tmp_path: Path, broken: str) -> None:
    """--data-dir /nonexistent once removed four result files and then exited 2."""
    out = tmp_path / "out"
    train(out)
    before = snapshot(out)
    if broken == "data":
        g = archdsl.loads(MLP.replace("[1, 8, 8]", "[1, 28, 28]"), "m.yaml")
        with pytest.raises(DataError):
            run_training(g, TrainConfig(dataset="mnist"), backends=fake_frameworks(), out_dir=out,
                         data_dir=tmp_path / "nonexistent", progress=False, overwrite=True)
    elif broken == "spec":
        g = archdsl.load("specs/cifar10_cnn.yaml")
        with pytest.raises(TrainingError, match="has images of shape"):
            run_training(g, TrainConfig(), backends=fake_frameworks(), out_dir=out,
                         progress=False, overwrite=True)
    else:
        cfg = TrainConfig.model_validate({**mlp_graph().spec.train.model_dump(), "seed": 5})
        with pytest.raises(CheckpointError, match="different run"):
            train(out, config=cfg, resume=True)
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith("run-")]


def test_a_failed_first_run_leaves_no_folder_behind(tmp_path: Path) -> None:
    g = archdsl.load("specs/cifar10_cnn.yaml")
    with pytest.raises(TrainingError):
        run_training(g, TrainConfig(), backends=fake_frameworks(), out_dir=tmp_path / "new",
                     progress=False)
    assert not (tmp_path / "new").exists()


def test_overwrite_replaces_the_results_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(out, max_steps=5)
    r = train(out, overwrite=True, max_steps=2)
    assert r.out_dir == out and "--overwrite" in r.notes[0] and not (out / "run-2").exists()
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2


def test_resume_without_a_checkpoint_does_not_overwrite_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(out)
    (out / "checkpoint.npz").unlink()
    before = snapshot(out)
    r = train(out, resume=True)
    assert r.out_dir == out / "run-2" and snapshot(out) == {**before, **{
        k: v for k, v in snapshot(out).items() if k.startswith("run-2/")}}


def test_cli_says_where_the_rerun_went(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    out = tmp_path / "o"
    assert main(["train", str(spec), "--out", str(out), "--max-steps", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", str(spec), "--out", str(out), "--max-steps", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"this run writes to {out / 'run-2'}" in captured.err
    assert f"wrote {out / 'run-2'}/metrics.csv" in captured.out.replace("\n", "")
    assert main(["train", str(spec), "--out", str(out), "--max-steps", "2", "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["notes"] and obj["files"]["metrics_json"] == str(out / "run-3" / "metrics.json")


# ---------------------------------------------------------------------------- --out checked first
def test_out_that_is_a_file_or_below_a_file_fails_at_once(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    for out in (a_file, a_file / "sub"):
        t0 = time.perf_counter()
        assert main(["train", str(spec), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "output error" in err and str(a_file) in err and "Traceback" not in err
        assert time.perf_counter() - t0 < 5
    assert a_file.read_text() == "keep me"


def test_read_only_out_fails_before_the_first_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only --out used to fail only after a full epoch (root ignores chmod here, so the
    permission check is simulated)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path / "ro" else real_access(p, mode))
    started = []
    fws = [Framework(f.name, f.backend, lambda *a, **k: started.append(1) or FakeTrainer(*a, **k), f.conventions)
           for f in fake_frameworks()]
    (tmp_path / "ro").mkdir()
    with pytest.raises(OutputError, match="permission denied"):
        run_training(mlp_graph(), None, backends=fws, out_dir=tmp_path / "ro", progress=False)
    assert started == []  # no model was even built


# ---------------------------------------------------------------------------- one run at a time
def test_second_run_on_a_held_folder_fails_with_exit_2(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    out = tmp_path / "o"
    with claim_output(out, result_names=result_names()) as holder:
        holder.commit()
        assert main(["train", str(spec), "--out", str(out), "--max-steps", "2", "--quiet"]) == 2
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    err = capsys.readouterr().err
    assert f"'{out}' is in use by another archdsl train run (pid {os.getpid()})" in err
    assert main(["train", str(spec), "--out", str(out), "--max-steps", "2", "--quiet"]) == 0  # released


SLOW_RUN = """
import sys
sys.path.insert(0, {here!r})
import test_training as T
from archdsl.training import run_training
run_training(T.mlp_graph(), None, backends=T.fake_frameworks(0.05), out_dir=sys.argv[1], epochs=5, max_steps=60, progress=False)
print("DONE", flush=True)
"""


def test_two_processes_on_one_folder(tmp_path: Path) -> None:
    """Two runs on one --out both reported success while one's results were gone."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN.format(here=str(Path(__file__).parent)))
    out = tmp_path / "o"
    root = Path(__file__).resolve().parents[2]
    first = subprocess.Popen([sys.executable, str(script), str(out)], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / LOCK_NAME).exists() or "pid" not in (out / LOCK_NAME).read_text():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        with pytest.raises(TrainingError, match=f"in use by another archdsl train run \\(pid {first.pid}\\)"):
            train(out)
    finally:
        stdout, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "DONE" in stdout
    assert json.loads((out / "metrics.json").read_text())["steps"] == 60


# ---------------------------------------------------------------------------- temp files
def test_temp_files_of_a_killed_checkpoint_write_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(out)
    stale = [out / ".checkpoint.npz.k1ll3d_x.tmp", out / ".metrics.json.abcd1234.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    keep = out / "notes.tmp"  # not an atomic-write temp file: not ours to remove
    keep.write_text("mine")
    r = train(out, resume=True, max_steps=4)
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
    assert any("removed 2 temporary file(s)" in n for n in r.notes)


def test_interrupted_checkpoint_write_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    train(out, max_steps=12)  # one full epoch and a partial one
    before = (out / "checkpoint.npz").read_bytes()

    def killed(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("archdsl.fsutil.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        train(out, resume=True, max_steps=24)
    monkeypatch.undo()
    assert (out / "checkpoint.npz").read_bytes() == before
    assert not list(out.glob(".*.tmp"))


# ---------------------------------------------------------------------------- checkpoint meta
def edit_meta(path: Path, **changes: Any) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta.update(changes)
    buf = io.BytesIO()
    np.savez(buf, meta=np.asarray(json.dumps(meta)), **arrays)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("changes, message", [
    ({"epochs": [1, 2]}, "'epochs' must hold one record per epoch begun"),
    ({"step": -100}, "'step' must be a whole number >= 0"),
    ({"epoch": 10**9}, "is not epoch 1000000000"),
    ({"epoch": 10**9, "step": 10**9 * 12}, "'epochs' must hold one record"),
    ({"batch": 500}, "batch 500 is beyond an epoch of 12 batches"),
    ({"step": 7}, "step 7 is not epoch 1"),
    ({"epoch": "1"}, "'epoch' must be a whole number"),
    ({"epoch": True}, "'epoch' must be a whole number"),
    ({"epochs": None}, "'epochs' must hold"),
    ({"epochs": [{"epoch": 3}]}, "'epochs' must hold"),
])
def test_hand_edited_checkpoint_meta_is_a_clean_error(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], message: str) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    out = tmp_path / "o"
    assert main(["train", str(spec), "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    edit_meta(out / "checkpoint.npz", **changes)
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", str(spec), "--out", str(out), "--epochs", "2", "--resume", "--quiet", "--json"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "checkpoint error" in captured.err, captured.err
    assert '"complete": true' not in captured.out and snapshot(out) == before


def test_nonfinite_state_in_a_checkpoint_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(out, max_steps=12)
    with np.load(out / "checkpoint.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = next(k for k in arrays if k.startswith("state/torch/w/"))
    arrays[key] = arrays[key] * np.inf
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (out / "checkpoint.npz").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="holds NaN or infinite values"):
        train(out, resume=True, max_steps=20)


# ---------------------------------------------------------------------------- non-finite stops
class ExplodingStats(FakeTrainer):
    """A trainer whose "BatchNorm statistic" becomes infinite at step 16 while the loss stays
    finite (what lr 1e6 does to a real CNN)."""

    def nonfinite(self) -> str | None:
        return "BatchNorm statistic bn.running_var became inf" if self.steps >= 16 else None


class ExplodingGrads(FakeTrainer):
    def step(self, x: np.ndarray, y: np.ndarray, masks: Any = None) -> Any:
        r = super().step(x, y, masks)
        from archdsl.training import StepResult

        return StepResult(r.loss, r.correct, r.count, float("inf") if self.steps >= 16 else 1.0)


@pytest.mark.parametrize("cls, what", [(ExplodingStats, "BatchNorm statistic bn.running_var became inf"),
                                       (ExplodingGrads, "gradients became inf (global norm)")])
def test_nonfinite_statistics_or_gradients_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path: Path, cls: type, what: str) -> None:
    fws = [Framework(f.name, f.backend, lambda *a, c=cls, **k: c(*a, **k), f.conventions) for f in fake_frameworks()]
    with pytest.raises(TrainingDivergedError) as info:
        run_training(mlp_graph(), None, backends=fws, out_dir=tmp_path, progress=False, epochs=3)
    msg = str(info.value)
    assert msg.startswith(f"torch {what} at step 16 (epoch 2)") and "\n" not in msg
    assert f"{tmp_path / 'checkpoint.npz'} keeps the last good state (epoch 1)" in msg
    meta, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["epoch"] == 1 and meta["step"] == 12
    assert json.loads((tmp_path / "metrics.json").read_text())["diverged"] is True


def test_nonfinite_weights_are_never_checkpointed(tmp_path: Path) -> None:
    """A trainer that cannot report its statistics: the checkpoint write itself refuses."""

    class NaNWeights(FakeTrainer):
        def get_state(self) -> dict[str, np.ndarray]:
            state = super().get_state()
            if self.steps > 12:
                state["w/hidden/bias"] = state["w/hidden/bias"] * np.nan
            return state

    fws = [Framework(f.name, f.backend, lambda *a, **k: NaNWeights(*a, **k), f.conventions) for f in fake_frameworks()]
    with pytest.raises(TrainingDivergedError, match="state 'w/hidden/bias' became non-finite by the end of epoch 2"):
        run_training(mlp_graph(), None, backends=fws, out_dir=tmp_path, progress=False, epochs=3)
    assert load_checkpoint(tmp_path / "checkpoint.npz")[0]["epoch"] == 1


# ---------------------------------------------------------------------------- settings and names
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400"])
def test_nonfinite_learning_rate_in_a_spec_is_refused(value: str) -> None:
    """lr .inf in a spec "completed" and saved NaN weights."""
    text = MLP.replace("lr: 0.2", f"lr: {value}")
    with pytest.raises(SpecError, match="finite number"):
        archdsl.loads(text, "inf.yaml")


def test_nonfinite_settings_from_the_command_line_are_refused(tmp_path: Path, fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(MLP)
    for setting in ("train.optimizer.lr=.inf", "train.clip_grad_norm=.nan", "train.loss.label_smoothing=.nan"):
        assert main(["train", str(spec), "--out", str(tmp_path / "o"), "--set", setting]) == 2
        assert "finite number" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_model_name_cannot_steer_the_default_out(tmp_path: Path, fakes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """name: ../../x made train without --out write (and overwrite metrics.csv) outside out/."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    spec = work / "net.yaml"
    spec.write_text(MLP.replace("name: fake-mlp", "name: ../../../escaped"))
    assert main(["train", str(spec), "--max-steps", "2", "--quiet"]) == 0
    assert (work / "out" / "escaped" / "train" / "metrics.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert sorted(p.name for p in work.iterdir()) == ["net.yaml", "out"]


def test_every_training_error_is_an_archdsl_error() -> None:
    for cls in (TrainingError, TrainingDivergedError, CheckpointError, OutputError):
        assert issubclass(cls, ArchdslError)
