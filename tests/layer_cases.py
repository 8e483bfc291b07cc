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
    # --- layer / group normalization, layer scale, stochastic depth (issue 12)
    _one("ln_tokens_last", (5, 6), "layer_norm: {}"),
    _one("ln_tokens_eps", (4, 8), "layer_norm: {eps: 1.0e-3}"),
    _one("ln_map_channels", (4, 3, 5), "layer_norm: {axis: channels, eps: 1.0e-6}"),
    _one("ln_map_last_axis", (3, 4, 5), "layer_norm: {axis: last}"),
    _one("ln_flat_channels", (6,), "layer_norm: {axis: channels}"),
    _one("gn_groups1", (4, 3, 3), "group_norm: {groups: 1}"),
    _one("gn_groups2_eps", (4, 3, 5), "group_norm: {groups: 2, eps: 1.0e-3}"),
    _one("gn_groups_c_1d", (4, 5), "group_norm: {groups: 4}"),
    _one("layer_scale_channels", (4, 3, 3), "layer_scale: {init: 0.5}"),
    _one("layer_scale_tokens", (5, 6), "layer_scale: {axis: last, init: 0.1}"),
    _one("stochastic_depth_eval", (3, 4, 4), "stochastic_depth: {rate: 0.2}"),
    Case("convnext_block_sd", (4, 5, 5),
         "  - depthwise_conv2d: {kernel: 3, padding: same}\n"
         "  - layer_norm: {axis: channels, eps: 1.0e-6}\n"
         "  - conv2d: {filters: 8, kernel: 1}\n  - gelu: {}\n"
         "  - conv2d: {filters: 4, kernel: 1}\n"
         "  - layer_scale: {init: 0.25}\n  - stochastic_depth: {rate: 0.1, id: branch}\n"
         "  - add: {from: [input, branch]}\n"),
    # --- parameters (class token, position embedding, fixed constants)
    Case("param_cls_token_zeros", (5, 6),
         "  - parameter: {shape: [1, 6], id: cls}\n  - concat: {from: [cls, input], axis: 0}\n"),
    Case("param_pos_embed_normal", (5, 6),
         "  - parameter: {shape: [5, 6], init: normal, std: 0.02, id: pos}\n"
         "  - add: {from: [input, pos]}\n"),
    _one("param_trunc_normal", (3, 4, 4), "parameter: {shape: [2, 3], init: trunc_normal}"),
    _one("param_ones", (2, 3), "parameter: {shape: [4], init: ones}"),
    _one("param_fixed_window_mask", (3, 4, 4),
         "parameter: {shape: [4, 4, 4], fixed: 'shifted_window_mask(4, 4, 2, 1)'}"),
    # --- multi-head self-attention on tokens (L, D)
    _one("mha_heads1", (5, 6), "multi_head_attention: {heads: 1}"),
    _one("mha_heads3", (5, 6), "multi_head_attention: {heads: 3}"),
    _one("mha_heads3_nobias", (4, 6), "multi_head_attention: {heads: 3, bias: false}"),
    Case("vit_block_prenorm", (5, 6),
         "  - layer_norm: {eps: 1.0e-6}\n  - multi_head_attention: {heads: 2, id: att}\n"
         "  - add: {from: [input, att], id: res}\n  - layer_norm: {eps: 1.0e-6}\n"
         "  - gelu: {}\n  - layer_scale: {axis: last, init: 0.5, id: mlp}\n"
         "  - add: {from: [res, mlp]}\n"),
    # --- tensor ops on feature maps and tokens: reshape, permute, slice, pad, roll, take, mean,
    # matmul; softmax and concat on any axis (issue 12)
    Case("vit_patch_tokens_chain", (3, 12, 8),
         "  - conv2d: {filters: 5, kernel: 4, stride: 4}\n"
         "  - reshape: {shape: [5, -1]}\n  - permute: {dims: [1, 0], id: tokens}\n"
         "  - dense: {units: 4}\n  - scale: {factor: 0.5, id: q}\n"
         "  - dense: {units: 4, from: tokens, id: k}\n"
         "  - matmul: {from: [q, k], transpose_b: true}\n  - softmax: {axis: -1, id: attn}\n"
         "  - matmul: {from: [attn, tokens]}\n  - mean: {axes: 0}\n"),
    Case("swin_window_chain", (3, 8, 12),
         "  - conv2d: {filters: 4, kernel: 2, stride: 2}\n"
         "  - permute: {dims: [1, 2, 0], id: hwc}\n"
         "  - roll: {shifts: [-1, -1], axes: [0, 1]}\n"
         "  - reshape: {shape: [2, 2, 3, 2, 4]}\n  - permute: {dims: [0, 2, 1, 3, 4]}\n"
         "  - reshape: {shape: [6, 4, 4], id: windows}\n  - scale: {factor: 0.5, id: q}\n"
         "  - matmul: {from: [q, windows], transpose_b: true, id: scores}\n"
         "  - mean: {from: hwc, axes: [0, 1]}\n  - dense: {units: 9}\n"
         "  - reshape: {shape: [9, 1]}\n"
         "  - take: {axis: 0, index: 'relative_position_index(2)'}\n"
         "  - permute: {dims: [1, 0]}\n  - reshape: {shape: [1, 4, 4], id: bias}\n"
         "  - add: {from: [scores, bias]}\n  - softmax: {axis: -1, id: attn}\n"
         "  - matmul: {from: [attn, windows]}\n"
         "  - reshape: {shape: [2, 3, 2, 2, 4]}\n  - permute: {dims: [0, 2, 1, 3, 4]}\n"
         "  - reshape: {shape: [4, 6, 4]}\n  - roll: {shifts: [1, 1], axes: [0, 1]}\n"
         "  - permute: {dims: [2, 0, 1]}\n  - conv2d: {filters: 3, kernel: 1}\n"),
    _one("reshape_flat_to_map", (12,), "reshape: {shape: [3, 2, 2]}"),
    Case("reshape_map_conv", (12,), "  - reshape: {shape: [3, 2, 2]}\n"
         "  - conv2d: {filters: 2, kernel: 2}\n"),
    Case("permute_hw_conv", (3, 4, 6), "  - permute: {dims: [0, 2, 1]}\n"
         "  - conv2d: {filters: 2, kernel: [1, 3]}\n"),
    _one("slice_channels_step", (6, 4, 5), "slice: {axis: 0, start: 1, stop: 6, step: 2}"),
    _one("slice_width_negative", (3, 6, 5), "slice: {axis: -1, start: -4, stop: -1}"),
    Case("slice_tokens_drop_first", (3, 4, 6),
         "  - reshape: {shape: [3, 24]}\n  - permute: {dims: [1, 0]}\n"
         "  - slice: {axis: 0, start: 1}\n"),
    _one("pad_map_value", (3, 4, 5), "pad: {pads: [[0, 1], [2, 0], [1, 1]], value: -1.5}"),
    _one("pad_rank2", (4, 6), "pad: {pads: [[1, 0], [0, 2]]}"),
    Case("pad_map_conv", (2, 5, 4), "  - pad: {pads: [[0, 0], [1, 0], [0, 2]]}\n"
         "  - conv2d: {filters: 2, kernel: 3}\n"),
    _one("roll_spatial", (3, 5, 6), "roll: {shifts: [2, -1], axes: [1, -1]}"),
    _one("roll_channels", (4, 3, 3), "roll: {shifts: 1, axes: 0}"),
    _one("take_channels_list", (4, 3, 5), "take: {axis: 0, index: [3, 0, 0, 2]}"),
    _one("take_width_negative", (2, 3, 5), "take: {axis: -1, index: [4, 1]}"),
    Case("take_tokens_rel_index", (2, 9),
         "  - permute: {dims: [1, 0]}\n"
         "  - take: {axis: 0, index: 'relative_position_index(2)'}\n"),
    Case("mean_spatial_keep_gate", (4, 5, 6),
         "  - mean: {axes: [1, 2], keepdims: true, id: m}\n  - multiply: {from: [input, m]}\n"),
    _one("mean_channels", (4, 5, 6), "mean: {axes: 0}"),
    Case("mean_tokens_negative", (4, 5, 6),
         "  - reshape: {shape: [4, 30]}\n  - permute: {dims: [1, 0]}\n"
         "  - mean: {axes: -2}\n"),
    Case("matmul_map_transpose_a", (3, 4, 5),
         "  - matmul: {from: [input, input], transpose_a: true}\n"),
    Case("softmax_tokens_axis0", (3, 4, 5),
         "  - reshape: {shape: [3, 20]}\n  - permute: {dims: [1, 0]}\n"
         "  - softmax: {axis: 0}\n"),
    Case("softmax_tokens_neg2", (3, 4, 5),
         "  - reshape: {shape: [12, 5]}\n  - softmax: {axis: -2}\n"),
    _one("softmax_map_axis1", (3, 4, 5), "softmax: {axis: 1}"),
    Case("concat_tokens_cls", (3, 2, 2),
         "  - reshape: {shape: [3, 4]}\n  - permute: {dims: [1, 0], id: tokens}\n"
         "  - slice: {axis: 0, stop: 1, id: first}\n"
         "  - concat: {from: [first, tokens], axis: 0}\n"),
    Case("concat_tokens_last", (3, 2, 2),
         "  - reshape: {shape: [3, 4]}\n  - permute: {dims: [1, 0], id: tokens}\n"
         "  - dense: {units: 2, id: d}\n  - concat: {from: [tokens, d], axis: -1}\n"),
    Case("concat_map_axis1", (3, 4, 5),
         "  - conv2d: {filters: 3, kernel: [2, 1], id: a}\n"
         "  - concat: {from: [input, a], axis: 1}\n"),
    Case("concat_map_negative", (3, 4, 5),
         "  - conv2d: {filters: 3, kernel: [1, 2], id: a}\n"
         "  - concat: {from: [a, input], axis: -1}\n"),
    # --- resampling (issue 12): upsample with PyTorch's index rules, adaptive pooling bins
    _one("upsample_nearest_x2", (3, 4, 5), "upsample: {scale: 2}"),
    _one("upsample_nearest_5to7", (2, 5, 5), "upsample: {size: 7}"),
    _one("upsample_nearest_shrink", (2, 7, 9), "upsample: {size: [4, 5]}"),
    _one("upsample_nearest_same_size", (3, 4, 4), "upsample: {size: 4}"),
    # PyTorch's float32 index floor(f32(i)·f32(in/out)): cell 41 of 2 → 82 reads cell 0
    _one("upsample_nearest_f32_index", (2, 2), "upsample: {size: 82}"),
    _one("upsample_nearest_f32_index_2d", (2, 3, 2), "upsample: {size: [123, 82]}"),
    _one("upsample_nearest_1d", (3, 5), "upsample: {size: 8}"),
    _one("upsample_nearest_3d", (2, 2, 3, 3), "upsample: {scale: [2, 1, 3]}"),
    _one("upsample_bilinear_x2", (2, 4, 6), "upsample: {scale: 2, mode: bilinear}"),
    _one("upsample_bilinear_odd", (2, 5, 7), "upsample: {size: [9, 11], mode: bilinear}"),
    _one("upsample_bilinear_shrink", (2, 9, 8), "upsample: {size: [5, 3], mode: bilinear}"),
    _one("upsample_bilinear_same_size", (2, 5, 4), "upsample: {size: [5, 4], mode: bilinear}"),
    _one("upsample_bilinear_align_x2", (2, 4, 4),
         "upsample: {scale: 2, mode: bilinear, align_corners: true}"),
    _one("upsample_bilinear_align_odd", (2, 5, 4),
         "upsample: {size: [9, 7], mode: bilinear, align_corners: true}"),
    _one("upsample_bilinear_align_shrink", (2, 7, 6),
         "upsample: {size: [4, 4], mode: bilinear, align_corners: true}"),
    _one("upsample_bilinear_align_out1", (2, 5, 4),
         "upsample: {size: [1, 3], mode: bilinear, align_corners: true}"),
    _one("upsample_linear_1d_x3", (3, 5), "upsample: {scale: 3, mode: bilinear}"),
    _one("upsample_linear_1d_align", (3, 5),
         "upsample: {size: 12, mode: bilinear, align_corners: true}"),
    _one("upsample_trilinear", (2, 3, 4, 5), "upsample: {size: [5, 6, 7], mode: bilinear}"),
    _one("upsample_trilinear_align", (2, 3, 4, 3),
         "upsample: {size: [4, 7, 5], mode: bilinear, align_corners: true}"),
    Case("upsample_unet_skip", (3, 9, 7),
         "  - conv2d: {filters: 4, kernel: 3, padding: same, id: skip}\n"
         "  - max_pool2d: {pool: 2}\n"
         "  - conv2d: {filters: 4, kernel: 3, padding: same}\n"
         "  - upsample: {size: [9, 7], mode: bilinear, id: up}\n"
         "  - concat: {from: [up, skip]}\n"
         "  - conv2d: {filters: 2, kernel: 1}\n"),
    _one("adaptive_avg_1x1", (4, 5, 7), "adaptive_avg_pool2d: {size: 1}"),
    _one("adaptive_max_1x1", (4, 5, 7), "adaptive_max_pool2d: {size: 1}"),
    _one("adaptive_avg_13_to_6", (2, 13, 13), "adaptive_avg_pool2d: {size: 6}"),
    _one("adaptive_max_13_to_6", (2, 13, 13), "adaptive_max_pool2d: {size: 6}"),
    _one("adaptive_avg_3_to_6", (3, 3, 3), "adaptive_avg_pool2d: {size: 6}"),
    _one("adaptive_max_3_to_6", (3, 3, 3), "adaptive_max_pool2d: {size: 6}"),
    _one("adaptive_avg_rect", (3, 7, 10), "adaptive_avg_pool2d: {size: [3, 4]}"),
    _one("adaptive_max_rect", (3, 10, 7), "adaptive_max_pool2d: {size: [4, 6]}"),
    _one("adaptive_avg_same_size", (3, 4, 5), "adaptive_avg_pool2d: {size: [4, 5]}"),
    _one("adaptive_max_mixed", (3, 5, 9), "adaptive_max_pool2d: {size: [5, 2]}"),
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
    # issue 12: normalization over tokens (no receptive field: tokens have no geometry) and maps
    ("layer_norm: {}", "[5, 6]", (5, 6), 12, 0, 0, None),
    ("layer_norm: {axis: channels, eps: 1.0e-6}", "[4, 3, 5]", (4, 3, 5), 8, 0, 0, 1),
    ("group_norm: {groups: 2, eps: 1.0e-3}", "[4, 3, 5]", (4, 3, 5), 8, 0, 0, 1),
    ("group_norm: {groups: 4}", "[4, 5]", (4, 5), 8, 0, 0, 1),
    ("layer_scale: {init: 0.5}", "[4, 3, 3]", (4, 3, 3), 4, 0, 0, 1),
    ("layer_scale: {axis: last}", "[5, 6]", (5, 6), 6, 0, 0, None),
    ("stochastic_depth: {rate: 0.2}", "[3, 4, 4]", (3, 4, 4), 0, 0, 0, 1),
    ("parameter: {shape: [1, 6]}", "[5, 6]", (1, 6), 6, 0, 0, None),
    ("parameter: {shape: [5, 6], init: normal, std: 0.02}", "[5, 6]", (5, 6), 30, 0, 0, None),
    ("parameter: {shape: [4, 4, 4], fixed: 'shifted_window_mask(4, 4, 2, 1)'}", "[3, 4, 4]",
     (4, 4, 4), 0, 64, 0, None),
    # MACs: projections 4·L·D², scores and weighted sum 2·L²·D
    ("multi_head_attention: {heads: 1}", "[5, 6]", (5, 6), 4 * 36 + 4 * 6, 0,
     4 * 5 * 36 + 2 * 25 * 6, None),
    ("multi_head_attention: {heads: 3, bias: false}", "[4, 6]", (4, 6), 4 * 36, 0,
     4 * 4 * 36 + 2 * 16 * 6, None),
    # tensor ops (issue 12): rf is not defined after "ordered" layers on rank > 1 (tokens)
    ("reshape: {shape: [4, -1]}", "[4, 3, 5]", (4, 15), 0, 0, 0, None),
    ("permute: {dims: [2, 0, 1]}", "[4, 3, 5]", (5, 4, 3), 0, 0, 0, None),
    ("slice: {axis: 1, start: 1, stop: 7, step: 2}", "[3, 8, 8]", (3, 3, 8), 0, 0, 0, 1),
    ("pad: {pads: [[0, 0], [1, 2], [0, 1]], value: 1.0}", "[3, 4, 4]", (3, 7, 5), 0, 0, 0, 1),
    ("roll: {shifts: [1, -2], axes: [1, 2]}", "[3, 4, 4]", (3, 4, 4), 0, 0, 0, 1),
    ("take: {axis: 0, index: 'relative_position_index(2)'}", "[9, 2]", (16, 2), 0, 0, 0, 1),
    ("mean: {axes: [1, 2]}", "[5, 6, 7]", (5,), 0, 0, 0, None),
    ("matmul: {from: [input, input], transpose_b: true}", "[2, 3, 4]", (2, 3, 3), 0, 0,
     2 * 3 * 3 * 4, None),
    # resampling (issue 12): no weights, no MACs; rf = taps (nearest 1, bilinear 2) for
    # integer factors, 1 when the ratio is not an integer (no simple window), the widest bin
    ("upsample: {scale: 2}", "[3, 4, 5]", (3, 8, 10), 0, 0, 0, 1),
    ("upsample: {scale: 2, mode: bilinear}", "[2, 4, 6]", (2, 8, 12), 0, 0, 0, 2),
    ("upsample: {size: 7}", "[2, 5, 5]", (2, 7, 7), 0, 0, 0, 1),
    ("upsample: {size: [9, 7], mode: bilinear, align_corners: true}", "[2, 5, 4]", (2, 9, 7),
     0, 0, 0, 1),
    ("upsample: {scale: 3}", "[3, 5]", (3, 15), 0, 0, 0, 1),
    ("upsample: {scale: [2, 1, 2], mode: bilinear}", "[2, 2, 3, 2]", (2, 4, 3, 4), 0, 0, 0, 2),
    ("adaptive_avg_pool2d: {size: 1}", "[4, 5, 7]", (4, 1, 1), 0, 0, 0, 7),
    ("adaptive_max_pool2d: {size: 6}", "[2, 13, 13]", (2, 6, 6), 0, 0, 0, 3),
    ("adaptive_avg_pool2d: {size: 6}", "[3, 3, 3]", (3, 6, 6), 0, 0, 0, 1),
    ("adaptive_max_pool2d: {size: [3, 4]}", "[3, 7, 10]", (3, 3, 4), 0, 0, 0, 3),
]

CASES += [
    Case(f"golden_{line.split(':')[0]}_{i}", tuple(ast.literal_eval(inp)), f"  - {line}\n",
         Expect(shape, trainable, frozen, macs, rf))
    for i, (line, inp, shape, trainable, frozen, macs, rf) in enumerate(_GOLDEN)
]
#: the cases with analytic expectations: one per layer type at least
GOLDEN = [c for c in CASES if c.expect is not None]
CASE_IDS = [c.name for c in CASES]
