"""The spec side of a match: a compiled graph's weighted nodes with their weighted parents.

Each weighted node becomes a :class:`~archdsl.weights.records.SpecLayer` of its layer type's
weight family (the ``weight_family`` trait, :mod:`archdsl.weights.families`). Weight-free nodes
only carry the data flow (:class:`~archdsl.weights.flow.FlowTracer`); pooling nodes are tagged
by what they do (global, max or average: the ``selects`` trait and the layer's window), concat
nodes by the slots their inputs fill. A ``parameter`` node reads its input only for the batch
size, so it has no weighted parents (as a reference's learned tensor); a node whose weights are
all fixed by the spec carries them (:attr:`~archdsl.weights.records.SpecLayer.fixed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.weights.errors import WeightsError
from archdsl.weights.families import family_of, type_families
from archdsl.weights.flow import FlowTracer
from archdsl.weights.records import Shape, SpecLayer

if TYPE_CHECKING:
    from archdsl.graph import Graph
    from archdsl.ir import Node

#: the merge whose inputs fill slots (the FlowTracer's ``slot:i/n`` tags)
CONCAT = "concat"
#: the layer category whose nodes are tagged as pooling context
POOLING = "pooling"
#: weight families whose input gives only the batch size (no weighted parents)
SOURCES = ("parameter",)


def flow_kind(node: Node) -> str | None:
    """The :data:`~archdsl.weights.flow.FLOW_KINDS` name of a weight-free node, from its
    layer's traits: a pooling that sees the whole input is ``globalpool``, one that picks an
    element (``selects``) ``maxpool``, any other ``avgpool``; ``None`` for other nodes.

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - max_pool2d: {pool: 2}\\n  - global_avg_pool: {}\\n")
    >>> flow_kind(g["max_pool2d_1"]), flow_kind(g["global_avg_pool_1"])
    ('maxpool', 'globalpool')
    """
    layer = node.layer
    if layer.category != POOLING:
        return None
    window = layer.window(node.params, list(node.in_shapes), node.attrs)
    if window is not None and window.collapse:
        return "globalpool"
    return "maxpool" if layer.selects else "avgpool"


def spec_layers(graph: Graph) -> list[SpecLayer]:
    """The graph's weighted nodes in topological order, with their weighted parents.

    Raises:
        WeightsError: a node holds weights but its layer type declares no weight family.

    Example:
        >>> import archdsl
        >>> g = archdsl.load("specs/resnet18.yaml", input_shapes=[[3, 64, 64]])
        >>> layers = spec_layers(g)
        >>> layers[0].id, layers[0].kind, dict(layers[0].shapes)
        ('conv1', 'conv', {'kernel': (64, 3, 7, 7)})
        >>> layers[1].parents, layers[2].parents, layers[2].tags
        (('conv1',), ('bn1',), ('in:maxpool',))
    """
    tracer = FlowTracer()
    found: list[tuple[Node, str, tuple[str, ...]]] = []
    for node_id in graph:
        node = graph[node_id]
        if node.is_input:
            tracer.source(node_id)
        elif not node.weights:
            tracer.op(node_id, node.inputs, flow_kind(node), concat=node.type == CONCAT)
        else:
            family = _family(node)
            inputs = () if family in SOURCES else node.inputs
            found.append((node, family, tracer.layer(node_id, inputs, node_id)))
    return [_spec_layer(node, family, parents, tracer.tags(node.id))
            for node, family, parents in found]


def _family(node: Node) -> str:
    family = family_of(node.type)
    if family is None:
        raise WeightsError(
            f"node '{node.id}': weight import does not know layers of type '{node.type}' "
            "(its layer type declares no weight family)",
            hint=f"importable layer types: {', '.join(sorted(type_families()))}",
        )
    return family


def _spec_layer(node: Node, family: str, parents: tuple[str, ...],
                tags: tuple[str, ...]) -> SpecLayer:
    attrs: dict[str, Any] = {}
    if family in ("batchnorm", "layer_norm", "group_norm"):
        attrs["eps"] = float(node.params.eps)
    shapes: dict[str, Shape] = {name: tuple(int(d) for d in w.shape)
                                for name, w in node.weights.items()}
    fixed = None
    if all(w.fixed is not None for w in node.weights.values()):
        fixed = {name: np.broadcast_to(np.asarray(w.fixed, dtype=np.float64), w.shape).copy()
                 for name, w in node.weights.items()}
    return SpecLayer(node.id, family, shapes, parents, attrs, tags, fixed)


__all__ = ["CONCAT", "POOLING", "SOURCES", "flow_kind", "spec_layers"]
