"""The shipped zoo by name: ``archdsl list``, ``check/render/build/crosscheck/train NAME``,
the errors for names that are neither a file nor a shipped spec, and the JSON Schema that ships
beside the specs (tests/test_zoo_counts.py checks the models themselves)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl import zoo
from archdsl.cli import COMMAND_HOMES, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
SHIPPED = sorted(p.stem for p in SPECS.glob("*.yaml"))


def test_names_are_the_shipped_specs():
    assert zoo.names() == SHIPPED and len(SHIPPED) >= 20
    assert zoo.shipped_dir() == SPECS.resolve()
    assert zoo.find("resnet50") == zoo.find("resnet50.yaml") == SPECS.resolve() / "resnet50.yaml"
    for bad in ("lib/se", "../specs/resnet50", ".hidden", "", "common"):  # lib/ is no spec
        assert zoo.find(bad) is None


def test_list_prints_every_shipped_spec(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {m.group(1): m.groups() for m in re.finditer(
        r"^│ (\S+) +│ (.+?) +│ +([\d,]+) │ +(\S+) │ (\S+) +│$", out, re.M)}
    assert sorted(rows) == SHIPPED
    assert rows["resnet50"][1:] == ("ResNet", "25,610,152", "4.09G", "3×224×224")
    assert rows["efficientnet_b3"][1:] == ("EfficientNet", "12,320,528", "1.83G", "3×300×300")
    assert rows["se_resnet50"][1] == "SE-ResNet" and rows["googlenet"][1] == "Inception"
    assert rows["digits_cnn"][1:] == ("chapter example", "6,234", "84.2K", "1×8×8")
    assert f"{len(SHIPPED)} specs shipped with archdsl" in out


def test_list_json_matches_the_compiler(capsys):
    assert main(["list", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert sorted(listed) == SHIPPED
    g = archdsl.load(SPECS / "mobilenet_v3_small.yaml")
    assert listed["mobilenet_v3_small"] == {
        "name": "mobilenet_v3_small", "family": "MobileNet", "title": g.name,
        "params": g.params["total"], "macs": g.macs, "input_shapes": [[3, 224, 224]],
        "output_shapes": [[1000]]}


def test_check_by_name_is_the_shipped_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no specs/ here: the name is all there is
    assert main(["check", "resnet18", "--json"]) == 0
    by_name = json.loads(capsys.readouterr().out)
    assert main(["check", str(SPECS / "resnet18.yaml"), "--json"]) == 0
    by_path = json.loads(capsys.readouterr().out)
    assert Path(by_name.pop("file")).resolve() == Path(by_path.pop("file")).resolve()
    assert by_name == by_path and by_name["params"]["total"] == 11_699_112
    assert main(["check", "digits_cnn"]) == 0
    assert "expect: all values match" in capsys.readouterr().out


def test_render_and_expand_by_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["render", "cifar10_cnn", "--depth", "1", "-o", "c.dot"]) == 0
    assert (tmp_path / "c.dot").read_text(encoding="utf-8").startswith("// cifar10-cnn")
    assert main(["render", "digits_cnn", "-o", "d.dot"]) == 0
    assert main(["expand", "digits_cnn"]) == 0
    assert "name: digits-cnn" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(n for n in COMMAND_HOMES if n not in ("schema", "list")))
def test_every_spec_command_takes_a_name(name, tmp_path, monkeypatch):
    """build, crosscheck, train, ablate, import-weights ... resolve the name while parsing,
    before any framework is imported."""
    monkeypatch.chdir(tmp_path)
    parser = build_parser()
    extra = {"build": ["--backend", "torch"],
             "import-weights": ["--from", "keras:ResNet50", "--out", "w.npz"],
             "export": ["--format", "onnx", "-o", "m.onnx"],
             "predict": ["--weights", "w.npz", "x.png"],
             "eval": ["--weights", "w.npz"]}.get(name, [])
    ns = parser.parse_args([name, "digits_cnn", *extra])
    assert Path(ns.spec).resolve() == SPECS.resolve() / "digits_cnn.yaml"


def test_a_file_wins_over_a_shipped_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18").write_text("archdsl: 1\nname: mine\ninput: [1, 4, 4]\nbody:\n"
                                       "  - conv2d: {filters: 2, kernel: 3}\n")
    assert main(["check", "resnet18", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "mine"


def test_a_shipped_name_with_yaml_is_found_like_extends_finds_it(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check", "resnet18.yaml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "resnet18" and out["params"]["total"] == 11_699_112


@pytest.mark.parametrize(("arg", "said"), [
    ("resnt18", "no file 'resnt18' and no shipped spec of that name. Did you mean"),
    ("resnt18.yaml", "cannot read 'resnt18.yaml': no such file"),
])
def test_unknown_names_are_clear_errors(arg, said, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if arg.endswith(".yaml"):  # a file name: the loader's own message (exit code 2)
        assert main(["check", arg]) == 2
    else:
        with pytest.raises(SystemExit) as info:
            main(["check", arg])
        assert info.value.code == 2
    err = capsys.readouterr().err
    assert said in " ".join(err.split()) and "Traceback" not in err
    if arg == "resnt18":
        assert "'resnet18'" in err and "archdsl list" in err


def test_a_missing_path_is_left_to_the_loader(capsys, tmp_path):
    assert main(["check", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_check_by_name_from_a_fresh_process(tmp_path):
    res = subprocess.run([sys.executable, "-m", "archdsl", "check", "filters"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-2:] == [
        "params: 0 trainable + 48 non-trainable = 48   MACs: 49,152", "expect: all values match"]


# ---------------------------------------------------------------------------- the JSON Schema
def test_schema_ships_beside_the_specs():
    shipped = SPECS / zoo.SCHEMA_FILE
    assert shipped.read_text(encoding="utf-8") == (ROOT / "docs" / "archdsl.schema.json").read_text(
        encoding="utf-8"), ("specs/archdsl.schema.json is stale: cp docs/archdsl.schema.json "
                            "specs/ (after python -m archdsl.docgen docs)")
    assert json.loads(shipped.read_text(encoding="utf-8"))["title"] == "archdsl spec"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # shipped in the wheel
    specs_data = re.search(r'^"archdsl.specs" = \[(.*)\]$', pyproject, re.M)
    core_data = re.search(r"^archdsl = \[(.*)\]$", pyproject, re.M)
    assert specs_data and f'"{zoo.SCHEMA_FILE}"' in specs_data.group(1)
    assert core_data and '"assets/*.js"' in core_data.group(1)
    assert '"assets/*.css"' in core_data.group(1)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_spec_names_the_shipped_schema(name):
    first = (SPECS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m, first
    assert (SPECS / m.group(1)).resolve() == (SPECS / zoo.SCHEMA_FILE).resolve()
