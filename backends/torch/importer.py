"""Import PyTorch weights (e.g. a torchvision model or its ``state_dict``) into a spec.

:func:`torch_ref_layers` reduces the source to :class:`~archdsl.weights.RefLayer` items:

* an ``nn.Module``: its weighted modules (``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``,
  ``Linear``, ``BatchNorm1d/2d/3d``, ``SyncBatchNorm``; ``LayerNorm``, ``GroupNorm``,
  ``MultiheadAttention``: :mod:`.importer_families`) and the learned tensors its containers
  hold themselves (ViT's ``class_token``, ConvNeXt's ``layer_scale``, Swin's
  ``relative_position_bias_table``: :func:`own_tensors`), with their weighted parents from a
  ``torch.fx`` trace of the eval-mode forward (graph mode, :mod:`.importer_trace`; modules the
  forward never calls, such as an auxiliary head, are left out with a note). If tracing fails,
  the modules' definition order (``named_modules``) is used (sequence mode, with a note);
* a ``state_dict`` (a mapping of names to tensors): tensors grouped by module prefix in the
  dict's order (:func:`state_dict_layers`; sequence mode: a state dict has no graph, so the
  matcher follows its order and prefers exact name matches, which torchvision-named specs
  have).

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
    AFFINE_NORM,
    CONV_OR_TRANSPOSED,
    TENSOR,
    RefLayer,
    WeightMatch,
    Weights,
    match_graph,
)

from .importer_families import OWNS_CHILDREN, SUPPORTED, Converted, convert_family_module
from .importer_trace import fx_layers

if TYPE_CHECKING:
    from archdsl.graph import Graph

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
#: container-like modules that own no parameters of their own
_IGNORED_BUFFERS = {"num_batches_tracked"}


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)


def convert_module(module: nn.Module) -> Converted | None:
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
    # a container's own parameters are learned tensors (:func:`own_tensors`), not a layer
    own = [n for n, _ in module.named_parameters(recurse=False)] if is_torch_layer(module) else []
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


def is_torch_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a ``torch.nn`` layer (``torch.fx`` calls it as a leaf) rather than
    a container (a torchvision block, a model) whose own parameters its forward reads.

    >>> is_torch_layer(nn.PReLU()), is_torch_layer(nn.Sequential())
    (True, False)
    """
    cls = type(module)
    return cls.__module__.startswith(("torch.nn.", "torch.ao.nn.")) and not isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


def own_tensors(name: str, module: nn.Module) -> dict[str, Converted]:
    """The learned tensors a container holds itself (ViT's ``class_token``, ConvNeXt's
    ``layer_scale``), each a reference layer of family ``"tensor"`` named ``"<module>.<param>"``
    (for a module that :func:`convert_module` does not convert).

    >>> class Block(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer_scale = nn.Parameter(torch.ones(4, 1, 1))
    >>> {k: (v[0], v[1]["value"].shape) for k, v in own_tensors("features.1", Block()).items()}
    {'features.1.layer_scale': ('tensor', (4, 1, 1))}
    """
    if is_torch_layer(module):
        return {}
    return {_join(name, p): (TENSOR, {"value": _np(t)}, {})
            for p, t in module.named_parameters(recurse=False)}


def _join(prefix: str, leaf: str) -> str:
    return f"{prefix}.{leaf}" if prefix else leaf


# ---------------------------------------------------------------------------- state dicts
def state_dict_layers(state_dict: Mapping[str, Any]) -> list[RefLayer]:
    """Reference layers of a bare state dict, in its order (no parents: sequence mode).

    Tensors are grouped by module prefix. A group's ``weight``/``bias``/``running_*``/
    ``in_proj_*`` tensors make one layer: a BatchNorm (with running statistics), attention
    (``in_proj_weight``, with its ``out_proj`` group), a convolution or Linear (a weight of 2 or
    more dimensions), or a LayerNorm/GroupNorm (a 1-D weight). Any other floating-point tensor
    is a learned tensor of its own (family ``"tensor"``: a class token, a layer scale, a bias
    table); integer buffers (Swin's relative position index) are not weights.

    Example:
        >>> sd = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).state_dict()
        >>> [(r.name, r.kind, len(r.arrays)) for r in state_dict_layers(sd)]
        [('0', 'conv_or_transposed', 2), ('1', 'batchnorm', 4)]
        >>> sd = {"cls": torch.zeros(1, 1, 4), "ln.weight": torch.ones(4),
        ...       "ln.bias": torch.zeros(4)}
        >>> [(r.name, r.kind) for r in state_dict_layers(sd)]
        [('cls', 'tensor'), ('ln', 'affine_norm')]
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
    out_proj = _out_projections(list(groups.items()))
    out = []
    for prefix, tensors in groups.items():
        if prefix in out_proj.values():
            continue
        for leaf, value in tensors.items():
            if leaf not in _MODULE_LEAVES and np.issubdtype(_np(value).dtype, np.floating):
                out.append(RefLayer(_join(prefix, leaf), TENSOR, {"value": _np(value)}, None))
        own = {k: v for k, v in tensors.items() if k in _MODULE_LEAVES}
        if own:
            out.append(_state_module(prefix, own, groups.get(out_proj.get(prefix, ""), {})))
    return out


def _out_projections(groups: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Attention prefix → the group of its output projection: ``<prefix>.out_proj``, else
    (renamed keys) the next group when it holds a ``(D, D)`` Linear weight."""
    found = {}
    for k, (prefix, tensors) in enumerate(groups):
        if "in_proj_weight" not in tensors:
            continue
        named = _join(prefix, "out_proj")
        if any(p == named for p, _ in groups):
            found[prefix] = named
        elif k + 1 < len(groups) and set(groups[k + 1][1]) <= {"weight", "bias"}:
            d = np.shape(tensors["in_proj_weight"])[-1]
            if np.shape(groups[k + 1][1].get("weight", ())) == (d, d):
                found[prefix] = groups[k + 1][0]
    return found


#: the state dict leaves of the modules a state dict layer stands for
_MODULE_LEAVES = ("weight", "bias", "running_mean", "running_var", "in_proj_weight",
                  "in_proj_bias")


def _affine_arrays(tensors: Mapping[str, Any], names: tuple[str, str]) -> dict[str, np.ndarray]:
    """``weight``/``bias`` of ``tensors`` (those present) under ``names``."""
    return {new: _np(tensors[old]) for old, new in zip(("weight", "bias"), names)
            if old in tensors}


def _state_module(prefix: str, own: Mapping[str, Any], out_proj: Mapping[str, Any]) -> RefLayer:
    """The layer of one state dict group's module tensors (see :func:`state_dict_layers`);
    ``out_proj``: the tensors of its output projection, for attention."""
    name = prefix or "(root)"
    leaves = set(own)
    if {"running_mean", "running_var"} <= leaves <= {"weight", "bias", "running_mean",
                                                      "running_var"}:
        arrays = _affine_arrays(own, ("gamma", "beta"))
        arrays.update(running_mean=_np(own["running_mean"]), running_var=_np(own["running_var"]))
        return RefLayer(name, "batchnorm", arrays, None)
    if "in_proj_weight" in leaves and leaves <= {"in_proj_weight", "in_proj_bias"} \
            and "weight" in out_proj:
        arrays = {"in_kernel": _np(own["in_proj_weight"])}
        if "in_proj_bias" in own:
            arrays["in_bias"] = _np(own["in_proj_bias"])
        arrays.update(_affine_arrays(out_proj, ("out_kernel", "out_bias")))
        return RefLayer(name, "attention", arrays, None)
    if "weight" in leaves and leaves <= {"weight", "bias"}:
        ndim = np.ndim(own["weight"])
        if ndim >= 2:
            kind = "conv" if ndim == 2 else CONV_OR_TRANSPOSED
            return RefLayer(name, kind, _affine_arrays(own, ("kernel", "bias")), None)
        return RefLayer(name, AFFINE_NORM, _affine_arrays(own, ("gamma", "beta")), None)
    raise BackendError(
        f"state dict module '{name}' ({', '.join(sorted(leaves))}) is not a convolution, "
        "linear, normalization or attention layer",
        hint="weight import reads Conv/ConvTranspose/Linear/BatchNorm/LayerNorm/GroupNorm/"
             "MultiheadAttention tensors and learned tensors of their own",
    )


# ---------------------------------------------------------------------------- modules
def _weighted_modules(module: nn.Module) -> dict[str, Converted]:
    """Converted modules and containers' learned tensors, in definition order."""
    found = {}
    owned: tuple[str, ...] = ()  # children of a module converted with them (attention)
    for name, sub in module.named_modules():
        if owned and name.startswith(owned):
            continue
        converted = convert_module(sub)
        if converted is None:
            found.update(own_tensors(name, sub))
            continue
        found[name or "(root)"] = converted
        if isinstance(sub, OWNS_CHILDREN):
            owned += (f"{name}." if name else "",)
    return found


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
                order, parents, tags = fx_layers(source, {n: w[0] for n, w in weighted.items()})
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
    :func:`archdsl.backends.keras.importer.randomize_weights` for the distributions and why),
    and every trainable learned tensor of a container (class token, position embedding, layer
    scale γ, relative position bias table) N(0, 0.5²): ConvNeXt's γ starts at 1e-6, which
    would leave its blocks out of the comparison.

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
                if sub.running_mean is not None and sub.running_var is not None:
                    sub.running_mean.normal_(0.0, 0.1, generator=gen)
                    sub.running_var.uniform_(0.5, 1.5, generator=gen)
                _randomize_affine(sub, gen)
            elif isinstance(sub, (nn.LayerNorm, nn.GroupNorm)):
                _randomize_affine(sub, gen)
            elif isinstance(sub, nn.MultiheadAttention) and sub.in_proj_weight is not None:
                sub.in_proj_weight.normal_(0.0, sub.embed_dim ** -0.5, generator=gen)
                if sub.in_proj_bias is not None:
                    sub.in_proj_bias.normal_(0.0, 0.1, generator=gen)
            elif not is_torch_layer(sub):  # learned tensors of containers (class token, γ)
                for t in sub.parameters(recurse=False):
                    if t.requires_grad:
                        t.normal_(0.0, 0.5, generator=gen)


def _randomize_affine(sub: nn.Module, gen: torch.Generator) -> None:
    """γ ~ U(0.5, 1.5), β ~ N(0, 0.1²) of a norm layer (those it has)."""
    weight, bias = getattr(sub, "weight", None), getattr(sub, "bias", None)
    if isinstance(weight, torch.Tensor):
        weight.uniform_(0.5, 1.5, generator=gen)
    if isinstance(bias, torch.Tensor):
        bias.normal_(0.0, 0.1, generator=gen)


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


__all__ = ["convert_module", "import_torch_state_dict", "is_torch_layer", "load_torch_file",
           "match_torch_state_dict", "own_tensors", "randomize_weights", "state_dict_layers",
           "torch_ref_layers"]
