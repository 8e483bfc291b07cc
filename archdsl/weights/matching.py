"""Structural matching of a reference model's weighted layers to a spec's nodes.

:func:`match_layers` aligns :class:`~archdsl.weights.records.SpecLayer` items (the spec's,
:func:`~archdsl.weights.spec_layers.spec_layers`) with
:class:`~archdsl.weights.records.RefLayer` items (a framework importer's):

* **Signatures.** Two layers can match when their families agree and they hold the same
  weight names with the same shapes, trailing 1-sized kernel dimensions ignored
  (:mod:`archdsl.weights.signatures`).
* **Graph mode** (every reference layer has ``parents``). Spec nodes are visited in topological
  order; a node's candidates are the unused reference layers with its signature whose
  weighted parents are exactly the matches of the node's own weighted parents. The order in
  which parallel branches were *defined* (Inception, Inception-ResNet) therefore does not
  matter. Several candidates (parallel branches reading the same tensor through layers of the
  same shape) form an ambiguity group, split by their weight-free context (a pooling before
  the layer, the concat slot its output fills: :class:`~archdsl.weights.flow.FlowTracer`
  tags), then by what follows each candidate (signatures and tags downstream, compared to an
  increasing depth), then by name similarity, and only between structurally identical
  candidates by their order (noted in :attr:`WeightMatch.notes`).
* **Sequence mode** (no graph, e.g. a bare PyTorch ``state_dict``). The reference order is
  followed: each spec node takes the unused reference layer with its signature nearest after
  the previous match; an exact (normalised) name match wins over position, so reference
  layers defined out of execution order (torchvision's ``downsample`` after ``conv3``) still
  match when the spec uses the reference's names.
* A spec separable convolution also matches a reference depthwise convolution (no bias)
  followed by a 1×1 convolution (PyTorch has no separable layer).
* A spec node whose weights are all fixed (Swin's shifted-window mask, a constant of the spec)
  takes a reference layer when one fits, as any node; when none does (torchvision recomputes
  the mask in every forward pass) it keeps the spec's values, and the layers it feeds are
  matched as if it were not there.

Anything left unmatched raises :class:`~archdsl.weights.errors.WeightsError` naming the first
spec node that could not be matched, its shapes and the nearest reference candidates;
reference layers the spec does not use are an error too unless ``allow_unused=True``
(auxiliary heads).

Example:
    >>> import numpy as np
    >>> spec = [SpecLayer("stem", "conv", {"kernel": (8, 3, 3, 3)}, ()),
    ...         SpecLayer("bn", "batchnorm", {"running_mean": (8,), "running_var": (8,)},
    ...                   ("stem",)),
    ...         SpecLayer("fc", "conv", {"kernel": (10, 8), "bias": (10,)}, ("bn",))]
    >>> ref = [RefLayer("conv_0", "conv", {"kernel": np.ones((8, 3, 3, 3))}, ()),
    ...        RefLayer("norm_0", "batchnorm", {"running_mean": np.zeros(8),
    ...                                         "running_var": np.ones(8)}, ("conv_0",)),
    ...        RefLayer("logits", "conv", {"kernel": np.ones((10, 8, 1, 1)),
    ...                                    "bias": np.zeros(10)}, ("norm_0",))]
    >>> m = match_layers(spec, ref)
    >>> m.pairs
    [('stem', 'conv_0'), ('bn', 'norm_0'), ('fc', 'logits')]
    >>> m.weights["fc"]["kernel"].shape  # the 1×1 conv kernel reshaped to the dense layer's
    (10, 8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.weights.errors import WeightsError
from archdsl.weights.families import families_match
from archdsl.weights.names import by_name, normalize_name
from archdsl.weights.records import RefLayer, SpecLayer, WeightMatch, Weights
from archdsl.weights.signatures import compatible, describe, signature_key, squeeze_shape
from archdsl.weights.spec_layers import spec_layers

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: the deepest downstream structure compared when splitting an ambiguity group
MAX_DEPTH = 12
#: how far (in reference order) sequence mode looks for same-shaped layers worth a note
_NEAR = 16


class _Downstream:
    """Hashes of each layer's signature and everything below it, to a growing depth."""

    def __init__(self, sig: Mapping[str, Any], parents: Mapping[str, Sequence[str]]) -> None:
        self.sig = sig
        self.children = _children(parents)
        self.table: dict[int, dict[str, int]] = {0: {k: hash(v) for k, v in sig.items()}}

    def at(self, depth: int) -> dict[str, int]:
        if depth not in self.table:
            prev = self.at(depth - 1)
            self.table[depth] = {
                k: hash((self.sig[k], tuple(sorted(prev[c] for c in self.children.get(k, ())))))
                for k in self.sig
            }
        return self.table[depth]


class _Matcher:
    """State of one alignment (see :func:`match_layers`)."""

    def __init__(self, spec: Sequence[SpecLayer], ref: Sequence[RefLayer], use_names: bool):
        self.spec = list(spec)
        self.ref = list(ref)
        self.use_names = use_names
        names = [r.name for r in self.ref]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise WeightsError(f"the reference has two weighted layers named '{dup}'")
        self.index = {r.name: i for i, r in enumerate(self.ref)}
        self.graph_mode = bool(self.ref) and all(r.parents is not None for r in self.ref)
        self.used: set[str] = set()
        #: spec node → the reference layer whose output stands for the node's output
        self.out_of: dict[str, str] = {}
        self.pairs: list[tuple[str, str]] = []
        self.weights: Weights = {}
        self.notes: list[str] = []
        #: fixed spec nodes without a reference counterpart (they keep the spec's values)
        self.kept: list[str] = []
        self.last = -1
        if self.graph_mode:
            self._check_parents()
            self.spec_down = _Downstream(
                {s.id: (signature_key(s.kind, s.shapes), s.tags) for s in self.spec},
                {s.id: s.parents for s in self.spec})
            self.ref_down = _Downstream(
                {r.name: (signature_key(r.kind, r.shapes), r.tags) for r in self.ref},
                {r.name: r.parents or () for r in self.ref})

    def _check_parents(self) -> None:
        for r in self.ref:
            for p in r.parents or ():
                if p not in self.index:
                    raise WeightsError(f"reference layer '{r.name}' names an unknown "
                                       f"weighted parent '{p}'")

    def _assign(self, s: SpecLayer, refs: Sequence[RefLayer], arrays: Mapping[str, Any]) -> None:
        if len(arrays) == 1 and len(s.shapes) == 1 and set(arrays) != set(s.shapes):
            arrays = {next(iter(s.shapes)): next(iter(arrays.values()))}  # a lone tensor
        self.weights[s.id] = {
            name: np.asarray(arrays[name]).reshape(s.shapes[name]) for name in s.shapes
        }
        for r in refs:
            self.used.add(r.name)
        self.out_of[s.id] = refs[-1].name
        self.pairs.append((s.id, "+".join(r.name for r in refs)))
        self.last = max(self.index[r.name] for r in refs)

    def unused(self) -> list[RefLayer]:
        return [r for r in self.ref if r.name not in self.used]

    # ------------------------------------------------------------------ one node
    def match(self, s: SpecLayer) -> None:
        pool = self.unused()
        if self.graph_mode:
            want = {self.out_of[p] for p in s.parents if p in self.out_of}
            pool = [r for r in pool if set(r.parents or ()) == want]
        cands = [r for r in pool if compatible(s, r)]
        if not cands and s.kind == "separable":
            pair = self._separable_pair(s, pool)
            if pair is not None:
                self._assign(s, pair, _merge_separable(pair))
                return
        if not cands and s.fixed is not None:
            self.weights[s.id] = dict(s.fixed)
            self.kept.append(s.id)
            return
        if not cands:
            raise self._no_match(s)
        chosen = cands[0] if len(cands) == 1 else self._choose(s, cands)
        self._assign(s, [chosen], chosen.arrays)

    def _choose(self, s: SpecLayer, cands: list[RefLayer]) -> RefLayer:
        if not self.graph_mode:
            return self._choose_in_sequence(s, cands)
        group = cands
        for depth in range(MAX_DEPTH + 1):
            mine = self.spec_down.at(depth)[s.id]
            theirs = self.ref_down.at(depth)
            same = [c for c in group if theirs[c.name] == mine]
            if len(same) == 1:
                return same[0]
            if not same:
                break
            group = same
        if self.use_names:
            named = by_name(s.id, group, [c.name for c in group])
            if named is not None:
                return named
        chosen = min(group, key=lambda c: self.index[c.name])
        self.notes.append(
            f"'{s.id}': {len(group)} reference layers read the same layers with the same "
            f"shapes and downstream structure ({', '.join(repr(c.name) for c in group)}); "
            f"took '{chosen.name}', the first in the reference's order"
        )
        return chosen

    def _choose_in_sequence(self, s: SpecLayer, cands: list[RefLayer]) -> RefLayer:
        if self.use_names:
            exact = [c for c in cands if normalize_name(c.name) == normalize_name(s.id)]
            if len(exact) == 1:
                return exact[0]
        ahead = [c for c in cands if self.index[c.name] > self.last]
        chosen = min(ahead or cands, key=lambda c: abs(self.index[c.name] - self.last))
        near = [c for c in cands if abs(self.index[c.name] - self.index[chosen.name]) <= _NEAR]
        if len(near) > 1 and self.index[chosen.name] != self.last + 1:
            self.notes.append(
                f"'{s.id}': {len(near)} nearby reference layers have its shapes; took "
                f"'{chosen.name}' by position (no graph to compare)"
            )
        return chosen

    def _separable_pair(self, s: SpecLayer, pool: list[RefLayer]) -> tuple[RefLayer, ...] | None:
        dw_shape = s.shapes.get("depthwise_kernel")
        for a in pool:
            if not (families_match("conv", a.kind) and set(a.arrays) == {"kernel"}
                    and a.shapes["kernel"] == dw_shape):
                continue
            if self.graph_mode:
                nxt = [r for r in self.unused() if tuple(r.parents or ()) == (a.name,)]
            else:
                i = self.index[a.name] + 1
                nxt = self.ref[i:i + 1]
            for b in nxt:
                if b.name not in self.used and _pointwise_fits(s, b):
                    return (a, b)
        return None

    # ------------------------------------------------------------------ errors
    def _no_match(self, s: SpecLayer) -> WeightsError:
        unused = self.unused()
        same_sig = [r for r in unused if compatible(s, r)]
        if self.graph_mode:
            want = [self.out_of[p] for p in s.parents if p in self.out_of]
            same_parents = [r for r in unused if set(r.parents or ()) == set(want)]
            reads = ", ".join(f"'{p}' (reference '{self.out_of[p]}')" for p in s.parents
                              if p in self.out_of)
            reads = reads or "the model input"
            if same_sig:
                why = (f"the reference layers with these shapes read from other layers; this "
                       f"node reads {reads}")
                near = same_parents + same_sig
            else:
                why = f"no unused reference layer has these shapes (the node reads {reads})"
                near = same_parents or self._nearest_by_position(unused)
        else:
            why = "no unused reference layer has these shapes"
            near = self._nearest_by_position(unused)
        shown = ", ".join(f"'{r.name}' ({describe(r.kind, r.shapes)})" for r in _dedup(near)[:4])
        return WeightsError(
            f"cannot match spec node '{s.id}' ({describe(s.kind, s.shapes)}) to a reference "
            f"layer: {why}. Nearest reference candidates: {shown or '(none left)'}",
            hint=self._sizes_hint(),
        )

    def _sizes_hint(self) -> str:
        n_spec, n_ref = len(self.spec), len(self.ref)
        p_spec = sum(math.prod(v) for x in self.spec for v in x.shapes.values())
        p_ref = sum(math.prod(v) for x in self.ref for v in x.shapes.values())
        return (f"{len(self.pairs)} of {n_spec} weighted spec nodes matched before it; the spec "
                f"has {n_spec} weighted layers ({p_spec:,} weights), the reference {n_ref} "
                f"({p_ref:,}). Is this the right spec / reference pair and spec arguments?")

    def _nearest_by_position(self, unused: list[RefLayer]) -> list[RefLayer]:
        return sorted(unused, key=lambda r: abs(self.index[r.name] - (self.last + 1)))[:4]


def _pointwise_fits(s: SpecLayer, b: RefLayer) -> bool:
    """Whether reference layer ``b`` is the 1×1 convolution of separable spec node ``s``."""
    pw_shape = s.shapes.get("pointwise_kernel")
    has_bias = "bias" in s.shapes
    want = {"kernel", "bias"} if has_bias else {"kernel"}
    return (families_match("conv", b.kind) and set(b.arrays) == want and pw_shape is not None
            and squeeze_shape(b.shapes["kernel"]) == squeeze_shape(pw_shape)
            and (not has_bias or b.shapes["bias"] == s.shapes["bias"]))


def _dedup(items: list[RefLayer]) -> list[RefLayer]:
    seen: dict[str, RefLayer] = {}
    for r in items:
        seen.setdefault(r.name, r)
    return list(seen.values())


def _children(parents: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, ps in parents.items():
        for p in ps:
            out.setdefault(p, []).append(k)
    return out


def _merge_separable(pair: Sequence[RefLayer]) -> dict[str, Any]:
    a, b = pair
    merged = {"depthwise_kernel": a.arrays["kernel"], "pointwise_kernel": b.arrays["kernel"]}
    if "bias" in b.arrays:
        merged["bias"] = b.arrays["bias"]
    return merged


def match_layers(
    spec: Sequence[SpecLayer],
    ref: Sequence[RefLayer],
    *,
    use_names: bool = True,
    allow_unused: bool = False,
) -> WeightMatch:
    """Align reference layers to spec nodes by structure (see the module docstring).

    ``use_names``: let name similarity split ambiguity groups (structure always comes first);
    ``allow_unused``: ignore reference layers the spec does not use (e.g. auxiliary heads)
    instead of raising.

    Raises:
        WeightsError: naming the first spec node that has no (or no unambiguous) reference
            layer, its shapes and the nearest candidates; or listing unused reference layers.
    """
    m = _Matcher(spec, ref, use_names)
    for s in m.spec:
        m.match(s)
    left = m.unused()
    unused = [r.name for r in left]
    if unused and not allow_unused:
        listed = ", ".join(f"'{r.name}' ({describe(r.kind, r.shapes)})" for r in left[:4])
        raise WeightsError(
            f"{len(unused)} reference layer(s) have no counterpart in the spec: {listed}"
            + (" ..." if len(unused) > 4 else ""),
            hint="pass allow_unused=True (CLI: --allow-unused) to ignore them, e.g. an "
                 "auxiliary classifier the spec leaves out",
        )
    notes = m.notes + _attr_notes(m.spec, {r.name: r for r in m.ref}, m.pairs)
    if m.kept:
        notes.append(f"{len(m.kept)} node(s) with weights fixed by the spec and no reference "
                     f"counterpart keep the spec's values: {', '.join(m.kept[:6])}"
                     + (" ..." if len(m.kept) > 6 else ""))
    if unused:
        notes.append(f"{len(unused)} reference layer(s) unused: {', '.join(unused[:8])}"
                     + (" ..." if len(unused) > 8 else ""))
    return WeightMatch(m.weights, m.pairs, notes, unused, "graph" if m.graph_mode else "sequence")


def _attr_notes(spec: Sequence[SpecLayer], ref: Mapping[str, RefLayer],
                pairs: Sequence[tuple[str, str]]) -> list[str]:
    """One note per attribute value (a BatchNorm's ε) that differs between matched layers."""
    by_id = {s.id: s for s in spec}
    diffs: dict[tuple[str, Any, Any], list[tuple[str, str]]] = {}
    for node_id, ref_names in pairs:
        s = by_id[node_id]
        r = ref.get(ref_names.split("+")[-1])
        if r is None:
            continue
        for key, value in s.attrs.items():
            other = r.attrs.get(key)
            if other is None or _close(value, other):
                continue
            diffs.setdefault((key, value, other), []).append((node_id, r.name))
    notes = []
    for (key, value, other), where in diffs.items():
        first = f"'{where[0][0]}' ↔ '{where[0][1]}'"
        notes.append(f"{key} differs at {len(where)} matched layer(s): spec {value!r}, reference "
                     f"{other!r} (first {first}); the imported model computes a different "
                     "function unless the spec is changed")
    return notes


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.0)
    return bool(a == b)


def match_graph(
    graph: Graph, ref: Sequence[RefLayer], *, use_names: bool = True, allow_unused: bool = False
) -> WeightMatch:
    """:func:`match_layers` on the graph's :func:`~archdsl.weights.spec_layers.spec_layers`."""
    return match_layers(spec_layers(graph), ref, use_names=use_names, allow_unused=allow_unused)


__all__ = ["MAX_DEPTH", "match_graph", "match_layers"]
