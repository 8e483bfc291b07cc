"""The compiled graph: the IR every renderer and backend consumes.

Example:
    >>> import archdsl
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> g.params
    {'trainable': 293034, 'non_trainable': 896, 'total': 293930}
    >>> g.output_shapes
    [(10,)]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx

from archdsl import passes
from archdsl.build import build_graph
from archdsl.errors import ArchdslError, SpecError, did_you_mean
from archdsl.ir import Node, node_of
from archdsl.source import DEFAULT_LIMITS, Limits, YMap, load_text
from archdsl.spec import Spec, load_libraries, load_spec, load_spec_text


class ExpectationError(ArchdslError):
    """The spec's ``expect:`` section does not match what the compiler computed (exit 1)."""

    kind = "expectation failed"


class Graph:
    """A validated, expanded, shape-inferred architecture.

    ``nx`` is the :class:`networkx.DiGraph` that indexes the nodes: each holds one typed
    :class:`~archdsl.ir.Node` (``graph[node_id]``) under the attribute ``node``.
    """

    def __init__(self, g: nx.DiGraph, spec: Spec, tree: YMap, args: dict[str, Any]) -> None:
        self.nx = g
        self.spec = spec
        self.tree = tree
        self.args = args

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file(self) -> str:
        return self.tree.loc.file

    @property
    def inputs(self) -> list[str]:
        return list(self.nx.graph["inputs"])

    @property
    def outputs(self) -> list[str]:
        return list(self.nx.graph["outputs"])

    @property
    def notes(self) -> list[str]:
        """What ``check`` should tell the user beyond the table: e.g. which layers of imported
        libraries the spec's top-level ``defaults:`` changed."""
        return list(self.nx.graph.get("notes", []))

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [self[n].shape for n in self.inputs]

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [self[n].shape for n in self.outputs]

    @property
    def params(self) -> dict[str, int]:
        t = sum(node.trainable for node in self.walk())
        nt = sum(node.non_trainable for node in self.walk())
        return {"trainable": t, "non_trainable": nt, "total": t + nt}

    @property
    def macs(self) -> int:
        return sum(node.macs for node in self.walk())

    def __iter__(self) -> Iterator[str]:
        """Node ids in topological (definition) order."""
        return iter(self.nx.nodes)

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __getitem__(self, node_id: str) -> Node:
        try:
            return node_of(self.nx, node_id)
        except KeyError:
            raise KeyError(f"no node '{node_id}'.{did_you_mean(node_id, self.nx.nodes)}") from None

    def walk(self) -> Iterator[Node]:
        """Every non-input node, in topological (definition) order."""
        for n in self.nx.nodes:
            node = node_of(self.nx, n)
            if not node.is_input:
                yield node

    def layers(self) -> Iterator[tuple[str, Node]]:
        """(id, node) of every non-input node, in order."""
        for node in self.walk():
            yield node.id, node

    # ------------------------------------------------------------------ outputs
    def to_json(self) -> dict[str, Any]:
        """The ``archdsl check --json`` object."""
        from archdsl.report import graph_json

        return graph_json(self)

    def summary(self) -> str:
        """A plain-text summary table with totals."""
        from archdsl.report import summary_text

        return summary_text(self)

    def expanded(self) -> dict[str, Any]:
        """The flat spec: every block, repeat, default and expression resolved."""
        from archdsl.report import expanded_spec

        return expanded_spec(self)

    def check_expectations(self) -> None:
        """Raise :class:`ExpectationError` when ``expect:`` disagrees with the computed values."""
        exp = self.spec.expect
        if exp is None:
            return
        got = {
            "params": self.params["trainable"],
            "non_trainable": self.params["non_trainable"],
            "total": self.params["total"],
            "macs": self.macs,
            "output_shape": list(self.output_shapes[0]),
        }
        bad = []
        for key in got:
            want = getattr(exp, key)
            if want is not None and want != got[key]:
                bad.append(key)
        if bad:
            tree = self.tree.get("expect")
            loc = tree.value_loc(bad[0]) if isinstance(tree, YMap) else self.tree.loc
            text = "; ".join(f"{k}: expected {getattr(exp, k)}, computed {got[k]}" for k in bad)
            raise ExpectationError(text, loc)

    def to_torch(self, **kwargs: Any) -> Any:
        """Lower to a native ``torch.nn.Module`` (needs the ``torch`` extra)."""
        from archdsl.backends import load_backend

        return load_backend("torch").build(self, **kwargs)

    def to_keras(self, **kwargs: Any) -> Any:
        """Lower to a native Keras 3 functional ``keras.Model`` (needs the ``keras`` extra)."""
        from archdsl.backends import load_backend

        return load_backend("keras").build(self, **kwargs)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``--set k=v`` items; values are YAML scalars (``1.2``, ``true``, ``[1, 2]``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(
                f"--set expects key=value, received '{item}'", hint="for example: --set width=1.2"
            )
        out[key.strip()] = load_text(value, "--set") if value.strip() else ""
    return out


#: ``--set train.KEY=VALUE`` changes a training setting (on the commands that train), not a
#: spec argument
TRAIN_PREFIX = "train."


def _apply_overrides(spec: Spec, overrides: dict[str, Any]) -> dict[str, Any]:
    args = dict(spec.args)
    for key, value in overrides.items():
        if key.startswith(TRAIN_PREFIX) and key not in args:
            raise SpecError(f"--set {key}: a training setting, and this command trains nothing",
                            hint="train, ablate and crosscheck --train-steps take training "
                                 "settings")
        if key not in args:
            raise SpecError(
                f"--set {key}: the spec has no argument '{key}'.{did_you_mean(key, args)}",
                hint=f"its arguments: {', '.join(args) or '(none)'}",
            )
        old = args[key]
        if isinstance(old, bool) != isinstance(value, bool) or (
            isinstance(old, str) and not isinstance(value, str)
        ):
            raise SpecError(f"--set {key}: expected a value like {old!r}, received {value!r}")
        args[key] = value
    return args


def compile_spec(
    spec: Spec,
    tree: YMap,
    overrides: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    input_shapes: list[list[int]] | None = None,
) -> Graph:
    """Expand, build and run all passes on a validated spec.

    ``input_shapes`` replaces the spec's input shape(s), e.g. to run a zoo model at 64×64.
    Every expression is evaluated under ``limits`` (``--max-expr-chars``, ``--max-expr-items``).
    """
    from archdsl.expr import limits_scope

    with limits_scope(limits):
        return _compile(spec, tree, overrides, limits, input_shapes)


def _compile(
    spec: Spec,
    tree: YMap,
    overrides: dict[str, Any] | None,
    limits: Limits,
    input_shapes: list[list[int]] | None,
) -> Graph:
    if input_shapes is not None:
        spec = _with_inputs(spec, input_shapes)
    args = _apply_overrides(spec, overrides or {})
    from archdsl.expr import evaluate_value

    for key, value in list(args.items()):  # args may refer to earlier args
        args[key] = evaluate_value(
            value, args, tree["args"].value_loc(key) if "args" in tree else None
        )
    blocks = load_libraries(spec.import_, tree, tree.loc.file, limits)
    for name in spec.blocks:
        if name in blocks:
            raise SpecError(
                f"block '{name}' is defined here and imported from '{blocks[name][2]}'",
                tree["blocks"].key_loc(name),
            )
    g = build_graph(spec, tree, blocks, args, limits)
    passes.count(g, limits)
    passes.receptive_field(g)
    return Graph(g, spec, tree, args)


def _with_inputs(spec: Spec, shapes: list[list[int]]) -> Spec:
    names = ["input"] if spec.input is not None else list(spec.inputs or {})
    if len(shapes) != len(names):
        raise SpecError(
            f"--input-shape given {len(shapes)} time(s), but the spec has {len(names)} input(s): "
            f"{', '.join(names)}"
        )
    if spec.input is not None:
        return spec.model_copy(update={"input": list(shapes[0])})
    return spec.model_copy(update={"inputs": dict(zip(names, map(list, shapes)))})


def load(
    path: str | Path,
    limits: Limits = DEFAULT_LIMITS,
    input_shapes: list[list[int]] | None = None,
    **overrides: Any,
) -> Graph:
    """Load, validate and compile a spec file.

    Keyword arguments override the spec's ``args`` (like ``--set``); ``input_shapes`` replaces
    the input shape(s) (like ``--input-shape``).

    >>> load("specs/cifar10_cnn.yaml").output_shapes
    [(10,)]
    >>> load("specs/resnet18.yaml", input_shapes=[[3, 64, 64]]).output_shapes
    [(1000,)]
    """
    spec, tree = load_spec(path, limits)
    return compile_spec(spec, tree, overrides, limits, input_shapes)


def loads(
    text: str,
    file: str = "<string>",
    limits: Limits = DEFAULT_LIMITS,
    input_shapes: list[list[int]] | None = None,
    **overrides: Any,
) -> Graph:
    """Like :func:`load` for YAML text."""
    spec, tree = load_spec_text(text, file, limits)
    return compile_spec(spec, tree, overrides, limits, input_shapes)
