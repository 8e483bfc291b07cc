"""The backend contract: how a framework backend registers its lowerings.

Every backend keeps one :class:`Lowerings` table and registers a function per layer type with
the same signature, ``lower(node, ctx) -> native``: ``node`` is the typed
:class:`~archdsl.ir.Node` (its ``params``, ``in_shapes``, resolved ``attrs``), ``ctx`` the
backend's :class:`LowerContext` (dtype policy and backend options). What comes back is native
to the framework (a ``torch.nn.Module``, a callable of Keras layers). A test walks the layer
registry and fails for any type a backend cannot lower.

Example:
    >>> table: Lowerings[str] = Lowerings("demo")
    >>> @table.register("relu", "relu6")
    ... def lower_relu(node, ctx):
    ...     return f"{node.type} in {ctx.dtype}"
    >>> sorted(table)
    ['relu', 'relu6']
    >>> "conv2d" in table.missing()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from archdsl.errors import BackendError
from archdsl.ir import Node
from archdsl.layers import REGISTRY

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class LowerContext:
    """Options shared by every lowering of one build; backends subclass it for their own.

    ``dtype``: the float type of the model (``None``: the framework's default).
    """

    dtype: str | None = None


class Lowering(Protocol[T_co]):
    """A lowering: the native form of one node."""

    def __call__(self, node: Node, ctx: Any, /) -> T_co: ...


class Lowerings(dict[str, Callable[[Node, Any], T]], Generic[T]):
    """A backend's table ``layer type → lowering``, filled by :meth:`register`."""

    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend

    def register(
        self, *keys: str
    ) -> Callable[[Callable[[Node, Any], T]], Callable[[Node, Any], T]]:
        """Decorator: register a function as the lowering of the layer types ``keys``."""
        for key in keys:
            if key not in REGISTRY:
                raise TypeError(f"{self.backend}: no registered layer type '{key}'")
            if key in self:
                raise TypeError(f"{self.backend}: layer type '{key}' lowered twice")

        def deco(fn: Callable[[Node, Any], T]) -> Callable[[Node, Any], T]:
            for key in keys:
                self[key] = fn
            return fn

        return deco

    def lower(self, node: Node, ctx: Any) -> T:
        """The native form of ``node``; a clear error if its type has no lowering here."""
        fn = self.get(node.type)
        if fn is None:
            raise BackendError(
                f"node '{node.id}': the {self.backend} backend has no lowering for layer type "
                f"'{node.type}'"
            )
        return fn(node, ctx)

    def missing(self) -> list[str]:
        """Registered layer types this backend cannot lower (empty when complete)."""
        return sorted(set(REGISTRY) - set(self))


__all__ = ["LowerContext", "Lowering", "Lowerings"]
