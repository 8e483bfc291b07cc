"""Layer-name similarity: the last structural tiebreak between equal candidates.

Names never decide a match on their own; they only split candidates that structure leaves
equal (and, in sequence mode, an exact name wins over position).

Example:
    >>> normalize_name("layer1.0.downsample.0"), normalize_name("Conv_1/BN")
    ('layer1.0.downsample.0', 'conv.1.bn')
    >>> name_similarity("features.3.conv", "features_3/conv")
    1.0
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import TypeVar

#: name similarity only decides between candidates above this ratio and by this margin
NAME_MIN, NAME_MARGIN = 0.6, 0.15

T = TypeVar("T")


def normalize_name(name: str) -> str:
    """Lower-case with every run of separators made one ``.`` (for name similarity)."""
    return re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".")


def name_similarity(a: str, b: str) -> float:
    """difflib ratio of the normalised names, 1.0 for equal ones."""
    na, nb = normalize_name(a), normalize_name(b)
    if na == nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


def by_name(spec_id: str, cands: Sequence[T], names: Sequence[str]) -> T | None:
    """The candidate whose name (``names[i]`` for ``cands[i]``) is clearly the most similar to
    ``spec_id``: the only equal one, or one at least :data:`NAME_MIN` similar and
    :data:`NAME_MARGIN` ahead of the next; ``None`` when no name stands out.

    >>> by_name("block1.conv", ["x", "y"], ["block1_conv", "block2_conv"])
    'x'
    >>> by_name("conv", ["x", "y"], ["a1", "a2"]) is None
    True
    """
    if len(cands) < 2:
        return cands[0] if cands else None
    scored = sorted(((name_similarity(spec_id, n), i) for i, n in enumerate(names)),
                    reverse=True)
    best, second = scored[0][0], scored[1][0]
    if best == 1.0 and second < 1.0:
        return cands[scored[0][1]]
    if best >= NAME_MIN and best - second >= NAME_MARGIN:
        return cands[scored[0][1]]
    return None


__all__ = ["NAME_MARGIN", "NAME_MIN", "by_name", "name_similarity", "normalize_name"]
