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
}

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
}

#: (spec, overrides, trainable parameters): reference variants selected by spec arguments
VARIANTS = [
    ("resnet50", {"conv_bias": True}, 25_583_592),  # keras ResNet50: a bias on every conv
    ("inception_v3", {"bn_scale": False}, 23_817_352),  # keras InceptionV3: BN without γ
    ("googlenet", {"branch5_kernel": 5}, 7_005_832),  # the paper's 5×5 branch
    ("resnet18", {"classes": 10}, 11_689_512 - 990 * 513),  # only the fc layer changes
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
    assert g.output_shapes == [(1000,)]


@pytest.mark.parametrize("name", list(MACS))
def test_macs(name: str) -> None:
    assert graph(name).macs == MACS[name]


@pytest.mark.parametrize("name", list(ZOO))
def test_spec_expectations_hold(name: str) -> None:
    g = graph(name)
    assert g.spec.expect is not None and g.spec.expect.params == ZOO[name][2]
    assert g.spec.expect.macs == MACS[name]
    assert g.spec.expect.output_shape == [1000]
    g.check_expectations()  # raises ExpectationError on any mismatch


@pytest.mark.parametrize("name", list(ZOO))
def test_spec_header(name: str) -> None:
    lines = (SPECS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# yaml-language-server: $schema=../docs/archdsl.schema.json"
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
