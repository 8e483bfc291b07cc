"""The compiled training and evaluation steps of the Keras trainer, one pair per backend.

:func:`tf_steps` builds a ``tf.function`` with ``tf.GradientTape`` (TensorFlow is imported
here only, lazily, on that backend); :func:`jax_steps` a ``jax.jit`` over
``model.stateless_call`` that writes the new state back into the Keras variables. Both return
``(train, evaluate)``: ``train(x, y, masks) -> (loss, correct, grads)`` and
``evaluate(x, y) -> (loss, correct)``, on NHWC inputs and one-hot targets; ``masks`` is stored
in the :class:`~archdsl.backends.keras.train_dropout.DropoutControl` the dropout layers read.

Example:
    >>> import numpy as np
    >>> int(correct(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[0, 1], [0, 1]])))
    1
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


def determinism(seed: int, backend: str) -> None:
    """Seed Keras; on TensorFlow also turn on op determinism and turn off TF32."""
    keras.utils.set_random_seed(seed)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.experimental.enable_tensor_float_32_execution(False)


def tf_steps(model: keras.Model, loss_fn: Any, opt: Any, tvars: list[Any],
             control: DropoutControl, jit_compile: bool) -> Steps:
    """The TensorFlow steps (``jit_compile``: XLA)."""
    import tensorflow as tf  # only on the TensorFlow backend

    def train(x: Any, y: Any, masks: dict[str, Any]) -> Any:
        control.current = masks
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, tvars)
        opt.apply(grads, tvars)
        return loss, correct(logits, y), grads

    def evaluate(x: Any, y: Any) -> Any:
        logits = model(x, training=False)
        return loss_fn(y, logits), correct(logits, y)

    # autograph off: the steps have no tensor-dependent Python control flow to convert
    kw = {"jit_compile": jit_compile, "reduce_retracing": True, "autograph": False}
    return tf.function(train, **kw), tf.function(evaluate, **kw)


def jax_steps(model: keras.Model, loss_fn: Any, opt: Any, control: DropoutControl) -> Steps:
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
        tv, ov = opt.stateless_apply(ov, grads, tv)
        return loss, correct(logits, y), grads, (tv, ntv, ov)

    def evaluate(state: Any, x: Any, y: Any) -> Any:
        tv, ntv = state
        logits, _ = model.stateless_call(tv, ntv, x, training=False)
        return loss_fn(y, logits), correct(logits, y)

    jtrain, jeval = jax.jit(train), jax.jit(evaluate)

    def run_train(x: Any, y: Any, masks: Any) -> Any:
        state = ([v.value for v in model.trainable_variables],
                 [v.value for v in model.non_trainable_variables],
                 [v.value for v in opt.variables])
        loss, hits, grads, (tv, ntv, ov) = jtrain(state, x, y, masks)
        for group, values in ((model.trainable_variables, tv),
                              (model.non_trainable_variables, ntv),
                              (opt.variables, ov)):
            for var, value in zip(group, values):
                var.assign(value)
        return loss, hits, grads

    def run_eval(x: Any, y: Any) -> Any:
        state = ([v.value for v in model.trainable_variables],
                 [v.value for v in model.non_trainable_variables])
        return jeval(state, x, y)

    return run_train, run_eval


__all__ = ["correct", "determinism", "jax_steps", "tf_steps"]
