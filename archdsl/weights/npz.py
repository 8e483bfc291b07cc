"""The canonical ``.npz`` weights file: one array per ``"<node id>/<weight name>"`` key.

Arrays are in the canonical (PyTorch) layout; node ids never contain ``/``. The key
:data:`META_KEY` holds JSON metadata (the spec, its overrides and input shapes, the source and
the import notes, for ``archdsl import-weights``). Files are written uncompressed and
atomically; they are read with ``allow_pickle=False``.

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


def load_npz(path: str | Path) -> Weights:
    """Read an archive written by :func:`save_npz` as ``{node: {name: array}}``.

    Raises:
        WeightsError: unreadable file or a key that is not ``node/weight``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return from_flat({k: data[k] for k in data.files})
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"cannot read weights file '{path}': {exc}", hint=_EXPECTED) from None


def load_npz_meta(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`save_npz` stored (``{}`` when there is none).

    Raises:
        WeightsError: unreadable file or metadata that is not JSON.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if META_KEY not in data.files:
                return {}
            meta: dict[str, Any] = json.loads(str(data[META_KEY]))
            return meta
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"cannot read the metadata of '{path}': {exc}",
                           hint=_EXPECTED) from None


def load_npz_for(graph: Graph, path: str | Path) -> Weights:
    """:func:`load_npz` + :func:`~archdsl.weights.completeness.check_complete`: the weights of
    ``path``, verified to fit ``graph`` exactly (what ``build`` / ``crosscheck --weights
    FILE.npz`` need).

    Raises:
        WeightsError: unreadable file, or a missing, extra or misshaped weight (named), with
            the spec the file was made for when its metadata says.
    """
    weights = load_npz(path)
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


__all__ = ["KEY_SEP", "META_KEY", "from_flat", "load_npz", "load_npz_for", "load_npz_meta",
           "save_npz", "to_flat"]
