"""The trained weights a run leaves in its ``out_dir``, in forms that load anywhere.

* ``weights.npz``: the canonical weights (``"<node id>/<weight name>"``, PyTorch's layout,
  :func:`archdsl.weights.save_npz`) of the run's first framework, rewritten at the end of
  every epoch, with metadata the loaders skip: the spec, its config hash, the dataset, its class
  names and the normalization the run trained with (what ``archdsl predict`` needs), the epoch
  and its validation accuracy;
* ``weights.best.npz`` (``save_best``): the same for the epoch of best validation accuracy;
* ``model.pt`` (torch: the lowering's ``state_dict``) and ``model.keras`` (Keras: the
  lowering's model, which loads where ``archdsl.backends.keras`` is imported; ``archdsl export
  --format keras`` writes one that needs no archdsl), at the end of the run.

``build --weights``, ``crosscheck --weights``, ``export``, ``predict`` and ``eval`` take
``weights.npz``, ``weights.best.npz`` and ``checkpoint.npz`` alike.

Example:
    >>> sorted(WEIGHT_FILES)
    ['model_keras', 'model_pt', 'weights', 'weights_best']
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archdsl.graph import Graph
    from archdsl.training.data import TrainData
    from archdsl.training.loop import Session
    from archdsl.training.outputs import TrainResult

#: result key → file name in ``out_dir``
WEIGHT_FILES = {
    "weights": "weights.npz",
    "weights_best": "weights.best.npz",
    "model_pt": "model.pt",
    "model_keras": "model.keras",
}
#: framework → (result key of its native file, function of its backend's export module)
NATIVE = {"torch": ("model_pt", "save_state_dict"), "keras": ("model_keras", "save_model")}


def weights_meta(graph: Graph, result: TrainResult, data: TrainData, framework: str,
                 record: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a run's weights file (JSON; loaders skip it)."""
    stats = record.get(framework, {})
    return {
        "source": "archdsl train",
        "spec": result.spec,
        "config_hash": result.config_hash,
        "input_shapes": [list(s) for s in graph.input_shapes],
        "dataset": result.dataset,
        "classes": list(data.dataset.classes),
        "normalization": result.normalization,
        "framework": framework,
        "frameworks": list(result.frameworks),
        "native": list(result.native),
        "epoch": record.get("epoch"),
        "val_acc": stats.get("val_acc"),
    }


class WeightsWriter:
    """Writes ``weights.npz`` after every epoch, ``weights.best.npz`` when validation accuracy
    improves (``save_best``), and the native model files at the end."""

    def __init__(self, graph: Graph, result: TrainResult, data: TrainData,
                 save_best: bool = False) -> None:
        self.graph, self.result, self.data = graph, result, data
        self.save_best = save_best
        self.out = Path(result.out_dir)
        self.best = self._saved_best() if save_best else None

    def _saved_best(self) -> float | None:
        """The best validation accuracy so far (a resumed run keeps its best file)."""
        path = self.out / WEIGHT_FILES["weights_best"]
        if not path.is_file():
            return None
        from archdsl.weights import WeightsError, load_npz_meta

        try:
            acc = load_npz_meta(path).get("val_acc")
        except WeightsError:
            return None
        return float(acc) if isinstance(acc, (int, float)) else None

    def _weights(self, session: Session, name: str) -> Any:
        fw = session.frameworks[name]
        return fw.backend.get_weights(session.models[name], self.graph)

    def epoch_end(self, session: Session, record: dict[str, Any]) -> None:
        """Write this epoch's weights (and the best so far) of the first framework."""
        from archdsl.weights import save_npz

        name = self.result.frameworks[0]
        if not callable(getattr(session.frameworks[name].backend, "get_weights", None)):
            return  # a framework without canonical weights (a test double)
        weights = self._weights(session, name)
        meta = weights_meta(self.graph, self.result, self.data, name, record)
        save_npz(self.out / WEIGHT_FILES["weights"], weights, meta)
        self.result.files["weights"] = str(self.out / WEIGHT_FILES["weights"])
        acc = meta["val_acc"]
        if self.save_best and isinstance(acc, float) and (self.best is None or acc > self.best):
            self.best = acc
            save_npz(self.out / WEIGHT_FILES["weights_best"], weights, meta)
        if self.save_best and (self.out / WEIGHT_FILES["weights_best"]).is_file():
            self.result.files["weights_best"] = str(self.out / WEIGHT_FILES["weights_best"])

    def finish(self, session: Session) -> None:
        """Write every framework's native model file (``model.pt``, ``model.keras``)."""
        for name, model in session.models.items():
            backend = session.frameworks[name].backend
            if name not in NATIVE or not isinstance(backend, ModuleType):
                continue  # not archdsl's torch or Keras backend (a test double)
            key, fn = NATIVE[name]
            module = importlib.import_module(f"{backend.__name__}.export")
            path = self.out / WEIGHT_FILES[key]
            getattr(module, fn)(model, path)
            self.result.files[key] = str(path)


def clear_weight_files(out: Path) -> None:
    """Delete a previous run's weight files from ``out``."""
    for name in WEIGHT_FILES.values():
        (out / name).unlink(missing_ok=True)


__all__ = ["NATIVE", "WEIGHT_FILES", "WeightsWriter", "clear_weight_files", "weights_meta"]
