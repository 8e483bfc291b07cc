"""Bounded fuzzing (hypothesis): valid random specs compile; mutated specs fail only with
archdsl's own errors. The long run is bench/fuzz.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.errors import ArchdslError
from archdsl.fuzz import mutate, random_spec
from archdsl.graph import ExpectationError


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), n=st.integers(1, 14))
def test_random_valid_specs_compile(seed, n):
    text = random_spec(seed, n)
    g = archdsl.loads(text, "fuzz.yaml")
    assert g.output_shapes == [(3,)]
    assert g.params["total"] == sum(g[i].trainable + g[i].non_trainable for i in g)
    # the expanded spec is itself valid and equivalent
    import yaml

    g2 = archdsl.loads(yaml.safe_dump(g.expanded(), sort_keys=False))
    assert [g2[i].shape for i in g2] == [g[i].shape for i in g]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), mseed=st.integers(0, 10**9))
def test_mutated_specs_raise_only_archdsl_errors(seed, mseed):
    text = mutate(random_spec(seed, 6), mseed)
    try:
        g = archdsl.loads(text, "fuzz.yaml")
        g.check_expectations()
    except (ArchdslError, ExpectationError) as exc:
        assert exc.message  # one clear message
        exc.render(text)


@pytest.mark.parametrize("seed", range(8))
def test_random_specs_equal_in_both_backends(seed):
    """Sampled: a random valid spec has the same shapes, parameter counts and outputs in
    PyTorch and Keras as the analytic IR (float32, 1e-5)."""
    pytest.importorskip("torch", reason="needs PyTorch")
    pytest.importorskip("keras", reason="needs Keras")
    from archdsl.crosscheck import forward_check

    g = archdsl.loads(random_spec(10_000 + seed, 10), "fuzz.yaml")
    r = forward_check(g)
    assert r.params_match and r.shapes_match, (r.params, r.mismatched_shapes)
    assert r.first_divergent_node is None and r.max_abs_diff <= 1e-5, r.per_node
