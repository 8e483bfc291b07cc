"""Expansion: blocks, repeats, per-type defaults, arguments and expressions → a graph.

The builder walks the spec's ``body`` top to bottom. Each entry is a one-key mapping
``{type: {args}}`` where ``type`` is a registered layer or a block. Blocks are inlined with a
scope prefix (``layer1.0.conv1``), ``repeat: n`` unrolls, ``if:`` drops a node. Every node is
shape-inferred as soon as it is added (so a block can read ``$in_channels``) and lands on the
:class:`networkx.DiGraph` with its location, scope and resolved arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import networkx as nx
from pydantic import ValidationError

from archdsl import passes
from archdsl.arguments import check_id, describe, eval_deep, param_error
from archdsl.blocks import (
    BlockCall,
    DefaultsReach,
    Frame,
    Scope,
    block_env,
    check_call,
    inner_frame,
    top_frame,
)
from archdsl.errors import GraphError, LimitError, Location, SpecError, choices_text, did_you_mean
from archdsl.expr import evaluate_value
from archdsl.ir import Node, add_node, node_of
from archdsl.layers import REGISTRY
from archdsl.source import Limits, YList, YMap
from archdsl.spec import RESERVED_KEYS, BlockDef, Spec
from archdsl.wiring import SPLIT, Wiring


class Builder(Wiring):
    """Builds the graph of one spec. Use :func:`build_graph`."""

    def __init__(
        self,
        spec: Spec,
        tree: YMap,
        blocks: Mapping[str, tuple[BlockDef, YMap, str]],
        limits: Limits,
    ) -> None:
        self.spec = spec
        self.tree = tree
        self.blocks = blocks
        self.limits = limits
        self.g = nx.DiGraph()
        self.file = tree.loc.file
        #: every proper dotted prefix of a node id (``a`` and ``a.b`` for ``a.b.c``)
        self.prefixes: set[str] = set()
        self.reach = DefaultsReach(silent=spec.defaults_scope is not None)

    # ---------------------------------------------------------------- entry point
    def build(self, args: dict[str, Any]) -> nx.DiGraph:
        frame = top_frame(dict(args), self.spec)
        prev = self._inputs(frame)
        body = self.tree["body"]
        last = self._body(body, frame, prev)
        self.g.graph["outputs"] = self._outputs(frame.scope, last)
        self.g.graph["notes"] = self.reach.notes(self.spec.defaults, self.file)
        self._check_dangling()
        return self.g

    def _inputs(self, frame: Frame) -> str:
        spec, tree = self.spec, self.tree
        if (spec.input is None) == (spec.inputs is None):
            raise SpecError(
                "give exactly one of 'input' (one shape) or 'inputs' (named shapes)",
                tree.loc,
                hint="for example: input: [3, 32, 32]",
            )
        if spec.input is not None:
            named = {"input": (spec.input, tree.value_loc("input"))}
        else:
            assert spec.inputs is not None
            ins = tree["inputs"]
            named = {k: (v, ins.value_loc(k)) for k, v in spec.inputs.items()}
        for name, (shape, loc) in named.items():
            resolved = [evaluate_value(v, frame.env, loc) for v in shape]
            if not resolved or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in resolved
            ):
                raise SpecError(
                    "input shape must be a list of positive integers (C, *spatial), "
                    f"received {resolved}",
                    loc,
                )
            if math.prod(resolved) > self.limits.max_tensor_elements:
                raise LimitError(
                    f"input '{name}' {resolved} has {math.prod(resolved)} elements per sample, "
                    f"more than the limit of {self.limits.max_tensor_elements}",
                    loc,
                    hint="raise the limit with --max-tensor-elements if intended",
                )
            self._add(name, "input", None, {}, [], loc, frame.scope, tuple(resolved))
            frame.scope.names[name] = name
        self.g.graph["inputs"] = list(named)
        return next(iter(named))

    # ---------------------------------------------------------------- bodies
    def _body(self, body: Any, frame: Frame, prev: str) -> str:
        if not isinstance(body, YList):
            raise SpecError("'body' must be a list of nodes", getattr(body, "loc", None))
        if not body:
            raise SpecError("'body' is empty: add at least one node", body.loc)
        later = self._local_ids(body)
        for index, entry in enumerate(body):
            loc = body.item_loc(index)
            prev = self._entry(entry, loc, frame, prev, later)
        return prev

    def _local_ids(self, body: YList) -> dict[str, int]:
        ids: dict[str, int] = {}
        for entry in body:
            if isinstance(entry, YMap) and len(entry) == 1:
                val = next(iter(entry.values()))
                if isinstance(val, YMap) and isinstance(val.get("id"), str):
                    ids[val["id"]] = val.value_loc("id").line
        return ids

    def _entry(
        self, entry: Any, loc: Location, frame: Frame, prev: str, later: dict[str, int]
    ) -> str:
        kind, kind_loc, raw = self._parse_entry(entry, loc, frame)
        env = frame.env
        cond = raw.get("if", True)
        if evaluate_value(cond, env, raw.value_loc("if")) is False or cond is False:
            return prev
        if kind == SPLIT:
            return self._split(raw, kind_loc, env, frame, prev, later)
        repeat = self._repeat(raw, env)
        indexed = "repeat" in raw
        base_id = raw.get("id")
        if base_id is not None:
            base_id = evaluate_value(base_id, env, raw.value_loc("id"))
            check_id(base_id, raw.value_loc("id"))
        base_id = base_id or frame.scope.auto_id(kind)
        for i in range(repeat):
            local = f"{base_id}.{i}" if indexed else base_id
            ienv = {**env, "i": i} if indexed else env
            sources = self._sources(raw, ienv, frame, prev, later, local) if i == 0 else [prev]
            if kind in REGISTRY:
                prev = self._layer(kind, raw, kind_loc, ienv, frame, sources, local)
            else:
                prev = self._block(kind, raw, kind_loc, ienv, frame, sources, local)
        if indexed:
            frame.scope.names[base_id] = prev  # `from: layer1` means the last repetition
        return prev

    def _parse_entry(self, entry: Any, loc: Location, frame: Frame) -> tuple[str, Location, YMap]:
        """``- type: {arguments}`` → (type, its location, arguments), with located errors."""
        if not isinstance(entry, YMap) or len(entry) != 1:
            raise SpecError(
                "each node is a one-key mapping `- type: {arguments}`, "
                f"received {describe(entry)}",
                getattr(entry, "loc", loc),
                hint="for example: - conv2d: {filters: 32, kernel: 3}",
            )
        key = next(iter(entry))
        kind_loc = entry.key_loc(key)
        raw = entry[key]
        kind = evaluate_value(key, frame.env, kind_loc)  # `- $act: {}` picks the type by argument
        if not isinstance(kind, str):
            raise SpecError(f"a node type must be a name, received {kind!r}", kind_loc)
        if raw is None:
            raw = YMap(loc=kind_loc)
        if not isinstance(raw, YMap):
            raise SpecError(
                f"arguments of '{kind}' must be a mapping, received {describe(raw)}",
                entry.value_loc(key),
                hint=f"write `- {kind}: {{}}` for no arguments",
            )
        known = [*REGISTRY, SPLIT, *self.spec.blocks, *self.blocks]
        if kind not in known:
            raise SpecError(
                f"unknown layer type '{kind}'.{did_you_mean(kind, known)}",
                kind_loc,
                hint=f"valid types: {choices_text(known, 60)}",
            )
        return kind, kind_loc, raw

    def _repeat(self, raw: YMap, env: dict[str, Any]) -> int:
        """The ``repeat:`` count: a non-negative integer within the limit (0 yields nothing)."""
        repeat = evaluate_value(raw.get("repeat", 1), env, raw.value_loc("repeat"))
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
            raise SpecError(
                f"'repeat' must be a non-negative integer, received {repeat!r}",
                raw.value_loc("repeat"),
            )
        if repeat > self.limits.max_repeat:
            raise LimitError(
                f"'repeat: {repeat}' exceeds the limit of {self.limits.max_repeat}",
                raw.value_loc("repeat"),
                hint="raise it with --max-repeat if intended",
            )
        return repeat

    # ---------------------------------------------------------------- layers
    def _layer(
        self,
        kind: str,
        raw: YMap,
        loc: Location,
        env: dict[str, Any],
        frame: Frame,
        sources: list[str],
        local: str,
    ) -> str:
        layer = REGISTRY[kind]
        merged = {**frame.defaults.get(kind, {})}
        for key, value in raw.items():
            if key not in RESERVED_KEYS:
                merged[key] = value
        values = {
            k: eval_deep(v, env, raw.value_loc(k) if k in raw else loc) for k, v in merged.items()
        }
        lo, hi = layer.arity
        if len(sources) < lo or (hi is not None and len(sources) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo}-{hi}"
            raise GraphError(
                f"'{kind}' takes {want} input(s), received {len(sources)}: {sources}",
                raw.value_loc("from") if "from" in raw else loc,
                hint="list the inputs with `from: [a, b]`" if lo > 1 else None,
            )
        node_id = self._make(kind, values, raw, loc, frame, sources, local)
        self.reach.record(frame, kind, raw, node_of(self.g, node_id).params, node_id)
        return node_id

    def _make(self, kind: str, values: dict[str, Any], raw: YMap, loc: Location, frame: Frame,
              sources: list[str], local: str) -> str:
        """Validate ``values`` as ``kind``'s parameters, add the node, infer its shape."""
        layer = REGISTRY[kind]
        try:
            params = layer.parse(values)
        except ValidationError as exc:
            raise param_error(exc, kind, layer.Params.model_fields, raw, loc) from None
        node_id = frame.scope.prefix + local
        self._add(node_id, kind, params, values, sources, loc, frame.scope)
        passes.infer_node(self.g, node_id, self.limits)
        frame.scope.names[local] = node_id
        return node_id

    def _add(
        self,
        node_id: str,
        kind: str,
        params: Any,
        values: dict[str, Any],
        sources: list[str],
        loc: Location,
        scope: Scope,
        shape: tuple[int, ...] = (),
    ) -> None:
        if node_id in self.g:
            first = node_of(self.g, node_id).loc
            raise GraphError(
                f"duplicate node id '{node_id}' (first defined at line {first.line})",
                loc,
                hint="ids must be unique in their block or at the top level",
            )
        self._check_nesting(node_id, loc)
        if self.g.number_of_nodes() >= self.limits.max_nodes:
            raise LimitError(
                f"the expanded graph has more than {self.limits.max_nodes} nodes",
                loc,
                hint="raise the limit with --max-nodes if intended",
            )
        in_shapes = tuple(node_of(self.g, s).shape for s in sources)
        node = Node(
            node_id, kind, params, tuple(sources), in_shapes, shape, loc, scope.path, values
        )
        add_node(self.g, node)

    def _check_nesting(self, node_id: str, loc: Location) -> None:
        """Node ids are paths in the native models (``model.block1.conv1``): one node cannot
        sit inside another (``c.weight`` next to a conv ``c`` would clash with its weight)."""
        parts = node_id.split(".")
        outer = [".".join(parts[:i]) for i in range(1, len(parts))]
        clash = next((o for o in outer if o in self.g), None)
        if clash is not None or node_id in self.prefixes:
            other = clash if clash is not None else next(
                n for n in self.g if n.startswith(node_id + ".")
            )
            line = node_of(self.g, other).loc.line
            inner = node_id if clash is not None else other
            raise GraphError(
                f"node id '{node_id}' and node '{other}' (line {line}) nest one inside the "
                "other; ids are paths in the PyTorch and Keras models, so a node cannot "
                "contain another",
                loc,
                hint=f"rename '{inner}', for example to '{inner.replace('.', '_')}'",
            )
        self.prefixes.update(outer)

    # ---------------------------------------------------------------- blocks
    def _block(
        self,
        kind: str,
        raw: YMap,
        loc: Location,
        env: dict[str, Any],
        frame: Frame,
        sources: list[str],
        local: str,
    ) -> str:
        if kind in self.spec.blocks:
            bdef, btree, library = self.spec.blocks[kind], self.tree["blocks"][kind], None
        else:
            bdef, btree, library = self.blocks[kind]
        check_call(kind, frame, self.limits, loc)
        call = BlockCall(kind, raw, loc, env, sources, local)
        inner = inner_frame(frame, kind, bdef, block_env(self.g, self.spec, bdef, btree, call),
                            local, library)
        inner.scope.names.update({"in": sources[0]})
        out = self._body(btree["body"], inner, sources[0])
        frame.scope.names[local] = out
        return out

    # ---------------------------------------------------------------- outputs
    def _outputs(self, top: Scope, last: str) -> list[str]:
        if not self.spec.outputs:
            return [last]
        outs = []
        tree_outs = self.tree["outputs"]
        for j, ref in enumerate(self.spec.outputs):
            loc = tree_outs.item_loc(j) if isinstance(tree_outs, YList) else self.tree.loc
            if ref in top.names:
                outs.append(top.names[ref])
            elif ref in self.g:
                outs.append(ref)
            else:
                raise GraphError(f"unknown output '{ref}'.{did_you_mean(ref, top.names)}", loc)
        return outs

    def _check_dangling(self) -> None:
        outs = set(self.g.graph["outputs"])
        for n in self.g.nodes:
            if self.g.out_degree(n) == 0 and n not in outs:
                node = node_of(self.g, n)
                what = "input" if node.is_input else "output of node"
                raise GraphError(
                    f"the {what} '{n}' is never used",
                    node.loc,
                    hint="add it to `outputs:`, feed it to a node with `from:`, or remove it",
                )
        if not nx.is_directed_acyclic_graph(
            self.g
        ):  # cannot happen by construction; kept as a guard
            raise GraphError("the graph has a cycle", self.tree.loc)


def build_graph(
    spec: Spec,
    tree: YMap,
    blocks: Mapping[str, tuple[BlockDef, YMap, str]],
    args: dict[str, Any],
    limits: Limits,
) -> nx.DiGraph:
    """Expand ``spec`` with ``args`` into a shape-inferred DiGraph."""
    g = Builder(spec, tree, blocks, limits).build(args)
    g.graph["name"] = spec.name
    return g
