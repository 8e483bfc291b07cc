"""CIFAR-10, MNIST and Fashion-MNIST through the decoded-data cache.

Decoding CIFAR-10 from its ``.tar.gz``/``.tar.xz`` takes 25–30 s on the development machine,
every run. :func:`cached_builtin` keys the decoded (and verified) arrays by the content hash of
the files they came from (:mod:`archdsl.data.cache`): the first run decodes and stores them,
later runs open them in well under a second and stream batches from disk.

Example::

    >>> ds = cached_builtin("cifar10", path, lambda: load_cifar10(path), {})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from archdsl.data.cache import cache_key, cache_root, open_entry, source_digest, store_entry
from archdsl.data.dataset import Dataset


def source_files(path: Path) -> list[Path]:
    """The files a built-in dataset is decoded from: the archive, or the folder's data files
    (CIFAR-10 batches, idx files).

    >>> source_files(Path("/nonexistent.tar.gz"))
    [PosixPath('/nonexistent.tar.gz')]
    """
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and (
        p.name.startswith(("data_batch_", "test_batch", "batches.meta", "train-", "t10k-"))))


def cached_builtin(name: str, path: Path, decode: Callable[[], Dataset],
                   options: Mapping[str, Any], cache: str | Path | None = None) -> Dataset:
    """The dataset ``name`` decoded from ``path``: from the cache when an entry for these files
    exists, else ``decode()``, stored for the next run (a cache that cannot be written is
    skipped: the decoded arrays are returned as they are)."""
    root = cache_root(cache)
    if root is None:
        return decode()
    try:
        key = cache_key(name, source_digest(source_files(path), root), options)
    except OSError:
        return decode()
    found = open_entry(root / key)
    if found is not None:
        return found
    ds = decode()
    arrays = {"x_train": ds.x_train, "y_train": ds.y_train, "x_test": ds.x_test,
              "y_test": ds.y_test}
    with contextlib.suppress(OSError):
        store_entry(root, key, ds.name, ds.classes, arrays, source=str(path))
    return ds


__all__ = ["cached_builtin", "source_files"]
