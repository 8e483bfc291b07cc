"""Resume after SIGKILL ends exactly where an uninterrupted run ends; checkpoints are atomic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_training import DIGITS_CNN, fake_frameworks, mlp_graph, real

import archdsl
from archdsl.metrics import strip_timings
from archdsl.trainconfig import TrainConfig
from archdsl.training import CheckpointError, load_checkpoint, run_training, save_checkpoint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

CONFIG = {"dataset": "digits", "batch_size": 128, "epochs": 4, "optimizer": {"name": "sgd", "lr": 0.2, "momentum": 0.9}}

SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import archdsl
import test_training as T
from archdsl.trainconfig import TrainConfig
from archdsl.training import run_training

out, resume, delay, kind = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3]), sys.argv[4]
if kind == "fake":
    graph, backends = T.mlp_graph(), T.fake_frameworks(delay)
    cfg = TrainConfig.model_validate({config!r})
else:
    graph, backends = archdsl.loads(T.DIGITS_CNN, "cnn.yaml"), ("torch", "keras")
    cfg = TrainConfig.model_validate({{"dataset": "digits", "batch_size": 256, "epochs": 3,
                                      "optimizer": {{"name": "adam", "lr": 0.003}}}})
r = run_training(graph, cfg, backends=backends, out_dir=out, resume=resume, progress=False)
print("DONE", r.steps, flush=True)
if len(sys.argv) > 5:  # then an uninterrupted reference run in the same process
    run_training(graph, cfg, backends=backends, out_dir=sys.argv[5], progress=False)
"""


def script(tmp_path: Path) -> Path:
    p = tmp_path / "train_script.py"
    p.write_text(SCRIPT.format(here=str(HERE), config=CONFIG))
    return p


def run_script(path: Path, out: Path, resume: bool, delay: float, kind: str, ref: Path | None = None) -> subprocess.Popen[str]:
    extra = [str(ref)] if ref is not None else []
    return subprocess.Popen(
        [sys.executable, str(path), str(out), "1" if resume else "0", str(delay), kind, *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def checkpoint_epoch(out: Path) -> int:
    try:
        meta, _ = load_checkpoint(out / "checkpoint.npz")
    except (CheckpointError, FileNotFoundError):
        return 0
    return int(meta["epoch"])


def kill_after_first_epoch(proc: subprocess.Popen[str], out: Path, timeout: float, extra: float) -> int:
    """SIGKILL ``proc`` ``extra`` seconds after its first checkpoint; returns that epoch count."""
    deadline = time.monotonic() + timeout
    while checkpoint_epoch(out) < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)
    time.sleep(extra)
    epoch = checkpoint_epoch(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return epoch


def assert_same_run(a: Path, b: Path) -> None:
    ja = json.loads((a / "metrics.json").read_text())
    jb = json.loads((b / "metrics.json").read_text())
    assert jb["resumed_from"] is not None and ja["resumed_from"] is None
    assert strip_timings({**ja, "files": None}) == strip_timings({**jb, "files": None})
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    _, sa = load_checkpoint(a / "checkpoint.npz")
    _, sb = load_checkpoint(b / "checkpoint.npz")
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    cfg = TrainConfig.model_validate(CONFIG)
    done = run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=ref, progress=False)
    assert done.complete and len(done.epochs) == 4

    out = tmp_path / "killed"
    path = script(tmp_path)
    proc = run_script(path, out, resume=False, delay=0.03, kind="fake")
    epoch = kill_after_first_epoch(proc, out, timeout=60, extra=0.3)
    assert 1 <= epoch < 4
    if (out / "metrics.json").exists():  # the kill may land before the first one is written
        assert not json.loads((out / "metrics.json").read_text())["complete"]

    resumed = run_script(path, out, resume=True, delay=0.0, kind="fake")
    stdout, stderr = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, stderr
    assert stdout.strip() == f"DONE {done.steps}"
    # resumed_from.epoch is 1-based: the epoch the resumed run started in
    assert json.loads((out / "metrics.json").read_text())["resumed_from"]["epoch"] == epoch + 1
    assert_same_run(ref, out)


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    cfg = TrainConfig.model_validate({**CONFIG, "epochs": 1})
    run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=tmp_path, progress=False)
    ckpt = tmp_path / "checkpoint.npz"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(ckpt)):
        run_training(mlp_graph(), cfg, backends=fake_frameworks(), out_dir=tmp_path, resume=True, progress=False)


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, {"format": 1, "epoch": 1}, {"w": np.arange(3.0)})

    def broken(fd: int) -> None:  # the new bytes sit in the temp file; flushing them fails
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"format": 1, "epoch": 2}, {"w": np.arange(4.0)})
    monkeypatch.undo()
    meta, arrays = load_checkpoint(path)
    assert meta["epoch"] == 1 and arrays["w"].tolist() == [0.0, 1.0, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]  # no temp file left


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    np.savez(path, w=np.zeros(2))
    with pytest.raises(CheckpointError, match=r"unreadable checkpoint \(KeyError"):
        load_checkpoint(path)


@real
def test_real_frameworks_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    """PyTorch and Keras trainers: stop after epoch 1, resume for epoch 2 from the checkpoint
    (new models, new trainers), and compare with a 2-epoch run, in this process."""
    g = archdsl.loads(DIGITS_CNN, "cnn.yaml")
    cfg = TrainConfig.model_validate({"dataset": "digits", "batch_size": 256, "epochs": 2, "optimizer": {"name": "adam", "lr": 0.003}})
    ref, out = tmp_path / "ref", tmp_path / "resumed"
    run_training(g, cfg, out_dir=ref, progress=False)
    run_training(g, cfg, out_dir=out, epochs=1, progress=False)
    run_training(g, cfg, out_dir=out, epochs=2, resume=True, progress=False)
    ja, jb = (json.loads((d / "metrics.json").read_text()) for d in (ref, out))
    assert strip_timings({**ja, "files": None}) == strip_timings({**jb, "files": None})
    assert (ref / "metrics.csv").read_text() == (out / "metrics.csv").read_text()


@pytest.mark.slow
@real
def test_real_frameworks_resume_after_sigkill(tmp_path: Path) -> None:
    """PyTorch and Keras trainers: kill after the first epoch, resume, and compare with an
    uninterrupted run (made by the resuming process afterwards, to save a start-up)."""
    path = script(tmp_path)
    out, ref = tmp_path / "killed", tmp_path / "ref"
    proc = run_script(path, out, resume=False, delay=0.0, kind="real")
    epoch = kill_after_first_epoch(proc, out, timeout=120, extra=0.2)
    assert 1 <= epoch < 3
    resumed = run_script(path, out, resume=True, delay=0.0, kind="real", ref=ref)
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    assert_same_run(ref, out)
