"""The spec gallery: every spec in ``specs/`` drawn to ``docs/gallery/<file>.svg`` and listed in
``docs/gallery.md`` with its doc line, parameters, MACs and shapes.

Run ``python -m archdsl.gallery`` from the repository root after adding or changing a spec
(``--check`` only reports whether the gallery is current). ``tests/test_gallery.py`` fails when
the gallery is out of date.

Small specs are drawn in full. A spec whose full drawing has more than :data:`MAX_BOXES` boxes
is drawn at the deepest block depth that stays within it (depth 2: top-level blocks as
clusters, blocks inside them collapsed; depth 1: every top-level block one box).

Graphviz output differs between Graphviz versions, so the SVGs are not compared byte for byte:
each SVG carries the SHA-256 of the DOT text it was drawn from (a comment, :data:`DIGEST_TAG`),
and the DOT text (:func:`archdsl.render.to_dot`) is byte-identical across machines.

Framework-free: needs the core and, to draw, the Graphviz ``dot`` program.

Example:
    >>> from archdsl.gallery import gallery_entries, choose_depth
    >>> entries = {e.stem: e for e in gallery_entries()}
    >>> entries["cifar10_cnn"].depth is None, entries["cifar10_cnn"].boxes
    (True, 28)
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from archdsl.fsutil import atomic_write_bytes, atomic_write_text
from archdsl.graph import Graph, load
from archdsl.render import diagram, run_dot, to_dot
from archdsl.render_style import macs_text
from archdsl.spec import builtin_specs_dir

#: A drawing with more boxes than this is collapsed to a smaller block depth.
MAX_BOXES = 100
#: The comment each gallery SVG carries: the SHA-256 of the DOT text it was drawn from.
DIGEST_TAG = "archdsl-gallery dot-sha256:"
_DIGEST = re.compile(re.escape(DIGEST_TAG) + r" ([0-9a-f]{64})")
#: Where the gallery's SVGs live, relative to the docs folder.
SVG_DIR = "gallery"


@dataclass(frozen=True)
class Entry:
    """One spec of the gallery: its file, compiled graph, chosen depth and DOT text."""

    path: Path
    graph: Graph
    depth: int | None
    boxes: int
    dot: str
    extends: str | None

    @property
    def stem(self) -> str:
        """The spec's file name without ``.yaml``; also the SVG's name."""
        return self.path.stem

    @property
    def svg_name(self) -> str:
        return f"{SVG_DIR}/{self.stem}.svg"

    @property
    def digest(self) -> str:
        return dot_digest(self.dot)


def default_root() -> Path:
    """The repository root: the folder holding ``specs/`` (the current folder otherwise)."""
    root = builtin_specs_dir().parent
    return root if (root / "specs").is_dir() and (root / "docs").is_dir() else Path.cwd()


def spec_files(specs_dir: str | Path) -> list[Path]:
    """The top-level ``*.yaml`` specs of ``specs_dir`` (block libraries in ``lib/`` excluded)."""
    return sorted(Path(specs_dir).glob("*.yaml"))


def _nesting(graph: Graph) -> int:
    return max((len(node.scope) for node in graph.walk()), default=0)


def choose_depth(graph: Graph, max_boxes: int = MAX_BOXES) -> tuple[int | None, int]:
    """``(depth, boxes)``: ``None`` (full drawing) if it has at most ``max_boxes`` boxes, else
    the deepest block depth whose drawing fits (at least 1)."""
    full = len(diagram(graph, None).boxes)
    if full <= max_boxes:
        return None, full
    for depth in range(_nesting(graph), 1, -1):
        boxes = len(diagram(graph, depth).boxes)
        if boxes <= max_boxes:
            return depth, boxes
    return 1, len(diagram(graph, 1).boxes)


def _extends(path: Path) -> str | None:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    value = raw.get("extends") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def gallery_entries(specs_dir: str | Path | None = None) -> list[Entry]:
    """Compile every spec of ``specs_dir`` (default: the repository's ``specs/``)."""
    folder = Path(specs_dir) if specs_dir is not None else default_root() / "specs"
    out = []
    for path in spec_files(folder):
        graph = load(path)
        depth, boxes = choose_depth(graph)
        out.append(Entry(path, graph, depth, boxes, to_dot(graph, depth=depth), _extends(path)))
    return out


def dot_digest(dot: str) -> str:
    """The SHA-256 of a DOT text, as stored in a gallery SVG."""
    return hashlib.sha256(dot.encode("utf-8")).hexdigest()


def svg_digest(svg: str) -> str | None:
    """The DOT digest a gallery SVG carries, or ``None``."""
    m = _DIGEST.search(svg)
    return m.group(1) if m else None


def draw_svg(entry: Entry) -> bytes:
    """Run Graphviz ``dot`` on the entry's DOT text; the SVG gets the digest comment."""
    data = run_dot(entry.dot, "svg").decode("utf-8")
    comment = f"<!-- {DIGEST_TAG} {entry.digest} (python -m archdsl.gallery) -->\n"
    at = data.find("<svg")
    data = data[:at] + comment + data[at:] if at >= 0 else comment + data
    return data.encode("utf-8")


def _depth_text(entry: Entry) -> str:
    if entry.depth is None:
        return "drawn in full"
    return f"drawn at depth {entry.depth} (`archdsl render --depth {entry.depth}`)"


def _shapes(shapes: Sequence[tuple[int, ...]]) -> str:
    return ", ".join("×".join(map(str, s)) for s in shapes)


def _anchor(entry: Entry) -> str:
    return entry.graph.name.lower().replace(" ", "-").replace(".", "")


def markdown(entries: Sequence[Entry], specs_link: str = "../specs") -> str:
    """The text of ``docs/gallery.md`` for ``entries`` (deterministic)."""
    out = [
        "# Gallery",
        "",
        "_Generated by `python -m archdsl.gallery` from every spec in `specs/`; do not edit by "
        "hand._",
        "",
        "Each diagram is `archdsl render` of the spec. Boxes are layers (id, type, key "
        "arguments, parameters), edges carry the tensor shape, dashed blue edges are skip "
        "connections (shortcuts around the longest path into a merge), and clusters are block "
        "instances. Specs whose full drawing has more than "
        f"{MAX_BOXES} boxes are drawn with deeper blocks collapsed into one box each; "
        "`archdsl render SPEC` draws every layer.",
        "",
        "| spec | parameters | MACs | input → output | nodes |",
        "|---|---:|---:|---|---:|",
    ]
    for e in entries:
        g = e.graph
        out.append(
            f"| [{g.name}](#{_anchor(e)}) | {g.params['total']:,} | {macs_text(g.macs)} | "
            f"{_shapes(g.input_shapes)} → {_shapes(g.output_shapes)} | {len(g)} |"
        )
    for e in entries:
        g = e.graph
        p = g.params
        out += ["", f"## {g.name}", ""]
        if g.spec.doc:
            out += [g.spec.doc, ""]
        source = f"[`specs/{e.path.name}`]({specs_link}/{e.path.name})"
        if e.extends:
            source += f", extends `{e.extends}`"
        out.append(f"- source: {source}")
        if g.args:
            args = ", ".join(f"{k}={_value(v)}" for k, v in g.args.items())
            out.append(f"- arguments (`--set`): {args}")
        out.append(
            f"- parameters: {p['trainable']:,} trainable + {p['non_trainable']:,} "
            f"non-trainable = {p['total']:,}"
        )
        out.append(f"- MACs per sample: {g.macs:,} ({macs_text(g.macs)})")
        out.append(
            f"- input {_shapes(g.input_shapes)} → output {_shapes(g.output_shapes)}; "
            f"{len(g)} nodes; {_depth_text(e)}"
        )
        out += ["", f"![{g.name}]({e.svg_name})"]
    return "\n".join(out) + "\n"


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def write_gallery(docs_dir: str | Path, entries: Sequence[Entry]) -> list[Path]:
    """Write the SVGs and ``gallery.md`` under ``docs_dir``; remove SVGs of deleted specs."""
    docs = Path(docs_dir)
    svg_dir = docs / SVG_DIR
    svg_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for e in entries:
        target = docs / e.svg_name
        if not (target.is_file() and svg_digest(target.read_text("utf-8")) == e.digest):
            atomic_write_bytes(target, draw_svg(e))
            written.append(target)
    keep = {f"{e.stem}.svg" for e in entries}
    for old in sorted(svg_dir.glob("*.svg")):
        if old.name not in keep:
            old.unlink()
            written.append(old)
    md = docs / "gallery.md"
    text = markdown(entries)
    if not md.is_file() or md.read_text("utf-8") != text:
        atomic_write_text(md, text)
        written.append(md)
    return written


def stale(docs_dir: str | Path, entries: Sequence[Entry]) -> list[str]:
    """What is out of date in the gallery under ``docs_dir`` (empty when current)."""
    docs = Path(docs_dir)
    problems = []
    for e in entries:
        target = docs / e.svg_name
        if not target.is_file():
            problems.append(f"{target}: missing")
        elif svg_digest(target.read_text("utf-8")) != e.digest:
            problems.append(f"{target}: drawn from another version of {e.path.name}")
    keep = {f"{e.stem}.svg" for e in entries}
    problems += [
        f"{old}: no spec {old.stem}.yaml"
        for old in sorted((docs / SVG_DIR).glob("*.svg"))
        if old.name not in keep
    ]
    md = docs / "gallery.md"
    if not md.is_file() or md.read_text("utf-8") != markdown(entries):
        problems.append(f"{md}: out of date")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate (or ``--check``) the gallery; exit 1 when ``--check`` finds it stale."""
    root = default_root()
    ap = argparse.ArgumentParser(
        prog="python -m archdsl.gallery", description=(__doc__ or "").split("\n\n")[0]
    )
    ap.add_argument("--specs", default=str(root / "specs"), help="folder of specs")
    ap.add_argument("--docs", default=str(root / "docs"), help="docs folder to write into")
    ap.add_argument("--check", action="store_true", help="only report what is out of date")
    ns = ap.parse_args(argv)
    entries = gallery_entries(ns.specs)
    if ns.check:
        problems = stale(ns.docs, entries)
        for p in problems:
            print(p)
        print(
            "gallery is current"
            if not problems
            else f"{len(problems)} out of date; run: python -m archdsl.gallery"
        )
        return 1 if problems else 0
    if shutil.which("dot") is None:
        print(
            "the Graphviz 'dot' program is not installed; install Graphviz (apt-get install "
            "graphviz, brew install graphviz) and rerun",
            file=sys.stderr,
        )
        return 2
    written = write_gallery(ns.docs, entries)
    for w in written:
        print(f"wrote {w}" if w.exists() else f"removed {w}")
    print(f"gallery: {len(entries)} specs, {len(written)} files changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
