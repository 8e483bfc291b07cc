"""Zoo 2, the token and modern models: ViT-B/16, ConvNeXt-T, Swin-T and the CIFAR-10 ViT.

1. Counts (core, no framework; the table is in test_zoo_counts.py): trainable and
   non-trainable parameters, MACs and output shapes equal torchvision's
   (``sum(p.numel() for p in model.parameters())``; MACs as
   ``torch.utils.flop_counter`` / 2 with attention products counted: ViT-B/16's 17.56 G, the
   figure torchvision publishes; ConvNeXt-T's 4.46 G and Swin-T's 4.49 G are the flop counter's
   own), the formulas behind them, and that the receptive field is not defined (null) for token
   tensors.
2. The same function as torchvision (needs torch and torchvision; skipped without): torchvision's
   model with perturbed random weights, its state_dict mapped by name to the spec's canonical
   weights, against the numpy reference executor in float64 (≤ 1e-12 relative).
3. Crosschecks (need torch and keras): reference = PyTorch = Keras at small inputs, ≤ 1e-12
   relative to the largest activation in float64, ≤ 1e-5 in float32; the full-width models are
   ``slow``.
4. Identical training (float64, ≤ 1e-9 relative loss difference): a ConvNeXt-style block with
   stochastic depth on the bundled digits, and ``vit_cifar10`` for 20 steps on CIFAR-10
   (``slow``; needs the dataset under $ARCHDSL_DATA or ../shared/datasets).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import archdsl

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
ARCHDSL = [sys.executable, "-m", "archdsl"]

_CACHE: dict[str, archdsl.Graph] = {}


def graph(name: str) -> archdsl.Graph:
    if name not in _CACHE:
        _CACHE[name] = archdsl.load(SPECS / f"{name}.yaml")
    return _CACHE[name]


# ------------------------------------------------------------------------------------- counts
# (the count table itself is tests/test_zoo_counts.py's, with the other zoo specs)
def test_vit_b_16_by_hand() -> None:
    """conv 16×16 patches + class token + position embedding + 12 blocks + LN + head."""
    d, mlp, tokens = 768, 3072, 14 * 14 + 1
    block = 2 * 2 * d + (4 * d * d + 4 * d) + (d * mlp + mlp) + (mlp * d + d)
    total = (3 * 16 * 16 * d + d) + d + tokens * d + 12 * block + 2 * d + (d * 1000 + 1000)
    assert total == graph("vit_b_16").params["trainable"] == 86_567_656
    # MACs: the projections 4·L·D² and the two attention products 2·L²·D per block
    attention = 4 * tokens * d * d + 2 * tokens * tokens * d
    assert graph("vit_b_16")["encoder.layers.0.self_attention"].macs == attention


def test_vit_cifar10_is_vit_b_16_scaled_down() -> None:
    text = (SPECS / "vit_cifar10.yaml").read_text(encoding="utf-8")
    assert "extends: vit_b_16.yaml" in text and "body:" not in text
    same = archdsl.load(SPECS / "vit_b_16.yaml", input_shapes=[[3, 32, 32]], patch=4, width=128,
                        depth=4, heads=4, mlp=256, classes=10)
    assert same.params == graph("vit_cifar10").params and same.macs == graph("vit_cifar10").macs
    assert graph("vit_cifar10")["encoder.pos_embedding"].shape == (65, 128)  # 8·8 + 1 tokens


def test_vit_cifar10_trains_with_adamw_warmup_and_cosine() -> None:
    from archdsl.training import resolve_config

    config = resolve_config(graph("vit_cifar10"))
    assert config.dataset == "cifar10" and config.optimizer.name == "adamw"
    assert config.optimizer.decay == "decoupled" and config.optimizer.weight_decay == 0.05
    assert (config.schedule.name, config.schedule.per_step, config.schedule.warmup) == (
        "cosine", True, 200)
    assert config.augment.crop_padding == 4


def test_position_embedding_follows_the_input_size() -> None:
    """ViT-B/16 at 32×32: 2·2 patches + the class token."""
    g = archdsl.load(SPECS / "vit_b_16.yaml", input_shapes=[[3, 32, 32]])
    assert g["encoder.pos_embedding"].shape == (5, 768)
    assert g.params["trainable"] == 86_567_656 - (197 - 5) * 768


def test_convnext_stochastic_depth_rises_linearly() -> None:
    """torchvision: 0.1 · k / 17 for block k = 0 … 17, bit for bit; layer scale starts at 1e-6."""
    g = graph("convnext_tiny")
    rates = [n.params.rate for _, n in g.layers() if n.type == "stochastic_depth"]
    assert rates == [0.1 * k / 17.0 for k in range(18)]
    scales = [n.weights["scale"] for _, n in g.layers() if n.type == "layer_scale"]
    assert len(scales) == 18 and {w.init for w in scales} == {("constant", 1e-6)}
    eps = {n.params.eps for _, n in g.layers() if n.type == "layer_norm"}
    assert eps == {1e-6}


def test_swin_t_by_hand() -> None:
    """Per block: 2 LayerNorms, qkv, proj, the relative position table ((2·7 − 1)² × heads), an
    MLP with ratio 4; patch merging: LayerNorm(4C) and a 4C → 2C dense without bias. The masks:
    nW · 49² for each shifted block whose map is larger than one window."""
    trainable = 96 * 3 * 16 + 96 + 2 * 96  # patch embedding + its LayerNorm
    frozen = 0
    side, c = 56, 96
    for depth, heads in zip((2, 2, 6, 2), (3, 6, 12, 24)):
        block = 4 * c + (3 * c * c + 3 * c) + (c * c + c) + 169 * heads
        block += (c * 4 * c + 4 * c) + (4 * c * c + c)
        trainable += depth * block
        if side > 7:
            frozen += (depth // 2) * (side // 7) ** 2 * 49 * 49
        if heads != 24:
            trainable += 2 * 4 * c + 4 * c * 2 * c
            side, c = side // 2, 2 * c
    trainable += 2 * c + c * 1000 + 1000
    g = graph("swin_t")
    assert (trainable, frozen) == (g.params["trainable"], g.params["non_trainable"])
    assert frozen == 64 * 2401 + 16 * 2401 + 3 * 4 * 2401 == 220_892


def test_swin_masks_are_fixed_and_the_last_stage_does_not_shift() -> None:
    g = graph("swin_t")
    masks = {nid: n for nid, n in g.layers() if nid.endswith("attn_mask")}
    assert sorted(masks) == [f"features.{s}.{b}.attn.attn_mask"
                             for s, b in [(1, 1), (3, 1), (5, 1), (5, 3), (5, 5)]]
    for node in masks.values():
        value = node.weights["value"]
        assert not value.trainable and value.fixed is not None
        assert {v for w in value.fixed for row in w for v in row} == {0.0, -100.0}
    rolls = [nid for nid, n in g.layers() if n.type == "roll"]
    assert len(rolls) == 2 * len(masks) and not any(r.startswith("features.7.") for r in rolls)


def test_swin_t_at_112_pads_the_last_stage_to_one_window() -> None:
    """4×4 in the last stage: padded to 7×7 as torchvision does, then cropped back."""
    g = archdsl.load(SPECS / "swin_t.yaml", input_shapes=[[3, 112, 112]])
    assert g.params["trainable"] == 28_288_354
    assert g.params["non_trainable"] == (16 + 4) * 2401  # stages 1 and 2 shift
    assert g["features.7.0.attn.pad"].shape == (7, 7, 768)
    assert g["features.7.0.attn.crop_w"].shape == (4, 4, 768)


def test_receptive_field_is_not_defined_for_tokens() -> None:
    """`check --json`: a number up to the patch convolution, null from the first token node."""
    out = subprocess.run([*ARCHDSL, "check", str(SPECS / "vit_cifar10.yaml"), "--json",
                          "--compact"], capture_output=True, text=True, check=True, cwd=ROOT)
    layers = {layer["id"]: layer for layer in json.loads(out.stdout)["layers"]}
    assert layers["embed.conv_proj"]["receptive_field"]["max"] == [4, 4]
    tokens = [lid for lid in layers if lid != "embed.conv_proj"]
    assert tokens and all(layers[lid]["receptive_field"] is None for lid in tokens)
    for name in ("convnext_tiny", "swin_t"):
        rf = {layer["id"]: layer["receptive_field"] for layer in graph(name).to_json()["layers"]}
        assert rf["features.0.0"] is not None
        if name == "swin_t":  # (H, W, C) maps and tokens after the permute: not defined
            assert rf["features.0.1"] is None and rf["head"] is None
        else:  # ConvNeXt stays a (C, H, W) convolutional network throughout
            assert rf["classifier.2"] is not None


# ------------------------------------------------------- the same function as torchvision
TORCH_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
               "in_kernel": "in_proj_weight", "in_bias": "in_proj_bias",
               "out_kernel": "out_proj.weight", "out_bias": "out_proj.bias"}


def torchvision_name(model: str, node: str) -> str:
    """The torchvision module of a spec node (the ids follow torchvision's where they can)."""
    if model == "vit_b_16":
        node = node.removeprefix("embed.")
        return re.sub(r"^encoder\.layers\.(\d+)\.", r"encoder.layers.encoder_layer_\1.", node)
    if model == "convnext_tiny":
        node = re.sub(r"^(features\.\d)\.norm$", r"\1.0", node)
        return re.sub(r"^(features\.\d)\.conv$", r"\1.1", node)
    return node


def torchvision_weights(model: str, g: archdsl.Graph, tv: Any) -> dict[str, dict[str, Any]]:
    """torchvision's state_dict as the spec's canonical weights (every tensor used once)."""
    from archdsl.init import init_weights

    state = {k: v.numpy() for k, v in tv.state_dict().items()}
    weights = init_weights(g, seed=0)  # keeps the fixed masks
    used = set()
    for node_id, node in g.layers():
        for name, w in node.weights.items():
            if w.fixed is None:
                prefix = torchvision_name(model, node_id)
                key = prefix if w.role in ("parameter", "scale") else f"{prefix}.{TORCH_NAMES[name]}"
                weights[node_id][name] = state[key].reshape(w.shape)
                used.add(key)
    assert sorted(set(state) - used) == sorted(k for k in state if "relative_position_index" in k)
    return weights


@pytest.mark.parametrize(("model", "side"), [
    pytest.param("vit_b_16", 32, marks=pytest.mark.slow),  # building torchvision's: 1 minute
    ("convnext_tiny", 64),
    ("swin_t", 112),
])
def test_same_function_as_torchvision(model: str, side: int) -> None:
    """torchvision's forward (weights perturbed so every branch and layer scale matters) equals
    the spec's, run by the numpy reference in float64."""
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models", reason="torchvision not installed")
    from archdsl.reference.executor import ReferenceExecutor

    torch.manual_seed(0)
    kwargs = {"image_size": side} if model == "vit_b_16" else {}
    tv = getattr(models, model)(**kwargs).double().eval()
    with torch.no_grad():
        for p in tv.parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = archdsl.load(SPECS / f"{model}.yaml", input_shapes=[[3, side, side]])
    x = np.random.default_rng(0).standard_normal((2, 3, side, side))
    with torch.no_grad():
        expected = tv(torch.from_numpy(x)).numpy()
    ours = ReferenceExecutor(g, torchvision_weights(model, g, tv), keep_all=False).run(x)
    got = ours[g.outputs[0]]
    assert np.abs(got - expected).max() <= 1e-12 * np.abs(expected).max()


# ------------------------------------------------------------------------------ crosschecks
#: (spec, --input-shape side, --set overrides): small enough for the default run
SMALL = [
    ("vit_b_16", 32, {"width": 64, "depth": 2, "heads": 4, "mlp": 128}),  # patch 16: 5 tokens
    ("vit_cifar10", 32, {}),
    ("convnext_tiny", 32, {"depths": [1, 1, 2, 1], "dims": [16, 32, 64, 128]}),
    # 112: stages 1-2 shift (28×28, 14×14), stage 3 is one 7×7 window, stage 4 pads 4×4 to 7×7
    ("swin_t", 112, {"embed_dim": 24, "depths": [2, 2, 2, 2]}),
]
#: the zoo models themselves at a small input: minutes on two cores
FULL = [("vit_b_16", 32, {}), ("convnext_tiny", 64, {}), ("swin_t", 112, {})]
RELATIVE = {"float64": 1e-12, "float32": 1e-5}


def crosscheck(name: str, side: int, overrides: dict[str, Any], dtype: str) -> None:
    """reference = PyTorch = Keras at every node within RELATIVE[dtype] × the largest value
    any node takes (activations grow through the residual streams)."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from archdsl.crosscheck import forward_check, random_inputs
    from archdsl.init import init_weights
    from archdsl.reference.executor import ReferenceExecutor

    g = archdsl.load(SPECS / f"{name}.yaml", input_shapes=[[3, side, side]], **overrides)
    values = ReferenceExecutor(g, init_weights(g, None, 0)).run(*random_inputs(g, 2, 0, "float64"))
    scale = max(1.0, max(float(np.abs(v).max()) for v in values.values()))
    report = forward_check(g, dtype=dtype, tolerance=RELATIVE[dtype] * scale)
    assert report.ok, (report.first_divergent_node, report.departs, report.departs_at,
                       report.max_abs_diff, report.params, report.mismatched_shapes)
    assert report.reference and max(report.reference_max_abs_diff.values()) <= RELATIVE[dtype] * scale


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "side", "overrides"), SMALL, ids=[s[0] for s in SMALL])
def test_crosscheck_small(name: str, side: int, overrides: dict[str, Any], dtype: str) -> None:
    crosscheck(name, side, overrides, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "side", "overrides"), FULL, ids=[s[0] for s in FULL])
def test_crosscheck_full_width(name: str, side: int, overrides: dict[str, Any], dtype: str) -> None:
    crosscheck(name, side, overrides, dtype)


# ------------------------------------------------------------------------ identical training
CONVNEXT_BLOCKS = """\
archdsl: 1
name: convnext-blocks
import: [lib/convnext.yaml]
input: [1, 8, 8]
body:
  - conv2d: {id: stem, filters: 16, kernel: 2, stride: 2}
  - layer_norm: {id: stem_norm, axis: channels, eps: 1.0e-6}
  - cnblock: {id: stage, repeat: 2, rate: "${0.25 + 0.25 * i}", layer_scale: 0.5}
  - global_avg_pool: {id: pool}
  - dense: {id: head, units: 10}
train:
  dataset: digits
  batch_size: 32
  optimizer: {name: adamw, lr: 0.001, weight_decay: 0.05}
  dtype: float64
  seed: 0
"""


def _train_check(g: archdsl.Graph, steps: int, data_dir: Any = None) -> Any:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from archdsl.training import train_crosscheck

    report = train_crosscheck(g, steps, data_dir=data_dir)
    result: dict[str, Any] = report.as_json()
    assert result["max_rel_loss_diff"] <= 1e-9, result["max_rel_loss_diff"]
    assert report.ok, (result["first_divergent_grad_node"], result["max_param_rel_diff"])
    return result


def test_convnext_blocks_with_stochastic_depth_train_identically() -> None:
    """Stochastic depth 0.25 and 0.5 drops whole samples' branches: both frameworks get the
    same per-sample masks, so 20 AdamW steps agree in float64 (measured: 4e-16), and the
    masks are really applied (the losses differ from a run without stochastic depth)."""
    pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
    from archdsl.training import dropout_nodes

    g = archdsl.loads(CONVNEXT_BLOCKS, str(SPECS / "convnext_blocks.yaml"))
    assert [(n.rate, n.kind) for n in dropout_nodes(g)] == [(0.25, "sample"), (0.5, "sample")]
    masked = _train_check(g, 20)
    plain = archdsl.loads(CONVNEXT_BLOCKS.replace('"${0.25 + 0.25 * i}"', "0.0"),
                          str(SPECS / "convnext_blocks.yaml"))
    unmasked = _train_check(plain, 2)
    assert masked["per_step"][0]["torch"] != unmasked["per_step"][0]["torch"]


def _cifar10_dir() -> Path:
    for folder in (os.environ.get("ARCHDSL_DATA"), ROOT.parent / "shared" / "datasets"):
        if folder and (Path(folder) / "cifar10").is_dir():
            return Path(folder)
    pytest.skip("CIFAR-10 not present: set ARCHDSL_DATA to a folder holding cifar10/")


@pytest.mark.slow
def test_vit_cifar10_trains_identically() -> None:
    """`archdsl crosscheck specs/vit_cifar10.yaml --train-steps 20 --dtype float64`."""
    from archdsl.training import override_config, resolve_config, train_crosscheck

    pytest.importorskip("torch")
    pytest.importorskip("keras")
    g = graph("vit_cifar10")
    config = override_config(resolve_config(g), {"dtype": "float64"})
    report = train_crosscheck(g, 20, config, data_dir=_cifar10_dir())
    result = report.as_json()
    assert result["max_rel_loss_diff"] <= 1e-9 and report.ok, result["first_divergent_grad_node"]
    assert math.isfinite(result["per_step"][-1]["rel_diff"])


# ------------------------------------------------------------------------------- the bench
def test_bench_vit_cifar10_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/vit_cifar10.py: the spec's train: section, data from $ARCHDSL_DATA, the spread."""
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "bench"))
    import vit_cifar10

    monkeypatch.setenv("ARCHDSL_DATA", "/data")
    ns = vit_cifar10.parse([])
    assert (ns.epochs, ns.data_dir, ns.dtype, ns.spread) == (5, "/data", "float32", 1.0)
    monkeypatch.delenv("ARCHDSL_DATA")
    assert vit_cifar10.default_data_dir() == str(ROOT.parent / "shared" / "datasets")
    epochs = [{"torch": {"val_acc": t}, "keras": {"val_acc": k}}
              for t, k in [(0.40, 0.405), (0.55, 0.5425)]]
    assert vit_cifar10.largest_spread(SimpleNamespace(epochs=epochs)) == pytest.approx(0.75)
