"""The diagram model: a compiled graph grouped into boxes and block clusters, its edges, and
which of them are skip connections. :mod:`archdsl.render` draws it as DOT;
:mod:`archdsl.render_html` describes its boxes on the interactive page.

``depth=N`` shows ``N`` levels of blocks, as torchinfo's and torchview's ``depth``: ``depth=1``
makes every top-level block one box; ``None`` shows every layer.

Example:
    >>> import archdsl
    >>> from archdsl.diagram import diagram
    >>> d = diagram(archdsl.load("specs/resnet18.yaml"), depth=2)
    >>> [(e.tail, e.head) for e in d.edges if e.skip][:2]
    [('maxpool', 'layer1.0.add'), ('layer1.0.relu2', 'layer1.1.add')]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Literal

from archdsl.errors import LimitError, SpecError

if TYPE_CHECKING:
    from archdsl.graph import Graph
    from archdsl.ir import Node

#: The most boxes :func:`archdsl.render.render` hands to ``dot`` unless told otherwise
#: (``--max-boxes``): the largest shipped spec drawn in full has about 1,100; ``dot`` needs
#: seconds and hundreds of megabytes for a few thousand, and crashes on tens of thousands.
MAX_BOXES = 2_000
#: Prefix of the DOT names of output terminals; ``@`` cannot occur in a node id.
OUTPUT_PREFIX = "@output."

BoxKind = Literal["input", "layer", "merge", "block", "output"]


# ---------------------------------------------------------------------------- the diagram model
@dataclass
class Box:
    """One drawn node: a layer, an input, an output terminal or a collapsed block instance.

    ``name`` is its DOT node name (the node id; the instance id for a collapsed block;
    ``@output.<id>`` for an output terminal); ``local`` the name shown, relative to the
    enclosing cluster; ``type`` the layer type or block name; ``members`` the graph nodes it
    stands for; ``shape`` the output shape (of the last member for a block).
    """

    name: str
    kind: BoxKind
    type: str
    local: str
    shape: tuple[int, ...]
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    members: list[str] = field(default_factory=list)
    line: int | None = None

    @property
    def params(self) -> int:
        """Trainable plus non-trainable parameters."""
        return self.trainable + self.non_trainable


@dataclass
class Cluster:
    """A block instance drawn as a cluster; the root (``level`` 0) is the whole graph.

    ``children`` are boxes and nested clusters in definition order.
    """

    inst: str
    block: str
    local: str
    level: int
    children: list[Box | Cluster] = field(default_factory=list)


@dataclass(frozen=True)
class Edge:
    """A drawn edge carrying ``shape``; ``skip`` for a shortcut (see :func:`skip_edges`)."""

    tail: str
    head: str
    shape: tuple[int, ...]
    skip: bool = False


@dataclass
class Diagram:
    """What :func:`to_dot` draws: the cluster tree, the boxes by DOT name, and the edges."""

    root: Cluster
    boxes: dict[str, Box]
    edges: list[Edge]


def _check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise SpecError(f"depth must be a positive integer or None, received {depth!r}",
                        hint="depth=1 draws every top-level block as one box; None draws all")


def _relative(name: str, parent: Cluster) -> str:
    prefix = parent.inst + "."
    return name[len(prefix):] if parent.inst and name.startswith(prefix) else name


def diagram(graph: Graph, depth: int | None = None) -> Diagram:
    """Group the graph's nodes into boxes and clusters, and classify its edges.

    ``depth=None`` draws every layer; ``depth=N`` shows ``N`` levels: each block instance
    nested ``N`` levels deep becomes one box (``depth=1``: every top-level block is one box).

    >>> import archdsl
    >>> d = diagram(archdsl.load("specs/cifar10_cnn.yaml"))
    >>> [c.local + ": " + c.block for c in d.root.children if isinstance(c, Cluster)]
    ['block1: conv_block', 'block2: conv_block', 'block3: conv_block']
    """
    _check_depth(depth)
    root = Cluster("", "", "", 0)
    boxes: dict[str, Box] = {}
    rep: dict[str, str] = {}
    clusters: dict[str, Cluster] = {}
    for n in graph:
        node = graph[n]
        parent, collapsed = _place(node, depth, root, clusters)
        box = _collapsed_box(node, collapsed, parent, boxes, graph) if collapsed else None
        if box is None:
            box = _layer_box(node, parent)
            boxes[box.name] = box
            parent.children.append(box)
        box.trainable += node.trainable
        box.non_trainable += node.non_trainable
        box.macs += node.macs
        box.members.append(n)
        rep[n] = box.name
    edges = skip_edges(boxes, _edges(graph, rep))
    _add_outputs(graph, root, boxes, rep, edges)
    return Diagram(root, boxes, edges)


def _place(
    node: Node, depth: int | None, root: Cluster, clusters: dict[str, Cluster]
) -> tuple[Cluster, tuple[str, str] | None]:
    """The cluster a node is drawn in, and the block instance it collapses into (if any)."""
    shown = node.scope if depth is None else node.scope[: depth - 1]
    parent = root
    for level, (inst, block) in enumerate(shown, 1):
        cluster = clusters.get(inst)
        if cluster is None:
            cluster = Cluster(inst, block, _relative(inst, parent), level)
            clusters[inst] = cluster
            parent.children.append(cluster)
        parent = cluster
    return parent, node.scope[len(shown)] if len(shown) < len(node.scope) else None


def _collapsed_box(
    node: Node, collapsed: tuple[str, str], parent: Cluster, boxes: dict[str, Box], graph: Graph
) -> Box:
    """The box of a collapsed block instance; its last member gives the box's shape."""
    inst, block = collapsed
    name = inst if inst not in graph.nx else f"@block.{inst}"
    box = boxes.get(name)
    if box is None:
        box = Box(name, "block", block, _relative(inst, parent), node.shape)
        boxes[name] = box
        parent.children.append(box)
    box.shape = node.shape
    return box


def _layer_box(node: Node, parent: Cluster) -> Box:
    category = node.layer.category if not node.is_input else "input"
    kind: BoxKind = "input" if node.is_input else "merge" if category == "merge" else "layer"
    line = getattr(node.loc, "line", None)
    return Box(node.id, kind, node.type, _relative(node.id, parent), node.shape, line=line)


def _edges(graph: Graph, rep: dict[str, str]) -> list[Edge]:
    """The edges between boxes, each once, in definition order (no self-loops)."""
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for node in graph.walk():
        head = rep[node.id]
        for src, shape in zip(node.inputs, node.in_shapes):
            tail = rep[src]
            if tail != head and (tail, head) not in seen:
                seen.add((tail, head))
                edges.append(Edge(tail, head, tuple(shape)))
    return edges


def skip_edges(boxes: dict[str, Box], edges: list[Edge]) -> list[Edge]:
    """``edges`` with ``skip`` set on the shortcuts, chosen from the structure alone.

    An edge is a skip when it bypasses a longer path to the same box (ResNet's identity
    shortcut, a squeeze-excitation input, a DenseNet or U-Net concatenation), and at a merge
    that combines its inputs element by element (every input has, or broadcasts to, the merge's
    shape: ``add``, ``multiply``) the branches shorter than the longest one are skips, from
    where they fork (a ResNet projection shortcut). Concatenated parallel branches (Inception)
    are peers, drawn solid. Drawing order plays no part.
    """
    preds: dict[str, list[str]] = {b: [] for b in boxes}
    succs: dict[str, list[str]] = {b: [] for b in boxes}
    shapes: dict[tuple[str, str], tuple[int, ...]] = {}
    for e in edges:
        preds[e.head].append(e.tail)
        succs[e.tail].append(e.head)
        shapes[(e.tail, e.head)] = e.shape
    level: dict[str, int] = {}
    for b in TopologicalSorter(preds).static_order():
        level[b] = max((level[p] + 1 for p in preds[b]), default=0)
    skip: set[tuple[str, str]] = set()
    for head, tails in preds.items():
        if len(tails) < 2:
            continue
        for t in tails:
            if any(_reaches(t, o, succs, level) for o in tails if o != t):
                skip.add((t, head))
        box = boxes[head]
        if box.kind == "merge" and all(_broadcasts(shapes[(t, head)], box.shape) for t in tails):
            main = max(tails, key=lambda t: (level[t], -tails.index(t)))
            for t in tails:
                if t != main:
                    _mark_branch(t, head, preds, succs, skip)
    return [replace(e, skip=(e.tail, e.head) in skip) for e in edges]


def _reaches(src: str, dst: str, succs: dict[str, list[str]], level: dict[str, int]) -> bool:
    """Whether a path leads from ``src`` to ``dst`` (boxes at ``dst``'s level or deeper are not
    searched: they cannot lead to it)."""
    stack, seen = [src], {src}
    while stack:
        for nxt in succs[stack.pop()]:
            if nxt == dst:
                return True
            if nxt not in seen and level[nxt] < level[dst]:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _broadcasts(shape: tuple[int, ...], out: tuple[int, ...]) -> bool:
    return len(shape) == len(out) and all(a in (b, 1) for a, b in zip(shape, out))


def _mark_branch(
    tail: str, head: str, preds: dict[str, list[str]], succs: dict[str, list[str]],
    skip: set[tuple[str, str]],
) -> None:
    """Mark ``tail → head`` and the chain of single-input, single-use boxes before it."""
    skip.add((tail, head))
    while len(preds[tail]) == 1 and len(succs[tail]) == 1:
        skip.add((preds[tail][0], tail))
        tail = preds[tail][0]


def _add_outputs(
    graph: Graph, root: Cluster, boxes: dict[str, Box], rep: dict[str, str], edges: list[Edge]
) -> None:
    outputs = list(graph.outputs)
    for o in outputs:
        name = OUTPUT_PREFIX + o
        label = "output" if len(outputs) == 1 else f"output: {o}"
        shape = tuple(graph[o].shape)
        boxes[name] = Box(name, "output", "output", label, shape, members=[o])
        root.children.append(boxes[name])
        edges.append(Edge(rep[o], name, shape, False))


def box_count(graph: Graph, depth: int | None = None) -> int:
    """How many boxes ``diagram(graph, depth)`` has, without drawing it (fast on any size).

    >>> import archdsl
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> box_count(g), box_count(g, 1) == len(diagram(g, 1).boxes) == 7
    (28, True)
    """
    _check_depth(depth)
    if depth is None:
        return len(graph) + len(graph.outputs)
    shown = 0
    collapsed: set[str] = set()
    for _, node in graph.nx.nodes(data="node"):
        if len(node.scope) >= depth:
            collapsed.add(node.scope[depth - 1][0])
        else:
            shown += 1
    return shown + len(collapsed) + len(graph.outputs)


def fit_depth(graph: Graph, depth: int | None = None, max_boxes: int = MAX_BOXES) -> int | None:
    """The depth to draw ``graph`` at with at most ``max_boxes`` boxes.

    ``depth`` itself when its drawing fits; for ``depth=None`` (everything), the deepest depth
    that fits; otherwise :class:`~archdsl.errors.LimitError`, naming ``--max-boxes``.

    >>> import archdsl
    >>> g = archdsl.load("specs/resnet50.yaml")
    >>> fit_depth(g), fit_depth(g, max_boxes=100)  # 176 boxes in full, 24 at depth 1
    (None, 1)
    """
    boxes = box_count(graph, depth)
    if boxes <= max_boxes:
        return depth
    nesting = max((len(node.scope) for node in graph.walk()), default=0)
    if depth is None:
        for candidate in range(nesting, 0, -1):
            if box_count(graph, candidate) <= max_boxes:
                return candidate
    raise LimitError(
        f"the drawing has {boxes:,} boxes, more than the limit of {max_boxes:,} for Graphviz "
        "(--max-boxes)",
        hint="draw fewer boxes with --depth N (--depth 1: each top-level block as one box), "
        "write the .dot text (-o net.dot) or raise --max-boxes",
    )


__all__ = [
    "MAX_BOXES",
    "OUTPUT_PREFIX",
    "Box",
    "BoxKind",
    "Cluster",
    "Diagram",
    "Edge",
    "box_count",
    "diagram",
    "fit_depth",
    "skip_edges",
]
