"""The check / expand / schema commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


# ---------------------------------------------------------------------------- the table
ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^│ (.+?) │ (.+?) │ (.+?) │ +([\d,]*) │ +([\d,]*) │ +(\S*) │$")


def run_cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """``archdsl ARGS`` as a fresh process with stdout a pipe (not a terminal)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "archdsl", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False)


def test_piped_table_is_whole():
    """Through a pipe the table is as wide as its content, whatever COLUMNS says: every id,
    type and digit is there, one line per node, and the totals line is unbroken."""
    res = run_cli("check", "specs/inception_v3.yaml", columns=40)
    assert res.returncode == 0, res.stderr
    g = archdsl.load(ROOT / "specs" / "inception_v3.yaml")
    lines = res.stdout.splitlines()
    rows = [m.groups() for m in map(ROW.match, lines) if m]
    assert [r[0].strip() for r in rows[:-1]] == list(g) and rows[-1][0].strip() == "total"
    assert "…" not in res.stdout
    table = [ln for ln in lines if ln[:1] in "┏┃┡│├└"]
    assert len(table) == len(rows) + 5 and len({len(ln) for ln in table}) == 1  # equally wide
    conv = g["Mixed_7c.branch3x3dbl_1.conv"]
    row = next(r for r in rows if r[0].strip() == conv.id)
    assert row[3] == f"{conv.trainable:,}" and row[4] == f"{conv.macs:,}"
    p = g.params
    assert lines[-2] == (f"params: {p['trainable']:,} trainable + {p['non_trainable']:,} "
                         f"non-trainable = {p['total']:,}   MACs: {g.macs:,}")


def test_width_folds_names_never_numbers(capsys):
    assert main(["check", "specs/resnet18.yaml", "--width", "84"]) == 0
    out = capsys.readouterr().out.splitlines()
    table = [ln for ln in out if ln[:1] in "┏┃┡│├└"]
    assert table and all(len(ln) <= 84 for ln in table)
    assert "11,699,112" in "".join(table) and "1,814,073,344" in "".join(table)
    folded = [ln for ln in table if ln.startswith("│ ") and ln.split("│")[4].strip() == ""]
    assert folded  # continuation lines of folded ids
    assert "…" not in "\n".join(out)


def test_terminal_width_is_used_on_a_terminal(capsys, monkeypatch):
    import shutil as sh

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sh, "get_terminal_size", lambda *a: os.terminal_size((80, 24)))
    assert main(["check", "specs/resnet18.yaml"]) == 0
    table = [ln for ln in capsys.readouterr().out.splitlines() if ln[:1] in "┏┃│└"]
    assert max(map(len, table)) == 80


def test_check_depth_collapses_blocks_like_torchinfo(capsys):
    assert main(["check", "specs/resnet18.yaml", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    g = archdsl.load(ROOT / "specs" / "resnet18.yaml")
    rows = {m.group(1).strip(): m.groups() for m in map(ROW.match, out.splitlines()) if m}
    members = [g[n] for n in g if g[n].scope and g[n].scope[0][0] == "layer2.0"]
    params = sum(n.trainable + n.non_trainable for n in members)
    assert rows["layer2.0"][1].strip() == "basic"
    assert rows["layer2.0"][2].strip() == "128×28×28"
    assert rows["layer2.0"][3] == f"{params:,}"
    assert rows["layer2.0"][4] == f"{sum(n.macs for n in members):,}"
    assert "layer2.0.conv1" not in rows and "fc" in rows and "conv1" in rows
    assert rows["total"][3] == "11,699,112"  # the totals do not change
    assert len(rows) == 1 + 4 + 8 + 2 + 1  # input, stem, 8 blocks, pool and fc, total
    with pytest.raises(SystemExit) as info:
        main(["check", "specs/resnet18.yaml", "--depth", "0"])
    assert info.value.code == 2
    assert "--depth: expected a number of at least 1, received 0" in capsys.readouterr().err


def test_check_json_depth_adds_the_collapsed_rows(capsys):
    assert main(["check", "specs/resnet18.yaml", "--json", "--depth", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["layers"]) == 68  # every layer is still listed
    rows = {r["id"]: r for r in out["summary"]}
    assert out["depth"] == 1 and len(rows) == 1 + 4 + 8 + 2
    assert rows["layer2.0"]["type"] == "basic" and rows["layer2.0"]["output_shape"] == [128, 28, 28]
    assert rows["layer2.0"]["params"] == 230_912 and rows["layer2.0"]["layers"] == 9
    assert sum(r["params"] for r in rows.values()) == out["params"]["total"]
    assert sum(r["macs"] for r in rows.values()) == out["macs"]
    assert main(["check", "specs/resnet18.yaml", "--json"]) == 0
    assert not {"summary", "depth"} & set(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize(("argv", "usage", "message"), [
    (["chek", "specs/digits_cnn.yaml"], "usage: archdsl [-h]",
     "invalid choice: 'chek' (choose from 'check', "),
    (["check", "specs/digits_cnn.yaml", "--widht", "3"], "usage: archdsl check [-h]",
     "unrecognized arguments: --widht 3. Did you mean '--width'?"),
    (["check", "specs/digits_cnn.yaml", "--widht=3"], "usage: archdsl check [-h]",
     "unrecognized arguments: --widht=3. Did you mean '--width'?"),
    (["render", "digits_cnn", "--rankdir", "lr"], "usage: archdsl render [-h]",
     "invalid choice: 'lr' (choose from 'TB', 'LR'). Did you mean 'LR'?"),
])
def test_misspelled_command_option_or_choice_gets_a_suggestion(capsys, argv, usage, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and message in err and "Did you mean '" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "digits_cnn", "--lrate", "0.1"],
     "unrecognized arguments: --lrate 0.1. Training settings are changed with --set: "
     "--set train.optimizer.lr=0.1"),
    (["ablate", "digits_cnn", "--batch-size=32"],
     "--batch-size=32. Training settings are changed with --set: --set train.batch_size=32"),
    (["train", "digits_cnn", "--optimizer", "sgd"], "--set train.optimizer.name=sgd"),
    (["train", "digits_cnn", "--name", "x"], "--set train.optimizer.name=x or --set "
     "train.schedule.name=x or --set train.loss.name=x"),
    (["train", "digits_cnn", "--num-epochs", "3"], "--num-epochs 3. Did you mean '--epochs'?"),
    (["train", "digits_cnn", "--dataset", "mnist"], "--dataset mnist. Did you mean '--data'?"),
])
def test_training_settings_named_as_options_get_the_set_form(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_training_setting_on_a_command_that_does_not_train(capsys):
    assert main(["check", "digits_cnn", "--set", "train.seed=3"]) == 2
    assert capsys.readouterr().err == (
        "spec error: --set train.seed: a training setting, and this command trains nothing\n"
        "hint: train, ablate and crosscheck --train-steps take training settings\n")


def test_settings_hint_only_where_training_settings_exist(capsys):
    with pytest.raises(SystemExit):
        main(["check", "digits_cnn", "--lrate", "0.1"])
    err = capsys.readouterr().err
    assert err.rstrip().endswith("check: error: unrecognized arguments: --lrate 0.1")


def test_memory_estimate_in_text_and_json(capsys):
    # digits: input 1×8×8 = 64 values; 5,002 layer outputs; 6,234 parameters; float32
    assert main(["check", "specs/digits_cnn.yaml", "--json", "--batch", "32"]) == 0
    mem = json.loads(capsys.readouterr().out)["memory"]
    assert mem == {"dtype": "float32", "batch": 32, "input_bytes": 64 * 32 * 4,
                   "activation_bytes": 5_002 * 32 * 4, "param_bytes": 6_234 * 4,
                   "total_bytes": (64 + 5_002) * 32 * 4 + 6_234 * 4}
    assert main(["check", "specs/digits_cnn.yaml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memory"]["activation_bytes"] == 5_002 * 4
    assert main(["check", "specs/digits_cnn.yaml", "--batch", "32"]) == 0
    out = capsys.readouterr().out
    assert ("memory (float32, batch 32): input 8.19 kB, activations 640 kB, params 24.9 kB, "
            "total 673 kB") in out
    assert main(["check", "specs/digits_cnn.yaml"]) == 0
    assert "memory" not in capsys.readouterr().out


def test_20000_node_table_is_fast():
    from archdsl.report import summary_text

    body = "".join("  - relu: {}\n" for _ in range(19_999))
    g = archdsl.loads(f"archdsl: 1\nname: big\ninput: [4]\nbody:\n{body}", "big.yaml")
    assert len(g) == 20_000
    start = time.perf_counter()
    text = summary_text(g)
    seconds = time.perf_counter() - start
    assert text.count("\n│ relu_") == 19_999 and seconds < 2.0, seconds


def test_control_characters_never_reach_the_terminal():
    from archdsl.ir import update
    from archdsl.report import summary_text

    g = archdsl.load(ROOT / "specs" / "cifar10_cnn.yaml")
    g.spec.name = "evil\x1b]0;pwned\x07\ud800"
    update(g.nx, "block1.conv1", type="conv2d")
    text = summary_text(g, depth=1)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b]0;pwned\\x07\\ud800" in text
    text.encode("utf-8")


# ---------------------------------------------------------------------------- options, start-up
def test_yaml_nesting_limit_is_max_yaml_depth(capsys, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("archdsl: 1\nname: d\ninput: [1]\nbody:\n  - relu: {}\ndoc: " + "[" * 30
                    + "]" * 30 + "\n")
    for flag in ("--max-yaml-depth", "--max-depth"):  # the old name still works
        assert main(["check", str(deep), flag, "10"]) == 2
        assert "nesting deeper than 10 levels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--max-yaml-depth N" in text and "--max-depth" not in text
    assert "--depth N" in text and "a spec shipped with archdsl" in text


def test_command_homes_match_the_registry():
    from archdsl import cli

    cli.build_parser()  # every command module
    assert {name: cli.COMMANDS[name][0].__module__ for name in cli.COMMANDS} == cli.COMMAND_HOMES


def test_check_imports_only_what_it_needs():
    code = ("import sys, io, contextlib; from archdsl.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['check', 'specs/resnet18.yaml', '--json'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'torch', 'tensorflow', 'keras', 'matplotlib', 'graphviz') "
            "or m.startswith(('archdsl.commands.', 'archdsl.train', 'archdsl.render'))))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert res.stdout.strip() == "['archdsl.commands.core', 'archdsl.render_style']"


def test_guide_lists_every_optimizer_and_schedule():
    from typing import get_args

    from archdsl.trainconfig import OptimizerConfig, ScheduleConfig

    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    for model, heading in ((OptimizerConfig, "optimizer"), (ScheduleConfig, "schedule")):
        table = guide.split(f"| `{heading}: {{name: ...}}` |", 1)[1].split("\n\n", 1)[0]
        listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
        assert listed == list(get_args(model.model_fields["name"].annotation)), heading


@pytest.mark.parametrize("command", ["train", "ablate", "eval"])
def test_data_flags_become_train_settings(command):
    """--no-verify and --download reach load_dataset through the train settings (unhashed:
    a resumed run may change them)."""
    from archdsl.cli import build_parser, data_changes
    from archdsl.trainconfig import UNHASHED

    extra = ["--weights", "w.npz"] if command == "eval" else []
    ns = build_parser().parse_args([command, "digits_cnn", *extra, "--no-verify", "--download",
                                    "--data", "MNIST"])
    assert data_changes(ns) == {"verify_data": False, "download": True, "dataset": "mnist"}
    ns = build_parser().parse_args([command, "digits_cnn", *extra])
    assert data_changes(ns) == {}
    assert {"verify_data", "download"} <= UNHASHED
