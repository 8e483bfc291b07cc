"""Shipping a trained model (issue 13): a digits run's weights load everywhere, every export
format reproduces the lowering, the exported files run where archdsl cannot be imported, and
``predict`` / ``eval`` agree between the frameworks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import archdsl
from archdsl.cli import main
from archdsl.export import FORMATS, export
from archdsl.weights import WeightsError, load_npz, load_npz_for, load_npz_meta, save_npz

pytestmark = [
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in ("torch", "keras", "onnxruntime")),
        reason="needs torch, keras and onnxruntime (pip install 'archdsl[export]')"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

#: runs an exported file in a process where `import archdsl` fails, on x.npy → y.npy
CHILD = r"""
import sys
sys.modules["archdsl"] = None  # archdsl cannot be imported in this process
try:
    import archdsl  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("archdsl is importable")
import importlib.util
import numpy as np

fmt, path, weights, x_path, y_path, dtypes, extra = sys.argv[1:8]


def source(p):
    spec = importlib.util.spec_from_file_location("shipped", p)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(dtype):
    x = np.load(x_path).astype(dtype)
    if fmt == "torch-src":
        import torch
        mod = source(path)
        cls = mod.load_weights.__annotations__["return"]
        model = mod.load_weights(weights, cls().to(getattr(torch, dtype)))
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
    elif fmt == "torchscript":
        import torch
        with torch.no_grad():
            y = torch.jit.load(path)(torch.from_numpy(x)).numpy()
    elif fmt == "onnx":
        import onnxruntime as ort
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y = s.run(None, {s.get_inputs()[0].name: x})[0]
    else:
        import keras
        keras.config.set_floatx(dtype)
        keras.config.set_dtype_policy(dtype)
        if extra != "-":
            source(extra)  # the companion: registers the custom layers
        if fmt == "keras-src":
            model = source(path).load_weights(weights)
        else:
            model = keras.saving.load_model(path, compile=False)
        xk = np.moveaxis(x, 1, -1) if x.ndim > 2 else x
        y = keras.ops.convert_to_numpy(model(xk, training=False))
    return y


for dtype in dtypes.split(","):
    np.save(y_path.replace(".npy", f"_{dtype}.npy"), np.asarray(run(dtype)))
"""


def run_isolated(tmp: Path, fmt: str, path: Path, weights: Path, x: np.ndarray,
                 dtype: str = "float32", companion: str | None = None) -> np.ndarray:
    """Run an exported file in a fresh `python -I` process where archdsl cannot be imported
    (``dtype``: one, or several comma-separated: then a dict of outputs by dtype)."""
    np.save(tmp / "x.npy", x)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("PYTHONPATH", None)
    r = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, fmt, str(path), str(weights), str(tmp / "x.npy"),
         str(tmp / "y.npy"), dtype, companion or "-"],
        capture_output=True, text=True, timeout=300, cwd=tmp, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    outs = {d: np.load(tmp / f"y_{d}.npy") for d in dtype.split(",")}
    return outs[dtype] if "," not in dtype else outs  # type: ignore[return-value]


def lowering(g: archdsl.Graph, weights, x: np.ndarray, framework: str,
             dtype: str = "float32") -> np.ndarray:
    from archdsl.backends import load_backend

    b = load_backend(framework)
    model = b.build(g, weights=weights, dtype=dtype)
    return b.forward(model, g, x.astype(dtype), nodes=g.outputs)[g.outputs[0]]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A short digits run in both frameworks (2 epochs, the best kept), as a user starts it."""
    out = tmp_path_factory.mktemp("digits_run")
    assert main(["train", str(SPECS / "digits_cnn.yaml"), "--epochs", "2", "--out", str(out),
                 "--quiet", "--save-best"]) == 0
    return out


@pytest.fixture(scope="module")
def digits() -> archdsl.Graph:
    return archdsl.load(SPECS / "digits_cnn.yaml")


def test_a_run_leaves_weights_that_load(run, digits):
    for name in ("weights.npz", "weights.best.npz", "model.pt", "model.keras", "checkpoint.npz"):
        assert (run / name).is_file(), name
    meta = load_npz_meta(run / "weights.npz")
    assert meta["spec"] == "digits-cnn" and meta["dataset"] == "digits"
    assert len(meta["config_hash"]) == 16 and meta["framework"] == "torch"
    assert meta["classes"][:3] == ["0", "1", "2"] and len(meta["normalization"]["mean"]) == 1
    best = load_npz_meta(run / "weights.best.npz")
    assert best["val_acc"] >= meta["val_acc"] or best["epoch"] == meta["epoch"]
    w = load_npz_for(digits, run / "weights.npz")
    ckpt = load_npz_for(digits, run / "checkpoint.npz")  # a checkpoint reads alike
    assert all(np.array_equal(w[n][k], ckpt[n][k]) for n in w for k in w[n])
    import torch

    model = digits.to_torch()
    model.load_state_dict(torch.load(run / "model.pt"))
    from archdsl.backends.torch import get_weights

    assert np.array_equal(get_weights(model, digits)["logits"]["kernel"], w["logits"]["kernel"])


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", ["weights.npz", "checkpoint.npz"])
def test_build_takes_weights_and_checkpoints(run, backend, name, capsys):
    assert main(["build", str(SPECS / "digits_cnn.yaml"), "--backend", backend, "--weights",
                 str(run / name)]) == 0
    assert "matches the analytic count" in capsys.readouterr().out


def test_weights_that_do_not_fit_name_the_node_and_shapes(run, capsys):
    g = archdsl.load(SPECS / "digits_cnn.yaml", width=8)
    with pytest.raises(WeightsError, match=r"node 'conv1', weight 'kernel': expected shape "
                       r"\[8, 1, 3, 3\], received \[16, 1, 3, 3\]"):
        load_npz_for(g, run / "weights.npz")
    assert main(["crosscheck", str(SPECS / "digits_cnn.yaml"), "--set", "width=8",
                 "--weights", str(run / "checkpoint.npz")]) == 2
    assert "received [16, 1, 3, 3]" in capsys.readouterr().err
    with pytest.raises(WeightsError, match="no weights for framework 'jax'"):
        load_npz(run / "checkpoint.npz", framework="jax")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_digits_run_exports_to_every_format(run, digits, fmt, tmp_path):
    weights = load_npz_for(digits, run / "weights.npz")
    suffix = {"onnx": ".onnx", "torchscript": ".pt", "keras": ".keras"}.get(fmt, ".py")
    result = export(digits, fmt, tmp_path / f"digits{suffix}", weights=weights)
    assert result.verified and result.max_abs_diff <= 1e-5, result
    x = np.random.default_rng(3).standard_normal((4, 1, 8, 8)).astype("float32")
    framework = "keras" if fmt.startswith("keras") else "torch"
    got = run_isolated(tmp_path, fmt, Path(result.path), run / "weights.npz", x,
                       companion=result.companion)
    tol = 1e-6 if fmt.endswith("-src") else 1e-5
    assert np.abs(got - lowering(digits, weights, x, framework)).max() <= tol


@pytest.mark.parametrize("spec, shape, fmt", [
    ("cifar10_cnn", None, "torch-src"), ("cifar10_cnn", None, "keras-src"),
    ("resnet18", [3, 64, 64], "torch-src"),
    # 21 s: the keras-src twin of the book CNN's check above covers the same emitters
    pytest.param("resnet18", [3, 64, 64], "keras-src", marks=pytest.mark.slow),
])
def test_generated_sources_run_without_archdsl(spec, shape, fmt, tmp_path):
    """float32 within 1e-6 and float64 within 1e-12 of the lowering, archdsl not importable."""
    g = archdsl.load(SPECS / f"{spec}.yaml", input_shapes=[shape] if shape else None)
    from archdsl.init import init_weights

    w = init_weights(g, "he_normal", seed=2)
    save_npz(tmp_path / "w.npz", w)
    source = tmp_path / "model.py"
    result = export(g, fmt, source, weights=w)
    assert result.verified and result.max_abs_diff <= 1e-6
    assert "archdsl" not in "".join(ln for ln in source.read_text().splitlines()
                                    if ln.startswith(("import", "from")))
    x = np.random.default_rng(0).standard_normal((2, *g.input_shapes[0]))
    framework = "keras" if fmt == "keras-src" else "torch"
    got = run_isolated(tmp_path, fmt, source, tmp_path / "w.npz", x, "float32,float64")
    for dtype, tol in (("float32", 1e-6), ("float64", 1e-12)):
        assert np.abs(got[dtype] - lowering(g, w, x, framework, dtype)).max() <= tol, dtype


@pytest.mark.parametrize("spec, shape", [("cifar10_cnn", None), ("resnet18", [3, 64, 64])])
def test_onnx_book_cnn_and_resnet18(spec, shape, tmp_path):
    g = archdsl.load(SPECS / f"{spec}.yaml", input_shapes=[shape] if shape else None)
    result = export(g, "onnx", tmp_path / "model.onnx")
    assert result.verified and result.max_abs_diff <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(p.stem for p in SPECS.glob("*.yaml")))
def test_onnx_every_zoo_spec(spec, tmp_path):
    """Each shipped spec at a small input: 64×64 (75 for the Inception ones), else its own."""
    g = archdsl.load(SPECS / f"{spec}.yaml")
    c, *size = g.input_shapes[0] if g.input_shapes[0] else [None]
    side = 75 if spec.startswith("inception") else 64
    if len(g.inputs) == 1 and c == 3 and size and min(size) > side:
        g = archdsl.load(SPECS / f"{spec}.yaml", input_shapes=[[3, side, side]])
    result = export(g, "onnx", tmp_path / "model.onnx")
    assert result.verified and result.max_abs_diff <= 1e-5, result


def test_export_cli_json(run, tmp_path, capsys):
    out = tmp_path / "digits.onnx"
    assert main(["export", str(SPECS / "digits_cnn.yaml"), "--weights",
                 str(run / "checkpoint.npz"), "--format", "onnx", "-o", str(out),
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) == {"format", "path", "verified", "verdict", "max_abs_diff", "seconds"}
    assert r["format"] == "onnx" and r["verified"] is True and out.is_file()
    assert r["verdict"] == "agree"
    assert main(["export", str(SPECS / "digits_cnn.yaml"), "--format", "torch-src", "-o",
                 str(tmp_path / "d.py"), "--no-verify", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["verified"] is None and r["max_abs_diff"] is None and r["verdict"] is None
    assert main(["export", str(SPECS / "digits_cnn.yaml"), "--format", "torch-src", "-o",
                 str(tmp_path / "d.py")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "verdict: agree (the export and the torch lowering on a random batch: max abs diff ")


def test_predict_digits_images_agree(run, tmp_path, capsys):
    from PIL import Image

    from archdsl.data import load_dataset

    ds = load_dataset("digits")
    paths = []
    for i in range(4):
        p = tmp_path / f"digit{i}.png"
        Image.fromarray(np.round(ds.x_test[i, 0] * 255).astype("uint8"), "L").save(p)
        paths.append(str(p))
    assert main(["predict", str(SPECS / "digits_cnn.yaml"), "--weights",
                 str(run / "weights.npz"), *paths, "--backend", "both", "--top", "3",
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["agree"] and r["verdict"] == "agree" and r["max_probability_diff"] < 1e-5
    assert [len(e["torch"]) for e in r["images"]] == [3] * 4
    right = sum(e["torch"][0]["class"] == str(y) for e, y in zip(r["images"], ds.y_test))
    assert right >= 3  # the trained CNN reads the PNGs as it read the test set
    assert main(["predict", str(SPECS / "digits_cnn.yaml"), "--weights",
                 str(run / "weights.npz"), *paths, "--backend", "both"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("verdict: agree (torch and keras give the same top-1 class for every "
                           "image; max probability difference ")


def _cifar_dir() -> Path | None:
    for d in (os.environ.get("ARCHDSL_DATA"), ROOT.parent / "shared" / "datasets"):
        if d and (Path(d) / "cifar10").is_dir():
            return Path(d)
    return None


@pytest.mark.skipif(_cifar_dir() is None,
                    reason="CIFAR-10 not found (set ARCHDSL_DATA to a folder with cifar10/)")
def test_predict_cifar10_test_images_agree(tmp_path, capsys):
    from PIL import Image

    from archdsl.data import load_dataset
    from archdsl.init import init_weights

    data = _cifar_dir()
    ds = load_dataset("cifar10", data)
    g = archdsl.load(SPECS / "cifar10_cnn.yaml")
    meta = {"spec": g.name, "dataset": "cifar10", "classes": list(ds.classes),
            "normalization": {"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}}
    save_npz(tmp_path / "w.npz", init_weights(g, "he_normal", seed=0), meta)
    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"cifar{i}.png"))
        Image.fromarray(ds.x_test[i].transpose(1, 2, 0)).save(paths[-1])
    assert main(["predict", str(SPECS / "cifar10_cnn.yaml"), "--weights",
                 str(tmp_path / "w.npz"), *paths, "--backend", "both", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["agree"] and r["verdict"] == "agree" and r["max_probability_diff"] < 1e-5
    assert r["images"][0]["keras"][0]["class"] in ds.classes


def test_eval_digits_agrees_between_frameworks(run, capsys):
    assert main(["eval", str(SPECS / "digits_cnn.yaml"), "--weights", str(run / "weights.npz"),
                 "--data", "digits", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    torch_, keras_ = r["frameworks"]["torch"], r["frameworks"]["keras"]
    assert r["images"] == 359 and torch_["accuracy"] > 0.8
    assert r["accuracy_diff"] == 0.0 and r["loss_diff"] < 1e-5
    assert (r["verdict"], r["loss_tolerance"]) == ("agree", 1e-3) and r["loss_rel_diff"] < 1e-4
    assert torch_["accuracy"] == pytest.approx(load_npz_meta(run / "weights.npz")["val_acc"])
    assert keras_["accuracy"] == torch_["accuracy"]
    assert main(["eval", str(SPECS / "digits_cnn.yaml"), "--weights", str(run / "weights.npz"),
                 "--data", "digits", "--limit", "50"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("verdict: agree (accuracy differs by 0.00 points, loss by ")
    assert last.endswith(" relative, within the tolerance 1e-03)")


@pytest.mark.parametrize(("b", "dtype", "verdict"), [
    ({"val_acc": 0.9, "val_loss": 0.3000001}, "float32", "agree"),
    ({"val_acc": 0.9, "val_loss": 0.3000001}, "float64", "disagree"),
    ({"val_acc": 0.8972, "val_loss": 0.3}, "float32", "disagree"),
    ({"val_acc": 0.9, "val_loss": 0.31}, "float32", "disagree"),
])
def test_eval_verdict_needs_equal_accuracy_and_loss_within_the_tolerance(b, dtype, verdict):
    from archdsl.commands.eval import compare_scores

    r = compare_scores({"val_acc": 0.9, "val_loss": 0.3}, b, dtype)
    assert (r["verdict"], r["agree"]) == (verdict, verdict == "agree")


def test_keras_file_with_custom_layers_loads_without_archdsl(tmp_path):
    """The book CNN's GELU is a helper layer: the .keras file loads after importing the
    companion source written next to it, archdsl not importable."""
    g = archdsl.load(SPECS / "cifar10_cnn.yaml")
    from archdsl.init import init_weights

    w = init_weights(g, "he_normal", seed=4)
    save_npz(tmp_path / "w.npz", w)
    result = export(g, "keras", tmp_path / "cnn.keras", weights=w)
    assert result.verified and result.companion == str(tmp_path / "cnn_layers.py")
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype("float32")
    got = run_isolated(tmp_path, "keras", tmp_path / "cnn.keras", tmp_path / "w.npz", x,
                       companion=result.companion)
    assert np.abs(got - lowering(g, w, x, "keras")).max() <= 1e-6
