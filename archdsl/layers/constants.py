"""Named constant tensors a spec can refer to by a call such as ``relative_position_index(7)``.

Some architectures use fixed integer or float tables computed from their geometry: Swin's
relative-position index (which entry of the learned bias table each query/key pair reads) and
its shifted-window attention mask. Writing them out in YAML would take thousands of numbers,
so ``take: {index: ...}`` and ``parameter: {fixed: ...}`` accept these names.

Example:
    >>> idx = constant("relative_position_index(2)")
    >>> idx
    [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]
    >>> mask = constant("shifted_window_mask(4, 4, 2, 1)")
    >>> len(mask), len(mask[0]), sorted({v for w in mask for row in w for v in row})
    (4, 4, [-100.0, 0.0])
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def relative_position_index(window: int) -> list[int]:
    """Swin: for each (query, key) pair of a ``window × window`` window, flattened row-major,
    the row of the ``(2·window − 1)²`` bias table it reads."""
    coords = [(i, j) for i in range(window) for j in range(window)]
    span = 2 * window - 1
    return [
        (qi - ki + window - 1) * span + (qj - kj + window - 1)
        for qi, qj in coords
        for ki, kj in coords
    ]


def shifted_window_mask(height: int, width: int, window: int, shift: int) -> list[Any]:
    """Swin: the additive attention mask ``(windows, window², window²)`` of a map shifted by
    ``shift``: 0 within a region, −100 between cells that the cyclic shift brought together."""
    def region(n: int, i: int) -> int:
        return 0 if i < n - window else 1 if i < n - shift else 2

    labels = [[region(height, i) * 3 + region(width, j) for j in range(width)]
              for i in range(height)]
    masks = []
    for wi in range(0, height, window):
        for wj in range(0, width, window):
            cells = [labels[wi + a][wj + b] for a in range(window) for b in range(window)]
            masks.append([[0.0 if p == q else -100.0 for q in cells] for p in cells])
    return masks


#: name → generator (integer arguments)
CONSTANTS: dict[str, Callable[..., Any]] = {
    "relative_position_index": relative_position_index,
    "shifted_window_mask": shifted_window_mask,
}
_CALL = re.compile(r"^\s*(\w+)\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)\s*$")


def constant(call: str) -> Any:
    """Evaluate ``name(int, ...)`` (ValueError naming the valid names otherwise)."""
    m = _CALL.match(call)
    if m is None or m.group(1) not in CONSTANTS:
        raise ValueError(
            f"unknown constant {call!r}; valid: "
            + ", ".join(f"{name}(...)" for name in CONSTANTS)
        )
    args = [int(a) for a in m.group(2).split(",")]
    if any(a < 1 or a > 4096 for a in args):
        raise ValueError(f"constant arguments must be between 1 and 4096, received {args}")
    return CONSTANTS[m.group(1)](*args)


__all__ = ["CONSTANTS", "constant", "relative_position_index", "shifted_window_mask"]
