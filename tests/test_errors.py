"""Every error kind: one clear message with file:line:col, exit code 2, never a traceback.

The corpus below is the hostile-input suite: each case is a spec text, the location the
message must name, and a pattern the message must contain.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import archdsl
from archdsl.cli import main
from archdsl.errors import ArchdslError, GraphError, LimitError, ShapeError, SpecError

HEAD = "archdsl: 1\nname: t\ninput: [3, 8, 8]\nbody:\n"

# (case id, text, error class, "line:col", message pattern)
CORPUS = [
    ("empty_file", "", SpecError, "1:1", "is empty"),
    ("non_mapping_root", "- relu: {}\n", SpecError, "1:1", "must be a mapping"),
    ("scalar_root", "42\n", SpecError, "1:1", "must be a mapping"),
    ("yaml_syntax", HEAD + "  - conv2d: {filters: 4\n", SpecError, "6:1", "invalid YAML"),
    ("tab_indent", "archdsl: 1\nname: t\n\tinput: [1]\n", SpecError, "3:1", "invalid YAML"),
    ("duplicate_key", "archdsl: 1\nname: a\nname: b\n", SpecError, "3:1", "duplicate key 'name'"),
    ("python_tag", "!!python/object/apply:os.system ['echo hi']\n", SpecError, "1:1",
     "unsupported YAML tag"),
    ("python_tag_nested", HEAD + "  - relu: !!python/name:os.system {}\n", SpecError, "5:11",
     "unsupported YAML"),
    ("unknown_top_key", "archdsl: 1\nnme: t\ninput: [1]\nbody: []\n", SpecError, "2:1",
     "unknown key 'nme'.*Did you mean 'name'"),
    ("missing_name", "archdsl: 1\ninput: [1]\nbody:\n  - relu: {}\n", SpecError, "1:1",
     "missing the required key 'name'"),
    ("wrong_version", "archdsl: 2\nname: t\ninput: [1]\nbody: [{relu: {}}]\n", SpecError, "1:10",
     "'archdsl'"),
    ("body_not_list", "archdsl: 1\nname: t\ninput: [1]\nbody: {relu: {}}\n", SpecError, "4:7",
     "body"),
    ("empty_body", "archdsl: 1\nname: t\ninput: [1]\nbody: []\n", SpecError, "4:7", "empty"),
    ("no_input", "archdsl: 1\nname: t\nbody:\n  - relu: {}\n", SpecError, "1:1", "exactly one of"),
    ("bad_input_shape", "archdsl: 1\nname: t\ninput: [3, 0]\nbody:\n  - relu: {}\n", SpecError,
     "3:8", "positive integers"),
    ("float_input_shape", "archdsl: 1\nname: t\ninput: [3, 2.5]\nbody:\n  - relu: {}\n", SpecError,
     "3:8", "positive integers"),
    ("node_two_keys", HEAD + "  - relu: {}\n    tanh: {}\n", SpecError, "5:5", "one-key mapping"),
    ("node_is_string", HEAD + "  - relu\n", SpecError, "5:5", "one-key mapping"),
    ("args_not_mapping", HEAD + "  - relu: 3\n", SpecError, "5:11", "must be a mapping"),
    ("unknown_layer", HEAD + "  - conv: {filters: 4, kernel: 3}\n", SpecError, "5:5",
     "unknown layer type 'conv'.*conv2d"),
    ("unknown_argument", HEAD + "  - conv2d: {filters: 4, kernal: 3}\n", SpecError, "5:26",
     "no argument 'kernal'.*Did you mean 'kernel'"),
    ("misspelled_synonym", HEAD + "  - conv2d: {filters: 4, kernal_size: 3}\n", SpecError, "5:26",
     "no argument 'kernal_size'. Did you mean 'kernel'"),
    ("choice_typo", HEAD + "  - conv2d: {filters: 4, kernel: 3, padding: sme}\n", SpecError,
     "5:46", "Input should be 'valid', 'same' or 'causal'. Received: 'sme'. Did you mean 'same'"),
    ("missing_argument", HEAD + "  - conv2d: {kernel: 3}\n", SpecError, "5:5",
     "needs the argument 'filters'"),
    ("negative_size", HEAD + "  - conv2d: {filters: -4, kernel: 3}\n", SpecError, "5:23",
     "greater than 0.*Received: -4"),
    ("zero_size", HEAD + "  - conv2d: {filters: 0, kernel: 3}\n", SpecError, "5:23",
     "greater than 0"),
    ("float_size", HEAD + "  - conv2d: {filters: 4.5, kernel: 3}\n", SpecError, "5:23",
     "valid integer.*4.5"),
    ("bool_size", HEAD + "  - dense: {units: true}\n", SpecError, "5:20", "valid integer"),
    ("string_size", HEAD + "  - conv2d: {filters: many, kernel: 3}\n", SpecError, "5:23",
     "valid integer"),
    ("bad_padding", HEAD + "  - conv2d: {filters: 4, kernel: 3, padding: half}\n", SpecError,
     "5:46", "padding"),
    ("kernel_rank", HEAD + "  - conv2d: {filters: 4, kernel: [3, 3, 3]}\n", ShapeError, "5:5",
     "'kernel' needs 1 or 2 values"),
    ("dropout_rate", HEAD + "  - dropout: {rate: 1.5}\n", SpecError, "5:21", "less than 1"),
    ("window_too_big", HEAD + "  - conv2d: {filters: 4, kernel: 9}\n", ShapeError, "5:5",
     "window of size 9 does not fit.*size 8"),
    ("stride_larger_than_input", HEAD + "  - max_pool2d: {pool: 16, stride: 16}\n", ShapeError,
     "5:5", "does not fit"),
    ("wrong_rank", HEAD + "  - conv1d: {filters: 4, kernel: 3}\n", ShapeError, "5:5",
     "expects input of rank 2.*\\[3, 8, 8\\]"),
    ("dense_on_map", HEAD + "  - dense: {units: 3}\n", ShapeError, "5:5",
     "flat input.*add a flatten"),
    ("groups_divide", HEAD + "  - conv2d: {filters: 4, kernel: 3, groups: 2}\n", ShapeError, "5:5",
     "groups=2 must divide the input channels, received 3"),
    ("add_mismatch", HEAD + "  - conv2d: {filters: 4, kernel: 3, id: a}\n"
     "  - conv2d: {filters: 5, kernel: 3, from: input, id: b}\n  - add: {from: [a, b]}\n",
     ShapeError, "7:5", "node 'add_1'.*\\[4, 6, 6\\] and \\[5, 6, 6\\]"),
    ("concat_mismatch", HEAD + "  - conv2d: {filters: 4, kernel: 3, id: a}\n"
     "  - concat: {from: [a, input]}\n", ShapeError, "6:5", "other dims equal"),
    ("multiply_mismatch", HEAD + "  - conv2d: {filters: 4, kernel: 1, id: a}\n"
     "  - multiply: {from: [a, input]}\n", ShapeError, "6:5", "cannot broadcast"),
    ("add_one_input", HEAD + "  - add: {}\n", GraphError, "5:5", "takes at least 2 input"),
    ("relu_two_inputs", HEAD + "  - relu: {from: [input, input]}\n", GraphError, "5:18",
     "takes 1 input"),
    ("unknown_reference", HEAD + "  - relu: {id: a}\n  - relu: {from: b}\n", GraphError, "6:18",
     "unknown node 'b'"),
    ("forward_reference", HEAD + "  - relu: {from: b}\n  - relu: {id: b}\n", GraphError, "5:18",
     "defined later"),
    ("self_reference", HEAD + "  - relu: {id: a, from: a}\n", GraphError, "5:25",
     "own output"),
    ("duplicate_id", HEAD + "  - relu: {id: a}\n  - relu: {id: a}\n", GraphError, "6:5",
     "duplicate node id 'a'"),
    ("bad_id", HEAD + "  - relu: {id: '1abc'}\n", SpecError, "5:16", "'id' must be"),
    ("dangling", HEAD + "  - relu: {id: a}\n  - relu: {from: input}\n", GraphError, "5:5",
     "'a' is never used"),
    ("unknown_output", HEAD + "  - relu: {}\noutputs: [nope]\n", GraphError, "6:11",
     "unknown output 'nope'"),
    ("unknown_block_arg", "archdsl: 1\nname: t\ninput: [3, 4, 4]\nblocks:\n  b:\n"
     "    args: {f: int}\n    body: [{relu: {}}]\nbody:\n  - b: {f: 1, g: 2}\n", SpecError, "9:15",
     "no argument 'g'"),
    ("missing_block_arg", "archdsl: 1\nname: t\ninput: [3, 4, 4]\nblocks:\n  b:\n"
     "    args: {f: int}\n    body: [{relu: {}}]\nbody:\n  - b: {}\n", SpecError, "9:5",
     "needs the argument 'f'"),
    ("block_arg_type", "archdsl: 1\nname: t\ninput: [3, 4, 4]\nblocks:\n  b:\n"
     "    args: {f: int}\n    body: [{relu: {}}]\nbody:\n  - b: {f: 1.5}\n", SpecError, "9:12",
     "must be int"),
    ("recursive_block", "archdsl: 1\nname: t\ninput: [3, 4, 4]\nblocks:\n  b:\n"
     "    body: [{b: {}}]\nbody:\n  - b: {}\n", SpecError, "6:13", "recursive block: b → b"),
    ("mutual_recursion", "archdsl: 1\nname: t\ninput: [3, 4, 4]\nblocks:\n  a:\n"
     "    body: [{b: {}}]\n  b:\n    body: [{a: {}}]\nbody:\n  - a: {}\n", SpecError, "8:13",
     "recursive block: a → b → a"),
    ("unknown_expr_name", HEAD + "  - conv2d: {filters: $width, kernel: 3}\n", SpecError, "5:23",
     "unknown name 'width'"),
    ("expr_syntax", HEAD + "  - conv2d: {filters: '${2 +}', kernel: 3}\n", SpecError, "5:23",
     "invalid expression"),
    ("expr_attribute", HEAD + "  - conv2d: {filters: '${(1).real}', kernel: 3}\n", SpecError,
     "5:23", "'Attribute' is not allowed"),
    ("expr_huge_power", HEAD + "  - conv2d: {filters: '${10 ** 1000}', kernel: 3}\n", SpecError,
     "5:23", "exponent"),
    ("expr_division_by_zero", HEAD + "  - conv2d: {filters: '${1 // 0}', kernel: 3}\n", SpecError,
     "5:23", "cannot evaluate"),
    ("repeat_negative", HEAD + "  - relu: {repeat: -1}\n", SpecError, "5:20", "non-negative integer"),
    ("repeat_too_many", HEAD + "  - relu: {repeat: 100000}\n", LimitError, "5:20",
     "exceeds the limit of 1000"),
    ("missing_import", "archdsl: 1\nname: t\nimport: [nope.yaml]\ninput: [1]\nbody: [{relu: {}}]\n",
     SpecError, "3:10", "cannot find 'nope.yaml'"),
    # round 2 (issue 15): cost bounds, numbers, text and paths; more in tests/test_hostile_*.py
    ("expr_string_bomb", HEAD + "  - relu: {id: \"${'a' * 10**8}\"}\n", LimitError, "5:16",
     "string of 100000000 characters, more than the limit of 10000"),
    ("expr_list_bomb", HEAD + "  - conv2d: {filters: '${[0] * 10**9}', kernel: 1}\n", LimitError,
     "5:23", "list of 1000000000 items"),
    ("expr_power_tower", HEAD + "  - conv2d: {filters: '${((((2**8)**8)**8)**8)}', kernel: 1}\n",
     SpecError, "5:23", "integer beyond ±2\\*\\*63"),
    ("expr_nan", HEAD + "  - conv2d: {filters: \"${float('nan')}\", kernel: 1}\n", SpecError,
     "5:23", "not a finite number"),
    ("expr_long", HEAD + "  - conv2d: {filters: '${" + "1+" * 300 + "1}', kernel: 1}\n",
     LimitError, "5:23", "601 characters, longer than the limit of 500"),
    ("escape_in_type", HEAD + '  - "\\e]0;x\\a": {}\n', SpecError, "5:5", "character '\\\\x1b'"),
    ("surrogate_in_id", HEAD + "  - relu: {id: \"${'\\\\ud800'}\"}\n", SpecError, "5:16",
     "control character"),
    ("huge_int_literal", HEAD + "  - dense: {units: " + "9" * 5000 + "}\n", SpecError, "5:20",
     "4300 digits"),
    ("input_2_to_100", f"archdsl: 1\nname: t\ninput: [3, {2**100}]\nbody: [{{relu: {{}}}}]\n",
     LimitError, "3:12", "larger than the limit of 2000000000"),
    ("unknown_init", "archdsl: 1\nname: t\ninit: ../w.npz\ninput: [1]\nbody: [{relu: {}}]\n",
     SpecError, "3:7", "unknown init scheme"),
    ("import_outside", "archdsl: 1\nname: t\nimport: [/etc/passwd]\ninput: [1]\nbody: [{relu: {}}]\n",
     SpecError, "3:10", "'/etc/passwd' is outside the folders a spec may read from"),
    ("two_documents", HEAD + "  - relu: {}\n---\na: 1\n", SpecError, "6:1", "one YAML document"),
]


@pytest.mark.parametrize(("case", "text", "cls", "where", "pattern"), CORPUS,
                         ids=[c[0] for c in CORPUS])
def test_corpus_message(case, text, cls, where, pattern):
    with pytest.raises(cls, match=pattern) as info:
        archdsl.loads(text, "spec.yaml")
    err = info.value
    assert err.loc is not None, f"{case}: no location"
    assert f"{err.loc.line}:{err.loc.col}" == where
    rendered = err.render(text)
    assert rendered.startswith(f"spec.yaml:{where}: ")
    if err.loc.line <= len(text.splitlines()):
        assert "^" in rendered  # caret excerpt


def test_billion_laughs_is_bounded_and_fast():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(8):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    with pytest.raises(LimitError, match="expands to more than"):
        archdsl.loads("\n".join(lines))
    assert time.perf_counter() - start < 5


def test_deep_nesting_is_bounded():
    with pytest.raises(LimitError, match="nesting deeper than 64"):
        archdsl.loads("[" * 20000 + "]" * 20000)


def test_file_size_limit(tmp_path):
    from archdsl.source import Limits

    p = tmp_path / "big.yaml"
    p.write_text(HEAD + "  - relu: {}\n" * 10)
    with pytest.raises(LimitError, match="more than the limit of 50"):
        archdsl.load(p, Limits(max_file_bytes=50))


def test_node_count_limit():
    from archdsl.source import Limits

    with pytest.raises(LimitError, match="more than 10 nodes"):
        archdsl.loads(HEAD + "  - relu: {repeat: 20}\n", limits=Limits(max_nodes=10))


def test_param_limit():
    from archdsl.source import Limits

    with pytest.raises(LimitError, match="more than 1000 parameters"):
        archdsl.loads("archdsl: 1\nname: t\ninput: [100]\nbody:\n  - dense: {units: 100}\n",
                      limits=Limits(max_params=1000))


def test_override_errors():
    with pytest.raises(SpecError, match="no argument 'widht'.*Did you mean 'width'"):
        archdsl.loads("archdsl: 1\nname: t\nargs: {width: 1}\ninput: [1]\nbody: [{relu: {}}]\n",
                      widht=2)


# ------------------------------------------------------------------ the CLI: exit 2, no traceback
@pytest.mark.parametrize("case", ["unknown_layer", "add_mismatch", "yaml_syntax", "empty_file"])
def test_cli_exit_code_and_no_traceback(case, tmp_path, capsys):
    text = next(c[1] for c in CORPUS if c[0] == case)
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    assert main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"{p}:")
    assert len([ln for ln in err.splitlines() if "error" in ln]) == 1


def test_cli_missing_file(capsys):
    assert main(["check", "does/not/exist.yaml"]) == 2
    assert "cannot read 'does/not/exist.yaml': no such file" in capsys.readouterr().err


def test_cli_binary_file(tmp_path, capsys):
    p = tmp_path / "garbage.yaml"
    p.write_bytes(bytes(range(256)) * 4)
    assert main(["check", str(p)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


def test_cli_bad_set(capsys):
    assert main(["check", "specs/cifar10_cnn.yaml", "--set", "classes"]) == 2
    assert "--set expects key=value" in capsys.readouterr().err


def test_cli_expectation_failure_exit_1(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("archdsl: 1\nname: t\ninput: [3]\nbody:\n  - dense: {units: 2}\nexpect: {params: 9}\n")
    assert main(["check", str(p)]) == 1
    assert "params: expected 9, computed 8" in capsys.readouterr().err


def test_errors_are_archdsl_errors():
    for cls in (SpecError, GraphError, ShapeError, LimitError):
        assert issubclass(cls, ArchdslError)


def test_subprocess_exit_code(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + "  - conv: {}\n")
    r = subprocess.run([sys.executable, "-m", "archdsl", "check", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "unknown layer type 'conv'" in r.stderr
