"""Property tests (hypothesis) for the shape rules against brute-force window counting."""

from __future__ import annotations

import math

from helpers import layer
from hypothesis import given, settings
from hypothesis import strategies as st

from archdsl.layers.geometry import ceil_mode_pads, same_pads

small = st.integers(1, 5)


def windows(n: int, k_eff: int, s: int, before: int, after: int) -> int:
    """Count window positions by sliding over the padded input."""
    return sum(1 for start in range(0, n + before + after) if start % s == 0
               and start + k_eff <= n + before + after)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), k=small, s=small, d=st.integers(1, 3), pb=st.integers(0, 3),
       pe=st.integers(0, 3))
def test_conv_output_matches_sliding_windows(n, k, s, d, pb, pe):
    k_eff = d * (k - 1) + 1
    expected = windows(n, k_eff, s, pb, pe)
    line = (f"conv1d: {{filters: 2, kernel: {k}, stride: {s}, dilation: {d}, "
            f"padding: [[{pb}, {pe}]]}}")
    if expected == 0:
        return  # rejected with a ShapeError; covered by the error corpus
    node = layer(line, f"[3, {n}]")
    assert node.shape == (2, expected)
    assert node.trainable == (3 * k + 1) * 2
    assert node.macs == expected * 2 * 3 * k


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 50), k=small, s=small, d=st.integers(1, 3))
def test_same_padding_gives_ceil(n, k, s, d):
    k_eff = d * (k - 1) + 1
    b, e = same_pads(n, k_eff, s)
    assert 0 <= e - b <= 1  # any odd padding goes at the end
    assert windows(n, k_eff, s, b, e) == math.ceil(n / s)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 30), k=small, s=small)
def test_transposed_same_multiplies_by_stride(n, k, s):
    node = layer(f"conv_transpose1d: {{filters: 1, kernel: {k}, stride: {s}, padding: same}}",
                 f"[2, {n}]")
    assert node.shape == (1, n * s)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 30), k=small, s=small, p=st.integers(0, 3), op=st.integers(0, 4))
def test_transposed_chapter_formula(n, k, s, p, op):
    out = s * (n - 1) + (k - 1) + 1 - 2 * p + op
    if op >= s or out < 1:
        return
    node = layer(f"conv_transpose1d: {{filters: 1, kernel: {k}, stride: {s}, padding: {p}, "
                 f"output_padding: {op}}}", f"[2, {n}]")
    assert node.shape == (1, out)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), k=small, s=small, p=st.integers(0, 2))
def test_ceil_mode_matches_pytorch_formula(n, k, s, p):
    if p >= k or n + 2 * p < k:
        return
    out = math.ceil((n + 2 * p - k) / s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    ((b, e),) = ceil_mode_pads((n,), (k,), (s,), ((p, p),))
    assert windows(n, k, s, b, e) == out


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 8), g=st.integers(1, 4), m=st.integers(1, 3), k=small)
def test_grouped_and_depthwise_param_formulas(c, g, m, k):
    conv = layer(f"conv2d: {{filters: {g * m}, kernel: {k}, groups: {g}}}", f"[{g * c}, 9, 9]")
    assert conv.trainable == (c * k * k + 1) * g * m
    dw = layer(f"depthwise_conv2d: {{kernel: {k}, multiplier: {m}}}", f"[{c}, 9, 9]")
    assert dw.trainable == (k * k + 1) * m * c
    assert dw.shape[0] == c * m
