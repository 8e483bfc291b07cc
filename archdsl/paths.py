"""Where ``extends:`` and ``import:`` may read: the path policy of spec files.

A spec may name other files, so a spec from anywhere could otherwise make archdsl read (and
quote in an error) any file the user can read: ``extends: /etc/passwd``. Paths are therefore
resolved, symbolic links included, and accepted only inside the spec's own folder tree,
archdsl's shipped specs (``specs/`` with ``specs/lib/``) and folders given with
``--allow-path DIR`` (:attr:`archdsl.source.Limits.allow_paths`). A relative name that is not
next to the spec falls back to the shipped spec or library of that name.

Example:
    >>> resolve_path("efficientnet_b0.yaml", "/nowhere/net.yaml", None).name
    'efficientnet_b0.yaml'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from archdsl.errors import Location, SpecError
from archdsl.source import DEFAULT_LIMITS, Limits


def builtin_specs_dir() -> Path:
    """The shipped spec library (``specs/`` in the repository, ``archdsl.specs`` installed)."""
    import importlib

    package = importlib.import_module("archdsl.specs")
    return Path(str(package.__file__)).resolve().parent


def allowed_roots(spec_file: str | Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Path, ...]:
    """The folders ``extends:``/``import:`` may read: the spec's folder tree, archdsl's shipped
    library (``specs/``, with ``specs/lib/``) and every ``--allow-path`` folder.

    >>> roots = allowed_roots("specs/resnet18.yaml")
    >>> roots[0] == builtin_specs_dir() == roots[1]
    True
    """
    folders = [Path(spec_file).parent, builtin_specs_dir(), *map(Path, limits.allow_paths)]
    return tuple(real_path(f) or Path(os.path.abspath(f)) for f in folders)


def real_path(path: str | Path) -> Path | None:
    """``path`` with every symbolic link resolved, or None when it cannot be (a bad name)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError, RuntimeError):
        return None


def resolve_path(
    ref: str, relative_to: str, loc: Location | None, roots: Sequence[Path] | None = None
) -> Path:
    """Resolve an ``import``/``extends`` path to a file whose real path is inside ``roots``.

    ``ref`` is relative to the file that names it; when no such file exists there, a shipped
    spec or library of the same relative name is used (``extends: efficientnet_b0.yaml``,
    ``import: [lib/resnet.yaml]``). A path outside ``roots`` (by default
    :func:`allowed_roots` of ``relative_to``) is refused, existing or not, before it is opened.

    >>> resolve_path("lib/resnet.yaml", "/nowhere/net.yaml", None).name
    'resnet.yaml'
    >>> resolve_path("/etc/passwd", "/nowhere/net.yaml", None)
    Traceback (most recent call last):
    ...
    archdsl.errors.SpecError: '/etc/passwd' is outside the folders a spec may read from
    """
    roots = tuple(roots) if roots is not None else allowed_roots(relative_to)
    candidates = [Path(relative_to).parent / ref]
    if not Path(ref).is_absolute():
        candidates.append(builtin_specs_dir() / ref)
    outside: Path | None = None
    for candidate in candidates:
        real = real_path(candidate)
        if real is None:
            continue
        if not any(real.is_relative_to(root) for root in roots):
            outside = outside or candidate
            continue
        if _exists(real):
            return candidate
    if outside is not None and outside == candidates[0]:
        raise SpecError(
            f"'{ref}' is outside the folders a spec may read from",
            loc,
            hint=f"extends: and import: read files in the spec's folder ({roots[0]}) and below, "
            "and archdsl's shipped specs; to allow another folder, pass --allow-path DIR",
        )
    raise SpecError(
        f"cannot find '{ref}' (looked in {', '.join(str(c) for c in candidates)})",
        loc,
        hint="paths are relative to the file that names them; shipped specs and libraries "
        "are found by name ('efficientnet_b0.yaml', 'lib/resnet.yaml')",
    )


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a loop: not a file a spec can name
        return False
