"""Bounded fuzzing (hypothesis): valid random specs compile; mutated specs fail only with
archdsl's own errors. The long run, 50,000 specs, is ``make test-slow`` (and bench/fuzz.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.errors import ArchdslError
from archdsl.fuzz import HOSTILE_TOKENS, fuzz_one, mutate, random_spec, run_fuzz
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
        rendered = exc.render(text)
        assert len(rendered) < 4000 and "\x1b" not in rendered


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9).map(lambda s: 2 * s + 1))
def test_hostile_mutations_keep_every_invariant(seed):
    """Odd seeds are mutated, a quarter of the swaps with hostile tokens: archdsl's own error,
    a bounded escaped message, no hang (fuzz_one's alarm)."""
    outcome, _, length, problem = fuzz_one(seed)
    assert problem == "", f"seed {seed}: {problem}"
    assert outcome not in ("internal error", "hang", "bad message") and length < 4000


def test_hostile_tokens_each_fail_cleanly():
    base = random_spec(3, 4).splitlines()
    for token in HOSTILE_TOKENS:
        text = "\n".join(line.replace("units: 3", f"units: {token}") for line in base) + "\n"
        try:
            archdsl.loads(text, "fuzz.yaml")
        except ArchdslError as exc:
            assert len(exc.render(text)) < 4000
        else:
            raise AssertionError(f"{token!r} was accepted as a number of units")


@pytest.mark.slow
def test_fifty_thousand_specs_without_an_internal_error():
    """``make test-slow``: 50,000 generated specs (half mutated), two processes.

    Measured numbers are in docs/robustness.md."""
    report = run_fuzz(50_000, seed=0, workers=2)
    print(report.summary())
    assert report.tried == 50_000 and report.failures == [], report.summary()
    assert report.internal_errors == 0 and report.hangs == 0


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
