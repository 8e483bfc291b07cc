"""The torch backend's model: the chapter's CNN, naming, plans, interface helpers, errors,
``torch.fx`` tracing and ``torch.compile(fullgraph=True)``."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import archdsl  # noqa: E402
from archdsl.backends import load_backend  # noqa: E402
from archdsl.backends import torch as tb  # noqa: E402
from archdsl.errors import BackendError  # noqa: E402

# torch.compile imports torch.jit helpers that warn on import in recent torch versions
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit._script")

SPECS = Path(__file__).resolve().parents[2] / "specs"

TWO_IN_TWO_OUT = """archdsl: 1
name: two
inputs: {a: [3, 8, 8], b: [2, 8, 8]}
outputs: [head1, head2]
body:
  - conv2d: {filters: 4, kernel: 3, padding: same, from: a, id: ca}
  - conv2d: {filters: 4, kernel: 1, from: b, id: cb}
  - add: {from: [ca, cb], id: s}
  - global_avg_pool: {id: head1}
  - max_pool2d: {pool: 2, from: s, id: head2}
"""

# every module kind that is not a plain native module, in one small graph
MIXED = """archdsl: 1
name: mixed
input: [3, 9, 8]
body:
  - conv2d: {filters: 8, kernel: 3, stride: 2, padding: same, bias: false}
  - batchnorm: {}
  - gelu: {id: a}
  - max_pool2d: {pool: 3, stride: 2, padding: same, id: mp}
  - avg_pool2d: {pool: 3, stride: 2, padding: same, from: a, id: ap}
  - concat: {from: [mp, ap], id: cat}
  - global_avg_pool: {keepdims: true}
  - conv2d: {filters: 16, kernel: 1}
  - hard_sigmoid: {id: gate}
  - multiply: {from: [cat, gate]}
  - separable_conv2d: {filters: 8, kernel: 3, padding: same}
  - conv_transpose2d: {filters: 4, kernel: 3, stride: 2, padding: same}
  - scale: {factor: 0.5}
  - flatten: {}
  - dense: {units: 5}
"""

REPEATED = """archdsl: 1
name: rep
input: [3, 8, 8]
blocks:
  unit:
    args: {f: int}
    body:
      - conv2d: {filters: $f, kernel: 3, padding: same, bias: false, id: conv1}
      - batchnorm: {id: bn1}
      - relu: {id: act}
body:
  - unit: {f: 4, repeat: 2, id: layer1}
  - global_avg_pool: {}
  - dense: {units: 3, id: fc}
"""


@pytest.fixture(scope="module")
def cifar() -> archdsl.Graph:
    return archdsl.load(SPECS / "cifar10_cnn.yaml")


@pytest.fixture(scope="module")
def mixed() -> archdsl.Graph:
    return archdsl.loads(MIXED)


# ---------------------------------------------------------------- the chapter's CNN


def test_cifar10_cnn_builds_with_the_chapters_counts(cifar: archdsl.Graph) -> None:
    model = tb.build(cifar, seed=0)
    assert isinstance(model, tb.ArchdslModule)
    assert tb.count_params(model) == {"trainable": 293_034, "non_trainable": 896}
    assert model.training  # torch convention: a new module is in train mode
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(4, 3, 32, 32))
    assert y.shape == (4, 10)
    assert len(model._plan) == 1 and model._num_slots == 1  # one chain, one slot


def test_cifar10_cnn_naming_reads_like_torchvision(cifar: archdsl.Graph) -> None:
    model = tb.build(cifar)
    assert isinstance(model.get_submodule("block1.conv1"), nn.Conv2d)
    assert isinstance(model.get_submodule("block2.bn2"), nn.BatchNorm2d)
    assert isinstance(model.get_submodule("block3.drop"), nn.Dropout2d)
    assert isinstance(model.get_submodule("logits"), nn.Linear)
    keys = list(model.state_dict())
    assert keys[:7] == ["block1.conv1.weight", "block1.conv1.bias", "block1.bn1.weight",
                        "block1.bn1.bias", "block1.bn1.running_mean", "block1.bn1.running_var",
                        "block1.bn1.num_batches_tracked"]
    assert keys[-2:] == ["logits.weight", "logits.bias"]
    assert not any("probe" in k for k in keys)
    # a new model loads the state dict of another one
    other = tb.build(cifar, seed=5)
    other.load_state_dict(model.state_dict())
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32))
    np.testing.assert_array_equal(tb.forward(other, cifar, x, ["logits"])["logits"],
                                  tb.forward(model, cifar, x, ["logits"])["logits"])


def test_graph_to_torch_and_load_backend(cifar: archdsl.Graph) -> None:
    assert load_backend("torch") is tb
    model = cifar.to_torch(dtype="float64", seed=1)
    assert model.get_submodule("logits").weight.dtype == torch.float64


def test_build_uses_init_scheme_and_seed(cifar: archdsl.Graph) -> None:
    a = tb.get_weights(tb.build(cifar, seed=0), cifar)
    b = tb.get_weights(tb.build(cifar, seed=0), cifar)
    c = tb.get_weights(tb.build(cifar, seed=1), cifar)
    z = tb.get_weights(tb.build(cifar, init="zeros"), cifar)
    k = "block1.conv1"
    np.testing.assert_array_equal(a[k]["kernel"], b[k]["kernel"])
    assert not np.array_equal(a[k]["kernel"], c[k]["kernel"])
    assert not z[k]["kernel"].any()
    np.testing.assert_array_equal(z["block1.bn1"]["running_var"], 1.0)


# ---------------------------------------------------------------- naming and plans


def test_repeated_blocks_nest_modules() -> None:
    g = archdsl.loads(REPEATED)
    model = tb.build(g)
    assert isinstance(model.get_submodule("layer1.0.conv1"), nn.Conv2d)
    assert isinstance(model.get_submodule("layer1.1.bn1"), nn.BatchNorm2d)
    assert "layer1.1.conv1.weight" in model.state_dict()
    assert tb.count_params(model) == {k: g.params[k] for k in ("trainable", "non_trainable")}


def test_several_inputs_and_outputs() -> None:
    g = archdsl.loads(TWO_IN_TWO_OUT)
    model = tb.build(g, dtype="float64").eval()
    a, b = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.randn(2, 2, 8, 8,
                                                                       dtype=torch.float64)
    head1, head2 = model(a, b)
    assert head1.shape == (2, 4) and head2.shape == (2, 4, 4, 4)
    by_dict = tb.forward(model, g, {"b": b.numpy(), "a": a.numpy()})
    by_list = tb.forward(model, g, [a.numpy(), b.numpy()], nodes=["head2", "s"])
    assert list(by_list) == ["head2", "s"]
    with torch.no_grad():
        s = model.ca(a) + model.cb(b)
    np.testing.assert_allclose(by_dict["s"], s.numpy(), rtol=1e-12)
    np.testing.assert_allclose(by_dict["head1"], head1.detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(by_list["head2"], by_dict["head2"])
    with pytest.raises(TypeError, match="takes 2 input"):
        model(a)


def test_slots_are_reused_but_skips_survive() -> None:
    g = archdsl.loads(TWO_IN_TWO_OUT)
    model = tb.build(g)
    assert model._num_slots == 2  # two inputs; every later value reuses a dead slot
    g = archdsl.loads(MIXED)
    model = tb.build(g).eval()
    x = torch.randn(3, 3, 9, 8)
    with torch.no_grad():
        outs = tb.NodeRunner(g, model).run(x)
        np.testing.assert_array_equal(model(x).numpy(), outs[g.outputs[0]].numpy())
    assert len(outs) == len(g)


def test_replacing_a_submodule_takes_effect(cifar: archdsl.Graph) -> None:
    model = tb.build(cifar).eval()
    model.logits = nn.Linear(512, 3)  # a new head, as one does with torchvision models
    model.get_submodule("block1").act1 = nn.ReLU()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (2, 3)
        assert tb.NodeRunner(cifar, model).run(x)["logits"].shape == (2, 3)
    assert torch.fx.symbolic_trace(model).get_submodule("block1.act1").__class__ is nn.ReLU


def test_node_id_that_clashes_with_a_module_attribute() -> None:
    g = archdsl.loads("archdsl: 1\nname: t\ninput: [3]\nbody:\n  - relu: {id: eval}\n")
    with pytest.raises(BackendError, match="'eval' is already an attribute"):
        tb.build(g)


# ---------------------------------------------------------------- interface helpers


def test_forward_restores_each_modules_mode(cifar: archdsl.Graph) -> None:
    model = tb.build(cifar)
    model.get_submodule("block1.bn1").eval()  # e.g. a frozen BN in a training model
    x = np.zeros((2, 3, 32, 32), dtype=np.float32)
    out = tb.forward(model, cifar, x)
    assert list(out) == list(cifar)
    assert model.training and not model.get_submodule("block1.bn1").training
    assert model.get_submodule("block1.bn2").training
    # eval: dropout off, BN uses running stats → deterministic
    np.testing.assert_array_equal(out["logits"], tb.forward(model, cifar, x)["logits"])


def test_forward_input_errors(cifar: archdsl.Graph) -> None:
    model = tb.build(cifar)
    with pytest.raises(BackendError, match=r"input 'input': expected shape \(N, 3, 32, 32\)"):
        tb.forward(model, cifar, np.zeros((2, 32, 32, 3)))
    with pytest.raises(BackendError, match="Did you mean 'logits'"):
        tb.forward(model, cifar, np.zeros((1, 3, 32, 32)), nodes=["logit"])
    with pytest.raises(BackendError, match="takes 1 input"):
        tb.forward(model, cifar, [np.zeros((1, 3, 32, 32))] * 2)
    with pytest.raises(BackendError, match="different graph"):
        tb.forward(model, archdsl.loads(REPEATED), np.zeros((1, 3, 8, 8)))


def test_set_weights_errors_name_node_weight_and_shapes(cifar: archdsl.Graph) -> None:
    model = tb.build(cifar)
    weights = tb.get_weights(model, cifar)
    bad = copy.deepcopy(weights)
    bad["block2.conv1"]["kernel"] = np.zeros((64, 32, 3, 2))
    with pytest.raises(BackendError) as err:
        tb.set_weights(model, cifar, bad)
    msg = str(err.value)
    assert "block2.conv1" in msg and "'kernel'" in msg
    assert "[64, 32, 3, 3]" in msg and "[64, 32, 3, 2]" in msg
    missing = copy.deepcopy(weights)
    del missing["logits"]
    with pytest.raises(BackendError, match="no weights given for node 'logits'"):
        tb.set_weights(model, cifar, missing)
    tb.set_weights(model, cifar, {"logits": weights["logits"]}, strict=False)
    extra = copy.deepcopy(weights)
    extra["logit"] = weights["logits"]
    with pytest.raises(BackendError, match="Did you mean 'logits'"):
        tb.set_weights(model, cifar, extra)
    typo = copy.deepcopy(weights)
    typo["block1.bn1"]["gama"] = typo["block1.bn1"].pop("gamma")
    with pytest.raises(BackendError, match="has no weight 'gama'"):
        tb.set_weights(model, cifar, typo)


def test_count_params_skips_batch_counter_and_divisors(mixed: archdsl.Graph) -> None:
    model = tb.build(mixed)
    assert tb.count_params(model) == {k: mixed.params[k] for k in ("trainable", "non_trainable")}
    assert isinstance(model.get_submodule("ap"), tb.modules.SumPool)
    assert not any(k.endswith("divisor") for k in model.state_dict())


def test_fixed_filter_is_frozen() -> None:
    g = archdsl.loads("archdsl: 1\nname: t\ninput: [1, 8, 8]\nbody:\n"
                      "  - conv2d: {filters: 1, kernel: 3, fixed: sobel_x, padding: same}\n"
                      "  - conv2d: {filters: 2, kernel: 3}\n")
    model = tb.build(g)
    sobel = model.get_submodule("conv2d_1")
    np.testing.assert_array_equal(sobel.weight.detach().numpy()[0, 0],
                                  [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    assert sobel.weight.grad is None and sobel.bias.grad is None
    assert model.get_submodule("conv2d_2").weight.grad is not None
    assert tb.count_params(model) == {"trainable": 20, "non_trainable": 10}


def test_dtype_and_device_options(mixed: archdsl.Graph) -> None:
    model = tb.build(mixed, dtype=torch.float64, device="auto")
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model.get_submodule("ap").divisor.dtype == torch.float64
    out = tb.forward(model, mixed, np.zeros((1, 3, 9, 8), dtype=np.float32))
    assert out["dense_1"].dtype == np.float64
    with pytest.raises(BackendError, match="float32 or float64"):
        tb.build(mixed, dtype="float16")
    with pytest.raises(BackendError, match="invalid device"):
        tb.build(mixed, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA is not available"):
            tb.build(mixed, device="cuda")


def test_parity_mode_sets_and_we_restore() -> None:
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    try:
        info = tb.parity_mode()
        assert info["deterministic"] and not info["cudnn_benchmark"]
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]


def test_copies_and_pickles(mixed: archdsl.Graph) -> None:
    model = tb.build(mixed).eval()
    x = torch.randn(2, 3, 9, 8)
    with torch.no_grad():
        want = model(x)
        twin = copy.deepcopy(model)
        with torch.no_grad():
            twin.get_submodule("dense_1").bias.add_(1.0)  # the copy's plan uses its own modules
        np.testing.assert_allclose(twin(x).numpy(), want.numpy() + 1.0, rtol=1e-6)
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(model))(x).numpy(), want.numpy())


# ---------------------------------------------------------------- fx and compile


@pytest.mark.parametrize("spec", ["cifar", "mixed", "two"])
def test_fx_symbolic_trace(spec: str, cifar: archdsl.Graph, mixed: archdsl.Graph) -> None:
    g = {"cifar": cifar, "mixed": mixed, "two": archdsl.loads(TWO_IN_TWO_OUT)}[spec]
    model = tb.build(g).eval()
    traced = torch.fx.symbolic_trace(model)
    xs = [torch.randn(2, *shape) for shape in g.input_shapes]
    with torch.no_grad():
        want, got = model(*xs), traced(*xs)
    for w, o in zip(want if isinstance(want, tuple) else (want,),
                    got if isinstance(got, tuple) else (got,)):
        torch.testing.assert_close(o, w, rtol=0, atol=0)
    # native modules stay leaves of the trace, by their node names
    targets = {n.target for n in traced.graph.nodes if n.op == "call_module"}
    if spec == "cifar":
        assert {"block1.conv1", "block3.bn2", "logits"} <= targets


def test_compile_fullgraph_captures_without_breaks(mixed: archdsl.Graph) -> None:
    """Dynamo captures the whole forward in one graph (``backend='eager'``, quick)."""
    torch._dynamo.reset()
    model = tb.build(mixed).eval()
    x = torch.randn(2, 3, 9, 8)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    # the interface helpers see through the wrapper
    assert tb.count_params(compiled) == tb.count_params(model)
    assert tb.get_weights(compiled, mixed).keys() == tb.get_weights(model, mixed).keys()
    np.testing.assert_array_equal(tb.forward(compiled, mixed, x.numpy(), ["dense_1"])["dense_1"],
                                  tb.forward(model, mixed, x.numpy(), ["dense_1"])["dense_1"])
    two = archdsl.loads(TWO_IN_TWO_OUT)
    m2 = tb.build(two).eval()
    xs = (torch.randn(2, 3, 8, 8), torch.randn(2, 2, 8, 8))
    with torch.no_grad():
        for o, w in zip(torch.compile(m2, fullgraph=True, backend="eager")(*xs), m2(*xs)):
            torch.testing.assert_close(o, w)


def test_compile_fullgraph_inductor() -> None:
    """The default backend (inductor) on a small spec with an asymmetric pad (about 10-25 s)."""
    torch._dynamo.reset()
    g = archdsl.loads("archdsl: 1\nname: small\ninput: [3, 8, 8]\nbody:\n"
                      "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\n"
                      "  - relu: {}\n  - flatten: {}\n  - dense: {units: 3}\n")
    model = tb.build(g).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), model(x),
                                   rtol=1e-5, atol=1e-6)
