"""A restricted unpickler for the CIFAR-10 batch files: numpy arrays and plain containers only.

A CIFAR-10 batch is a Python 2 pickle of a dict holding a numpy array and lists. Unpickling
arbitrary data can run arbitrary code, so :func:`safe_loads` resolves only the few globals that
rebuild a numpy array (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``, ``_frombuffer``,
and ``_codecs.encode`` for Python 3 protocol-2 bytes) and refuses every other one, so a
malicious file raises :class:`~archdsl.data.errors.DataError` instead of executing.

Example:
    >>> import pickle, numpy as np
    >>> safe_loads(pickle.dumps({b"data": np.arange(3, dtype=np.uint8)}, protocol=2), "x")
    {b'data': array([0, 1, 2], dtype=uint8)}
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any

import numpy as np

from archdsl.data.errors import DataError

# The array reconstructor, taken from numpy itself, so the whitelist maps to the real object in
# numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) without importing deprecated modules.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]  # protocol-5 array pickles
_SCALAR = np.int64(0).__reduce__()[0]

_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 protocol-2 pickles spell bytes as _codecs.encode(str, "latin1"); it only encodes.
    ("_codecs", "encode"): codecs.encode,
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _SCALAR
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _FROMBUFFER


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle references a global outside the whitelist."""


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` only returns whitelisted numpy objects."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"global '{module}.{name}' is forbidden") from None


def safe_loads(data: bytes, source: str) -> Any:
    """Unpickle ``data`` (read from ``source``) allowing only numpy arrays and builtin containers.

    Strings are decoded as ``bytes`` (``encoding="bytes"``), as the CIFAR-10 batches need.

    Raises:
        DataError: the pickle is truncated, corrupt, or references a forbidden global.

    Example:
        >>> import pickle, os
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> safe_loads(pickle.dumps(Evil()), "evil.pkl")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        archdsl.data.errors.DataError: evil.pkl: refusing to unpickle: global '...system' ...
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise DataError(
            f"{source}: refusing to unpickle: {exc}; this is not an official CIFAR-10 batch, "
            "delete it and download the dataset again"
        ) from None
    except Exception as exc:  # truncated or corrupt pickles raise many kinds of errors
        raise DataError(
            f"{source}: corrupt pickle ({type(exc).__name__}: {exc}); "
            "delete it and download the dataset again"
        ) from None
