"""Ship a model: standalone PyTorch / Keras source, ONNX, TorchScript and ``.keras`` files.

The source generators (:func:`generate_source`) live here, in the core: they turn the typed
graph into text and import no framework. Each target keeps an emitter table derived from the
layer registry (:mod:`.emit_torch`, :mod:`.emit_keras`; :func:`missing` lists the types a
target cannot emit yet). :func:`export` writes one format and checks it against the lowering
on a random batch through the backends' export modules (``archdsl.backends.torch.export``,
``archdsl.backends.keras.export``), which import the frameworks.

=============  ==============================================================================
``torch-src``  one readable PyTorch file: a class per block, ``load_weights(path)``
``keras-src``  one readable Keras 3 file: a function per block, ``build_model()``,
               ``load_weights(path)``
``onnx``       ``torch.onnx.export`` of the torch lowering (opset 17, dynamic batch axis),
               checked with onnxruntime
``torchscript``  ``torch.jit.script`` of the generated torch source
``keras``      ``.keras`` of the generated Keras model (a companion ``<stem>_layers.py`` when it
               uses helper layers)
=============  ==============================================================================

Example:
    >>> import archdsl
    >>> g = archdsl.load("specs/digits_cnn.yaml")
    >>> src = generate_source(g, "torch-src")
    >>> "import archdsl" in src, src.count("class DigitsCnn(nn.Module):")
    (False, 1)
    >>> missing("torch-src"), missing("keras-src")
    ([], [])
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.export.emitters import ExportError
from archdsl.verdict import verdict

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: every ``--format`` of ``archdsl export``
FORMATS = ("onnx", "torch-src", "keras-src", "torchscript", "keras")
#: the framework each format needs to be written and checked
FRAMEWORK = {"onnx": "torch", "torch-src": "torch", "torchscript": "torch",
             "keras-src": "keras", "keras": "keras"}
#: the file suffix each format is written with by default
SUFFIX = {"onnx": ".onnx", "torch-src": ".py", "keras-src": ".py", "torchscript": ".pt",
          "keras": ".keras"}
#: a check passes when the export is this close to the lowering (float32)
TOLERANCE = 1e-5


def generate_source(graph: Graph, target: str, *, formatted: bool = True) -> str:
    """The ``torch-src`` or ``keras-src`` file of ``graph`` (``ruff format``-ed when ruff is
    installed: the generator's own layout is black's already).

    Raises:
        ExportError: an unknown target, or a node whose type the target cannot emit.
    """
    if target == "torch-src":
        from archdsl.export.source_torch import torch_source

        text = torch_source(graph)
    elif target == "keras-src":
        from archdsl.export.source_keras import keras_source

        text = keras_source(graph)
    else:
        raise ExportError(f"no source target '{target}'; valid: torch-src, keras-src")
    if formatted:
        from archdsl.export.format import format_source

        text = format_source(text)
    return text


def missing(target: str) -> list[str]:
    """The registered layer types ``target`` (``torch-src`` / ``keras-src``) cannot emit."""
    from archdsl.export import emit_keras, emit_torch

    if target == "torch-src":
        return emit_torch.EMITTERS.missing()
    return emit_keras.EMITTERS.missing()


@dataclass
class ExportResult:
    """What :func:`export` wrote and how close it is to the lowering."""

    format: str
    path: str
    verified: bool | None
    max_abs_diff: float | None
    seconds: float
    companion: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``archdsl export --json`` object."""
        out = {"format": self.format, "path": self.path, "verified": self.verified,
               "verdict": None if self.verified is None else verdict(self.verified),
               "max_abs_diff": self.max_abs_diff, "seconds": round(self.seconds, 3)}
        if self.companion:
            out["companion"] = self.companion
        return out


def export(graph: Graph, fmt: str, path: str | Path, *,
           weights: Mapping[str, Mapping[str, Any]] | None = None, verify: bool = True,
           seed: int = 0, batch: int = 2, tolerance: float = TOLERANCE) -> ExportResult:
    """Write ``graph`` in format ``fmt`` to ``path`` and, with ``verify``, run it against the
    lowering on a random batch: ``verified`` is whether the max abs difference is within
    ``tolerance``. ``weights``: canonical weights (default: the spec's seeded init).

    Raises:
        ExportError: an unknown format or a type the format cannot express.
        BackendError: the framework (or onnx/onnxruntime) is missing.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; valid: {', '.join(FORMATS)}")
    from archdsl.backends import load_backend
    from archdsl.init import init_weights

    load_backend(FRAMEWORK[fmt])
    mod = importlib.import_module(f"archdsl.backends.{FRAMEWORK[fmt]}.export")
    start = time.perf_counter()
    weights = weights if weights is not None else init_weights(graph, None, seed)
    path = Path(path)
    companion = None
    kw = {"batch": batch, "seed": seed}
    if fmt in ("torch-src", "keras-src"):
        path.write_text(generate_source(graph, fmt))
        check = mod.check_torch_source if fmt == "torch-src" else mod.check_keras_source
        diff = check(graph, path, weights, **kw) if verify else None
    elif fmt == "onnx":
        diff = mod.export_onnx(graph, weights, path, verify=verify, **kw)
    elif fmt == "torchscript":
        diff = mod.export_torchscript(graph, weights, path, verify=verify, **kw)
    else:
        diff, comp = mod.export_keras(graph, weights, path, verify=verify, **kw)
        companion = None if comp is None else str(comp)
    verified = None if diff is None else bool(diff <= tolerance)
    return ExportResult(fmt, str(path), verified, diff, time.perf_counter() - start, companion)


__all__ = ["FORMATS", "FRAMEWORK", "SUFFIX", "TOLERANCE", "ExportError", "ExportResult",
           "export", "generate_source", "missing"]
