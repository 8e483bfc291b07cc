"""Diagrams of a compiled graph: deterministic Graphviz DOT; SVG, PNG, PDF and an interactive
HTML page through ``dot``.

Framework-free: this module needs only the graph and, to draw images, the Graphviz ``dot``
program. The DOT text is byte-identical across runs and machines: everything is emitted in
definition order with fixed attribute order, and nothing depends on paths, time or memory
addresses. Names are escaped (:func:`archdsl.render_style.safe`), so no control character or
lone surrogate in a spec can break ``dot`` or the output.

What a diagram shows:

* one box per layer: its id (relative to its block), type, key arguments (``3×3 /2, 64``,
  ``p=0.2``) and parameter count, filled by layer category (:mod:`archdsl.render_style`);
* inputs and outputs as dark ovals; merges (``add``, ``multiply``, ``concat``) as small
  circles (``+``, ``×``, ``‖``);
* the output shape of the source on every edge (``32×16×16``); *skip edges*, dashed and blue,
  chosen from the graph's structure (:func:`skip_edges`): an edge that bypasses a longer path
  to the same node, and the shorter branches into an element-wise merge;
* every block instance as a labelled cluster (``block1: conv_block``), nested blocks as
  nested clusters. ``depth=N`` shows ``N`` levels, as torchinfo's and torchview's ``depth``:
  ``depth=1`` draws every top-level block as one bold box with the block name, its output
  shape and its summed parameters; ``depth=2`` draws those blocks as clusters and the blocks
  inside them as boxes.

Example:
    >>> import archdsl
    >>> from archdsl.render import to_dot, diagram
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> text = to_dot(g)
    >>> text.startswith('// cifar10-cnn') and 'subgraph "cluster_block1"' in text
    True
    >>> d = diagram(g, depth=1)
    >>> [b.name for b in d.boxes.values()]
    ['input', 'block1', 'block2', 'block3', 'flatten_1', 'logits', '@output.logits']
    >>> d.boxes["block1"].params  # 896 + 128 + 9,248 + 128
    10400
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from archdsl import render_style as st
from archdsl.diagram import (
    MAX_BOXES,
    OUTPUT_PREFIX,
    Box,
    Cluster,
    Diagram,
    Edge,
    diagram,
    fit_depth,
    skip_edges,
)
from archdsl.errors import ArchdslError, SpecError, printable
from archdsl.fsutil import atomic_write_bytes, atomic_write_text
from archdsl.layers import REGISTRY, get_layer

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: Valid ``rankdir`` values: top to bottom, left to right.
RANKDIRS = ("TB", "LR")
#: Output file extensions :func:`render` understands.
FORMATS = (".dot", ".html", ".pdf", ".png", ".svg")
#: How to get the ``dot`` program.
INSTALL_HINT = (
    "install Graphviz (apt-get install graphviz, brew install graphviz "
    "or conda install graphviz) and rerun"
)


class GraphvizMissing(ArchdslError):
    """The Graphviz ``dot`` program is not installed; the ``.dot`` file was written instead.

    ``dot_path`` is the DOT file that was written next to the requested image.
    """

    kind = "Graphviz not found"

    def __init__(self, message: str, dot_path: Path) -> None:
        super().__init__(message)
        self.dot_path = dot_path


class RenderError(ArchdslError):
    """Graphviz ``dot`` ran but failed (the message quotes what it said)."""

    kind = "drawing failed"


def _check_rankdir(rankdir: str) -> None:
    if rankdir not in RANKDIRS:
        raise SpecError(f"rankdir must be one of {', '.join(RANKDIRS)}, received {rankdir!r}",
                        hint="TB draws top to bottom, LR left to right")


# ---------------------------------------------------------------------------- DOT text
def _node_stmt(box: Box, graph: Graph) -> str:
    name = st.quote(box.name)
    tip = st.tooltip(box)
    if box.kind in ("input", "output"):
        label = (f"<b>{st.html(box.local)}</b><br/>"
                 f'<font point-size="9">{st.shape_text(box.shape)}</font>')
        return (f'{name} [label=<{label}>, shape=oval, fillcolor="{st.TERMINAL.fill}", '
                f'color="{st.TERMINAL.border}", fontcolor="white", tooltip={tip}];')
    if box.kind == "merge":
        sty = st.style_for("merge")
        symbol = get_layer(box.type).symbol or box.type[:1]
        xlabel = ""
        if not st.names_type(box):
            xlabel = (f', xlabel=<<font point-size="8" color="{st.INK_3}">'
                      f"{st.html(box.local)}</font>>")
        return (f'{name} [label=<<b>{st.html(symbol)}</b>>, shape=circle, fixedsize=true, '
                f'width=0.34, fontsize=13, fillcolor="{sty.fill}", color="{sty.border}"'
                f"{xlabel}, tooltip={tip}];")
    if box.kind == "block":
        sty = st.COLLAPSED
        return (f"{name} [label=<{st.box_head(box)}{st.block_detail(box)}>, "
                f'style="filled,bold", fillcolor="{sty.fill}", color="{sty.border}", '
                f"tooltip={tip}];")
    layer = REGISTRY.get(box.type)
    sty = st.style_for(layer.category if layer is not None else "other")
    label = st.box_head(box) + st.layer_detail(box, graph[box.name].params)
    return (f'{name} [label=<{label}>, fillcolor="{sty.fill}", color="{sty.border}", '
            f"tooltip={tip}];")


def _emit_cluster(
    cluster: Cluster, graph: Graph, out: list[str], indent: str, ids: dict[str, str] | None
) -> None:
    for child in cluster.children:
        if isinstance(child, Box):
            stmt = _node_stmt(child, graph)
            if ids is not None:  # the SVG element id, for the HTML page
                stmt = f'{stmt[:-2]}, id="{ids[child.name]}"];'
            out.append(indent + stmt)
            continue
        label = (f"<b>{st.html(child.local)}</b>: "
                 f'<font color="{st.INK_2}">{st.html(child.block)}</font>')
        tip = st.quote(f"{child.inst} ({child.block})")
        fill = st.cluster_fill(child.level)
        out.append(f"{indent}subgraph {st.quote('cluster_' + child.inst)} {{")
        out.append(f'{indent}  graph [label=<{label}>, fillcolor="{fill}", fontsize=12, '
                   f"tooltip={tip}];")
        _emit_cluster(child, graph, out, indent + "  ", ids)
        out.append(f"{indent}}}")


def to_dot(graph: Graph, *, depth: int | None = None, rankdir: str = "TB") -> str:
    """The diagram of ``graph`` as Graphviz DOT text (deterministic, byte for byte).

    ``depth=N`` shows ``N`` levels of blocks (``depth=1``: each top-level block one box);
    ``rankdir`` is ``"TB"`` (top to bottom) or ``"LR"`` (left to right).

    >>> import archdsl
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> text = to_dot(g, depth=1, rankdir="LR")
    >>> "rankdir=LR" in text and '"block2" -> "block3" [label=" 64×8×8"];' in text
    True
    >>> to_dot(g, rankdir="XY")
    Traceback (most recent call last):
    archdsl.errors.SpecError: rankdir must be one of TB, LR, received 'XY'
    """
    _check_rankdir(rankdir)
    return dot_text(graph, diagram(graph, depth), depth, rankdir)


def dot_text(
    graph: Graph, d: Diagram, depth: int | None, rankdir: str, ids: dict[str, str] | None = None
) -> str:
    """The DOT text of a diagram ``d`` of ``graph`` drawn at ``depth`` (see :func:`to_dot`);
    ``ids`` gives boxes an SVG element id (by DOT name)."""
    p = graph.params
    subtitle = f"{st.count_text(p['total'])} params"
    if p["non_trainable"]:
        subtitle += f" ({st.count_text(p['non_trainable'])} non-trainable)"
    subtitle += f" · {st.macs_text(graph.macs)} MACs"
    title = (f'<b>{st.html(graph.name)}</b><br/><font point-size="10" color="{st.INK_3}">'
             f"{st.html(subtitle)}</font>")
    font = st.quote(st.FONT)
    name = st.safe(" ".join(graph.name.split()))
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
    _emit_cluster(d.root, graph, out, "  ", ids)
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


def run_dot(text: str, fmt: str, dpi: int | None = None) -> bytes:
    """Run Graphviz ``dot -T<fmt>`` on DOT ``text``; ``dpi`` sets the resolution of bitmaps.

    Raises :class:`FileNotFoundError` when there is no ``dot`` and :class:`RenderError` when
    it fails (its message quotes ``dot``'s own, clipped).
    """
    exe = shutil.which("dot")
    if exe is None:
        raise FileNotFoundError("dot")
    cmd = [exe, f"-T{fmt}"] + ([f"-Gdpi={dpi}"] if dpi is not None else [])
    proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0:
        said = printable(proc.stderr.decode("utf-8", "replace").strip(), 400)
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exited with code {proc.returncode}")
        raise RenderError(f"Graphviz dot {how}: {said or '(no message)'}",
                          hint="draw fewer boxes with --depth N, or write the .dot text (-o "
                          "net.dot) to inspect it")
    return proc.stdout


def render(graph: Graph, output_path: str | Path, *, depth: int | None = None,
           rankdir: str = "TB", dpi: int | None = None, max_boxes: int = MAX_BOXES) -> Path:
    """Write the diagram to ``output_path``; the extension picks the format.

    ``.dot`` writes the DOT text; ``.svg``, ``.png`` and ``.pdf`` run Graphviz ``dot``
    (``dpi``: the resolution of a PNG, Graphviz's default 96); ``.html`` writes one
    self-contained page with the SVG, pan and zoom, search and a panel describing the clicked
    node (:mod:`archdsl.render_html`). A drawing of more than ``max_boxes`` boxes is not
    handed to ``dot``: with ``depth=None`` it is drawn at the deepest depth that fits
    (:func:`fit_depth`), else :class:`~archdsl.errors.LimitError`. Files are written
    atomically. Without ``dot`` the DOT text is written next to the requested path (same
    name, ``.dot``) and :class:`GraphvizMissing` is raised with the install hint.

    >>> import archdsl, tempfile, pathlib
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> out = render(g, pathlib.Path(tempfile.mkdtemp()) / "cifar.dot", depth=1)
    >>> out.read_text(encoding="utf-8") == to_dot(g, depth=1)
    True
    """
    path = Path(output_path)
    fmt = path.suffix.lower()
    if fmt not in FORMATS:
        raise SpecError(
            f"cannot render to '{st.safe(str(path))}': unknown extension "
            f"{path.suffix or '(none)'!r}, valid choices: {', '.join(FORMATS)}",
            hint="for example: archdsl render net.yaml -o net.svg",
        )
    _check_rankdir(rankdir)
    if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1):
        raise SpecError(f"dpi must be a positive integer, received {dpi!r}")
    if fmt != ".dot":
        depth = fit_depth(graph, depth, max_boxes)
    d = diagram(graph, depth)
    text = dot_text(graph, d, depth, rankdir)
    if fmt == ".dot":
        atomic_write_text(path, text)
        return path
    if fmt == ".html":
        from archdsl.render_html import dot_ids, page

        try:
            svg = run_dot(dot_text(graph, d, depth, rankdir, dot_ids(d)), "svg")
        except FileNotFoundError:
            raise _missing(path, text, "svg") from None
        atomic_write_text(path, page(graph, d, svg.decode("utf-8")))
        return path
    try:
        data = run_dot(text, fmt[1:], dpi if fmt == ".png" else None)
    except FileNotFoundError:
        raise _missing(path, text, fmt[1:]) from None
    atomic_write_bytes(path, data)
    return path


__all__ = [
    "FORMATS",
    "MAX_BOXES",
    "OUTPUT_PREFIX",
    "RANKDIRS",
    "Box",
    "Cluster",
    "Diagram",
    "Edge",
    "GraphvizMissing",
    "RenderError",
    "diagram",
    "dot_text",
    "fit_depth",
    "render",
    "run_dot",
    "skip_edges",
    "to_dot",
]
