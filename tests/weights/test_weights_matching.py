"""Structural matching, framework-free: spec graphs against synthetic reference layers.

The reference side is a list of :class:`RefLayer` holding numpy arrays, as a framework
importer would make it; no framework is imported.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import archdsl
from archdsl.init import init_weights
from archdsl.layers import REGISTRY
from archdsl.weights import (
    CONV_OR_TRANSPOSED,
    RefLayer,
    SpecLayer,
    WeightsError,
    match_graph,
    match_layers,
    spec_layers,
)

SPECS = Path(__file__).resolve().parents[2] / "specs"

#: two 1×1 branches read the same tensor with the same shapes; only context tells them apart
INCEPTION = """archdsl: 1
name: mini_inception
input: [4, 8, 8]
body:
  - conv2d: {filters: 6, kernel: 3, padding: same, id: stem}
  - conv2d: {from: stem, filters: 5, kernel: 1, id: b1}
  - avg_pool2d: {from: stem, pool: 3, stride: 1, padding: 1, id: pool}
  - conv2d: {from: pool, filters: 5, kernel: 1, id: b2}
  - conv2d: {from: stem, filters: 5, kernel: 1, id: b3}
  - conv2d: {filters: 7, kernel: 3, padding: same, id: b3b}
  - concat: {from: [b1, b2, b3b], id: cat}
  - batchnorm: {id: bn}
  - global_avg_pool: {}
  - dense: {units: 3, id: fc}
"""


def graph(text: str = INCEPTION) -> archdsl.Graph:
    return archdsl.loads(text, "t.yaml")


def zoo(name: str, size: int) -> archdsl.Graph:
    return archdsl.load(SPECS / f"{name}.yaml", input_shapes=[[3, size, size]])


def reference(g: archdsl.Graph, weights: dict, *, order: list[str] | None = None,
              names: dict[str, str] | None = None, graph_mode: bool = True) -> list[RefLayer]:
    """The spec's own weighted layers as reference layers (optionally reordered / renamed)."""
    layers = {s.id: s for s in spec_layers(g)}
    order = order or list(layers)
    names = names or {n: n for n in layers}
    return [RefLayer(names[n], layers[n].kind, weights[n],
                     tuple(names[p] for p in layers[n].parents) if graph_mode else None,
                     dict(layers[n].attrs), layers[n].tags) for n in order]


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for node, arrays in want.items():
        assert set(got[node]) == set(arrays), node
        for k, v in arrays.items():
            assert np.array_equal(got[node][k], v), (node, k)


def random_topological_order(layers: list[SpecLayer], rng: random.Random) -> list[str]:
    pending = {s.id: set(s.parents) for s in layers}
    order: list[str] = []
    while pending:
        pick = rng.choice(sorted(k for k, ps in pending.items() if not ps))
        order.append(pick)
        del pending[pick]
        for ps in pending.values():
            ps.discard(pick)
    return order


# ---------------------------------------------------------------------------- spec side
def test_spec_layers_carry_family_parents_and_context():
    layers = {s.id: s for s in spec_layers(graph())}
    assert list(layers) == ["stem", "b1", "b2", "b3", "b3b", "bn", "fc"]
    assert layers["b2"].kind == "conv" and layers["b2"].parents == ("stem",)
    assert layers["b2"].tags == ("in:avgpool", "slot:1/3")
    assert layers["b1"].tags == ("slot:0/3",) and layers["b3"].tags == ()
    assert layers["bn"].kind == "batchnorm" and layers["bn"].attrs == {"eps": 1e-5}
    assert layers["bn"].parents == ("b1", "b2", "b3b")
    assert layers["fc"].parents == ("bn",) and layers["fc"].tags == ("in:globalpool",)


def test_spec_layers_reject_a_weighted_type_without_family(monkeypatch):
    monkeypatch.setattr(type(REGISTRY["dense"]), "weight_family", None)
    g = graph("archdsl: 1\nname: t\ninput: [4]\nbody:\n  - dense: {units: 2, id: fc}\n")
    with pytest.raises(WeightsError, match="node 'fc': weight import does not know layers of "
                                           "type 'dense'"):
        spec_layers(g)


# ---------------------------------------------------------------------------- graph mode
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_mode_ignores_reference_order_and_names(seed):
    """Reference layers in a random topological order under opaque names: structure (parents,
    pooling context, concat slots, what follows) alone recovers every node."""
    g = graph()
    weights = init_weights(g, "he_normal", seed=seed)
    rng = random.Random(seed)
    order = random_topological_order(spec_layers(g), rng)
    names = {n: f"L{i}" for i, n in enumerate(rng.sample(order, len(order)))}
    m = match_graph(g, reference(g, weights, order=order, names=names))
    assert m.mode == "graph" and m.notes == [] and m.unused == []
    assert_same(m.weights, weights)
    assert dict(m.pairs)["b2"] == names["b2"]


@pytest.mark.parametrize("name,size", [("inception_resnet_v2", 75), ("inception_v3", 75),
                                       ("googlenet", 64), ("xception", 64)])
@pytest.mark.parametrize("seed", [0, 1])
def test_graph_mode_on_zoo_specs(name, size, seed):
    """The same on the zoo's branchiest specs (Inception blocks, separable convolutions)."""
    g = zoo(name, size)
    weights = init_weights(g, "he_normal", seed=seed)
    rng = random.Random(seed)
    order = random_topological_order(spec_layers(g), rng)
    names = {n: f"L{i}" for i, n in enumerate(rng.sample(order, len(order)))}
    m = match_graph(g, reference(g, weights, order=order, names=names))
    assert_same(m.weights, weights)


def test_identical_branches_fall_back_to_order_with_a_note():
    spec = [SpecLayer("x", "conv", {"kernel": (4, 3)}),
            SpecLayer("a", "conv", {"kernel": (2, 4)}, ("x",)),
            SpecLayer("b", "conv", {"kernel": (2, 4)}, ("x",))]
    ref = [RefLayer("r0", "conv", {"kernel": np.zeros((4, 3))}, ()),
           RefLayer("r1", "conv", {"kernel": np.ones((2, 4))}, ("r0",)),
           RefLayer("r2", "conv", {"kernel": np.full((2, 4), 2.0)}, ("r0",))]
    m = match_layers(spec, ref, use_names=False)
    assert m.pairs == [("x", "r0"), ("a", "r1"), ("b", "r2")]
    assert len(m.notes) == 1 and "took 'r1', the first in the reference's order" in m.notes[0]


def test_names_split_structurally_equal_candidates():
    spec = [SpecLayer("x", "conv", {"kernel": (4, 3)}),
            SpecLayer("branch_b", "conv", {"kernel": (2, 4)}, ("x",)),
            SpecLayer("branch_a", "conv", {"kernel": (2, 4)}, ("x",))]
    ref = [RefLayer("r0", "conv", {"kernel": np.zeros((4, 3))}, ()),
           RefLayer("branch_a", "conv", {"kernel": np.ones((2, 4))}, ("r0",)),
           RefLayer("branch_b", "conv", {"kernel": np.full((2, 4), 2.0)}, ("r0",))]
    m = match_layers(spec, ref)
    assert m.pairs[1:] == [("branch_b", "branch_b"), ("branch_a", "branch_a")] and not m.notes


def test_dense_takes_a_1x1_convolution_and_separable_takes_a_pair():
    g = graph("archdsl: 1\nname: t\ninput: [3, 8, 8]\nbody:\n"
              "  - separable_conv2d: {filters: 6, kernel: 3, multiplier: 2, id: sep}\n"
              "  - global_avg_pool: {}\n  - dense: {units: 4, id: fc}\n")
    w = init_weights(g, "he_normal", seed=0)
    ref = [RefLayer("dw", "conv", {"kernel": w["sep"]["depthwise_kernel"]}, ()),
           RefLayer("pw", "conv", {"kernel": w["sep"]["pointwise_kernel"],
                                   "bias": w["sep"]["bias"]}, ("dw",)),
           RefLayer("head", "conv", {"kernel": w["fc"]["kernel"][:, :, None, None],
                                     "bias": w["fc"]["bias"]}, ("pw",))]
    m = match_graph(g, ref)
    assert m.pairs == [("sep", "dw+pw"), ("fc", "head")]
    assert m.weights["fc"]["kernel"].shape == (4, 6)
    assert_same(m.weights, w)
    seq = match_graph(g, [RefLayer(r.name, r.kind, r.arrays) for r in ref])
    assert seq.mode == "sequence" and seq.pairs == m.pairs


def test_batchnorm_eps_difference_is_noted():
    g = graph()
    weights = init_weights(g, seed=0)
    ref = reference(g, weights)
    ref = [RefLayer(r.name, r.kind, r.arrays, r.parents, {"eps": 1e-3}, r.tags)
           if r.kind == "batchnorm" else r for r in ref]
    notes = match_graph(g, ref).notes
    assert notes == ["eps differs at 1 matched layer(s): spec 1e-05, reference 0.001 (first "
                     "'bn' ↔ 'bn'); the imported model computes a different function unless "
                     "the spec is changed"]


# ---------------------------------------------------------------------------- sequence mode
def test_sequence_mode_follows_order_and_prefers_exact_names():
    g = graph()
    weights = init_weights(g, "he_normal", seed=3)
    order = [s.id for s in spec_layers(g)]
    moved = [order[0], order[3], order[1], order[2], *order[4:]]  # b3 defined before b1, b2
    m = match_graph(g, reference(g, weights, order=moved, graph_mode=False))
    assert m.mode == "sequence"
    assert_same(m.weights, weights)
    opaque = {n: f"m{i}" for i, n in enumerate(order)}
    in_order = match_graph(g, reference(g, weights, names=opaque, graph_mode=False))
    assert_same(in_order.weights, weights)


def test_conv_or_transposed_fills_a_transposed_node():
    g = graph("archdsl: 1\nname: t\ninput: [4, 5, 5]\nbody:\n"
              "  - conv_transpose2d: {filters: 2, kernel: 3, stride: 2, id: up}\n")
    w = init_weights(g, seed=0)
    m = match_graph(g, [RefLayer("up.0", CONV_OR_TRANSPOSED, w["up"])])
    assert m.pairs == [("up", "up.0")] and m.mode == "sequence"


# ---------------------------------------------------------------------------- errors
def test_no_counterpart_names_node_shapes_and_candidates():
    g = graph()
    weights = init_weights(g, seed=0)
    ref = reference(g, weights)
    ref[3] = RefLayer("b3", "conv", {"kernel": np.zeros((9, 6, 1, 1))}, ("stem",))  # 9 ≠ 5
    with pytest.raises(WeightsError) as err:
        match_graph(g, ref)
    msg = str(err.value)
    assert msg.startswith("cannot match spec node 'b3' (conv: kernel [5, 6, 1, 1], bias [5]) "
                          "to a reference layer: no unused reference layer has these shapes "
                          "(the node reads 'stem' (reference 'stem'))"), msg
    assert msg.endswith("Nearest reference candidates: 'b3' (conv: kernel [9, 6, 1, 1])"), msg
    assert err.value.hint.startswith("3 of 7 weighted spec nodes matched before it")


def test_unused_reference_layers_are_an_error_unless_allowed():
    g = graph()
    weights = init_weights(g, seed=0)
    ref = [*reference(g, weights), RefLayer("aux", "conv", {"kernel": np.zeros((3, 7))}, ("bn",))]
    with pytest.raises(WeightsError, match=r"1 reference layer\(s\) have no counterpart in the "
                                           r"spec: 'aux' \(conv: kernel \[3, 7\]\)") as err:
        match_graph(g, ref)
    assert "allow_unused=True" in err.value.hint
    m = match_graph(g, ref, allow_unused=True)
    assert m.unused == ["aux"] and m.notes[-1] == "1 reference layer(s) unused: aux"
    assert m.as_json()["matched"] == 7


def test_malformed_references_are_weights_errors():
    spec = [SpecLayer("a", "conv", {"kernel": (2, 3)})]
    twice = [RefLayer("r", "conv", {"kernel": np.zeros((2, 3))}, ()),
             RefLayer("r", "conv", {"kernel": np.zeros((2, 3))}, ())]
    with pytest.raises(WeightsError, match="two weighted layers named 'r'"):
        match_layers(spec, twice)
    orphan = [RefLayer("r", "conv", {"kernel": np.zeros((2, 3))}, ("ghost",))]
    with pytest.raises(WeightsError, match="'r' names an unknown weighted parent 'ghost'"):
        match_layers(spec, orphan)


def test_the_weights_package_imports_no_framework():
    """Matching, npz files and completeness checks run with numpy alone."""
    code = ("import sys, archdsl, archdsl.weights as w\n"
            "g = archdsl.load('specs/resnet18.yaml')\n"
            "w.match_graph(g, [w.RefLayer(s.id, s.kind, {k: __import__('numpy').zeros(v) "
            "for k, v in s.shapes.items()}) for s in w.spec_layers(g)])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'keras', 'tensorflow', 'jax'}))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=SPECS.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
