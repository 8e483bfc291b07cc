"""Seeded weight initialization in numpy, in the canonical (PyTorch) layout.

Weights are made once here and copied into both frameworks, so a model starts identically in
PyTorch and Keras (the frameworks' RNGs cannot be matched; docs/conventions.md,
Initialization). Schemes:

* ``torch_default``: kernels ``U(±1/√fan_in)`` (kaiming_uniform with a=√5), biases the same bound,
* ``keras_default``: ``glorot_uniform`` kernels (Keras fans), zero biases,
* ``he_normal``: ``N(0, 2/fan_in)`` kernels, zero biases,
* ``zeros``: every kernel and bias zero (for tests).

Attention follows each framework's own module: ``torch_default`` draws the stacked q/k/v
projection ``xavier_uniform`` (``nn.MultiheadAttention``), ``keras_default`` each projection
with fans (D, D) (Keras' ``MultiHeadAttention``); biases start at zero in both.

BatchNorm always starts at γ=1, β=0, mean 0, var 1; fixed filters take their given values.

Example:
    >>> import archdsl
    >>> text = "archdsl: 1\\nname: t\\ninput: [1, 8]\\nbody:\\n- conv1d: {filters: 2, kernel: 3}"
    >>> g = archdsl.loads(text)
    >>> w = init_weights(g, seed=0)
    >>> w["conv1d_1"]["kernel"].shape, float(abs(w["conv1d_1"]["kernel"]).max()) <= 3 ** -0.5
    ((2, 1, 3), True)
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING

import numpy as np

from archdsl.errors import SpecError, did_you_mean
from archdsl.layers import Weight

if TYPE_CHECKING:
    from archdsl.graph import Graph

Weights = dict[str, dict[str, np.ndarray]]
SCHEMES = ("torch_default", "keras_default", "he_normal", "zeros")


def torch_fans(w: Weight) -> tuple[int, int]:
    """PyTorch's ``_calculate_fan_in_and_fan_out`` for a canonical-layout tensor."""
    if len(w.shape) < 2:
        return w.shape[0], w.shape[0]
    receptive = math.prod(w.shape[2:])
    return w.shape[1] * receptive, w.shape[0] * receptive


def keras_fans(w: Weight) -> tuple[int, int]:
    """Keras' fans, computed on the Keras layout of the same tensor."""
    receptive = math.prod(w.shape[2:])
    if w.role in ("in_kernel", "out_kernel"):  # Keras MultiHeadAttention: each projection's
        return w.shape[1], w.shape[1]  # EinsumDense draws glorot as a Dense D → D
    if w.role == "depthwise_kernel":  # Keras kernel (*k, C, M)
        c = w.groups
        return receptive * c, receptive * (w.shape[0] // c)
    if w.role == "transposed_kernel":  # Keras kernel (*k, Cout, Cin)
        return receptive * w.shape[1], receptive * w.shape[0]
    if len(w.shape) >= 2:  # conv (*k, I, O) and dense (I, O)
        return receptive * w.shape[1], receptive * w.shape[0]
    return w.shape[0], w.shape[0]


def _rng(seed: int, node: str, name: str) -> np.random.Generator:
    key = zlib.crc32(f"{node}/{name}".encode())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, key])))


def _fixed(w: Weight) -> np.ndarray:
    arr = np.asarray(w.fixed, dtype=np.float64)
    if arr.shape == w.shape:
        return arr.copy()
    try:
        return np.broadcast_to(arr, w.shape).copy()
    except ValueError:
        raise SpecError(
            f"fixed weights of shape {list(arr.shape)} do not fit the kernel {list(w.shape)}"
        ) from None


def _prescribed(w: Weight, rng: np.random.Generator) -> np.ndarray:
    """A layer's own initializer (``Weight.init``): constant, normal or truncated normal."""
    assert w.init is not None
    kind, value = w.init
    if kind == "constant":
        return np.full(w.shape, value)
    x = rng.normal(0.0, 1.0, w.shape)
    if kind == "trunc_normal":
        bad = np.abs(x) > 2
        while bad.any():
            x[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
            bad = np.abs(x) > 2
    return x * value


def init_weights(graph: Graph, scheme: str | None = None, seed: int = 0) -> Weights:
    """Initialize every weight of ``graph``; returns ``{node: {weight name: array}}`` (float64)."""
    scheme = scheme or graph.spec.init
    if scheme not in SCHEMES:
        raise SpecError(
            f"unknown init scheme '{scheme}'.{did_you_mean(scheme, SCHEMES)} "
            f"Valid: {', '.join(SCHEMES)}"
        )
    out: Weights = {}
    for node_id, node in graph.layers():
        weights = node.weights
        if not weights:
            continue
        kernel = next((w for w in weights.values() if w.role.endswith("kernel")), None)
        arrays = {}
        for name, w in weights.items():
            arrays[name] = _one(w, kernel, scheme, _rng(seed, node_id, name))
        out[node_id] = arrays
    return out


def _one(w: Weight, kernel: Weight | None, scheme: str, rng: np.random.Generator) -> np.ndarray:
    if w.fixed is not None:
        return _fixed(w)
    if w.init is not None:
        return _prescribed(w, rng)
    if w.role in ("gamma", "running_var"):
        return np.ones(w.shape)
    if w.role in ("beta", "running_mean"):
        return np.zeros(w.shape)
    if scheme == "zeros" or w.role in ("in_bias", "out_bias"):  # attention biases start at 0
        return np.zeros(w.shape)  # in nn.MultiheadAttention and Keras MultiHeadAttention
    if w.role == "in_kernel" and scheme == "torch_default":  # nn.MultiheadAttention: xavier
        fan_in, fan_out = torch_fans(w)
        bound = math.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, w.shape)
    if w.role == "bias":
        if scheme != "torch_default" or kernel is None:
            return np.zeros(w.shape)
        bound = 1 / math.sqrt(torch_fans(kernel)[0])
        return rng.uniform(-bound, bound, w.shape)
    if scheme == "torch_default":
        bound = 1 / math.sqrt(torch_fans(w)[0])
        return rng.uniform(-bound, bound, w.shape)
    if scheme == "keras_default":
        fan_in, fan_out = keras_fans(w)
        bound = math.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, w.shape)
    # he_normal
    return rng.normal(0.0, math.sqrt(2 / torch_fans(w)[0]), w.shape)
