"""Training a lowered Keras model with PyTorch's arithmetic (or with Keras' own conventions).

:func:`make_trainer` wraps a model from :func:`archdsl.backends.keras.build` in a
:class:`KerasTrainer`, which implements the :class:`~archdsl.training.Trainer` protocol: one
optimizer step per numpy batch (NCHW in, converted to NHWC
here), eval-mode evaluation, learning-rate changes, checkpointable state and the last step's
gradients, all in the canonical (PyTorch) layout.

**Matched conventions** (``config.conventions == "matched"``, the default) replay
``torch.optim`` and ``F.cross_entropy`` so that both frameworks follow one trajectory
(docs/conventions.md, "Training"):

* loss: ``CategoricalCrossentropy(from_logits=True, label_smoothing)`` on one-hot targets,
  computed in the model's dtype,
* optimizers: :class:`~archdsl.backends.keras.optim.TorchSGD`, ``TorchAdam`` (Adam and AdamW),
  ``TorchRMSprop``, with ``decay: coupled|decoupled`` as configured,
* BatchNorm: :class:`~archdsl.backends.keras.TorchLikeBatchNormalization` (unbiased running
  variance), Keras momentum ``1 − m`` and the spec's ε,
* dropout: ``dropout: off`` → identity; ``matched`` → the caller's numpy masks (see
  :meth:`KerasTrainer.step`), applied by wrapping each dropout layer's ``call``
  (:mod:`.train_dropout`),
* determinism: ``keras.utils.set_random_seed(seed)``, TF op determinism and no TF32.

**Native conventions** (:data:`CONVENTIONS`; ``config.conventions == "native"`` selects all of
them, ``native=`` any subset): what a straight port gets from Keras' defaults:

=============== ==============================================================================
``bn_momentum`` Keras BatchNormalization momentum 0.99 (torch: 0.1 ⇔ Keras 0.9)
``bn_eps``      ε = 1e-3 (torch 1e-5)
``bn_variance`` stock BatchNormalization: biased variance in the moving-variance update
``optimizer``   stock ``keras.optimizers`` SGD/Adam/AdamW/RMSprop (lr·g momentum buffer,
                always-decoupled weight decay, Kingma–Ba ε̂, ε inside RMSprop's sqrt,
                float32 learning rate and bias corrections)
``adam_eps``    ε = 1e-7, Keras' default, for Adam/AdamW/RMSprop (torch 1e-8)
``init``        ``keras_default`` weights (glorot-uniform kernels, zero biases)
``dropout_kind`` Keras' own RNG, and element-wise ``Dropout`` where the spec says
                ``spatial_dropout`` (a port that writes ``Dropout`` for torch's Dropout2d)
=============== ==============================================================================

Training steps run as one compiled function per backend (:mod:`.train_steps`): a
``tf.function`` with ``tf.GradientTape`` on TensorFlow (imported only, lazily, on that backend)
and ``jax.jit`` over ``model.stateless_call`` on JAX (float32 only there: :func:`build` refuses
float64 on any backend but TensorFlow).

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.backends import keras as kb
    >>> from archdsl.trainconfig import TrainConfig
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 4, 4]\\nbody:\\n"
    ...                   "  - flatten: {}\\n  - dense: {units: 3}\\n")
    >>> cfg = TrainConfig.model_validate({"optimizer": {"name": "sgd", "lr": 0.1},
    ...                                   "dtype": "float64"})
    >>> trainer = make_trainer(kb.build(g, init="zeros", **build_options(cfg)), g, cfg)
    >>> x, y = np.ones((4, 2, 4, 4)), np.array([0, 1, 2, 0])
    >>> r = trainer.step(x, y)
    >>> round(r.loss, 6), r.count
    (1.098612, 4)
    >>> sorted(trainer.gradients()["dense_1"])
    ['bias', 'kernel']
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from archdsl.errors import BackendError
from archdsl.init import init_weights
from archdsl.trainconfig import CONVENTIONS, OptimizerConfig, TrainConfig, resolve_native
from archdsl.training.trainer import StepResult, Trainer

from .layers import TorchLikeBatchNormalization
from .lower import to_keras_layout
from .optim import TorchAdam, TorchOptimizer, TorchRMSprop, TorchSGD
from .train_device import mixed_bfloat16, move_variables, placement
from .train_dropout import DropoutControl, configure_dropout, keras_mask
from .train_steps import determinism, jax_steps, tf_steps
from .weights import from_keras_parts, get_weights, keras_variables, set_weights, to_keras_parts

ops = keras.ops

#: Keras' defaults for the switchable conventions
KERAS_BN_MOMENTUM = 0.99
KERAS_BN_EPS = 1e-3
KERAS_EPS = 1e-7

Weights = dict[str, dict[str, np.ndarray]]


def build_options(config: TrainConfig, native: frozenset[str] | set[str] = frozenset()
                  ) -> dict[str, Any]:
    """Keyword arguments for :func:`archdsl.backends.keras.build` that fit ``config``.

    Example:
        >>> build_options(TrainConfig(dtype="float64"))
        {'dtype': 'float64', 'bn': 'torch'}
        >>> build_options(TrainConfig(), {"bn_variance"})["bn"]
        'keras'
    """
    nat = resolve_native(config, native)
    return {"dtype": config.dtype, "bn": "keras" if "bn_variance" in nat else "torch"}


def make_optimizer(opt: OptimizerConfig, native: frozenset[str] = frozenset()
                   ) -> keras.optimizers.Optimizer:
    """The Keras optimizer for ``opt``: torch's arithmetic, or stock Keras when ``"optimizer"``
    is in ``native`` (then weight decay is Keras' decoupled one whatever ``decay`` says).

    ``"adam_eps"`` in ``native`` replaces ``opt.eps`` by Keras' 1e-7.

    Example:
        >>> adamw = OptimizerConfig.model_validate({"name": "adamw", "weight_decay": 0.01})
        >>> type(make_optimizer(adamw)).__name__
        'TorchAdam'
        >>> make_optimizer(OptimizerConfig(name="adam"), frozenset({"optimizer"})).epsilon
        1e-08
    """
    eps = KERAS_EPS if "adam_eps" in native else opt.eps
    wd = opt.weight_decay
    if "optimizer" in native:
        kw: dict[str, Any] = {"learning_rate": opt.lr, "weight_decay": wd or None}
        if opt.name == "sgd":
            return keras.optimizers.SGD(momentum=opt.momentum, nesterov=opt.nesterov, **kw)
        if opt.name == "adam":
            return keras.optimizers.Adam(beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=eps,
                                         **kw)
        if opt.name == "adamw":
            kw["weight_decay"] = wd
            return keras.optimizers.AdamW(beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=eps,
                                          **kw)
        return keras.optimizers.RMSprop(rho=opt.alpha, momentum=opt.momentum, epsilon=eps, **kw)
    decay = "decoupled" if opt.name == "adamw" else opt.decay  # AdamW is decoupled by name
    common: dict[str, Any] = {"weight_decay": wd, "decay": decay}
    if opt.name == "sgd":
        return TorchSGD(opt.lr, opt.momentum, opt.nesterov, **common)
    if opt.name in ("adam", "adamw"):
        return TorchAdam(opt.lr, opt.betas, eps, **common)
    return TorchRMSprop(opt.lr, opt.alpha, eps, opt.momentum, **common)


# ---------------------------------------------------------------------------- the trainer
class KerasTrainer:
    """A Keras model, its optimizer and loss, stepping on numpy batches (see module doc).

    Build it with :func:`make_trainer`. Attributes: ``model``, ``graph``, ``config``,
    ``native`` (the conventions taken from Keras), ``optimizer``, ``dtype``.
    """

    def __init__(self, model: keras.Model, graph: Any, config: TrainConfig, *,
                 device: str = "cpu", native: frozenset[str] = frozenset(),
                 jit_compile: bool = False) -> None:
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise BackendError("training needs a graph with one input and one output (logits)")
        out_shape = graph.output_shapes[0]
        if len(out_shape) != 1:
            raise BackendError(f"the output must be logits (K,), the graph gives {list(out_shape)}")
        self.model = model
        self.graph = graph
        self.config = config
        self.native = native
        self.dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
        if self.dtype != config.dtype:
            raise BackendError(f"the model computes in {self.dtype}, the config asks for "
                               f"{config.dtype}", hint="build it with build_options(config)")
        self.classes = int(out_shape[0])
        self.backend = keras.backend.backend()
        if self.backend not in ("tensorflow", "jax"):
            raise BackendError(f"training supports Keras' tensorflow and jax backends, not "
                               f"{self.backend!r}")
        self._device = device
        determinism(config.seed, self.backend)
        if config.precision == "bf16":
            mixed_bfloat16(model)
        if "init" in native:
            set_weights(model, graph, init_weights(graph, "keras_default", config.seed))
        self._configure_batchnorm()
        self._control, self._dropout_nodes = configure_dropout(model, graph, self._dropout_mode())
        self._vars = list(model.trainable_variables)
        self._names = self._variable_names()
        self.optimizer = make_optimizer(config.optimizer, native)
        self.optimizer.build(self._vars)
        self.loss_fn = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.loss.label_smoothing, dtype=self.dtype)
        if self.backend == "jax" and str(device).startswith("cuda"):
            move_variables([*model.variables, *self.optimizer.variables], device)
        self._grads: list[Any] | None = None
        self._state_ok = True
        clip = config.clip_grad_norm
        self._train_fn, self._eval_fn = (
            tf_steps(model, self.loss_fn, self.optimizer, self._vars, self._control, jit_compile,
                     clip)
            if self.backend == "tensorflow"
            else jax_steps(model, self.loss_fn, self.optimizer, self._control, clip))

    # ------------------------------------------------------------------ setup
    def _configure_batchnorm(self) -> None:
        cls = (keras.layers.BatchNormalization if "bn_variance" in self.native
               else TorchLikeBatchNormalization)
        for node in self.graph.walk():
            if node.type != "batchnorm":
                continue
            layer = self.model.get_layer(node.id)
            if type(layer) is not cls:  # same state, only the update rule differs
                layer.__class__ = cls
            p = node.params
            # numpy scalars: ops.cast of a Python float would round via float32 in float64 runs
            layer.momentum = np.float64(
                KERAS_BN_MOMENTUM if "bn_momentum" in self.native else 1.0 - p.momentum)
            layer.epsilon = KERAS_BN_EPS if "bn_eps" in self.native else float(p.eps)

    def _dropout_mode(self) -> str:
        if self.config.dropout == "off":
            return "off"
        return "native" if "dropout_kind" in self.native else "masks"

    def _variable_names(self) -> list[tuple[str, str, Any, int] | None]:
        """(node, weight, Weight, part) of each trainable variable: attention's stacked
        projections are held by several Keras variables (``keras_variables``)."""
        by_id: dict[int, tuple[str, str, Any, int]] = {}
        for node in self.graph.walk():
            for name, w in node.weights.items():
                for part, var in enumerate(keras_variables(self.model, node.id, name, w)):
                    by_id[id(var)] = (node.id, name, w, part)
        return [by_id.get(id(v)) for v in self._vars]

    @contextlib.contextmanager
    def _placement(self) -> Iterator[None]:
        with placement(self.backend, self._device):
            yield

    # ------------------------------------------------------------------ data
    def _inputs(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        want = tuple(self.graph.input_shapes[0])
        if tuple(x.shape[1:]) != want:
            raise BackendError(f"expected a batch of shape (N, {', '.join(map(str, want))}) "
                               f"(channels-first), received {tuple(x.shape)}")
        labels = np.asarray(y).astype(np.int64)
        if labels.shape != (x.shape[0],):
            raise BackendError(f"expected {x.shape[0]} integer labels, received {labels.shape}")
        xk = np.ascontiguousarray(to_keras_layout(x), dtype=self.dtype)
        return xk, np.eye(self.classes, dtype=self.dtype)[labels]

    def _masks(self, masks: Mapping[str, np.ndarray] | None, n: int) -> dict[str, np.ndarray]:
        if self._control.mode != "masks" or not self._dropout_nodes:
            return {}
        given = dict(masks or {})
        missing = [k for k in self._dropout_nodes if k not in given]
        if missing:
            raise BackendError(
                f"dropout: matched needs a mask for every dropout node; missing "
                f"{', '.join(missing)}",
                hint="pass masks (archdsl.training.dropout_masks gives the format), "
                     "or set dropout: off")
        out = {}
        for node_id, node in self._dropout_nodes.items():
            m = keras_mask(given[node_id], node.shape, node.rate, self.dtype)
            if m.shape[0] != n:
                raise BackendError(f"dropout mask '{node_id}' has {m.shape[0]} rows, the batch "
                                   f"{n}")
            out[node_id] = m
        return out

    # ------------------------------------------------------------------ protocol
    def step(self, x: np.ndarray, y: np.ndarray,
             masks: Mapping[str, np.ndarray] | None = None) -> StepResult:
        """One optimizer step on a batch; returns its mean loss (before the update).

        ``x``: (N, C, *S) float, ``y``: (N,) int labels. ``masks`` (``dropout: matched``
        only): :func:`archdsl.training.dropout_masks`' output, dropout node id → a float
        multiplier (already scaled) of shape (N, C, *S) for element dropout or (N, C) for
        whole-channel (spatial) dropout, IR layout; a boolean keep-mask is scaled by 1/(1−p)
        here.
        """
        xk, yk = self._inputs(x, y)
        mk = self._masks(masks, xk.shape[0])
        with self._placement():
            loss, correct, grads, norm, ok = self._train_fn(xk, yk, mk)
        self._grads = list(grads)
        self._state_ok = bool(ops.convert_to_numpy(ok))
        return StepResult(float(loss), int(correct), int(xk.shape[0]), float(norm))

    def nonfinite(self) -> str | None:
        """The first weight or BatchNorm statistic holding a NaN or an infinity after the last
        step, in words (``None`` when all are finite; the step itself checks that)."""
        if self._state_ok:
            return None
        names: dict[int, tuple[Any, str]] = {}
        for node in self.graph.walk():
            for name, w in node.weights.items():
                for var in keras_variables(self.model, node.id, name, w):
                    names[id(var)] = (node, name)
        for var in self.model.weights:
            arr = np.asarray(ops.convert_to_numpy(var))
            if arr.dtype.kind != "f" or np.isfinite(arr).all():
                continue
            node, name = names.get(id(var), (None, var.path))
            label = (f"{'BatchNorm ' if node.type == 'batchnorm' else ''}"
                     f"{'weight' if var.trainable else 'statistic'} {node.id}.{name}"
                     if node is not None else f"variable {name}")
            return f"{label} became {'nan' if np.isnan(arr).any() else 'inf'}"
        return "a variable became non-finite"

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        """Inference-mode (``training=False``) mean loss and accuracy counts; no update."""
        xk, yk = self._inputs(x, y)
        with self._placement():
            loss, correct = self._eval_fn(xk, yk)
        return StepResult(float(loss), int(correct), int(xk.shape[0]))

    def set_lr(self, lr: float) -> None:
        """Set the learning rate (exactly, in float64, for the torch-form optimizers)."""
        if isinstance(self.optimizer, TorchOptimizer):
            self.optimizer.set_learning_rate(lr)
        else:
            self.optimizer.learning_rate = float(lr)

    def lr(self) -> float:
        """The current learning rate."""
        return float(ops.convert_to_numpy(self.optimizer.learning_rate))

    def gradients(self) -> Weights:
        """The last step's loss gradients, ``{node: {weight: array}}``, canonical layout."""
        out: Weights = {}
        if self._grads is None:
            return out
        parts: dict[tuple[str, str], tuple[Any, dict[int, np.ndarray]]] = {}
        for info, g in zip(self._names, self._grads):
            if info is None or g is None:
                continue
            node_id, name, w, part = info
            parts.setdefault((node_id, name), (w, {}))[1][part] = ops.convert_to_numpy(g)
        for (node_id, name), (w, arrays) in parts.items():
            out.setdefault(node_id, {})[name] = from_keras_parts(
                w, [arrays[i] for i in sorted(arrays)])
        return out

    # ------------------------------------------------------------------ state
    def _slot_items(self) -> Iterator[tuple[str, list[Any], Any]]:
        """(state key, Keras variable(s) in part order, canonical Weight or None) of every
        optimizer slot."""
        opt = self.optimizer
        if isinstance(opt, TorchOptimizer):
            for slot in opt.slot_names:
                grouped: dict[str, tuple[Any, dict[int, Any]]] = {}
                for var, info, s in zip(self._vars, self._names, opt.slots[slot]):
                    key = f"{info[0]}/{info[1]}" if info else var.path
                    grouped.setdefault(key, (info[2] if info else None, {}))[1][
                        info[3] if info else 0] = s
                for key, (w, parts) in grouped.items():
                    yield f"optim/{key}/{slot}", [parts[i] for i in sorted(parts)], w
            return
        special = {id(opt.iterations), id(opt._learning_rate)}
        i = 0
        for var in opt.variables:
            if id(var) in special:
                continue
            yield f"optim/native/{i:03d}", [var], None
            i += 1

    def get_state(self) -> dict[str, np.ndarray]:
        """Weights, optimizer slots, step count and lr as a flat dict of numpy arrays.

        Keys: ``weights/<node>/<weight>`` (canonical layout), ``optim/<node>/<weight>/<slot>``
        (torch's slot names and layout, so the matched state is interchangeable with the torch
        trainer's), ``optim/step``, ``optim/lr``; stock Keras optimizers use
        ``optim/native/<i>``; Keras-RNG dropout adds ``rng/<node>``.
        """
        state: dict[str, np.ndarray] = {}
        for node_id, arrays in get_weights(self.model, self.graph).items():
            for name, arr in arrays.items():
                state[f"weights/{node_id}/{name}"] = np.array(arr)
        for key, slot_vars, w in self._slot_items():
            arrays = [ops.convert_to_numpy(v) for v in slot_vars]
            state[key] = np.array(from_keras_parts(w, arrays) if w is not None else arrays[0])
        state["optim/step"] = np.array(int(ops.convert_to_numpy(self.optimizer.iterations)),
                                       dtype=np.int64)
        state["optim/lr"] = np.array(self.lr(), dtype=np.float64)
        for node_id, layer in self._rng_layers():
            state[f"rng/{node_id}"] = np.array(ops.convert_to_numpy(layer.seed_generator.state))
        return state

    def _rng_layers(self) -> Iterator[tuple[str, Any]]:
        if self._control.mode == "native":
            for node_id in self._dropout_nodes:
                layer = self.model.get_layer(node_id)
                if getattr(layer, "seed_generator", None) is not None:
                    yield node_id, layer

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`get_state`'s output; training then continues bit-identically."""
        expected = set(self.get_state())
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or extra:
            raise BackendError(f"set_state: missing keys {missing[:5]}, unknown keys "
                               f"{extra[:5]}")
        weights: Weights = {}
        for key, arr in state.items():
            if key.startswith("weights/"):
                _, node_id, name = key.split("/", 2)
                weights.setdefault(node_id, {})[name] = np.asarray(arr)
        set_weights(self.model, self.graph, weights)
        for key, slot_vars, w in self._slot_items():
            arr = np.asarray(state[key])
            for var, value in zip(slot_vars, [arr] if w is None else to_keras_parts(w, arr)):
                var.assign(value.astype(keras.backend.standardize_dtype(var.dtype)))
        self.optimizer.iterations.assign(int(state["optim/step"]))
        self.set_lr(float(state["optim/lr"]))
        for node_id, layer in self._rng_layers():
            layer.seed_generator.state.assign(np.asarray(state[f"rng/{node_id}"]))


def make_trainer(model: keras.Model, graph: Any, config: TrainConfig, *, device: str = "cpu",
                 native: frozenset[str] | set[str] = frozenset(),
                 jit_compile: bool = False) -> KerasTrainer:
    """A :class:`KerasTrainer` for ``model`` (from :func:`archdsl.backends.keras.build`).

    ``native``: conventions (:data:`CONVENTIONS`) taken from Keras' defaults instead of
    torch's; ``config.conventions == "native"`` means all. The trainer adjusts the model in
    place to the chosen conventions: BatchNorm layers get torch's or Keras' momentum/ε and
    update rule (its class is switched between ``TorchLikeBatchNormalization`` and stock
    ``BatchNormalization``, which share their state), dropout layers are wrapped, and
    ``"init"`` re-initializes the weights with ``keras_default``. ``jit_compile`` compiles the
    TensorFlow step with XLA (faster on GPU; rounding may differ). ``device``: ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (:func:`.train_device.placement`).
    ``config.precision == "bf16"`` gives every layer the ``mixed_bfloat16`` policy.

    Example:
        >>> import archdsl
        >>> from archdsl.backends import keras as kb
        >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n"
        ...                   "  - dense: {units: 2}\\n")
        >>> cfg = TrainConfig(conventions="native")
        >>> t = make_trainer(kb.build(g), g, cfg)
        >>> type(t.optimizer).__name__, t.optimizer.epsilon
        ('Adam', 1e-07)
    """
    return KerasTrainer(model, graph, config, device=device,
                        native=resolve_native(config, native), jit_compile=jit_compile)


if TYPE_CHECKING:
    _: type[Trainer] = KerasTrainer  # the lock-step loop's protocol

__all__ = ["CONVENTIONS", "DropoutControl", "KerasTrainer", "StepResult", "build_options",
           "make_optimizer", "make_trainer", "resolve_native"]
