"""The canonical ``.npz`` weights file: one array per ``"<node id>/<weight name>"`` key.

Arrays are in the canonical (PyTorch) layout; node ids never contain ``/``. The key
:data:`META_KEY` holds JSON metadata (the spec, its overrides and input shapes, the source and
the import notes, for ``archdsl import-weights``; the spec's config hash, the dataset and its
normalization, for ``archdsl train``'s ``weights.npz``). Files are written uncompressed and
atomically; they are read with ``allow_pickle=False``.

The readers also take a training checkpoint (``checkpoint.npz``: a ``meta`` entry and each
framework's state under ``state/<framework>/weights/<node>/<weight>``): its weights are those of
the first framework it trained (or of ``framework=``), so ``build --weights``, ``crosscheck
--weights``, ``export``, ``predict`` and ``eval`` take a run's ``weights.npz`` and its
``checkpoint.npz`` alike.

Example:
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> save_npz(path, {"fc": {"bias": np.arange(3.0)}}, {"source": "example"})
    >>> sorted(np.load(path).files)
    ['__archdsl_meta__', 'fc/bias']
    >>> load_npz(path)["fc"]["bias"].tolist(), load_npz_meta(path)["source"]
    ([0.0, 1.0, 2.0], 'example')
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.weights.completeness import check_complete
from archdsl.weights.errors import WeightsError
from archdsl.weights.records import Weights

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: npz key separator: ``"<node id>/<weight name>"``
KEY_SEP = "/"
#: npz key of the JSON metadata written by :func:`save_npz`
META_KEY = "__archdsl_meta__"
_EXPECTED = "expected an .npz written by `archdsl import-weights` (or archdsl.weights.save_npz)"


def to_flat(weights: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """``{node: {name: array}}`` → ``{"node/name": array}``.

    >>> sorted(to_flat({"conv1": {"kernel": np.zeros(1), "bias": np.zeros(1)}}))
    ['conv1/bias', 'conv1/kernel']
    """
    flat: dict[str, np.ndarray] = {}
    for node_id, arrays in weights.items():
        for name, arr in arrays.items():
            if KEY_SEP in node_id or KEY_SEP in name:
                raise WeightsError(f"weight key '{node_id}' / '{name}' contains '{KEY_SEP}'")
            flat[f"{node_id}{KEY_SEP}{name}"] = np.asarray(arr)
    return flat


def from_flat(flat: Mapping[str, Any]) -> Weights:
    """``{"node/name": array}`` → ``{node: {name: array}}`` (the metadata key is skipped).

    >>> from_flat({"layer1.0.conv1/kernel": np.zeros(2)})["layer1.0.conv1"]["kernel"].shape
    (2,)
    """
    out: Weights = {}
    for key, arr in flat.items():
        if key == META_KEY:
            continue
        node_id, sep, name = key.rpartition(KEY_SEP)
        if not sep or not node_id or not name:
            raise WeightsError(f"weights key '{key}' is not '<node id>{KEY_SEP}<weight name>'")
        out.setdefault(node_id, {})[name] = np.asarray(arr)
    return out


def save_npz(path: str | Path, weights: Mapping[str, Mapping[str, Any]],
             meta: Mapping[str, Any] | None = None) -> None:
    """Write canonical weights (and JSON ``meta``) to ``path`` atomically (uncompressed npz)."""
    from archdsl.fsutil import atomic_write_bytes

    flat = to_flat(weights)
    if meta is not None:
        flat[META_KEY] = np.array(json.dumps(dict(meta), sort_keys=True))
    buf = io.BytesIO()
    np.savez(buf, **flat)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


#: the JSON entry of a training checkpoint (:mod:`archdsl.training.checkpoints`)
CHECKPOINT_META = "meta"
_STATE = "state/"


def load_npz(path: str | Path, framework: str | None = None) -> Weights:
    """Read an archive written by :func:`save_npz`, or a training checkpoint, as
    ``{node: {name: array}}`` (a checkpoint's weights: ``framework``'s, default the first it
    trained).

    Raises:
        WeightsError: unreadable file, a key that is not ``node/weight``, or a checkpoint
            without weights for ``framework``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if CHECKPOINT_META in data.files:
                return _checkpoint_weights(path, data, framework)
            return from_flat({k: data[k] for k in data.files})
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"cannot read weights file '{path}': {exc}", hint=_EXPECTED) from None


def _checkpoint_weights(path: str | Path, data: Any, framework: str | None) -> Weights:
    """The weights of one framework's state in a training checkpoint."""
    meta = json.loads(str(data[CHECKPOINT_META]))
    names = list(meta.get("frameworks") or [])
    name = framework or (names[0] if names else None)
    prefix = f"{_STATE}{name}/weights/"
    keys = [k for k in data.files if k.startswith(prefix)]
    if not keys:
        have = sorted({k.split("/")[1] for k in data.files if k.startswith(_STATE)})
        raise WeightsError(f"checkpoint '{path}' holds no weights for framework '{name}' "
                           f"(it has: {', '.join(have) or 'none'})")
    return from_flat({k[len(prefix):]: data[k] for k in keys})


def load_npz_meta(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`save_npz` stored, or a checkpoint's ``meta`` (``{}`` when there
    is none).

    Raises:
        WeightsError: unreadable file or metadata that is not JSON.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            key = META_KEY if META_KEY in data.files else (
                CHECKPOINT_META if CHECKPOINT_META in data.files else None)
            if key is None:
                return {}
            meta: dict[str, Any] = json.loads(str(data[key]))
            return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"cannot read the metadata of '{path}': {exc}",
                           hint=_EXPECTED) from None


def load_npz_for(graph: Graph, path: str | Path, framework: str | None = None) -> Weights:
    """:func:`load_npz` + :func:`~archdsl.weights.completeness.check_complete`: the weights of
    ``path`` (an npz of weights or a training checkpoint), verified to fit ``graph`` exactly
    (what ``build`` / ``crosscheck --weights`` and the export commands need).

    Raises:
        WeightsError: unreadable file, or a missing, extra or misshaped weight (named: which
            node, which weight, both shapes), with the spec the file was made for when its
            metadata says.
    """
    weights = load_npz(path, framework)
    try:
        check_complete(graph, weights)
    except WeightsError as exc:
        meta = load_npz_meta(path)
        made_for = f" (the file was made for spec '{meta['spec']}'" + (
            f", input {meta.get('input_shapes')})" if meta.get("input_shapes") else ")"
        ) if meta.get("spec") else ""
        raise WeightsError(f"'{path}' does not fit '{graph.name}': {exc.message}{made_for}",
                           hint="import the weights for this spec and these --set / "
                                "--input-shape values") from None
    return weights


__all__ = ["CHECKPOINT_META", "KEY_SEP", "META_KEY", "from_flat", "load_npz", "load_npz_for",
           "load_npz_meta", "save_npz", "to_flat"]
