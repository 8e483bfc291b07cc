"""Wiring: how a node finds its inputs (``from:``), and ``split``, the one construct with
several outputs.

* Without ``from:`` a node reads the node above it.
* ``from:`` names nodes defined above it *in the same body*: inside a block, that is the
  block's own nodes; the block's inputs are ``$in`` (the first) and ``$inputs`` (all, a list:
  ``from: [$in, "${inputs[1]}"]``). A literal name of a node outside the block (``from:
  input``) is an error, not a silent reach into the caller.
* ``- split: {axis: 0, sizes: [58, 58], names: [left, right], id: parts}`` cuts its input into
  consecutive parts along an axis; each part is a ``slice`` node addressable as ``parts.left``
  (``parts.0``, ``parts.1`` … without ``names``). The chain continues from the last part.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [8, 4, 4]\\nbody:\\n"
    ...     "  - split: {sizes: [3, 5], names: [a, b], id: parts}\\n"
    ...     "  - relu: {}\\n"
    ...     "  - concat: {from: [parts.a, relu_1]}\\n")
    >>> [(n.id, n.shape) for n in g.walk()][:2]
    [('parts.a', (3, 4, 4)), ('parts.b', (5, 4, 4))]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archdsl.arguments import check_id, eval_deep
from archdsl.errors import GraphError, Location, SpecError, choices_text, did_you_mean
from archdsl.expr import evaluate_value
from archdsl.ir import node_of
from archdsl.source import YList, YMap

if TYPE_CHECKING:
    import networkx as nx

    from archdsl.blocks import Frame

#: the DSL construct with several outputs (not a layer type: it expands to slice nodes)
SPLIT = "split"
_SPLIT_KEYS = ("axis", "sizes", "names", "id", "from", "if")


class Wiring:
    """Mixin of the builder: resolving ``from:`` and expanding ``split``."""

    g: nx.DiGraph

    def _make(self, kind: str, values: dict[str, Any], raw: YMap, loc: Location, frame: Frame,
              sources: list[str], local: str) -> str:
        raise NotImplementedError  # the builder's

    def _sources(
        self, raw: YMap, env: dict[str, Any], frame: Frame, prev: str, later: dict[str, int],
        local: str,
    ) -> list[str]:
        if "from" not in raw:
            return [prev]
        loc = raw.value_loc("from")
        refs = evaluate_value(raw["from"], env, loc)
        items = list(raw["from"]) if isinstance(raw["from"], YList) else [raw["from"]]
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list) or not refs:
            raise SpecError(f"'from' must be a node id or a list of ids, received {refs!r}", loc)
        out: list[str] = []
        for j, ref in enumerate(refs):
            rloc = raw["from"].item_loc(j) if isinstance(raw["from"], YList) else loc
            literal = j < len(items) and isinstance(items[j], str) and "$" not in items[j]
            ref = evaluate_value(ref, env, rloc)
            for r in ref if isinstance(ref, list) else [ref]:
                out.append(self._resolve_ref(r, frame, later, local, rloc, literal))
        return out

    def _resolve_ref(
        self, ref: Any, frame: Frame, later: dict[str, int], local: str, loc: Location,
        literal: bool = False,
    ) -> str:
        if not isinstance(ref, str):
            raise SpecError(f"'from' entries must be node ids, received {ref!r}", loc)
        if ref in frame.scope.names:
            return frame.scope.names[ref]
        in_block = bool(frame.stack)
        if ref in self.g and not (in_block and literal):
            return ref
        if ref == local:
            raise GraphError(
                f"node '{ref}' takes its own output as input (a cycle)",
                loc,
                hint="a node can only take inputs from nodes above it",
            )
        if ref in later:
            raise GraphError(
                f"'{ref}' is defined later (line {later[ref]}); a node can only take inputs "
                "from nodes above it, so this would form a cycle",
                loc,
            )
        known = [n for n in frame.scope.names if n != "in"]
        where = f"in block '{frame.stack[-1]}'" if in_block else "here"
        hint = f"nodes defined so far {where}: {choices_text(known) or '(none)'}"
        if in_block:
            hint += "; the block's inputs are $in (the first) and $inputs (a list)"
        raise GraphError(f"unknown node '{ref}' in 'from'.{did_you_mean(ref, known)}", loc,
                         hint=hint)

    def _split(self, raw: YMap, loc: Location, env: dict[str, Any], frame: Frame, prev: str,
               later: dict[str, int]) -> str:
        """Expand ``split`` into one slice node per part; returns the last part's id."""
        for key in raw:
            if key not in _SPLIT_KEYS:
                raise SpecError(f"'split' has no argument '{key}'.{did_you_mean(key, _SPLIT_KEYS)}",
                                raw.key_loc(key), hint=f"valid arguments: {', '.join(_SPLIT_KEYS)}")
        axis = eval_deep(raw.get("axis", 0), env, raw.value_loc("axis"))
        sizes = eval_deep(raw.get("sizes"), env, raw.value_loc("sizes"))
        if not isinstance(sizes, list) or not sizes or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
        ):
            raise SpecError(f"'split' needs sizes: a list of positive integers, received {sizes!r}",
                            raw.value_loc("sizes") if "sizes" in raw else loc,
                            hint="for example: - split: {sizes: [58, 58], names: [left, right]}")
        names = eval_deep(raw.get("names", [str(i) for i in range(len(sizes))]), env,
                          raw.value_loc("names"))
        if not isinstance(names, list) or len(names) != len(sizes):
            raise SpecError(f"'split' needs one name per size ({len(sizes)}), received {names!r}",
                            raw.value_loc("names"))
        base = evaluate_value(raw["id"], env, raw.value_loc("id")) if "id" in raw else None
        base = base or frame.scope.auto_id(SPLIT)
        sources = self._sources(raw, env, frame, prev, later, base)
        return self._split_parts(raw, loc, frame, sources, base, axis, sizes, names)

    def _split_parts(self, raw: YMap, loc: Location, frame: Frame, sources: list[str],
                     base: str, axis: Any, sizes: list[int], names: list[Any]) -> str:
        shape = node_of(self.g, sources[0]).shape
        if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
            raise SpecError(f"'split' axis {axis!r} is out of range for {list(shape)}",
                            raw.value_loc("axis") if "axis" in raw else loc)
        if sum(sizes) != shape[axis]:
            raise SpecError(f"'split' sizes {sizes} add up to {sum(sizes)}, the axis has "
                            f"{shape[axis]}", raw.value_loc("sizes"))
        start, last = 0, sources[0]
        for name, size in zip(names, sizes):
            local = f"{base}.{name}"
            check_id(local, raw.value_loc("names") if "names" in raw else loc)
            values = {"axis": axis, "start": start, "stop": start + size}
            last = self._make("slice", values, raw, loc, frame, sources, local)
            start += size
        return last


__all__ = ["SPLIT", "Wiring"]
