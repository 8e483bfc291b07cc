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
"""

from archdsl.errors import ArchdslError, GraphError, ShapeError, SpecError
from archdsl.graph import Graph, load, loads

__version__ = "0.1.0"
__all__ = ["ArchdslError", "Graph", "GraphError", "ShapeError", "SpecError", "load", "loads"]
