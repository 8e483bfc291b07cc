"""Where an imported spec stops computing what its Keras reference computes: every matched
layer's output compared (:func:`compare_layers`) and the first that differs
(:func:`first_divergence`). Re-exported by :mod:`.importer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

if TYPE_CHECKING:
    from archdsl.graph import Graph


def compare_layers(graph: Graph, model: Any, reference: Any, pairs: Sequence[tuple[str, str]],
                   inputs: np.ndarray, reference_inputs: np.ndarray | None = None,
                   ) -> list[tuple[str, str, float, float]]:
    """Run the spec's Keras ``model`` and the ``reference`` on the same input and compare the
    output of every matched layer: ``[(node id, reference layer, max abs diff, max |ref|)]``
    in spec order. The place where an imported spec stops computing what the reference
    computes is the first row whose difference is not round-off.

    ``inputs`` are in the IR layout ``(N, C, *S)``; the reference gets them channels-last,
    or ``reference_inputs`` when given (e.g. undoing its built-in preprocessing). Layers with a
    fused non-linear ``activation`` (EfficientNet's SE convolutions), layers of nested models
    and separable pairs are skipped: their outputs have no spec node to compare with.

    Example:
        >>> import archdsl, keras, numpy as np
        >>> from archdsl.backends.keras.importer import match_keras_model
        >>> ref = keras.applications.ResNet50V2(weights=None, input_shape=(64, 64, 3),
        ...                                     classifier_activation=None)
        >>> g = archdsl.load("specs/resnet50_v2.yaml", input_shapes=[[3, 64, 64]])
        >>> m = match_keras_model(g, ref)
        >>> rows = compare_layers(g, g.to_keras(weights=m.weights), ref, m.pairs,
        ...                       np.ones((1, 3, 64, 64), "float32"))
        >>> rows[0][:2], max(r[2] for r in rows) < 1e-3
        (('conv1_conv', 'conv1_conv'), True)
    """
    from .model import forward

    usable = []
    for node_id, ref_name in pairs:
        if "/" in ref_name or "+" in ref_name:
            continue
        layer = reference.get_layer(ref_name)
        act = getattr(layer, "activation", None)
        if act is not None and getattr(act, "__name__", "linear") != "linear":
            continue
        usable.append((node_id, ref_name))
    if not usable:
        return []
    ins = reference.inputs[0] if len(reference.inputs) == 1 else reference.inputs
    probe = keras.Model(ins, [reference.get_layer(r).output for _, r in usable])
    xr = reference_inputs if reference_inputs is not None else np.moveaxis(inputs, 1, -1)
    outs = probe(xr, training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    mine = forward(model, graph, inputs, nodes=[n for n, _ in usable])
    rows = []
    for (node_id, ref_name), out in zip(usable, outs):
        theirs = np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
        theirs = np.moveaxis(theirs, -1, 1) if theirs.ndim > 2 else theirs
        ours = np.asarray(mine[node_id], dtype=np.float64)
        if theirs.shape != ours.shape and theirs.size == ours.size:
            theirs = theirs.reshape(ours.shape)
        if theirs.shape != ours.shape:
            rows.append((node_id, ref_name, float("inf"), float(np.abs(theirs).max())))
            continue
        rows.append((node_id, ref_name, float(np.abs(theirs - ours).max()),
                     float(np.abs(theirs).max())))
    return rows


def first_divergence(rows: Sequence[tuple[str, str, float, float]], rtol: float = 1e-4,
                     ) -> tuple[str, str, float, float] | None:
    """The first row of :func:`compare_layers` whose difference exceeds
    ``rtol · max(1, max |ref|)``, or ``None``."""
    for row in rows:
        if not row[2] <= rtol * max(1.0, row[3]):
            return row
    return None


__all__ = ["compare_layers", "first_divergence"]
