"""Shared fixtures of the export tests: generated sources imported from files."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import pytest

_COUNT = itertools.count()


def import_file(path: Path) -> ModuleType:
    """Import a generated source file as a fresh module."""
    name = f"generated_{next(_COUNT)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def import_source(tmp_path: Path):
    """Write source text to a file in tmp_path and import it."""

    def load(text: str, stem: str = "model") -> ModuleType:
        path = tmp_path / f"{stem}_{next(_COUNT)}.py"
        path.write_text(text)
        return import_file(path)

    return load
