"""Import PyTorch weights (e.g. a torchvision model or its ``state_dict``) into a spec.

:func:`torch_ref_layers` reduces the source to :class:`~archdsl.weights.RefLayer` items:

* an ``nn.Module``: its weighted modules (``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``,
  ``Linear``, ``BatchNorm1d/2d/3d``, ``SyncBatchNorm``; ``LayerNorm``, ``GroupNorm``,
  ``MultiheadAttention``: :mod:`.importer_families`) with their weighted parents from a
  ``torch.fx`` trace of the eval-mode forward (graph mode; modules the forward never calls,
  such as an auxiliary head, are left out with a note). If tracing fails, the modules'
  definition order (``named_modules``) is used (sequence mode, with a note);
* a ``state_dict`` (a mapping of names to tensors): tensors grouped by module prefix in the
  dict's order; a group with ``running_mean`` is a BatchNorm, a 2-D ``weight`` a Linear, any
  other ``weight`` a convolution (sequence mode: a state dict has no graph, so the matcher
  follows its order and prefers exact name matches, which torchvision-named specs have).

PyTorch's layouts are the canonical ones, so arrays are copied unchanged (``weight`` →
``kernel`` / ``gamma``, ``bias`` → ``bias`` / ``beta``); ``num_batches_tracked`` is ignored.
A spec ``separable_conv2d`` matches a depthwise ``Conv2d`` (no bias) followed by a 1×1 one.

Example (the spec's own PyTorch model stands in for a torchvision one; with torchvision,
``state_dict = torchvision.models.resnet18(weights="DEFAULT").state_dict()``):
    >>> import archdsl, torch
    >>> g = archdsl.load("specs/resnet18.yaml", input_shapes=[[3, 64, 64]])
    >>> state_dict = g.to_torch(seed=1).state_dict()
    >>> weights = import_torch_state_dict(g, state_dict)
    >>> weights["layer2.0.downsample.0"]["kernel"].shape
    (128, 64, 1, 1)
    >>> model = g.to_torch(weights=weights)  # or g.to_keras(weights=weights)
    >>> torch.equal(model.fc.weight, torch.as_tensor(weights["fc"]["kernel"]))
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from archdsl.errors import BackendError
from archdsl.weights import (
    CONV_OR_TRANSPOSED,
    FlowTracer,
    RefLayer,
    WeightMatch,
    Weights,
    match_graph,
)

from .importer_families import OWNS_CHILDREN, SUPPORTED, convert_family_module

if TYPE_CHECKING:
    from archdsl.graph import Graph

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
#: container-like modules that own no parameters of their own
_IGNORED_BUFFERS = {"num_batches_tracked"}


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)


def convert_module(module: nn.Module) -> tuple[str, dict[str, np.ndarray], dict[str, Any]] | None:
    """(family, canonical arrays, attrs) of one weighted module; ``None`` for modules without
    weights of their own.

    Raises:
        BackendError: a module type with its own weights that import does not support.

    Example:
        >>> kind, arrays, attrs = convert_module(nn.BatchNorm2d(4, eps=1e-3))
        >>> kind, sorted(arrays), attrs
        ('batchnorm', ['beta', 'gamma', 'running_mean', 'running_var'], {'eps': 0.001})
    """
    if isinstance(module, _CONV + _TRANSPOSED + (nn.Linear,)):
        kind = "transposed" if isinstance(module, _TRANSPOSED) else "conv"
        if isinstance(module, _TRANSPOSED) and module.groups != 1:
            raise BackendError(f"grouped ConvTranspose ({module}) is not supported")
        arrays = {"kernel": _np(module.weight)}
        if module.bias is not None:
            arrays["bias"] = _np(module.bias)
        return kind, arrays, {}
    if isinstance(module, _BN):
        if module.running_mean is None or module.running_var is None:
            raise BackendError(f"BatchNorm without running statistics ({module}) cannot be "
                               "imported (track_running_stats=False)")
        arrays = {}
        if module.weight is not None:
            arrays["gamma"] = _np(module.weight)
        if module.bias is not None:
            arrays["beta"] = _np(module.bias)
        arrays["running_mean"] = _np(module.running_mean)
        arrays["running_var"] = _np(module.running_var)
        return "batchnorm", arrays, {"eps": float(module.eps)}
    family = convert_family_module(module)  # norms, attention, layer scale, parameters
    if family is not None:
        return family
    own = [n for n, _ in module.named_parameters(recurse=False)]
    transient: set[str] = getattr(module, "_non_persistent_buffers_set", set())
    own += [n for n, b in module.named_buffers(recurse=False)
            if b is not None and b.numel() and b.is_floating_point()
            and n not in _IGNORED_BUFFERS and n not in transient]
    if not own:
        return None
    raise BackendError(
        f"module {type(module).__name__} holds weights ({', '.join(own)}) that weight import "
        "does not support",
        hint=f"supported: Conv1d/2d/3d, ConvTranspose1d/2d/3d, Linear, BatchNorm1d/2d/3d, "
             f"{SUPPORTED}",
    )


# ---------------------------------------------------------------------------- state dicts
def state_dict_layers(state_dict: Mapping[str, Any]) -> list[RefLayer]:
    """Reference layers of a bare state dict, in its order (no parents: sequence mode).

    Example:
        >>> sd = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).state_dict()
        >>> [(r.name, r.kind, len(r.arrays)) for r in state_dict_layers(sd)]
        [('0', 'conv_or_transposed', 2), ('1', 'batchnorm', 4)]
    """
    groups: dict[str, dict[str, Any]] = {}
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _IGNORED_BUFFERS:
            continue
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise BackendError(f"state dict entry '{key}' is a {type(value).__name__}, not a "
                               "tensor")
        groups.setdefault(prefix, {})[leaf] = value
    out = []
    for prefix, tensors in groups.items():
        name = prefix or "(root)"
        leaves = set(tensors)
        if {"running_mean", "running_var"} <= leaves:
            arrays = {}
            if "weight" in tensors:
                arrays["gamma"] = _np(tensors["weight"])
            if "bias" in tensors:
                arrays["beta"] = _np(tensors["bias"])
            arrays["running_mean"] = _np(tensors["running_mean"])
            arrays["running_var"] = _np(tensors["running_var"])
            extra = leaves - {"weight", "bias", "running_mean", "running_var"}
            kind = "batchnorm"
        elif "weight" in tensors and np.ndim(tensors["weight"]) >= 2:
            arrays = {"kernel": _np(tensors["weight"])}
            if "bias" in tensors:
                arrays["bias"] = _np(tensors["bias"])
            extra = leaves - {"weight", "bias"}
            kind = "conv" if np.ndim(tensors["weight"]) == 2 else CONV_OR_TRANSPOSED
        else:
            extra = leaves
            kind = ""
        if extra or not kind:
            raise BackendError(
                f"state dict module '{name}' ({', '.join(sorted(leaves))}) is not a "
                "convolution, linear or BatchNorm layer",
                hint="weight import supports Conv/ConvTranspose/Linear/BatchNorm tensors only",
            )
        out.append(RefLayer(name, kind, arrays, None))
    return out


# ---------------------------------------------------------------------------- modules
def _weighted_modules(module: nn.Module) -> dict[str, tuple[str, dict[str, np.ndarray],
                                                            dict[str, Any]]]:
    found = {}
    owned: tuple[str, ...] = ()  # children of a module converted with them (attention)
    for name, sub in module.named_modules():
        if owned and name.startswith(owned):
            continue
        converted = convert_module(sub)
        if converted is not None:
            found[name or "(root)"] = converted
            if isinstance(sub, OWNS_CHILDREN):
                owned += (f"{name}." if name else "",)
    return found


def _fx_trace(module: nn.Module, weighted: Mapping[str, Any]
              ) -> tuple[list[str], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(call order, weighted parents, context tags) of the weighted modules, from a
    ``torch.fx`` trace of the eval-mode forward."""
    import torch.fx

    was_training = module.training
    module.eval()
    try:
        traced = torch.fx.symbolic_trace(module)
    finally:
        module.train(was_training)
    modules = dict(module.named_modules())
    tracer = FlowTracer()
    order: list[str] = []
    parents: dict[str, tuple[str, ...]] = {}
    for node in traced.graph.nodes:
        ins = list(node.all_input_nodes)
        target = str(node.target)
        if node.op == "placeholder":
            tracer.source(node)
        elif node.op == "call_module" and target in weighted:
            if target in parents:
                raise BackendError(f"module '{target}' is called more than once (shared weights)")
            parents[target] = tracer.layer(node, ins, target)
            order.append(target)
        elif node.op == "get_attr" and target.rpartition(".")[0] in weighted:
            raise BackendError(f"the forward reads the weights of '{target}' directly")
        elif node.op == "call_module":
            cls = type(modules.get(target)).__name__
            tracer.op(node, ins, _flow_kind(cls), concat=cls == "Concat")
        elif node.op == "call_function" and node.target in _CAT and node.args \
                and isinstance(node.args[0], (list, tuple)):
            tracer.op(node, [a for a in node.args[0] if isinstance(a, torch.fx.Node)],
                      concat=True)
        else:
            name = getattr(node.target, "__name__", "") if node.op == "call_function" else ""
            tracer.op(node, ins, _flow_kind(name))
    return order, parents, {n: tracer.tags(n) for n in order}


_CAT = (torch.cat, torch.concat, torch.concatenate)


def _flow_kind(name: str) -> str | None:
    """The :data:`~archdsl.weights.FLOW_KINDS` name of a pooling module class or function.

    >>> _flow_kind("AdaptiveAvgPool2d"), _flow_kind("avg_pool2d"), _flow_kind("MaxPool2d")
    ('globalpool', 'avgpool', 'maxpool')
    """
    low = name.lower().replace("_", "")
    if "adaptive" in low or "global" in low:
        return "globalpool" if "pool" in low else None
    if "avgpool" in low or low == "sumpool":
        return "avgpool"
    if "maxpool" in low:
        return "maxpool"
    return None


def torch_ref_layers(source: nn.Module | Mapping[str, Any], *, trace: bool = True
                     ) -> tuple[list[RefLayer], list[str]]:
    """Reference layers (and notes) of an ``nn.Module`` (traced with ``torch.fx`` unless
    ``trace=False``) or of a state dict. See the module docstring.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 1))
        >>> layers, notes = torch_ref_layers(net)
        >>> [(r.name, r.parents) for r in layers], notes
        ([('0', ()), ('2', ('0',))], [])
    """
    if isinstance(source, nn.Module):
        weighted = _weighted_modules(source)
        notes: list[str] = []
        if getattr(source, "transform_input", False) is True:
            notes.append("the model re-normalizes its input (torchvision transform_input=True, "
                         "set with pretrained GoogLeNet / Inception-v3 weights); the spec does "
                         "not: feed it inputs normalized with mean 0.5, std 0.5 per channel")
        if trace:
            try:
                order, parents, tags = _fx_trace(source, weighted)
            except Exception as exc:  # any tracing failure → sequence mode
                notes.append(f"torch.fx could not trace the model ({type(exc).__name__}: "
                             f"{str(exc)[:120]}); matched in definition order instead")
            else:
                skipped = [n for n in weighted if n not in parents]
                if skipped:
                    notes.append(f"{len(skipped)} weighted module(s) never run in the eval-mode "
                                 f"forward, left out: {', '.join(skipped[:6])}"
                                 + (" ..." if len(skipped) > 6 else ""))
                return [RefLayer(n, weighted[n][0], weighted[n][1], parents[n], weighted[n][2],
                                 tags[n]) for n in order], notes
        return [RefLayer(n, kind, arrays, None, attrs)
                for n, (kind, arrays, attrs) in weighted.items()], notes
    if isinstance(source, Mapping):
        inner = _unwrap_checkpoint(source)
        return state_dict_layers(inner), []
    raise BackendError(f"expected an nn.Module or a state dict, received {type(source).__name__}")


def _unwrap_checkpoint(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """A training checkpoint ``{"state_dict": {...}, ...}`` / ``{"model": {...}}`` → the dict."""
    for key in ("state_dict", "model_state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
            return inner
    return obj


def match_torch_state_dict(graph: Graph, source: nn.Module | Mapping[str, Any], *,
                           use_names: bool = True, allow_unused: bool = False,
                           trace: bool = True) -> WeightMatch:
    """Match a PyTorch model or state dict to ``graph``
    (:func:`archdsl.weights.match_layers`); the result carries weights, pairs and notes.

    Raises:
        WeightsError: the first spec node that cannot be matched, with its shapes and the
            nearest PyTorch layers; or PyTorch layers the spec does not use.
        BackendError: a module or tensor holding weights that import cannot read.
    """
    layers, notes = torch_ref_layers(source, trace=trace)
    result = match_graph(graph, layers, use_names=use_names, allow_unused=allow_unused)
    result.notes[:0] = notes
    return result


def import_torch_state_dict(graph: Graph, state_dict_or_module: nn.Module | Mapping[str, Any],
                            *, use_names: bool = True, allow_unused: bool = False,
                            trace: bool = True) -> Weights:
    """Canonical weights ``{node id: {weight name: array}}`` for ``graph`` from a PyTorch
    module or state dict (torchvision's, a checkpoint's, or the spec's own PyTorch model's),
    matched by structure. See :func:`match_torch_state_dict`."""
    return match_torch_state_dict(graph, state_dict_or_module, use_names=use_names,
                                  allow_unused=allow_unused, trace=trace).weights


def randomize_weights(module: nn.Module, seed: int = 0) -> None:
    """Give every Conv/Linear/BatchNorm/LayerNorm/GroupNorm/MultiheadAttention weight of
    ``module`` a random value (seeded), BatchNorm statistics included (see
    :func:`archdsl.backends.keras.importer.randomize_weights` for the distributions and why).

    Example:
        >>> bn = nn.BatchNorm2d(3)
        >>> randomize_weights(bn, seed=1)
        >>> bool((bn.running_var != 1).all())
        True
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, _CONV + _TRANSPOSED + (nn.Linear,)):
                w = sub.weight
                fan_in = w.shape[0 if isinstance(sub, _TRANSPOSED) else 1] * int(
                    np.prod(w.shape[2:]))
                w.normal_(0.0, 1.0 / max(fan_in, 1) ** 0.5, generator=gen)
                if sub.bias is not None:
                    sub.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(sub, _BN):
                if sub.weight is not None:
                    sub.weight.uniform_(0.5, 1.5, generator=gen)
                if sub.bias is not None:
                    sub.bias.normal_(0.0, 0.1, generator=gen)
                if sub.running_mean is not None and sub.running_var is not None:
                    sub.running_mean.normal_(0.0, 0.1, generator=gen)
                    sub.running_var.uniform_(0.5, 1.5, generator=gen)
            elif isinstance(sub, (nn.LayerNorm, nn.GroupNorm)) and sub.weight is not None:
                sub.weight.uniform_(0.5, 1.5, generator=gen)
                if sub.bias is not None:
                    sub.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(sub, nn.MultiheadAttention) and sub.in_proj_weight is not None:
                sub.in_proj_weight.normal_(0.0, sub.embed_dim ** -0.5, generator=gen)
                if sub.in_proj_bias is not None:
                    sub.in_proj_bias.normal_(0.0, 0.1, generator=gen)


def load_torch_file(path: str) -> Mapping[str, Any]:
    """A state dict from a ``.pt``/``.pth`` file, loaded with ``weights_only=True`` (no code
    from the file runs); checkpoint wrappers (``{"state_dict": ...}``) are unwrapped."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise BackendError(f"cannot load '{path}' as a PyTorch state dict: "
                           f"{type(exc).__name__}: {str(exc)[:200]}",
                           hint="save one with torch.save(model.state_dict(), path)") from None
    if isinstance(obj, nn.Module):  # pragma: no cover - weights_only never returns modules
        return obj.state_dict()
    if not isinstance(obj, Mapping):
        raise BackendError(f"'{path}' holds a {type(obj).__name__}, not a state dict")
    return _unwrap_checkpoint(obj)


__all__ = ["convert_module", "import_torch_state_dict", "load_torch_file",
           "match_torch_state_dict", "randomize_weights", "state_dict_layers",
           "torch_ref_layers"]
