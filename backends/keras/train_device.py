"""Where and in which precision the Keras trainer computes: devices and mixed precision.

:func:`placement` runs a step on ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (``tf.device`` on
TensorFlow, ``jax.default_device`` on JAX); :func:`move_variables` puts a model's state on GPU N
for JAX, where a jitted step runs where its inputs live; :func:`mixed_bfloat16` gives every
layer Keras' ``mixed_bfloat16`` policy (``precision: bf16``).

Example:
    >>> with placement("tensorflow", "cpu"):
    ...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras

from archdsl.errors import BackendError


def mixed_bfloat16(model: keras.Model) -> None:
    """Give every layer of ``model`` Keras' ``mixed_bfloat16`` policy: bfloat16 compute,
    float32 variables (``precision: bf16``)."""
    policy = keras.DTypePolicy("mixed_bfloat16")
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            layer.dtype_policy = policy


def move_variables(variables: list[Any], device: str) -> None:
    """JAX: put every variable's value on GPU ``N`` of ``cuda:N`` (a jitted step runs where its
    committed inputs are)."""
    import jax

    with placement("jax", device):
        target = jax.numpy.zeros(()).devices().pop()
    for var in variables:
        var.assign(jax.device_put(var.value, target))


@contextlib.contextmanager
def placement(backend: str, device: str) -> Iterator[None]:
    """Run inside the device ``device`` names (``cpu``, ``cuda``, ``cuda:N``, ``auto``):
    ``tf.device("/GPU:N")`` on TensorFlow, ``jax.default_device`` on JAX.

    Raises:
        BackendError: CUDA asked for but no such GPU.
    """
    want = str(device)
    if want == "cpu" or backend not in ("tensorflow", "jax"):
        yield
        return
    index = int(want.split(":", 1)[1]) if ":" in want else 0
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        name = "/CPU:0" if want == "auto" and not gpus else f"/GPU:{index}"
        if name != "/CPU:0" and index >= len(gpus):
            raise BackendError(f"device {want!r}: TensorFlow sees {len(gpus)} GPU(s)")
        with tf.device(name):
            yield
        return
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if want == "auto" and not gpus:
        yield
        return
    if index >= len(gpus):
        raise BackendError(f"device {want!r}: JAX sees {len(gpus)} GPU(s)")
    with jax.default_device(gpus[index]):
        yield


__all__ = ["mixed_bfloat16", "move_variables", "placement"]
