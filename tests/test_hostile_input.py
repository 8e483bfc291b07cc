"""Hostile specs, round 2 (issue 15): expressions, YAML, numbers, imports and limit flags.

Every case runs the real command line in this process and must end with exit code 2 and one
located message: no traceback, no internal error (exit 3), no hang (an alarm turns one into a
failure), at most a few KB of output with every control character escaped. The corpus is
grouped by class; docs/robustness.md counts it.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import pytest

import archdsl
from archdsl.cli import LIMIT_FLAGS, main
from archdsl.errors import LimitError, SpecError
from archdsl.source import Limits

HEAD = "archdsl: 1\nname: t\ninput: [3, 8, 8]\nbody:\n"
MAX_OUTPUT = 4_000  # bytes of stderr a failed command may print
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"hang: still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], limit_s: int = 30
            ) -> tuple[int, str, float]:
    """Run ``archdsl ARGS`` in-process; returns (exit code, stderr, seconds)."""
    start = time.perf_counter()
    with deadline(limit_s):
        rc = main(args)
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    return rc, err, seconds


def assert_clean(rc: int, err: str, where: str | None, pattern: str) -> None:
    """Exit 2, one bounded, escaped message naming ``where`` (``file:line:col``) and ``pattern``."""
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.encode("utf-8")) < MAX_OUTPUT, f"{len(err)} characters of error output"
    assert not UNSAFE.search(err.replace("\n", "")), repr(err[:300])
    if where is not None:
        assert err.startswith(where), err[:300]
    assert re.search(pattern, err), err[:600]


def spec_file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ expressions: cost bounds
TOWER = "(" * 40 + "2" + "**2)" * 40
EXPRESSIONS = [
    ("pow_tower", f'"${{{TOWER}}}"', r"integer beyond ±2\*\*63"),
    ("pow_tower_short", '"${((((((((2**2)**2)**2)**2)**2)**2)**2)**2)}"', "beyond ±2"),
    ("string_times_1e8", "\"${'a' * 100000000}\"", r"limit of 10000(.|\n)*--max-expr-items"),
    ("list_times_1e9", '"${[1] * 1000000000}"', "list of 1000000000 items"),
    ("nested_list_bomb", '"${[[0] * 10000] * 10000}"', "longer than the limit of 10000"),
    ("huge_exponent", '"${10 ** 1000}"', "exponent larger than 64"),
    ("huge_literal", '"${99999999999999999999999999}"', "beyond ±2"),
    ("round_digits", '"${round(5, -10000000)}"', "at most 64 digits"),
    ("printf_format", "\"${'%999999999d' % 1}\"", "needs numbers"),
    ("complex_power", '"${(-8) ** 0.5}"', "complex"),
    ("nan_from_float", "\"${float('nan')}\"", "not a finite number"),
    ("inf_literal", '"${1e999}"', "not a finite number"),
    ("int_of_5000_digits", "\"${int('9' * 5000)}\"", "cannot evaluate|beyond"),
    ("escape_in_string", '"${\'\\\\x1b[31m\'}"', "control character"),
    ("surrogate_in_string", '"${\'\\\\ud800\'}"', "control character"),
    ("deep_parentheses", '"${' + "(" * 300 + "1" + ")" * 300 + '}"', "longer than the limit"),
    ("unary_chain", '"${' + "-" * 451 + '1}"', "greater than 0.*Received: -1"),
    ("index_huge", '"${[1][2 ** 62]}"', "out of range"),
    ("lambda", '"${(lambda: 1)()}"', "not allowed"),
    ("comprehension", '"${[x for x in [1]]}"', "not allowed"),
    ("starred", '"${max(*[1, 2])}"', "not allowed"),
    ("dunder", '"${().__class__}"', "not allowed"),
]


@pytest.mark.parametrize(("case", "value", "pattern"), EXPRESSIONS, ids=[c[0] for c in EXPRESSIONS])
def test_expression_bombs_fail_fast(case, value, pattern, tmp_path, capsys):
    path = spec_file(tmp_path, HEAD + f"  - conv2d: {{filters: {value}, kernel: 1}}\n")
    rc, err, seconds = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:5:", pattern)
    assert seconds < 10, f"{case}: {seconds:.1f} s"


def test_interpolation_bomb_is_bounded(tmp_path, capsys):
    piece = "${'a' * 9000}"
    path = spec_file(tmp_path, HEAD + f"  - relu: {{id: \"x{piece * 50}\"}}\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:5:16", "longer than the limit of 10000")


def test_id_of_100_megabytes(tmp_path, capsys):
    path = spec_file(tmp_path, HEAD + "  - relu: {id: \"${'a' * 100000000}\"}\n")
    rc, err, seconds = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:5:16", "string of 100000000 characters")
    assert seconds < 5


def test_arguments_cannot_double_each_other_to_gigabytes(tmp_path, capsys):
    args = ["a0: x"] + [f"a{i}: \"${{a{i - 1} + a{i - 1}}}\"" for i in range(1, 40)]
    text = "archdsl: 1\nname: t\nargs:\n" + "".join(f"  {a}\n" for a in args)
    path = spec_file(tmp_path, text + "input: [3, 8, 8]\nbody: [{relu: {}}]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:", "longer than the limit of 10000")


# ------------------------------------------------------------------ YAML: size and content
def test_flow_list_of_two_megabytes_fails_fast(tmp_path, capsys):
    body = "args: {x: [" + ", ".join(["1"] * 659_000) + "]}\n"
    path = spec_file(tmp_path, "archdsl: 1\nname: t\ninput: [3, 8, 8]\n" + body
                     + "body: [{relu: {}}]\n")
    assert 1_900_000 < path.stat().st_size < 2_000_000
    rc, err, seconds = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:4:", "more than 200000 values.*\n.*\n.*\n.*--max-yaml-nodes")
    assert "…" in err  # the 2 MB line is shown as a window around the caret
    assert seconds < 8, f"{seconds:.1f} s"


def test_half_a_megabyte_of_scalars_is_quick(tmp_path, capsys):
    items = "".join(f"    - {i}\n" for i in range(60_000))
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nargs:\n  x:\n" + items
                     + "input: [3, 8, 8]\nbody: [{relu: {}}]\n")
    assert path.stat().st_size > 500_000
    start = time.perf_counter()
    archdsl.load(path)
    assert time.perf_counter() - start < 6


YAML_CASES = [
    ("int_literal_of_5000_digits", HEAD + "  - dense: {units: " + "9" * 5000 + "}\n", "5:20",
     "unsupported YAML value.*4300 digits"),
    ("two_documents", HEAD + "  - relu: {}\n---\nname: u\n", "6:1", "one YAML document"),
    ("recursive_alias", "archdsl: 1\nname: t\nx: &a [*a]\n", "3:8", "no complete anchor"),
    ("undefined_alias", "archdsl: 1\nname: *nope\n", "2:7", "no complete anchor"),
    ("duplicate_anchor", "a: &x 1\nb: &x 2\n", "2:4", "duplicate anchor"),
    ("merge_key", "base: &b {name: t}\n<<: *b\n", "2:1", "unsupported YAML value"),
    ("list_as_key", "[a, b]: 1\n", "1:1", "keys must be plain names"),
    ("escape_in_name", 'archdsl: 1\nname: "\\e]0;pwned\\a\\e[31m"\n', "2:7", r"character '\\x1b'"),
    ("surrogate_in_name", 'archdsl: 1\nname: "\\ud800"\n', "2:10", "invalid Unicode"),
    ("c1_control_in_id", HEAD + '  - relu: {id: "a\\x9bb"}\n', "5:16", r"'\\x9b'"),
    ("bidi_override_in_id", HEAD + '  - relu: {id: "a\\u202eb"}\n', "5:16", r"'\\u202e'"),
    ("nul_escape_in_type", HEAD + '  - "relu\\0": {}\n', "5:5", r"'\\x00'"),
    ("escape_in_key", HEAD + '  - relu: {"\\e[2J": 1}\n', "5:12", r"'\\x1b'"),
    ("nested_escape_in_block_doc", "archdsl: 1\nname: t\nblocks:\n  b:\n    doc: \"\\e[5m\"\n"
     "    body: [{relu: {}}]\ninput: [1]\nbody: [{b: {}}]\n", "5:10", r"'\\x1b'"),
]


@pytest.mark.parametrize(("case", "text", "where", "pattern"), YAML_CASES,
                         ids=[c[0] for c in YAML_CASES])
def test_yaml_content_is_refused_with_a_location(case, text, where, pattern, tmp_path, capsys):
    path = spec_file(tmp_path, text)
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:{where}:", pattern)


def test_long_value_in_a_message_is_clipped(tmp_path, capsys):
    value = "x" * 300_000
    path = spec_file(tmp_path, HEAD + f"  - conv2d: {{filters: {value}, kernel: 3}}\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:5:23", "characters omitted")


def test_long_syntax_error_line_shows_a_window_around_the_caret(tmp_path, capsys):
    path = spec_file(tmp_path, "archdsl: 1\nname: [" + "a, " * 100_000 + "b: c: d]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:2:", "invalid YAML")
    excerpt, caret = err.splitlines()[1:3]
    assert excerpt.startswith("    2 | …") and len(excerpt) < 200
    assert caret.index("^") < 200


def test_set_values_are_checked_like_the_file(capsys):
    rc, err, _ = run_cli(["check", "specs/cifar10_cnn.yaml", "--set", "classes=\x1b[2J"], capsys)
    assert_clean(rc, err, "--set:1:1:", "unacceptable character #x001b")
    rc, err, _ = run_cli(["check", "specs/cifar10_cnn.yaml", "--set", 'classes="\\e[2J"'], capsys)
    assert_clean(rc, err, "--set:1:1:", r"'\\x1b'")
    rc, err, _ = run_cli(["check", "specs/cifar10_cnn.yaml", "--set", "classes=\udcff"], capsys)
    assert_clean(rc, err, None, r"lone surrogate '\\udcff'")


# ------------------------------------------------------------------ numbers
def test_input_dimension_of_2_to_the_100(tmp_path, capsys):
    path = spec_file(tmp_path, f"archdsl: 1\nname: t\ninput: [3, {2**100}]\n"
                     "body: [{global_avg_pool: {}}]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:3:12:", f"input dimension {2**100} is larger than the limit"
                 r"(.|\n)*--max-tensor-elements")


def test_input_of_30_billion_elements(tmp_path, capsys):
    path = spec_file(tmp_path, "archdsl: 1\nname: t\ninput: [3, 100000, 100000]\n"
                     "body: [{global_avg_pool: {}}]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:3:8:", "30000000000 elements per sample")
    rc, _, _ = run_cli(["check", str(path), "--max-tensor-elements", str(10**11)], capsys)
    assert rc == 0


def test_unknown_init_that_names_a_path(tmp_path, capsys):
    path = spec_file(tmp_path, "archdsl: 1\nname: t\ninit: /etc/passwd\ninput: [3, 8, 8]\n"
                     "body: [{relu: {}}]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:3:7:", "unknown init scheme.*torch_default.*'/etc/passwd'")
    with pytest.raises(SpecError, match="Did you mean 'he_normal'"):
        archdsl.loads("archdsl: 1\nname: t\ninit: he_nromal\ninput: [3]\nbody: [{relu: {}}]\n")


def test_receptive_field_of_1500_stride_1000_layers_saturates(tmp_path, capsys):
    """Unbounded, the effective stride 1000**1500 has 4,500 digits: exit 3 when printed."""
    layer = "  - conv2d: {filters: 1, kernel: 3, stride: 1000, padding: same, repeat: 1500}\n"
    path = spec_file(tmp_path, HEAD + layer)
    rc, err, _ = run_cli(["check", str(path), "--max-repeat", "2000"], capsys)
    assert rc == 0, err
    g = archdsl.load(path, Limits(max_repeat=2000))
    rf = g["conv2d_1.1499"].rf
    assert rf is not None and str(rf) == "≥1e15" and rf.max == (10**15, 10**15)
    assert str(g["conv2d_1.1"].rf) == "2003"  # 3, then 3 + 2 * 1000: exact while small
    assert main(["check", str(path), "--json", "--compact", "--max-repeat", "2000"]) == 0
    last = json.loads(capsys.readouterr().out)["layers"][-1]
    assert last["receptive_field"]["max"] == [10**15, 10**15]


def test_finite_float_type_refuses_nan_and_inf():
    from pydantic import TypeAdapter, ValidationError

    from archdsl.finite import FiniteFloat, PositiveFiniteFloat

    for bad in (float("nan"), float("inf"), -float("inf"), "nan", "inf", 1e999):
        with pytest.raises(ValidationError, match="finite number"):
            TypeAdapter(FiniteFloat).validate_python(bad)
    with pytest.raises(ValidationError, match="greater than 0"):
        TypeAdapter(PositiveFiniteFloat).validate_python(0.0)
    assert TypeAdapter(FiniteFloat).validate_python(-0.2) == -0.2


# ------------------------------------------------------------------ imports: fan-out and cycles
def fan_out_libraries(root: Path, levels: int = 3, width: int = 400) -> None:
    """lib0 imports lib1 ``width`` times, lib1 imports lib2 ``width`` times...: width**levels."""
    for i in range(levels):
        refs = ", ".join([f"lib{i + 1}.yaml"] * width)
        (root / f"lib{i}.yaml").write_text(f"archdsl: 1\nimport: [{refs}]\n")
    (root / f"lib{levels}.yaml").write_text(
        "archdsl: 1\nblocks:\n  leaf:\n    body: [{relu: {}}]\n"
    )


def test_library_imported_a_million_times_is_read_once(tmp_path, capsys):
    fan_out_libraries(tmp_path, levels=3, width=100)  # 100**3 = a million import paths
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [lib0.yaml]\ninput: [3, 8, 8]\n"
                     "body: [{leaf: {}}]\n")
    rc, err, seconds = run_cli(["check", str(path)], capsys)  # 301 import entries followed
    assert rc == 0 and seconds < 10, err
    fan_out_libraries(tmp_path, levels=3, width=400)  # 400**3 paths, 1201 entries
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, None, r"more than 1000 imports followed(.|\n)*--max-imports")
    assert ".yaml:2:" in err.splitlines()[0]
    rc, err, _ = run_cli(["check", str(path), "--max-imports", "2000"], capsys)
    assert rc == 0, err


def test_import_cycle_through_three_files(tmp_path, capsys):
    for a, b in (("a", "b"), ("b", "c"), ("c", "a")):
        (tmp_path / f"{a}.yaml").write_text(f"archdsl: 1\nimport: [{b}.yaml]\n")
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [a.yaml]\ninput: [1]\n"
                     "body: [{relu: {}}]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{tmp_path / 'c.yaml'}:2:10:", "import cycle: 'a.yaml'")


def test_extends_chain_deeper_than_8(tmp_path, capsys):
    (tmp_path / "b0.yaml").write_text("archdsl: 1\nname: t\ninput: [1]\nbody: [{relu: {}}]\n")
    for i in range(1, 12):
        (tmp_path / f"b{i}.yaml").write_text(f"extends: b{i - 1}.yaml\n")
    rc, err, _ = run_cli(["check", str(tmp_path / "b11.yaml")], capsys)
    assert_clean(rc, err, None, "'extends' chain deeper than 8 files")


# ------------------------------------------------------------------ every limit flag is honoured
SMALL = ("archdsl: 1\nname: t\nargs: {w: 4}\ninput: [3, 8, 8]\nblocks:\n  b:\n"
         "    body: [{conv2d: {id: 'c${w}', filters: '${w * 2}', kernel: 3, padding: same}}]\n"
         "body:\n  - b: {repeat: 3}\n  - relu: {}\n")
# flag -> (a value the small spec exceeds, the message it gives)
FLAG_CASES: dict[str, tuple[int, str]] = {
    "max_file_bytes": (100, "more than the limit of 100"),
    "max_depth": (2, "nesting deeper than 2"),
    "max_yaml_nodes": (20, "more than 20 values"),
    "max_nodes": (3, "more than 3 nodes"),
    "max_block_depth": (0, "blocks nested deeper than 0"),
    "max_repeat": (2, "exceeds the limit of 2"),
    "max_expr_chars": (3, "longer than the limit of 3"),
    "max_expr_items": (0, "longer than the limit of 0"),
    "max_imports": (0, "more than 0 imports"),
    "max_params": (100, "more than 100 parameters"),
    "max_tensor_elements": (100, "more than the limit of 100"),
}


def test_every_limit_has_a_case():
    assert set(FLAG_CASES) == {f.name for f in fields(Limits)} - {"allow_paths"}


@pytest.mark.parametrize("flag", sorted(FLAG_CASES))
def test_every_limit_flag_is_honoured(flag, tmp_path, capsys):
    lib = tmp_path / "lib.yaml"
    lib.write_text("archdsl: 1\nblocks:\n  other:\n    body: [{relu: {}}]\n")
    extra = "import: [lib.yaml]\n" if flag == "max_imports" else ""
    path = spec_file(tmp_path, SMALL + extra)
    value, message = FLAG_CASES[flag]
    option = "--" + LIMIT_FLAGS.get(flag, flag).replace("_", "-")
    assert run_cli(["check", str(path)], capsys)[0] == 0
    rc, err, _ = run_cli(["check", str(path), option, str(value)], capsys)
    assert rc == 2 and message in err, err
    assert "Traceback" not in err
    if flag not in ("max_block_depth", "max_tensor_elements"):  # those two: see robustness.md
        assert option in err, f"the message does not name {option}: {err}"


def test_max_expr_chars_can_also_be_raised(tmp_path, capsys):
    long_expr = "+".join(["1"] * 400)  # 799 characters
    path = spec_file(tmp_path, HEAD + f"  - conv2d: {{filters: '${{{long_expr}}}', kernel: 1}}\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:5:23:", r"799 characters, longer than the limit of 500"
                 r"(.|\n)*--max-expr-chars")
    rc, err, _ = run_cli(["check", str(path), "--max-expr-chars", "1000"], capsys)
    assert rc == 0, err


def test_limits_from_python(tmp_path):
    with pytest.raises(LimitError, match="longer than the limit of 5"):
        archdsl.loads(HEAD + "  - conv2d: {filters: '${2 * 2 * 2}', kernel: 1}\n",
                      limits=Limits(max_expr_chars=5))
    # the next load has its own limits again
    g = archdsl.loads(HEAD + "  - conv2d: {filters: '${2 * 2 * 2}', kernel: 1}\n")
    assert g["conv2d_1"].shape == (8, 8, 8)


# ------------------------------------------------------------------ rendering of messages
def test_message_rendering_is_safe_and_bounded():
    from archdsl.errors import Location, SpecError, remember_source

    line = "name: '" + "x" * 400_000 + "\x1b]0;t\x07'"
    remember_source("mem\x1b.yaml", "archdsl: 1\n" + line + "\n")
    err = SpecError("bad \x1b[31m\ud800 " + "y" * 1_000_000, Location("mem\x1b.yaml", 2, 400_008),
                    hint="\u202eevil")
    text = err.render()
    assert len(text) < MAX_OUTPUT and not UNSAFE.search(text.replace("\n", ""))
    assert text.startswith("mem\\x1b.yaml:2:400008: spec error: bad \\x1b[31m\\ud800 yyy")
    assert "characters omitted" in text and "hint: \\u202eevil" in text
    excerpt, caret = text.splitlines()[1:3]
    assert "…xxx" in excerpt and "\\x1b]0;t\\x07" in excerpt
    assert excerpt[caret.index("^")] == "\\"  # the caret sits under the escaped ESC


def test_errors_never_open_files_to_quote_them(tmp_path):
    from archdsl.errors import Location, SpecError

    secret = tmp_path / "secret.txt"
    secret.write_text("password: hunter2\n")
    assert "hunter2" not in SpecError("x", Location(str(secret), 1, 1)).render()
    assert SpecError("x", Location("/dev/zero", 1, 1)).render() == "/dev/zero:1:1: spec error: x"


def test_corpus_case_names_are_unique():
    names = [c[0] for c in EXPRESSIONS] + [c[0] for c in YAML_CASES]
    assert len(names) == len(set(names))
