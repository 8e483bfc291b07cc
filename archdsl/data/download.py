"""Download a dataset's official files, verifying each checksum before it enters the data dir.

Each file is streamed into a temporary file next to its destination, hashed while it is written,
and moved into place with :func:`os.replace` (atomic) only when its checksum matches; a mismatch
or an interrupted transfer deletes the temporary file, so a half-written or forged file never
sits under a real file name.

Example:
    >>> download("mnist", "~/.cache/archdsl")  # doctest: +SKIP
    PosixPath('/home/me/.cache/archdsl/mnist')
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from archdsl.data.checks import file_digest, new_hash
from archdsl.data.errors import DataError
from archdsl.data.sources import SOURCES, RemoteFile

#: ``progress(file_name, bytes_done, bytes_total_or_None)``, called after every chunk.
ProgressFn = Callable[[str, int, int | None], None]

_CHUNK = 1 << 16


def download_file(
    url: str,
    dest: str | Path,
    checksum: str,
    algorithm: str = "md5",
    *,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` into ``dest`` atomically, after checking its ``md5``/``sha256`` digest.

    Raises:
        DataError: the transfer failed or the checksum differs (no file is left behind).

    Example:
        >>> url = "http://127.0.0.1:8000/t.gz"
        >>> download_file(url, "/tmp/t.gz", "d41d8cd98f00b204e9800998ecf8427e")  # doctest: +SKIP
    """
    dest = Path(dest)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise DataError(f"{url}: only http(s) URLs can be downloaded, not {scheme or 'a path'}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = new_hash(algorithm)
        request = urllib.request.Request(url, headers={"User-Agent": "archdsl"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(dest.name, done, total)
        got = digest.hexdigest()
        if got != checksum.lower():
            raise DataError(
                f"{url}: {algorithm} {got} does not match the expected {checksum}; "
                f"the download was corrupted or tampered with and was not saved to {dest}"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(
            f"{url}: download failed ({reason}); check the network or the URL"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def download(
    name: str,
    data_dir: str | Path,
    *,
    base_url: str | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Download dataset ``name`` into ``data_dir/<subdir>`` and return that folder.

    Files already present with the right checksum are kept (unless ``force``). The official
    mirrors are tried in order; ``base_url`` replaces them (a file is fetched from
    ``base_url + file_name``), e.g. a local mirror or a test server.

    Raises:
        DataError: unknown dataset, or no mirror delivered a file with the right checksum.

    Example:
        >>> show = lambda file, done, total: print(file, done, total)
        >>> download("fashion_mnist", "/data", progress=show)  # doctest: +SKIP
    """
    from archdsl.data.resolve import canonical_name

    key = canonical_name(name)
    if key not in SOURCES:
        raise DataError(f"{key}: nothing to download, it ships with scikit-learn")
    source = SOURCES[key]
    folder = Path(data_dir).expanduser() / source.subdir
    mirrors = (base_url,) if base_url is not None else source.mirrors
    for remote in source.files:
        _fetch(remote, folder / remote.name, mirrors, progress, timeout, force)
    return folder


def _fetch(
    remote: RemoteFile,
    dest: Path,
    mirrors: tuple[str, ...],
    progress: ProgressFn | None,
    timeout: float,
    force: bool,
) -> None:
    """Download one file from the first mirror that delivers it intact."""
    if not force and dest.is_file() and file_digest(dest, remote.algorithm) == remote.checksum:
        return
    errors: list[str] = []
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        try:
            download_file(
                url + remote.name,
                dest,
                remote.checksum,
                remote.algorithm,
                progress=progress,
                timeout=timeout,
            )
            return
        except DataError as exc:
            errors.append(str(exc))
    raise DataError(errors[0] if len(errors) == 1 else "; ".join(errors))
