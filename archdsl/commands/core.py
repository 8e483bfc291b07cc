"""Core commands: ``check``, ``expand``, ``schema``, ``render``, ``list`` (no framework needed)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from archdsl.cli import add_spec_args, command, load_graph, positive_int
from archdsl.fsutil import atomic_write_text


def add_depth_arg(p: argparse.ArgumentParser, what: str) -> None:
    """``--depth N``, as torchinfo's and torchview's ``depth`` (``what`` names the output)."""
    p.add_argument(
        "--depth",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"show N levels of blocks: 1 makes each top-level block one {what}, 2 also shows "
        "the blocks inside them, ... (default: every layer)",
    )


def table_width(ns: argparse.Namespace) -> int | None:
    """The width to fit the table to: ``--width``, else the terminal's; ``None`` (the full
    width) when standard output is not a terminal."""
    if ns.width is not None:
        return int(ns.width)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _check_configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--compact", action="store_true", help="with --json: no indentation")
    add_depth_arg(p, "row")
    p.add_argument(
        "--width", type=positive_int, default=None, metavar="COLUMNS",
        help="fold the table's node and type columns to fit COLUMNS (default: the terminal's "
        "width; in a pipe or a file the table is never folded)",
    )
    p.add_argument(
        "--batch", type=positive_int, default=None, metavar="B",
        help="also print the memory estimate (input, activations, parameters, float32) for a "
        "batch of B samples; --json always has it (batch 1 by default)",
    )


@command(
    "check", "validate a spec; print shapes, params, MACs and receptive fields", _check_configure
)
def cmd_check(ns: argparse.Namespace) -> int:
    g = load_graph(ns)
    if ns.json:
        from archdsl.report import graph_json, json_text

        sys.stdout.write(json_text(graph_json(g, ns.batch or 1, ns.depth), ns.compact) + "\n")
    else:
        from archdsl.report import summary_text

        sys.stdout.write(summary_text(g, table_width(ns), ns.depth, ns.batch))
    if g.spec.expect is None:
        return 0
    if ns.overrides or ns.input_shapes:  # `expect:` describes the spec as written
        if not ns.json:
            print("expect: not checked (spec overridden with --set / --input-shape)")
        return 0
    sys.stdout.flush()
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
    return _write_or_print(ns.output, text)


def _write_or_print(output: str | None, text: str) -> int:
    """Write ``text`` atomically to ``output`` (saying so on stderr), or print it to stdout."""
    if output:
        atomic_write_text(output, text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _schema_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


@command("schema", "print the JSON Schema of the DSL (for editor completion)", _schema_configure)
def cmd_schema(ns: argparse.Namespace) -> int:
    from archdsl.jsonschema import dsl_schema

    text = json.dumps(dsl_schema(), indent=2) + "\n"
    return _write_or_print(ns.output, text)


def _render_configure(p: argparse.ArgumentParser) -> None:
    from archdsl.diagram import MAX_BOXES

    add_spec_args(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="FILE.svg/.png/.pdf/.html/.dot (default: the spec's file name with .svg, here); "
        ".html is one self-contained page: pan, zoom, search, and a panel for the clicked node",
    )
    add_depth_arg(p, "box")
    p.add_argument("--rankdir", default="TB", choices=("TB", "LR"), help="top-bottom or left-right")
    p.add_argument(
        "--dpi", type=positive_int, default=None, metavar="N",
        help="resolution of a PNG in dots per inch (default: Graphviz's 96)",
    )
    p.add_argument(
        "--max-boxes", type=positive_int, default=MAX_BOXES, metavar="N",
        help=f"the most boxes handed to Graphviz (default {MAX_BOXES:,}); a larger drawing is "
        "collapsed to the deepest --depth that fits, or refused",
    )


@command("render", "draw the graph with Graphviz (SVG, PNG, PDF, HTML or DOT)", _render_configure)
def cmd_render(ns: argparse.Namespace) -> int:
    from pathlib import Path

    from archdsl.diagram import fit_depth
    from archdsl.render import render

    g = load_graph(ns)
    output = ns.output or f"{Path(ns.spec).stem}.svg"
    depth = ns.depth
    if Path(output).suffix.lower() != ".dot":
        depth = fit_depth(g, ns.depth, ns.max_boxes)
        if depth != ns.depth:
            print(f"note: drawn at --depth {depth}: every layer would be more than "
                  f"--max-boxes {ns.max_boxes:,} boxes", file=sys.stderr)
    path = render(g, output, depth=depth, rankdir=ns.rankdir, dpi=ns.dpi,
                  max_boxes=ns.max_boxes)
    print(f"wrote {path}")
    return 0


def _list_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON list instead of the table")


@command("list", "list the specs shipped with archdsl (usable by name: archdsl check resnet50)",
         _list_configure)
def cmd_list(ns: argparse.Namespace) -> int:
    from archdsl import zoo

    found = zoo.entries()
    if ns.json:
        print(json.dumps([e.as_json() for e in found], indent=2))
        return 0
    from archdsl.render_style import macs_text
    from archdsl.report import text_table

    rows = [(e.name, e.family, f"{e.params:,}", macs_text(e.macs),
             ", ".join("×".join(map(str, s)) for s in e.input_shapes)) for e in found]
    header = ("name", "family", "params", "MACs", "input")
    print(text_table(header, rows, right=(False, False, True, True, False)))
    example = "resnet50" if any(e.name == "resnet50" for e in found) else "NAME"
    print(f"{len(found)} specs shipped with archdsl ({_home(zoo.shipped_dir())}); use a name "
          f"in place of a file: archdsl check {example}")
    return 0


def _home(path: object) -> str:
    """``path`` relative to the current folder when it is inside it."""
    text = str(path)
    here = os.getcwd() + os.sep
    return text[len(here):] if text.startswith(here) else text
