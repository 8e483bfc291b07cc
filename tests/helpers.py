"""Small helpers shared by the core tests."""

from __future__ import annotations

import archdsl
from archdsl.ir import Node


def net(body: str, input: str = "[3, 8, 8]", extra: str = "") -> archdsl.Graph:
    """Compile a spec whose body is given as YAML list items (each line indented by 2)."""
    text = f"archdsl: 1\nname: t\ninput: {input}\n{extra}body:\n{body}"
    return archdsl.loads(text, "t.yaml")


def layer(spec_line: str, input: str = "[3, 8, 8]") -> Node:
    """Compile a one-layer spec and return that layer's typed node."""
    g = net(f"  - {spec_line}\n", input)
    return g[g.outputs[0]]
