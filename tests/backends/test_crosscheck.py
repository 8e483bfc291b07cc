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
