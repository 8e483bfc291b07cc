"""The records a weight match works on: both sides' weighted layers, and the outcome.

The framework importers (:mod:`archdsl.backends.keras.importer`,
:mod:`archdsl.backends.torch.importer`) reduce a reference model to a list of
:class:`RefLayer`, one per weighted layer in the reference's execution order, its arrays
already in the canonical (PyTorch) layout; :func:`archdsl.weights.spec_layers` makes the list
of :class:`SpecLayer` for a compiled graph; :func:`archdsl.weights.match_layers` aligns the two
into a :class:`WeightMatch`.

Example:
    >>> import numpy as np
    >>> ref = RefLayer("conv_0", "conv", {"kernel": np.ones((8, 3, 3, 3))}, ())
    >>> ref.shapes
    {'kernel': (8, 3, 3, 3)}
    >>> WeightMatch({}, [("stem", "conv_0")], [], [], "graph").as_json()["matched"]
    1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: canonical weights: ``{node id: {weight name: array}}``
Weights = dict[str, dict[str, np.ndarray]]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class SpecLayer:
    """A weighted node of the spec's graph.

    ``kind`` is its weight family (:mod:`archdsl.weights.families`); ``shapes`` maps each
    canonical weight name (``kernel``, ``bias``, ``gamma``, ...) to its canonical shape;
    ``parents`` are the nearest weighted nodes it reads from; ``attrs`` holds values compared
    with the reference's for notes (a BatchNorm's ``eps``); ``tags`` describe the weight-free
    context (:class:`~archdsl.weights.flow.FlowTracer`), used only to split ambiguity groups.
    ``fixed`` holds the values of a node whose every weight is fixed by the spec (Swin's
    shifted-window mask): a reference may compute them instead of storing them, so the node
    takes a reference layer when one fits and keeps these values otherwise.
    """

    id: str
    kind: str
    shapes: Mapping[str, Shape]
    parents: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    fixed: Mapping[str, np.ndarray] | None = None


@dataclass(frozen=True)
class RefLayer:
    """A weighted layer of the reference model, its arrays in the canonical layout.

    ``kind`` is a family of :data:`~archdsl.weights.families.FAMILIES` (or
    :data:`~archdsl.weights.families.CONV_OR_TRANSPOSED`); ``arrays`` maps canonical weight
    names to arrays; ``parents`` are the names of the nearest weighted layers it reads from, or
    ``None`` when the reference has no graph (sequence mode); ``tags`` as for
    :class:`SpecLayer`.
    """

    name: str
    kind: str
    arrays: Mapping[str, np.ndarray]
    parents: tuple[str, ...] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    @property
    def shapes(self) -> dict[str, Shape]:
        """Weight name → shape of its array."""
        return {k: tuple(int(d) for d in np.shape(v)) for k, v in self.arrays.items()}


@dataclass
class WeightMatch:
    """The outcome of :func:`archdsl.weights.match_layers`.

    ``weights``: ``{node id: {weight name: array}}`` in the canonical layout, ready for a
    backend's ``build(graph, weights=...)``; ``pairs``: (node id, reference layer name) in spec
    order (a separable node matched to two reference layers names both, joined by ``+``);
    ``notes``: decisions worth knowing (order tiebreaks, differing BatchNorm epsilons);
    ``unused``: reference layers the spec did not take (only with ``allow_unused``);
    ``mode``: ``"graph"`` or ``"sequence"``.
    """

    weights: Weights
    pairs: list[tuple[str, str]]
    notes: list[str]
    unused: list[str]
    mode: str

    def as_json(self) -> dict[str, Any]:
        """The match without its arrays, for ``--json`` output."""
        return {"mode": self.mode, "matched": len(self.pairs), "pairs": self.pairs,
                "notes": self.notes, "unused": self.unused}


__all__ = ["RefLayer", "Shape", "SpecLayer", "WeightMatch", "Weights"]
