"""The reference: a numpy executor of every layer type, the third vote of ``crosscheck``.

PyTorch and Keras lowerings of one graph can each be wrong. This package computes the same
graph a third way, from the layer definitions alone, in plain numpy (no framework): when the
two frameworks disagree, the one that departs from the reference is the one to fix. It runs
float32 or float64, eval or train mode (BatchNorm on batch statistics, dropout from supplied
masks), forward only, layout NCHW (the IR's, batch first).

Layout, as ONNX's reference evaluator: one small op per layer type, grouped by family
(:mod:`.conv`, :mod:`.pool`, :mod:`.resample`, :mod:`.norm`, :mod:`.activation`,
:mod:`.attention`, :mod:`.indexing`, :mod:`.structure`), registered
in :data:`REFERENCE_OPS` by literal type name; :class:`ReferenceExecutor` walks the graph.

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.init import init_weights
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    >>> out = forward(g, init_weights(g), x, dtype="float64")
    >>> out["logits"].shape, out["logits"].dtype
    ((2, 10), dtype('float64'))
"""

from archdsl.reference import (  # noqa: F401 (registration)
    activation,
    attention,
    conv,
    indexing,
    norm,
    pool,
    reduce,
    resample,
    reshape,
    structure,
)
from archdsl.reference.executor import (
    DTYPES,
    ReferenceExecutor,
    count_params,
    forward,
    missing_ops,
)
from archdsl.reference.registry import REFERENCE_OPS, Op, OpContext, reference_op

__all__ = [
    "DTYPES",
    "REFERENCE_OPS",
    "Op",
    "OpContext",
    "ReferenceExecutor",
    "count_params",
    "forward",
    "missing_ops",
    "reference_op",
]
