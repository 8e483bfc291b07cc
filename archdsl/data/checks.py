"""Checksums of files (md5/sha256, streamed) and of decoded arrays (content hashes).

Example:
    >>> import numpy as np
    >>> content_sha256(np.zeros((1, 1, 1, 1), np.uint8))[:16]
    '6e340b9cffb37a98'
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from archdsl.data.errors import DataError
from archdsl.data.sources import CONTENT_SHA256


def new_hash(algorithm: str) -> hashlib._Hash:
    """Return a fresh hash object for ``"md5"`` or ``"sha256"`` (md5 is only an integrity check).

    Example:
        >>> new_hash("md5").hexdigest()
        'd41d8cd98f00b204e9800998ecf8427e'
    """
    if algorithm == "md5":
        return hashlib.md5(usedforsecurity=False)
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ValueError(f"unsupported checksum algorithm. Received: {algorithm!r}")


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, read in 1 MiB chunks.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> file_digest(f.name, "md5"); os.remove(f.name)
        '900150983cd24fb0d6963f7d28e17f72'
    """
    h = new_hash(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def content_sha256(arr: npt.NDArray[np.generic]) -> str:
    """sha256 of an array's C-order ``uint8`` bytes; 4-D images are hashed in NHWC order.

    That is the published layout of every dataset here, so the hash does not depend on the
    NCHW layout the loaders return.
    """
    a = arr.transpose(0, 2, 3, 1) if arr.ndim == 4 else arr
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.uint8).data).hexdigest()


def verify_content(dataset: str, arrays: dict[str, npt.NDArray[np.generic]], source: str) -> None:
    """Check decoded arrays against :data:`~archdsl.data.sources.CONTENT_SHA256`.

    Arrays without a known hash are not checked.

    Raises:
        DataError: a hash differs (the message names ``source``, the file or archive read).
    """
    known = CONTENT_SHA256.get(dataset, {})
    for key, arr in arrays.items():
        if key not in known:
            continue
        got = content_sha256(arr)
        if got != known[key]:
            raise DataError(
                f"{source}: decoded {dataset} {key} has sha256 {got[:16]}..., expected "
                f"{known[key][:16]}...; the copy is corrupt or not the official one: "
                "delete it and download it again (or pass --no-verify to use it as it is)"
            )
