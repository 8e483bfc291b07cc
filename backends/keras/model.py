"""Build a functional Keras model from a graph, run it per node, count its parameters.

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.backends import keras as kb
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> model = kb.build(g, seed=0)
    >>> kb.count_params(model)
    {'trainable': 293034, 'non_trainable': 896}
    >>> out = kb.forward(model, g, np.zeros((2, 3, 32, 32), "float32"), nodes=["block1.pool"])
    >>> out["block1.pool"].shape  # channels-first, like the IR
    (2, 32, 16, 16)
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from archdsl.errors import BackendError, did_you_mean
from archdsl.init import init_weights
from archdsl.interpreter import Interpreter
from archdsl.ir import Node

from .layout import (
    CHANNELS_LAST,
    convert,
    from_physical,
    input_layouts,
    physical_layouts,
    to_physical,
)
from .lower import LOWERINGS, Context, keras_shape
from .weights import Weights, set_weights

if TYPE_CHECKING:
    from archdsl.graph import Graph

DTYPES = ("float32", "float64")
BN_FLAVOURS = ("keras", "torch")

#: model → {requested node tuple: multi-output model over the same layers}
_PROBES: weakref.WeakKeyDictionary[keras.Model, dict[tuple[str, ...], keras.Model]] = (
    weakref.WeakKeyDictionary()
)


def model_name(name: str) -> str:
    """A Keras-safe model name: letters, digits, ``_``, ``.`` and ``-`` kept, others ``_``.

    >>> model_name("resnet/18 v2")
    'resnet_18_v2'
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._-")
    return cleaned or "archdsl_model"


class SymbolicBuilder(Interpreter[Any]):
    """Walk the graph on symbolic Keras tensors: each node's lowering applied to its inputs,
    converted first to the physical layout the node reads (:mod:`.layout`)."""

    def __init__(self, graph: Graph, ctx: Context) -> None:
        super().__init__(graph, keep_all=False)
        self.ctx = ctx
        self.layouts = physical_layouts(graph)

    def run_node(self, node: Node, args: list[Any]) -> Any:
        """Lower ``node`` and apply it; checks the Keras shape against the IR's."""
        wants = input_layouts(node, self.layouts)
        args = [
            convert(x, self.layouts[src], want, len(shape), f"{node.id}-to_{want}{i}",
                    self.ctx.dtype)
            for i, (x, src, want, shape) in enumerate(zip(args, node.inputs, wants,
                                                          node.in_shapes))
        ]
        ctx = replace(self.ctx, layout=wants[0])
        try:
            out = LOWERINGS.lower(node, ctx)(args[0] if len(args) == 1 else args)
        except (ValueError, TypeError) as exc:
            raise BackendError(f"node '{node.id}' ({node.type}): Keras rejected the lowering: "
                               f"{exc}", node.loc) from exc
        want = physical_shape(node.shape, self.layouts[node.id])
        if tuple(out.shape[1:]) != want:
            raise BackendError(
                f"node '{node.id}' ({node.type}): the Keras output has shape "
                f"{list(out.shape[1:])}, the IR expects {list(want)} "
                f"({self.layouts[node.id].replace('_', '-')})",
                node.loc,
            )
        return out


def physical_shape(shape: Sequence[int], layout: str) -> tuple[int, ...]:
    """The batch-less shape of a tensor stored in ``layout``."""
    return keras_shape(shape) if layout == CHANNELS_LAST else tuple(shape)


def build(
    graph: Graph,
    *,
    weights: Weights | None = None,
    dtype: str = "float32",
    init: str | None = None,
    seed: int = 0,
    bn: str = "keras",
) -> keras.Model:
    """Lower ``graph`` to a functional channels-last ``keras.Model`` and set its weights.

    Inputs are named by the graph's input ids and shaped ``(*spatial, C)``; each node's output
    layer is named by its node id. Every layer computes in ``dtype`` (float32 or float64).
    Weights: ``weights`` (canonical layout, complete) if given, else
    ``archdsl.init.init_weights(graph, init, seed)``. Raises
    :class:`~archdsl.errors.BackendError` if Keras rejects a lowering or a node's Keras shape
    or the parameter counts differ from the IR's. ``bn="torch"`` lowers BatchNorm to
    :class:`~archdsl.backends.keras.layers.TorchLikeBatchNormalization`.

    Example:
        >>> import archdsl
        >>> g = archdsl.load("specs/cifar10_cnn.yaml")
        >>> m = build(g, dtype="float64")
        >>> m.name, m.output.shape, m.get_layer("block1.conv1").compute_dtype
        ('cifar10-cnn', (None, 10), 'float64')
    """
    if dtype not in DTYPES:
        raise BackendError(f"dtype must be one of {', '.join(DTYPES)}, received {dtype!r}")
    if dtype == "float64" and keras.backend.backend() != "tensorflow":
        raise BackendError(
            f"float64 Keras models need Keras' TensorFlow backend: on '{keras.backend.backend()}'"
            " Keras computes some operations in float32 (measured on JAX 0.10 with "
            "JAX_ENABLE_X64: tanh, means and BatchNorm differ from float64 by about 1e-7)",
            hint="use float32 on this backend, or run with KERAS_BACKEND=tensorflow",
        )
    if bn not in BN_FLAVOURS:
        raise BackendError(f"bn must be one of {', '.join(BN_FLAVOURS)}, received {bn!r}")
    ctx = Context(dtype=dtype, bn=bn)
    inputs = [keras.Input(shape=keras_shape(graph[n].shape), name=n, dtype=dtype)
              for n in graph.inputs]
    tensors = SymbolicBuilder(graph, ctx).run(*inputs)
    outs = [tensors[n] for n in graph.outputs]
    model = keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=outs[0] if len(outs) == 1 else outs,
        name=model_name(graph.name),
    )
    set_weights(model, graph, weights if weights is not None else init_weights(graph, init, seed))
    counted = count_params(model)
    analytic = {k: graph.params[k] for k in counted}
    if counted != analytic:
        raise BackendError(f"internal error: the Keras model of '{graph.name}' has {counted} "
                           f"parameters, the IR counts {analytic}")
    return model


def _input_arrays(model: keras.Model, graph: Graph, inputs: Any) -> dict[str, np.ndarray]:
    names = graph.inputs
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        extra = [n for n in inputs if n not in names]
        if missing or extra:
            raise BackendError(f"forward needs inputs {names}, received {list(inputs)}")
        given = [inputs[n] for n in names]
    elif isinstance(inputs, Sequence) and not isinstance(inputs, np.ndarray):
        given = list(inputs)
    else:
        given = [inputs]
    if len(given) != len(names):
        raise BackendError(f"forward needs {len(names)} input(s) {names}, received {len(given)}")
    out = {}
    for name, x, tensor in zip(names, given, model.inputs):
        arr = np.asarray(x)
        want = tuple(graph[name].shape)
        if tuple(arr.shape[1:]) != want:
            raise BackendError(
                f"input '{name}': expected shape (N, {', '.join(map(str, want))}) "
                f"(channels-first), received {tuple(arr.shape)}"
            )
        out[name] = arr.astype(keras.backend.standardize_dtype(tensor.dtype))
    return out


def forward(
    model: keras.Model, graph: Graph, inputs: Any, nodes: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Run ``model`` in inference mode; return every requested node's output, channels-first.

    ``inputs``: one ``(N, C, *S)`` array, a list in ``graph.inputs`` order, or a dict by input
    id. ``nodes`` default to all nodes (inputs included). The multi-output model over the same
    layers is built once per (model, nodes) and cached.

    Example:
        >>> import archdsl, numpy as np
        >>> g = archdsl.load("specs/cifar10_cnn.yaml")
        >>> m = build(g)
        >>> forward(m, g, np.ones((1, 3, 32, 32)), nodes=["logits"])["logits"].shape
        (1, 10)
    """
    names = list(graph) if nodes is None else list(nodes)
    for n in names:
        if n not in graph.nx:
            raise BackendError(f"forward: no node '{n}'.{did_you_mean(n, graph.nx.nodes)}")
    arrays = _input_arrays(model, graph, inputs)
    computed = [n for n in names if n not in arrays]
    result: dict[str, np.ndarray] = {}
    if computed:
        key = tuple(computed)
        probes = _PROBES.setdefault(model, {})
        probe = probes.get(key)
        if probe is None:
            probe = keras.Model(model.input, [model.get_layer(n).output for n in computed],
                                name=f"{model.name}-probe")
            probes[key] = probe
        layouts = physical_layouts(graph)
        xs = [to_physical(arrays[n], layouts[n]) for n in graph.inputs]
        outs = probe(xs[0] if len(xs) == 1 else xs, training=False)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        for n, y in zip(computed, outs):
            result[n] = from_physical(keras.ops.convert_to_numpy(y), layouts[n])
    return {n: arrays[n] if n in arrays else result[n] for n in names}


def count_params(model: keras.Model) -> dict[str, int]:
    """Trainable and non-trainable parameter counts of the Keras model's weights.

    BatchNorm moving statistics and fixed (frozen) filters are non-trainable; dropout seed
    state is not a weight.
    """
    return {
        "trainable": sum(math.prod(v.shape) for v in model.trainable_weights),
        "non_trainable": sum(math.prod(v.shape) for v in model.non_trainable_weights),
    }


__all__ = ["build", "count_params", "forward", "model_name"]
