"""The source generators, without a framework: coverage of the layer registry, every shipped
spec generated in both targets, and what the files look like."""

from __future__ import annotations

import ast
import subprocess

import pytest

import archdsl
from archdsl.export import ExportError, emit_keras, emit_torch, generate_source, missing
from archdsl.export.format import _ruff
from archdsl.layers import REGISTRY
from archdsl.zoo import names

SPECS = sorted(names())
TARGETS = ("torch-src", "keras-src")


@pytest.mark.parametrize("target", TARGETS)
def test_every_registered_type_has_an_emitter(target):
    assert missing(target) == [], (
        f"layer types without a {target} emitter (add them in archdsl/export/emit_"
        f"{target.split('-')[0]}.py): {missing(target)}")


@pytest.mark.parametrize("table", [emit_torch.EMITTERS, emit_keras.EMITTERS])
def test_a_type_without_an_emitter_fails_naming_it(table):
    g = archdsl.load("specs/digits_cnn.yaml")
    emitter = table.pop("relu")
    try:
        with pytest.raises(ExportError, match="'act1'.*no emitter for layer type 'relu'"):
            generate_source(g, table.target, formatted=False)
        assert "relu" in table.missing()
    finally:
        table["relu"] = emitter
    assert set(table) == set(REGISTRY)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", SPECS)
def test_every_shipped_spec_generates(spec, target):
    g = archdsl.load(f"specs/{spec}.yaml")
    text = generate_source(g, target, formatted=False)
    tree = ast.parse(text)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    allowed = {"torch", "numpy", "typing"} if target == "torch-src" else {"keras", "numpy",
                                                                          "typing"}
    assert imported <= allowed, imported
    assert "def load_weights(" in text


def test_resnet18_reads_like_torchvision():
    text = generate_source(archdsl.load("specs/resnet18.yaml"), "torch-src")
    assert len(text.splitlines()) < 150
    assert text.count("\nclass ") == 3  # the helper GlobalAvgPool, Basic and Resnet18
    assert "class Basic(nn.Module):" in text and "class Resnet18(nn.Module):" in text
    assert "if self.downsample is not None:" in text
    assert "self.layer2 = nn.Sequential(" in text
    forward = text.split("class Resnet18")[1].split("def forward")[1].split("\n\n")[0]
    assert len(forward.splitlines()) <= 15
    assert "x = self.layer4(x)  # (512, 7, 7)" in text


def test_keras_source_names_layers_by_node_id():
    text = generate_source(archdsl.load("specs/resnet18.yaml"), "keras-src")
    assert 'name=f"{name}.conv1"' in text and 'name="fc"' in text
    assert "def basic(" in text and "def build_model() -> keras.Model:" in text
    assert "if downsample:" in text or "def basic2(" in text


RUFF = _ruff()


@pytest.mark.skipif(RUFF is None, reason="needs ruff")
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", ["digits_cnn", "cifar10_cnn", "resnet18", "mobilenet_v3_small"])
def test_generated_source_is_formatted(spec, target, tmp_path):
    path = tmp_path / "model.py"
    path.write_text(generate_source(archdsl.load(f"specs/{spec}.yaml"), target, formatted=False))
    r = subprocess.run([*RUFF, "format", "--isolated", "--check", "--line-length", "88",
                        str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([*RUFF, "check", "--isolated", "--select", "E,F,W", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
