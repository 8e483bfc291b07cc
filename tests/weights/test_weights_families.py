"""Weight families come from the layer registry: every layer type with weights declares one.

A layer type "has weights" when a golden case (tests/layer_cases.py) compiles a node of that
type whose ``weights`` are not empty. Its family must agree with its weight names: the
matcher only pairs layers of one family whose weights have the same names.
"""

from __future__ import annotations

from functools import cache

import pytest
from layer_cases import CASES

import archdsl
from archdsl.layers import REGISTRY
from archdsl.weights import FAMILIES, family_of, type_families


@cache
def weight_names_by_type() -> dict[str, set[frozenset[tuple[str, str]]]]:
    """Layer type → the (weight name, role) sets its golden-case nodes hold (empty: none)."""
    seen: dict[str, set[frozenset[tuple[str, str]]]] = {}
    for case in CASES:
        graph = archdsl.loads(case.spec(), f"{case.name}.yaml")
        for _, node in graph.layers():
            names = frozenset((n, w.role) for n, w in node.weights.items())
            seen.setdefault(node.type, set()).add(names)
    return seen


def expected_family(names: frozenset[tuple[str, str]]) -> str | set[str]:
    """The family (or the families) a layer with these (name, role) weights may belong to."""
    weight_names = {n for n, _ in names}
    roles = {r for _, r in names}
    if "running_mean" in weight_names:
        return "batchnorm"
    if "in_kernel" in roles:
        return "attention"
    if roles & {"scale", "parameter"}:
        return "layer_scale" if "scale" in roles else "parameter"
    if roles and roles <= {"gamma", "beta"}:  # the same tensors; told apart by the layer type
        return {"layer_norm", "group_norm"}
    if "pointwise_kernel" in weight_names:
        return "separable"
    if "transposed_kernel" in roles:
        return "transposed"
    return "conv"


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_layer_types_with_weights_declare_their_family(key):
    layer = REGISTRY[key]
    seen = weight_names_by_type().get(key)
    if seen is None:
        pytest.skip(f"no golden case in tests/layer_cases.py compiles a '{key}' node")
    weighted = [names for names in seen if names]
    if not weighted:
        assert layer.weight_family is None, (
            f"layer type '{key}' has no weights but declares weight_family "
            f"{layer.weight_family!r}")
        return
    assert layer.weight_family is not None, (
        f"layer type '{key}' ({type(layer).__name__}) has weights "
        f"{sorted(n for n, _ in weighted[0])} but declares no weight_family: weight import "
        f"cannot match it (set weight_family to one of {', '.join(FAMILIES)})")
    for names in weighted:
        want = expected_family(names)
        assert layer.weight_family in (want if isinstance(want, set) else {want}), (
            f"layer type '{key}' declares weight_family {layer.weight_family!r}, but its "
            f"weights {sorted(n for n, _ in names)} belong to {expected_family(names)!r}")


def test_type_families_is_the_registry_trait():
    table = type_families()
    assert table == {k: v.weight_family for k, v in REGISTRY.items() if v.weight_family}
    assert set(table.values()) <= set(FAMILIES)
    assert all(family_of(k) == f for k, f in table.items())
    assert family_of("relu") is None and family_of("no_such_type") is None
