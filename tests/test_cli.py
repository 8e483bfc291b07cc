"""The check / expand / schema commands."""

from __future__ import annotations

import json

import yaml

import archdsl
from archdsl.cli import main


def test_check_json_fields(capsys):
    assert main(["check", "specs/cifar10_cnn.yaml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "cifar10-cnn"
    assert out["input_shapes"] == [[3, 32, 32]] and out["output_shapes"] == [[10]]
    assert out["params"] == {"trainable": 293034, "non_trainable": 896, "total": 293930}
    assert out["macs"] == 29496320
    first = out["layers"][0]
    assert first["id"] == "block1.conv1" and first["type"] == "conv2d"
    assert first["output_shape"] == [32, 32, 32] and first["params"] == 896
    assert first["macs"] == 884736 and first["receptive_field"]["max"] == [3, 3]
    assert {"id", "type", "output_shape", "params", "macs", "receptive_field"} <= set(first)


def test_check_table(capsys):
    assert main(["check", "specs/cifar10_cnn.yaml"]) == 0
    out = capsys.readouterr().out
    assert "block3.conv2" in out and "128×4×4" in out
    assert "293,034 trainable + 896 non-trainable" in out
    assert "expect: all values match" in out


def test_check_set_override(capsys):
    assert main(["check", "specs/cifar10_cnn.yaml", "--json", "--set", "classes=100"]) == 0
    assert json.loads(capsys.readouterr().out)["output_shapes"] == [[100]]
    assert main(["check", "specs/cifar10_cnn.yaml", "--set", "classes=100"]) == 0
    assert "expect: not checked (spec overridden with --set / --input-shape)" in capsys.readouterr().out


def test_expand_round_trips(tmp_path, capsys):
    out = tmp_path / "flat.yaml"
    assert main(["expand", "specs/cifar10_cnn.yaml", "-o", str(out)]) == 0
    flat = yaml.safe_load(out.read_text())
    assert len(flat["body"]) == 26 and "blocks" not in flat
    g1, g2 = archdsl.load("specs/cifar10_cnn.yaml"), archdsl.load(out)
    assert g1.params == g2.params and list(g1) == list(g2)


def test_schema_command(tmp_path):
    out = tmp_path / "schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert schema["title"] == "archdsl spec" and "conv2d" in schema["$defs"]


def test_input_shape_override(capsys):
    assert main(["check", "specs/resnet18.yaml", "--json", "--input-shape", "3,64,64"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["input_shapes"] == [[3, 64, 64]] and out["output_shapes"] == [[1000]]
    assert out["params"]["trainable"] == 11_689_512
