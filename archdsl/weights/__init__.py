"""Weights from elsewhere: structural import, the canonical ``.npz`` file, completeness checks.

Framework-free (numpy only); the framework importers
(:mod:`archdsl.backends.keras.importer`, :mod:`archdsl.backends.torch.importer`) reduce a
reference model to :class:`RefLayer` items and call :func:`match_graph`. One concept a module:

* :mod:`~archdsl.weights.families`: weight families, read from the layer registry's
  ``weight_family`` trait;
* :mod:`~archdsl.weights.records`: :class:`SpecLayer`, :class:`RefLayer`, :class:`WeightMatch`;
* :mod:`~archdsl.weights.signatures`: when two layers can hold the same weights;
* :mod:`~archdsl.weights.flow`: weighted parents and context tags (:class:`FlowTracer`);
* :mod:`~archdsl.weights.spec_layers`: the spec side of a match;
* :mod:`~archdsl.weights.names`: name similarity, the last tiebreak;
* :mod:`~archdsl.weights.matching`: the structural matcher (graph and sequence modes);
* :mod:`~archdsl.weights.npz`: the ``"<node id>/<weight name>"`` ``.npz`` file and its metadata;
* :mod:`~archdsl.weights.completeness`: every weight present with its canonical shape;
* :mod:`~archdsl.weights.errors`: :class:`WeightsError` (invalid input, exit code 2).

Example:
    >>> import os, tempfile
    >>> import archdsl
    >>> from archdsl.init import init_weights
    >>> g = archdsl.load("specs/mobilenet_v3_small.yaml")
    >>> path = os.path.join(tempfile.mkdtemp(), "mnv3.npz")
    >>> save_npz(path, init_weights(g, seed=0), {"source": "example"})
    >>> check_complete(g, load_npz(path))
    >>> spec_layers(g)[0].id, spec_layers(g)[0].kind
    ('features.0.conv', 'conv')
"""

from __future__ import annotations

from archdsl.weights.completeness import check_complete, check_node
from archdsl.weights.errors import WeightsError
from archdsl.weights.families import (
    AFFINE_NORM,
    CONV_OR_TRANSPOSED,
    FAMILIES,
    LOOSE,
    TENSOR,
    families_match,
    family_of,
    type_families,
)
from archdsl.weights.flow import FLOW_KINDS, FlowTracer
from archdsl.weights.matching import match_graph, match_layers
from archdsl.weights.names import name_similarity, normalize_name
from archdsl.weights.npz import (
    KEY_SEP,
    META_KEY,
    from_flat,
    load_npz,
    load_npz_for,
    load_npz_meta,
    save_npz,
    to_flat,
)
from archdsl.weights.records import RefLayer, Shape, SpecLayer, WeightMatch, Weights
from archdsl.weights.signatures import compatible, describe, squeeze_shape
from archdsl.weights.spec_layers import spec_layers

__all__ = [
    "AFFINE_NORM",
    "CONV_OR_TRANSPOSED",
    "FAMILIES",
    "FLOW_KINDS",
    "KEY_SEP",
    "LOOSE",
    "META_KEY",
    "TENSOR",
    "FlowTracer",
    "RefLayer",
    "Shape",
    "SpecLayer",
    "WeightMatch",
    "Weights",
    "WeightsError",
    "check_complete",
    "check_node",
    "compatible",
    "describe",
    "families_match",
    "family_of",
    "from_flat",
    "load_npz",
    "load_npz_for",
    "load_npz_meta",
    "match_graph",
    "match_layers",
    "name_similarity",
    "normalize_name",
    "save_npz",
    "spec_layers",
    "squeeze_shape",
    "to_flat",
    "type_families",
]
