"""Training a lowered PyTorch model on numpy batches, in step with the Keras trainer.

:func:`make_trainer` wraps an :class:`~archdsl.backends.torch.ArchdslModule` in a
:class:`TorchTrainer`, which implements the :class:`~archdsl.training.Trainer` protocol:
one optimizer step per numpy batch, eval-mode evaluation, learning-rate changes, checkpointable
state and the last step's gradients, all in the canonical layout.

**Matched conventions** (the default) are the reference the Keras trainer reproduces:
``F.cross_entropy(label_smoothing)`` on logits, ``torch.optim`` SGD/Adam/RMSprop in their
single-tensor form (``foreach=False``, the same arithmetic on CPU and CUDA), weight decay as
``decay`` says (``coupled``: torch's ``weight_decay=``; ``decoupled``: AdamW, and for SGD and
RMSprop ``w ← w·(1 − lr·wd)`` before the step, AdamW's order), BatchNorm with the spec's
momentum and ε, dropout either off or driven by the caller's numpy masks (see
:meth:`TorchTrainer.step` and :func:`archdsl.training.dropout_masks`), and
:func:`~archdsl.backends.torch.parity_mode` (deterministic algorithms, no TF32) plus
``torch.manual_seed``.

**Native conventions** (:data:`CONVENTIONS`, each selectable through ``native=``;
``config.conventions == "native"`` selects all) are what a straight port gets from torch's
defaults: BatchNorm momentum 0.1 and ε 1e-5 whatever the spec says (``bn_momentum``,
``bn_eps``; ``bn_variance`` changes nothing here, torch's update is the unbiased one),
stock optimizers whose ``weight_decay`` is coupled except AdamW (``optimizer``), ε = 1e-8
(``adam_eps``), ``torch_default`` initialization (``init``) and torch's own dropout RNG with
``Dropout2d`` for spatial dropout (``dropout_kind``).

Example:
    >>> import archdsl, numpy as np
    >>> from archdsl.backends import torch as tb
    >>> from archdsl.trainconfig import TrainConfig
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 4, 4]\\nbody:\\n"
    ...                   "  - flatten: {}\\n  - dense: {units: 3}\\n")
    >>> cfg = TrainConfig.model_validate({"optimizer": {"name": "sgd", "lr": 0.1},
    ...                                   "dtype": "float64"})
    >>> trainer = make_trainer(tb.build(g, init="zeros", **build_options(cfg)), g, cfg)
    >>> x, y = np.ones((4, 2, 4, 4)), np.array([0, 1, 2, 0])
    >>> r = trainer.step(x, y)
    >>> round(r.loss, 6), r.count
    (1.098612, 4)
    >>> sorted(trainer.gradients()["dense_1"])
    ['bias', 'kernel']
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archdsl.errors import BackendError
from archdsl.init import init_weights
from archdsl.trainconfig import CONVENTIONS, OptimizerConfig, TrainConfig, resolve_native
from archdsl.training.masks import DropoutNode, dropout_nodes, mask_multiplier
from archdsl.training.trainer import StepResult, Trainer

from .runtime import parity_mode, resolve_device, resolve_dtype
from .weights import get_weights, node_tensors, set_weights

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: conventions that can each be switched to the framework's own default (an ablation flips one)
TORCH_BN_MOMENTUM = 0.1
TORCH_BN_EPS = 1e-5
TORCH_EPS = 1e-8

Weights = dict[str, dict[str, np.ndarray]]

#: dropout module → its mask hook handle (one per module, replaced by a newer trainer)
_HOOKS: weakref.WeakKeyDictionary[nn.Module, Any] = weakref.WeakKeyDictionary()


def build_options(config: TrainConfig, native: frozenset[str] | set[str] = frozenset()
                  ) -> dict[str, Any]:
    """Keyword arguments for :func:`archdsl.backends.torch.build` that fit ``config``.

    Example:
        >>> build_options(TrainConfig(dtype="float64"))
        {'dtype': 'float64'}
    """
    resolve_native(config, native)
    return {"dtype": config.dtype}


def make_optimizer(params: list[Tensor], opt: OptimizerConfig,
                   native: frozenset[str] = frozenset()) -> tuple[torch.optim.Optimizer, bool]:
    """The torch optimizer for ``opt`` and whether the caller must apply decoupled weight decay
    itself (SGD and RMSprop have no decoupled form in torch).

    Example:
        >>> w = [torch.zeros(2, requires_grad=True)]
        >>> o, manual = make_optimizer(w, OptimizerConfig(name="sgd", weight_decay=0.1,
        ...                                                decay="decoupled"))
        >>> type(o).__name__, o.defaults["weight_decay"], manual
        ('SGD', 0.0, True)
    """
    eps = TORCH_EPS if "adam_eps" in native else opt.eps
    # AdamW is decoupled by name (also when its config was built without the validator)
    coupled = opt.name != "adamw" and (opt.decay == "coupled" or "optimizer" in native)
    wd = opt.weight_decay
    if opt.name in ("adam", "adamw"):
        cls = torch.optim.AdamW if not coupled and "optimizer" in native else torch.optim.Adam
        kw: dict[str, Any] = {} if cls is torch.optim.AdamW else {
            "decoupled_weight_decay": not coupled}
        return cls(params, lr=opt.lr, betas=opt.betas, eps=eps, weight_decay=wd, foreach=False,
                   **kw), False
    wd_in_optimizer = wd if coupled else 0.0
    if opt.name == "sgd":
        o: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov,
            weight_decay=wd_in_optimizer, foreach=False)
    else:
        o = torch.optim.RMSprop(params, lr=opt.lr, alpha=opt.alpha, eps=eps,
                                momentum=opt.momentum, weight_decay=wd_in_optimizer,
                                foreach=False)
    return o, (not coupled and wd != 0.0)


def slot_names(opt: OptimizerConfig) -> tuple[str, ...]:
    """torch's per-parameter state tensors of ``opt``.

    >>> slot_names(OptimizerConfig(name="rmsprop", momentum=0.9))
    ('square_avg', 'momentum_buffer')
    """
    if opt.name in ("adam", "adamw"):
        return ("exp_avg", "exp_avg_sq")
    if opt.name == "sgd":
        return ("momentum_buffer",) if opt.momentum > 0 else ()
    return ("square_avg", "momentum_buffer") if opt.momentum > 0 else ("square_avg",)


@dataclass
class _MaskControl:
    active: bool = False
    current: dict[str, Tensor] = field(default_factory=dict)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class TorchTrainer:
    """A torch model, its optimizer and loss, stepping on numpy batches (see module doc).

    Build it with :func:`make_trainer`. Attributes: ``model``, ``graph``, ``config``,
    ``native``, ``optimizer``, ``device``, ``dtype``, and ``forward_module``: the module the
    training forward pass calls (``model``, or its ``DistributedDataParallel`` wrapper, see
    :mod:`archdsl.backends.torch.ddp`).
    """

    def __init__(self, model: nn.Module, graph: Graph, config: TrainConfig, *,
                 device: str | torch.device = "cpu",
                 native: frozenset[str] = frozenset()) -> None:
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise BackendError("training needs a graph with one input and one output (logits)")
        if len(graph.output_shapes[0]) != 1:
            raise BackendError(f"the output must be logits (K,), the graph gives "
                               f"{list(graph.output_shapes[0])}")
        self.model = model
        self.graph = graph
        self.config = config
        self.native = native
        self.dtype = resolve_dtype(config.dtype)
        have = next((p.dtype for p in model.parameters() if p.is_floating_point()), self.dtype)
        if have != self.dtype:
            raise BackendError(f"the model computes in {have}, the config asks for "
                               f"{config.dtype}", hint="build it with build_options(config)")
        self.device = resolve_device(device)
        # strict on CPU; on CUDA a few kernels (e.g. bilinear-upsampling backward) have no
        # deterministic version, and those warn instead of stopping the run
        parity_mode(warn_only=self.device.type != "cpu")
        torch.manual_seed(config.seed)
        model.to(self.device)
        if "init" in native:
            set_weights(model, graph, init_weights(graph, "torch_default", config.seed))
        self._configure_batchnorm()
        self._control = _MaskControl()
        self._dropout = self._configure_dropout()
        tensors = node_tensors(model, graph)
        self._params: list[tuple[str, str, Tensor]] = [
            (node_id, name, t) for node_id, ts in tensors.items() for name, t in ts.items()
            if isinstance(t, nn.Parameter) and t.requires_grad
        ]
        self.optimizer, self._manual_decay = make_optimizer(
            [p for _, _, p in self._params], config.optimizer, native)
        self._slots = slot_names(config.optimizer)
        self._steps = 0
        self._bf16 = config.precision == "bf16"
        self._watched = watched_tensors(tensors, graph)
        self.forward_module: nn.Module = model

    # ------------------------------------------------------------------ setup
    def _configure_batchnorm(self) -> None:
        for node in self.graph.walk():
            if node.type != "batchnorm":
                continue
            bn: Any = self.model.get_submodule(node.id)
            p = node.params
            bn.momentum = TORCH_BN_MOMENTUM if "bn_momentum" in self.native else p.momentum
            bn.eps = TORCH_BN_EPS if "bn_eps" in self.native else p.eps

    def _configure_dropout(self) -> dict[str, tuple[nn.Module, DropoutNode]]:
        if self.config.dropout == "off":
            self._dropout_mode = "off"
        else:
            self._dropout_mode = "native" if "dropout_kind" in self.native else "masks"
        control = self._control
        found = {}
        for node in dropout_nodes(self.graph):
            node_id = node.node
            module = self.model.get_submodule(node_id)
            old = _HOOKS.pop(module, None)
            if old is not None:
                old.remove()

            def hook(mod: nn.Module, args: Any, out: Tensor, key: str = node_id) -> Any:
                return out * control.current[key] if control.active else None

            _HOOKS[module] = module.register_forward_hook(hook)
            found[node_id] = (module, node)
        return found

    # ------------------------------------------------------------------ data
    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        arr = np.asarray(x)
        want = tuple(self.graph.input_shapes[0])
        if tuple(arr.shape[1:]) != want:
            raise BackendError(f"expected a batch of shape (N, {', '.join(map(str, want))}), "
                               f"received {tuple(arr.shape)}")
        labels = np.asarray(y).astype(np.int64)
        if labels.shape != (arr.shape[0],):
            raise BackendError(f"expected {arr.shape[0]} integer labels, received "
                               f"{labels.shape}")
        xt = torch.as_tensor(np.ascontiguousarray(arr), device=self.device).to(self.dtype)
        return xt, torch.as_tensor(labels, device=self.device)

    def _masks(self, masks: Mapping[str, np.ndarray] | None, n: int) -> dict[str, Tensor]:
        if self._dropout_mode != "masks" or not self._dropout:
            return {}
        given = dict(masks or {})
        missing = [k for k in self._dropout if k not in given]
        if missing:
            raise BackendError(
                f"dropout: matched needs a mask for every dropout node; missing "
                f"{', '.join(missing)}",
                hint="pass masks (archdsl.training.dropout_masks gives the format), "
                     "or set dropout: off")
        out = {}
        for node_id, (_, node) in self._dropout.items():
            out[node_id] = torch_mask(given[node_id], node.shape, node.rate, self.dtype,
                                      self.device)
            if out[node_id].shape[0] != n:
                raise BackendError(f"dropout mask '{node_id}' has {out[node_id].shape[0]} "
                                   f"rows, the batch {n}")
        return out

    # ------------------------------------------------------------------ protocol
    def step(self, x: np.ndarray, y: np.ndarray,
             masks: Mapping[str, np.ndarray] | None = None) -> StepResult:
        """One optimizer step on a batch; returns its mean loss (before the update).

        ``x``: (N, C, *S) float, ``y``: (N,) int labels. ``masks`` (``dropout: matched``
        only): :func:`archdsl.training.dropout_masks`' output, dropout node id → a float
        multiplier (already scaled) of shape (N, C, *S) for element dropout or (N, C) for
        whole-channel (spatial) dropout; a boolean keep-mask is scaled by 1/(1−p) here.
        """
        xt, yt = self._tensors(x, y)
        self._control.current = self._masks(masks, xt.shape[0])
        self.model.train()
        for module, _ in self._dropout.values():
            module.train(self._dropout_mode == "native")
        self.optimizer.zero_grad(set_to_none=True)
        self._control.active = self._dropout_mode == "masks"
        try:
            with self._autocast():
                logits = self.forward_module(xt)
                loss = F.cross_entropy(logits.float() if self._bf16 else logits, yt,
                                       label_smoothing=self.config.loss.label_smoothing)
        finally:
            self._control.active = False
        loss.backward()
        norm = clip_gradients([p for _, _, p in self._params], self.config.clip_grad_norm)
        if self._manual_decay:
            self._decay()
        self.optimizer.step()
        self._steps += 1
        with torch.no_grad():
            correct = int((logits.argmax(1) == yt).sum())
        return StepResult(float(loss.detach()), correct, int(xt.shape[0]), norm)

    def _autocast(self) -> Any:
        """bfloat16 autocast (``precision: bf16``), else a no-op context."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._bf16)

    def nonfinite(self) -> str | None:
        """The first weight or BatchNorm statistic holding a NaN or an infinity, in words
        (``None`` when all are finite); one reduction over the model per call."""
        watched = self._watched
        if not watched:
            return None
        with torch.no_grad():
            peaks = torch.stack([t.detach().abs().amax().to(torch.float64) for _, t in watched])
            bad = (~torch.isfinite(peaks)).nonzero()
        if bad.numel() == 0:
            return None
        label, tensor = watched[int(bad[0, 0])]
        value = "nan" if bool(torch.isnan(tensor).any()) else "inf"
        return f"{label} became {value}"

    def _decay(self) -> None:
        """Decoupled weight decay for SGD/RMSprop, ``p ← p·(1 − lr·wd)``, as AdamW does it."""
        wd = self.config.optimizer.weight_decay
        with torch.no_grad():
            for group in self.optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.mul_(1 - group["lr"] * wd)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        """Eval-mode mean loss and accuracy counts; no update (train mode is left off)."""
        xt, yt = self._tensors(x, y)
        self.model.eval()
        with torch.no_grad(), self._autocast():
            logits = self.model(xt)
            logits = logits.float() if self._bf16 else logits
            loss = F.cross_entropy(logits, yt, label_smoothing=self.config.loss.label_smoothing)
            correct = int((logits.argmax(1) == yt).sum())
        return StepResult(float(loss), correct, int(xt.shape[0]))

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group."""
        for group in self.optimizer.param_groups:
            group["lr"] = float(lr)

    def lr(self) -> float:
        """The current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    def gradients(self) -> Weights:
        """The last step's loss gradients (before weight decay), ``{node: {weight: array}}``."""
        out: Weights = {}
        for node_id, name, p in self._params:
            if p.grad is not None:
                out.setdefault(node_id, {})[name] = p.grad.detach().cpu().numpy().copy()
        return out

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        """Weights, optimizer slots, step count and lr as a flat dict of numpy arrays.

        Keys: ``weights/<node>/<weight>`` (canonical layout), ``optim/<node>/<weight>/<slot>``
        (torch's slot names; zeros before the first step), ``optim/step``, ``optim/lr``; with
        torch-RNG dropout also ``rng/torch`` (and ``rng/cuda``). BatchNorm's
        ``num_batches_tracked`` is not saved (unused with a set momentum).
        """
        state: dict[str, np.ndarray] = {}
        for node_id, arrays in get_weights(self.model, self.graph).items():
            for name, arr in arrays.items():
                state[f"weights/{node_id}/{name}"] = arr
        for node_id, name, p in self._params:
            st = self.optimizer.state.get(p, {})
            for slot in self._slots:
                t = st.get(slot)
                state[f"optim/{node_id}/{name}/{slot}"] = (
                    t.detach().cpu().numpy().copy() if isinstance(t, Tensor)
                    else np.zeros(tuple(p.shape), dtype=state_dtype(p)))
        state["optim/step"] = np.array(self._steps, dtype=np.int64)
        state["optim/lr"] = np.array(self.lr(), dtype=np.float64)
        if self._dropout_mode == "native" and self._dropout:
            state["rng/torch"] = torch.get_rng_state().numpy().copy()
            if self.device.type == "cuda":
                state["rng/cuda"] = torch.cuda.get_rng_state(self.device).numpy().copy()
        return state

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
        steps = int(state["optim/step"])
        self.optimizer.state.clear()
        if steps > 0:
            for node_id, name, p in self._params:
                st: dict[str, Tensor] = {
                    slot: torch.as_tensor(np.asarray(state[f"optim/{node_id}/{name}/{slot}"]))
                    .to(dtype=p.dtype, device=p.device).clone()
                    for slot in self._slots
                }
                if self.config.optimizer.name != "sgd":
                    st["step"] = torch.tensor(float(steps), dtype=_scalar_dtype())
                if st:
                    self.optimizer.state[p] = st
        self._steps = steps
        self.set_lr(float(state["optim/lr"]))
        if "rng/torch" in state:
            torch.set_rng_state(torch.as_tensor(np.asarray(state["rng/torch"])))
        if "rng/cuda" in state:
            torch.cuda.set_rng_state(torch.as_tensor(np.asarray(state["rng/cuda"])), self.device)


def clip_gradients(params: list[Tensor], max_norm: float | None) -> float:
    """The global L2 norm of the gradients (√Σ‖g‖², before clipping), and with ``max_norm``
    every gradient scaled by ``min(1, max_norm / (norm + 1e-6))`` (``clip_grad_norm_``'s
    rule; the Keras trainer computes the same, see ``train_steps.clip_by_global_norm``).

    >>> w = torch.zeros(2, requires_grad=True); w.grad = torch.tensor([3.0, 4.0])
    >>> clip_gradients([w], 1.0), [round(v, 4) for v in w.grad.tolist()]
    (5.0, [0.6, 0.8])
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                      for g in grads]))
        if max_norm is not None:
            coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            for g in grads:
                g.mul_(coef.to(g.dtype))
    return float(total)


def watched_tensors(tensors: Mapping[str, Mapping[str, Tensor]], graph: Graph
                    ) -> list[tuple[str, Tensor]]:
    """Every floating weight and statistic of the model, labelled for a divergence message."""
    out = []
    for node_id, ts in tensors.items():
        bn = graph[node_id].type == "batchnorm"
        for name, t in ts.items():
            if not t.is_floating_point() or not t.numel():
                continue
            kind = "statistic" if not isinstance(t, nn.Parameter) else "weight"
            what = f"BatchNorm {kind}" if bn else kind
            out.append((f"{what} {node_id}.{name}", t))
    return out


def state_dtype(p: Tensor) -> np.dtype[Any]:
    """The numpy dtype of a parameter's state arrays."""
    return np.dtype(str(p.dtype).removeprefix("torch."))


def torch_mask(mask: np.ndarray, node_shape: tuple[int, ...], rate: float, dtype: torch.dtype,
               device: torch.device) -> Tensor:
    """A dropout mask (see :meth:`TorchTrainer.step`) → the multiplier tensor, broadcastable
    to the node's (N, C, *S) output (:func:`archdsl.training.mask_multiplier`).

    >>> torch_mask(np.array([[2.0, 0.0]]), (2, 3), 0.5, torch.float64, torch.device("cpu"))
    tensor([[[2.],
             [0.]]], dtype=torch.float64)
    """
    mult = mask_multiplier(mask, node_shape, rate)
    return torch.as_tensor(np.ascontiguousarray(mult), device=device).to(dtype)


def make_trainer(model: nn.Module, graph: Graph, config: TrainConfig, *,
                 device: str | torch.device = "cpu",
                 native: frozenset[str] | set[str] = frozenset()) -> TorchTrainer:
    """A :class:`TorchTrainer` for ``model`` (from :func:`archdsl.backends.torch.build`).

    ``device``: ``"cpu"``, ``"cuda"``, ``"auto"`` (CUDA when present); the model is moved
    there. ``native``: conventions (:data:`CONVENTIONS`) taken from torch's defaults instead
    of the spec/config; ``config.conventions == "native"`` means all. The trainer sets the
    BatchNorm modules' momentum and ε, hooks the dropout modules (a hook that is inactive
    outside training steps) and, for ``"init"``, re-initializes with ``torch_default``.
    Turns on :func:`~archdsl.backends.torch.parity_mode` (process-wide; ``warn_only`` on
    CUDA, where a few backward kernels have no deterministic version; call ``parity_mode()``
    before CUDA is first used so that ``CUBLAS_WORKSPACE_CONFIG`` takes effect).

    Example:
        >>> import archdsl
        >>> from archdsl.backends import torch as tb
        >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [4]\\nbody:\\n"
        ...                   "  - dense: {units: 2}\\n")
        >>> t = make_trainer(tb.build(g), g, TrainConfig(conventions="native"))
        >>> type(t.optimizer).__name__, t.optimizer.defaults["eps"]
        ('Adam', 1e-08)
    """
    return TorchTrainer(model, graph, config, device=device,
                        native=resolve_native(config, native))


if TYPE_CHECKING:
    _: type[Trainer] = TorchTrainer  # the lock-step loop's protocol

__all__ = ["CONVENTIONS", "StepResult", "TorchTrainer", "build_options", "make_optimizer",
           "make_trainer", "resolve_native", "slot_names", "torch_mask"]
