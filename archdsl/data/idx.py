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
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from archdsl.data.checks import verify_content
from archdsl.data.dataset import Dataset
from archdsl.data.errors import WHERE_HINT, DataError
from archdsl.data.sources import IDX_FILES

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


def parse_idx(data: bytes, source: str) -> npt.NDArray[np.generic]:
    """Decode the bytes of one (already decompressed) idx file into an array.

    Raises:
        DataError: wrong magic number, or the size does not match the header.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(
            f"{source}: not an idx file (magic {data[:4].hex() or 'missing'}); "
            "delete it and download the dataset again"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated idx header; delete it and download it again")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{source}: idx file has {len(data)} bytes, header {shape} needs {expected} "
            "(truncated or corrupt); delete it and download it again"
        )
    arr: npt.NDArray[np.generic] = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | Path) -> npt.NDArray[np.generic]:
    """Read an idx file, gunzipping it when it starts with the gzip magic.

    Raises:
        DataError: the file is missing, unreadable, a broken gzip stream, or not idx.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: not found; {WHERE_HINT}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: corrupt or truncated gzip ({exc}); delete it and download it again"
            ) from None
    return parse_idx(data, str(path))


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
    directory: str | Path, name: str, classes: tuple[str, ...], *, verify: bool = False
) -> Dataset:
    """Load the four MNIST-style idx files in ``directory`` as a ``(N, 1, 28, 28)`` uint8 dataset.

    ``name`` is the dataset's name (``"mnist"``, ``"fashion_mnist"``); with ``verify=True`` the
    decoded arrays are checked against its known content hashes.

    Raises:
        DataError: a file is missing, corrupt, inconsistent, or fails its content hash.

    Example:
        >>> folder = "../shared/datasets/mnist"
        >>> ds = load_idx_dataset(folder, "mnist", MNIST_CLASSES)  # doctest: +SKIP
        >>> ds.x_train.shape, ds.x_train.dtype, ds.y_train.dtype  # doctest: +SKIP
        ((60000, 1, 28, 28), dtype('uint8'), dtype('int64'))
    """
    directory = Path(directory)
    paths = [find_idx_file(directory, f) for f in IDX_FILES]
    x_train, y_train = _check_pair(paths[0], paths[1], len(classes))
    x_test, y_test = _check_pair(paths[2], paths[3], len(classes))
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
    px: Path, py: Path, num_classes: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Read an images file and its labels file, check they agree, and add the channel axis."""
    x, y = read_idx(px), read_idx(py)
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
