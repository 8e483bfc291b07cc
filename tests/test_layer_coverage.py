"""Every registered layer type has every piece: a golden case, a lowering in each backend, a
reference op, and a weight family when it has weights. One test walks the registry and names
the layer and the missing piece."""

from __future__ import annotations

import importlib.util
import re

import pytest
from layer_cases import CASES, GOLDEN

import archdsl
from archdsl.layers import REGISTRY
from archdsl.reference import REFERENCE_OPS

#: weight roles that make a layer's weights importable from another model (all but constants)
_IMPORTABLE = {"kernel", "depthwise_kernel", "pointwise_kernel", "transposed_kernel", "gamma"}


def _types_in(case_body: str) -> set[str]:
    return set(re.findall(r"^\s*- (\w+):", case_body, flags=re.M))


def _lowerings(backend: str) -> set[str] | None:
    """The backend's lowered types, or None when its framework is not installed."""
    framework = {"torch": "torch", "keras": "keras"}[backend]
    if importlib.util.find_spec(framework) is None:
        return None
    module = importlib.import_module(f"archdsl.backends.{backend}.lower")
    return set(module.LOWERINGS)


def missing_pieces() -> dict[str, list[str]]:
    """``{layer type: [missing piece, ...]}`` over the whole registry."""
    in_cases = set().union(*(_types_in(c.body) for c in CASES))
    expected = {c.layer_type for c in GOLDEN}
    lowered = {b: _lowerings(b) for b in ("torch", "keras")}
    missing: dict[str, list[str]] = {}
    for key, layer in REGISTRY.items():
        pieces = []
        if key not in in_cases:
            pieces.append("a case in tests/layer_cases.py")
        if layer.arity == (1, 1) and key not in expected:
            pieces.append("a golden case with analytic values (_GOLDEN in tests/layer_cases.py)")
        for backend, keys in lowered.items():
            if keys is not None and key not in keys:
                pieces.append(f"a {backend} lowering (backends/{backend}/lower.py)")
        if key not in REFERENCE_OPS:
            pieces.append("a reference op (archdsl/reference/)")
        missing.setdefault(key, []).extend(pieces)
    for case in GOLDEN:
        g = archdsl.loads(case.spec(), f"{case.name}.yaml")
        node = g[g.outputs[0]]
        roles = {w.role for w in node.weights.values()}
        if roles & _IMPORTABLE and node.layer.weight_family is None:
            missing[node.type].append("a weight_family trait (it has importable weights)")
    return {k: v for k, v in missing.items() if v}


def test_every_layer_type_has_every_piece():
    assert missing_pieces() == {}


def test_the_coverage_check_names_the_layer_and_the_piece(monkeypatch):
    monkeypatch.delitem(REFERENCE_OPS, "channel_shuffle")
    assert missing_pieces() == {"channel_shuffle": ["a reference op (archdsl/reference/)"]}


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_each_layer_key_is_written_literally_in_its_family_file(key):
    """`grep 'key = "conv2d"'` finds each type's definition in one step."""
    layer = REGISTRY[key]
    source = importlib.util.find_spec(type(layer).__module__)
    assert source is not None and source.origin is not None
    with open(source.origin, encoding="utf-8") as f:
        assert f'key = "{key}"' in f.read()
