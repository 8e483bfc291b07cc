"""Every example in a docstring of archdsl (and its backends) runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import pkgutil
from pathlib import Path

import pytest

import archdsl
import archdsl.backends

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")



def has_examples(info: pkgutil.ModuleInfo) -> bool:
    """Whether the module's source holds a ``>>>`` example that runs (not ``+SKIP``: those
    need data files or a network), read as text, not imported."""
    spec = info.module_finder.find_spec(info.name.rsplit(".", 1)[-1])
    if spec is None or not spec.origin:
        return False
    lines = Path(spec.origin).read_text(encoding="utf-8").splitlines()
    return any(">>> " in line and "+SKIP" not in line for line in lines)


#: archdsl.backends lives in backends/ (pyproject's package-dir), so it is walked on its own
MODULES = sorted(
    m.name
    for package in (archdsl, archdsl.backends)
    for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    if "__main__" not in m.name and has_examples(m)
)
#: backend package → the framework its modules import
NEEDS = {"archdsl.backends.torch": "torch", "archdsl.backends.keras": "keras"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    for package, framework in NEEDS.items():
        if name.startswith(package) and importlib.util.find_spec(framework) is None:
            pytest.skip(f"{name} needs {framework}, which is not installed")
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=False)
    assert result.attempted > 0, f"{name}: no example found"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed (above)"
