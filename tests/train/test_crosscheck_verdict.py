"""The training cross-check tells round-off from a real mismatch: a float32 run that parts is
rerun in float64 over the same steps; if float64 agrees, the verdict is agree (round-off),
while a convention left native parts in float64 too and the verdict is disagree."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("torch", reason="the training cross-check runs PyTorch")
pytest.importorskip("keras", reason="the training cross-check runs Keras")

import archdsl
from archdsl.trainconfig import CONVENTIONS
from archdsl.training.crosscheck import LOSS_TOLERANCE, train_crosscheck

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="module")
def digits() -> archdsl.Graph:
    return archdsl.load("specs/digits_cnn.yaml")


def test_float32_round_off_is_told_apart_by_a_float64_rerun(digits):
    # A tolerance far below float32 round-off makes the float32 run "part" at once.
    report = train_crosscheck(digits, 6, loss_tolerance=1e-12)
    assert not report.strict_ok and report.first_step_agrees
    assert report.roundoff is not None and report.roundoff.explains
    assert report.roundoff.float64_max_rel_loss_diff <= LOSS_TOLERANCE["float64"]
    assert report.ok and report.as_json()["verdict"] == "agree"
    assert "a float64 rerun of the same steps agrees" in report.notes()[0]
    assert "round-off, not a convention" in report.notes()[0]


def test_a_native_convention_still_disagrees(digits):
    report = train_crosscheck(digits, 6, native=["adam_eps"], loss_tolerance=1e-12)
    assert report.roundoff is not None and not report.roundoff.explains
    assert report.roundoff.float64_max_rel_loss_diff > LOSS_TOLERANCE["float64"]
    assert not report.ok and report.as_json()["verdict"] == "disagree"
    assert "a convention or a lowering differs" in report.notes()[0]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ARCHDSL_DATA"), reason="needs CIFAR-10 (ARCHDSL_DATA)")
def test_flagship_cifar10_crosscheck_passes_in_float32():
    from archdsl.cli import main

    assert main(["crosscheck", "specs/cifar10_cnn.yaml", "--train-steps", "20",
                 "--data-dir", os.environ["ARCHDSL_DATA"], "--no-reference"]) == 0


def test_cli_crosscheck_takes_training_settings(capsys, tmp_path):
    from archdsl.cli import main

    assert main(["crosscheck", "specs/digits_cnn.yaml", "--set", "train.conventions=native"]) == 2
    err = capsys.readouterr().err
    assert "--set train.conventions: a training setting, and this command trains nothing" in err
    assert "hint: train, ablate and crosscheck --train-steps take training settings" in err
    argv = ["crosscheck", "specs/digits_cnn.yaml", "--train-steps", "4", "--no-reference",
            "--out", str(tmp_path), "--json", "--set", "train.conventions=native"]
    assert main(argv) == 1
    train = json.loads(capsys.readouterr().out)["train"]
    assert sorted(train["native"]) == sorted(CONVENTIONS) and train["verdict"] == "disagree"
    assert train["notes"][0].startswith("the gradients differ already at step 1")
