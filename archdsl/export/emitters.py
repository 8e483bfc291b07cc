"""Per-target emitter tables: layer type → the source a node becomes in a generated file.

Each target (``torch-src``, ``keras-src``) keeps one :class:`Emitters` table, filled by
``@TABLE.register("conv2d", ...)`` like a backend's lowering table
(:mod:`archdsl.lowering`): an emitter takes the typed node and the target's context and
returns what the node becomes. :meth:`Emitters.missing` lists the registered layer types a
target cannot emit yet (tests/export checks it is empty), and an export of a graph with such a
type fails with :class:`ExportError` naming it.

What an emitter returns:

* :class:`Module` (torch): a submodule, ``nn.Conv2d(...)``, named by the node id and called on
  the node's inputs; ``paths`` maps canonical weight names to its tensors when they differ from
  :data:`TORCH_PATHS`;
* :class:`Layers` (Keras): the layer calls applied in turn (pre-layers named
  ``"<node id>-<role>"``, the last one named by the node id), as the Keras lowering builds them;
* :class:`Inline` (both): an expression over the inputs' variables (``{0} + {1}``), for merges
  and indexing; ``{*}`` stands for every input, comma-separated.

``helpers`` names the helper classes/functions (:mod:`archdsl.export.helpers_torch`,
:mod:`archdsl.export.helpers_keras`) the code uses; they are written into the file.

Example:
    >>> table: Emitters[str] = Emitters("demo")
    >>> @table.register("relu")
    ... def emit_relu(node, ctx):
    ...     return "relu"
    >>> "conv2d" in table.missing(), "relu" in table.missing()
    (True, False)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from archdsl.errors import ArchdslError
from archdsl.export.code import Call
from archdsl.ir import Node
from archdsl.layers import REGISTRY

T = TypeVar("T")

#: canonical weight name → tensor path in the module a torch emitter returns (the default)
TORCH_PATHS: dict[str, str] = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "running_mean": "running_mean",
    "running_var": "running_var",
}


class ExportError(ArchdslError):
    """A spec that cannot be exported to the requested format (exit code 2)."""

    kind = "export error"


@dataclass(frozen=True)
class Module:
    """A torch submodule (``call``) named by the node id."""

    call: Call
    paths: Mapping[str, str] = field(default_factory=dict)
    helpers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layers:
    """Keras layers applied in turn: ``(name suffix, call)`` pairs, the last suffix ``""``.

    ``apply``: how the last layer takes its inputs: ``"one"`` (``layer(x)``), ``"list"``
    (``layer([a, b])``) or ``"self"`` (``layer(x, x)``, attention)."""

    calls: tuple[tuple[str, Call], ...]
    apply: str = "one"
    helpers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inline:
    """An expression over the inputs' variables: ``{0}``, ``{1}``, or ``{*}`` for all, and
    literal ``values`` (``(slot, value)`` pairs, written where ``{slot}`` stands: they may
    become parameters). ``module``: the same as a module, used inside a module group."""

    template: str
    values: tuple[tuple[str, Any], ...] = ()
    helpers: tuple[str, ...] = ()
    module: Call | None = None

    @property
    def call(self) -> Call:
        """The values as a call (what parametrization compares)."""
        from archdsl.export.code import Arg

        return Call("inline", tuple(Arg(k, v) for k, v in self.values))

    def render(self, args: list[str], values: Call | None = None) -> str:
        """The expression on the variables ``args`` (``values``: the parametrized call)."""
        from archdsl.export.code import literal

        vals = {a.slot: a.value for a in (values or self.call).args}
        text = self.template.replace("{*}", ", ".join(args))
        return text.format(*args, **{k: literal(v) for k, v in vals.items()})


#: the identity: the output is the input's variable
ALIAS = Inline("{0}", module=Call("nn.Identity"))


class Emitters(dict[str, Callable[[Node, Any], T]], Generic[T]):
    """A target's table ``layer type → emitter``, filled by :meth:`register`."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def register(self, *keys: str) -> Callable[[Callable[[Node, Any], T]],
                                               Callable[[Node, Any], T]]:
        """Decorator: register a function as the emitter of the layer types ``keys``."""
        for key in keys:
            if key not in REGISTRY:
                raise TypeError(f"{self.target}: no registered layer type '{key}'")
            if key in self:
                raise TypeError(f"{self.target}: layer type '{key}' emitted twice")

        def deco(fn: Callable[[Node, Any], T]) -> Callable[[Node, Any], T]:
            for key in keys:
                self[key] = fn
            return fn

        return deco

    def emit(self, node: Node, ctx: Any) -> T:
        """What ``node`` becomes; :class:`ExportError` when its type has no emitter here."""
        fn = self.get(node.type)
        if fn is None:
            raise ExportError(
                f"node '{node.id}': the {self.target} export has no emitter for layer type "
                f"'{node.type}' yet",
                hint="export to onnx (from the torch lowering), or add the emitter in "
                "archdsl/export/",
            )
        return fn(node, ctx)

    def missing(self) -> list[str]:
        """Registered layer types this target cannot emit (empty when complete)."""
        return sorted(set(REGISTRY) - set(self))


def compact(values: Any) -> Any:
    """One int for equal sizes, the tuple otherwise (``(3, 3)`` → ``3``).

    >>> compact((3, 3)), compact((1, 2)), compact(5)
    (3, (1, 2), 5)
    """
    if isinstance(values, (tuple, list)) and all(type(v) is int for v in values):
        vals = tuple(values)
        return vals[0] if vals and all(v == vals[0] for v in vals) else vals
    return values


def unsupported(node: Node, target: str, why: str) -> ExportError:
    """The error for a node whose arguments a target cannot express."""
    return ExportError(f"node '{node.id}' ({node.type}): the {target} export {why}")


__all__ = ["ALIAS", "TORCH_PATHS", "Emitters", "ExportError", "Inline", "Layers", "Module",
           "compact", "unsupported"]
