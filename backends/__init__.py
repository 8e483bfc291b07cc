"""Framework backends, importable as ``archdsl.backends.torch`` and ``archdsl.backends.keras``.

Each backend module lowers a compiled :class:`archdsl.Graph` to a native model and exposes the
same small interface (all arrays numpy, in the IR's layout-neutral channel-first order):

* ``LOWERINGS``: an :class:`archdsl.lowering.Lowerings` table, layer type → ``lower(node, ctx)``
  (tests/test_layer_coverage.py checks every registered type has one),
* ``build(graph, *, weights=None, dtype="float32", init=None, seed=0)`` → native model,
* ``get_weights(model, graph)`` / ``set_weights(model, graph, weights)`` in canonical layout
  (``{node id: {weight name: array}}``, the layout of :mod:`archdsl.init`),
* ``forward(model, graph, inputs, nodes=None)`` → ``{node id: array}``, eval mode, NCHW,
* ``count_params(model)`` → ``{"trainable": int, "non_trainable": int}``.

Backends are loaded lazily: the core never imports a framework.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from archdsl.errors import BackendError, choices_text, did_you_mean

from .quiet import import_quietly

#: backend name → (module, framework module needed, install hint)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "torch": ("archdsl.backends.torch", "torch",
              "pip install 'archdsl[torch]' (both frameworks, training and export: "
              "pip install 'archdsl[torch,keras,train,export]')"),
    "keras": ("archdsl.backends.keras", "keras",
              "pip install 'archdsl[keras]' (both frameworks, training and export: "
              "pip install 'archdsl[torch,keras,train,export]')"),
}
#: Environment defaults set before a framework's first import (a user's own setting wins):
#: TensorFlow's C++ INFO/WARNING lines (XLA service, compiled clusters, dtype notes) off.
QUIET_ENV: dict[str, dict[str, str]] = {"keras": {"TF_CPP_MIN_LOG_LEVEL": "2"}}


def load_backend(name: str) -> ModuleType:
    """Import a backend, with a one-line error naming the install command if it is missing."""
    if name not in BACKENDS:
        raise BackendError(
            f"unknown backend '{name}'.{did_you_mean(name, BACKENDS)} "
            f"Valid: {choices_text(BACKENDS)}"
        )
    module, framework, hint = BACKENDS[name]
    if importlib.util.find_spec(framework) is None:
        raise BackendError(f"the {name} backend needs the '{framework}' package", hint=hint)
    for key, value in QUIET_ENV.get(name, {}).items():
        os.environ.setdefault(key, value)
    return import_quietly(module)
