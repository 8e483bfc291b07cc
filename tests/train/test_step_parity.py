"""Training-step parity: the torch and Keras trainers follow one trajectory (docs/conventions.md,
"Training").

A small conv net (3×16×16: conv3×3(16, same) [→BN] → ReLU → conv3×3(32, stride 2, same) → ReLU
→ max_pool 2 → flatten → dense 10; no conv bias before BN) is trained side by side on 50
identical numpy batches of 32 from the same canonical initial weights. Tolerances (relative
loss difference, max over steps): float64 ≤ 1e-12 (the arithmetic is the same), float32
≤ 1e-5 without BN and ≤ 1e-3 with BN + Adam. Keras models are built once per (graph, dtype)
and reused: each trainer resets their weights and reconfigures BatchNorm and dropout.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import archdsl  # noqa: E402
from archdsl.backends import keras as kb  # noqa: E402
from archdsl.backends import torch as tb  # noqa: E402
from archdsl.backends.keras import train as kt  # noqa: E402
from archdsl.backends.torch import train as tt  # noqa: E402
from archdsl.errors import BackendError  # noqa: E402
from archdsl.init import init_weights  # noqa: E402
from archdsl.trainconfig import TrainConfig  # noqa: E402
from archdsl.training import Trainer, dropout_masks, dropout_nodes  # noqa: E402

STEPS = 50
SGD = {"name": "sgd", "lr": 2**-5, "momentum": 0.875}
ADAM = {"name": "adam", "lr": 2**-10, "betas": (0.875, 1 - 2**-10), "eps": 2**-27}


def spec(bn: bool, dropout: bool = False) -> str:
    body = f"  - conv2d: {{filters: 16, kernel: 3, padding: same, bias: {str(not bn).lower()}, id: conv1}}\n"
    if bn:
        body += "  - batchnorm: {id: bn1}\n"
    body += "  - relu: {}\n  - conv2d: {filters: 32, kernel: 3, stride: 2, padding: same, id: conv2}\n"
    body += "  - relu: {}\n  - max_pool2d: {pool: 2}\n"
    if dropout:
        body += "  - spatial_dropout: {rate: 0.25, id: sdrop}\n"
    body += "  - flatten: {}\n"
    if dropout:
        body += "  - dropout: {rate: 0.5, id: drop}\n"
    body += "  - dense: {units: 10, id: logits}\n"
    return f"archdsl: 1\nname: small\ninput: [3, 16, 16]\nbody:\n{body}"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny convolutions run fastest (and steadiest on a busy 2-core box) on one torch thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """50 batches of 32: class templates plus noise, so the net actually learns."""
    rng = np.random.default_rng(0)
    templates = rng.normal(size=(10, 3, 16, 16))
    y = rng.integers(0, 10, size=(STEPS, 32))
    x = templates[y] * 0.5 + rng.normal(size=(STEPS, 32, 3, 16, 16))
    return x, y


@dataclass
class Net:
    graph: Any
    weights: dict[str, dict[str, np.ndarray]]
    keras: dict[str, Any]


@pytest.fixture(scope="module")
def nets() -> dict[str, Net]:
    out = {}
    for name, (bn, drop) in {"plain": (False, False), "bn": (True, False), "drop": (True, True)}.items():
        g = archdsl.loads(spec(bn, drop), f"{name}.yaml")
        out[name] = Net(g, init_weights(g, "torch_default", 0), {})
    return out


def trainers(net: Net, cfg: TrainConfig, native: frozenset[str] = frozenset()) -> tuple[Any, Any]:
    """A fresh torch model and the reused Keras model, both at the net's initial weights."""
    tm = tb.build(net.graph, weights=net.weights, **tt.build_options(cfg, native))
    opts = kt.build_options(cfg, native)
    km = net.keras.get(cfg.dtype)
    if km is None:
        km = net.keras[cfg.dtype] = kb.build(net.graph, weights=net.weights, **opts)
    kb.set_weights(km, net.graph, net.weights)
    return tt.make_trainer(tm, net.graph, cfg, native=native), kt.make_trainer(km, net.graph, cfg, native=native)


def config(opt: dict[str, Any], dtype: str = "float64", **kw: Any) -> TrainConfig:
    return TrainConfig.model_validate({"optimizer": opt, "dtype": dtype, "dropout": "off", **kw})


def run(trainer: Any, data: tuple[np.ndarray, np.ndarray], steps: int = STEPS, start: int = 0,
        masks: list[dict[str, np.ndarray]] | None = None, lr_at: dict[int, float] | None = None) -> np.ndarray:
    x, y = data
    losses = []
    for i in range(start, start + steps):
        if lr_at and i in lr_at:
            trainer.set_lr(lr_at[i])
        losses.append(trainer.step(x[i], y[i], masks[i] if masks else None).loss)
    return np.array(losses)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(a)))


def pair(net: Net, cfg: TrainConfig, data: Any, native: frozenset[str] = frozenset(), **kw: Any
         ) -> tuple[float, Any, Any, np.ndarray]:
    t, k = trainers(net, cfg, native)
    lt, lk = run(t, data, **kw), run(k, data, **kw)
    return rel(lt, lk), t, k, lt


def weight_rel(a: dict[str, dict[str, np.ndarray]], b: dict[str, dict[str, np.ndarray]]) -> float:
    """Largest per-tensor max|Δ| / max|w|."""
    return max(float(np.max(np.abs(a[n][w] - b[n][w])) / max(np.max(np.abs(a[n][w])), 1e-30))
               for n in a for w in a[n])


# ---------------------------------------------------------------------------- float64: exact
@pytest.mark.parametrize("opt", [SGD, ADAM], ids=["sgd", "adam"])
@pytest.mark.parametrize("net_name", ["plain", "bn"])
def test_float64_trajectories_agree(nets: dict[str, Net], data: Any, opt: dict[str, Any], net_name: str) -> None:
    r, t, k, losses = pair(nets[net_name], config(opt), data)
    assert losses[-1] < losses[0]  # it trains
    assert r <= 1e-12, r
    # weights (running statistics included) and eval-mode outputs agree as well
    g = nets[net_name].graph
    assert weight_rel(tb.get_weights(t.model, g), kb.get_weights(k.model, g)) <= 1e-11
    x, y = data
    assert abs(t.evaluate(x[0], y[0]).loss - k.evaluate(x[0], y[0]).loss) <= 1e-12


def test_float64_gradients_agree(nets: dict[str, Net], data: Any) -> None:
    t, k = trainers(nets["bn"], config(ADAM))
    x, y = data
    t.step(x[0], y[0])
    k.step(x[0], y[0])
    gt, gk = t.gradients(), k.gradients()
    assert sorted(gt) == sorted(gk) == ["bn1", "conv1", "conv2", "logits"]
    for node in gt:
        assert sorted(gt[node]) == sorted(gk[node])
        for w in gt[node]:
            scale = max(np.max(np.abs(gt[node][w])), 1e-30)
            assert np.max(np.abs(gt[node][w] - gk[node][w])) / scale <= 1e-10, (node, w)


# ---------------------------------------------------------------------------- float32
@pytest.mark.parametrize(("opt", "net_name", "tol"), [
    (SGD, "plain", 1e-5), (ADAM, "plain", 1e-5), (ADAM, "bn", 1e-3),
], ids=["sgd-plain", "adam-plain", "adam-bn"])
def test_float32_trajectories_agree(nets: dict[str, Net], data: Any, opt: dict[str, Any], net_name: str,
                                    tol: float) -> None:
    r, *_ = pair(nets[net_name], config(opt, "float32"), data)
    assert r <= tol, r


# ---------------------------------------------------------------------------- optimizer semantics
def test_sgd_lr_change_stays_matched(nets: dict[str, Net], data: Any) -> None:
    """TorchSGD keeps g in its buffer: an lr change mid-run does not split the trajectories;
    stock Keras SGD (lr·g buffer) does split."""
    schedule = {0: 2**-5, 20: 2**-7, 35: 2**-4}
    r, *_ = pair(nets["plain"], config(SGD), data, lr_at=schedule)
    assert r <= 1e-12, r
    stock, *_ = pair(nets["plain"], config(SGD), data, frozenset({"optimizer"}), lr_at=schedule)
    assert stock > 1e-4, stock


@pytest.mark.parametrize("decay", ["coupled", "decoupled"])
@pytest.mark.parametrize("opt", [SGD, ADAM], ids=["sgd", "adam"])
def test_weight_decay_agrees(nets: dict[str, Net], data: Any, decay: str, opt: dict[str, Any]) -> None:
    wd = {"weight_decay": 2**-4 if opt is SGD else 2**-2, "decay": decay}
    r, t, *_ = pair(nets["bn"], config({**opt, **wd}), data, steps=25)
    assert r <= 1e-12, r
    # the two couplings really differ: the other one moves the weights elsewhere
    other = "decoupled" if decay == "coupled" else "coupled"
    t2, _ = trainers(nets["bn"], config({**opt, **wd, "decay": other}))
    run(t2, data, steps=25)
    g = nets["bn"].graph
    assert weight_rel(tb.get_weights(t.model, g), tb.get_weights(t2.model, g)) > 1e-4


@pytest.mark.parametrize("momentum", [0.0, 0.75])
def test_rmsprop_agrees(nets: dict[str, Net], data: Any, momentum: float) -> None:
    opt = {"name": "rmsprop", "lr": 2**-10, "alpha": 1 - 2**-6, "eps": 2**-20, "momentum": momentum,
           "weight_decay": 2**-5, "decay": "decoupled"}
    r, *_ = pair(nets["bn"], config(opt), data, steps=25)
    assert r <= 1e-12, r


@pytest.mark.parametrize("opt", [
    {**ADAM, "name": "adamw", "weight_decay": 2**-3},
    {**SGD, "nesterov": True},
    {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4},  # not float32-exact
    {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01},
], ids=["adamw", "nesterov", "sgd-typical", "adamw-typical"])
def test_more_optimizers_agree(nets: dict[str, Net], data: Any, opt: dict[str, Any]) -> None:
    """Hyperparameters need not be float32-representable: the torch-form optimizers keep lr
    and constants in float64."""
    r, *_ = pair(nets["plain"], config(opt), data, steps=20)
    assert r <= 1e-12, r


# ---------------------------------------------------------------------------- loss and dropout
def test_label_smoothing_agrees(nets: dict[str, Net], data: Any) -> None:
    cfg = config(ADAM, loss={"label_smoothing": 0.125})
    r, _, _, losses = pair(nets["bn"], cfg, data, steps=15)
    assert r <= 1e-12, r
    _, _, _, unsmoothed = pair(nets["bn"], config(ADAM), data, steps=1)
    assert losses[0] != unsmoothed[0]  # smoothing changes the loss itself


def step_masks(net: Net, steps: int, seed: int) -> list[dict[str, np.ndarray]]:
    """The canonical masks of ``steps`` steps (archdsl.training.dropout_masks), float64."""
    nodes = dropout_nodes(net.graph)
    return [dropout_masks(nodes, 32, seed=seed, epoch=0, index=i, dtype="float64") for i in range(steps)]


def test_matched_dropout_masks(nets: dict[str, Net], data: Any) -> None:
    """Spatial (N, C) and element (N, F) masks, pre-scaled float and boolean, on both sides."""
    net = nets["drop"]
    masks = step_masks(net, STEPS, seed=1)
    assert masks[0]["sdrop"].shape == (32, 32) and masks[0]["drop"].shape == (32, 512)
    assert set(np.unique(masks[0]["drop"]).tolist()) == {0.0, 2.0}
    for m in masks[::2]:  # every other step: boolean keep-masks, scaled by the trainers
        m["drop"] = m["drop"] > 0
    cfg = config(ADAM, dropout="matched")
    r, t, k, losses = pair(net, cfg, data, steps=20, masks=masks)
    assert r <= 1e-12, r
    x, y = data
    # evaluation never drops
    assert abs(t.evaluate(x[0], y[0]).loss - k.evaluate(x[0], y[0]).loss) <= 1e-12
    with pytest.raises(BackendError, match="mask for every dropout node"):
        t.step(x[0], y[0])
    with pytest.raises(BackendError, match="mask for every dropout node"):
        k.step(x[0], y[0], {"sdrop": masks[0]["sdrop"]})
    _, _, _, off = pair(net, config(ADAM), data, steps=20)  # (reuses, so last)
    assert rel(losses, off) > 1e-3  # the masks are really applied


# ---------------------------------------------------------------------------- checkpoints
def test_state_resume_is_bit_identical(nets: dict[str, Net], data: Any) -> None:
    net = nets["bn"]
    cfg = config(ADAM, "float32")
    for side in (0, 1):
        first = trainers(net, cfg)[side]
        run(first, data, steps=10)
        state = first.get_state()
        assert state["optim/step"] == 10
        tail = run(first, data, steps=10, start=10)
        after = first.get_state()
        resumed = trainers(net, cfg)[side]
        resumed.set_state(state)
        assert np.array_equal(run(resumed, data, steps=10, start=10), tail)
        final = resumed.get_state()
        assert sorted(final) == sorted(after)
        for key in after:
            assert np.array_equal(final[key], after[key]), key


def test_state_is_interchangeable(nets: dict[str, Net], data: Any) -> None:
    """Matched states share keys and layout: a torch checkpoint continues in Keras."""
    net = nets["bn"]
    t, k = trainers(net, config(SGD))
    run(t, data, steps=10)
    ts, ks = t.get_state(), k.get_state()
    assert sorted(ts) == sorted(ks)
    assert all(ts[key].shape == ks[key].shape for key in ts)
    k.set_state(ts)
    assert rel(run(t, data, steps=10, start=10), run(k, data, steps=10, start=10)) <= 1e-12


# ---------------------------------------------------------------------------- native conventions
def test_native_conventions_diverge(nets: dict[str, Net], data: Any) -> None:
    net = nets["bn"]
    matched, *_ = pair(net, config(SGD, "float32"), data)
    native, _, k, _ = pair(net, config(SGD, "float32", conventions="native"), data)
    assert type(k.optimizer).__name__ == "SGD"
    assert native > 100 * matched, (native, matched)


@pytest.mark.parametrize("convention", tt.CONVENTIONS)
def test_each_convention_is_an_ablation(nets: dict[str, Net], data: Any, convention: str) -> None:
    """Flipping one convention alone moves Keras off torch's trajectory (training loss or the
    eval-mode loss after 10 steps, which sees the running statistics)."""
    net = nets["drop"]
    masks = step_masks(net, 10, seed=2)
    cfg = config(ADAM, dropout="matched")
    r, t, k, _ = pair(net, cfg, data, frozenset({convention}), steps=10, masks=masks)
    x, y = data
    et, ek = t.evaluate(x[-1], y[-1]).loss, k.evaluate(x[-1], y[-1]).loss
    assert max(r, abs(et - ek) / et) > 1e-7, (r, et, ek)


def test_config_mismatch_errors(nets: dict[str, Net]) -> None:
    net = nets["plain"]
    with pytest.raises(BackendError, match="unknown convention"):
        tt.make_trainer(tb.build(net.graph), net.graph, TrainConfig(), native=frozenset({"bn"}))
    with pytest.raises(BackendError, match="computes in"):
        kt.make_trainer(kb.build(net.graph, dtype="float32"), net.graph, TrainConfig(dtype="float64"))


def test_trainers_satisfy_the_loop_protocol(nets: dict[str, Net]) -> None:
    t, k = trainers(nets["plain"], config(SGD))
    assert isinstance(t, Trainer) and isinstance(k, Trainer)
    # one mask generator, archdsl.training.dropout_masks, for every trainer
    assert not hasattr(tt, "dropout_masks") and not hasattr(kt, "dropout_masks")


STOCHASTIC_DEPTH = """archdsl: 1
name: sd
input: [3, 8, 8]
body:
  - conv2d: {filters: 4, kernel: 3, padding: same, id: c1}
  - relu: {id: r1}
  - conv2d: {filters: 4, kernel: 3, padding: same, id: c2}
  - stochastic_depth: {rate: 0.5, id: sd}
  - add: {from: [sd, r1]}
  - flatten: {}
  - dropout: {rate: 0.25, id: drop}
  - dense: {units: 10, id: logits}
"""


def test_stochastic_depth_takes_the_same_per_sample_masks() -> None:
    """Every ``Layer.stochastic`` kind gets masks, stochastic depth's one per sample."""
    g = archdsl.loads(STOCHASTIC_DEPTH, "sd.yaml")
    nodes = dropout_nodes(g)
    assert [(n.node, n.kind) for n in nodes] == [("sd", "sample"), ("drop", "element")]
    cfg = config(SGD, dropout="matched")
    w = init_weights(g, None, 0)
    t = tt.make_trainer(tb.build(g, weights=w, **tt.build_options(cfg)), g, cfg)
    k = kt.make_trainer(kb.build(g, weights=w, **kt.build_options(cfg)), g, cfg)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 16, 3, 8, 8)), rng.integers(0, 10, size=(5, 16))
    for i in range(5):
        masks = dropout_masks(nodes, 16, seed=0, epoch=0, index=i, dtype="float64")
        assert masks["sd"].shape == (16,)
        lt, lk = t.step(x[i], y[i], masks).loss, k.step(x[i], y[i], masks).loss
        assert abs(lt - lk) <= 1e-12 * lt, (i, lt, lk)
