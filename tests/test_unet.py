"""specs/unet.yaml, the segmentation example: a U-Net at an odd, rectangular input size whose
decoder upsamples bilinearly to the exact size of each skip connection (never an integer
factor), checked analytically and then in PyTorch, Keras and the numpy reference at once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import archdsl
from archdsl.cli import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SPEC = Path(__file__).resolve().parent.parent / "specs" / "unet.yaml"
SKIPS = {"dec2.up": "enc2.act2", "dec1.up": "enc1.act2"}


def test_counts_and_per_pixel_logits() -> None:
    g = archdsl.load(SPEC)
    g.check_expectations()
    assert (g.params["trainable"], g.params["non_trainable"]) == (118_627, 640)
    assert g.macs == 204_885_216
    assert g.output_shapes == [(3, 99, 75)]  # class logits at every input pixel


def test_upsampling_returns_to_each_skips_size() -> None:
    g = archdsl.load(SPEC)
    for up, skip in SKIPS.items():
        node = g[up]
        assert node.params.mode == "bilinear" and node.params.align_corners is False
        assert node.shape[1:] == g[skip].shape[1:]
        ins, outs = node.in_shapes[0][1:], node.shape[1:]
        assert all(o % n for n, o in zip(ins, outs)), "not an integer factor: size-based"
    assert [g[u].in_shapes[0][1:] for u in SKIPS] == [(24, 18), (49, 37)]


@pytest.mark.parametrize("shape", [[3, 64, 64], [1, 33, 50]])
def test_other_input_sizes_follow_the_skips(shape: list[int]) -> None:
    g = archdsl.load(SPEC, input_shapes=[shape])
    assert g.output_shapes == [(3, *shape[1:])]
    for up, skip in SKIPS.items():
        assert g[up].shape[1:] == g[skip].shape[1:]


def test_crosscheck_float64_reference_torch_keras_agree(capsys: pytest.CaptureFixture) -> None:
    """``archdsl crosscheck specs/unet.yaml --dtype float64 --json``: the three votes agree to
    1e-12 at every node, with equal parameter counts."""
    pytest.importorskip("torch", reason="needs PyTorch")
    keras = pytest.importorskip("keras", reason="needs Keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras computes float64 only on the TensorFlow backend")
    assert main(["crosscheck", str(SPEC), "--dtype", "float64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["dtype"] == "float64" and out["shapes_match"]
    assert out["first_divergent_node"] is None and out["departs"] is None
    counts = {"trainable": 118_627, "non_trainable": 640}
    assert all(v == counts for v in out["params"].values()), out["params"]
    assert out["reference"] is True
    assert max(out["per_node"].values()) <= 1e-12
    for node, diffs in out["reference_per_node"].items():
        assert diffs["torch"] <= 1e-12 and diffs["keras"] <= 1e-12, (node, diffs)
    assert set(out["per_node"]) == set(archdsl.load(SPEC))
