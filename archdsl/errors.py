"""Errors a user can cause, each carrying the place in the spec that caused it.

Every error archdsl raises for bad input is an :class:`ArchdslError`. The CLI prints
:meth:`ArchdslError.render` (``file:line:col: error: ...`` plus the offending line and a caret)
and exits with code 2; it never shows a Python traceback for these.

This module is the one place messages are formatted for a terminal, so it makes them safe there:
control characters, ANSI/OSC escape sequences, bidirectional overrides and lone surrogates are
shown escaped (``\\x1b``), messages are clipped to :data:`MAX_MESSAGE_CHARS`, and the excerpt
shows at most :data:`MAX_EXCERPT_CHARS` characters of the offending line around the caret. The
excerpt comes only from texts the loader registered with :func:`remember_source`; rendering never
opens a file.

Example:
    >>> from archdsl.errors import SpecError, Location
    >>> err = SpecError("unknown layer type 'conv'", Location("net.yaml", 3, 5))
    >>> str(err)
    "net.yaml:3:5: unknown layer type 'conv'"
    >>> str(SpecError("unknown layer type '\\x1b[31mred'"))
    "unknown layer type '\\\\x1b[31mred'"
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The longest message (and hint) :meth:`ArchdslError.render` prints; longer ones are clipped.
MAX_MESSAGE_CHARS = 2_000
#: Characters of the offending line shown in an excerpt (a window around the caret).
MAX_EXCERPT_CHARS = 120
_MAX_SOURCES = 16

# C0/C1 controls (ESC starts ANSI/OSC sequences), DEL, line/paragraph separators, bidi overrides
# and isolates, BOM, and lone surrogates (which cannot even be encoded for the terminal).
_UNSAFE_CHARS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff"
)


@functools.cache
def _unsafe(keep_newlines: bool) -> re.Pattern[str]:
    """The unsafe characters as a pattern, compiled on first use: a class that reaches into the
    surrogates takes about a millisecond to compile, and most runs print no message."""
    return re.compile(f"[{_UNSAFE_CHARS}]" if keep_newlines else f"[{_UNSAFE_CHARS}\n\t]")


def printable(text: str, limit: int | None = MAX_MESSAGE_CHARS, keep_newlines: bool = False) -> str:
    """``text`` safe for a terminal: unsafe characters escaped, clipped to ``limit`` characters.

    >>> printable("a\\x1b]0;title\\x07b\\ud800")
    'a\\\\x1b]0;title\\\\x07b\\\\ud800'
    >>> len(printable("x" * 10_000, 100)) <= 100
    True
    """
    if limit is not None and len(text) > limit:
        text = clip(text, limit)
    return _unsafe(keep_newlines).sub(lambda m: ascii(m.group())[1:-1], text)


def clip(text: str, limit: int) -> str:
    """Keep the start and the end of a ``text`` longer than ``limit``, saying how much is left out.

    >>> clip("a" * 50 + "b" * 50, 60)
    'aaaaaaaaaaaaa … (80 characters omitted) … bbbbbbb'
    """
    if len(text) <= limit:
        return text
    room = max(limit - 40, 2)  # the note takes at most 40 characters
    head = room * 2 // 3
    tail = room - head
    return text[:head] + f" … ({len(text) - room} characters omitted) … " + text[-tail:]


@dataclass(frozen=True)
class Location:
    """A 1-based position in a source file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{printable(self.file, 300)}:{self.line}:{self.col}"


class ArchdslError(Exception):
    """Base class of every error caused by user input (exit code 2 in the CLI)."""

    kind = "error"

    def __init__(self, message: str, loc: Location | None = None, hint: str | None = None):
        # Bound the message at once: a value quoted into it may be megabytes long.
        message = clip(message, 4 * MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = None if hint is None else clip(hint, 4 * MAX_MESSAGE_CHARS)

    def __str__(self) -> str:
        text = f"{self.loc}: {self.message}" if self.loc else self.message
        return printable(text, keep_newlines=True)

    def render(self, source: str | None = None) -> str:
        """Return the full message: location, the offending line with a caret, and the hint.

        ``source`` is the text the location points into; without it, the text the loader
        registered for ``loc.file`` (:func:`remember_source`) is used, if any.
        """
        message = printable(self.message, keep_newlines=True)
        head = f"{self.loc}: {self.kind}: {message}" if self.loc else f"{self.kind}: {message}"
        lines = [head]
        excerpt = caret_excerpt(self.loc, source)
        if excerpt:
            lines.append(excerpt)
        if self.hint:
            lines.append(f"hint: {printable(self.hint, keep_newlines=True)}")
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


class OutputError(ArchdslError, OSError):
    """An output file cannot be written where it was asked for (exit code 2).

    It is also an :class:`OSError`, so code that handles failed writes keeps working.
    """

    kind = "output error"


# ------------------------------------------------------------------------------ excerpts
_SOURCES: OrderedDict[str, str] = OrderedDict()


def remember_source(file: str, text: str) -> None:
    """Register ``text`` as the content of ``file`` for error excerpts (the last 16 are kept).

    The loader calls this for a spec the user named, and for a library or base spec only once it
    has been read as one, so an error never shows a line of any other file.
    """
    _SOURCES[file] = text
    _SOURCES.move_to_end(file)
    while len(_SOURCES) > _MAX_SOURCES:
        _SOURCES.popitem(last=False)


def forget_source(file: str) -> None:
    """Stop showing excerpts of ``file``."""
    _SOURCES.pop(file, None)


def caret_excerpt(loc: Location | None, source: str | None = None) -> str:
    """Return the source line at ``loc`` with a caret under the column, or ``""``.

    Long lines are shown as a window of :data:`MAX_EXCERPT_CHARS` characters around the caret.

    >>> print(caret_excerpt(Location("f", 2, 5), "a: 1\\nb: [x, y]\\n"))
        2 | b: [x, y]
          |     ^
    """
    if loc is None or loc.line < 1:
        return ""
    if source is None:
        source = _SOURCES.get(loc.file)
        if source is None:
            return ""
    line = _nth_line(source, loc.line)
    if line is None:
        return ""
    text = line.rstrip()
    col = min(max(loc.col - 1, 0), len(text))
    start = max(0, min(col - MAX_EXCERPT_CHARS // 2, len(text) - MAX_EXCERPT_CHARS))
    end = start + MAX_EXCERPT_CHARS
    before = ("…" if start > 0 else "") + printable(text[start:col], None)
    after = printable(text[col:end], None) + ("…" if end < len(text) else "")
    gutter = f"{loc.line:>5} | "
    pad = " " * (len(gutter) - 2) + "| "
    return f"{gutter}{before}{after}\n{pad}{' ' * len(before)}^"


def _nth_line(source: str, n: int) -> str | None:
    """Line ``n`` (1-based) of ``source``, or None."""
    lines = source.splitlines()
    return lines[n - 1] if n <= len(lines) else None


#: names users bring from other tools, and the key archdsl uses for them (tried before the
#: spelling distance, which cannot see that ``layers`` means ``body``)
SYNONYMS = {
    "layers": "body", "model": "body", "learning_rate": "lr", "lrate": "lr", "eta": "lr",
    "epsilon": "eps", "units_out": "units", "out_channels": "filters", "kernel_size": "kernel",
    "strides": "stride", "pool_size": "pool", "num_heads": "heads", "dilation_rate": "dilation",
    "p": "rate", "drop_rate": "rate", "slope": "negative_slope", "alpha_leaky": "negative_slope",
    "scale_factor": "scale", "factor": "scale", "out_features": "units",
    "batch": "batch_size", "bs": "batch_size", "wd": "weight_decay", "num_epochs": "epochs",
    "n_epochs": "epochs", "optim": "optimizer", "scheduler": "schedule",
    "lr_schedule": "schedule", "label_smooth": "label_smoothing", "clip": "clip_grad_norm",
    "dataset": "data",
}


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` naming the closest choices (up to 3), or ``""``.
    Known synonyms from other tools come first (``layers`` → ``body``, ``lrate`` → ``lr``),
    then the spelling distance (ignoring case), then a misspelled synonym (``kernal_size`` →
    ``kernel``).

    >>> did_you_mean("conv", ["conv1d", "conv2d", "conv3d", "relu"])
    " Did you mean 'conv1d', 'conv2d' or 'conv3d'?"
    >>> did_you_mean("lrate", ["lr", "momentum"]), did_you_mean("layers", ["args", "body"])
    (" Did you mean 'lr'?", " Did you mean 'body'?")
    >>> did_you_mean("kernal_size", ["kernel", "stride"]), did_you_mean("xyz", ["lr"])
    (" Did you mean 'kernel'?", '')
    >>> did_you_mean("lr", ["TB", "LR"])
    " Did you mean 'LR'?"
    """
    return suggestion(closest(name, choices))


def suggestion(names: Sequence[str]) -> str:
    """``" Did you mean 'a' or 'b'?"`` for ``names``; ``""`` for none.

    >>> suggestion(["--epochs"]), suggestion([])
    (" Did you mean '--epochs'?", '')
    """
    if not names:
        return ""
    quoted = [f"'{c}'" for c in names]
    text = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" Did you mean {text}?"


def closest(name: str, choices: Iterable[str]) -> list[str]:
    """The choices :func:`did_you_mean` names for ``name`` (sorted; empty when none is close).

    >>> closest("learning_rate", ["lr", "epochs"]), closest("epoch", ["epochs", "seed"])
    (['lr'], ['epochs'])
    """
    if len(name) > 100:  # difflib is quadratic; nobody mistypes a 100-character name
        return []
    choices = list(choices)
    synonym = SYNONYMS.get(name.lower())
    if synonym in choices:
        return [synonym]
    import difflib  # only when a name is unknown

    by_lower = {c.lower(): c for c in choices}
    close = sorted(by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, 3, 0.6))
    if not close:
        near = difflib.get_close_matches(name.lower(), SYNONYMS, n=1, cutoff=0.8)
        close = [SYNONYMS[near[0]]] if near and SYNONYMS[near[0]] in choices else []
    return close


def choices_text(choices: Iterable[str], limit: int = 12) -> str:
    """Format valid choices for an error message."""
    items = sorted(choices)
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
