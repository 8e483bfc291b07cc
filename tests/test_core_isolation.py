"""The core never imports a framework: `archdsl check` works with pydantic, networkx, PyYAML."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import numpy as np
import archdsl, archdsl.backends
# every core module, the reference executor and the training and weights packages included
for m in pkgutil.walk_packages(archdsl.__path__, "archdsl."):
    if not m.name.startswith("archdsl.backends.") and "__main__" not in m.name:
        importlib.import_module(m.name)
import archdsl.cli, archdsl.init, archdsl.reference
g = archdsl.load("specs/cifar10_cnn.yaml")
w = archdsl.init.init_weights(g)
archdsl.reference.forward(g, w, np.zeros((1, 3, 32, 32)))
archdsl.cli.main(["check", "specs/cifar10_cnn.yaml", "--json"])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "tensorflow", "keras", "jax"})
print("FRAMEWORKS:", loaded, file=sys.stderr)
"""


def test_core_imports_no_framework():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "FRAMEWORKS: []" in r.stderr


def test_render_module_imports_no_framework():
    code = "import sys, archdsl.render; print(any(m.startswith(('torch','keras','tensorflow')) for m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
