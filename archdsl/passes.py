"""Graph passes. Each writes its results onto the nodes (like ``torch.fx``'s ``node.meta``).

* :func:`infer_node` — shape rule: ``shape`` and resolved ``attrs`` (e.g. explicit pads),
* :func:`count` — ``weights``, ``trainable``, ``non_trainable``, ``macs``,
* :func:`receptive_field` — ``rf``: receptive field and effective stride, min and max over
  all paths from the inputs of a branched DAG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import networkx as nx

from archdsl.errors import LimitError, ShapeError
from archdsl.ir import node_of, update
from archdsl.layers import ShapeRuleError, Window
from archdsl.layers.base import stride_fraction
from archdsl.source import Limits


def infer_node(g: nx.DiGraph, node_id: str, limits: Limits) -> None:
    """Infer one node's output shape from its inputs' shapes (already inferred)."""
    node = node_of(g, node_id)
    try:
        result = node.layer.infer(node.params, list(node.in_shapes))
    except ShapeRuleError as exc:
        shapes = ", ".join(f"'{s}' {list(x)}" for s, x in zip(node.inputs, node.in_shapes))
        raise ShapeError(
            f"node '{node_id}' ({node.type}): {exc}", node.loc, hint=f"input shapes: {shapes}"
        ) from None
    if any(d < 1 for d in result.shape):
        raise ShapeError(
            f"node '{node_id}' ({node.type}) would output shape {list(result.shape)}",
            node.loc,
            hint="the input is too small for this window; use padding or a smaller kernel/stride",
        )
    if math.prod(result.shape) > limits.max_tensor_elements:
        raise LimitError(
            f"node '{node_id}' outputs {math.prod(result.shape)} elements per sample, "
            f"more than the limit of {limits.max_tensor_elements}",
            node.loc,
            hint="raise the limit with --max-tensor-elements if intended",
        )
    update(g, node_id, shape=result.shape, attrs=result.attrs)


def count(g: nx.DiGraph, limits: Limits) -> None:
    """Weights, trainable / non-trainable parameter counts and MACs for every node."""
    total = 0
    for n in nx.topological_sort(g):
        node = node_of(g, n)
        if node.is_input:
            continue
        ins = list(node.in_shapes)
        try:
            weights = node.layer.weights(node.params, ins, node.shape)
        except ShapeRuleError as exc:
            raise ShapeError(f"node '{n}' ({node.type}): {exc}", node.loc) from None
        node = update(
            g,
            n,
            weights=weights,
            trainable=sum(w.size for w in weights.values() if w.trainable),
            non_trainable=sum(w.size for w in weights.values() if not w.trainable),
            macs=node.layer.macs(node.params, ins, node.shape),
        )
        total += node.trainable + node.non_trainable
        if total > limits.max_params:
            raise LimitError(
                f"the model has more than {limits.max_params} parameters (at node '{n}')",
                node.loc,
                hint="raise the limit with --max-params if intended",
            )


#: Receptive fields and effective strides are exact below this bound and saturate at it (a
#: stack of 1,000 stride-2 layers would otherwise build integers of thousands of digits).
RF_CAP = 10**15


def _cap(value: int) -> int:
    return min(value, RF_CAP)


_STRIDE_MIN, _STRIDE_MAX = Fraction(1, RF_CAP), Fraction(RF_CAP)


def _cap_stride(value: Fraction) -> Fraction:
    return min(max(value, _STRIDE_MIN), _STRIDE_MAX)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field size and effective stride per spatial dimension of the input.

    Values saturate at :data:`RF_CAP` (shown as ``≥1e15``).

    >>> str(ReceptiveField((3, 3), (7, 7), (Fraction(1),) * 2, (Fraction(2),) * 2))
    '3-7'
    >>> str(ReceptiveField((RF_CAP,), (RF_CAP,), (Fraction(1),), (Fraction(1),)))
    '≥1e15'
    """

    min: tuple[int, ...]
    max: tuple[int, ...]
    stride_min: tuple[Fraction, ...]
    stride_max: tuple[Fraction, ...]

    def as_json(self) -> dict[str, list[float] | list[int]]:
        def num(f: Fraction) -> float | int:
            return int(f) if f.denominator == 1 else float(f)

        return {
            "min": list(self.min),
            "max": list(self.max),
            "stride_min": [num(s) for s in self.stride_min],
            "stride_max": [num(s) for s in self.stride_max],
        }

    def __str__(self) -> str:
        def num(v: int) -> str:
            return "≥1e15" if v >= RF_CAP else str(v)

        def fmt(lo: tuple[int, ...], hi: tuple[int, ...]) -> str:
            if len(set(lo)) == 1 and len(set(hi)) == 1:
                return num(lo[0]) if lo == hi else f"{num(lo[0])}-{num(hi[0])}"
            return "×".join(num(a) if a == b else f"{num(a)}-{num(b)}" for a, b in zip(lo, hi))

        return fmt(self.min, self.max)


def receptive_field(g: nx.DiGraph) -> None:
    """Receptive field of every node (min and max over paths), written to ``node.rf``."""
    for n in nx.topological_sort(g):
        node = node_of(g, n)
        if node.is_input:
            dims = len(node.shape) - 1
            if dims > 0:  # a flat input has no receptive field
                one, unit = (1,) * dims, (Fraction(1),) * dims
                update(g, n, rf=ReceptiveField(one, one, unit, unit))
            continue
        rfs = [r for r in (node_of(g, s).rf for s in node.inputs) if r is not None]
        ordered = node.layer.layout_of(node.params) == "ordered" and len(node.in_shapes[0]) > 1
        if not rfs or ordered:
            continue  # reshapes, tokens, attention: positions no longer map to input windows
        base = rfs[0] if len(rfs) == 1 else _merge(rfs)
        win = node.layer.window(node.params, list(node.in_shapes), node.attrs)
        update(g, n, rf=_step(base, win, node.in_shapes[0]) if win is not None else base)


def _merge(rfs: list[ReceptiveField]) -> ReceptiveField:
    """The receptive field of a node reading several: min and max over the widest ones."""
    dims = max(len(r.min) for r in rfs)
    rfs = [r for r in rfs if len(r.min) == dims]
    return ReceptiveField(
        tuple(min(r.min[d] for r in rfs) for d in range(dims)),
        tuple(max(r.max[d] for r in rfs) for d in range(dims)),
        tuple(min(r.stride_min[d] for r in rfs) for d in range(dims)),
        tuple(max(r.stride_max[d] for r in rfs) for d in range(dims)),
    )


def _step(rf: ReceptiveField, win: Window, in_shape: tuple[int, ...]) -> ReceptiveField:
    spatial = in_shape[1:]
    if win.collapse:
        if not spatial or len(spatial) != len(rf.min):
            return rf
        grow = [(n - 1) for n in spatial]
        return ReceptiveField(
            tuple(_cap(int(r + g * s)) for r, g, s in zip(rf.min, grow, rf.stride_min)),
            tuple(_cap(int(r + g * s)) for r, g, s in zip(rf.max, grow, rf.stride_max)),
            rf.stride_min,
            rf.stride_max,
        )
    if len(win.kernel) != len(rf.min):
        return rf
    if set(win.kernel) == set(win.stride) == {1}:
        return rf  # a 1×1 window at stride 1 (a pointwise convolution) leaves it as it was
    lo, hi, smin, smax = [], [], [], []
    for d, k in enumerate(win.kernel):
        f = stride_fraction(win, d)
        # a transposed window of extent k at stride s reads ceil(k/s) input positions
        taps = math.ceil(k / win.stride[d]) if win.transposed else k
        lo.append(_cap(int(rf.min[d] + (taps - 1) * rf.stride_min[d])))
        hi.append(_cap(int(rf.max[d] + (taps - 1) * rf.stride_max[d])))
        smin.append(_cap_stride(rf.stride_min[d] * f))
        smax.append(_cap_stride(rf.stride_max[d] * f))
    return ReceptiveField(tuple(lo), tuple(hi), tuple(smin), tuple(smax))
