"""The gallery (docs/gallery.md, docs/gallery/*.svg) is in sync with specs/, and every spec draws.

SVGs are not compared byte for byte (Graphviz versions lay out differently): each gallery SVG
carries the SHA-256 of the DOT text it was drawn from, the DOT text is deterministic, so the
test regenerates the DOT and compares digests, and checks that the SVG's nodes are the DOT's.
Fix a failure with ``python -m archdsl.gallery`` and commit the result.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from archdsl import gallery
from archdsl.render import diagram

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPECS = ROOT / "specs"
FIX = "regenerate with: python -m archdsl.gallery"
NO_DOT = "Graphviz 'dot' binary not installed"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def entries() -> list[gallery.Entry]:
    return gallery.gallery_entries(SPECS)


def test_every_spec_is_in_the_gallery(entries):
    stems = {p.stem for p in gallery.spec_files(SPECS)}
    assert stems, "no specs found"
    assert {e.stem for e in entries} == stems
    text = (DOCS / "gallery.md").read_text("utf-8")
    missing_svg = sorted(s for s in stems if not (DOCS / "gallery" / f"{s}.svg").is_file())
    assert not missing_svg, f"specs without an SVG: {missing_svg}; {FIX}"
    missing_entry = sorted(e.stem for e in entries if f"]({e.svg_name})" not in text)
    assert not missing_entry, f"specs without a gallery.md entry: {missing_entry}; {FIX}"
    extra = sorted(p.stem for p in (DOCS / "gallery").glob("*.svg") if p.stem not in stems)
    assert not extra, f"SVGs whose spec is gone: {extra}; {FIX}"


def test_markdown_is_current(entries):
    assert (DOCS / "gallery.md").read_text("utf-8") == gallery.markdown(entries), FIX


def test_libraries_are_not_in_the_gallery(entries):
    assert all(e.path.parent == SPECS for e in entries)


def test_svgs_were_drawn_from_the_current_dot(entries):
    stale = [
        e.stem
        for e in entries
        if gallery.svg_digest((DOCS / e.svg_name).read_text("utf-8")) != e.digest
    ]
    assert not stale, f"SVGs drawn from an older DOT text: {stale}; {FIX}"


def _svg_node_names(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    names = []
    for g in root.iter(f"{SVG_NS}g"):
        if g.get("class") == "node":
            title = g.find(f"{SVG_NS}title")
            assert title is not None
            names.append(title.text or "")
    return names


def test_svg_nodes_are_the_diagram_boxes(entries):
    for e in entries:
        svg = (DOCS / e.svg_name).read_text("utf-8")
        boxes = set(diagram(e.graph, e.depth).boxes)
        assert set(_svg_node_names(svg)) == boxes, f"{e.svg_name}: nodes differ; {FIX}"


def test_depth_rule(entries):
    by = {e.stem: e for e in entries}
    if "cifar10_cnn" in by:  # small: every layer
        assert by["cifar10_cnn"].depth is None
    for e in entries:
        assert e.boxes == len(diagram(e.graph, e.depth).boxes)
        if e.depth is None:
            assert e.boxes <= gallery.MAX_BOXES
        else:  # collapsed only as far as needed
            assert len(diagram(e.graph, None).boxes) > gallery.MAX_BOXES
            assert e.depth == 1 or e.boxes <= gallery.MAX_BOXES
            assert len(diagram(e.graph, e.depth + 1).boxes) > gallery.MAX_BOXES


def test_stale_reports_what_changed(entries, tmp_path):
    small = [e for e in entries if e.stem in ("cifar10_cnn", "digits_cnn")] or entries[:2]
    problems = gallery.stale(tmp_path, small)
    assert any("missing" in p for p in problems) and any("gallery.md" in p for p in problems)


@pytest.mark.skipif(shutil.which("dot") is None, reason=NO_DOT)
@pytest.mark.parametrize("spec", [p.stem for p in gallery.spec_files(SPECS)])
def test_every_spec_renders_to_svg(spec, entries):
    entry = next(e for e in entries if e.stem == spec)
    svg = gallery.draw_svg(entry).decode("utf-8")
    assert gallery.svg_digest(svg) == entry.digest
    assert set(_svg_node_names(svg)) == set(diagram(entry.graph, entry.depth).boxes)


@pytest.mark.skipif(shutil.which("dot") is None, reason=NO_DOT)
def test_write_then_check_round_trip(entries, tmp_path):
    small = [e for e in entries if e.stem in ("cifar10_cnn", "digits_cnn")] or entries[:2]
    (tmp_path / "gallery").mkdir()
    (tmp_path / "gallery" / "gone.svg").write_text("<svg/>")
    written = gallery.write_gallery(tmp_path, small)
    assert not (tmp_path / "gallery" / "gone.svg").exists()
    assert len(written) == len(small) + 2  # SVGs, the removed SVG, gallery.md
    assert gallery.stale(tmp_path, small) == []
    assert gallery.write_gallery(tmp_path, small) == []  # nothing to redo
