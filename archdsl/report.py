"""Reports of a compiled graph: the summary table, the JSON object, the expanded spec."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from archdsl.graph import Graph


def _rf_text(rf: Any) -> str:
    return "-" if rf is None else str(rf)


def graph_json(g: Graph) -> dict[str, Any]:
    """The machine-readable summary printed by ``archdsl check --json``."""
    layers = []
    for n, node in g.layers():
        layers.append(
            {
                "id": n,
                "type": node.type,
                "inputs": list(node.inputs),
                "output_shape": list(node.shape),
                "params": node.trainable + node.non_trainable,
                "trainable": node.trainable,
                "non_trainable": node.non_trainable,
                "macs": node.macs,
                "receptive_field": node.rf.as_json() if node.rf is not None else None,
            }
        )
    return {
        "name": g.name,
        "file": g.file,
        "args": g.args,
        "input_shapes": [list(s) for s in g.input_shapes],
        "output_shapes": [list(s) for s in g.output_shapes],
        "params": g.params,
        "macs": g.macs,
        "nodes": len(g),
        "layers": layers,
    }


def summary_table(g: Graph) -> Table:
    """A rich Table: node, type, output shape, params, MACs, receptive field; then totals."""
    t = Table(title=f"{g.name}  ({g.file})", title_justify="left", show_lines=False)
    t.add_column("node", overflow="fold")
    t.add_column("type")
    t.add_column("output shape")
    t.add_column("params", justify="right")
    t.add_column("MACs", justify="right")
    t.add_column("RF", justify="right")
    for n in g:
        node = g[n]
        params = node.trainable + node.non_trainable
        t.add_row(
            n,
            node.type,
            "×".join(map(str, node.shape)),
            f"{params:,}" if params else "",
            f"{node.macs:,}" if node.macs else "",
            _rf_text(node.rf),
        )
    p = g.params
    t.add_section()
    t.add_row(
        "total",
        f"{len(g)} nodes",
        ", ".join("×".join(map(str, s)) for s in g.output_shapes),
        f"{p['total']:,}",
        f"{g.macs:,}",
        "",
    )
    return t


def totals_text(g: Graph) -> str:
    p = g.params
    return (
        f"params: {p['trainable']:,} trainable + {p['non_trainable']:,} non-trainable = "
        f"{p['total']:,}   MACs: {g.macs:,}"
    )


def summary_text(g: Graph, width: int = 110) -> str:
    """The summary table and totals as plain text."""
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False).print(summary_table(g))
    return buf.getvalue() + totals_text(g) + "\n"


def expanded_spec(g: Graph) -> dict[str, Any]:
    """A flat spec equivalent to ``g``: loading it gives the same graph (ids, shapes, params)."""
    body = []
    prev = g.inputs[0]
    for n, node in g.layers():
        entry: dict[str, Any] = {"id": n}
        if list(node.inputs) != [prev]:
            entry["from"] = list(node.inputs) if len(node.inputs) > 1 else node.inputs[0]
        entry.update(node.params.model_dump(mode="json"))
        body.append({node.type: entry})
        prev = n
    out: dict[str, Any] = {"archdsl": 1, "name": g.name}
    if g.spec.doc:
        out["doc"] = g.spec.doc
    if len(g.inputs) == 1 and g.inputs[0] == "input":
        out["input"] = list(g.input_shapes[0])
    else:
        out["inputs"] = {n: list(s) for n, s in zip(g.inputs, g.input_shapes)}
    out["init"] = g.spec.init
    out["body"] = body
    if g.outputs != [prev]:
        out["outputs"] = g.outputs
    return out
