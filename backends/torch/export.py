"""PyTorch exports: ONNX from the lowering, TorchScript from the generated source, checks.

Each ``export_*`` writes one file and returns the largest absolute difference between what
the file computes and what the torch lowering computes on the same random batch (float32,
eval mode), so ``archdsl export`` can say how exactly the file reproduces the model:

* :func:`export_onnx`: ``torch.onnx.export`` of :func:`~archdsl.backends.torch.build`'s module
  (opset ≥ 17, a dynamic batch axis), checked with onnxruntime;
* :func:`export_torchscript`: ``torch.jit.script`` of the generated ``torch-src`` module
  (:mod:`archdsl.export.source_torch`) with the weights loaded by its ``load_weights``;
* :func:`check_torch_source`: the generated source itself, imported from its file.

:func:`save_state_dict` writes the ``model.pt`` of a training run.

Example:
    >>> import archdsl, os, tempfile
    >>> g = archdsl.load("specs/digits_cnn.yaml")
    >>> path = os.path.join(tempfile.mkdtemp(), "digits.pt")
    >>> export_torchscript(g, init_weights(g), path) < 1e-6
    True
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from archdsl.errors import BackendError
from archdsl.init import init_weights
from archdsl.weights import save_npz

from .model import build

if TYPE_CHECKING:
    from archdsl.graph import Graph

Weights = Mapping[str, Mapping[str, Any]]
#: the lowest ONNX opset the export uses
OPSET = 17


def sample_inputs(graph: Graph, batch: int = 2, seed: int = 0) -> list[np.ndarray]:
    """A random float32 batch per graph input (IR layout, NCHW)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, *graph[n].shape)).astype(np.float32)
            for n in graph.inputs]


def _outputs(y: Any) -> list[np.ndarray]:
    items = y if isinstance(y, (tuple, list)) else [y]
    return [t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            for t in items]


def reference(graph: Graph, weights: Weights, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The torch lowering's outputs on ``inputs`` (float32, eval mode)."""
    model = build(graph, weights=weights).eval()
    with torch.no_grad():
        return _outputs(model(*[torch.from_numpy(x) for x in inputs]))


def max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The largest absolute difference between two lists of outputs (inf when shapes differ)."""
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return float("inf")
    return max((float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in zip(a, b)
                if x.size), default=0.0)


def _names(graph: Graph) -> tuple[list[str], list[str]]:
    """ONNX input and output names: the node ids (made distinct when an output is an input)."""
    ins = list(graph.inputs)
    outs = [n if n not in ins else f"{n}_output" for n in graph.outputs]
    return ins, outs


def export_onnx(graph: Graph, weights: Weights, path: str | Path, *, verify: bool = True,
                batch: int = 2, seed: int = 0, opset: int = OPSET) -> float | None:
    """Write ``graph`` with ``weights`` as an ONNX model (opset ``opset`` or more, dynamic
    batch axis) and return its max abs difference from the lowering (onnxruntime, on a batch
    of ``batch``), or None without ``verify``.

    The TorchScript-based exporter is tried first (fast: ResNet-50 in seconds); when it cannot
    express an operator (``channel_shuffle``, native multi-head attention, adaptive pooling to
    a size that does not divide the input) or writes a model onnxruntime rejects, the
    ``torch.export``-based one (``dynamo=True``, opset 18) writes it instead.

    Raises:
        BackendError: the ONNX exporter or onnxruntime is missing, or both exporters fail.
    """
    _need("onnx", "ONNX export")
    model = build(graph, weights=weights).eval()
    inputs = sample_inputs(graph, batch, seed)
    args = tuple(torch.from_numpy(x) for x in inputs)
    try:
        _legacy(model, graph, args, path, opset)
        _check_loads(path)
    except Exception as first:  # the exporter's own error, with the operator it choked on
        try:
            _dynamo(model, graph, args, path, max(opset, 18))
        except Exception as exc:
            raise BackendError(f"torch.onnx.export failed: {type(first).__name__}: {first}; "
                               f"with dynamo=True: {type(exc).__name__}: {exc}") from None
    if not verify:
        return None
    _need("onnxruntime", "the ONNX check")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})
    with torch.no_grad():
        want = _outputs(model(*args))
    return max_diff([np.asarray(y) for y in got], want)


def _legacy(model: nn.Module, graph: Graph, args: tuple[torch.Tensor, ...],
            path: str | Path, opset: int) -> None:
    """The TorchScript-based exporter (``dynamo=False``)."""
    ins, outs = _names(graph)
    axes = {n: {0: "batch"} for n in [*ins, *outs]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), opset_version=opset, input_names=ins,
                          output_names=outs, dynamic_axes=axes, dynamo=False)


def _dynamo(model: nn.Module, graph: Graph, args: tuple[torch.Tensor, ...],
            path: str | Path, opset: int) -> None:
    """The ``torch.export``-based exporter (``dynamo=True``), batch axis dynamic."""
    import contextlib
    import io
    import logging

    ins, outs = _names(graph)
    batch = torch.export.Dim("batch", min=1, max=65536)
    shapes = (tuple({0: batch} for _ in args),)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), opset_version=opset, input_names=ins,
                          output_names=outs, dynamic_shapes=shapes, dynamo=True,
                          verbose=False)


def _check_loads(path: str | Path) -> None:
    """Raise when onnxruntime (else the ONNX checker) rejects the file."""
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return
    import onnx

    onnx.checker.check_model(str(path), full_check=True)


def _need(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise BackendError(f"{what} needs the '{module}' package",
                           hint="pip install 'archdsl[export]' (onnx, onnxscript, onnxruntime)")


def import_source(path: str | Path) -> ModuleType:
    """Import a generated source file as a fresh module (its helpers registered)."""
    name = f"archdsl_generated_{uuid.uuid4().hex[:12]}"
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise BackendError(f"cannot import the generated source '{path}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _root_class(module: ModuleType) -> type[nn.Module]:
    cls = module.load_weights.__annotations__.get("return")
    found = getattr(module, cls, None) if isinstance(cls, str) else cls
    if not isinstance(found, type):
        raise BackendError("the generated torch source has no model class")
    return found


def load_source_model(source: str | Path, weights: Weights, workdir: str | Path,
                      dtype: torch.dtype = torch.float32) -> nn.Module:
    """The model of a generated torch source file with ``weights`` (in eval mode)."""
    module = import_source(source)
    npz = Path(workdir) / "weights.npz"
    save_npz(npz, weights)
    model = _root_class(module)().to(dtype)
    loaded: nn.Module = module.load_weights(str(npz), model)
    return loaded


def check_torch_source(graph: Graph, source: str | Path, weights: Weights, *, batch: int = 2,
                       seed: int = 0) -> float:
    """Max abs difference between the generated source's model and the lowering (float32)."""
    inputs = sample_inputs(graph, batch, seed)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_source_model(source, weights, tmp)
        with torch.no_grad():
            got = _outputs(model(*[torch.from_numpy(x) for x in inputs]))
    return max_diff(got, reference(graph, weights, inputs))


def export_torchscript(graph: Graph, weights: Weights, path: str | Path, *,
                       verify: bool = True, batch: int = 2, seed: int = 0) -> float | None:
    """Script the generated torch source (``torch.jit.script``) with ``weights`` and save it
    to ``path``; returns its max abs difference from the lowering (the saved file reloaded
    with ``torch.jit.load``), or None without ``verify``."""
    from archdsl.export import generate_source

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model_source.py"
        source.write_text(generate_source(graph, "torch-src"))
        model = load_source_model(source, weights, tmp)
        try:
            scripted = torch.jit.script(model)
        except Exception as exc:
            raise BackendError(f"torch.jit.script failed on the generated source: "
                               f"{type(exc).__name__}: {exc}") from None
        scripted.save(str(path))
    if not verify:
        return None
    inputs = sample_inputs(graph, batch, seed)
    loaded = torch.jit.load(str(path)).eval()
    with torch.no_grad():
        got = _outputs(loaded(*[torch.from_numpy(x) for x in inputs]))
    return max_diff(got, reference(graph, weights, inputs))


def save_state_dict(model: nn.Module, path: str | Path) -> None:
    """``torch.save(model.state_dict(), path)`` (a training run's ``model.pt``), atomically."""
    import io

    from archdsl.fsutil import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(getattr(model, "_orig_mod", model).state_dict(), buf)
    atomic_write_bytes(path, buf.getvalue())


__all__ = ["OPSET", "check_torch_source", "export_onnx", "export_torchscript", "import_source",
           "init_weights", "load_source_model", "max_diff", "reference", "sample_inputs",
           "save_state_dict"]
