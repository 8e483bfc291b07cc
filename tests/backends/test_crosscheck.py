"""PyTorch vs Keras, node by node, for every golden layer case and the chapter's CNN."""

from __future__ import annotations

import json
import os

import pytest
from layer_cases import CASE_IDS, CASES

import archdsl
from archdsl.cli import main
from archdsl.crosscheck import forward_check

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_crosscheck(case, dtype):
    g = archdsl.loads(case.spec(), case.name)
    r = forward_check(g, dtype=dtype)
    assert r.params_match, r.params
    assert r.shapes_match, r.mismatched_shapes
    assert r.first_divergent_node is None, (r.first_divergent_node, r.per_node)
    assert r.max_abs_diff <= (1e-5 if dtype == "float32" else 1e-12)


def test_cifar10_crosscheck_cli_json(capsys):
    assert main(["crosscheck", "specs/cifar10_cnn.yaml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["max_abs_diff"] <= 1e-5 and out["first_divergent_node"] is None
    assert out["params"]["analytic"] == out["params"]["torch"] == out["params"]["keras"] == {
        "trainable": 293034, "non_trainable": 896}
    assert set(out["per_node"]) == set(archdsl.load("specs/cifar10_cnn.yaml"))
    assert out["calibrated"] is False and "allowed" not in out and "worst" not in out


def test_calibrated_cli_json_names_the_tightest_node(capsys):
    assert main(["crosscheck", "specs/cifar10_cnn.yaml", "--calibrated", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["calibrated"] is True
    g = archdsl.load("specs/cifar10_cnn.yaml")
    assert set(out["allowed"]) == set(out["per_node"]) == set(g)
    node, ratio = out["worst"]
    ratios = {n: out["per_node"][n] / out["allowed"][n] for n in g}
    assert ratio == ratios[node] == max(ratios.values()) and 0 < ratio <= 1
    # the allowance is never below the absolute float32 tolerance
    assert min(out["allowed"].values()) >= 1e-5


def test_calibrated_weights_put_batchnorm_outputs_at_unit_scale():
    from archdsl.backends import load_backend
    from archdsl.crosscheck import calibrated_weights, random_inputs

    g = archdsl.load("specs/cifar10_cnn.yaml")
    tb = load_backend("torch")
    out = tb.forward(tb.build(g, weights=calibrated_weights(g)), g, random_inputs(g, 8, seed=1))
    bn = out["block3.bn2"]  # the deepest BatchNorm, on the calibration batch itself
    assert abs(float(bn.mean())) < 0.1 and 0.8 < float(bn.std()) < 1.2


def test_crosscheck_reports_first_divergent_node(monkeypatch):
    """Corrupt one Keras weight: the report must name exactly that node."""
    from archdsl.backends import load_backend

    keras_be = load_backend("keras")
    real_build = keras_be.build

    def broken_build(graph, **kw):
        model = real_build(graph, **kw)
        w = keras_be.get_weights(model, graph)
        w["block2.conv1"]["bias"] = w["block2.conv1"]["bias"] + 0.5
        keras_be.set_weights(model, graph, w)
        return model

    monkeypatch.setattr(keras_be, "build", broken_build)
    r = forward_check(archdsl.load("specs/cifar10_cnn.yaml"))
    assert not r.ok and r.first_divergent_node == "block2.conv1"
    assert r.per_node["block1.drop"] <= 1e-5 and r.per_node["block2.conv1"] > 0.4


def test_build_command(capsys):
    assert main(["build", "specs/cifar10_cnn.yaml", "--backend", "torch"]) == 0
    assert "293,034 trainable + 896 non-trainable parameters (matches" in capsys.readouterr().out
    assert main(["build", "specs/cifar10_cnn.yaml", "--backend", "keras"]) == 0
    assert "(matches the analytic count)" in capsys.readouterr().out


def test_api_to_torch_to_keras():
    import numpy as np
    import torch

    g = archdsl.load("specs/digits_cnn.yaml")
    t, k = g.to_torch(), g.to_keras()
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype("float32")
    t.eval()
    with torch.no_grad():
        yt = t(torch.from_numpy(x)).numpy()
    yk = np.asarray(k(x.transpose(0, 2, 3, 1), training=False))
    assert yt.shape == yk.shape == (3, 10)
    assert np.max(np.abs(yt - yk)) <= 1e-5


def test_dtype_applies_to_the_training_check_too(capsys, tmp_path):
    pytest.importorskip("sklearn", reason="the digits data come from scikit-learn")
    argv = ["crosscheck", "specs/digits_cnn.yaml", "--train-steps", "5", "--out", str(tmp_path)]
    assert main([*argv, "--dtype", "float64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dtype"] == "float64" and out["train"]["dtype"] == "float64"
    assert out["train"]["max_rel_loss_diff"] <= 1e-12 and out["train"]["notes"] == []
    assert main([*argv, "--json"]) == 0  # without --dtype: the spec's train.dtype (float32)
    out = json.loads(capsys.readouterr().out)
    assert out["dtype"] == "float32" and out["train"]["dtype"] == "float32"


# ----------------------------------------------------------- the third vote: numpy reference

#: an odd-size U-Net-like graph: asymmetric 'same' pads, dilated and transposed convs, concat
UNET_ODD = """\
archdsl: 1
name: unet-odd
input: [3, 19, 21]
body:
  - conv2d: {filters: 8, kernel: 3, padding: same}
  - batchnorm: {}
  - relu: {id: e1}
  - conv2d: {filters: 12, kernel: 3, stride: 2, padding: same}
  - relu: {id: e2}
  - conv2d: {filters: 16, kernel: 3, dilation: 2, padding: same}
  - conv2d: {filters: 12, kernel: 3, dilation: 3, padding: 3, id: mid}
  - add: {from: [mid, e2]}
  - conv_transpose2d: {filters: 8, kernel: 3, stride: 2, padding: 1}
  - concat: {from: [conv_transpose2d_1, e1]}
  - depthwise_conv2d: {kernel: 3, dilation: 2, padding: same, multiplier: 2}
  - conv2d: {filters: 2, kernel: 1}
"""


@pytest.mark.parametrize("spec", ["specs/cifar10_cnn.yaml", "unet_odd"])
def test_three_votes_agree_in_float64(spec, capsys, tmp_path):
    if spec == "unet_odd":
        spec = str(tmp_path / "unet_odd.yaml")
        with open(spec, "w", encoding="utf-8") as f:
            f.write(UNET_ODD)
    assert main(["crosscheck", spec, "--dtype", "float64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["reference"] is True and "reference_skipped" not in out
    assert out["departs"] is None and out["departs_at"] is None
    assert out["params"]["reference"] == out["params"]["analytic"]
    assert out["max_abs_diff"] <= 1e-12
    assert max(out["reference_max_abs_diff"].values()) <= 1e-12
    assert set(out["reference_per_node"]) == set(out["per_node"])
    worst = max(max(d.values()) for d in out["reference_per_node"].values())
    assert worst <= 1e-12 and max(out["per_node"].values()) <= 1e-12


def _first(graph, layer_type):
    return next(node.id for node in graph.walk() if node.type == layer_type)


def test_departs_names_torch_when_its_lowering_is_wrong(monkeypatch, capsys):
    """PyTorch's exact GELU lowered as the tanh approximation: PyTorch departs there."""
    from torch import nn

    from archdsl.backends.torch.lower import LOWERINGS

    real = LOWERINGS["gelu"]

    def approximate(*args, **kwargs):
        real(*args, **kwargs)  # whatever the lowering signature, the original still runs
        return nn.GELU(approximate="tanh")

    monkeypatch.setitem(LOWERINGS, "gelu", approximate)
    g = archdsl.load("specs/cifar10_cnn.yaml")
    gelu = _first(g, "gelu")
    r = forward_check(g, dtype="float64")
    assert not r.ok and r.first_divergent_node == gelu
    assert (r.departs, r.departs_at) == ("torch", gelu)
    diffs = r.reference_per_node[gelu]
    assert diffs["torch"] > 1e-6 and diffs["keras"] <= 1e-12
    assert main(["crosscheck", "specs/cifar10_cnn.yaml"]) == 1
    text = capsys.readouterr().out
    assert f"PyTorch departs from the reference at node '{gelu}' (PyTorch " in text
    assert "verdict: disagree" in text


def test_departs_names_keras_when_its_lowering_is_wrong(monkeypatch, capsys):
    """Keras' exact GELU lowered as the tanh approximation: Keras departs; the JSON says so."""
    import keras

    from archdsl.backends.keras.lower import LOWERINGS

    real = LOWERINGS["gelu"]

    def approximate(*args, **kwargs):
        layer = real(*args, **kwargs)
        fn = lambda x: keras.activations.gelu(x, approximate=True)  # noqa: E731
        return keras.layers.Activation(fn, name=layer.name, dtype=layer.dtype_policy)

    monkeypatch.setitem(LOWERINGS, "gelu", approximate)
    g = archdsl.load("specs/cifar10_cnn.yaml")
    gelu = _first(g, "gelu")
    assert main(["crosscheck", "specs/cifar10_cnn.yaml", "--dtype", "float64", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["first_divergent_node"] == gelu
    assert (out["departs"], out["departs_at"]) == ("keras", gelu)
    diffs = out["reference_per_node"][gelu]
    assert diffs["torch"] <= 1e-12 and diffs["keras"] > 1e-6
    assert main(["crosscheck", "specs/cifar10_cnn.yaml"]) == 1
    assert f"Keras departs from the reference at node '{gelu}'" in capsys.readouterr().out


def test_departs_both_when_the_frameworks_agree_against_the_reference(monkeypatch):
    """Both lowerings wrong the same way: they agree with each other, not with the reference."""
    from archdsl import crosscheck

    real = crosscheck.reference_forward

    def shifted(*args, **kwargs):
        out = real(*args, **kwargs)
        out["logits"] = out["logits"] + 1e-3
        return out

    monkeypatch.setattr(crosscheck, "reference_forward", shifted)
    r = forward_check(archdsl.load("specs/cifar10_cnn.yaml"), dtype="float64")
    assert r.first_divergent_node is None and r.max_abs_diff <= 1e-12
    assert (r.departs, r.departs_at) == ("both", "logits") and not r.ok


def test_no_reference_flag(capsys):
    assert main(["crosscheck", "specs/digits_cnn.yaml", "--no-reference", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["reference"] is False and out["reference_skipped"] == "not requested"
    assert out["departs"] is None and "reference" not in out["params"]
    assert out["reference_per_node"] == {} and out["reference_max_abs_diff"] == {}
    assert main(["crosscheck", "specs/digits_cnn.yaml", "--no-reference"]) == 0
    text = capsys.readouterr().out
    assert "reference (numpy): not run (not requested)" in text
    assert text.rstrip().endswith("verdict: agree (PyTorch and Keras)")
