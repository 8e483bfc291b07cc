"""Match a reference model's weights onto a spec's graph by structure (framework-free core).

The framework importers (:mod:`archdsl.backends.keras.importer`,
:mod:`archdsl.backends.torch.importer`) reduce a reference model to a list of
:class:`RefLayer`: one per weighted layer, in the reference's execution (topological) order,
each with its arrays already converted to the canonical (PyTorch) layout and, when the
reference has a graph, the *weighted parents* of the layer (the nearest weighted layers it
reads from through any number of weight-free operations). :func:`spec_layers` makes the same
list for a compiled :class:`~archdsl.graph.Graph`, and :func:`match_layers` aligns the two:

* **Signatures.** Two layers can match when their families agree (``conv`` covers
  conv1d/2d/3d, depthwise and dense layers; ``transposed``, ``separable`` and ``batchnorm``)
  and they hold the same weight names with the same shapes, trailing 1-sized kernel
  dimensions ignored (a 1×1 convolution after global pooling carries a dense layer's weights).
* **Graph mode** (every reference layer has ``parents``). Spec nodes are visited in topological
  order; a node's candidates are the unused reference layers with its signature whose
  weighted parents are exactly the matches of the node's own weighted parents. The order in
  which parallel branches were *defined* (Inception, Inception-ResNet) therefore does not
  matter. Several candidates (parallel branches reading the same tensor through layers of the
  same shape) form an ambiguity group, split by their weight-free context (a pooling before
  the layer, the concat slot its output fills: :class:`FlowTracer` tags), then by what follows
  each candidate (signatures and tags downstream, compared to an increasing depth), then by
  name similarity, and only between structurally identical candidates by their order (noted
  in :attr:`WeightMatch.notes`).
* **Sequence mode** (no graph, e.g. a bare PyTorch ``state_dict``). The reference order is
  followed: each spec node takes the unused reference layer with its signature nearest after
  the previous match; an exact (normalised) name match wins over position, so reference
  layers defined out of execution order (torchvision's ``downsample`` after ``conv3``) still
  match when the spec uses the reference's names.
* A spec separable convolution also matches a reference depthwise convolution (no bias)
  followed by a 1×1 convolution (PyTorch has no separable layer).

Anything left unmatched raises :class:`~archdsl.errors.BackendError` naming the first spec
node that could not be matched, its shapes and the nearest reference candidates; reference
layers the spec does not use are an error too unless ``allow_unused=True`` (auxiliary heads).

Matched weights are saved as ``.npz`` archives keyed ``"<node id>/<weight name>"``
(:func:`save_npz`, :func:`load_npz`); node ids never contain ``/``.

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

import difflib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.errors import BackendError

if TYPE_CHECKING:
    from archdsl.graph import Graph

Weights = dict[str, dict[str, np.ndarray]]
Shape = tuple[int, ...]

#: weight families that can match each other
FAMILIES = ("conv", "transposed", "separable", "batchnorm")
#: the family of a conv-like tensor whose kind is unknown (a raw state dict cannot tell a
#: ConvTranspose weight ``(I, O, *k)`` from a Conv weight ``(O, I, *k)``)
CONV_OR_TRANSPOSED = "conv_or_transposed"

#: IR layer type → family
TYPE_FAMILY: dict[str, str] = {
    **{f"conv{d}d": "conv" for d in (1, 2, 3)},
    **{f"depthwise_conv{d}d": "conv" for d in (1, 2)},
    **{f"separable_conv{d}d": "separable" for d in (1, 2)},
    **{f"conv_transpose{d}d": "transposed" for d in (1, 2, 3)},
    "dense": "conv",
    "batchnorm": "batchnorm",
}

#: npz key separator: ``"<node id>/<weight name>"``
KEY_SEP = "/"
#: npz key of the JSON metadata written by :func:`save_npz`
META_KEY = "__archdsl_meta__"

#: name similarity only decides between candidates above this ratio and by this margin
_NAME_MIN, _NAME_MARGIN = 0.6, 0.15
#: the deepest downstream structure compared when splitting an ambiguity group
_MAX_DEPTH = 12


@dataclass(frozen=True)
class SpecLayer:
    """A weighted node of the spec's graph.

    ``shapes`` maps each canonical weight name (``kernel``, ``bias``, ``gamma``, ...) to its
    canonical shape; ``parents`` are the nearest weighted nodes it reads from; ``attrs`` holds
    values compared with the reference's for notes (a BatchNorm's ``eps``); ``tags`` describe
    the weight-free context (:class:`FlowTracer`), used only to split ambiguity groups.
    """

    id: str
    kind: str
    shapes: Mapping[str, Shape]
    parents: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefLayer:
    """A weighted layer of the reference model, its arrays in the canonical layout.

    ``kind`` is a family of :data:`FAMILIES` (or :data:`CONV_OR_TRANSPOSED`); ``arrays`` maps
    canonical weight names to arrays; ``parents`` are the names of the nearest weighted layers
    it reads from, or ``None`` when the reference has no graph (sequence mode); ``tags`` as for
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
        return {k: tuple(int(d) for d in np.shape(v)) for k, v in self.arrays.items()}


@dataclass
class WeightMatch:
    """The outcome of :func:`match_layers`.

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
        return {"mode": self.mode, "matched": len(self.pairs), "pairs": self.pairs,
                "notes": self.notes, "unused": self.unused}


# ---------------------------------------------------------------------------- data flow
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
        self.front[key] = _union(self.front[i] for i in inputs)
        via = frozenset().union(*(self.via[i] for i in inputs)) if inputs else frozenset()
        self.via[key] = via | {kind} if kind else via
        if concat:
            for slot, i in enumerate(inputs):
                for w in self.front[i]:
                    self._slots.setdefault(w, set()).add(f"slot:{slot}/{len(inputs)}")

    def layer(self, key: Any, inputs: Sequence[Any], name: str) -> tuple[str, ...]:
        """A weighted layer ``name`` producing ``key``; returns its weighted parents."""
        parents = _union(self.front[i] for i in inputs)
        self._in[name] = frozenset().union(*(self.via[i] for i in inputs)) if inputs \
            else frozenset()
        self.front[key] = (name,)
        self.via[key] = frozenset()
        return parents

    def tags(self, name: str) -> tuple[str, ...]:
        """The context tags of weighted layer ``name`` (complete once the walk is done)."""
        return tuple(sorted(f"in:{k}" for k in self._in.get(name, ()))) + tuple(
            sorted(self._slots.get(name, ())))


# ---------------------------------------------------------------------------- spec side
_SPEC_FLOW = {
    **{f"avg_pool{d}d": "avgpool" for d in (1, 2, 3)},
    **{f"max_pool{d}d": "maxpool" for d in (1, 2, 3)},
    "global_avg_pool": "globalpool",
    "global_max_pool": "globalpool",
}


def spec_layers(graph: Graph) -> list[SpecLayer]:
    """The graph's weighted nodes in topological order, with their weighted parents.

    Example:
        >>> import archdsl
        >>> g = archdsl.load("specs/resnet18.yaml", input_shapes=[[3, 64, 64]])
        >>> layers = spec_layers(g)
        >>> layers[0].id, layers[0].kind, dict(layers[0].shapes)
        ('conv1', 'conv', {'kernel': (64, 3, 7, 7)})
        >>> layers[1].parents, layers[2].parents, layers[2].tags
        (('conv1',), ('bn1',), ('in:maxpool',))
    """
    tracer = FlowTracer()
    found: list[tuple[str, str, dict[str, Shape], tuple[str, ...], dict[str, Any]]] = []
    for node_id in graph:
        node = graph[node_id]
        kind = node["type"]
        if kind == "input":
            tracer.source(node_id)
            continue
        weights = node["weights"]
        if not weights:
            tracer.op(node_id, node["inputs"], _SPEC_FLOW.get(kind), concat=kind == "concat")
            continue
        family = TYPE_FAMILY.get(kind)
        if family is None:
            raise BackendError(f"node '{node_id}': weight import does not know layers of type "
                               f"'{kind}'")
        attrs: dict[str, Any] = {}
        if kind == "batchnorm":
            attrs["eps"] = float(node["params"].eps)
        shapes = {name: tuple(int(d) for d in w.shape) for name, w in weights.items()}
        parents = tracer.layer(node_id, node["inputs"], node_id)
        found.append((node_id, family, shapes, parents, attrs))
    return [SpecLayer(i, f, sh, p, a, tracer.tags(i)) for i, f, sh, p, a in found]


def _union(groups: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for g in groups:
        for x in g:
            seen[x] = None
    return tuple(seen)


# ---------------------------------------------------------------------------- signatures
def squeeze_shape(shape: Sequence[int]) -> Shape:
    """Drop trailing 1-sized kernel dimensions (beyond the first two): a 1×1 convolution's
    ``(O, I, 1, 1)`` kernel compares equal to a dense layer's ``(O, I)``.

    >>> squeeze_shape((64, 32, 1, 1)), squeeze_shape((64, 1, 3, 3)), squeeze_shape((10,))
    ((64, 32), (64, 1, 3, 3), (10,))
    """
    dims = [int(d) for d in shape]
    while len(dims) > 2 and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def _families_match(spec_kind: str, ref_kind: str) -> bool:
    if ref_kind == CONV_OR_TRANSPOSED:
        return spec_kind in ("conv", "transposed")
    return spec_kind == ref_kind


def _shapes_match(spec_shapes: Mapping[str, Shape], ref_shapes: Mapping[str, Shape]) -> bool:
    if set(spec_shapes) != set(ref_shapes):
        return False
    return all(squeeze_shape(spec_shapes[k]) == squeeze_shape(ref_shapes[k]) for k in spec_shapes)


def compatible(spec: SpecLayer, ref: RefLayer) -> bool:
    """Same family and the same weights with the same (squeezed) shapes."""
    return _families_match(spec.kind, ref.kind) and _shapes_match(spec.shapes, ref.shapes)


def _sig_key(kind: str, shapes: Mapping[str, Shape]) -> tuple[Any, ...]:
    family = "conv" if kind in ("conv", "transposed", CONV_OR_TRANSPOSED) else kind
    return (family, tuple(sorted((k, squeeze_shape(v)) for k, v in shapes.items())))


def describe(kind: str, shapes: Mapping[str, Shape]) -> str:
    """``"conv: kernel [64, 3, 7, 7], bias [64]"``: a layer for messages."""
    parts = ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
    return f"{kind}: {parts}" if parts else kind


# ---------------------------------------------------------------------------- names
def normalize_name(name: str) -> str:
    """Lower-case with every run of separators made one ``.`` (for name similarity).

    >>> normalize_name("layer1.0.downsample.0"), normalize_name("Conv_1/BN")
    ('layer1.0.downsample.0', 'conv.1.bn')
    """
    return re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".")


def name_similarity(a: str, b: str) -> float:
    """difflib ratio of the normalised names, 1.0 for equal ones."""
    na, nb = normalize_name(a), normalize_name(b)
    if na == nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


def _by_name(spec_id: str, cands: Sequence[RefLayer]) -> RefLayer | None:
    """The candidate whose name is clearly the most similar to ``spec_id``, if any."""
    if len(cands) < 2:
        return cands[0] if cands else None
    scored = sorted(((name_similarity(spec_id, c.name), i) for i, c in enumerate(cands)),
                    reverse=True)
    best, second = scored[0][0], scored[1][0]
    if best == 1.0 and second < 1.0:
        return cands[scored[0][1]]
    if best >= _NAME_MIN and best - second >= _NAME_MARGIN:
        return cands[scored[0][1]]
    return None


# ---------------------------------------------------------------------------- matching
class _Matcher:
    """State of one alignment (see :func:`match_layers`)."""

    def __init__(self, spec: Sequence[SpecLayer], ref: Sequence[RefLayer], use_names: bool):
        self.spec = list(spec)
        self.ref = list(ref)
        self.use_names = use_names
        names = [r.name for r in self.ref]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise BackendError(f"the reference has two weighted layers named '{dup}'")
        self.index = {r.name: i for i, r in enumerate(self.ref)}
        self.graph_mode = bool(self.ref) and all(r.parents is not None for r in self.ref)
        self.used: set[str] = set()
        #: spec node → the reference layer whose output stands for the node's output
        self.out_of: dict[str, str] = {}
        self.pairs: list[tuple[str, str]] = []
        self.weights: Weights = {}
        self.notes: list[str] = []
        self.last = -1
        if self.graph_mode:
            for r in self.ref:
                for p in r.parents or ():
                    if p not in self.index:
                        raise BackendError(f"reference layer '{r.name}' names an unknown "
                                           f"weighted parent '{p}'")
            self._spec_children = _children({s.id: s.parents for s in self.spec})
            self._ref_children = _children({r.name: r.parents or () for r in self.ref})
            self._spec_sig = {s.id: (_sig_key(s.kind, s.shapes), s.tags) for s in self.spec}
            self._ref_sig = {r.name: (_sig_key(r.kind, r.shapes), r.tags) for r in self.ref}
            self._spec_hash: dict[int, dict[str, int]] = {0: {k: hash(v) for k, v in
                                                             self._spec_sig.items()}}
            self._ref_hash: dict[int, dict[str, int]] = {0: {k: hash(v) for k, v in
                                                            self._ref_sig.items()}}

    # ------------------------------------------------------------------ helpers
    def _hash(self, side: str, depth: int) -> dict[str, int]:
        table = self._spec_hash if side == "spec" else self._ref_hash
        if depth not in table:
            prev = self._hash(side, depth - 1)
            sig = self._spec_sig if side == "spec" else self._ref_sig
            children = self._spec_children if side == "spec" else self._ref_children
            table[depth] = {
                k: hash((sig[k], tuple(sorted(prev[c] for c in children.get(k, ())))))
                for k in sig
            }
        return table[depth]

    def _assign(self, s: SpecLayer, refs: Sequence[RefLayer], arrays: Mapping[str, Any]) -> None:
        self.weights[s.id] = {
            name: np.asarray(arrays[name]).reshape(s.shapes[name]) for name in s.shapes
        }
        for r in refs:
            self.used.add(r.name)
        self.out_of[s.id] = refs[-1].name
        self.pairs.append((s.id, "+".join(r.name for r in refs)))
        self.last = max(self.index[r.name] for r in refs)

    def _unused(self) -> list[RefLayer]:
        return [r for r in self.ref if r.name not in self.used]

    # ------------------------------------------------------------------ one node
    def match(self, s: SpecLayer) -> None:
        pool = self._unused()
        if self.graph_mode:
            want = {self.out_of[p] for p in s.parents}
            pool = [r for r in pool if set(r.parents or ()) == want]
        cands = [r for r in pool if compatible(s, r)]
        if not cands and s.kind == "separable":
            pair = self._separable_pair(s, pool)
            if pair is not None:
                self._assign(s, pair, _merge_separable(pair))
                return
        if not cands:
            raise self._no_match(s)
        chosen = cands[0] if len(cands) == 1 else self._choose(s, cands)
        self._assign(s, [chosen], chosen.arrays)

    def _choose(self, s: SpecLayer, cands: list[RefLayer]) -> RefLayer:
        if not self.graph_mode:
            return self._choose_in_sequence(s, cands)
        group = cands
        for depth in range(_MAX_DEPTH + 1):
            mine = self._hash("spec", depth)[s.id]
            theirs = self._hash("ref", depth)
            same = [c for c in group if theirs[c.name] == mine]
            if len(same) == 1:
                return same[0]
            if not same:
                break
            group = same
        if self.use_names:
            named = _by_name(s.id, group)
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
        near = [c for c in cands if abs(self.index[c.name] - self.index[chosen.name]) <= 16]
        if len(near) > 1 and self.index[chosen.name] != self.last + 1:
            self.notes.append(
                f"'{s.id}': {len(near)} nearby reference layers have its shapes; took "
                f"'{chosen.name}' by position (no graph to compare)"
            )
        return chosen

    def _separable_pair(self, s: SpecLayer, pool: list[RefLayer]) -> tuple[RefLayer, ...] | None:
        dw_shape = s.shapes.get("depthwise_kernel")
        pw_shape = s.shapes.get("pointwise_kernel")
        has_bias = "bias" in s.shapes
        for a in pool:
            if not (_families_match("conv", a.kind) and set(a.arrays) == {"kernel"}
                    and a.shapes["kernel"] == dw_shape):
                continue
            if self.graph_mode:
                nxt = [r for r in self._unused() if tuple(r.parents or ()) == (a.name,)]
            else:
                i = self.index[a.name] + 1
                nxt = self.ref[i:i + 1]
            for b in nxt:
                want = {"kernel", "bias"} if has_bias else {"kernel"}
                if (b.name not in self.used and _families_match("conv", b.kind)
                        and set(b.arrays) == want and pw_shape is not None
                        and squeeze_shape(b.shapes["kernel"]) == squeeze_shape(pw_shape)
                        and (not has_bias or b.shapes["bias"] == s.shapes["bias"])):
                    return (a, b)
        return None

    # ------------------------------------------------------------------ errors
    def _no_match(self, s: SpecLayer) -> BackendError:
        unused = self._unused()
        if self.graph_mode:
            want = [self.out_of[p] for p in s.parents]
            same_parents = [r for r in unused if set(r.parents or ()) == set(want)]
            same_sig = [r for r in unused if compatible(s, r)]
            reads = ", ".join(f"'{p}' (reference '{self.out_of[p]}')" for p in s.parents)
            reads = reads or "the model input"
            if same_sig:
                why = (f"the reference layers with these shapes read from other layers; this "
                       f"node reads {reads}")
                near = same_parents + same_sig
            else:
                why = f"no unused reference layer has these shapes (the node reads {reads})"
                near = same_parents or self._nearest_by_position(unused)
        else:
            same_sig = [r for r in unused if compatible(s, r)]
            why = "no unused reference layer has these shapes"
            near = self._nearest_by_position(unused)
        shown = ", ".join(f"'{r.name}' ({describe(r.kind, r.shapes)})" for r in _dedup(near)[:4])
        n_spec, n_ref = len(self.spec), len(self.ref)
        p_spec = sum(math.prod(v) for x in self.spec for v in x.shapes.values())
        p_ref = sum(math.prod(v) for x in self.ref for v in x.shapes.values())
        done = len(self.pairs)
        return BackendError(
            f"cannot match spec node '{s.id}' ({describe(s.kind, s.shapes)}) to a reference "
            f"layer: {why}. Nearest reference candidates: {shown or '(none left)'}",
            hint=(f"{done} of {n_spec} weighted spec nodes matched before it; the spec has "
                  f"{n_spec} weighted layers ({p_spec:,} weights), the reference {n_ref} "
                  f"({p_ref:,}). Is this the right spec / reference pair and spec arguments?"),
        )

    def _nearest_by_position(self, unused: list[RefLayer]) -> list[RefLayer]:
        return sorted(unused, key=lambda r: abs(self.index[r.name] - (self.last + 1)))[:4]


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
        BackendError: naming the first spec node that has no (or no unambiguous) reference
            layer, its shapes and the nearest candidates; or listing unused reference layers.
    """
    m = _Matcher(spec, ref, use_names)
    for s in m.spec:
        m.match(s)
    unused = [r.name for r in m._unused()]
    if unused and not allow_unused:
        listed = ", ".join(f"'{r.name}' ({describe(r.kind, r.shapes)})"
                           for r in m._unused()[:4])
        raise BackendError(
            f"{len(unused)} reference layer(s) have no counterpart in the spec: {listed}"
            + (" ..." if len(unused) > 4 else ""),
            hint="pass allow_unused=True (CLI: --allow-unused) to ignore them, e.g. an "
                 "auxiliary classifier the spec leaves out",
        )
    notes = m.notes + _attr_notes(m.spec, {r.name: r for r in m.ref}, m.pairs)
    if unused:
        notes.append(f"{len(unused)} reference layer(s) unused: {', '.join(unused[:8])}"
                     + (" ..." if len(unused) > 8 else ""))
    return WeightMatch(m.weights, m.pairs, notes, unused, "graph" if m.graph_mode else "sequence")


def _attr_notes(spec: Sequence[SpecLayer], ref: Mapping[str, RefLayer],
                pairs: Sequence[tuple[str, str]]) -> list[str]:
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
    """:func:`match_layers` on the graph's :func:`spec_layers`."""
    return match_layers(spec_layers(graph), ref, use_names=use_names, allow_unused=allow_unused)


# ---------------------------------------------------------------------------- npz files
def to_flat(weights: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """``{node: {name: array}}`` → ``{"node/name": array}``.

    >>> sorted(to_flat({"conv1": {"kernel": np.zeros(1), "bias": np.zeros(1)}}))
    ['conv1/bias', 'conv1/kernel']
    """
    flat: dict[str, np.ndarray] = {}
    for node_id, arrays in weights.items():
        for name, arr in arrays.items():
            if KEY_SEP in node_id or KEY_SEP in name:
                raise BackendError(f"weight key '{node_id}' / '{name}' contains '{KEY_SEP}'")
            flat[f"{node_id}{KEY_SEP}{name}"] = np.asarray(arr)
    return flat


def from_flat(flat: Mapping[str, Any]) -> Weights:
    """``{"node/name": array}`` → ``{node: {name: array}}`` (the metadata key is skipped).

    >>> from_flat({"layer1.0.conv1/kernel": np.zeros(2)})["layer1.0.conv1"]["kernel"].shape
    (2,)
    """
    out: Weights = {}
    for key, arr in flat.items():
        if key == META_KEY:
            continue
        node_id, sep, name = key.rpartition(KEY_SEP)
        if not sep or not node_id or not name:
            raise BackendError(f"weights key '{key}' is not '<node id>{KEY_SEP}<weight name>'")
        out.setdefault(node_id, {})[name] = np.asarray(arr)
    return out


def save_npz(path: str | Path, weights: Mapping[str, Mapping[str, Any]],
             meta: Mapping[str, Any] | None = None) -> None:
    """Write canonical weights (and JSON ``meta``) to ``path`` atomically (uncompressed npz).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "w.npz")
        >>> save_npz(p, {"fc": {"bias": np.arange(3.0)}}, {"source": "example"})
        >>> load_npz(p)["fc"]["bias"].tolist(), load_npz_meta(p)["source"]
        ([0.0, 1.0, 2.0], 'example')
    """
    from archdsl.fsutil import atomic_write_bytes

    flat = to_flat(weights)
    if meta is not None:
        flat[META_KEY] = np.array(json.dumps(dict(meta), sort_keys=True))
    buf = io.BytesIO()
    np.savez(buf, **flat)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | Path) -> Weights:
    """Read an archive written by :func:`save_npz` as ``{node: {name: array}}``.

    Raises:
        BackendError: unreadable file or a key that is not ``node/weight``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return from_flat({k: data[k] for k in data.files})
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot read weights file '{path}': {exc}",
                           hint="expected an .npz written by `archdsl import-weights`") from None


def load_npz_meta(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`save_npz` stored (``{}`` when there is none)."""
    with np.load(path, allow_pickle=False) as data:
        if META_KEY not in data.files:
            return {}
        meta: dict[str, Any] = json.loads(str(data[META_KEY]))
        return meta


def load_npz_for(graph: Graph, path: str | Path) -> Weights:
    """:func:`load_npz` + :func:`check_complete`: the weights of ``path``, verified to fit
    ``graph`` exactly (what ``build`` / ``crosscheck --weights FILE.npz`` need).

    Raises:
        BackendError: unreadable file, or a missing, extra or misshaped weight (named).
    """
    weights = load_npz(path)
    try:
        check_complete(graph, weights)
    except BackendError as exc:
        meta = load_npz_meta(path)
        made_for = f" (the file was made for spec '{meta['spec']}'" + (
            f", input {meta.get('input_shapes')})" if meta.get("input_shapes") else ")"
        ) if meta.get("spec") else ""
        raise BackendError(f"'{path}' does not fit '{graph.name}': {exc.message}{made_for}",
                           hint="import the weights for this spec and these --set / "
                                "--input-shape values") from None
    return weights


def check_complete(graph: Graph, weights: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise :class:`BackendError` unless ``weights`` has every weight of ``graph`` (and no
    other) with the canonical shape; the check ``--weights FILE.npz`` needs before a build.

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n  - dense: {units: 2}\\n")
    >>> check_complete(g, {"dense_1": {"kernel": np.zeros((2, 4))}})
    Traceback (most recent call last):
    ...
    archdsl.errors.BackendError: weights for node 'dense_1' lack 'bias' (expected: kernel, bias)
    """
    for node_id, node in graph.layers():
        expected = node["weights"]
        if not expected:
            continue
        given = weights.get(node_id)
        if given is None:
            raise BackendError(f"no weights for node '{node_id}'")
        for name, w in expected.items():
            if name not in given:
                raise BackendError(f"weights for node '{node_id}' lack '{name}' "
                                   f"(expected: {', '.join(expected)})")
            shape = tuple(np.shape(given[name]))
            if shape != tuple(w.shape):
                raise BackendError(f"node '{node_id}', weight '{name}': expected shape "
                                   f"{list(w.shape)}, the file has {list(shape)}")
        extra = [n for n in given if n not in expected]
        if extra:
            raise BackendError(f"node '{node_id}' has no weight(s) {', '.join(extra)}")
    known = {n for n, node in graph.layers() if node["weights"]}
    extra_nodes = [n for n in weights if n not in known]
    if extra_nodes:
        raise BackendError(f"the weights name node(s) the graph does not have (or that have no "
                           f"weights): {', '.join(extra_nodes[:5])}")


__all__ = [
    "CONV_OR_TRANSPOSED",
    "FAMILIES",
    "FLOW_KINDS",
    "KEY_SEP",
    "META_KEY",
    "TYPE_FAMILY",
    "FlowTracer",
    "RefLayer",
    "SpecLayer",
    "WeightMatch",
    "check_complete",
    "compatible",
    "describe",
    "from_flat",
    "load_npz",
    "load_npz_for",
    "load_npz_meta",
    "match_graph",
    "match_layers",
    "name_similarity",
    "normalize_name",
    "save_npz",
    "spec_layers",
    "squeeze_shape",
    "to_flat",
]
