"""The typed graph IR: one frozen :class:`Node` per graph node; networkx only indexes them.

A node is created by the builder with its validated parameters, its input ids and shapes and
its inferred output shape; each pass (:mod:`archdsl.passes`) stores a new record with its
results filled in (a copy, as ``dataclasses.replace`` makes), as ``torch.fx``'s ``ShapeProp``
fills ``node.meta``. Consumers read typed fields (``node.params.filters``, ``node.attrs.pads``),
never string keys.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> node = g["conv2d_1"]
    >>> node.type, node.inputs, node.in_shapes, node.shape
    ('conv2d', ('input',), ((3, 8, 8),), (4, 4, 4))
    >>> node.attrs.pads, node.trainable, node.layer.dims
    (((0, 1), (0, 1)), 112, 2)
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

import networkx as nx

from archdsl.errors import Location
from archdsl.layers.base import REGISTRY, Layer, Resolved, Shape, Weight

if TYPE_CHECKING:
    from archdsl.passes import ReceptiveField

R = TypeVar("R", bound=Resolved)

#: the type of the graph's input nodes (not a registered layer type)
INPUT = "input"


@dataclass(frozen=True)
class Node:
    """One node of the compiled graph.

    Attributes:
        id: the global node id (``layer1.0.conv1``).
        type: a registered layer type, or ``"input"``.
        params: the layer's validated parameter model (``None`` for inputs).
        values: the resolved arguments as written (expressions evaluated), for reports.
        inputs: ids of the nodes it reads, in order.
        in_shapes: their output shapes (layout-neutral, batch excluded).
        shape: its output shape ``(C, *spatial)``, ``(L, D)`` or ``(F,)``.
        attrs: shape-dependent attributes the shape rule resolved (typed per layer, e.g.
            :class:`~archdsl.layers.base.Padded`).
        loc: where the spec defines it; scope: the block instances it sits in.
        weights / trainable / non_trainable / macs / rf: filled in by the passes.
    """

    id: str
    type: str
    params: Any
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    shape: Shape
    loc: Location
    scope: tuple[tuple[str, str], ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    attrs: Resolved = field(default_factory=Resolved)
    weights: Mapping[str, Weight] = field(default_factory=dict)
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    rf: ReceptiveField | None = None

    @property
    def is_input(self) -> bool:
        """True for the graph's input nodes."""
        return self.type == INPUT

    @property
    def layer(self) -> Layer:
        """The registered layer type (KeyError for input nodes)."""
        return REGISTRY[self.type]

    def resolved(self, kind: builtins.type[R]) -> R:
        """``attrs`` checked to be of ``kind`` (``node.resolved(Padded).pads``)."""
        if not isinstance(self.attrs, kind):
            raise TypeError(
                f"node '{self.id}' ({self.type}) resolves {type(self.attrs).__name__}, "
                f"not {kind.__name__}"
            )
        return self.attrs


def node_of(g: nx.DiGraph, node_id: str) -> Node:
    """The :class:`Node` stored for ``node_id`` in a networkx graph built by archdsl."""
    node: Node = g.nodes[node_id]["node"]
    return node


def add_node(g: nx.DiGraph, node: Node) -> None:
    """Index ``node`` in ``g`` with edges from its inputs."""
    g.add_node(node.id, node=node)
    for s in node.inputs:
        g.add_edge(s, node.id)


#: the names of Node's fields, for :func:`update`'s check
_FIELDS = frozenset(f.name for f in fields(Node))


def update(g: nx.DiGraph, node_id: str, **changes: Any) -> Node:
    """Replace the stored node by a copy with ``changes`` set (how passes write results).

    As ``dataclasses.replace``, without calling ``__init__`` again: the passes update every
    node several times, and ``replace`` was a tenth of compiling ResNet-101.
    """
    unknown = changes.keys() - _FIELDS
    if unknown:
        raise TypeError(f"Node has no field(s) {sorted(unknown)}; fields: {sorted(_FIELDS)}")
    node = object.__new__(Node)
    node.__dict__.update(node_of(g, node_id).__dict__, **changes)
    g.nodes[node_id]["node"] = node
    return node


__all__ = ["INPUT", "Node", "add_node", "node_of", "update"]
