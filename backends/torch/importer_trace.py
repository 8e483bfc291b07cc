"""The graph side of PyTorch weight import: weighted parents from a ``torch.fx`` trace.

:func:`fx_layers` traces a module's eval-mode forward with every weighted module (and every
module the importer converts) kept as a leaf, and follows the data flow between the
weighted layers (:class:`~archdsl.weights.FlowTracer`). Three things are read beyond calls to
weighted modules:

* **Learned tensors held by a container** (``get_attr`` of an ``nn.Parameter`` that belongs to
  no converted module: ViT's ``class_token`` and ``encoder.pos_embedding``, ConvNeXt's
  ``layer_scale``, Swin's ``relative_position_bias_table``) are reference layers of their own.
  One that only multiplies one activation (ConvNeXt: ``self.layer_scale * self.block(x)``) is a
  scale: that activation's layers are its parents, and the product is its output. Any other
  has no weighted parents, like a spec ``parameter`` node.
* **Weights read directly** (``get_attr`` of a converted module's ``weight``/``bias``, as Swin's
  ``shifted_window_attention(x, self.qkv.weight, self.proj.weight, bias, ...)``): a function
  given the weights of modules A, B, … (in argument order) applies them in that order. A reads
  the function's activation inputs before A's first weight (all of them if none comes
  before); each next module reads the one before it; the last also reads the activation
  inputs after A's first weight (Swin: ``proj`` reads ``qkv`` and the relative position bias).
  Operations on weights alone (``self.fc.weight.t()``) carry them to their consumer.
* Buffers and other constants read with ``get_attr`` carry no weights.

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Scaled(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv = nn.Conv2d(3, 4, 1)
    ...         self.gamma = nn.Parameter(torch.ones(4, 1, 1))
    ...         self.fc = nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         y = self.gamma * self.conv(x)
    ...         return nn.functional.linear(y.mean((2, 3)), self.fc.weight, self.fc.bias)
    >>> order, parents, _ = fx_layers(Scaled(), {"conv": "conv", "gamma": "tensor", "fc": "conv"})
    >>> order, parents["gamma"], parents["fc"]
    (['conv', 'gamma', 'fc'], ('conv',), ('gamma',))
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx
from torch import nn

from archdsl.errors import BackendError
from archdsl.weights import TENSOR, FlowTracer

#: weight families whose input gives only the batch size (no weighted parents)
SOURCES = ("parameter",)
_MUL = (operator.mul, operator.imul, torch.mul)
_CAT = (torch.cat, torch.concat, torch.concatenate)


class _LeafTracer(torch.fx.Tracer):
    """``torch.fx`` tracer that keeps the named modules as leaves (``call_module`` nodes):
    torchvision's ``LayerNorm2d`` subclasses ``nn.LayerNorm`` but is not in ``torch.nn``."""

    def __init__(self, leaves: set[str]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.leaves or super().is_leaf_module(
            m, module_qualified_name)


def _is_mul(node: torch.fx.Node) -> bool:
    return ((node.op == "call_function" and node.target in _MUL)
            or (node.op == "call_method" and node.target in ("mul", "mul_")))


class _Walk:
    """One pass over the traced graph (see the module docstring)."""

    def __init__(self, module: nn.Module, kinds: Mapping[str, str]) -> None:
        self.modules = dict(module.named_modules())
        self.kinds = kinds
        self.tracer = FlowTracer()
        self.order: list[str] = []
        self.parents: dict[str, tuple[str, ...]] = {}
        #: nodes that carry weights of converted modules and no activation
        self.weight_of: dict[torch.fx.Node, tuple[str, ...]] = {}
        #: product node → (learned tensor, its get_attr node): a scale
        self.scale_at: dict[torch.fx.Node, tuple[str, torch.fx.Node]] = {}

    def layer(self, key: Any, inputs: Sequence[Any], name: str) -> None:
        if name in self.parents:
            raise BackendError(f"module '{name}' is called more than once (shared weights)")
        self.parents[name] = self.tracer.layer(key, inputs, name)
        self.order.append(name)

    def visit(self, node: torch.fx.Node) -> None:
        if node.op == "placeholder":
            self.tracer.source(node)
            return
        if node.op == "get_attr":
            self._get_attr(node)
            return
        if node in self.scale_at:
            name, attr = self.scale_at[node]
            self.layer(node, [i for i in node.all_input_nodes if i is not attr], name)
            return
        ins = list(node.all_input_nodes)
        carried = _unique(m for i in ins for m in self.weight_of.get(i, ()))
        data = [i for i in ins if i not in self.weight_of]
        if carried and not data:
            self.weight_of[node] = carried
        elif carried:
            self._fused(node, carried, ins)
        elif node.op == "call_module" and str(node.target) in self.kinds:
            target = str(node.target)
            self.layer(node, [] if self.kinds[target] in SOURCES else data, target)
        else:
            self._op(node, data)

    def _get_attr(self, node: torch.fx.Node) -> None:
        target = str(node.target)
        owner = target.rpartition(".")[0]
        if self.kinds.get(target) == TENSOR:
            users = list(node.users)
            if len(users) == 1 and _is_mul(users[0]) and len(users[0].all_input_nodes) == 2:
                self.scale_at[users[0]] = (target, node)
            else:
                self.layer(node, [], target)
        elif owner in self.kinds and self.kinds[owner] != TENSOR:
            self.weight_of[node] = (owner,)
        else:  # a buffer or constant
            self.tracer.op(node, [])

    def _fused(self, node: torch.fx.Node, carried: tuple[str, ...],
               ins: list[torch.fx.Node]) -> None:
        first = next(k for k, i in enumerate(ins) if i in self.weight_of)
        before = [i for i in ins[:first] if i not in self.weight_of]
        after = [i for i in ins[first:] if i not in self.weight_of]
        if not before:
            before, after = after, []
        inputs: list[Any] = before
        for k, name in enumerate(carried):
            last = k == len(carried) - 1
            key = node if last else (node, k)
            self.layer(key, inputs + after if last else inputs, name)
            inputs = [key]

    def _op(self, node: torch.fx.Node, data: list[torch.fx.Node]) -> None:
        if node.op == "call_module":
            cls = type(self.modules.get(str(node.target))).__name__
            self.tracer.op(node, data, flow_kind(cls), concat=cls == "Concat")
        elif node.op == "call_function" and node.target in _CAT and node.args \
                and isinstance(node.args[0], (list, tuple)):
            self.tracer.op(node, [a for a in node.args[0] if isinstance(a, torch.fx.Node)],
                           concat=True)
        else:
            name = getattr(node.target, "__name__", "") if node.op == "call_function" else ""
            self.tracer.op(node, data, flow_kind(name))


def _unique(names: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def flow_kind(name: str) -> str | None:
    """The :data:`~archdsl.weights.FLOW_KINDS` name of a pooling module class or function.

    >>> flow_kind("AdaptiveAvgPool2d"), flow_kind("avg_pool2d"), flow_kind("MaxPool2d")
    ('globalpool', 'avgpool', 'maxpool')
    """
    low = name.lower().replace("_", "")
    if "adaptive" in low or "global" in low:
        return "globalpool" if "pool" in low else None
    if "avgpool" in low or low == "sumpool":
        return "avgpool"
    if "maxpool" in low:
        return "maxpool"
    return None


def fx_layers(module: nn.Module, kinds: Mapping[str, str]
              ) -> tuple[list[str], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(call order, weighted parents, context tags) of the reference layers ``kinds`` names
    (layer name → family: converted modules, and learned tensors of family ``"tensor"``),
    from a ``torch.fx`` trace of the eval-mode forward.

    Raises:
        BackendError: a weighted module called twice (shared weights); ``torch.fx`` errors
            propagate (the caller falls back to definition order).
    """
    was_training = module.training
    module.eval()
    try:
        leaves = {name for name, kind in kinds.items() if kind != TENSOR}
        graph = _LeafTracer(leaves).trace(module)
    finally:
        module.train(was_training)
    walk = _Walk(module, kinds)
    for node in graph.nodes:
        walk.visit(node)
    return walk.order, walk.parents, {n: walk.tracer.tags(n) for n in walk.order}


__all__ = ["SOURCES", "flow_kind", "fx_layers"]
