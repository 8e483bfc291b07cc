"""Keras exports: the ``.keras`` file from the generated source, and the checks.

* :func:`export_keras`: builds the generated ``keras-src`` model (:mod:`archdsl.export.
  source_keras`), loads ``weights`` with its ``load_weights`` and saves it as ``.keras``. Its
  layers are stock Keras layers, plus, where the lowering needs its own, the helper layers of
  the generated file (registered under the ``archdsl_export`` package): the file then loads
  wherever that source was imported (it is written next to the ``.keras`` file), never needing
  archdsl;
* :func:`check_keras_source`: the generated source itself against the Keras lowering;
* :func:`save_model`: a training run's ``model.keras`` (the lowering's own model).

Example:
    >>> import archdsl, os, tempfile
    >>> from archdsl.init import init_weights
    >>> g = archdsl.load("specs/digits_cnn.yaml")
    >>> path = os.path.join(tempfile.mkdtemp(), "digits.keras")
    >>> diff, companion = export_keras(g, init_weights(g), path)
    >>> diff < 1e-6, companion is None  # stock layers only: nothing else to ship
    (True, True)
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from archdsl.errors import BackendError
from archdsl.weights import save_npz

from .layout import to_physical
from .model import build

if TYPE_CHECKING:
    from archdsl.graph import Graph

Weights = Mapping[str, Mapping[str, Any]]


def _inputs(graph: Graph, batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, *graph[n].shape)).astype(np.float32)
            for n in graph.inputs]


def _physical(graph: Graph, xs: list[np.ndarray]) -> Any:
    """Channels-last model inputs (one array, or a list)."""
    phys = [to_physical(x, "channels_last") if len(graph[n].shape) > 1 else x
            for n, x in zip(graph.inputs, xs)]
    return phys[0] if len(phys) == 1 else phys


def _run(model: keras.Model, data: Any) -> list[np.ndarray]:
    y = model(data, training=False)
    items = y if isinstance(y, (list, tuple)) else [y]
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in items]


def _diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return float("inf")
    return max((float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in zip(a, b)
                if x.size), default=0.0)


def reference(graph: Graph, weights: Weights, data: Any) -> list[np.ndarray]:
    """The Keras lowering's outputs (channels-last) on ``data``."""
    return _run(build(graph, weights=weights), data)


def load_source_model(source: str | Path, weights: Weights, workdir: str | Path) -> Any:
    """The model of a generated Keras source file with ``weights``."""
    from archdsl.backends.torch.export import import_source

    module = import_source(source)
    npz = Path(workdir) / "weights.npz"
    save_npz(npz, weights)
    return module.load_weights(str(npz))


def check_keras_source(graph: Graph, source: str | Path, weights: Weights, *, batch: int = 2,
                       seed: int = 0) -> float:
    """Max abs difference between the generated source's model and the Keras lowering."""
    data = _physical(graph, _inputs(graph, batch, seed))
    with tempfile.TemporaryDirectory() as tmp:
        got = _run(load_source_model(source, weights, tmp), data)
    return _diff(got, reference(graph, weights, data))


def export_keras(graph: Graph, weights: Weights, path: str | Path, *, verify: bool = True,
                 batch: int = 2, seed: int = 0) -> tuple[float | None, Path | None]:
    """Save the generated Keras model with ``weights`` as ``path`` (a ``.keras`` file).

    Returns its max abs difference from the lowering (the file reloaded with
    ``keras.saving.load_model``; None without ``verify``) and the companion source written
    next to it when the model uses helper layers (``<stem>_layers.py``: import it before
    loading), else None.

    Raises:
        BackendError: ``path`` does not end in ``.keras``.
    """
    from archdsl.export import generate_source

    path = Path(path)
    if path.suffix != ".keras":
        raise BackendError(f"a Keras model file must end in .keras, received '{path.name}'")
    text = generate_source(graph, "keras-src")
    companion = path.with_name(path.stem + "_layers.py") if "PACKAGE = " in text else None
    with tempfile.TemporaryDirectory() as tmp:
        source = companion or Path(tmp) / "model_source.py"
        source.write_text(text)
        model = load_source_model(source, weights, tmp)
        model.save(str(path))
    if not verify:
        return None, companion
    data = _physical(graph, _inputs(graph, batch, seed))
    loaded = keras.saving.load_model(str(path), compile=False)
    return _diff(_run(loaded, data), reference(graph, weights, data)), companion


def save_model(model: keras.Model, path: str | Path) -> None:
    """A training run's ``model.keras``: the lowering's model as Keras saves it."""
    model.save(str(path))


__all__ = ["check_keras_source", "export_keras", "load_source_model", "reference", "save_model"]
