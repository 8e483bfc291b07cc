"""Normalization and regularization: batch, layer and group normalization; dropout, spatial
dropout and stochastic depth.

Eval mode: BatchNorm normalizes with its running statistics, dropout is the identity. Train
mode: BatchNorm normalizes with the batch's statistics (mean and *biased* variance over every
axis but the channels; the running statistics are not updated, this is a forward pass only),
and dropout, spatial dropout and stochastic depth multiply by the mask the trainers use
(:func:`archdsl.training.dropout_masks`: values 0 or 1/(1 − rate), shape ``(N, *shape)`` for
``dropout``, ``(N, C)`` for ``spatial_dropout``, ``(N,)`` for ``stochastic_depth``). The
reference draws no random numbers.

Example:
    >>> import archdsl
    >>> from archdsl.reference import forward
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2]\\nbody:\\n  - dropout: {rate: 0.5}\\n")
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> forward(g, {}, x)["dropout_1"].tolist()  # eval: identity
    [[1.0, 2.0], [3.0, 4.0]]
    >>> m = {"dropout_1": np.array([[0.0, 2.0], [2.0, 0.0]])}
    >>> forward(g, {}, x, train=True, masks=m)["dropout_1"].tolist()
    [[0.0, 4.0], [6.0, 0.0]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archdsl.errors import BackendError
from archdsl.reference.registry import ACC, OpContext, reference_op
from archdsl.reference.windows import channel_view

if TYPE_CHECKING:
    from archdsl.ir import Node


@reference_op("batchnorm")
def batchnorm_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """``(x − μ) / √(σ² + ε) · γ + β`` per channel; μ, σ² running (eval) or of the batch."""
    x, w = xs[0], ctx.weights
    if ctx.train:
        axes = (0, *range(2, x.ndim))
        mean = x.mean(axis=axes, dtype=ACC)
        var = np.square(x.astype(ACC) - channel_view(mean, x.ndim)).mean(axis=axes)
        mean, var = mean.astype(x.dtype), var.astype(x.dtype)
    else:
        mean, var = w["running_mean"], w["running_var"]
    eps = np.asarray(node.params.eps, x.dtype)
    y = (x - channel_view(mean, x.ndim)) / np.sqrt(channel_view(var, x.ndim) + eps)
    if "gamma" in w:
        y = y * channel_view(w["gamma"], x.ndim)
    if "beta" in w:
        y = y + channel_view(w["beta"], x.ndim)
    return y


def _normalize(x: np.ndarray, axes: tuple[int, ...], eps: float) -> np.ndarray:
    """``(x − mean) / √(var + ε)`` over ``axes``, biased variance accumulated in float64."""
    x64 = x.astype(ACC)
    mean = x64.mean(axis=axes, keepdims=True)
    var = np.square(x64 - mean).mean(axis=axes, keepdims=True)
    return ((x64 - mean) / np.sqrt(var + eps)).astype(x.dtype)


@reference_op("layer_norm")
def layer_norm_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Normalize over the last axis (tokens) or the channels at every position, then γ, β."""
    x, w = xs[0], ctx.weights
    if node.params.axis == "channels":
        y = _normalize(x, (1,), node.params.eps)
        return y * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)
    return _normalize(x, (-1,), node.params.eps) * w["gamma"] + w["beta"]


@reference_op("group_norm")
def group_norm_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Statistics over each group of C/groups channels and every position, then γ, β."""
    x, w = xs[0], ctx.weights
    grouped = x.reshape(x.shape[0], node.params.groups, -1)
    y = _normalize(grouped, (-1,), node.params.eps).reshape(x.shape)
    return y * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)


def apply_mask(node: Node, x: np.ndarray, ctx: OpContext) -> np.ndarray:
    """``x`` times the node's mask in train mode, broadcast by the trainers' own rule
    (:func:`archdsl.training.masks.mask_multiplier`); ``x`` unchanged in eval mode."""
    if not ctx.train:
        return x
    if ctx.mask is None:
        raise BackendError(
            f"the reference runs '{node.id}' ({node.type}) in train mode without a mask; pass "
            "masks={node id: multiplier} (archdsl.training.dropout_masks)"
        )
    from archdsl.training.masks import mask_multiplier

    mult = mask_multiplier(ctx.mask, node.shape, node.params.rate)
    return x * np.asarray(mult, x.dtype)


@reference_op("dropout", "spatial_dropout", "stochastic_depth")
def dropout_op(node: Node, xs: list[np.ndarray], ctx: OpContext) -> np.ndarray:
    """Identity in eval mode; the supplied mask (element, channel or sample) in train mode."""
    return apply_mask(node, xs[0], ctx)


__all__ = ["apply_mask"]
