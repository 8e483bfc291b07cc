"""A read-only ``.npy`` array on disk that reads only the rows asked for.

:class:`DiskArray` is what the decoded-data cache (:mod:`archdsl.data.cache`) hands the batch
pipeline instead of an in-memory array: ``x[idx]`` reads the rows of one batch with
``os.pread`` (runs of consecutive rows in one read), so an epoch streams the dataset from disk
(or the OS page cache) while the process holds one batch at a time. Unlike ``np.memmap`` the
pages read are not mapped into the process, so its resident memory (RSS) stays bounded by the
batch, not the dataset. Slicing the first axis (``x[:1000]``) and :meth:`select` return
lazy views; any other index returns a numpy array.

Writing: :func:`write_npy` streams chunks into a ``.npy`` file (header first), so building a
multi-gigabyte file never needs the whole array in memory.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.npy"
    >>> write_npy(path, (4, 2), np.uint8, [np.arange(4, dtype=np.uint8).reshape(2, 2),
    ...                                   np.arange(4, 8, dtype=np.uint8).reshape(2, 2)])
    >>> x = DiskArray.open(path)
    >>> x.shape, x[np.array([3, 0])].tolist(), x[1:3].shape, np.asarray(x[2:]).tolist()
    ((4, 2), [[6, 7], [0, 1]], (2, 2), [[4, 5], [6, 7]])
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


class DiskArray:
    """Rows of a C-order ``.npy`` file, read on demand (see the module docs).

    ``rows`` (optional) maps this array's row ``i`` to the file's row ``rows[i]``: a split or a
    subset of the file without copying it.
    """

    def __init__(self, path: str | Path, shape: tuple[int, ...], dtype: npt.DTypeLike,
                 offset: int, rows: npt.NDArray[np.intp] | None = None) -> None:
        self.path = Path(path)
        self._file_shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.intp)
        self._row_bytes = int(math.prod(self._file_shape[1:])) * self.dtype.itemsize
        self._fd: int | None = None

    @classmethod
    def open(cls, path: str | Path) -> DiskArray:
        """The array of a ``.npy`` file (C order, no objects).

        Raises:
            ValueError: not a ``.npy`` file this class can read.
        """
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
        if fortran or dtype.hasobject or not shape:
            raise ValueError(f"{path}: not a C-order numeric array of rank >= 1")
        expected = offset + int(math.prod(shape)) * dtype.itemsize
        if os.path.getsize(path) < expected:
            raise ValueError(f"{path}: truncated ({os.path.getsize(path)} < {expected} bytes)")
        return cls(path, shape, dtype, offset)

    # ------------------------------------------------------------------ numpy-like surface
    @property
    def shape(self) -> tuple[int, ...]:
        n = self._file_shape[0] if self.rows is None else len(self.rows)
        return (n, *self._file_shape[1:])

    @property
    def ndim(self) -> int:
        return len(self._file_shape)

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def setflags(self, write: bool | None = None, **_: Any) -> None:
        """Read-only already (``Dataset`` calls ``setflags(write=False)`` on its arrays)."""
        if write:
            raise ValueError("a DiskArray is read-only")

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None
                  ) -> np.ndarray:
        out = self._read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"DiskArray({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            head, rest = (key[0], key[1:]) if key else (slice(None), ())
            first = self[head]
            return np.asarray(first)[(slice(None), *rest)] if rest else first
        if isinstance(key, slice):
            return self.select(np.arange(len(self))[key])
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"index {key} is out of bounds for {len(self)} rows")
            return self._read(np.array([index]))[0]
        return self._read(np.asarray(key))

    def select(self, rows: npt.ArrayLike) -> DiskArray:
        """A lazy view of the given rows (of this array)."""
        picked = np.asarray(rows, dtype=np.intp)
        mapped = picked if self.rows is None else self.rows[picked]
        return DiskArray(self.path, self._file_shape, self.dtype, self.offset, mapped)

    def chunks(self, size: int = 4096) -> Iterator[np.ndarray]:
        """The rows in order, ``size`` at a time, as numpy arrays."""
        for start in range(0, len(self), size):
            yield self._read(np.arange(start, min(start + size, len(self))))

    # ------------------------------------------------------------------ reading
    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return self._fd

    def _read(self, index: npt.NDArray[Any]) -> np.ndarray:
        index = np.asarray(index)
        if index.dtype == np.bool_:
            index = np.flatnonzero(index)
        index = index.astype(np.intp, copy=False).reshape(-1)
        n = len(self)
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"index out of bounds for {n} rows")
        index = np.where(index < 0, index + n, index)
        file_rows = index if self.rows is None else self.rows[index]
        out = np.empty((index.size, *self._file_shape[1:]), dtype=self.dtype)
        if not index.size:
            return out
        order = np.argsort(file_rows, kind="stable")
        sorted_rows = file_rows[order]
        flat = out.reshape(index.size, -1).view(np.uint8).reshape(index.size, self._row_bytes)
        fd = self._descriptor()
        start = 0
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for end in (*breaks.tolist(), index.size):
            first, count = int(sorted_rows[start]), end - start
            data = _pread(fd, count * self._row_bytes, self.offset + first * self._row_bytes)
            block = np.frombuffer(data, np.uint8).reshape(count, self._row_bytes)
            flat[order[start:end]] = block
            start = end
        return out

    def __del__(self) -> None:
        if self._fd is not None:
            try:  # noqa: SIM105 (no contextlib at interpreter shutdown)
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fd"] = None
        return state


def _pread(fd: int, size: int, offset: int) -> bytes:
    parts = []
    while size > 0:
        chunk = os.pread(fd, min(size, 1 << 30), offset)
        if not chunk:
            raise OSError(f"unexpected end of file at byte {offset}")
        parts.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def write_npy(path: str | Path, shape: tuple[int, ...], dtype: npt.DTypeLike,
              chunks: Iterable[np.ndarray]) -> None:
    """Write a ``.npy`` file of ``shape`` and ``dtype`` from ``chunks`` of rows, in order.

    Raises:
        ValueError: the chunks do not add up to ``shape``.
    """
    dt = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False,
              "shape": tuple(int(s) for s in shape)}
    rows = 0
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_2_0(fh, header)
        for chunk in chunks:
            arr = np.ascontiguousarray(chunk, dtype=dt)
            if arr.shape[1:] != tuple(shape[1:]):
                raise ValueError(f"{path}: a chunk of shape {arr.shape} does not fit {shape}")
            fh.write(arr.tobytes())
            rows += arr.shape[0]
    if rows != shape[0]:
        raise ValueError(f"{path}: {rows} rows written, {shape[0]} expected")


__all__ = ["DiskArray", "write_npy"]
