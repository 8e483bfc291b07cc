"""Golden values for every layer type: shape, trainable/non-trainable params, MACs, RF."""

from __future__ import annotations

import pytest
from helpers import layer, net

from archdsl.layers import REGISTRY

# (layer line, input shape, output shape, trainable, non-trainable, MACs, receptive field max)
GOLDEN = [
    ("conv2d: {filters: 4, kernel: 5}", "[3, 28, 28]", (4, 24, 24), 304, 0, 24 * 24 * 4 * 75, 5),
    ("conv2d: {filters: 8, kernel: 3, stride: 2, padding: same}", "[3, 9, 9]", (8, 5, 5), 224, 0, 25 * 8 * 27, 3),
    ("conv2d: {filters: 6, kernel: 3, groups: 3, bias: false}", "[3, 5, 5]", (6, 3, 3), 54, 0, 9 * 6 * 9, 3),
    ("conv2d: {filters: 2, kernel: 3, dilation: 2}", "[1, 9, 9]", (2, 5, 5), 20, 0, 25 * 2 * 9, 5),
    ("conv1d: {filters: 4, kernel: 3, padding: causal}", "[2, 10]", (4, 10), 28, 0, 10 * 4 * 6, 3),
    ("conv3d: {filters: 2, kernel: 3}", "[1, 5, 5, 5]", (2, 3, 3, 3), 56, 0, 27 * 2 * 27, 3),
    ("depthwise_conv2d: {kernel: 3, multiplier: 2}", "[3, 6, 6]", (6, 4, 4), 60, 0, 16 * 6 * 9, 3),
    ("depthwise_conv1d: {kernel: 5, bias: false}", "[4, 9]", (4, 5), 20, 0, 5 * 4 * 5, 5),
    ("separable_conv2d: {filters: 32, kernel: 3, bias: false}", "[32, 5, 5]", (32, 3, 3),
     32 * (9 + 32), 0, 9 * 32 * 9 + 9 * 32 * 32, 3),
    ("separable_conv1d: {filters: 4, kernel: 3, multiplier: 2}", "[2, 7]", (4, 5),
     4 * 3 + 4 * 4 + 4, 0, 5 * 4 * 3 + 5 * 4 * 4, 3),
    ("conv_transpose2d: {filters: 2, kernel: 3, stride: 2}", "[4, 5, 5]", (2, 11, 11),
     4 * 2 * 9 + 2, 0, 4 * 2 * 9 * 25, 2),
    ("conv_transpose2d: {filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}",
     "[4, 5, 5]", (2, 10, 10), 74, 0, 4 * 2 * 9 * 25, 2),
    ("conv_transpose2d: {filters: 2, kernel: 3, stride: 2, padding: same}", "[4, 5, 5]",
     (2, 10, 10), 74, 0, 4 * 2 * 9 * 25, 2),
    ("conv_transpose1d: {filters: 3, kernel: 4, stride: 2, padding: same}", "[2, 6]", (3, 12),
     2 * 3 * 4 + 3, 0, 2 * 3 * 4 * 6, 2),
    ("conv_transpose3d: {filters: 1, kernel: 2, stride: 2}", "[2, 2, 2, 2]", (1, 4, 4, 4),
     2 * 8 + 1, 0, 2 * 8 * 8, 1),
    ("max_pool2d: {pool: 2}", "[3, 8, 8]", (3, 4, 4), 0, 0, 0, 2),
    ("max_pool2d: {pool: 3, stride: 2, ceil_mode: true}", "[3, 8, 8]", (3, 4, 4), 0, 0, 0, 3),
    ("max_pool2d: {pool: 3, stride: 2, padding: same}", "[3, 9, 9]", (3, 5, 5), 0, 0, 0, 3),
    ("max_pool1d: {pool: 2}", "[2, 9]", (2, 4), 0, 0, 0, 2),
    ("max_pool3d: {pool: 2}", "[2, 4, 4, 4]", (2, 2, 2, 2), 0, 0, 0, 2),
    ("avg_pool2d: {pool: 3, stride: 1, padding: 1}", "[3, 7, 7]", (3, 7, 7), 0, 0, 0, 3),
    ("avg_pool1d: {pool: 3}", "[2, 9]", (2, 3), 0, 0, 0, 3),
    ("avg_pool3d: {pool: 2, stride: 1}", "[2, 3, 3, 3]", (2, 2, 2, 2), 0, 0, 0, 2),
    ("global_avg_pool: {}", "[5, 6, 7]", (5,), 0, 0, 0, 7),
    ("global_max_pool: {keepdims: true}", "[5, 6, 6]", (5, 1, 1), 0, 0, 0, 6),
    ("batchnorm: {}", "[4, 5, 5]", (4, 5, 5), 8, 8, 0, 1),
    ("batchnorm: {scale: false}", "[4, 5, 5]", (4, 5, 5), 4, 8, 0, 1),
    ("dropout: {rate: 0.5}", "[3, 4, 4]", (3, 4, 4), 0, 0, 0, 1),
    ("spatial_dropout: {rate: 0.2}", "[3, 4, 4]", (3, 4, 4), 0, 0, 0, 1),
    *[(f"{a}: {{}}", "[3, 4, 4]", (3, 4, 4), 0, 0, 0, 1) for a in (
        "relu", "relu6", "sigmoid", "hard_sigmoid", "swish", "hard_swish", "tanh", "elu", "gelu",
        "leaky_relu", "softmax", "identity")],
    ("flatten: {}", "[3, 4, 5]", (60,), 0, 0, 0, 5),
    ("dense: {units: 10}", "[512]", (10,), 5130, 0, 5120, None),
    ("zero_padding: {padding: [[1, 0], [2, 1]]}", "[3, 4, 5]", (3, 5, 8), 0, 0, 0, 1),
    ("scale: {factor: 0.5}", "[3, 4, 4]", (3, 4, 4), 0, 0, 0, 1),
]


@pytest.mark.parametrize(("line", "inp", "shape", "trainable", "frozen", "macs", "rf"), GOLDEN,
                         ids=[g[0].split(":")[0] + f"-{i}" for i, g in enumerate(GOLDEN)])
def test_golden_layer(line, inp, shape, trainable, frozen, macs, rf):
    node = layer(line, inp)
    assert node["shape"] == shape
    assert (node["trainable"], node["non_trainable"]) == (trainable, frozen)
    assert node["macs"] == macs
    if rf is None:
        assert node["rf"] is None
    else:
        assert max(node["rf"].max) == rf


def test_every_registered_type_has_a_golden_case():
    covered = {g[0].split(":")[0] for g in GOLDEN} | {"add", "concat", "multiply"}
    assert covered == set(REGISTRY)


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
    assert g["cat"]["shape"] == (6, 8, 8)
    assert g["gate"]["shape"] == (6, 1, 1)
    assert g["scaled"]["shape"] == (6, 8, 8)
    assert g[g.outputs[0]]["shape"] == (6, 8, 8)
    # receptive field over paths: 1×1 projection path (1) vs the global-pool gate path (full)
    rf = g[g.outputs[0]]["rf"]
    assert rf.min == (1, 1) and rf.max[0] >= 8


# ------------------------------------------------------------------ the chapter's worked numbers
def test_chapter_conv_output_sizes():
    assert layer("conv2d: {filters: 1, kernel: 3}", "[1, 28, 28]")["shape"] == (1, 26, 26)
    assert layer("conv2d: {filters: 1, kernel: 3, stride: 2}", "[1, 28, 28]")["shape"] == (1, 13, 13)


def test_chapter_three_inputs_four_outputs_5x5():
    assert layer("conv2d: {filters: 4, kernel: 5}", "[3, 32, 32]")["trainable"] == 304


def test_chapter_separable_vs_standard():
    sep = layer("separable_conv2d: {filters: 32, kernel: 3, bias: false}", "[32, 8, 8]")
    std = layer("conv2d: {filters: 32, kernel: 3, bias: false}", "[32, 8, 8]")
    assert sep["trainable"] // 32 == 9 + 32
    assert std["trainable"] // 32 == 288


def test_chapter_two_3x3_vs_one_5x5():
    two = net("  - conv2d: {filters: 1, kernel: 3, bias: false}\n"
              "  - conv2d: {filters: 1, kernel: 3, bias: false}\n", "[1, 9, 9]")
    one = net("  - conv2d: {filters: 1, kernel: 5, bias: false}\n", "[1, 9, 9]")
    assert two.params["trainable"] == 18 and one.params["trainable"] == 25
    assert two[two.outputs[0]]["rf"].max == one[one.outputs[0]]["rf"].max == (5, 5)
    assert two.output_shapes == one.output_shapes == [(1, 5, 5)]


def test_chapter_factorized_1x3_3x1():
    g = net("  - conv2d: {filters: 1, kernel: [1, 3], bias: false}\n"
            "  - conv2d: {filters: 1, kernel: [3, 1], bias: false}\n", "[1, 9, 9]")
    assert g.params["trainable"] == 6
    assert g[g.outputs[0]]["rf"].max == (3, 3)
    assert layer("conv2d: {filters: 1, kernel: 3, bias: false}", "[1, 9, 9]")["trainable"] == 9


def test_receptive_field_and_effective_stride():
    g = net("  - conv2d: {filters: 1, kernel: 3, stride: 2}\n"
            "  - conv2d: {filters: 1, kernel: 3}\n"
            "  - max_pool2d: {pool: 2}\n", "[1, 32, 32]")
    rfs = [g[n]["rf"] for n, _ in g.layers()]
    assert [r.max[0] for r in rfs] == [3, 7, 9]
    assert [int(r.stride_max[0]) for r in rfs] == [2, 2, 4]


def test_cifar10_chapter_numbers():
    import archdsl

    g = archdsl.load("specs/cifar10_cnn.yaml")
    assert g.params == {"trainable": 293_034, "non_trainable": 896, "total": 293_930}
    assert g.macs == 29_496_320
    assert g.output_shapes == [(10,)]
    spatial = [g[f"block{b}.{n}"]["shape"][1:] for b, n in
               [(1, "conv2"), (1, "pool"), (3, "conv1"), (3, "conv2"), (3, "pool")]]
    assert spatial == [(32, 32), (16, 16), (6, 6), (4, 4), (2, 2)]
