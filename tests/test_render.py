"""Diagrams: golden DOT files, determinism, depth collapsing, skip edges chosen from the
structure, escaping of hostile names, SVG/PNG through Graphviz, the size limit, the missing-
and failing-``dot`` paths and argument errors. (The HTML page: tests/test_render_html.py.)

Regenerate the golden files after an intended change of the drawing with
``ARCHDSL_UPDATE_GOLDEN=1 pytest tests/test_render.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from layer_cases import CASE_IDS, CASES

import archdsl
from archdsl import render_style
from archdsl.errors import SpecError
from archdsl.layers import get_layer
from archdsl.render import (
    FORMATS,
    Box,
    Cluster,
    GraphvizMissing,
    diagram,
    render,
    to_dot,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden" / "render"
CIFAR = ROOT / "specs" / "cifar10_cnn.yaml"
UPDATE = os.environ.get("ARCHDSL_UPDATE_GOLDEN") == "1"
NO_DOT = "Graphviz 'dot' binary not installed"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason=NO_DOT)

# Residual blocks (projection shortcut), a squeeze-excitation gate (multiply) nested in a
# stage block, and an Inception-style concat: every merge kind and two levels of blocks.
RESIDUAL = textwrap.dedent("""\
    archdsl: 1
    name: residual-concat
    input: [3, 32, 32]
    blocks:
      basic:
        args: {filters: int, stride: 1}
        body:
          - conv2d: {filters: $filters, kernel: 3, stride: $stride, padding: same, bias: false}
          - batchnorm: {}
          - relu: {}
          - conv2d: {filters: $filters, kernel: 3, padding: same, bias: false}
          - batchnorm: {id: main}
          - conv2d: {from: $in, filters: $filters, kernel: 1, stride: $stride, bias: false, id: proj}
          - add: {from: [main, proj]}
          - relu: {}
      se:
        args: {filters: int}
        body:
          - global_avg_pool: {keepdims: true, id: squeeze}
          - conv2d: {filters: 4, kernel: 1}
          - relu: {}
          - conv2d: {filters: $filters, kernel: 1}
          - sigmoid: {id: gate}
          - multiply: {from: [$in, gate], id: scaled}
      stage:
        args: {filters: int}
        body:
          - basic: {filters: $filters, stride: 2, id: down}
          - se: {filters: $filters}
      mixed:
        args: {filters: int}
        body:
          - conv2d: {filters: $filters, kernel: 1, id: b1}
          - conv2d: {from: $in, filters: $filters, kernel: 3, padding: same, id: b3}
          - max_pool2d: {from: $in, pool: 3, stride: 1, padding: same, id: pool}
          - concat: {from: [b1, b3, pool], id: cat}
    body:
      - conv2d: {filters: 16, kernel: 3, padding: same, id: stem}
      - stage: {filters: 32, id: stage1}
      - mixed: {filters: 16, id: mix}
      - dropout: {rate: 0.2}
      - global_avg_pool: {}
      - dense: {units: 10}
    """)

NODE_RE = re.compile(r'^\s*("[^"]+") \[label=', re.M)
EDGE_RE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[(.*)\];$', re.M)


@pytest.fixture(scope="module")
def cifar() -> archdsl.Graph:
    return archdsl.load(CIFAR)


@pytest.fixture(scope="module")
def residual() -> archdsl.Graph:
    return archdsl.loads(RESIDUAL, "residual.yaml")


def node_names(dot: str) -> list[str]:
    return [m.strip('"') for m in NODE_RE.findall(dot)]


def edges(dot: str) -> dict[tuple[str, str], str]:
    return {(a, b): attrs for a, b, attrs in EDGE_RE.findall(dot)}


def node_attrs(dot: str, name: str) -> str:
    line = next(ln for ln in dot.splitlines() if ln.strip().startswith(f'"{name}" [label='))
    return line


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"missing golden file {path}; create it with ARCHDSL_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{name} differs from the golden file; if the change is intended, regenerate with "
        "ARCHDSL_UPDATE_GOLDEN=1 pytest tests/test_render.py and review the diff"
    )


# ---------------------------------------------------------------------------- golden files
@pytest.mark.parametrize(
    ("golden", "which", "depth"),
    [
        ("cifar10_cnn.dot", "cifar", None),
        ("cifar10_cnn_depth1.dot", "cifar", 1),
        ("residual_concat.dot", "residual", None),
        ("residual_concat_depth1.dot", "residual", 1),
        ("residual_concat_depth2.dot", "residual", 2),
    ],
)
def test_golden_dot(golden, which, depth, request):
    g = request.getfixturevalue(which)
    check_golden(golden, to_dot(g, depth=depth))


def test_golden_files_are_valid_dot_syntax():
    """Every golden file parses (balanced braces, one digraph); with dot installed, dot reads it."""
    files = sorted(GOLDEN.glob("*.dot"))
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.count("{") == text.count("}"), path
        assert text.count("digraph ") == 1, path
        if shutil.which("dot"):
            subprocess.run(["dot", "-Tcanon", str(path)], check=True, capture_output=True)


# ---------------------------------------------------------------------------- determinism
def test_two_runs_identical(cifar, residual):
    for g in (cifar, residual):
        for depth in (None, 1, 2):
            assert to_dot(g, depth=depth) == to_dot(g, depth=depth)
    again = archdsl.loads(RESIDUAL, "residual.yaml")
    assert to_dot(again) == to_dot(residual)


def test_identical_across_processes_and_hash_seeds(residual):
    """No set or dict-of-hash ordering leaks into the output (PYTHONHASHSEED differs)."""
    code = (
        "import sys, archdsl; from archdsl.render import to_dot; "
        "sys.stdout.buffer.write(to_dot(archdsl.loads(sys.stdin.read(), 'residual.yaml'))"
        ".encode())"
    )
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        res = subprocess.run([sys.executable, "-c", code], input=RESIDUAL.encode(), env=env,
                             capture_output=True, check=True, cwd=ROOT)
        outs.add(res.stdout.decode())
    assert outs == {to_dot(residual)}


def test_no_addresses_paths_or_times(cifar):
    text = to_dot(cifar)
    assert "0x" not in text
    assert str(ROOT) not in text
    assert "cifar10_cnn.yaml" not in text  # the file path depends on how it was loaded


# ---------------------------------------------------------------------------- content
def test_boxes_show_id_type_arguments_and_params(cifar):
    text = to_dot(cifar)
    conv = node_attrs(text, "block1.conv1")
    assert "<b>conv1</b>" in conv and "conv2d" in conv and "3×3, 32 · 896 params" in conv
    assert "p=0.2" in node_attrs(text, "block1.drop")
    assert "2×2 /2" in node_attrs(text, "block1.pool")
    assert "10 units · 5,130 params" in node_attrs(text, "logits")
    assert "params" not in node_attrs(text, "block1.act1").split("tooltip=")[0]  # 0 params


def test_names_that_say_the_type_are_not_repeated():
    g = archdsl.loads("archdsl: 1\nname: t\ninput: [3, 8, 8]\nbody:\n"
                      "  - conv2d: {filters: 3, kernel: 1, id: conv}\n  - relu: {id: relu}\n"
                      "  - add: {from: [conv, relu], id: add}\n  - relu: {}\n")
    text = to_dot(g)
    assert "<b>conv</b>&#160;&#160;" in node_attrs(text, "conv")  # "conv" is not "conv2d"
    assert "<b>relu</b>>, fillcolor" in node_attrs(text, "relu")
    assert "<b>relu_1</b>>, fillcolor" in node_attrs(text, "relu_1")
    assert "xlabel" not in node_attrs(text, "add")


def test_rankdir_lr(cifar):
    text = to_dot(cifar, rankdir="LR")
    assert "graph [rankdir=LR," in text
    assert text.replace("rankdir=LR", "rankdir=TB") == to_dot(cifar)


def test_shapes_on_edges(cifar):
    e = edges(to_dot(cifar))
    assert e[("input", "block1.conv1")] == 'label=" 3×32×32"'
    assert e[("block1.pool", "block1.drop")] == 'label=" 32×16×16"'
    assert e[("logits", "@output.logits")] == 'label=" 10"'


def test_inputs_outputs_and_merges_have_distinct_shapes(residual):
    text = to_dot(residual)
    assert "shape=oval" in node_attrs(text, "input")
    assert "shape=oval" in node_attrs(text, "@output.dense_1")
    for merge, symbol in [("stage1.down.add_1", "+"), ("stage1.se_1.scaled", "×"),
                          ("mix.cat", "‖")]:
        attrs = node_attrs(text, merge)
        assert "shape=circle" in attrs and f"<b>{symbol}</b>" in attrs
    assert "shape=" not in node_attrs(text, "stem").split("tooltip=")[0]  # the default box


def test_category_colours(cifar):
    text = to_dot(cifar)
    for node, category in [("block1.conv1", "convolution"), ("block1.bn1", "normalization"),
                           ("block1.act1", "activation"), ("block1.pool", "pooling"),
                           ("block1.drop", "regularization"), ("logits", "structure")]:
        style = render_style.STYLES[category]
        assert f'fillcolor="{style.fill}", color="{style.border}"' in node_attrs(text, node)
    fills = {s.fill for s in render_style.STYLES.values()}
    assert len(fills) == len(render_style.STYLES)  # categories are told apart


def dashed(text: str) -> set[tuple[str, str]]:
    return {k for k, attrs in edges(text).items() if "style=dashed" in attrs}


def test_skip_edges_are_styled(residual, cifar):
    e = edges(to_dot(residual))
    assert dashed(to_dot(residual)) == {
        # the projection shortcut, from where it forks to the add: shorter than the main path
        ("stem", "stage1.down.proj"),
        ("stage1.down.proj", "stage1.down.add_1"),
        ("stage1.down.relu_2", "stage1.se_1.scaled"),  # SE: x · gate bypasses the gate's path
    }  # the main path and Inception-style concatenated branches stay solid
    for k in dashed(to_dot(residual)):
        assert f'color="{render_style.SKIP_EDGE}"' in e[k]
        assert "constraint" not in e[k]  # skip edges still shape the layout
    assert "style=dashed" not in e[("stage1.down.main", "stage1.down.add_1")]
    assert not any("dashed" in a for a in edges(to_dot(cifar)).values())  # a plain chain


RESNET_BLOCK = """\
archdsl: 1
name: order
input: [8, 16, 16]
body:
  - conv2d: {filters: 8, kernel: 3, padding: same, id: stem}
{branches}
  - add: {from: [main, proj], id: sum}
  - conv2d: {filters: 16, kernel: 1, id: c}
  - add: {from: [sum, c], id: identity}
"""
MAIN = """\
  - conv2d: {from: stem, filters: 16, kernel: 3, stride: 2, padding: same, id: a}
  - batchnorm: {}
  - relu: {}
  - conv2d: {filters: 16, kernel: 3, padding: same, id: b}
  - batchnorm: {id: main}"""
PROJ = "  - conv2d: {from: stem, filters: 16, kernel: 1, stride: 2, id: proj}"


def test_skip_edges_follow_the_structure_not_the_drawing_order():
    """The projection shortcut is dashed whether it is written before or after the main path,
    and an identity shortcut (an edge that bypasses a longer path) is dashed."""
    want = {("stem", "proj"), ("proj", "sum"), ("sum", "identity")}
    for branches in (MAIN + "\n" + PROJ, PROJ + "\n" + MAIN):
        text = to_dot(archdsl.loads(RESNET_BLOCK.replace("{branches}", branches), "order.yaml"))
        assert dashed(text) == want, branches


@pytest.mark.parametrize(("spec", "dashed_edges", "solid_edges"), [
    ("resnet50.yaml", {("maxpool", "layer1.0.downsample.0"),
                       ("layer1.0.downsample.0", "layer1.0.downsample.1"),
                       ("layer1.0.downsample.1", "layer1.0.add"),
                       ("layer1.0.relu3", "layer1.1.add")},
     {("layer1.0.bn3", "layer1.0.add"), ("maxpool", "layer1.0.conv1")}),
    ("inception_v3.yaml", set(), {("Mixed_5b.branch1x1.relu", "Mixed_5b.concat"),
                                  ("Mixed_5b.branch_pool.relu", "Mixed_5b.concat")}),
    ("se_resnet50.yaml", {("layer1.0.bn3", "layer1.0.se.scale")},
     {("layer1.0.se.gate", "layer1.0.se.scale")}),
])
def test_skip_edges_of_zoo_models(spec, dashed_edges, solid_edges):
    text = to_dot(archdsl.load(ROOT / "specs" / spec))
    found = dashed(text)
    assert dashed_edges <= found
    assert not solid_edges & found and solid_edges <= set(edges(text))
    if not dashed_edges:  # Inception: parallel branches into a concat are peers
        assert found == set()


def test_several_inputs_and_outputs():
    g = archdsl.loads(textwrap.dedent("""\
        archdsl: 1
        name: two-heads
        inputs: {image: [3, 8, 8], meta: [5]}
        body:
          - conv2d: {filters: 4, kernel: 3, id: feat}
          - global_avg_pool: {id: pooled}
          - dense: {units: 4, from: meta, id: m}
          - concat: {from: [pooled, m], id: joint}
          - dense: {units: 2, id: head_a}
          - dense: {units: 3, from: joint, id: head_b}
        outputs: [head_a, head_b]
        """))
    text = to_dot(g)
    e = edges(text)
    assert "style=dashed" not in e[("image", "feat")]
    assert "style=dashed" not in e[("meta", "m")]
    assert "style=dashed" not in e[("joint", "head_b")]  # a second head is not a shortcut
    assert "output: head_a" in node_attrs(text, "@output.head_a")
    assert e[("head_b", "@output.head_b")] == 'label=" 3"'


# ---------------------------------------------------------------------------- clusters, depth
def cluster_tree(text: str) -> dict[str, str | None]:
    """Map each cluster to its enclosing cluster (None at top level)."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in text.splitlines():
        m = re.match(r'\s*subgraph "cluster_([^"]+)" \{$', line)
        if m:
            parents[m.group(1)] = stack[-1] if stack else None
            stack.append(m.group(1))
        elif line.strip() == "}" and stack:
            stack.pop()
    return parents


def test_blocks_are_labelled_nested_clusters(cifar, residual):
    text = to_dot(cifar)
    assert cluster_tree(text) == {"block1": None, "block2": None, "block3": None}
    assert "<b>block1</b>: " in text and ">conv_block</font>" in text
    assert cluster_tree(to_dot(residual)) == {
        "stage1": None, "stage1.down": "stage1", "stage1.se_1": "stage1", "mix": None,
    }


def test_depth_collapses_blocks_and_sums_params(cifar, residual):
    full = node_names(to_dot(cifar))
    top = node_names(to_dot(cifar, depth=1))
    assert len(full) == len(cifar) + 1  # every node plus the output terminal
    assert top == ["input", "block1", "block2", "block3", "flatten_1", "logits", "@output.logits"]
    d = diagram(cifar, depth=1)
    for b in ("block1", "block2", "block3"):
        members = [n for n in cifar if cifar[n].scope and cifar[n].scope[0][0] == b]
        want = sum(cifar[n].trainable + cifar[n].non_trainable for n in members)
        assert d.boxes[b].params == want
        assert d.boxes[b].members == members
        assert f"{want:,} params" in node_attrs(to_dot(cifar, depth=1), b)
    assert d.boxes["block1"].params == 896 + 128 + 9248 + 128
    assert d.boxes["block3"].shape == (128, 2, 2)  # the block's output shape
    assert "128×2×2 · 8 layers" in node_attrs(to_dot(cifar, depth=1), "block3")
    assert sum(b.params for b in d.boxes.values()) == cifar.params["total"]
    assert cluster_tree(to_dot(cifar, depth=1)) == {}

    two = diagram(residual, depth=2)
    assert [b.name for b in two.boxes.values() if b.kind == "block"] == [
        "stage1.down", "stage1.se_1"]
    assert cluster_tree(to_dot(residual, depth=2)) == {"stage1": None, "mix": None}
    assert len(node_names(to_dot(residual, depth=2))) < len(node_names(to_dot(residual)))
    one = diagram(residual, depth=1)
    assert one.boxes["stage1"].params == (two.boxes["stage1.down"].params
                                          + two.boxes["stage1.se_1"].params)
    assert sum(b.params for b in one.boxes.values()) == residual.params["total"]
    # a collapsed block's edges: shapes of the real source nodes, skips kept
    e = edges(to_dot(residual, depth=1))
    assert e[("stage1", "mix")] == 'label=" 32×16×16"'
    assert e[("mix", "dropout_1")] == 'label=" 64×16×16"'
    assert not any(a == b for a, b in e)  # no self loops from internal edges


def test_depth_beyond_nesting_is_full_drawing(residual):
    assert to_dot(residual, depth=5) == to_dot(residual).replace("depth=None", "depth=5")


def test_cluster_tree_of_diagram_model(residual):
    d = diagram(residual)
    stage = next(c for c in d.root.children if isinstance(c, Cluster))
    assert (stage.inst, stage.block, stage.level) == ("stage1", "stage", 1)
    inner = [c for c in stage.children if isinstance(c, Cluster)]
    assert [(c.local, c.block, c.level) for c in inner] == [("down", "basic", 2), ("se_1", "se", 2)]
    assert all(isinstance(b, Box) for b in inner[0].children)


# ---------------------------------------------------------------------------- every layer type
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_every_layer_case_draws(case):
    g = archdsl.loads(case.spec(), f"{case.name}.yaml")
    text = to_dot(g)
    for n in g:
        assert f'"{n}" [label=' in text
    assert text.count("{") == text.count("}")


@needs_dot
def test_every_layer_case_is_valid_for_dot():
    text = "".join(to_dot(archdsl.loads(c.spec(), f"{c.name}.yaml")) for c in CASES)
    subprocess.run(["dot", "-Tcanon"], input=text.encode(), check=True, capture_output=True)


def test_key_arguments():
    conv = get_layer("conv2d")
    ka = render_style.key_args
    assert ka("conv2d", conv.parse({"filters": 64, "kernel": 3, "stride": 2})) == "3×3 /2, 64"
    assert ka("conv2d", conv.parse({"filters": 8, "kernel": [1, 3], "stride": [1, 2]})) == (
        "1×3 /1×2, 8")
    assert ka("conv2d", conv.parse({"filters": 8, "kernel": 3, "dilation": 2, "groups": 2})) == (
        "3×3, 8, dilation 2, groups 2")
    assert ka("conv2d", conv.parse({"filters": 1, "kernel": 3, "fixed": "sobel_x"})) == (
        "3×3, 1, fixed sobel_x")
    assert ka("conv1d", get_layer("conv1d").parse({"filters": 4, "kernel": 5}), 1) == "5, 4"
    assert ka("conv_transpose2d", get_layer("conv_transpose2d").parse(
        {"filters": 4, "kernel": 2, "stride": 2})) == "2×2 ↑2, 4"
    assert ka("depthwise_conv2d", get_layer("depthwise_conv2d").parse(
        {"kernel": 3, "multiplier": 2})) == "3×3, M=2"
    assert ka("spatial_dropout", get_layer("spatial_dropout").parse({"rate": 0.3})) == "p=0.3"
    assert ka("avg_pool2d", get_layer("avg_pool2d").parse({"pool": 3, "stride": 1})) == "3×3"
    assert ka("gelu", get_layer("gelu").parse({"approximate": "tanh"})) == "approximate=tanh"
    assert ka("relu", get_layer("relu").parse({})) == ""
    assert render_style.params_text(0, 9) == "9 params, frozen"
    assert render_style.params_text(1, 0) == "1 param"


def test_html_in_names_is_escaped():
    g = archdsl.loads('archdsl: 1\nname: "a<b>&\\"c"\ninput: [1, 4, 4]\nbody:\n'
                      "  - conv2d: {filters: 2, kernel: 3}\n")
    text = to_dot(g)
    assert 'digraph "a<b>&\\"c" {' in text
    assert "<b>a&lt;b&gt;&amp;&quot;c</b>" in text


# ---------------------------------------------------------------------------- size and speed
def test_large_graph_renders_fast():
    """A 300+ node ResNet-like net (repeat) draws in well under a second."""
    text = RESIDUAL.replace(
        "  - stage: {filters: 32, id: stage1}\n",
        "  - stage: {filters: 32, id: stage1}\n  - basic: {filters: 32, repeat: 40}\n",
    )
    g = archdsl.loads(text, "big.yaml")
    assert len(g) > 300
    best = min(_timed(lambda: to_dot(g)) for _ in range(3))
    assert best < 0.5, f"to_dot took {best:.3f}s for {len(g)} nodes"
    assert len(node_names(to_dot(g))) == len(g) + 1
    assert len(node_names(to_dot(g, depth=1))) < 60


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------- files
def test_render_dot_file(cifar, tmp_path):
    out = render(cifar, tmp_path / "sub" / "net.dot", depth=1, rankdir="LR")
    assert out == tmp_path / "sub" / "net.dot"
    assert out.read_bytes() == to_dot(cifar, depth=1, rankdir="LR").encode("utf-8")
    assert sorted(p.name for p in out.parent.iterdir()) == ["net.dot"]  # no temp files left


@needs_dot
def test_render_svg_is_valid_and_names_nodes(cifar, tmp_path):
    out = render(cifar, tmp_path / "cifar.svg")
    text = out.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {el.text for el in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"input", "block1.conv1", "block3.drop", "logits"} <= titles
    assert "cluster_block2" in titles
    assert "3×3, 32 · 896 params" in text
    assert not (tmp_path / "cifar.dot").exists()


@needs_dot
@pytest.mark.parametrize(("ext", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_render_binary_formats(cifar, tmp_path, ext, magic):
    out = render(cifar, tmp_path / f"cifar{ext.upper()}", depth=1)  # extension case ignored
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("ext", [".svg", ".png", ".pdf"])
def test_missing_dot_writes_dot_and_explains(cifar, tmp_path, monkeypatch, ext):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    target = tmp_path / f"cifar{ext}"
    with pytest.raises(GraphvizMissing) as info:
        render(cifar, target, depth=1)
    err = info.value
    assert err.dot_path == tmp_path / "cifar.dot"
    assert err.dot_path.read_text(encoding="utf-8") == to_dot(cifar, depth=1)
    assert not target.exists()
    msg = err.render()
    assert "\n" not in msg
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz",
                 str(err.dot_path)):
        assert hint in msg
    assert isinstance(err, archdsl.ArchdslError)


def test_missing_dot_reported_when_it_cannot_start(cifar, tmp_path, monkeypatch):
    """``which`` finds a ``dot`` that then cannot be started: the same message."""
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: str(tmp_path / "gone" / "dot"))
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        render(cifar, tmp_path / "x.svg")
    assert (tmp_path / "x.dot").exists() and not (tmp_path / "x.svg").exists()


# ---------------------------------------------------------------------------- argument errors
@pytest.mark.parametrize("bad", ["XY", "tb", "", "BT"])
def test_bad_rankdir(cifar, tmp_path, bad):
    for call in (lambda: to_dot(cifar, rankdir=bad),
                 lambda: render(cifar, tmp_path / "x.dot", rankdir=bad)):
        with pytest.raises(SpecError) as info:
            call()
        msg = str(info.value)
        assert "rankdir" in msg and repr(bad) in msg and "TB" in msg and "LR" in msg
    assert not (tmp_path / "x.dot").exists()


@pytest.mark.parametrize("name", ["net.jpg", "net", "net.svg.txt", "net.gv"])
def test_bad_extension(cifar, tmp_path, name):
    with pytest.raises(SpecError) as info:
        render(cifar, tmp_path / name)
    msg = str(info.value)
    assert all(ext in msg for ext in FORMATS)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_bad_depth(cifar, bad):
    with pytest.raises(SpecError, match="depth"):
        to_dot(cifar, depth=bad)


# ---------------------------------------------------------------------------- hostile names
HOSTILE = "ctl\x1b[31m\x07\x00\ud800\u202e\ufffe\n"


def hostile_graph() -> archdsl.Graph:
    """RESIDUAL with ESC, BEL, NUL, a lone surrogate, a bidi override, an XML non-character
    and a newline in its name, block names and block instance ids. The loader refuses them in
    a spec (tests/test_errors.py); the drawing escapes them all the same, so a graph built any
    other way cannot break dot either."""
    from archdsl.ir import update

    g = archdsl.loads(RESIDUAL, "hostile.yaml")
    g.spec.name = HOSTILE + g.spec.name
    for n in g:
        scope = g[n].scope
        update(g.nx, n, scope=tuple((HOSTILE + i, HOSTILE + b) for i, b in scope))
    return g


@pytest.mark.parametrize("depth", [None, 1])
def test_control_characters_are_escaped_in_dot(depth):
    text = to_dot(hostile_graph(), depth=depth)
    text.encode("utf-8")  # no lone surrogate left
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e\ufffe]", text)
    escaped = "ctl\\x1b[31m\\x07\\x00\\ud800\\u202e\\ufffe\\n"
    assert f"<b>{escaped}" in text  # the HTML labels
    assert '"' + escaped.replace("\\", "\\\\") in text  # DOT-quoted names
    for line in text.splitlines()[1:]:  # no name breaks a statement over two lines
        assert line.rstrip().endswith((";", "{", "}")), line


def test_lone_surrogates_are_escaped():
    """The loader refuses them in a spec; anything drawn is escaped all the same."""
    assert render_style.safe("a\ud800b") == "a\\ud800b"
    assert render_style.quote("x\udfff\x1b") == '"x\\\\udfff\\\\x1b"'
    assert render_style.html("<\ud800>") == "&lt;\\ud800&gt;"
    render_style.quote("\ud800").encode("utf-8")


@needs_dot
@pytest.mark.parametrize("depth", [None, 1])
def test_hostile_names_draw_valid_svg(tmp_path, depth):
    out = render(hostile_graph(), tmp_path / "hostile.svg", depth=depth)
    root = ET.fromstring(out.read_bytes())  # well-formed XML: no control character leaked
    titles = {el.text for el in root.iter("{http://www.w3.org/2000/svg}title")}
    assert any(t and t.startswith("ctl\\\\x1b[31m") for t in titles), titles


# ---------------------------------------------------------------------------- size limit, dpi
def no_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make starting any program (``dot``) fail the test."""
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("dot was started")

    monkeypatch.setattr(subprocess, "run", refuse)


def test_a_20000_node_graph_is_refused_before_dot_starts(tmp_path, monkeypatch):
    body = "".join("  - relu: {}\n" for _ in range(19_999))
    g = archdsl.loads(f"archdsl: 1\nname: big\ninput: [4]\nbody:\n{body}", "big.yaml")
    assert len(g) == 20_000
    no_dot(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(archdsl.ArchdslError) as info:
        render(g, tmp_path / "big.svg")
    assert time.perf_counter() - start < 5  # counted, not drawn
    msg = info.value.render()
    assert "20,001 boxes" in msg and "--max-boxes" in msg and "2,000" in msg
    assert "--depth" in msg and not any(tmp_path.iterdir())


def test_too_many_boxes_collapse_to_the_deepest_depth_that_fits(tmp_path, monkeypatch):
    from archdsl import render as render_mod
    from archdsl.diagram import fit_depth

    g = archdsl.load(ROOT / "specs" / "resnet50.yaml")  # 176 boxes in full, 24 at depth 1
    assert (fit_depth(g), fit_depth(g, max_boxes=100), fit_depth(g, 1, 24)) == (None, 1, 1)
    with pytest.raises(archdsl.ArchdslError, match="--max-boxes"):
        fit_depth(g, 1, 23)
    seen: list[str] = []
    monkeypatch.setattr(render_mod, "run_dot", lambda text, *a, **k: seen.append(text) or b"x")
    render(g, tmp_path / "r.svg", max_boxes=100)
    assert seen[0].startswith("// resnet50: drawn by archdsl (depth=1,")
    assert len(node_names(seen[0])) == 24
    with pytest.raises(archdsl.ArchdslError, match="--max-boxes"):
        render(g, tmp_path / "r.svg", depth=2, max_boxes=100)  # the depth asked for: refused
    out = render(g, tmp_path / "r.dot", max_boxes=10)  # the DOT text is never limited
    assert len(node_names(out.read_text(encoding="utf-8"))) == 176


@needs_dot
def test_dpi_scales_png(cifar, tmp_path):
    def size(path: Path) -> tuple[int, int]:
        data = path.read_bytes()
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")

    w1, h1 = size(render(cifar, tmp_path / "a.png", depth=1))
    w2, h2 = size(render(cifar, tmp_path / "b.png", depth=1, dpi=192))
    assert abs(w2 - 2 * w1) <= 2 and abs(h2 - 2 * h1) <= 2
    with pytest.raises(SpecError, match="dpi"):
        render(cifar, tmp_path / "c.png", dpi=0)


# ---------------------------------------------------------------------------- dot failing
def fake_dot(tmp_path: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "dot"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("script", "said"), [
    ("echo 'Error: <stdin>: syntax error in line 3' >&2; exit 1",
     "Graphviz dot exited with code 1: Error: <stdin>: syntax error in line 3"),
    ("kill -SEGV $$", "Graphviz dot was killed by signal 11"),
])
def test_dot_failing_is_a_clear_error(cifar, tmp_path, monkeypatch, script, said):
    from archdsl.render import RenderError

    fake_dot(tmp_path, script, monkeypatch)
    with pytest.raises(RenderError) as info:
        render(cifar, tmp_path / "x.svg", depth=1)
    assert said in info.value.render() and "--depth" in info.value.render()
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.parametrize("spec", ["resnet50.yaml", "efficientnet_b0.yaml", "inception_v3.yaml",
                                  "cifar10_cnn.yaml"])
def test_box_count_is_the_diagrams(spec):
    from archdsl.diagram import box_count

    g = archdsl.load(ROOT / "specs" / spec)
    for depth in (None, 1, 2, 3):
        assert box_count(g, depth) == len(diagram(g, depth).boxes)
