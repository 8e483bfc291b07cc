"""Generated docs are current: `make docs` rewrites them from the code, and these tests fail
while a committed copy is stale (a new layer type, a changed field description)."""

from __future__ import annotations

import json
from pathlib import Path

from archdsl.docgen import reference_markdown
from archdsl.jsonschema import dsl_schema
from archdsl.layers import REGISTRY

DOCS = Path(__file__).resolve().parent.parent / "docs"
FIX = "regenerate with: make docs"


def test_reference_is_current():
    assert (DOCS / "reference.md").read_text("utf-8") == reference_markdown(), FIX


def test_schema_is_current():
    shipped = json.loads((DOCS / "archdsl.schema.json").read_text("utf-8"))
    assert shipped == json.loads(json.dumps(dsl_schema())), FIX


def test_reference_documents_every_layer_type():
    text = (DOCS / "reference.md").read_text("utf-8")
    missing = [key for key in REGISTRY if f"`{key}`" not in text]
    assert missing == [], f"layer types missing from docs/reference.md: {missing}; {FIX}"
