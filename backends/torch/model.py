"""The lowered model: one ``nn.Module`` whose submodules are named by node id.

Node ids with dots (``block1.conv1``, ``layer1.0.conv1``) become nested containers, so
``model.get_submodule("block1.conv1")`` works and state-dict keys read like torchvision's
(``block1.conv1.weight``). ``forward`` runs a precomputed plan: chains of single-input nodes
run like ``nn.Sequential`` (``x = m(x)``), and only values read elsewhere (skips, merges, several
outputs) go through a small list of slots, reused once a value is dead. It is
``torch.fx``-traceable and compiles with ``torch.compile(fullgraph=True)``.

Example:
    >>> import archdsl, torch
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> model = build(g)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> count_params(model)
    {'trainable': 293034, 'non_trainable': 896}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from archdsl.errors import BackendError, did_you_mean
from archdsl.init import init_weights
from archdsl.interpreter import Interpreter
from archdsl.ir import Node

from .lower import lower_node
from .modules import Scope
from .runtime import resolve_device, resolve_dtype
from .weights import node_tensors, set_weights, unwrap

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: where a node's module lives: (its parent's ``_modules`` dict, its name there). Looking the
#: module up at call time keeps ``model.block1.conv1 = new_module`` effective, as in torch.
Ref = tuple[dict[str, Any], str]
#: (head module, input slots, chained single-input modules, output slot)
Segment = tuple[Ref, tuple[int, ...], tuple[Ref, ...], int]


class ArchdslModule(nn.Module):
    """A compiled archdsl graph as a native PyTorch module.

    ``forward(*inputs)`` takes one NCHW tensor per graph input (in ``input_ids`` order) and
    returns the output tensor, or a tuple when the graph has several outputs.
    :func:`forward` runs it node by node (a :class:`~archdsl.interpreter.Interpreter` over
    the graph) when every node's output is wanted.

    Attributes:
        node_ids: every node id in topological order, inputs included.
        input_ids / output_ids: the graph's inputs and outputs.
        graph_name: the spec's ``name``.
    """

    def __init__(self, graph: Graph, modules: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.graph_name = graph.name
        self.node_ids: tuple[str, ...] = tuple(graph)
        self.input_ids: tuple[str, ...] = tuple(graph.inputs)
        self.output_ids: tuple[str, ...] = tuple(graph.outputs)
        # an empty tensor that follows .to(dtype / device): the model's place, even without weights
        self.register_buffer("_archdsl_probe", torch.empty(0), persistent=False)
        refs = {n: _attach(self, n, modules[n]) for n in self.node_ids if n in modules}
        self._plan, self._in_slots, self._out_slots, self._num_slots = _make_plan(graph, refs)
        self._single_output = len(self.output_ids) == 1

    def forward(self, *inputs: Tensor) -> Any:
        """Run the graph: one tensor per input, NCHW; one tensor or a tuple of outputs."""
        if isinstance(inputs, tuple) and len(inputs) != len(self._in_slots):
            raise TypeError(
                f"{type(self).__name__} '{self.graph_name}' takes {len(self._in_slots)} "
                f"input(s) ({', '.join(self.input_ids)}), received {len(inputs)}"
            )
        slots: list[Any] = [None] * self._num_slots
        for i, s in enumerate(self._in_slots):
            slots[s] = inputs[i]
        for (parent, name), args, tail, out in self._plan:
            head = parent[name]
            x = head(slots[args[0]]) if len(args) == 1 else head(*[slots[a] for a in args])
            for p, n in tail:
                x = p[n](x)
            slots[out] = x
        if self._single_output:
            return slots[self._out_slots[0]]
        return tuple(slots[s] for s in self._out_slots)

    def extra_repr(self) -> str:
        return (f"name={self.graph_name!r}, inputs={list(self.input_ids)}, "
                f"outputs={list(self.output_ids)}")


def _attach(root: nn.Module, node_id: str, module: nn.Module) -> Ref:
    """Register ``module`` at the dotted path ``node_id``, creating :class:`Scope` containers;
    returns where it lives (parent's ``_modules``, name)."""
    parts = node_id.split(".")
    parent = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        child = parent._modules.get(part)
        if child is None and hasattr(parent, part):
            raise BackendError(
                f"node id '{node_id}': '{part}' is already an attribute of "
                f"{type(parent).__name__} (a torch nn.Module) and cannot name a submodule",
                hint="rename the node or block (for example with an '_' suffix)",
            )
        if last:
            if child is not None:  # a Scope made for deeper ids: the node takes its children
                for name, grandchild in child.named_children():
                    module.add_module(name, grandchild)
            parent.add_module(part, module)
            return parent._modules, part
        else:
            if child is None:
                child = Scope()
                parent.add_module(part, child)
            parent = child
    raise AssertionError("unreachable")


def _segments(graph: Graph, layers: list[str]) -> list[list[str]]:
    """Split the layer order into chains: a node joins the previous node's chain when its only
    input is that node, which feeds nothing else and is not an output."""
    outputs = set(graph.outputs)
    segments: list[list[str]] = []
    for n in layers:
        srcs = graph[n].inputs
        prev = segments[-1][-1] if segments else None
        if (len(srcs) == 1 and srcs[0] == prev and prev not in outputs
                and graph.nx.out_degree(prev) == 1):
            segments[-1].append(n)
        else:
            segments.append([n])
    return segments


def _make_plan(graph: Graph, modules: Mapping[str, Ref]
               ) -> tuple[list[Segment], tuple[int, ...], tuple[int, ...], int]:
    """The lean execution plan: segments, input slots, output slots, number of slots.

    A segment is a chain ``head(*slots[args]) → tail[0] → tail[1] ...`` whose result lands in
    one slot. A slot is recycled after the last segment that reads its value (outputs are
    kept), so a plain chain such as a VGG-style CNN is a single segment over one slot.
    """
    layers = [n for n in graph if n in modules]
    segments = _segments(graph, layers)
    outputs = set(graph.outputs)
    last: dict[str, int] = {}
    for step, seg in enumerate(segments):
        for s in graph[seg[0]].inputs:
            last[s] = step
    slot = {n: i for i, n in enumerate(graph.inputs)}
    count = len(slot)
    free: list[int] = []
    plan: list[Segment] = []
    for step, seg in enumerate(segments):
        srcs = graph[seg[0]].inputs
        args = tuple(slot[s] for s in srcs)
        for s in dict.fromkeys(srcs):
            if last[s] == step and s not in outputs:
                free.append(slot[s])
        if free:
            out = free.pop()
        else:
            out, count = count, count + 1
        slot[seg[-1]] = out
        plan.append((modules[seg[0]], args, tuple(modules[n] for n in seg[1:]), out))
    return (plan, tuple(slot[n] for n in graph.inputs), tuple(slot[n] for n in graph.outputs),
            count)


def build(graph: Graph, *, weights: Mapping[str, Mapping[str, Any]] | None = None,
          dtype: str | torch.dtype = "float32", init: str | None = None, seed: int = 0,
          device: str | torch.device | None = "cpu") -> ArchdslModule:
    """Lower ``graph`` to an :class:`ArchdslModule` and set its weights.

    Weights come from ``weights`` (canonical ``{node: {name: array}}``) when given, else from
    :func:`archdsl.init.init_weights` with ``init`` (default: the spec's scheme) and ``seed``.
    Weights the IR marks non-trainable get ``requires_grad=False``. ``dtype`` is
    ``"float32"`` or ``"float64"``; ``device`` is ``"cpu"`` (default), ``"cuda"``, ``"auto"``
    (CUDA when available) or a ``torch.device``.

    Like any new torch module, the model is returned in **train** mode; call ``.eval()`` for
    inference (:func:`forward` does so itself).

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [1, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 1, kernel: 3, fixed: sobel_x}\\n")
    >>> m = build(g, dtype="float64")
    >>> m.conv2d_1.weight.requires_grad, m.conv2d_1.weight.dtype
    (False, torch.float64)
    """
    torch_dtype = resolve_dtype(dtype)
    dev = resolve_device(device)
    modules = {node.id: lower_node(node) for node in graph.walk()}
    model = ArchdslModule(graph, modules)
    model.to(dtype=torch_dtype)
    set_weights(model, graph, weights if weights is not None else init_weights(graph, init, seed))
    for node_id, tensors in node_tensors(model, graph).items():
        for name, tensor in tensors.items():
            if isinstance(tensor, nn.Parameter) and not graph[node_id].weights[name].trainable:
                tensor.requires_grad_(False)
    counted = count_params(model)
    want = {k: graph.params[k] for k in counted}
    if counted != want:
        raise BackendError(f"internal error: the torch model of '{graph.name}' has {counted} "
                           f"parameters, the IR counts {want}")
    return model.to(dev)


def count_params(model: nn.Module) -> dict[str, int]:
    """``{"trainable": ..., "non_trainable": ...}`` as the IR counts them.

    Works on any module (a ``torch.compile`` wrapper counts what it wraps).
    Trainable: parameters with ``requires_grad``. Non-trainable: frozen parameters plus
    persistent floating-point buffers (BatchNorm running mean and variance; not the integer
    ``num_batches_tracked``, not non-persistent buffers such as pooling divisors).
    """
    model = unwrap(model)
    trainable = non_trainable = 0
    for p in model.parameters():
        if p.requires_grad:
            trainable += p.numel()
        else:
            non_trainable += p.numel()
    for module in model.modules():
        skip = module._non_persistent_buffers_set
        for name, b in module.named_buffers(recurse=False):
            if name not in skip and b.is_floating_point():
                non_trainable += b.numel()
    return {"trainable": trainable, "non_trainable": non_trainable}


def _model_place(model: ArchdslModule) -> tuple[torch.dtype, torch.device]:
    probe = model.get_buffer("_archdsl_probe")
    return probe.dtype, probe.device


def _check_model(model: nn.Module, graph: Graph) -> ArchdslModule:
    model = unwrap(model)
    if not isinstance(model, ArchdslModule):
        raise BackendError(f"expected a model made by archdsl's torch build(), received "
                           f"{type(model).__name__}")
    if model.node_ids != tuple(graph):
        raise BackendError(f"the model was built from a different graph ('{model.graph_name}', "
                           f"{len(model.node_ids)} nodes) than '{graph.name}' ({len(graph)} nodes)")
    return model


def _as_inputs(model: ArchdslModule, graph: Graph, inputs: Any) -> list[Tensor]:
    ids = graph.inputs
    if isinstance(inputs, Mapping):
        unknown = [k for k in inputs if k not in ids]
        if unknown:
            raise BackendError(f"unknown input '{unknown[0]}'.{did_you_mean(unknown[0], ids)} "
                               f"Inputs: {', '.join(ids)}")
        missing = [k for k in ids if k not in inputs]
        if missing:
            raise BackendError(f"no value for input '{missing[0]}'; inputs: {', '.join(ids)}")
        arrays = [inputs[k] for k in ids]
    elif isinstance(inputs, (np.ndarray, Tensor)):
        arrays = [inputs]
    elif isinstance(inputs, Sequence):
        arrays = list(inputs)
    else:
        raise BackendError(f"inputs must be an array, a list of arrays or a dict of arrays, "
                           f"received {type(inputs).__name__}")
    if len(arrays) != len(ids):
        raise BackendError(f"'{graph.name}' takes {len(ids)} input(s) ({', '.join(ids)}), "
                           f"received {len(arrays)}")
    dtype, device = _model_place(model)
    out = []
    for node_id, arr in zip(ids, arrays):
        t = arr if isinstance(arr, Tensor) else torch.from_numpy(np.asarray(arr))
        want = tuple(graph[node_id].shape)
        if t.dim() != len(want) + 1 or tuple(t.shape[1:]) != want:
            raise BackendError(f"input '{node_id}': expected shape (N, {', '.join(map(str, want))})"
                               f", received {tuple(t.shape)}")
        out.append(t.to(dtype=dtype, device=device))
    return out


def forward(model: nn.Module, graph: Graph, inputs: Any,
            nodes: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Run once in eval mode without gradients; every requested node's output as numpy.

    ``inputs``: one array (single-input graphs), a list in ``graph.inputs`` order, or a dict
    by input id; batch first, IR layout (NCHW). ``nodes``: ids to return (default: all nodes,
    inputs included). Each module's train/eval mode is restored afterwards.

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 4]\\nbody:\\n  - relu: {}\\n")
    >>> out = forward(build(g), g, np.full((1, 2, 4), -1.0))
    >>> sorted(out), float(out["relu_1"].max())
    (['input', 'relu_1'], 0.0)
    """
    m = _check_model(model, graph)
    tensors = _as_inputs(m, graph, inputs)
    wanted = list(m.node_ids) if nodes is None else list(nodes)
    for n in wanted:
        if n not in m.node_ids:
            raise BackendError(f"no node '{n}' in '{graph.name}'.{did_you_mean(n, m.node_ids)}")
    modes = [(mod, mod.training) for mod in m.modules()]
    m.eval()
    try:
        with torch.no_grad():
            outs = NodeRunner(graph, m).run(*tensors)
    finally:
        for mod, mode in modes:
            mod.training = mode
    return {n: outs[n].detach().cpu().numpy().copy() for n in wanted}


class NodeRunner(Interpreter[Tensor]):
    """Run a built model node by node over its graph, keeping every node's output.

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2]\\nbody:\\n  - relu: {id: r}\\n")
    >>> NodeRunner(g, build(g))(torch.tensor([[-1.0, 2.0]]))["r"].tolist()
    [[0.0, 2.0]]
    """

    def __init__(self, graph: Graph, model: ArchdslModule) -> None:
        super().__init__(graph)
        self.model = model

    def __call__(self, *inputs: Tensor) -> dict[str, Tensor]:
        return self.run(*inputs)

    def run_node(self, node: Node, args: list[Tensor]) -> Tensor:
        """The node's submodule applied to its inputs' outputs."""
        out: Tensor = self.model.get_submodule(node.id)(*args)
        return out


def calibrate_batchnorm(model: nn.Module, graph: Graph, inputs: Any) -> None:
    """Set every BatchNorm's running statistics to the batch statistics of ``inputs``.

    One pass without gradients with only the BatchNorms in train mode (dropout stays off) and
    their momentum at 1, so each one's running mean and variance become those of its input on
    this batch, as in a trained network, where a BatchNorm's output is O(1) at any depth.
    Nothing else changes; modes and momenta are restored. ``inputs`` as in :func:`forward`.

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 4]\\nbody:\\n  - batchnorm: {}\\n")
    >>> m = build(g)
    >>> calibrate_batchnorm(m, g, np.array([[[1.0, 3.0, 1.0, 3.0], [5.0] * 4]]))
    >>> bn = m.get_submodule("batchnorm_1")
    >>> bn.running_mean.tolist(), [round(v, 4) for v in bn.running_var.tolist()]
    ([2.0, 5.0], [1.3333, 0.0])
    """
    m = _check_model(model, graph)
    tensors = _as_inputs(m, graph, inputs)
    norms = [mod for mod in m.modules() if isinstance(mod, nn.modules.batchnorm._NormBase)]
    saved = [(mod, mod.training) for mod in m.modules()]
    momenta = [(bn, bn.momentum) for bn in norms]
    try:
        m.eval()  # dropout off: it would inflate the variances that eval mode then sees
        for bn in norms:
            bn.momentum = 1.0
            bn.train()
        with torch.no_grad():
            m(*tensors)
    finally:
        for bn, momentum in momenta:
            bn.momentum = momentum
        for mod, mode in saved:
            mod.training = mode


__all__ = ["ArchdslModule", "NodeRunner", "build", "calibrate_batchnorm", "count_params",
           "forward"]
