"""CIFAR-10 from the official "python version": a ``cifar-10-batches-py/`` folder or its archive.

Each batch (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) is a pickle of a dict whose
``b"data"`` is a ``(10000, 3072)`` uint8 array holding the R, G and B planes of each image row by
row, so it reshapes directly to NCHW ``(10000, 3, 32, 32)``. ``batches.meta`` holds the class
names. Archives (``.tar.xz``, ``.tar.gz``, ...) are read in memory with :mod:`tarfile`, never
extracted, and every pickle goes through the restricted unpickler in
:mod:`archdsl.data.safe_pickle`.

Example:
    >>> ds = load_cifar10("~/.cache/archdsl/cifar10/cifar-10-python.tar.gz")  # doctest: +SKIP
    >>> ds.x_train.shape, ds.classes[:2]  # doctest: +SKIP
    ((50000, 3, 32, 32), ('airplane', 'automobile'))
"""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zlib
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from archdsl.data.checks import verify_content
from archdsl.data.dataset import Dataset
from archdsl.data.errors import WHERE_HINT, DataError
from archdsl.data.safe_pickle import safe_loads

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
# A batch file is ~31 MB; refuse bigger members instead of reading them into memory, and stop
# scanning an archive after more data than any CIFAR-10 copy holds (~180 MB), so a compressed
# bomb costs neither memory nor minutes of decompression.
_MAX_MEMBER_BYTES = 64 << 20
_MAX_ARCHIVE_BYTES = 512 << 20
_MAX_MEMBERS = 10_000


def read_members(source: str | Path, names: Collection[str]) -> dict[str, bytes]:
    """Read the files called ``names`` from a batches folder or an archive, in memory.

    Archive members are matched by base name wherever they sit (``cifar-10-batches-py/...``);
    reading stops as soon as all are found, so early members load fast from a compressed archive.

    Raises:
        DataError: ``source`` or a member is missing, or the archive is corrupt.
    """
    source = Path(source)
    wanted = set(names)
    if source.is_dir():
        return {name: _read_member_file(source / name) for name in sorted(wanted)}
    if not source.is_file():
        raise DataError(f"{source}: not found; {WHERE_HINT}")
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(source, mode="r:*") as tar:
            for count, member in enumerate(tar, 1):
                _check_scan(source, member, count)
                base = PurePosixPath(member.name).name
                if base not in wanted or base in found or not member.isfile():
                    continue
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - isfile() members always have data
                    continue
                found[base] = fh.read(_MAX_MEMBER_BYTES + 1)
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as exc:
        raise DataError(
            f"{source}: corrupt or truncated archive ({type(exc).__name__}: {exc}); "
            "delete it and download it again"
        ) from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise DataError(
            f"{source}: archive lacks {', '.join(missing)}; it is not the CIFAR-10 python version"
        )
    return found


def _check_scan(source: Path, member: tarfile.TarInfo, count: int) -> None:
    """Refuse an archive member that is too big, too far in, or one member too many."""
    if member.size > _MAX_MEMBER_BYTES:
        raise DataError(f"{source}: member {member.name} is too large ({member.size} B)")
    if member.offset_data + member.size > _MAX_ARCHIVE_BYTES or count > _MAX_MEMBERS:
        raise DataError(
            f"{source}: the archive holds more than any CIFAR-10 copy ({_MAX_ARCHIVE_BYTES} "
            f"bytes or {_MAX_MEMBERS} members); it is not the CIFAR-10 python version"
        )


def _read_member_file(path: Path) -> bytes:
    """One batch file of a ``cifar-10-batches-py`` folder: a regular file of sane size."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path}: not a regular file; a batch must be a plain file")
        if st.st_size > _MAX_MEMBER_BYTES:
            raise DataError(f"{path}: too large for a CIFAR-10 batch ({st.st_size} B)")
        with open(path, "rb") as fh:
            return fh.read(_MAX_MEMBER_BYTES + 1)
    except FileNotFoundError:
        raise DataError(f"{path}: not found; {WHERE_HINT}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def decode_batch(data: bytes, source: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Decode one pickled batch into ``x`` ``(N, 3, 32, 32)`` uint8 and ``y`` ``(N,)`` int64.

    Raises:
        DataError: the pickle is unsafe or corrupt, or its arrays have the wrong shape or labels.
    """
    batch = safe_loads(data, source)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{source}: not a CIFAR-10 batch (no b'data'/b'labels' entries)")
    x, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        shape = getattr(x, "shape", type(x).__name__)
        raise DataError(f"{source}: b'data' must be a (N, 3072) uint8 array, found {shape}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{source}: b'labels' is not a list of integers") from None
    if y.shape != (x.shape[0],):
        raise DataError(f"{source}: {y.shape} labels for {x.shape[0]} images")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= len(CIFAR10_CLASSES)):
        raise DataError(f"{source}: labels span {int(y.min())}..{int(y.max())}, not 0..9")
    return x.reshape(-1, 3, 32, 32), y


def decode_meta(data: bytes, source: str) -> tuple[str, ...]:
    """Return the class names stored in ``batches.meta``."""
    meta: Any = safe_loads(data, source)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
        raise DataError(f"{source}: batches.meta has no b'label_names' list")
    if len(names) != len(CIFAR10_CLASSES):
        raise DataError(f"{source}: batches.meta lists {len(names)} classes, expected 10")
    return tuple(n.decode("utf-8") for n in names)


def load_cifar10_batch(
    source: str | Path, batch: str = "data_batch_1"
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Load one batch (``data_batch_1`` .. ``data_batch_5`` or ``test_batch``) as ``(x, y)``.

    Fast for ``data_batch_1``, the first member of the official archive.

    Example:
        >>> x, y = load_cifar10_batch("cifar-10-batches-py")  # doctest: +SKIP
        >>> x.shape, y.shape  # doctest: +SKIP
        ((10000, 3, 32, 32), (10000,))
    """
    if batch not in (*TRAIN_BATCHES, TEST_BATCH):
        raise ValueError(f"unknown CIFAR-10 batch. Received: {batch!r}")
    data = read_members(source, [batch])[batch]
    return decode_batch(data, f"{source}:{batch}")


def load_cifar10(source: str | Path, *, verify: bool = True) -> Dataset:
    """Load all of CIFAR-10 from a ``cifar-10-batches-py`` folder or archive.

    With ``verify`` (the default) the decoded arrays are checked against the known content hashes
    (:data:`archdsl.data.sources.CONTENT_SHA256`), which also holds for copies whose batch
    files differ from the official ones only in their ``filenames`` entries.

    Raises:
        DataError: missing, corrupt or unsafe files, or a content hash mismatch.
    """
    members = read_members(source, [*TRAIN_BATCHES, TEST_BATCH, META])
    classes = decode_meta(members[META], f"{source}:{META}")
    train = [decode_batch(members[b], f"{source}:{b}") for b in TRAIN_BATCHES]
    x_test, y_test = decode_batch(members[TEST_BATCH], f"{source}:{TEST_BATCH}")
    del members
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    if verify:
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "x_train": x_train,
            "y_train": y_train,
            "x_test": x_test,
            "y_test": y_test,
        }
        verify_content("cifar10", arrays, str(source))
    return Dataset("cifar10", x_train, y_train, x_test, y_test, classes)
