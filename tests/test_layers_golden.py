"""Golden values for every layer type: shape, trainable/non-trainable params, MACs, RF."""

from __future__ import annotations

import pytest
from helpers import layer, net
from layer_cases import GOLDEN

import archdsl


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden_layer(case):
    g = archdsl.loads(case.spec(), f"{case.name}.yaml")
    node, want = g[g.outputs[0]], case.expect
    assert node.shape == want.shape
    assert (node.trainable, node.non_trainable) == (want.trainable, want.frozen)
    assert node.macs == want.macs
    if want.rf is None:
        assert node.rf is None
    else:
        assert max(node.rf.max) == want.rf


def test_merges():
    g = net(
        "  - conv2d: {filters: 4, kernel: 3, padding: same, id: a}\n"
        "  - conv2d: {filters: 2, kernel: 1, from: input, id: b}\n"
        "  - concat: {from: [a, b], id: cat}\n"
        "  - global_avg_pool: {keepdims: true, from: cat, id: gate}\n"
        "  - multiply: {from: [cat, gate], id: scaled}\n"
        "  - conv2d: {filters: 6, kernel: 1, from: input, id: proj}\n"
        "  - add: {from: [scaled, proj]}\n"
    )
    assert g["cat"].shape == (6, 8, 8)
    assert g["gate"].shape == (6, 1, 1)
    assert g["scaled"].shape == (6, 8, 8)
    assert g[g.outputs[0]].shape == (6, 8, 8)
    # receptive field over paths: 1×1 projection path (1) vs the global-pool gate path (full)
    rf = g[g.outputs[0]].rf
    assert rf.min == (1, 1) and rf.max[0] >= 8


# ------------------------------------------------------------------ the chapter's worked numbers
def test_chapter_conv_output_sizes():
    assert layer("conv2d: {filters: 1, kernel: 3}", "[1, 28, 28]").shape == (1, 26, 26)
    assert layer("conv2d: {filters: 1, kernel: 3, stride: 2}", "[1, 28, 28]").shape == (1, 13, 13)


def test_chapter_three_inputs_four_outputs_5x5():
    assert layer("conv2d: {filters: 4, kernel: 5}", "[3, 32, 32]").trainable == 304


def test_chapter_separable_vs_standard():
    sep = layer("separable_conv2d: {filters: 32, kernel: 3, bias: false}", "[32, 8, 8]")
    std = layer("conv2d: {filters: 32, kernel: 3, bias: false}", "[32, 8, 8]")
    assert sep.trainable // 32 == 9 + 32
    assert std.trainable // 32 == 288


def test_chapter_two_3x3_vs_one_5x5():
    two = net("  - conv2d: {filters: 1, kernel: 3, bias: false}\n"
              "  - conv2d: {filters: 1, kernel: 3, bias: false}\n", "[1, 9, 9]")
    one = net("  - conv2d: {filters: 1, kernel: 5, bias: false}\n", "[1, 9, 9]")
    assert two.params["trainable"] == 18 and one.params["trainable"] == 25
    assert two[two.outputs[0]].rf.max == one[one.outputs[0]].rf.max == (5, 5)
    assert two.output_shapes == one.output_shapes == [(1, 5, 5)]


def test_chapter_factorized_1x3_3x1():
    g = net("  - conv2d: {filters: 1, kernel: [1, 3], bias: false}\n"
            "  - conv2d: {filters: 1, kernel: [3, 1], bias: false}\n", "[1, 9, 9]")
    assert g.params["trainable"] == 6
    assert g[g.outputs[0]].rf.max == (3, 3)
    assert layer("conv2d: {filters: 1, kernel: 3, bias: false}", "[1, 9, 9]").trainable == 9


def test_receptive_field_and_effective_stride():
    g = net("  - conv2d: {filters: 1, kernel: 3, stride: 2}\n"
            "  - conv2d: {filters: 1, kernel: 3}\n"
            "  - max_pool2d: {pool: 2}\n", "[1, 32, 32]")
    rfs = [g[n].rf for n, _ in g.layers()]
    assert [r.max[0] for r in rfs] == [3, 7, 9]
    assert [int(r.stride_max[0]) for r in rfs] == [2, 2, 4]


def test_cifar10_chapter_numbers():
    import archdsl

    g = archdsl.load("specs/cifar10_cnn.yaml")
    assert g.params == {"trainable": 293_034, "non_trainable": 896, "total": 293_930}
    assert g.macs == 29_496_320
    assert g.output_shapes == [(10,)]
    spatial = [g[f"block{b}.{n}"].shape[1:] for b, n in
               [(1, "conv2"), (1, "pool"), (3, "conv1"), (3, "conv2"), (3, "pool")]]
    assert spatial == [(32, 32), (16, 16), (6, 6), (4, 4), (2, 2)]
