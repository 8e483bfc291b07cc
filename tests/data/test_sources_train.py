"""A spec trains in both frameworks from an image folder, an .npz and a CSV (small generated
images), through ``archdsl train --data PATH``; batches stay identical (losses agree)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_sources import CLASSES, image_folder, make_image

import archdsl.commands.train  # noqa: F401 (registers train)
from archdsl.cli import main

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "keras", "PIL")),
    reason="needs torch, keras and Pillow")

SPEC = """\
archdsl: 1
name: tiny-images
input: [3, 8, 8]
body:
  - conv2d: {filters: 4, kernel: 3, padding: same, bias: false}
  - batchnorm: {}
  - relu: {}
  - dropout: {rate: 0.2}
  - global_avg_pool: {}
  - dense: {units: 3}
train:
  batch_size: 4
  epochs: 2
  optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
  augment: {flip: true}
"""


def sources(root: Path) -> dict[str, Path]:
    folder = image_folder(root / "folder", per_class=5)
    rows = []
    for c, name in enumerate(CLASSES):
        for i in range(5):
            make_image(root / "csv" / f"{name}{i}.png", c, size=(20, 16))
            rows.append((f"{name}{i}.png", name))
    with open(root / "csv" / "list.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    rng = np.random.default_rng(0)
    y = np.arange(15) % 3
    x = (y[:, None, None, None] * 70 + rng.integers(0, 40, size=(15, 8, 8, 3))).astype(np.uint8)
    np.savez(root / "data.npz", x=x, y=y)
    return {"folder": folder, "csv": root / "csv" / "list.csv", "npz": root / "data.npz"}


@pytest.mark.parametrize("kind", ["folder", "csv", "npz"])
def test_trains_in_both_frameworks_from_the_users_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    monkeypatch.setenv("ARCHDSL_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC + ("  images: {resize: 10, random_resized_crop: {scale: [0.5, 1.0]}}\n" if kind == "csv" else ""))
    data = sources(tmp_path)[kind]
    out = tmp_path / f"out-{kind}"
    assert main(["train", str(spec), "--data", str(data), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["dataset"] in ("folder", "list", "data") and r["steps"] == 2 * 4 and r["complete"]
    if kind != "npz":
        assert "decoding images: 15/15" in captured.err
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    torch_loss = [float(x["loss"]) for x in rows if x["framework"] == "torch"]
    keras_loss = [float(x["loss"]) for x in rows if x["framework"] == "keras"]
    np.testing.assert_allclose(torch_loss, keras_loss, rtol=1e-4)  # identical batches, crops, masks
    assert r["val_samples"] == 2 and r["epochs"][-1]["torch"]["val_acc"] is not None
    # a second run reads the decoded cache, not the files
    assert main(["train", str(spec), "--data", str(data), "--out", str(out), "--overwrite", "--json", "--quiet"]) == 0
    again: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert again["epochs"][-1]["torch"]["train_loss"] == r["epochs"][-1]["torch"]["train_loss"]


def test_dataset_in_the_spec_is_found_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ARCHDSL_CACHE", str(tmp_path / "cache"))
    project = tmp_path / "project"
    image_folder(project / "images", per_class=4)
    spec = project / "tiny.yaml"
    spec.write_text(SPEC.replace("train:\n", "train:\n  dataset: images/\n  val_split: 0.25\n"))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(spec), "--out", str(tmp_path / "o"), "--max-steps", "2", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"]["dataset"] == "images/" and r["val_samples"] == 3
