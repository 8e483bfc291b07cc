"""The error type of weight import, npz I/O and completeness checks.

A :class:`WeightsError` is a user-input error (an :class:`~archdsl.errors.ArchdslError`): the
weights, the reference model or the file given do not fit the spec. The CLI prints it as
``weights error: ...`` (plus the hint) and exits with code 2, like every invalid input.
Framework-side failures (a framework that is missing, a reference layer type a backend cannot
read) stay :class:`~archdsl.errors.BackendError`.

Example:
    >>> err = WeightsError("no weights for node 'fc'", hint="import them for this spec")
    >>> print(err.render())
    weights error: no weights for node 'fc'
    hint: import them for this spec
    >>> from archdsl.errors import ArchdslError
    >>> isinstance(err, ArchdslError), err.exit_code
    (True, 2)
"""

from __future__ import annotations

from typing import ClassVar

from archdsl.errors import ArchdslError


class WeightsError(ArchdslError):
    """Weights do not fit a spec: a spec node without a counterpart in the reference, unused
    reference layers, a missing or misshaped weight, an unreadable or malformed ``.npz``."""

    kind = "weights error"
    #: the CLI's exit code for it: invalid input
    exit_code: ClassVar[int] = 2


__all__ = ["WeightsError"]
