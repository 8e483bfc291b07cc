"""The error raised when a dataset's files are missing, corrupt, unsafe or fail a checksum.

Example:
    >>> from archdsl.data.errors import DataError
    >>> str(DataError("/data/mnist/train-images-idx3-ubyte.gz: not found; set --data-dir"))
    '/data/mnist/train-images-idx3-ubyte.gz: not found; set --data-dir'
"""

from __future__ import annotations

from archdsl.errors import ArchdslError

#: The advice appended to every "files not found" message.
WHERE_HINT = "set --data-dir or ARCHDSL_DATA, or run with --download"


class DataError(ArchdslError):
    """A dataset file is missing, truncated, corrupt, unsafe, or fails its checksum.

    The message is one line naming the file path and what to do about it (CLI exit code 2).
    """

    kind = "data error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
