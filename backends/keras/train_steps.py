"""The compiled training and evaluation steps of the Keras trainer, one pair per backend.

:func:`tf_steps` builds a ``tf.function`` with ``tf.GradientTape`` (TensorFlow is imported
here only, lazily, on that backend); :func:`jax_steps` a ``jax.jit`` over
``model.stateless_call`` that writes the new state back into the Keras variables. Both return
``(train, evaluate)``: ``train(x, y, masks) -> (loss, correct, grads, norm, finite)`` and
``evaluate(x, y) -> (loss, correct)``, on NHWC inputs and one-hot targets; ``masks`` is stored
in the :class:`~archdsl.backends.keras.train_dropout.DropoutControl` the dropout layers read.
``norm`` is the gradients' global L2 norm before clipping (:func:`clip_by_global_norm`, the
torch trainer's rule), ``finite`` whether every floating weight and statistic is finite after
the update (:func:`all_finite`).

Example:
    >>> import numpy as np
    >>> int(correct(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[0, 1], [0, 1]])))
    1
    >>> norm, (g,) = clip_by_global_norm([np.array([3.0, 4.0])], 1.0)
    >>> float(norm), [round(float(v), 4) for v in keras.ops.convert_to_numpy(g)]
    (5.0, [0.6, 0.8])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from .train_dropout import DropoutControl

ops = keras.ops

Steps = tuple[Callable[..., Any], Callable[..., Any]]


def correct(logits: Any, onehot: Any) -> Any:
    """The number of rows whose largest logit is the target class."""
    hit = ops.equal(ops.argmax(logits, axis=-1), ops.argmax(onehot, axis=-1))
    return ops.sum(ops.cast(hit, "int32"))


def clip_by_global_norm(grads: list[Any], max_norm: float | None) -> tuple[Any, list[Any]]:
    """``(norm, grads)``: the global L2 norm √Σ‖g‖² (per-tensor norms, then their norm, as
    torch's ``clip_grad_norm_``) and, with ``max_norm``, the gradients scaled by
    ``min(1, max_norm / (norm + 1e-6))`` in their own dtype."""
    if not grads:
        return ops.zeros(()), grads
    per = ops.stack([ops.sqrt(ops.sum(ops.square(g))) for g in grads])
    norm = ops.sqrt(ops.sum(ops.square(per)))
    if max_norm is None:
        return norm, grads
    coef = ops.minimum(ops.convert_to_tensor(max_norm, dtype=norm.dtype) / (norm + 1e-6), 1.0)
    return norm, [g * ops.cast(coef, g.dtype) for g in grads]


def all_finite(values: list[Any]) -> Any:
    """Whether every floating array of ``values`` holds only finite numbers (a bool scalar)."""
    floats = [v for v in values if "float" in keras.backend.standardize_dtype(v.dtype)]
    if not floats:
        return ops.convert_to_tensor(True)
    peaks = ops.stack([ops.cast(ops.max(ops.abs(v)), "float32") for v in floats])
    return ops.all(ops.isfinite(peaks))


def determinism(seed: int, backend: str) -> None:
    """Seed Keras; on TensorFlow also turn on op determinism and turn off TF32."""
    keras.utils.set_random_seed(seed)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.experimental.enable_tensor_float_32_execution(False)


def tf_steps(model: keras.Model, loss_fn: Any, opt: Any, tvars: list[Any],
             control: DropoutControl, jit_compile: bool, clip: float | None = None) -> Steps:
    """The TensorFlow steps (``jit_compile``: XLA; ``clip``: the max global gradient norm)."""
    import tensorflow as tf  # only on the TensorFlow backend

    def train(x: Any, y: Any, masks: dict[str, Any]) -> Any:
        control.current = masks
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        norm, grads = clip_by_global_norm(tape.gradient(loss, tvars), clip)
        opt.apply(grads, tvars)
        return loss, correct(logits, y), grads, norm, all_finite(model.weights)

    def evaluate(x: Any, y: Any) -> Any:
        logits = model(x, training=False)
        return loss_fn(y, logits), correct(logits, y)

    # autograph off: the steps have no tensor-dependent Python control flow to convert
    kw = {"jit_compile": jit_compile, "reduce_retracing": True, "autograph": False}
    return tf.function(train, **kw), tf.function(evaluate, **kw)


def jax_steps(model: keras.Model, loss_fn: Any, opt: Any, control: DropoutControl,
              clip: float | None = None) -> Steps:
    """The JAX steps: jitted pure functions of the model's and optimizer's variables."""
    import jax

    def loss_aux(tv: Any, ntv: Any, x: Any, y: Any, masks: Any) -> Any:
        control.current = masks
        logits, ntv = model.stateless_call(tv, ntv, x, training=True)
        return loss_fn(y, logits), (logits, ntv)

    grad_fn = jax.value_and_grad(loss_aux, has_aux=True)

    def train(state: Any, x: Any, y: Any, masks: Any) -> Any:
        tv, ntv, ov = state
        (loss, (logits, ntv)), grads = grad_fn(tv, ntv, x, y, masks)
        norm, grads = clip_by_global_norm(grads, clip)
        tv, ov = opt.stateless_apply(ov, grads, tv)
        ok = all_finite([*tv, *ntv])
        return loss, correct(logits, y), grads, norm, ok, (tv, ntv, ov)

    def evaluate(state: Any, x: Any, y: Any) -> Any:
        tv, ntv = state
        logits, _ = model.stateless_call(tv, ntv, x, training=False)
        return loss_fn(y, logits), correct(logits, y)

    jtrain, jeval = jax.jit(train), jax.jit(evaluate)

    def run_train(x: Any, y: Any, masks: Any) -> Any:
        state = ([v.value for v in model.trainable_variables],
                 [v.value for v in model.non_trainable_variables],
                 [v.value for v in opt.variables])
        loss, hits, grads, norm, ok, (tv, ntv, ov) = jtrain(state, x, y, masks)
        for group, values in ((model.trainable_variables, tv),
                              (model.non_trainable_variables, ntv),
                              (opt.variables, ov)):
            for var, value in zip(group, values):
                var.assign(value)
        return loss, hits, grads, norm, ok

    def run_eval(x: Any, y: Any) -> Any:
        state = ([v.value for v in model.trainable_variables],
                 [v.value for v in model.non_trainable_variables])
        return jeval(state, x, y)

    return run_train, run_eval


__all__ = ["all_finite", "clip_by_global_norm", "correct", "determinism", "jax_steps",
           "tf_steps"]
