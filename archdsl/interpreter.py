"""One walk over the graph for every consumer, as ``torch.fx``'s ``Interpreter``.

A subclass says what one node does (:meth:`Interpreter.run_node`); the base walks the nodes in
topological order and hands each one its inputs' values. The torch module builder, the Keras
model builder, the cross-check and the numpy reference executor are all interpreters: the
value is a module, a symbolic Keras tensor, an array.

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, id: c}\\n  - relu: {id: r}\\n")
    >>> class Trace(Interpreter[str]):
    ...     def run_node(self, node, args):
    ...         return f"{node.type}({', '.join(args)})"
    >>> Trace(g).run("x")["r"]
    'relu(conv2d(x))'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from archdsl.ir import Node

if TYPE_CHECKING:
    from archdsl.graph import Graph

V = TypeVar("V")


class Interpreter(Generic[V]):
    """Walk ``graph`` in topological order; subclasses implement :meth:`run_node`.

    ``keep_all=False`` drops each value after its last reader (outputs are kept), which bounds
    memory when only the outputs matter.
    """

    def __init__(self, graph: Graph, *, keep_all: bool = True) -> None:
        self.graph = graph
        self.keep_all = keep_all

    def run_node(self, node: Node, args: list[V]) -> V:
        """The value of ``node`` given its inputs' values, in ``node.inputs`` order."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run_node")

    def nodes(self) -> Iterable[Node]:
        """The non-input nodes this interpreter runs, in topological order."""
        return self.graph.walk()

    def run(self, *inputs: V) -> dict[str, V]:
        """Run the graph on one value per graph input; returns ``{node id: value}``.

        With ``keep_all`` every node's value is returned, else the inputs' and the outputs'.
        """
        ids = self.graph.inputs
        if len(inputs) != len(ids):
            raise TypeError(
                f"graph '{self.graph.name}' takes {len(ids)} input(s) ({', '.join(ids)}), "
                f"received {len(inputs)}"
            )
        env: dict[str, V] = dict(zip(ids, inputs))
        last = {} if self.keep_all else self._last_readers()
        keep = set(ids) | set(self.graph.outputs)
        for node in self.nodes():
            env[node.id] = self.run_node(node, [env[s] for s in node.inputs])
            for s in set(node.inputs):
                if last.get(s) == node.id and s not in keep:
                    del env[s]
        return env

    def _last_readers(self) -> dict[str, str]:
        last: dict[str, str] = {}
        for node in self.nodes():
            for s in node.inputs:
                last[s] = node.id
        return last


__all__ = ["Interpreter"]
