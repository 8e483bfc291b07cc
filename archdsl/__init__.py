"""archdsl: write a CNN once in YAML; get shapes, params, MACs, diagrams, PyTorch and Keras.

>>> import archdsl
>>> g = archdsl.loads('''
... archdsl: 1
... name: tiny
... input: [1, 28, 28]
... body:
...   - conv2d: {filters: 4, kernel: 3}
...   - relu: {}
... ''')
>>> g.output_shapes, g.params["trainable"]
([(4, 26, 26)], 40)

``Graph``, ``load`` and ``loads`` are imported on first use, so ``import archdsl`` (and the
command line's start-up) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archdsl.errors import ArchdslError, GraphError, ShapeError, SpecError

if TYPE_CHECKING:
    from archdsl.graph import Graph, load, loads

__version__ = "0.1.0"
__all__ = ["ArchdslError", "Graph", "GraphError", "ShapeError", "SpecError", "load", "loads"]
_LAZY = ("Graph", "load", "loads")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from archdsl import graph

        return getattr(graph, name)
    raise AttributeError(f"module 'archdsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
