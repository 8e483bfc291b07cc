"""The output folder of a training run: checked first, locked, and never emptied by surprise.

:func:`claim_output` runs before a run loads data or builds a model:

* ``--out`` must be (or become) a writable folder: a file, a read-only folder or a parent that
  is a file is an :class:`~archdsl.errors.OutputError` at once, not after an epoch;
* the folder is **locked** (``.archdsl-train.lock``, an OS lock that dies with its process): a
  second run on the same folder stops with a :class:`~archdsl.training.TrainingError` naming
  the first run's process while that one holds it;
* temporary files a killed run left behind (``.checkpoint.npz.*.tmp``, from an atomic write cut
  short by ``SIGKILL``) are removed;
* a folder that already holds a run's results is **not** emptied: a new run goes to a fresh
  subfolder ``run-2``, ``run-3``, ... (:attr:`RunFolder.note` says so), unless ``resume``
  continues those results or ``overwrite`` replaces them;
* nothing is created or deleted beyond the lock until the run has passed its checks (data,
  spec, checkpoint) and calls :meth:`RunFolder.commit`; a run that fails before that leaves the
  folder as it found it (a folder it had to create is removed again).

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with claim_output(root / "run", result_names=("metrics.csv",)) as folder:
    ...     folder.commit()
    ...     (folder.path / "metrics.csv").write_text("x")
    ...     folder.path.name, folder.note
    1
    ('run', None)
    >>> with claim_output(root / "run", result_names=("metrics.csv",)) as folder:
    ...     folder.commit()
    ...     folder.path.name, folder.path.is_dir(), folder.note is not None
    ('run-2', True, True)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from archdsl.errors import OutputError
from archdsl.fsutil import check_output_path
from archdsl.training.errors import TrainingError

#: The lock file in a run's output folder.
LOCK_NAME = ".archdsl-train.lock"
#: A temporary file of :func:`archdsl.fsutil.atomic_write_bytes` (``.NAME.XXXXXXXX.tmp``).
TEMP_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
#: The most fresh subfolders tried (``run-2`` ... ``run-999``).
MAX_RUNS = 999


@dataclass
class RunFolder:
    """Where a run writes (``path``), what was asked (``requested``), the locks it holds, and a
    sentence for the user when the run does not write where it was asked (``note``)."""

    requested: Path
    path: Path
    note: str | None = None
    overwrite: bool = False
    result_names: tuple[str, ...] = ()
    removed_temp: list[Path] = field(default_factory=list)
    created: bool = False
    committed: bool = False
    _locks: list[IO[Any]] = field(default_factory=list, repr=False)

    def commit(self) -> None:
        """The run has passed its checks and starts writing: create its fresh subfolder (and
        lock it), or with ``overwrite`` delete the earlier results."""
        if self.committed:
            return
        self.committed = True
        if self.path != self.requested:
            self.path = _fresh_subfolder(self.requested, self.path)
            self.note = (
                f"{self.requested} holds an earlier run's results, kept; this run writes to "
                f"{self.path} (--resume continues them, --overwrite replaces them)"
            )
            self._locks.append(_lock(self.path))
        self._clear_old_results()

    def _clear_old_results(self) -> None:
        if not self.overwrite:
            return
        for name in self.result_names:
            target = self.path / name
            try:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot replace '{target}': {exc.strerror or exc}") from None
        self.overwrite = False

    def release(self) -> None:
        """Give up the locks (also done when the process ends)."""
        while self._locks:
            handle = self._locks.pop()
            with contextlib.suppress(OSError):
                _unlock(handle)
                handle.close()


def has_results(folder: Path, result_names: Sequence[str]) -> bool:
    """Whether ``folder`` holds any of a run's result files or folders."""
    return any(os.path.lexists(folder / name) for name in result_names)


@contextlib.contextmanager
def claim_output(
    out: str | Path, *, result_names: Sequence[str], resume: bool = False,
    overwrite: bool = False,
) -> Iterator[RunFolder]:
    """Check, lock and clean ``out``, and choose where the run writes (see the module docs).

    ``result_names`` are the files and folders a run writes there. With ``resume`` the run
    continues in ``out`` itself.

    Raises:
        OutputError: ``out`` cannot be a writable folder.
        TrainingError: another run holds ``out``.
    """
    requested = Path(out)
    folder = RunFolder(requested, requested, result_names=tuple(result_names))
    try:
        folder.created = _make_folder(requested)
        folder._locks.append(_lock(requested))
        folder.removed_temp = remove_stale_temp_files(requested)
        if has_results(requested, result_names) and not resume:
            if overwrite:
                folder.overwrite = True
                folder.note = (f"{requested} held an earlier run's results; --overwrite: this "
                               "run replaces them")
            else:
                folder.path = _fresh_subfolder(requested, None)
                folder.note = (f"{requested} holds an earlier run's results, kept; this run "
                               f"writes to {folder.path}")
        yield folder
    finally:
        folder.release()
        if folder.created and not folder.committed:
            _remove_if_unused(requested)


def _remove_if_unused(folder: Path) -> None:
    """Delete a folder this run created and never used (only its lock file inside)."""
    with contextlib.suppress(OSError):
        if {p.name for p in folder.iterdir()} <= {LOCK_NAME}:
            (folder / LOCK_NAME).unlink(missing_ok=True)
            folder.rmdir()


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes in ``folder`` (safe while this
    run holds the folder's lock: nobody else writes there); returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if TEMP_FILE.match(entry.name) and entry.is_file() and not entry.is_symlink():
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed


def _make_folder(path: Path) -> bool:
    """Make sure ``path`` is a writable folder; returns whether it had to be created."""
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"cannot write the run to '{path}': it is a file, not a folder; give "
                          "--out a folder")
    existed = path.is_dir()
    check_output_path(path / LOCK_NAME)  # parents that are files, devices, ...; creates path
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to '{path}': permission denied (a read-only or "
                          "protected folder?); choose another --out")
    return not existed


def _fresh_subfolder(parent: Path, planned: Path | None) -> Path:
    """The first ``run-N`` that does not exist; created unless ``planned`` is ``None``
    (then only named: the parent's lock keeps other runs from taking it meanwhile)."""
    for n in range(2, MAX_RUNS + 1):
        candidate = parent / f"run-{n}"
        if planned is None:
            if not os.path.lexists(candidate):
                return candidate
            continue
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot create '{candidate}': {exc.strerror or exc}") from None
        return candidate
    raise OutputError(f"'{parent}' already holds {MAX_RUNS - 1} run folders; choose another "
                      "--out or use --overwrite")


def _lock(folder: Path) -> IO[Any]:
    """Hold the folder's lock file; raise when another process holds it."""
    path = folder / LOCK_NAME
    try:
        handle = open(path, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as exc:
        raise OutputError(f"cannot write to '{folder}': {exc.strerror or exc}; choose another "
                          "--out") from None
    try:
        _try_lock(handle)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read(200).strip() or "another process"
        handle.close()
        raise TrainingError(
            f"'{folder}' is in use by another archdsl train run ({holder}); wait for it to "
            "finish, or give this run another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def _try_lock(handle: IO[Any]) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            raise BlockingIOError from None
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(handle: IO[Any]) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


__all__ = ["LOCK_NAME", "RunFolder", "claim_output", "has_results", "remove_stale_temp_files"]
