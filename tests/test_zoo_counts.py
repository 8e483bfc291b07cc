"""The model zoo (``specs/*.yaml``): exact trainable parameters, MACs and output shapes.

The reference numbers are the frameworks' own: ``sum(p.numel() for p in model.parameters())``
of torchvision, ``model.count_params()`` (trainable) of ``keras.applications``; MACs follow
torchvision's convention, ``torch.utils.flop_counter`` / 2 (convolutions and dense layers only).
No framework is imported here: these are core tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import archdsl

SPECS = Path(__file__).resolve().parent.parent / "specs"

#: spec file → (reference, input side, trainable parameters)
ZOO: dict[str, tuple[str, int, int]] = {
    "resnet18": ("torchvision resnet18", 224, 11_689_512),
    "resnet34": ("torchvision resnet34", 224, 21_797_672),
    "resnet50": ("torchvision resnet50 (v1.5)", 224, 25_557_032),
    "resnet101": ("torchvision resnet101", 224, 44_549_160),
    "resnet152": ("torchvision resnet152", 224, 60_192_808),
    "resnet50_v2": ("keras ResNet50V2", 224, 25_568_360),
    "googlenet": ("torchvision googlenet, no aux heads", 224, 6_624_904),
    "inception_v3": ("torchvision inception_v3, no aux head", 299, 23_834_568),
    "inception_resnet_v2": ("keras InceptionResNetV2", 299, 55_813_192),
    "xception": ("keras Xception", 299, 22_855_952),
    "se_resnet50": ("SE-ResNet-50, reduction 16 (= timm seresnet50)", 224, 28_088_024),
    "mobilenet_v2": ("torchvision mobilenet_v2", 224, 3_504_872),
    "mobilenet_v3_small": ("torchvision mobilenet_v3_small", 224, 2_542_856),
    "mobilenet_v3_large": ("torchvision mobilenet_v3_large", 224, 5_483_032),
    "efficientnet_b0": ("torchvision efficientnet_b0", 224, 5_288_548),
    "efficientnet_b3": ("torchvision efficientnet_b3", 300, 12_233_232),
    "efficientnet_v2_s": ("torchvision efficientnet_v2_s", 384, 21_458_488),
    # zoo 2 (issue 12)
    "alexnet": ("torchvision alexnet", 224, 61_100_840),
    "vgg16": ("torchvision vgg16", 224, 138_357_544),
    "squeezenet1_1": ("torchvision squeezenet1_1", 224, 1_235_496),
    "densenet121": ("torchvision densenet121", 224, 7_978_856),
    "shufflenet_v2_x1_0": ("torchvision shufflenet_v2_x1_0", 224, 2_278_604),
    "resnext50_32x4d": ("torchvision resnext50_32x4d", 224, 25_028_904),
    "wide_resnet50_2": ("torchvision wide_resnet50_2", 224, 68_883_240),
    "regnet_y_400mf": ("torchvision regnet_y_400mf", 224, 4_344_144),
    "mnasnet1_0": ("torchvision mnasnet1_0", 224, 4_383_312),
    # tokens (issue 12; the formulas behind them in test_zoo2_tokens.py)
    "vit_b_16": ("torchvision vit_b_16", 224, 86_567_656),
    "convnext_tiny": ("torchvision convnext_tiny", 224, 28_589_128),
    "swin_t": ("torchvision swin_t", 224, 28_288_354),
    "vit_cifar10": ("vit_b_16 scaled down: patch 4, width 128, depth 4", 32, 546_186),
}

#: classes where not ImageNet's 1,000
CLASSES = {"vit_cifar10": 10}

#: non-trainable parameters: the BatchNorm running mean and variance (torchvision's buffers
#: without num_batches_tracked), two per BatchNorm channel
NON_TRAINABLE = {
    "alexnet": 0,
    "vgg16": 0,
    "squeezenet1_1": 0,
    "densenet121": 83_648,
    "shufflenet_v2_x1_0": 16_180,
    "resnext50_32x4d": 68_224,
    "wide_resnet50_2": 68_224,
    "regnet_y_400mf": 27_152,
    "mnasnet1_0": 37_920,
    "vit_b_16": 0,
    "convnext_tiny": 0,
    "swin_t": 220_892,
    "vit_cifar10": 0,
}

#: non-trainable parameters that are not BatchNorm statistics: Swin-T's fixed shifted-window
#: attention masks (torchvision recomputes them at every forward)
FIXED = {"swin_t": 220_892}

#: MACs per sample: torch.utils.flop_counter / 2 on torchvision's model (torchvision references)
#: or on a torch forward pass of the spec (Keras references, SE-ResNet-50).
MACS = {
    "resnet18": 1_814_073_344,
    "resnet50": 4_089_184_256,
    "mobilenet_v3_large": 216_589_760,
    "efficientnet_b0": 385_814_752,
    "resnet34": 3_663_761_408,
    "resnet101": 7_801_405_440,
    "resnet152": 11_513_626_624,
    "resnet50_v2": 3_482_255_360,
    "googlenet": 1_498_376_192,
    "inception_v3": 5_713_216_096,
    "inception_resnet_v2": 13_155_794_016,
    "xception": 8_357_403_496,
    "se_resnet50": 4_091_699_200,
    "mobilenet_v2": 300_774_272,
    "mobilenet_v3_small": 56_510_400,
    "efficientnet_b3": 1_827_141_392,
    "efficientnet_v2_s": 8_365_617_152,
    "alexnet": 714_188_480,
    "vgg16": 15_470_264_320,
    "squeezenet1_1": 349_151_936,
    "densenet121": 2_834_161_664,
    "shufflenet_v2_x1_0": 144_907_992,
    "resnext50_32x4d": 4_230_479_872,
    "wide_resnet50_2": 11_398_021_120,
    "regnet_y_400mf": 401_842_848,
    "mnasnet1_0": 314_415_872,
    # attention products counted too: ViT-B/16's 17.56 G is the figure torchvision publishes
    "vit_b_16": 17_563_828_224,
    "convnext_tiny": 4_455_531_264,
    "swin_t": 4_490_566_656,
    "vit_cifar10": 38_799_616,
}

#: (spec, overrides, trainable parameters): reference variants selected by spec arguments
VARIANTS = [
    ("resnet50", {"conv_bias": True}, 25_583_592),  # keras ResNet50: a bias on every conv
    ("inception_v3", {"bn_scale": False}, 23_817_352),  # keras InceptionV3: BN without γ
    ("googlenet", {"branch5_kernel": 5}, 7_005_832),  # the paper's 5×5 branch
    ("resnet18", {"classes": 10}, 11_689_512 - 990 * 513),  # only the fc layer changes
    # the grouped / widened bottleneck of lib/resnet.yaml, set back to ResNet-50's
    ("resnext50_32x4d", {"groups": 1, "base_width": 64}, 25_557_032),
    ("wide_resnet50_2", {"base_width": 64}, 25_557_032),
]

_CACHE: dict[str, archdsl.Graph] = {}


def graph(name: str) -> archdsl.Graph:
    """Each spec is compiled once per test session."""
    if name not in _CACHE:
        _CACHE[name] = archdsl.load(SPECS / f"{name}.yaml")
    return _CACHE[name]


@pytest.mark.parametrize("name", list(ZOO))
def test_trainable_params(name: str) -> None:
    reference, _, params = ZOO[name]
    assert graph(name).params["trainable"] == params, reference


@pytest.mark.parametrize("name", list(ZOO))
def test_input_and_output_shape(name: str) -> None:
    _, side, _ = ZOO[name]
    g = graph(name)
    assert g.input_shapes == [(3, side, side)]
    assert g.output_shapes == [(CLASSES.get(name, 1000),)]


@pytest.mark.parametrize("name", list(MACS))
def test_macs(name: str) -> None:
    assert graph(name).macs == MACS[name]


@pytest.mark.parametrize("name", list(NON_TRAINABLE))
def test_non_trainable_params(name: str) -> None:
    g = graph(name)
    assert g.params["non_trainable"] == NON_TRAINABLE[name]
    bn_channels = sum(n.shape[0] for n in g.walk() if n.type == "batchnorm")
    assert g.params["non_trainable"] == 2 * bn_channels + FIXED.get(name, 0)


@pytest.mark.parametrize("name", list(ZOO))
def test_spec_expectations_hold(name: str) -> None:
    g = graph(name)
    assert g.spec.expect is not None and g.spec.expect.params == ZOO[name][2]
    assert g.spec.expect.macs == MACS[name]
    if name in NON_TRAINABLE:
        assert g.spec.expect.non_trainable == NON_TRAINABLE[name]
    assert g.spec.expect.output_shape == [CLASSES.get(name, 1000)]
    g.check_expectations()  # raises ExpectationError on any mismatch


@pytest.mark.parametrize("name", list(ZOO))
def test_spec_header(name: str) -> None:
    lines = (SPECS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# yaml-language-server: $schema=archdsl.schema.json"  # specs/ copy
    assert lines[1].startswith("# ") and len(lines[1]) > 10  # cites the paper


@pytest.mark.parametrize(("name", "overrides", "params"), VARIANTS)
def test_variants(name: str, overrides: dict[str, Any], params: int) -> None:
    g = archdsl.load(SPECS / f"{name}.yaml", **overrides)
    assert g.params["trainable"] == params


def test_resnet50_conv_bias_adds_one_bias_per_conv_channel() -> None:
    base = graph("resnet50")
    conv_channels = sum(n.shape[0] for _, n in base.layers() if n.type == "conv2d")
    assert conv_channels == 26_560
    biased = archdsl.load(SPECS / "resnet50.yaml", conv_bias=True)
    assert biased.params["trainable"] == base.params["trainable"] + conv_channels


def test_torchvision_state_dict_names() -> None:
    names = set(graph("resnet50").nx.nodes)
    for expected in (
        "conv1",
        "bn1",
        "layer1.0.conv1",
        "layer1.0.downsample.0",
        "layer1.0.downsample.1",
        "layer4.2.bn3",
        "fc",
    ):
        assert expected in names
    assert "layer1.1.downsample.0" not in names  # identity shortcut
    assert "Mixed_7c.branch3x3dbl_3b.conv" in graph("inception_v3").nx.nodes
    assert "inception5b.branch4.1.conv" in graph("googlenet").nx.nodes


def test_se_resnet50_by_hand() -> None:
    """SE-ResNet-50 = ResNet-50 + per bottleneck an SE gate on C = 4·width channels:
    fc1 (C → C/16, bias) + fc2 (C/16 → C, bias) = 2·C²/16 + C/16 + C weights."""
    stages = [(64, 3), (128, 4), (256, 6), (512, 3)]  # (width, blocks) of ResNet-50
    se = 0
    for width, blocks in stages:
        c, squeeze = 4 * width, 4 * width // 16
        se += blocks * ((c * squeeze + squeeze) + (squeeze * c + c))
    assert se == 3 * 8_464 + 4 * 33_312 + 6 * 132_160 + 3 * 526_464 == 2_530_992
    assert graph("se_resnet50").params["trainable"] == ZOO["resnet50"][2] + se == 28_088_024
    # the SE weights are exactly the difference, node by node
    se_nodes = [n for n, _ in graph("se_resnet50").layers() if ".se." in n]
    assert sum(graph("se_resnet50")[n].trainable for n in se_nodes) == se


def test_efficientnet_b3_is_b0_scaled() -> None:
    """B3 is B0 with width 1.2 / depth 1.4 / resolution 300 through the DSL, not a copy."""
    text = (SPECS / "efficientnet_b3.yaml").read_text(encoding="utf-8")
    assert "extends: efficientnet_b0.yaml" in text and "body:" not in text
    scaled = archdsl.load(SPECS / "efficientnet_b0.yaml", width=1.2, depth=1.4, resolution=300)
    assert scaled.params == graph("efficientnet_b3").params
    assert scaled.macs == graph("efficientnet_b3").macs
    # depth 1.4: stage layers ceil(n · 1.4) = 2, 3, 3, 5, 5, 6, 2 (torchvision's B3)
    stages = [
        sum(
            1
            for n in graph("efficientnet_b3").nx
            if n.startswith(f"features.{s}.") and n.endswith(".project.bn")
        )
        for s in range(1, 8)
    ]
    assert stages == [2, 3, 3, 5, 5, 6, 2]


def test_extended_specs_share_their_base() -> None:
    for child, base in (
        ("resnet34", "resnet18"),
        ("resnet101", "resnet50"),
        ("resnet152", "resnet50"),
        ("efficientnet_b3", "efficientnet_b0"),
    ):
        text = (SPECS / f"{child}.yaml").read_text(encoding="utf-8")
        assert f"extends: {base}.yaml" in text and "body:" not in text


#: zoo 2 at 3×64×64: the same trainable count (the classifier input does not depend on the
#: size: adaptive or global pooling) and torchvision's MACs there (torch.utils.flop_counter / 2)
MACS_64 = {
    "alexnet": 98_144_960,
    "vgg16": 1_376_419_840,
    "squeezenet1_1": 21_584_576,
    "densenet121": 232_300_544,
    "shufflenet_v2_x1_0": 12_769_632,
    "resnext50_32x4d": 347_226_112,
    "wide_resnet50_2": 932_331_520,
    "regnet_y_400mf": 33_816_288,
    "mnasnet1_0": 26_842_112,
}


@pytest.mark.parametrize("name", list(MACS_64))
def test_zoo2_at_64(name: str) -> None:
    g = archdsl.load(SPECS / f"{name}.yaml", input_shapes=[[3, 64, 64]])
    assert g.params["trainable"] == ZOO[name][2]
    assert g.params["non_trainable"] == NON_TRAINABLE[name]
    assert g.macs == MACS_64[name]
    assert g.output_shapes == [(1000,)]


def test_alexnet_at_64_thanks_to_adaptive_pooling() -> None:
    g = archdsl.load(SPECS / "alexnet.yaml", input_shapes=[[3, 64, 64]])
    assert g["features.12"].shape == (256, 1, 1)  # the last max pool
    assert g["avgpool"].shape == (256, 6, 6)  # adaptive_avg_pool2d: {size: 6}
    assert g.params["trainable"] == 61_100_840


def test_classifier_layouts_follow_torchvision() -> None:
    """AlexNet drops out before each of its first two Linear layers, VGG after their ReLUs."""
    for name, layout in (
        ("alexnet", "dropout dense relu dropout dense relu dense"),
        ("vgg16", "dense relu dropout dense relu dropout dense"),
    ):
        g = graph(name)
        assert " ".join(g[f"classifier.{i}"].type for i in range(7)) == layout
        assert all(g[f"classifier.{i}"].params.rate == 0.5
                   for i in range(7) if g[f"classifier.{i}"].type == "dropout")


def test_squeezenet_pools_in_ceil_mode() -> None:
    g = graph("squeezenet1_1")
    pools = [n for n in g.walk() if n.type == "max_pool2d"]
    assert [n.id for n in pools] == ["features.2", "features.5", "features.8"]
    assert all(n.params.ceil_mode for n in pools)
    assert [n.shape[1] for n in pools] == [55, 27, 13]  # 111 → 55 → 27 → 13: exact in both modes
    # at 66×66 the stem gives 32 and the modes differ (torchvision: 16, 8, 4)
    g66 = archdsl.load(SPECS / "squeezenet1_1.yaml", input_shapes=[[3, 66, 66]])
    assert [g66[n.id].shape[1] for n in pools] == [16, 8, 4]  # floor mode: 15, 7, 3


def test_shufflenet_really_splits_and_shuffles() -> None:
    """16 units: the 13 stride-1 units split their input (two slices each), every unit shuffles."""
    g = graph("shufflenet_v2_x1_0")
    slices = [n for n in g.walk() if n.type == "slice"]
    shuffles = [n for n in g.walk() if n.type == "channel_shuffle"]
    assert len(slices) == 2 * 13 and len(shuffles) == 16
    assert all(n.params.groups == 2 for n in shuffles)
    assert g["stage2.1.chunk.x1"].shape == g["stage2.1.chunk.x2"].shape == (58, 28, 28)
    assert g["stage2.1.chunk.x2"].params.start == 58
    assert g["stage2.1.concat"].inputs == ("stage2.1.chunk.x1", "stage2.1.branch2.7")
    assert "stage2.0.chunk.x1" not in g.nx.nodes  # the stride-2 unit: two branches, no split


def test_mnasnet_batchnorm_momentum() -> None:
    """torchvision's _BN_MOMENTUM = 1 - 0.9997, the PyTorch form of TensorFlow's decay 0.9997."""
    bns = [n for n in graph("mnasnet1_0").walk() if n.type == "batchnorm"]
    assert len(bns) == 52
    assert all(n.params.momentum == 1 - 0.9997 and n.params.eps == 1e-5 for n in bns)


def test_resnext_and_wide_resnet_use_the_resnet_library() -> None:
    for name in ("resnext50_32x4d", "wide_resnet50_2"):
        text = (SPECS / f"{name}.yaml").read_text(encoding="utf-8")
        assert "import: [lib/resnet.yaml]" in text and "blocks:" not in text
    conv2 = graph("resnext50_32x4d")["layer1.0.conv2"]
    assert (conv2.shape[0], conv2.params.groups, conv2.trainable) == (128, 32, 128 * 4 * 9)
    wide = graph("wide_resnet50_2")["layer4.2.conv2"]
    assert (wide.shape[0], wide.params.groups) == (1024, 1)


def test_zoo2_torchvision_module_paths() -> None:
    for name, ids in (
        ("alexnet", ["features.0", "features.10", "avgpool", "classifier.6"]),
        ("vgg16", ["features.28", "features.30", "avgpool", "classifier.6"]),
        ("squeezenet1_1", ["features.12.expand3x3", "features.3.squeeze_activation",
                           "classifier.1"]),
        ("densenet121", ["features.conv0", "features.transition3.conv", "features.norm5",
                         "classifier"]),
        ("shufflenet_v2_x1_0", ["conv1.0", "stage2.0.branch1.0", "stage4.3.branch2.7",
                                "conv5.1", "fc"]),
        ("resnext50_32x4d", ["layer3.0.downsample.0", "layer4.2.bn3", "fc"]),
        ("regnet_y_400mf", ["stem.0", "trunk_output.block4.0.proj.0", "trunk_output.block2.1.f.se.fc1"]),
        ("mnasnet1_0", ["layers.0", "layers.7", "layers.16", "classifier.1"]),
    ):
        missing = [i for i in ids if i not in graph(name).nx.nodes]
        assert not missing, (name, missing)
