"""The PyTorch backend: an archdsl graph → a native ``torch.nn.Module``.

Implements the backend interface of :mod:`archdsl.backends`:

* :data:`LOWERINGS`: layer type → lowering (``(node, ctx) → nn.Module``, :mod:`archdsl.lowering`),
* :func:`build`: the :class:`ArchdslModule`, weights from canonical arrays or ``archdsl.init``,
* :func:`get_weights` / :func:`set_weights`: canonical ``{node: {name: array}}`` ↔ tensors,
* :func:`forward`: every node's output as numpy (eval mode, no grad; :class:`NodeRunner`),
* :func:`count_params`: trainable / non-trainable counts as the IR counts them,

plus :func:`parity_mode` (deterministic algorithms, no TF32) for framework cross-checks and
:func:`calibrate_batchnorm` (BatchNorm statistics from a batch, for ``crosscheck --calibrated``).

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.backends import torch as tb
    >>> g = archdsl.load("specs/cifar10_cnn.yaml")
    >>> model = tb.build(g, seed=0)
    >>> model.get_submodule("block1.conv1")
    Conv2d(3, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> tb.forward(model, g, np.zeros((2, 3, 32, 32)), nodes=["logits"])["logits"].shape
    (2, 10)
"""

from __future__ import annotations

from .lower import LOWERINGS
from .model import ArchdslModule, NodeRunner, build, calibrate_batchnorm, count_params, forward
from .runtime import parity_mode, resolve_device, resolve_dtype
from .weights import get_weights, set_weights

__all__ = [
    "LOWERINGS",
    "ArchdslModule",
    "NodeRunner",
    "build",
    "calibrate_batchnorm",
    "count_params",
    "forward",
    "get_weights",
    "parity_mode",
    "resolve_device",
    "resolve_dtype",
    "set_weights",
]
