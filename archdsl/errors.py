"""Errors a user can cause, each carrying the place in the spec that caused it.

Every error archdsl raises for bad input is an :class:`ArchdslError`. The CLI prints
:meth:`ArchdslError.render` (``file:line:col: error: ...`` plus the offending line and a caret)
and exits with code 2; it never shows a Python traceback for these.

Example:
    >>> from archdsl.errors import SpecError, Location
    >>> err = SpecError("unknown layer type 'conv'", Location("net.yaml", 3, 5))
    >>> str(err)
    "net.yaml:3:5: unknown layer type 'conv'"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """A 1-based position in a source file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ArchdslError(Exception):
    """Base class of every error caused by user input (exit code 2 in the CLI)."""

    kind = "error"

    def __init__(self, message: str, loc: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message

    def render(self, source: str | None = None) -> str:
        """Return the full message: location, the offending line with a caret, and the hint."""
        head = (
            f"{self.loc}: {self.kind}: {self.message}"
            if self.loc
            else f"{self.kind}: {self.message}"
        )
        lines = [head]
        excerpt = caret_excerpt(self.loc, source)
        if excerpt:
            lines.append(excerpt)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class SpecError(ArchdslError):
    """The YAML text or its structure is invalid (syntax, schema, unknown names, limits)."""

    kind = "spec error"


class GraphError(ArchdslError):
    """The graph is invalid: unknown references, duplicate ids, cycles, arity, dangling outputs."""

    kind = "graph error"


class ShapeError(ArchdslError):
    """A node cannot accept the shapes it receives."""

    kind = "shape error"


class LimitError(SpecError):
    """A safety limit was exceeded (file size, node count, nesting, parameters...)."""

    kind = "limit exceeded"


class BackendError(ArchdslError):
    """A framework backend is missing or cannot lower a node."""

    kind = "backend error"


def caret_excerpt(loc: Location | None, source: str | None = None) -> str:
    """Return the source line at ``loc`` with a caret under the column, or ``""``."""
    if loc is None or loc.line < 1:
        return ""
    if source is None:
        try:
            source = Path(loc.file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    all_lines = source.splitlines()
    if loc.line > len(all_lines):
        return ""
    text = all_lines[loc.line - 1].rstrip()
    if len(text) > 160:
        text = text[:157] + "..."
    gutter = f"{loc.line:>5} | "
    pad = " " * (len(gutter) - 2) + "| "
    return f"{gutter}{text}\n{pad}{' ' * max(loc.col - 1, 0)}^"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` naming the closest choices (up to 3), or ``""``.

    >>> did_you_mean("conv", ["conv1d", "conv2d", "conv3d", "relu"])
    " Did you mean 'conv1d', 'conv2d' or 'conv3d'?"
    """
    close = sorted(difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6))
    if not close:
        return ""
    quoted = [f"'{c}'" for c in close]
    text = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" Did you mean {text}?"


def choices_text(choices: Iterable[str], limit: int = 12) -> str:
    """Format valid choices for an error message."""
    items = sorted(choices)
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
