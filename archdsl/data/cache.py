"""Decode once: a cache of decoded datasets, keyed by the content hash of their source files.

The first time a dataset is loaded (CIFAR-10 from its ``.tar.gz``, MNIST from its idx files,
a folder of PNG/JPEG images, an ``.npz``, a CSV of image paths) its decoded arrays are written
to ``<cache>/<key>/`` as plain ``.npy`` files with a ``meta.json``; later runs open them as
:class:`~archdsl.data.diskarray.DiskArray` and stream batches from disk, holding one batch in
memory at a time. The cache folder is ``$ARCHDSL_CACHE``, else ``~/.cache/archdsl/decoded``;
``ARCHDSL_CACHE=off`` turns the cache off.

The key is the sha256 of the sources' content hashes (each file's sha256), the decoding options
and :data:`CACHE_FORMAT`: a changed file, option or format is a new entry, never a stale one.
Hashing a file is remembered per ``(path, size, mtime, inode)`` in ``sources.json``, so a later
run only ``stat``\\ s the sources. Entries are written to a temporary folder and renamed into
place, so a reader never sees half an entry, and two runs that build one entry at once both
succeed.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> arrays = {"x_train": np.zeros((3, 1, 2, 2), np.uint8), "y_train": np.arange(3),
    ...           "x_test": np.zeros((1, 1, 2, 2), np.uint8), "y_test": np.arange(1)}
    >>> entry = store_entry(root, "k1", "toy", ("a", "b", "c"), arrays)
    >>> ds = open_entry(entry)
    >>> ds.name, type(ds.x_train).__name__, ds.x_train.shape
    ('toy', 'DiskArray', (3, 1, 2, 2))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from archdsl.data.checks import file_digest
from archdsl.data.dataset import Dataset
from archdsl.data.diskarray import DiskArray, write_npy
from archdsl.data.errors import DataError

#: Version of the entry layout; part of every key.
CACHE_FORMAT = 1
ENV_VAR = "ARCHDSL_CACHE"
DEFAULT_CACHE = Path("~/.cache/archdsl/decoded")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
#: The seed of the validation split of a dataset that has no test split (fixed: the split does
#: not move when a run's seed changes).
SPLIT_SEED = 0

#: An array to store: in memory, or ``(shape, dtype, chunks)`` streamed in row order.
Streamed = tuple[tuple[int, ...], npt.DTypeLike, Iterable[np.ndarray]]


def cache_root(folder: str | Path | None = None) -> Path | None:
    """The cache folder: ``folder``, else ``$ARCHDSL_CACHE``, else ``~/.cache/archdsl/decoded``;
    ``None`` when the cache is off (``ARCHDSL_CACHE=off``).

    >>> cache_root("/tmp/c")
    PosixPath('/tmp/c')
    """
    value = str(folder) if folder is not None else os.environ.get(ENV_VAR, "")
    if value.strip().lower() in ("off", "0", "none", "false"):
        return None
    return Path(value or DEFAULT_CACHE).expanduser()


def source_digest(files: Sequence[Path], root: Path | None) -> str:
    """The sha256 of the files' paths and content hashes (memoized by stat in ``root``): a
    changed, renamed or moved file gives another digest."""
    memo_path = root / "sources.json" if root is not None else None
    memo = _read_json(memo_path) if memo_path is not None else {}
    h = hashlib.sha256()
    changed = False
    for path in sorted(Path(f) for f in files):
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        key = str(path.resolve())
        entry = memo.get(key)
        if not (isinstance(entry, dict) and entry.get("stat") == stamp):
            entry = {"stat": stamp, "sha256": file_digest(path, "sha256")}
            memo[key] = entry
            changed = True
        h.update(f"{key}\0{entry['sha256']}\n".encode())
    if changed and memo_path is not None:
        with contextlib.suppress(OSError):
            _write_json(memo_path, memo)
    return h.hexdigest()


def cache_key(kind: str, digest: str, options: Mapping[str, Any]) -> str:
    """The entry name of a dataset: its kind, sources' digest, options and the format.

    >>> len(cache_key("cifar10", "ab", {"verify": True}))
    32
    """
    text = json.dumps({"format": CACHE_FORMAT, "kind": kind, "sources": digest,
                       "options": dict(options)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def open_entry(folder: Path, *, val_split: float = 0.1) -> Dataset | None:
    """The dataset of a complete entry, streamed from disk; ``None`` when there is none (or it
    is damaged: then it is rebuilt). An entry without a test split is split here: a seeded
    ``val_split`` share of the images (:data:`SPLIT_SEED`) becomes the test split."""
    meta = _read_json(folder / "meta.json")
    if meta.get("format") != CACHE_FORMAT:
        return None
    try:
        x = DiskArray.open(folder / "x_train.npy")
        y = np.load(folder / "y_train.npy", allow_pickle=False)
        if (folder / "x_test.npy").is_file():
            xt = DiskArray.open(folder / "x_test.npy")
            yt = np.load(folder / "y_test.npy", allow_pickle=False)
        else:
            (x, y), (xt, yt) = split(x, y, val_split)
        # a DiskArray stands in for the ndarray Dataset declares (it reads like one)
        return Dataset(str(meta["name"]), cast(Any, x), y.astype(np.int64), cast(Any, xt),
                       yt.astype(np.int64), tuple(str(c) for c in meta["classes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def split(x: DiskArray, y: np.ndarray, share: float
          ) -> tuple[tuple[DiskArray, np.ndarray], tuple[DiskArray, np.ndarray]]:
    """``(train, test)``: a seeded ``share`` of the rows (at least one) is the test split; both
    keep the file's row order.

    Raises:
        DataError: too few images to split.
    """
    n = len(y)
    n_test = max(1, round(share * n))
    if n - n_test < 1:
        raise DataError(f"{x.path.parent}: {n} image(s) are too few to hold out a validation "
                        f"split of {share:g}; add images or give a test split")
    order = np.random.Generator(np.random.PCG64(SPLIT_SEED)).permutation(n)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (x.select(train), y[train]), (x.select(test), y[test])


def store_entry(root: Path, key: str, name: str, classes: Sequence[str],
                arrays: Mapping[str, np.ndarray | Streamed], **meta: Any) -> Path:
    """Write an entry (``x_train``/``y_train`` and optionally ``x_test``/``y_test``) and return
    its folder; an entry another run finished first is kept.

    Raises:
        OSError: the cache folder cannot be written (callers fall back to no cache).
    """
    final = root / key
    tmp = root / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for array_name, value in arrays.items():
            if isinstance(value, tuple):
                shape, dtype, chunks = value
                write_npy(tmp / f"{array_name}.npy", shape, dtype, chunks)
            else:
                np.save(tmp / f"{array_name}.npy", np.ascontiguousarray(value), allow_pickle=False)
        _write_json(tmp / "meta.json", {"format": CACHE_FORMAT, "name": name,
                                        "classes": list(classes), "created": time.time(),
                                        **meta})
        try:
            os.rename(tmp, final)
        except OSError:  # another run finished it first, or a damaged entry is in the way
            if open_entry(final) is None:
                aside = root / f".{key}.{os.getpid()}.old"
                os.rename(final, aside)
                os.rename(tmp, final)
                shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def check_free_space(root: Path, nbytes: int, what: str) -> None:
    """Refuse a cache entry larger than the free space of its disk (before writing any of it).

    Raises:
        DataError: not enough space.
    """
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if nbytes > free:
        raise DataError(f"{what}: decoding needs {nbytes / 2**30:.1f} GiB in the cache {root}, "
                        f"{free / 2**30:.1f} GiB are free; free space or set ARCHDSL_CACHE to "
                        "another folder")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: Any) -> None:
    from archdsl.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(value, indent=1) + "\n")


__all__ = ["CACHE_FORMAT", "cache_key", "cache_root", "check_free_space", "open_entry",
           "source_digest", "split", "store_entry"]
