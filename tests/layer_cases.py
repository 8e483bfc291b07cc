"""Golden layer cases (ONNX-style): small specs that every backend test consumes.

Each case is one layer (or a tiny chain) on a small input, chosen to hit the conventions that
differ between frameworks: asymmetric 'same' padding (even/odd sizes, stride 2), dilation,
groups, channel multipliers, transposed-conv cropping and output_padding, ceil-mode pooling,
average-pool divisors, Flatten→Dense order, broadcasting merges.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Expect:
    """Analytic values of a one-layer case: output shape, trainable and non-trainable
    parameters, MACs, and the receptive field's maximum (``None``: not defined)."""

    shape: tuple[int, ...]
    trainable: int
    frozen: int
    macs: int
    rf: int | None


@dataclass(frozen=True)
class Case:
    name: str
    input: tuple[int, ...]
    body: str  # YAML list items (indented by 2), as in a spec body
    expect: Expect | None = None

    @property
    def layer_type(self) -> str:
        """The type of the case's first layer."""
        return self.body.strip().removeprefix("- ").split(":")[0]

    def spec(self) -> str:
        return f"archdsl: 1\nname: {self.name}\ninput: {list(self.input)}\nbody:\n{self.body}"


def _one(name: str, shape: tuple[int, ...], layer: str) -> Case:
    return Case(name, shape, f"  - {layer}\n")


CASES: list[Case] = [
    # --- conv2d
    _one("conv2d_k3_s1_same_n8", (3, 8, 8), "conv2d: {filters: 4, kernel: 3, padding: same}"),
    _one(
        "conv2d_k3_s2_same_n8",
        (3, 8, 8),
        "conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}",
    ),
    _one(
        "conv2d_k3_s2_same_n9",
        (3, 9, 9),
        "conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}",
    ),
    _one(
        "conv2d_k4_s2_same_n8",
        (2, 8, 7),
        "conv2d: {filters: 3, kernel: 4, stride: 2, padding: same}",
    ),
    _one("conv2d_k2_s1_same", (2, 7, 7), "conv2d: {filters: 3, kernel: 2, padding: same}"),
    _one("conv2d_k5_valid", (3, 9, 8), "conv2d: {filters: 2, kernel: 5}"),
    _one(
        "conv2d_rect_k",
        (3, 8, 8),
        "conv2d: {filters: 2, kernel: [1, 3], stride: [1, 2], padding: same}",
    ),
    _one(
        "conv2d_dilated_same",
        (3, 9, 9),
        "conv2d: {filters: 4, kernel: 3, dilation: 2, padding: same}",
    ),
    _one(
        "conv2d_dilated_strided",
        (3, 11, 10),
        "conv2d: {filters: 4, kernel: 3, dilation: 2, stride: 2, padding: 2}",
    ),
    _one("conv2d_groups", (4, 8, 8), "conv2d: {filters: 6, kernel: 3, groups: 2, padding: 1}"),
    _one(
        "conv2d_explicit_pads",
        (3, 7, 8),
        "conv2d: {filters: 2, kernel: 3, padding: [[1, 0], [0, 2]], bias: false}",
    ),
    _one(
        "conv2d_fixed_sobel",
        (1, 8, 8),
        "conv2d: {filters: 1, kernel: 3, fixed: sobel_x, padding: same}",
    ),
    _one(
        "conv1d_causal_dilated",
        (3, 10),
        "conv1d: {filters: 4, kernel: 3, dilation: 2, padding: causal}",
    ),
    _one("conv1d_s2_same", (3, 9), "conv1d: {filters: 2, kernel: 4, stride: 2, padding: same}"),
    _one(
        "conv3d_s2_same", (2, 5, 6, 5), "conv3d: {filters: 3, kernel: 3, stride: 2, padding: same}"
    ),
    # --- depthwise / separable
    _one(
        "depthwise_m2_s2_same",
        (3, 8, 8),
        "depthwise_conv2d: {kernel: 3, stride: 2, multiplier: 2, padding: same}",
    ),
    _one("depthwise_m1_valid", (4, 7, 7), "depthwise_conv2d: {kernel: 3}"),
    _one(
        "depthwise_dilated", (3, 9, 9), "depthwise_conv2d: {kernel: 3, dilation: 2, padding: same}"
    ),
    _one("depthwise1d_m3", (2, 9), "depthwise_conv1d: {kernel: 3, multiplier: 3, padding: same}"),
    _one(
        "separable_m2_same",
        (3, 8, 8),
        "separable_conv2d: {filters: 5, kernel: 3, multiplier: 2, padding: same}",
    ),
    _one(
        "separable_s2_nobias",
        (4, 9, 9),
        "separable_conv2d: {filters: 6, kernel: 3, stride: 2, padding: same, bias: false}",
    ),
    _one("separable1d", (3, 10), "separable_conv1d: {filters: 4, kernel: 3}"),
    # --- transposed
    _one(
        "convT_k3_s2_same",
        (3, 5, 6),
        "conv_transpose2d: {filters: 2, kernel: 3, stride: 2, padding: same}",
    ),
    _one(
        "convT_k4_s2_same",
        (3, 5, 5),
        "conv_transpose2d: {filters: 2, kernel: 4, stride: 2, padding: same}",
    ),
    _one(
        "convT_k3_s2_p1_op1",
        (3, 5, 5),
        "conv_transpose2d: {filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}",
    ),
    _one("convT_k1_s2_valid", (3, 5, 5), "conv_transpose2d: {filters: 2, kernel: 1, stride: 2}"),
    _one("convT_k2_s2_valid", (3, 4, 5), "conv_transpose2d: {filters: 2, kernel: 2, stride: 2}"),
    _one(
        "convT_k3_s2_valid_op1",
        (2, 4, 4),
        "conv_transpose2d: {filters: 3, kernel: 3, stride: 2, output_padding: 1}",
    ),
    _one(
        "convT1d_k3_s2_same",
        (2, 6),
        "conv_transpose1d: {filters: 3, kernel: 3, stride: 2, padding: same}",
    ),
    _one("convT3d_k2_s2", (2, 3, 3, 3), "conv_transpose3d: {filters: 2, kernel: 2, stride: 2}"),
    # --- pooling
    _one("maxpool_k2", (3, 8, 8), "max_pool2d: {pool: 2}"),
    _one("maxpool_k3_s2_same_n8", (3, 8, 8), "max_pool2d: {pool: 3, stride: 2, padding: same}"),
    _one("maxpool_k3_s2_ceil_n8", (3, 8, 9), "max_pool2d: {pool: 3, stride: 2, ceil_mode: true}"),
    _one("maxpool_k3_s2_p1", (3, 8, 8), "max_pool2d: {pool: 3, stride: 2, padding: 1}"),
    _one("maxpool1d", (2, 9), "max_pool1d: {pool: 2}"),
    _one("maxpool3d", (2, 4, 4, 4), "max_pool3d: {pool: 2}"),
    _one("avgpool_k2", (3, 8, 8), "avg_pool2d: {pool: 2}"),
    _one(
        "avgpool_k3_s1_p1_incl",
        (3, 7, 7),
        "avg_pool2d: {pool: 3, stride: 1, padding: 1, count_include_pad: true}",
    ),
    _one("avgpool_k3_s1_p1_excl", (3, 7, 7), "avg_pool2d: {pool: 3, stride: 1, padding: 1}"),
    _one("avgpool_k3_s2_same_n8", (3, 8, 8), "avg_pool2d: {pool: 3, stride: 2, padding: same}"),
    _one("avgpool_k3_s2_ceil", (3, 8, 9), "avg_pool2d: {pool: 3, stride: 2, ceil_mode: true}"),
    _one(
        "avgpool_ceil_incl",
        (3, 8, 8),
        "avg_pool2d: {pool: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true}",
    ),
    _one("avgpool1d", (2, 9), "avg_pool1d: {pool: 3, stride: 2, padding: same}"),
    _one("avgpool3d", (2, 4, 4, 4), "avg_pool3d: {pool: 2}"),
    _one("global_avg", (5, 6, 7), "global_avg_pool: {}"),
    _one("global_max_keepdims", (5, 6, 7), "global_max_pool: {keepdims: true}"),
    _one("global_avg_1d", (4, 9), "global_avg_pool: {}"),
    # --- normalization / regularization
    _one("batchnorm2d", (4, 5, 5), "batchnorm: {momentum: 0.1, eps: 0.001}"),
    _one("batchnorm_noscale", (4, 5, 5), "batchnorm: {scale: false}"),
    Case("batchnorm_flat", (6, 3, 3), "  - flatten: {}\n  - batchnorm: {}\n"),
    _one("dropout", (3, 4, 4), "dropout: {rate: 0.5}"),
    _one("spatial_dropout", (3, 4, 4), "spatial_dropout: {rate: 0.3}"),
    # --- activations
    *[
        _one(f"act_{a}", (3, 4, 5), f"{a}: {{}}")
        for a in (
            "relu",
            "relu6",
            "sigmoid",
            "hard_sigmoid",
            "swish",
            "hard_swish",
            "tanh",
            "elu",
            "gelu",
        )
    ],
    _one("act_leaky", (3, 4, 5), "leaky_relu: {negative_slope: 0.2}"),
    _one("act_gelu_tanh", (3, 4, 5), "gelu: {approximate: tanh}"),
    _one("act_softmax", (5, 3, 3), "softmax: {}"),
    Case("act_softmax_flat", (3, 2, 2), "  - flatten: {}\n  - softmax: {}\n"),
    # --- structure and merges
    Case("flatten_dense", (3, 4, 5), "  - flatten: {}\n  - dense: {units: 7}\n"),
    Case(
        "flatten_dropout_dense",
        (2, 3, 3),
        "  - flatten: {}\n  - dropout: {rate: 0.1}\n  - dense: {units: 4, bias: false}\n",
    ),
    Case("dense_chain", (6,), "  - dense: {units: 5}\n  - relu: {}\n  - dense: {units: 3}\n"),
    Case(
        "add_residual",
        (4, 6, 6),
        "  - conv2d: {filters: 4, kernel: 3, padding: same, id: a}\n  - add: {from: [input, a]}\n",
    ),
    Case(
        "add_broadcast",
        (4, 6, 6),
        "  - global_avg_pool: {keepdims: true, id: m}\n  - add: {from: [input, m]}\n",
    ),
    Case(
        "concat_branches",
        (3, 6, 6),
        "  - conv2d: {filters: 2, kernel: 1, id: a}\n"
        "  - conv2d: {filters: 3, kernel: 3, padding: same, from: input, id: b}\n"
        "  - concat: {from: [a, b]}\n",
    ),
    Case(
        "multiply_se",
        (4, 5, 5),
        "  - global_avg_pool: {keepdims: true, id: squeeze}\n"
        "  - conv2d: {filters: 2, kernel: 1}\n"
        "  - relu: {}\n"
        "  - conv2d: {filters: 4, kernel: 1}\n"
        "  - hard_sigmoid: {id: gate}\n"
        "  - multiply: {from: [input, gate]}\n",
    ),
    _one("identity", (3, 4, 4), "identity: {}"),
    _one("zero_padding_asym", (3, 4, 5), "zero_padding: {padding: [[1, 0], [2, 1]]}"),
    _one("scale", (3, 4, 4), "scale: {factor: 0.17}"),
]

# (layer line, input shape, output shape, trainable, non-trainable, MACs, receptive field max)
_GOLDEN = [
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
    ("channel_shuffle: {groups: 2}", "[4, 3, 3]", (4, 3, 3), 0, 0, 0, 1),
]

CASES += [
    Case(f"golden_{line.split(':')[0]}_{i}", tuple(ast.literal_eval(inp)), f"  - {line}\n",
         Expect(shape, trainable, frozen, macs, rf))
    for i, (line, inp, shape, trainable, frozen, macs, rf) in enumerate(_GOLDEN)
]
#: the cases with analytic expectations: one per layer type at least
GOLDEN = [c for c in CASES if c.expect is not None]
CASE_IDS = [c.name for c in CASES]
