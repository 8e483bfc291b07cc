"""Learned tensors and loose families, framework-free (issue 12: ConvNeXt, ViT, Swin).

A PyTorch container's own ``nn.Parameter`` (class token, position embedding, ``layer_scale``,
relative position bias table) reaches the matcher as a reference layer of family ``tensor``
(one array, ``value``); a state dict's 1-D ``weight``/``bias`` as ``affine_norm``. A spec
``parameter`` reads its input for the batch size only, so it has no weighted parents; a node
whose weights are all fixed (Swin's shifted-window mask) keeps its values when the reference
has no such tensor.
"""

from __future__ import annotations

import numpy as np
import pytest

import archdsl
from archdsl.weights import (
    AFFINE_NORM,
    TENSOR,
    RefLayer,
    SpecLayer,
    WeightsError,
    compatible,
    match_graph,
    match_layers,
    spec_layers,
)

MASK = [[float(-100 * ((i + j) % 2)) for j in range(6)] for i in range(4)]
#: Swin's pattern in miniature: a learned bias table and a fixed mask between two dense layers,
#: then a layer scale over the last axis of the tokens
TOKENS = f"""archdsl: 1
name: tokens
input: [4, 6]
body:
  - dense: {{id: qkv, units: 6}}
  - parameter: {{id: table, from: qkv, shape: [4, 6], init: normal}}
  - parameter: {{id: mask, from: qkv, shape: [4, 6], fixed: {MASK}}}
  - add: {{id: biased, from: [qkv, table]}}
  - add: {{id: masked, from: [biased, mask]}}
  - layer_scale: {{id: gamma, axis: last}}
  - dense: {{id: proj, units: 6}}
"""


def tokens() -> archdsl.Graph:
    return archdsl.loads(TOKENS, "tokens.yaml")


def torch_like(rng: np.random.Generator, graph_mode: bool = True, with_mask: bool = False
               ) -> list[RefLayer]:
    """Reference layers as the PyTorch importer makes them for such a model: the table and γ
    as container tensors, γ of shape (1, 1, 6) (any 1-sized dimensions)."""
    def parents(*names: str) -> tuple[str, ...] | None:
        return names if graph_mode else None

    layers = [
        RefLayer("attn.qkv", "conv", {"kernel": rng.standard_normal((6, 6)),
                                      "bias": rng.standard_normal(6)}, parents()),
        RefLayer("attn.table", TENSOR, {"value": rng.standard_normal((4, 6))}, parents()),
        RefLayer("block.gamma", TENSOR, {"value": rng.standard_normal((1, 1, 6))},
                 parents("attn.qkv", "attn.table", *(("mask",) if with_mask else ()))),
        RefLayer("attn.proj", "conv", {"kernel": rng.standard_normal((6, 6)),
                                       "bias": rng.standard_normal(6)}, parents("block.gamma")),
    ]
    if with_mask:
        layers.insert(2, RefLayer("mask", "parameter", {"value": np.asarray(MASK)}, parents()))
    return layers


def test_parameters_have_no_weighted_parents_and_fixed_nodes_carry_values():
    layers = {s.id: s for s in spec_layers(tokens())}
    assert layers["table"].parents == () and layers["mask"].parents == ()
    assert layers["gamma"].parents == ("qkv", "table", "mask")
    assert layers["table"].fixed is None
    assert layers["mask"].fixed is not None
    assert np.array_equal(layers["mask"].fixed["value"], np.asarray(MASK))


def test_lone_tensors_compare_without_1_sized_dimensions():
    spec = SpecLayer("gamma", "layer_scale", {"scale": (6,)})
    assert compatible(spec, RefLayer("g", TENSOR, {"value": np.ones((6, 1, 1))}))
    assert compatible(spec, RefLayer("g", TENSOR, {"value": np.ones((1, 1, 6))}))
    assert not compatible(spec, RefLayer("g", TENSOR, {"value": np.ones((6, 2))}))
    token = SpecLayer("class_token", "parameter", {"value": (1, 768)})
    assert compatible(token, RefLayer("class_token", TENSOR, {"value": np.ones((1, 1, 768))}))
    assert not compatible(token, RefLayer("fc", "conv", {"kernel": np.ones((1, 768))}))


@pytest.mark.parametrize("graph_mode", [True, False])
def test_container_tensors_fill_parameters_and_layer_scales(graph_mode):
    """The table fills the parameter and γ the layer scale (renamed, reshaped); the fixed mask
    has no reference counterpart and keeps the spec's values, with a note; the layers it
    feeds are matched as if it were not there."""
    ref = torch_like(np.random.default_rng(0), graph_mode)
    m = match_graph(tokens(), ref)
    assert m.mode == ("graph" if graph_mode else "sequence")
    assert m.pairs == [("qkv", "attn.qkv"), ("table", "attn.table"), ("gamma", "block.gamma"),
                       ("proj", "attn.proj")]
    assert m.weights["gamma"]["scale"].shape == (6,)
    assert np.array_equal(m.weights["gamma"]["scale"], ref[2].arrays["value"].reshape(6))
    assert np.array_equal(m.weights["mask"]["value"], np.asarray(MASK))
    assert any("keep the spec's values: mask" in n for n in m.notes), m.notes


def test_fixed_node_takes_a_reference_layer_that_fits():
    """The spec's own model stores the mask: it is matched like any node, without a note."""
    m = match_graph(tokens(), torch_like(np.random.default_rng(1), with_mask=True))
    assert ("mask", "mask") in m.pairs
    assert not [n for n in m.notes if "keep the spec's values" in n], m.notes


def test_a_learned_parameter_is_never_filled_from_the_spec():
    ref = [r for r in torch_like(np.random.default_rng(2), graph_mode=False)
           if r.name != "attn.table"]
    with pytest.raises(WeightsError, match="cannot match spec node 'table' \\(parameter"):
        match_graph(tokens(), ref)


def test_affine_norm_fills_layer_norm_in_sequence_mode():
    spec = [SpecLayer("ln", "layer_norm", {"gamma": (6,), "beta": (6,)}, (), {"eps": 1e-6}),
            SpecLayer("gn", "group_norm", {"gamma": (6,), "beta": (6,)}, ("ln",), {"eps": 1e-5})]
    ref = [RefLayer(n, AFFINE_NORM, {"gamma": np.full(6, k), "beta": np.zeros(6)})
           for k, n in enumerate(["norm_a", "norm_b"])]
    m = match_layers(spec, ref)
    assert m.pairs == [("ln", "norm_a"), ("gn", "norm_b")] and m.mode == "sequence"
    assert not m.notes  # a state dict holds no ε to compare
