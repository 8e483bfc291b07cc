"""MNIST and Fashion-MNIST: the four idx files, gzip-compressed or raw.

The idx format is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the data, big-endian, row-major.

Example:
    >>> import numpy as np
    >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    >>> parse_idx(raw, "labels")
    array([7, 8, 9], dtype=uint8)
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from archdsl.data.checks import verify_content
from archdsl.data.dataset import Dataset
from archdsl.data.errors import WHERE_HINT, DataError
from archdsl.data.sources import IDX_FILES, KNOWN_SHAPES

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


#: The largest idx file :func:`read_idx` decodes (MNIST's largest is 47 MB); an idx header or
#: a gzip stream asking for more is refused before anything that large is allocated.
MAX_IDX_BYTES = 512 << 20
_MAX_NDIM = 8


def _header(data: bytes, source: str) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Decode the magic and the sizes: (dtype, shape, bytes of the data after the header)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(
            f"{source}: not an idx file (magic {data[:4].hex() or 'missing'}); "
            "delete it and download the dataset again"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    if ndim > _MAX_NDIM:
        raise DataError(f"{source}: idx header claims {ndim} dimensions; corrupt file")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{source}: truncated idx header; delete it and download it again")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return dtype, shape, math.prod(shape) * dtype.itemsize  # Python ints: no overflow


def parse_idx(data: bytes, source: str) -> npt.NDArray[np.generic]:
    """Decode the bytes of one (already decompressed) idx file into an array.

    Raises:
        DataError: wrong magic number, or the size does not match the header.
    """
    dtype, shape, size = _header(data, source)
    header = 4 + 4 * len(shape)
    if len(data) != header + size:
        raise DataError(
            f"{source}: idx file has {len(data)} bytes, header {shape} needs {header + size} "
            "(truncated or corrupt); delete it and download it again"
        )
    arr: npt.NDArray[np.generic] = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(
    path: str | Path,
    *,
    max_bytes: int = MAX_IDX_BYTES,
    expected_shape: tuple[int, ...] | None = None,
) -> npt.NDArray[np.generic]:
    """Read an idx file, gunzipping it when it starts with the gzip magic.

    The header is decoded first; a header needing more than ``max_bytes`` (or, when given,
    another shape than ``expected_shape``) is refused before the data is read, and a gzip
    stream is decompressed only up to the size its header announces, so a gzip bomb costs no
    more memory than a genuine file.

    Raises:
        DataError: the file is missing, unreadable, not a regular file, a broken or oversized
            gzip stream, or not idx.
    """
    path = Path(path)
    source = str(path)
    try:
        with _open_regular(path) as fh:
            stream: Any = fh
            if fh.read(2) == b"\x1f\x8b":
                fh.seek(0)
                stream = gzip.GzipFile(fileobj=fh, mode="rb")
            else:
                fh.seek(0)
            head = stream.read(4)
            head += stream.read(4 * head[3]) if len(head) == 4 else b""
            dtype, shape, size = _header(head, source)
            if expected_shape is not None and shape != tuple(expected_shape):
                raise DataError(
                    f"{source}: idx header says shape {shape}, expected {tuple(expected_shape)}; "
                    "the file is corrupt or not the official one (--no-verify loads it anyway)"
                )
            if size > max_bytes:
                raise DataError(
                    f"{source}: idx header {shape} asks for {size} bytes, more than the "
                    f"{max_bytes} an idx file may hold here; corrupt file"
                )
            body = stream.read(size + 1)  # one byte more: a longer stream is an error too
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt or truncated gzip ({exc}); delete it and download it again"
        ) from None
    if len(body) != size:
        raise DataError(
            f"{source}: idx data has {'more' if len(body) > size else len(body)} bytes, "
            f"header {shape} needs {size} (truncated or corrupt); delete it and download it again"
        )
    arr: npt.NDArray[np.generic] = np.frombuffer(body, dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; a FIFO or device is refused before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found; {WHERE_HINT}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path}: not a regular file; a dataset file must be a plain file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None


def find_idx_file(directory: Path, name: str) -> Path:
    """Return ``directory/name`` or its uncompressed twin (``name`` without ``.gz``).

    Raises:
        DataError: neither exists.
    """
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory / name}: not found; {WHERE_HINT}")


def load_idx_dataset(
    directory: str | Path, name: str, classes: tuple[str, ...], *, verify: bool = True
) -> Dataset:
    """Load the four MNIST-style idx files in ``directory`` as a ``(N, 1, 28, 28)`` uint8 dataset.

    ``name`` is the dataset's name (``"mnist"``, ``"fashion_mnist"``). With ``verify`` (the
    default) each file's header must give the dataset's known shape, checked before its data
    is read, and the decoded arrays must match its known content hashes.

    Raises:
        DataError: a file is missing, corrupt, inconsistent, or fails its content hash.

    Example:
        >>> folder = "~/.cache/archdsl/mnist"
        >>> ds = load_idx_dataset(folder, "mnist", MNIST_CLASSES)  # doctest: +SKIP
        >>> ds.x_train.shape, ds.x_train.dtype, ds.y_train.dtype  # doctest: +SKIP
        ((60000, 1, 28, 28), dtype('uint8'), dtype('int64'))
    """
    directory = Path(directory)
    paths = [find_idx_file(directory, f) for f in IDX_FILES]
    known = KNOWN_SHAPES.get(name, {}) if verify else {}
    shapes = [known.get(key) for key in ("x_train", "y_train", "x_test", "y_test")]
    x_train, y_train = _check_pair(paths[0], paths[1], len(classes), shapes[0], shapes[1])
    x_test, y_test = _check_pair(paths[2], paths[3], len(classes), shapes[2], shapes[3])
    if verify:
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "x_train": x_train,
            "y_train": y_train,
            "x_test": x_test,
            "y_test": y_test,
        }
        verify_content(name, arrays, str(directory))
    return Dataset(name, x_train, y_train, x_test, y_test, classes)


def _check_pair(
    px: Path,
    py: Path,
    num_classes: int,
    x_shape: tuple[int, ...] | None = None,
    y_shape: tuple[int, ...] | None = None,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Read an images file and its labels file, check they agree, and add the channel axis."""
    x, y = read_idx(px, expected_shape=x_shape), read_idx(py, expected_shape=y_shape)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(f"{px}: expected uint8 images (N, H, W), found {x.dtype} {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "iu":
        raise DataError(
            f"{py}: expected {x.shape[0]} integer labels to match {px}, found {y.shape}"
        )
    labels = y.astype(np.int64)
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise DataError(
            f"{py}: labels span {int(labels.min())}..{int(labels.max())}, outside the "
            f"{num_classes} classes; delete it and download it again"
        )
    images: npt.NDArray[np.uint8] = x[:, None, :, :].astype(np.uint8, copy=False)
    return images, labels
