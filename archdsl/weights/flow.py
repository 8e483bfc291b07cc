"""Data flow between weighted layers: weighted parents and weight-free context tags.

Both sides of a match are reduced to weighted layers; what connects them is the data flow
through weight-free operations (activations, pooling, merges, reshapes). :class:`FlowTracer`
follows it over any graph (the spec's, a Keras functional graph, a ``torch.fx`` trace).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

#: weight-free operations worth recording between weighted layers (framework-neutral names)
FLOW_KINDS = ("avgpool", "maxpool", "globalpool")


class FlowTracer:
    """Follows tensors through a graph between weighted layers (framework-neutral).

    For every tensor it keeps the *frontier* (the nearest weighted layers it depends on through
    weight-free operations only) and the weight-free operation kinds of :data:`FLOW_KINDS` met
    on the way. A weighted layer's parents are its input's frontier; its tags record those
    kinds (``"in:avgpool"``) and the concatenation slots its output reaches
    (``"slot:3/4"``: input 3 of a 4-way concat). Parallel Inception branches that read the same
    tensor through same-shaped 1×1 convolutions differ only in such context (a pooling before
    one of them, their place in the concat).

    Example:
        >>> t = FlowTracer()
        >>> t.source("x")
        >>> t.layer("a", ["x"], "a"), t.layer("b", ["x"], "b")
        ((), ())
        >>> t.op("p", ["b"], kind="avgpool")
        >>> t.layer("c", ["p"], "c")
        ('b',)
        >>> t.op("cat", ["a", "c"], concat=True)
        >>> t.tags("a"), t.tags("c")
        (('slot:0/2',), ('in:avgpool', 'slot:1/2'))
    """

    def __init__(self) -> None:
        self.front: dict[Any, tuple[str, ...]] = {}
        self.via: dict[Any, frozenset[str]] = {}
        self._in: dict[str, frozenset[str]] = {}
        self._slots: dict[str, set[str]] = {}

    def source(self, key: Any, front: tuple[str, ...] = (),
               via: frozenset[str] = frozenset()) -> None:
        """A graph input (or a tensor whose flow is known from outside)."""
        self.front[key] = front
        self.via[key] = via

    def op(self, key: Any, inputs: Sequence[Any], kind: str | None = None,
           concat: bool = False) -> None:
        """A weight-free operation producing ``key`` from ``inputs``."""
        self.front[key] = union(self.front[i] for i in inputs)
        via = self._via(inputs)
        self.via[key] = via | {kind} if kind else via
        if concat:
            for slot, i in enumerate(inputs):
                for w in self.front[i]:
                    self._slots.setdefault(w, set()).add(f"slot:{slot}/{len(inputs)}")

    def layer(self, key: Any, inputs: Sequence[Any], name: str) -> tuple[str, ...]:
        """A weighted layer ``name`` producing ``key``; returns its weighted parents."""
        parents = union(self.front[i] for i in inputs)
        self._in[name] = self._via(inputs)
        self.front[key] = (name,)
        self.via[key] = frozenset()
        return parents

    def tags(self, name: str) -> tuple[str, ...]:
        """The context tags of weighted layer ``name`` (complete once the walk is done)."""
        return tuple(sorted(f"in:{k}" for k in self._in.get(name, ()))) + tuple(
            sorted(self._slots.get(name, ())))

    def _via(self, inputs: Sequence[Any]) -> frozenset[str]:
        return frozenset().union(*(self.via[i] for i in inputs)) if inputs else frozenset()


def union(groups: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """The names of all ``groups``, each once, in first-seen order.

    >>> union([("a", "b"), ("b", "c")])
    ('a', 'b', 'c')
    """
    seen: dict[str, None] = {}
    for g in groups:
        for x in g:
            seen[x] = None
    return tuple(seen)


__all__ = ["FLOW_KINDS", "FlowTracer", "union"]
