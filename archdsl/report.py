"""Reports of a compiled graph: the summary table, the memory estimate, the JSON object and the
expanded spec.

The table is plain text drawn here (no terminal library): every row is one string, so
20,000 nodes print in a fraction of a second. It is as wide as its content, whatever the
terminal (a pipe or a file gets every digit); ``width=N`` folds the ``node`` and ``type``
columns onto several lines to fit ``N`` columns, and never cuts a number. Names are escaped
(:func:`archdsl.render_style.safe`), so no control character in a spec reaches the terminal.

Example:
    >>> import archdsl
    >>> g = archdsl.load("specs/digits_cnn.yaml")
    >>> print(summary_text(g, depth=1).splitlines()[-1])
    params: 6,138 trainable + 96 non-trainable = 6,234   MACs: 84,224
    >>> m = memory(g, batch=32)
    >>> m.param_bytes, m.activation_bytes  # 6,234 params; 5,002 layer outputs × 32 samples; × 4 B
    (24936, 640256)
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

from archdsl.render_style import safe

if TYPE_CHECKING:
    from rich.table import Table

    from archdsl.graph import Graph

#: The summary table's columns; the right-aligned ones hold numbers.
COLUMNS = ("node", "type", "output shape", "params", "MACs", "RF")
_RIGHT = (False, False, False, True, True, True)
#: Columns that fold onto several lines when the table must fit a width (never the numbers).
_FOLDABLE = (0, 1)
_MIN_FOLDED = 8
_FOLD_AT = re.compile(r"[^._]+[._]?|[._]")
#: Bytes of one value in the memory estimate (float32, what both frameworks train in).
BYTES_PER_VALUE = 4


def _rf_text(rf: Any) -> str:
    return "-" if rf is None else str(rf)


# ---------------------------------------------------------------------------- memory
@dataclass(frozen=True)
class Memory:
    """An estimate of the memory one forward pass of ``batch`` samples needs, in bytes.

    ``activation_bytes`` counts the output of every layer, as kept for the backward pass
    while training (an upper bound for inference, which frees them as it goes);
    ``param_bytes`` counts trainable and non-trainable parameters; float32 values.
    """

    batch: int
    input_bytes: int
    activation_bytes: int
    param_bytes: int

    @property
    def total_bytes(self) -> int:
        """Input, activations and parameters together."""
        return self.input_bytes + self.activation_bytes + self.param_bytes

    def as_json(self) -> dict[str, Any]:
        """The ``memory`` object of ``check --json``."""
        return {"dtype": "float32", "batch": self.batch, "input_bytes": self.input_bytes,
                "activation_bytes": self.activation_bytes, "param_bytes": self.param_bytes,
                "total_bytes": self.total_bytes}

    def text(self) -> str:
        """One line: ``memory (float32, batch 1): input 12.3 kB, activations ...``."""
        return (f"memory (float32, batch {self.batch}): input {bytes_text(self.input_bytes)}, "
                f"activations {bytes_text(self.activation_bytes)}, "
                f"params {bytes_text(self.param_bytes)}, total {bytes_text(self.total_bytes)}")


def bytes_text(n: int) -> str:
    """Decimal units, as torchinfo: ``1234567`` → ``'1.23 MB'``.

    >>> bytes_text(512), bytes_text(24936), bytes_text(3_600_000_000)
    ('512 B', '24.9 kB', '3.6 GB')
    """
    for unit, div in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n} B"


def memory(g: Graph, batch: int = 1) -> Memory:
    """The :class:`Memory` estimate of ``g`` for ``batch`` samples."""
    inputs = sum(math.prod(g[n].shape) for n in g.inputs)
    outputs = sum(math.prod(node.shape) for node in g.walk())
    b = batch * BYTES_PER_VALUE
    return Memory(batch, inputs * b, outputs * b, g.params["total"] * BYTES_PER_VALUE)


# ---------------------------------------------------------------------------- JSON
def graph_json(g: Graph, batch: int = 1, depth: int | None = None) -> dict[str, Any]:
    """The machine-readable summary printed by ``archdsl check --json``: every layer, and with
    ``depth`` also the collapsed table's rows (``depth``, ``summary``)."""
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
    out = {
        "name": g.name,
        "file": g.file,
        "args": g.args,
        "input_shapes": [list(s) for s in g.input_shapes],
        "output_shapes": [list(s) for s in g.output_shapes],
        "params": g.params,
        "macs": g.macs,
        "memory": memory(g, batch).as_json(),
        "notes": g.notes,
        "nodes": len(g),
        "layers": layers,
    }
    if depth is not None:
        out["depth"] = depth
        out["summary"] = [r.as_json() for r in collapsed_rows(g, depth)]
    return out


def json_text(data: dict[str, Any], compact: bool = False) -> str:
    """``data`` as JSON text: keys indented, each item of a list of objects (``layers``) on
    one line; ``compact``: one line. Written by the C encoder, so 20,000 layers take a
    fraction of a second.

    >>> print(json_text({"name": "t", "layers": [{"id": "a"}, {"id": "b"}]}))
    {
      "name": "t",
      "layers": [
        {"id": "a"},
        {"id": "b"}
      ]
    }
    """
    if compact:
        return json.dumps(data)
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join("    " + json.dumps(v) for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"


# ---------------------------------------------------------------------------- the table
def _count(n: int) -> str:
    return f"{n:,}" if n else ""


@dataclass
class Row:
    """One row of the summary: a node, or a block instance collapsed to one row (its id, block
    name, last node's shape and receptive field, summed parameters and MACs, layer count)."""

    id: str
    type: str
    shape: tuple[int, ...]
    params: int
    macs: int
    rf: Any
    layers: int = 1

    def as_json(self) -> dict[str, Any]:
        """The row as ``check --json --depth N`` lists it."""
        return {"id": self.id, "type": self.type, "output_shape": list(self.shape),
                "params": self.params, "macs": self.macs, "layers": self.layers,
                "receptive_field": self.rf.as_json() if self.rf is not None else None}


def collapsed_rows(g: Graph, depth: int | None = None) -> list[Row]:
    """One row per node (``depth=None``), or, as torchinfo's ``depth``, per block instance
    ``depth`` levels deep."""
    if depth is not None and (isinstance(depth, bool) or depth < 1):
        raise ValueError(f"depth must be a positive integer or None, received {depth!r}")
    rows: list[Row] = []
    groups: dict[str, Row] = {}
    for n, node in g.nx.nodes(data="node"):
        params = node.trainable + node.non_trainable
        if depth is None or len(node.scope) < depth:
            rows.append(Row(n, node.type, node.shape, params, node.macs, node.rf))
            continue
        inst, block = node.scope[depth - 1]
        group = groups.get(inst)
        if group is None:
            group = groups[inst] = Row(inst, block, node.shape, 0, 0, node.rf, 0)
            rows.append(group)
        group.params += params
        group.macs += node.macs
        group.layers += 1
        group.shape, group.rf = node.shape, node.rf
    return rows


def summary_rows(g: Graph, depth: int | None = None) -> list[tuple[str, ...]]:
    """The table's cells of :func:`collapsed_rows`."""
    return [(r.id, r.type, "×".join(map(str, r.shape)), _count(r.params), _count(r.macs),
             _rf_text(r.rf)) for r in collapsed_rows(g, depth)]


def _narrow(text: str) -> bool:
    """Whether every character takes one terminal column (ASCII, and the × of shapes)."""
    return text.isascii() or text.replace("×", "").isascii()


def _cell_width(text: str) -> int:
    if _narrow(text):
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fold(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` columns, after a ``.`` or ``_`` where it can.

    >>> _fold("layer4.1.downsample.0", 10)
    ['layer4.1.', 'downsample', '.0']
    """
    if _cell_width(text) <= width:
        return [text]
    pieces: list[str] = []
    current = ""
    for token in _FOLD_AT.findall(text):
        if _cell_width(current + token) <= width:
            current += token
            continue
        if current:
            pieces.append(current)
        while _cell_width(token) > width:
            head = _cut(token, width)
            pieces.append(head)
            token = token[len(head):]
        current = token
    return [*pieces, current] if current else pieces


def _cut(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` columns (at least one character)."""
    used = 0
    for i, c in enumerate(text):
        used += _cell_width(c)
        if used > width:
            return text[: max(i, 1)]
    return text


def _fit(widths: list[int], width: int | None) -> list[int]:
    """Column widths shrunk (foldable columns only) so the table fits ``width`` columns."""
    if width is None:
        return widths
    excess = sum(widths) + 3 * len(widths) + 1 - width
    out = list(widths)
    for col in _FOLDABLE:
        if excess <= 0:
            break
        cut = min(excess, max(out[col] - _MIN_FOLDED, 0))
        out[col] -= cut
        excess -= cut
    return out


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], footer: Sequence[Sequence[str]] = (),
    right: Sequence[bool] = (), width: int | None = None,
) -> str:
    """A box-drawn table (heavy header, a rule above ``footer``), as wide as its content or
    folded to ``width``; cells are escaped.

    >>> print(text_table(["a", "n"], [["x", "1"]], [["all", "10"]], right=[False, True]))
    ┏━━━━━┳━━━━┓
    ┃ a   ┃  n ┃
    ┡━━━━━╇━━━━┩
    │ x   │  1 │
    ├─────┼────┤
    │ all │ 10 │
    └─────┴────┘
    """
    body = [r if all(map(str.isprintable, r)) else [safe(c) for c in r] for r in rows]
    tail = [[safe(c) for c in r] for r in footer]
    right = list(right) + [False] * (len(header) - len(right))
    # one test over all cells: when every character is one column wide, len() is the width
    narrow = _narrow("".join(chain.from_iterable(body)))
    natural = [max(map(len if narrow else _cell_width, column))
               for column in zip(header, *body, *tail)]
    widths = _fit(natural, width)
    out = ["┏" + "┳".join("━" * (w + 2) for w in widths) + "┓"]
    out += _row_lines(header, widths, right, "┃")
    out.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    if narrow and widths == natural:  # nothing to fold: one format call per row
        row = "│" + "│".join(f" {{:{'>' if r else '<'}{w}}} " for w, r in zip(widths, right)) + "│"
        out += [row.format(*r) for r in body]
    else:
        for r in body:
            out += _row_lines(r, widths, right, "│")
    if tail:
        out.append("├" + "┼".join("─" * (w + 2) for w in widths) + "┤")
        for r in tail:
            out += _row_lines(r, widths, right, "│")
    out.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return "\n".join(out)


def _row_lines(cells: Sequence[str], widths: list[int], right: list[bool], bar: str) -> list[str]:
    if all(len(c) <= w and _narrow(c) for c, w in zip(cells, widths)):  # the fast, common path
        return [bar + bar.join(f" {c:>{w}} " if r else f" {c:<{w}} "
                               for c, w, r in zip(cells, widths, right)) + bar]
    parts = [_fold(c, w) for c, w in zip(cells, widths)]
    lines = []
    for k in range(max(len(p) for p in parts)):
        texts = []
        for p, w, r in zip(parts, widths, right):
            c = p[k] if k < len(p) else ""
            pad = " " * max(w - _cell_width(c), 0)
            texts.append(f" {pad}{c} " if r else f" {c}{pad} ")
        lines.append(bar + bar.join(texts) + bar)
    return lines


def _totals_row(g: Graph, p: dict[str, int], macs: int) -> tuple[str, ...]:
    shapes = ", ".join("×".join(map(str, s)) for s in g.output_shapes)
    return ("total", f"{len(g)} nodes", shapes, f"{p['total']:,}", f"{macs:,}", "")


def _totals_line(p: dict[str, int], macs: int) -> str:
    return (f"params: {p['trainable']:,} trainable + {p['non_trainable']:,} non-trainable = "
            f"{p['total']:,}   MACs: {macs:,}")


def totals_text(g: Graph) -> str:
    """The last line of the report: parameters and MACs."""
    return _totals_line(g.params, g.macs)


def summary_text(
    g: Graph, width: int | None = None, depth: int | None = None, batch: int | None = None
) -> str:
    """The ``check`` report: title, table (``depth``: collapsed, ``width``: folded to fit),
    totals, and with ``batch`` the memory estimate for that batch size."""
    p, macs = g.params, g.macs
    title = f"{g.name}  ({g.file})" + (f"  depth {depth}" if depth is not None else "")
    table = text_table(COLUMNS, summary_rows(g, depth), [_totals_row(g, p, macs)], _RIGHT, width)
    notes = [safe(f"note: {n}") for n in g.notes]
    lines = [safe(title), table, *notes, _totals_line(p, macs)]
    if batch is not None:
        lines.append(memory(g, batch).text())
    return "\n".join(lines) + "\n"


def summary_table(g: Graph) -> Table:
    """The summary as a ``rich`` Table, for programs that print to a rich console (needs
    ``rich``; the CLI prints :func:`summary_text`)."""
    from rich.table import Table

    t = Table(title=safe(f"{g.name}  ({g.file})"), title_justify="left", show_lines=False)
    for name, right in zip(COLUMNS, _RIGHT):
        t.add_column(name, justify="right" if right else "left", overflow="fold")
    for row in summary_rows(g):
        t.add_row(*(safe(c) for c in row))
    t.add_section()
    t.add_row(*_totals_row(g, g.params, g.macs))
    return t


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
