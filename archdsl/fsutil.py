"""Files: bounded reads of regular files, and atomic writes of regular files only.

Spec files are read with :func:`read_file_bytes`: a FIFO, a device (``/dev/zero``), a socket or
a directory is refused before it is opened, and never more than the size limit is read.

Every command that writes goes through :func:`atomic_write_bytes` / :func:`atomic_write_text`:

* the bytes go to a temporary file in the target's folder, are flushed to disk and then
  renamed over the target (``os.replace``), so an interrupted write never leaves half a file and
  never loses the previous one;
* the target must be a regular file or not exist yet: a directory, a FIFO, a socket or a device
  (``-o /dev/null``) is refused, never replaced; missing parent folders are created, and a parent
  that is a file is an error;
* any failure (a read-only folder, a full disk) is an :class:`OutputError` naming the path, which
  the CLI reports with exit code 2; the temporary file is removed.

:func:`check_output_path` runs the same checks without writing, for commands that should refuse a
bad output path before they start long work, and :func:`safe_filename` turns a model or run
name into one file name that cannot leave its folder.

Example:
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "sub" / "net.dot"
    >>> atomic_write_text(out, "digraph {}\\n")
    >>> out.read_text()
    'digraph {}\\n'
    >>> atomic_write_text(out.parent, "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    archdsl.errors.OutputError: cannot write '...sub': it is a directory; give a file name
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path

from archdsl.errors import LimitError, Location, OutputError, SpecError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_file_bytes(
    path: str | Path, max_bytes: int, what: str = "spec", name: str | None = None
) -> bytes:
    """Read a regular file of at most ``max_bytes`` bytes; anything else is a located error.

    A FIFO, a device (``/dev/zero``), a socket or a directory is refused before it is opened,
    and the read stops after ``max_bytes + 1`` bytes even when the size on disk lies (``/proc``).

    >>> read_file_bytes("/dev/zero", 100)
    Traceback (most recent call last):
    ...
    archdsl.errors.SpecError: '/dev/zero' is a character device, not a regular file; a spec \
is a YAML text file
    """
    name = str(path) if name is None else name
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SpecError(f"cannot read '{name}': no such file", hint="check the path") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read '{name}': {_reason(exc)}", hint="check the path") from None
    _require_regular(st.st_mode, name, what)
    if st.st_size > max_bytes:
        raise LimitError(
            f"'{name}' is {st.st_size} bytes, more than the limit of {max_bytes}",
            Location(name, 1, 1),
            hint="raise it with --max-file-bytes if this is intended",
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SpecError(f"cannot read '{name}': {_reason(exc)}") from None
    try:
        _require_regular(os.fstat(fd).st_mode, name, what)  # replaced since the stat above?
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise LimitError(
                    f"'{name}' is larger than the limit of {max_bytes} bytes",
                    Location(name, 1, 1),
                    hint="raise it with --max-file-bytes if this is intended",
                )
    except OSError as exc:
        raise SpecError(f"cannot read '{name}': {_reason(exc)}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _require_regular(mode: int, name: str, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise SpecError(f"'{name}' is a directory, expected a YAML {what} file")
    kind = next((text for test, text in _KINDS if test(mode)), "not a plain file")
    raise SpecError(f"'{name}' is {kind}, not a regular file; a {what} is a YAML text file")


def check_output_path(path: str | Path) -> Path:
    """Make sure ``path`` can become a regular file: refuse directories, devices, FIFOs and
    parents that are files; create missing parent folders. Returns ``path`` as a Path.

    Raises:
        OutputError: the path cannot be written (the message says why).
    """
    target = Path(path)
    shown = str(path)
    if not target.name or shown.endswith(("/", os.sep)):
        raise OutputError(f"cannot write '{shown}': it names a folder, not a file")
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise OutputError(_parent_is_file(target)) from None
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write '{shown}': {_reason(exc, writing=True)}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write '{shown}': it is a directory; give a file name")
        kind = next((text for test, text in _KINDS if test(st.st_mode)), None)
        if kind is not None:
            raise OutputError(
                f"cannot write '{shown}': it is {kind}; archdsl only writes regular files"
            )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(_parent_is_file(target)) from None
    except OSError as exc:
        reason = _reason(exc, writing=True)
        message = f"cannot create the folder '{target.parent}' for '{shown}': {reason}"
        raise OutputError(message) from None
    return target


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``.

    Raises:
        OutputError: the path is not writable (also an :class:`OSError`).
    """
    target = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {_reason(exc, writing=True)}") from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        check_output_path(target)  # still not a directory or device (replaced meanwhile?)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write '{path}': {_reason(exc, writing=True)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomic UTF-8 text write (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))


def safe_filename(name: str, default: str = "model", max_chars: int = 100) -> str:
    """One file name made from ``name``: no folders, no ``..``, no control or shell characters.

    >>> safe_filename("../../etc/cron.d/x"), safe_filename("ResNet 50 (v1.5)"), safe_filename("..")
    ('etc_cron.d_x', 'ResNet_50_v1.5', 'model')
    """
    text = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._-")
    text = re.sub(r"_+", "_", text)[:max_chars].strip("._-")
    return text or default


def output_file(folder: str | Path, name: str) -> Path:
    """``folder / safe_filename(name)``: a path that is certain to stay inside ``folder``.

    >>> output_file("runs", "../x.csv").as_posix()
    'runs/x.csv'
    """
    return Path(folder) / safe_filename(name)


def _parent_is_file(target: Path) -> str:
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            return f"cannot write '{target}': '{parent}' is a file, not a folder"
    return f"cannot write '{target}': a parent of it is not a folder"


def _reason(exc: BaseException, writing: bool = False) -> str:
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied" + (" (a read-only or protected folder?)" if writing else "")
        if exc.errno == errno.EROFS:
            return "read-only file system"
        if exc.errno == errno.ENOSPC:
            return "no space left on the device"
        if exc.strerror:
            return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
