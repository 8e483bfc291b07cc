"""Weight transfer between canonical arrays and a lowered module.

The canonical layout (:mod:`archdsl.init`) is PyTorch's, so tensors map one to one; only the
names differ: ``kernel`` → ``weight``; BatchNorm ``gamma``/``beta`` → ``weight``/``bias``;
a separable convolution's ``depthwise_kernel``/``pointwise_kernel``/``bias`` →
``depthwise.weight``/``pointwise.weight``/``pointwise.bias``; layer and group normalization's
``gamma``/``beta`` → ``weight``/``bias``; layer scale ``scale`` and a parameter's ``value`` keep
their names; attention's ``in_kernel``/``in_bias``/``out_kernel``/``out_bias`` →
``mha.in_proj_weight``/``mha.in_proj_bias``/``mha.out_proj.weight``/``mha.out_proj.bias``.

Example:
    >>> import archdsl
    >>> from archdsl.backends.torch import build
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n  - dense: {units: 2}\\n")
    >>> m = build(g, init="zeros")
    >>> get_weights(m, g)["dense_1"]["kernel"].shape
    (2, 4)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from archdsl.errors import BackendError, did_you_mean

if TYPE_CHECKING:
    from archdsl.graph import Graph

Weights = dict[str, dict[str, np.ndarray]]

#: canonical weight name → attribute path inside the node's module
DEFAULT_PATHS: dict[str, str] = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "running_mean": "running_mean",
    "running_var": "running_var",
}
_SEPARABLE = {
    "depthwise_kernel": "depthwise.weight",
    "pointwise_kernel": "pointwise.weight",
    "bias": "pointwise.bias",
}
#: multi-head attention: nn.MultiheadAttention's tensors, inside the SelfAttention wrapper
_ATTENTION = {
    "in_kernel": "mha.in_proj_weight",
    "in_bias": "mha.in_proj_bias",
    "out_kernel": "mha.out_proj.weight",
    "out_bias": "mha.out_proj.bias",
}
#: per layer type overrides of :data:`DEFAULT_PATHS`
TYPE_PATHS: dict[str, dict[str, str]] = {
    "separable_conv1d": _SEPARABLE,
    "separable_conv2d": _SEPARABLE,
    "layer_scale": {"scale": "scale"},
    "parameter": {"value": "value"},
    "multi_head_attention": _ATTENTION,
}


def tensor_path(layer_type: str, name: str) -> str:
    """Attribute path of canonical weight ``name`` inside a node module of ``layer_type``.

    >>> tensor_path("separable_conv2d", "bias"), tensor_path("batchnorm", "gamma")
    ('pointwise.bias', 'weight')
    """
    path = TYPE_PATHS.get(layer_type, {}).get(name) or DEFAULT_PATHS.get(name)
    if path is None:
        raise BackendError(f"the torch backend does not know where weight '{name}' of a "
                           f"'{layer_type}' layer lives")
    return path


def unwrap(model: nn.Module) -> nn.Module:
    """The module behind a ``torch.compile`` wrapper (``OptimizedModule._orig_mod``)."""
    inner = getattr(model, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else model


def node_tensors(model: nn.Module, graph: Graph) -> dict[str, dict[str, Tensor]]:
    """The live tensors (parameters and buffers) of every weight in ``graph``, by node."""
    model = unwrap(model)
    out: dict[str, dict[str, Tensor]] = {}
    for node_id, node in graph.layers():
        if not node.weights:
            continue
        try:
            module = model.get_submodule(node_id)
        except AttributeError:
            raise BackendError(f"the model has no module for node '{node_id}'; was it built "
                               "from this graph?") from None
        tensors: dict[str, Tensor] = {}
        for name in node.weights:
            path = tensor_path(node.type, name)
            tensor = functools.reduce(getattr, path.split("."), module)
            if not isinstance(tensor, Tensor):
                raise BackendError(f"node '{node_id}': weight '{name}' has no tensor at "
                                   f"'{node_id}.{path}' in the model")
            tensors[name] = tensor
        out[node_id] = tensors
    return out


def get_weights(model: nn.Module, graph: Graph) -> Weights:
    """Every weight as a numpy array in canonical layout (a copy, in the model's dtype).

    Returns ``{node id: {weight name: array}}``, the layout of :func:`archdsl.init.init_weights`.
    """
    return {
        node_id: {name: t.detach().cpu().numpy().copy() for name, t in tensors.items()}
        for node_id, tensors in node_tensors(model, graph).items()
    }


def set_weights(model: nn.Module, graph: Graph, weights: Mapping[str, Mapping[str, Any]],
                *, strict: bool = True) -> None:
    """Copy canonical arrays into the model (cast to each tensor's dtype and device).

    ``strict`` (default) requires exactly the graph's weights: a missing or unknown node or
    weight is an error. Shapes must always match.

    Raises:
        BackendError: naming the node, the weight, the expected and the received shape.
    """
    tensors = node_tensors(model, graph)
    if strict:
        for node_id in weights:
            if node_id not in tensors:
                known = tensors if node_id not in graph.nx else {}
                why = ("has no weights" if node_id in graph.nx
                       else f"is not a node of the graph.{did_you_mean(node_id, known)}")
                raise BackendError(f"set_weights: '{node_id}' {why}")
        for node_id in tensors:
            if node_id not in weights:
                raise BackendError(f"set_weights: no weights given for node '{node_id}'")
    with torch.no_grad():
        for node_id, given in weights.items():
            if node_id not in tensors:
                continue
            node_weights = graph[node_id].weights
            for name, value in given.items():
                if name not in tensors[node_id]:
                    raise BackendError(
                        f"set_weights: node '{node_id}' has no weight '{name}'."
                        f"{did_you_mean(name, tensors[node_id])} "
                        f"Valid: {', '.join(tensors[node_id])}"
                    )
                _copy(node_id, name, tensors[node_id][name], node_weights[name].shape, value)
            if strict:
                missing = [n for n in tensors[node_id] if n not in given]
                if missing:
                    raise BackendError(f"set_weights: node '{node_id}' is missing weight(s) "
                                       f"{', '.join(missing)}")


def _copy(node_id: str, name: str, tensor: Tensor, expected: tuple[int, ...], value: Any) -> None:
    src = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
    if tuple(src.shape) != tuple(expected) or tuple(tensor.shape) != tuple(expected):
        raise BackendError(
            f"node '{node_id}', weight '{name}': expected shape {list(expected)}, "
            f"received {list(src.shape)}"
            + ("" if tuple(tensor.shape) == tuple(expected)
               else f" (the model's tensor has shape {list(tensor.shape)})")
        )
    tensor.copy_(src.to(dtype=tensor.dtype, device=tensor.device))


__all__ = ["DEFAULT_PATHS", "TYPE_PATHS", "get_weights", "node_tensors", "set_weights",
           "tensor_path", "unwrap"]
