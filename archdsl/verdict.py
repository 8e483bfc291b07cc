"""One verdict vocabulary for every comparison archdsl makes (CLI, JSON, report.md).

Two words: the compared runs ``agree`` or ``disagree``; the details say where and by how much.

Example:
    >>> verdict(True), verdict(False)
    ('agree', 'disagree')
    >>> verdict_line(False, "PyTorch departs from the reference at 'fc'")
    "verdict: disagree (PyTorch departs from the reference at 'fc')"
"""

from __future__ import annotations

AGREE = "agree"
DISAGREE = "disagree"


def verdict(ok: bool) -> str:
    """``"agree"`` or ``"disagree"``."""
    return AGREE if ok else DISAGREE


def verdict_line(ok: bool, detail: str = "") -> str:
    """The closing line of a text report: ``verdict: agree (...)``."""
    return f"verdict: {verdict(ok)}" + (f" ({detail})" if detail else "")


__all__ = ["AGREE", "DISAGREE", "verdict", "verdict_line"]
