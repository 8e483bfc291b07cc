"""Core commands: ``check``, ``expand``, ``schema`` (no framework needed)."""

from __future__ import annotations

import argparse
import json
import sys

from archdsl.cli import add_spec_args, command, load_graph
from archdsl.fsutil import atomic_write_text


def _check_configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--compact", action="store_true", help="with --json: no indentation")


@command(
    "check", "validate a spec; print shapes, params, MACs and receptive fields", _check_configure
)
def cmd_check(ns: argparse.Namespace) -> int:
    g = load_graph(ns)
    if ns.json:
        print(json.dumps(g.to_json(), indent=None if ns.compact else 2))
    else:
        from rich.console import Console

        from archdsl.report import summary_table, totals_text

        console = Console(highlight=False)
        console.print(summary_table(g))
        console.print(totals_text(g))
    if g.spec.expect is None:
        return 0
    if ns.overrides or ns.input_shapes:  # `expect:` describes the spec as written
        if not ns.json:
            print("expect: not checked (spec overridden with --set / --input-shape)")
        return 0
    g.check_expectations()
    if not ns.json:
        print("expect: all values match")
    return 0


def _expand_configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


@command(
    "expand",
    "print the fully expanded flat spec (blocks, repeats, scaling resolved)",
    _expand_configure,
)
def cmd_expand(ns: argparse.Namespace) -> int:
    import yaml

    g = load_graph(ns)
    text = yaml.safe_dump(
        g.expanded(), sort_keys=False, default_flow_style=None, width=100, allow_unicode=True
    )
    if ns.output:
        atomic_write_text(ns.output, text)
        print(f"wrote {ns.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _schema_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


@command("schema", "print the JSON Schema of the DSL (for editor completion)", _schema_configure)
def cmd_schema(ns: argparse.Namespace) -> int:
    from archdsl.jsonschema import dsl_schema

    text = json.dumps(dsl_schema(), indent=2) + "\n"
    if ns.output:
        atomic_write_text(ns.output, text)
        print(f"wrote {ns.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _render_configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="FILE.svg/.png/.pdf/.dot (default: the spec's file name with .svg, here)",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        metavar="N",
        help="collapse blocks nested deeper than N into one box (0: every block)",
    )
    p.add_argument("--rankdir", default="TB", choices=("TB", "LR"), help="top-bottom or left-right")


@command("render", "draw the graph with Graphviz (SVG, PNG, PDF or DOT)", _render_configure)
def cmd_render(ns: argparse.Namespace) -> int:
    from pathlib import Path

    from archdsl.render import render

    g = load_graph(ns)
    output = ns.output or f"{Path(ns.spec).stem}.svg"
    path = render(g, output, depth=ns.depth, rankdir=ns.rankdir)
    print(f"wrote {path}")
    return 0
