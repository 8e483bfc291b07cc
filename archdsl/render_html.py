"""The interactive diagram: one self-contained HTML page (``archdsl render -o net.html``).

The page holds the SVG that Graphviz drew, the viewer's script and style
(``archdsl/assets/viewer.js``, ``viewer.css``, inlined) and a JSON description of every box:
nothing is fetched, so the file works offline and can be mailed. In the page:

* drag to pan, the mouse wheel (or ``+``, ``−``, ``fit``) to zoom;
* the search field (``/`` focuses it) finds a node by id, exactly or by part, selects the
  box that draws it (a collapsed block for a node inside one) and centres it;
* a click on a box shows its type, every argument, input and output shapes, parameters,
  MACs, receptive field, enclosing block and source line in the side panel; the URL
  (``net.html#node=ID``) then names the node, so a link opens the page on it.

Every name is escaped (:func:`archdsl.render_style.safe`) and the JSON is embedded so that
no value can end the script element.

Example:
    >>> import archdsl
    >>> from archdsl.diagram import diagram
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> info = page_data(g, diagram(g))
    >>> box = info["boxes"][info["index"]["block1.conv1"]]
    >>> box["type"], box["key_args"], box["shape"], box["trainable"], box["rf"]
    ('conv2d', '3×3, 32', [32, 32, 32], 896, '3')
    >>> box["inputs"]
    [['input', [3, 32, 32]]]
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from archdsl import render_style as st

if TYPE_CHECKING:
    from archdsl.diagram import Box, Diagram
    from archdsl.graph import Graph

#: The DOM id of box ``i`` in the SVG (the DOT ``id`` attribute :func:`dot_ids` assigns).
DOM_ID = "box{}"


def dot_ids(d: Diagram) -> dict[str, str]:
    """The SVG element id of every box, by DOT name: ``box0``, ``box1``, ... in drawing order."""
    return {name: DOM_ID.format(i) for i, name in enumerate(d.boxes)}


def _clean(value: Any) -> Any:
    """A JSON value with every string made safe for display."""
    if isinstance(value, str):
        return st.safe(value)
    if isinstance(value, dict):
        return {st.safe(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _layer_info(graph: Graph, box: Box) -> dict[str, Any]:
    node = graph[box.name]
    info: dict[str, Any] = {
        "inputs": [[src, list(shape)] for src, shape in zip(node.inputs, node.in_shapes)],
        "rf": None if node.rf is None else str(node.rf),
        "scope": " › ".join(f"{inst} ({block})" for inst, block in node.scope) or None,
        "loc": None if node.is_input else str(node.loc),
    }
    if not node.is_input:
        info["args"] = node.params.model_dump(mode="json") if node.params is not None else {}
        try:
            info["key_args"] = st.key_args(node.type, node.params)
        except (KeyError, TypeError, ValueError):
            info["key_args"] = ""
    return info


def _box_info(graph: Graph, d: Diagram, box: Box, dom: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "dom": dom, "name": box.name, "kind": box.kind, "type": box.type,
        "shape": list(box.shape), "trainable": box.trainable,
        "non_trainable": box.non_trainable, "macs": box.macs, "line": box.line,
    }
    if box.kind in ("layer", "merge", "input"):
        info.update(_layer_info(graph, box))
    elif box.kind == "block":
        last = graph[box.members[-1]]
        info["members"] = list(box.members)
        info["inputs"] = [[e.tail, list(e.shape)] for e in d.edges if e.head == box.name]
        info["rf"] = None if last.rf is None else str(last.rf)
    else:  # an output terminal
        info["inputs"] = [[box.members[0], list(box.shape)]]
    return info


def page_data(graph: Graph, d: Diagram) -> dict[str, Any]:
    """What the page knows: the model's summary, every box, and ``index`` (node id → box)."""
    ids = dot_ids(d)
    boxes = [_box_info(graph, d, box, ids[name]) for name, box in d.boxes.items()]
    position = {name: i for i, name in enumerate(d.boxes)}
    index: dict[str, int] = {}
    for name, box in d.boxes.items():
        for member in box.members if box.kind != "output" else []:
            index.setdefault(member, position[name])
        index.setdefault(name, position[name])
    p = graph.params
    summary = (f"{p['total']:,} params · {st.macs_text(graph.macs)} MACs · "
               + ", ".join(st.shape_text(s) for s in graph.input_shapes) + " → "
               + ", ".join(st.shape_text(s) for s in graph.output_shapes))
    return _clean({"name": graph.name, "file": graph.file, "summary": summary,
                   "boxes": boxes, "index": index})


def _asset(name: str) -> str:
    return resources.files("archdsl").joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON that cannot close the ``<script>`` element it sits in."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")


def page(graph: Graph, d: Diagram, svg: str) -> str:
    """The HTML page of diagram ``d`` of ``graph``; ``svg`` is what ``dot`` drew from
    :func:`archdsl.render.dot_text` with ``ids=True``."""
    data = page_data(graph, d)
    svg = svg[svg.find("<svg"):] if "<svg" in svg else svg
    title = st.html(graph.name)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="archdsl render">
<title>{title}</title>
<style>
{_asset("viewer.css")}</style>
</head>
<body>
<header>
<h1>{title}</h1><span class="summary">{st.html(data["summary"])}</span>
<form id="find" autocomplete="off"><input id="search" type="search"
 placeholder="find a node by id (press /)" aria-label="node id">
<button type="submit">find</button><button type="button" id="zoom-in" title="zoom in">+</button>
<button type="button" id="zoom-out" title="zoom out">−</button>
<button type="button" id="zoom-fit" title="fit the whole diagram">fit</button></form>
<span id="status" role="status"></span>
</header>
<main id="canvas">
{svg}</main>
<aside id="panel"><p class="hint">Click a box to see its type, arguments, shapes, parameters,
MACs and receptive field. Drag to pan, scroll to zoom.</p></aside>
<script type="application/json" id="archdsl-data">{_script_json(data)}</script>
<script>
{_asset("viewer.js")}</script>
</body>
</html>
"""


__all__ = ["DOM_ID", "dot_ids", "page", "page_data"]
