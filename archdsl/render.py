"""Diagrams of a compiled graph: deterministic Graphviz DOT, and SVG/PNG/PDF through ``dot``.

Framework-free: this module needs only the graph and, to draw images, the Graphviz ``dot``
program (the Python ``graphviz`` package runs it). The DOT text is byte-identical across runs
and machines: everything is emitted in definition order with fixed attribute order, and
nothing depends on paths, time or memory addresses.

What a diagram shows:

* one box per layer: its id (relative to its block), type, key arguments (``3×3 /2, 64``,
  ``p=0.2``) and parameter count, filled by layer category (:mod:`archdsl.render_style`);
* inputs and outputs as dark ovals; merges (``add``, ``multiply``, ``concat``) as small
  circles (``+``, ``×``, ``‖``);
* the output shape of the source on every edge (``32×16×16``); *skip edges*, whose source
  is not the node defined just before the target, dashed and blue;
* every block instance as a labelled cluster (``block1: conv_block``), nested blocks as
  nested clusters; ``depth=N`` collapses every instance nested deeper than ``N`` levels into
  one bold box with the block name, its output shape and its summed parameters.

Example:
    >>> import archdsl
    >>> from archdsl.render import to_dot, diagram
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> text = to_dot(g)
    >>> text.startswith('// cifar10-cnn') and 'subgraph "cluster_block1"' in text
    True
    >>> d = diagram(g, depth=0)
    >>> [b.name for b in d.boxes.values()]
    ['input', 'block1', 'block2', 'block3', 'flatten_1', 'logits', '@output.logits']
    >>> d.boxes["block1"].params  # 896 + 128 + 9,248 + 128
    10400
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from archdsl import render_style as st
from archdsl.errors import ArchdslError, SpecError
from archdsl.fsutil import atomic_write_bytes, atomic_write_text
from archdsl.layers import REGISTRY

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: Valid ``rankdir`` values: top to bottom, left to right.
RANKDIRS = ("TB", "LR")
#: Output file extensions :func:`render` understands.
FORMATS = (".dot", ".pdf", ".png", ".svg")
#: How to get the ``dot`` program.
INSTALL_HINT = (
    "install Graphviz (apt-get install graphviz, brew install graphviz "
    "or conda install graphviz) and rerun"
)
#: Prefix of the DOT names of output terminals; ``@`` cannot occur in a node id.
OUTPUT_PREFIX = "@output."

BoxKind = Literal["input", "layer", "merge", "block", "output"]


class GraphvizMissing(ArchdslError):
    """The Graphviz ``dot`` program is not installed; the ``.dot`` file was written instead.

    ``dot_path`` is the DOT file that was written next to the requested image.
    """

    kind = "Graphviz not found"

    def __init__(self, message: str, dot_path: Path) -> None:
        super().__init__(message)
        self.dot_path = dot_path


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
    """A drawn edge carrying ``shape``; ``skip`` when ``tail`` is not the box drawn before."""

    tail: str
    head: str
    shape: tuple[int, ...]
    skip: bool


@dataclass
class Diagram:
    """What :func:`to_dot` draws: the cluster tree, the boxes by DOT name, and the edges."""

    root: Cluster
    boxes: dict[str, Box]
    edges: list[Edge]


def _check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise SpecError(f"depth must be a non-negative integer or None, received {depth!r}",
                        hint="depth=0 draws every top-level block as one box")


def _check_rankdir(rankdir: str) -> None:
    if rankdir not in RANKDIRS:
        raise SpecError(f"rankdir must be one of {', '.join(RANKDIRS)}, received {rankdir!r}",
                        hint="TB draws top to bottom, LR left to right")


def _relative(name: str, parent: Cluster) -> str:
    prefix = parent.inst + "."
    return name[len(prefix):] if parent.inst and name.startswith(prefix) else name


def diagram(graph: Graph, depth: int | None = None) -> Diagram:
    """Group the graph's nodes into boxes and clusters, and classify its edges.

    ``depth=None`` draws every layer; ``depth=N`` collapses each block instance nested deeper
    than ``N`` levels into one box (``depth=0``: every top-level block is one box).

    >>> import archdsl
    >>> d = diagram(archdsl.load("specs/cifar10_cnn.yaml"))
    >>> [c.local + ": " + c.block for c in d.root.children if isinstance(c, Cluster)]
    ['block1: conv_block', 'block2: conv_block', 'block3: conv_block']
    """
    _check_depth(depth)
    g = graph.nx
    root = Cluster("", "", "", 0)
    clusters: dict[str, Cluster] = {}
    boxes: dict[str, Box] = {}
    rep: dict[str, str] = {}
    for n, a in g.nodes(data=True):
        scope: tuple[tuple[str, str], ...] = tuple(a.get("scope") or ())
        shown = scope if depth is None else scope[:depth]
        parent = root
        for level, (inst, block) in enumerate(shown, 1):
            cluster = clusters.get(inst)
            if cluster is None:
                cluster = Cluster(inst, block, _relative(inst, parent), level)
                clusters[inst] = cluster
                parent.children.append(cluster)
            parent = cluster
        if len(shown) < len(scope):  # collapsed into the block instance scope[depth]
            inst, block = scope[len(shown)]
            name = inst if inst not in g else f"@block.{inst}"
            box = boxes.get(name)
            if box is None:
                box = Box(name, "block", block, _relative(inst, parent), a["shape"])
                boxes[name] = box
                parent.children.append(box)
            box.shape = a["shape"]  # the last member is the block's output
        else:
            kind = a["type"]
            category = REGISTRY[kind].category if kind in REGISTRY else "other"
            box_kind: BoxKind = (
                "input" if kind == "input" else "merge" if category == "merge" else "layer"
            )
            name = n
            line = getattr(a.get("loc"), "line", None)
            box = Box(n, box_kind, kind, _relative(n, parent), a["shape"], line=line)
            boxes[name] = box
            parent.children.append(box)
        box.trainable += a.get("trainable", 0)
        box.non_trainable += a.get("non_trainable", 0)
        box.macs += a.get("macs", 0)
        box.members.append(n)
        rep[n] = name

    order = list(boxes)
    previous = {b: order[i - 1] for i, b in enumerate(order) if i}
    first_use: dict[str, str] = {}
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for n, a in g.nodes(data=True):
        head = rep[n]
        for src in a.get("inputs", ()):
            tail = rep[src]
            if tail == head or (tail, head) in seen:
                continue
            seen.add((tail, head))
            if boxes[tail].kind == "input":
                first_use.setdefault(tail, head)
            sequential = previous.get(head) == tail or first_use.get(tail) == head
            edges.append(Edge(tail, head, tuple(g.nodes[src]["shape"]), not sequential))

    outputs = list(graph.outputs)
    for o in outputs:
        name = OUTPUT_PREFIX + o
        label = "output" if len(outputs) == 1 else f"output: {o}"
        shape = tuple(g.nodes[o]["shape"])
        boxes[name] = Box(name, "output", "output", label, shape, members=[o])
        root.children.append(boxes[name])
        edges.append(Edge(rep[o], name, shape, False))
    return Diagram(root, boxes, edges)


# ---------------------------------------------------------------------------- DOT text
_AUTO_ID = re.compile(r"(.+?)(_\d+)?")


def _names_type(box: Box) -> bool:
    """Whether the shown name already says the type: ``relu``, ``relu_3`` (automatic ids)."""
    m = _AUTO_ID.fullmatch(box.local)
    return m is not None and m.group(1) == box.type


def _head(box: Box) -> str:
    """Bold local name, then the type unless the name already says it (``relu_3``)."""
    head = f"<b>{st.html(box.local)}</b>"
    if box.kind == "block" or not _names_type(box):
        head += f'&#160;&#160;<font color="{st.INK_2}">{st.html(box.type)}</font>'
    return head


def _detail(parts: list[str]) -> str:
    """The second, smaller line of a box; ``''`` when there is nothing to say."""
    text = " · ".join(x for x in parts if x)
    return f'<br/><font point-size="9" color="{st.INK_2}">{st.html(text)}</font>' if text else ""


def _block_detail(box: Box) -> str:
    size = len(box.members)
    return _detail([f"{st.shape_text(box.shape)}", f"{size} layer{'s' if size != 1 else ''}",
                    st.params_text(box.trainable, box.non_trainable)])


def _layer_detail(box: Box, p: Any) -> str:
    dims = getattr(REGISTRY.get(box.type), "dims", 2)
    try:
        args = st.key_args(box.type, p, dims)
    except (KeyError, TypeError, ValueError):  # an unfamiliar parameter model: no arguments
        args = ""
    return _detail([args, st.params_text(box.trainable, box.non_trainable)])


def _tooltip(box: Box) -> str:
    parts = [f"{box.name} ({box.type})" if box.kind != "output" else box.local,
             st.shape_text(box.shape)]
    if box.params:
        parts.append(f"{st.count_text(box.trainable)} trainable + "
                     f"{st.count_text(box.non_trainable)} non-trainable params")
    if box.macs:
        parts.append(f"{st.count_text(box.macs)} MACs")
    if box.line is not None:
        parts.append(f"line {box.line}")
    return st.quote(" · ".join(parts))


def _node_stmt(box: Box, graph: Graph) -> str:
    name = st.quote(box.name)
    tip = _tooltip(box)
    if box.kind in ("input", "output"):
        label = (f"<b>{st.html(box.local)}</b><br/>"
                 f'<font point-size="9">{st.shape_text(box.shape)}</font>')
        return (f'{name} [label=<{label}>, shape=oval, fillcolor="{st.TERMINAL.fill}", '
                f'color="{st.TERMINAL.border}", fontcolor="white", tooltip={tip}];')
    if box.kind == "merge":
        sty = st.style_for("merge")
        symbol = st.MERGE_SYMBOLS.get(box.type, box.type[:1])
        xlabel = ""
        if not _names_type(box):
            xlabel = (f', xlabel=<<font point-size="8" color="{st.INK_3}">'
                      f"{st.html(box.local)}</font>>")
        return (f'{name} [label=<<b>{st.html(symbol)}</b>>, shape=circle, fixedsize=true, '
                f'width=0.34, fontsize=13, fillcolor="{sty.fill}", color="{sty.border}"'
                f"{xlabel}, tooltip={tip}];")
    if box.kind == "block":
        sty = st.COLLAPSED
        return (f"{name} [label=<{_head(box)}{_block_detail(box)}>, style=\"filled,bold\", "
                f'fillcolor="{sty.fill}", color="{sty.border}", tooltip={tip}];')
    layer = REGISTRY.get(box.type)
    sty = st.style_for(layer.category if layer is not None else "other")
    label = _head(box) + _layer_detail(box, graph.nx.nodes[box.name].get("params"))
    return (f'{name} [label=<{label}>, fillcolor="{sty.fill}", color="{sty.border}", '
            f"tooltip={tip}];")


def _emit_cluster(cluster: Cluster, graph: Graph, out: list[str], indent: str) -> None:
    for child in cluster.children:
        if isinstance(child, Box):
            out.append(indent + _node_stmt(child, graph))
            continue
        label = (f"<b>{st.html(child.local)}</b>: "
                 f'<font color="{st.INK_2}">{st.html(child.block)}</font>')
        tip = st.quote(f"{child.inst} ({child.block})")
        fill = st.cluster_fill(child.level)
        out.append(f"{indent}subgraph {st.quote('cluster_' + child.inst)} {{")
        out.append(f'{indent}  graph [label=<{label}>, fillcolor="{fill}", fontsize=12, '
                   f"tooltip={tip}];")
        _emit_cluster(child, graph, out, indent + "  ")
        out.append(f"{indent}}}")


def to_dot(graph: Graph, *, depth: int | None = None, rankdir: str = "TB") -> str:
    """The diagram of ``graph`` as Graphviz DOT text (deterministic, byte for byte).

    ``depth=N`` collapses block instances nested deeper than ``N`` levels into one box;
    ``rankdir`` is ``"TB"`` (top to bottom) or ``"LR"`` (left to right).

    >>> import archdsl
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> text = to_dot(g, depth=0, rankdir="LR")
    >>> "rankdir=LR" in text and '"block2" -> "block3" [label=" 64×8×8"];' in text
    True
    >>> to_dot(g, rankdir="XY")
    Traceback (most recent call last):
    archdsl.errors.SpecError: rankdir must be one of TB, LR, received 'XY'
    """
    _check_rankdir(rankdir)
    d = diagram(graph, depth)
    p = graph.params
    subtitle = f"{st.count_text(p['total'])} params"
    if p["non_trainable"]:
        subtitle += f" ({st.count_text(p['non_trainable'])} non-trainable)"
    subtitle += f" · {st.macs_text(graph.macs)} MACs"
    title = (f'<b>{st.html(graph.name)}</b><br/><font point-size="10" color="{st.INK_3}">'
             f"{st.html(subtitle)}</font>")
    font = st.quote(st.FONT)
    name = " ".join(graph.name.split())
    out = [
        f"// {name}: drawn by archdsl (depth={depth}, rankdir={rankdir}); do not edit",
        f"digraph {st.quote(graph.name)} {{",
        f"  graph [rankdir={rankdir}, newrank=true, fontname={font}, fontsize=14, "
        f'fontcolor="{st.INK}", label=<{title}>, labelloc=t, labeljust=c, nodesep=0.3, '
        f'ranksep=0.28, pad=0.25, bgcolor="white", style="rounded,filled", '
        f'color="{st.CLUSTER_BORDER}", penwidth=0.8];',
        f'  node [shape=box, style="rounded,filled", fontname={font}, fontsize=11, '
        f'fontcolor="{st.INK}", margin="0.12,0.05", height=0.3, penwidth=1.0];',
        f"  edge [fontname={font}, fontsize=8, fontcolor=\"{st.INK_3}\", "
        f'color="{st.EDGE}", arrowsize=0.6, penwidth=0.9];',
    ]
    _emit_cluster(d.root, graph, out, "  ")
    for e in d.edges:
        attrs = f'label=" {st.shape_text(e.shape)}"'
        if e.skip:
            attrs += f', style=dashed, color="{st.SKIP_EDGE}", penwidth=1.2'
        out.append(f"  {st.quote(e.tail)} -> {st.quote(e.head)} [{attrs}];")
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- files
def _missing(path: Path, text: str, fmt: str) -> GraphvizMissing:
    dot_path = path.with_suffix(".dot")
    atomic_write_text(dot_path, text)
    return GraphvizMissing(
        f"the 'dot' program is not installed, so {path} was not drawn; wrote {dot_path} "
        f"instead. To draw it, {INSTALL_HINT}, or run later: dot -T{fmt} {dot_path} -o {path}",
        dot_path,
    )


def render(graph: Graph, output_path: str | Path, *, depth: int | None = None,
           rankdir: str = "TB") -> Path:
    """Write the diagram to ``output_path``; the extension picks the format.

    ``.dot`` writes the DOT text; ``.svg``, ``.png`` and ``.pdf`` run Graphviz ``dot``. Files
    are written atomically. Without ``dot`` the DOT text is written next to the requested path
    (same name, ``.dot``) and :class:`GraphvizMissing` is raised with the install hint.

    >>> import archdsl, tempfile, pathlib
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> out = render(g, pathlib.Path(tempfile.mkdtemp()) / "cifar.dot", depth=0)
    >>> out.read_text(encoding="utf-8") == to_dot(g, depth=0)
    True
    """
    path = Path(output_path)
    fmt = path.suffix.lower()
    if fmt not in FORMATS:
        raise SpecError(
            f"cannot render to '{path}': unknown extension {path.suffix or '(none)'!r}, "
            f"valid choices: {', '.join(FORMATS)}",
            hint="for example: archdsl render net.yaml -o net.svg",
        )
    text = to_dot(graph, depth=depth, rankdir=rankdir)
    if fmt == ".dot":
        atomic_write_text(path, text)
        return path
    if shutil.which("dot") is None:
        raise _missing(path, text, fmt[1:])
    import graphviz

    try:
        data = graphviz.Source(text, engine="dot").pipe(format=fmt[1:])
    except graphviz.ExecutableNotFound:
        raise _missing(path, text, fmt[1:]) from None
    atomic_write_bytes(path, data)
    return path


__all__ = [
    "FORMATS",
    "RANKDIRS",
    "Box",
    "Cluster",
    "Diagram",
    "Edge",
    "GraphvizMissing",
    "diagram",
    "render",
    "to_dot",
]
