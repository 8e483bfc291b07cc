"""PyTorch's optimizer arithmetic as Keras 3 optimizers (``keras.ops`` only, any backend).

Stock Keras optimizers differ from PyTorch's in ways that change a training trajectory
(docs/conventions.md, Training): SGD's momentum buffer absorbs the learning rate (so an lr
change diverges), every Keras ``weight_decay`` is decoupled, Adam adds ε to the *uncorrected*
√v and computes its bias corrections in float32, RMSprop puts ε inside the square root, and the
learning rate is a float32 variable. The classes here replay ``torch.optim``'s single-tensor
update, operation by operation:

* :class:`TorchSGD`: ``b = μ·b + g``, ``w -= lr·b`` (Nesterov: ``w -= lr·(g + μ·b)``),
* :class:`TorchAdam`: ``m ← lerp(m, g, 1−β1)``, ``v = β2·v + (1−β2)·g·g``,
  ``w -= (lr/bc1)·m / (√v/√bc2 + ε)``, bias corrections ``bc = 1 − βᵗ`` in float64,
* :class:`TorchRMSprop`: ``s = α·s + (1−α)·g·g``, ``w -= lr·g / (√s + ε)`` (with momentum:
  ``b = μ·b + g/(√s + ε)``, ``w -= lr·b``).

Weight decay follows ``decay``: ``"coupled"`` adds ``wd·w`` to the gradient (torch's
``weight_decay=``), ``"decoupled"`` first scales ``w ← w·(1 − lr·wd)`` (torch's AdamW). Every
trainable variable is decayed, as torch does for a single parameter group. The learning rate
and all constants are held in float64 and cast to each variable's dtype the way torch casts a
Python scalar, so float64 training matches torch to round-off (≤1e-15 per step).

Slot variables carry torch's state names (``slot_names``), which lets a trainer
export optimizer state in a framework-neutral layout.

Example:
    >>> import numpy as np, keras
    >>> w = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
    >>> opt = TorchSGD(learning_rate=0.5, momentum=0.5)
    >>> opt.build([w])
    >>> opt.apply([np.array([1.0, 1.0])], [w])
    >>> opt.set_learning_rate(0.25)  # the buffer holds g, so an lr change is exact
    >>> opt.apply([np.array([1.0, 1.0])], [w])
    >>> keras.ops.convert_to_numpy(w).tolist()  # 1 − 0.5·1 − 0.25·1.5
    [0.125, 1.125]
"""

from __future__ import annotations

from typing import Any, Literal

import keras
from keras import ops

Decay = Literal["coupled", "decoupled"]


class TorchOptimizer(keras.optimizers.Optimizer):
    """Base of the torch-form optimizers: float64 learning rate, torch weight decay, named slots.

    Subclasses set :attr:`slot_names` and implement :meth:`torch_update`. The base class' own
    ``weight_decay`` stays ``None`` (Keras would apply it decoupled, in its own order); decay is
    applied here as ``decay`` says.

    Example:
        >>> TorchAdam(learning_rate=1e-3).slot_names
        ('exp_avg', 'exp_avg_sq')
    """

    def __init__(
        self,
        learning_rate: float = 1e-3,
        *,
        weight_decay: float = 0.0,
        decay: Decay = "coupled",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if decay not in ("coupled", "decoupled"):
            raise ValueError(f"decay must be 'coupled' or 'decoupled', received {decay!r}")
        super().__init__(learning_rate=float(learning_rate), name=name, **kwargs)
        self.torch_weight_decay = float(weight_decay)
        self.decay: Decay = decay
        #: torch's names of the per-variable state tensors, in creation order
        self.slot_names: tuple[str, ...] = ()
        self._lr64 = self.add_variable(shape=(), dtype="float64", name="learning_rate_float64")
        # assigned, not initialized: Constant(lr) would round lr through float32
        self._lr64.assign(ops.convert_to_tensor(float(learning_rate), dtype="float64"))
        self.slots: dict[str, list[Any]] = {}

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self) -> Any:
        """The float64 learning-rate variable (the float32 one Keras keeps is mirrored)."""
        return self._lr64

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.set_learning_rate(float(value))

    def set_learning_rate(self, lr: float) -> None:
        """Set the learning rate exactly (float64), e.g. for an epoch schedule.

        Example:
            >>> opt = TorchSGD(learning_rate=0.1)
            >>> opt.set_learning_rate(0.05)
            >>> float(keras.ops.convert_to_numpy(opt.learning_rate))
            0.05
        """
        self._lr64.assign(ops.convert_to_tensor(lr, dtype="float64"))
        self._learning_rate.assign(lr)

    # ------------------------------------------------------------------ state
    def build(self, variables: list[Any]) -> None:
        """Create one zero slot of each ``slot_names`` entry per variable."""
        if self.built:
            return
        super().build(variables)
        for slot in self.slot_names:
            self.slots[slot] = [self.add_variable_from_reference(v, slot) for v in variables]

    def slot(self, name: str, variable: Any) -> Any:
        """The slot variable ``name`` of ``variable``."""
        return self.slots[name][self._get_variable_index(variable)]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def const(value: float, dtype: Any) -> Any:
        """A Python double as a tensor of ``dtype``, rounded once (``ops.cast`` would go via
        float32 and lose precision in float64)."""
        return ops.convert_to_tensor(float(value), dtype=dtype)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Weight decay as torch applies it, then :meth:`torch_update`."""
        dtype = variable.dtype
        g = ops.cast(gradient, dtype)
        wd = self.torch_weight_decay
        if wd != 0.0:
            if self.decay == "decoupled":  # torch: param.mul_(1 - lr * weight_decay)
                factor = ops.cast(1.0 - self._lr64 * self.const(wd, "float64"), dtype)
                self.assign(variable, variable * factor)
            else:  # torch: grad = grad.add(param, alpha=weight_decay)
                g = g + self.const(wd, dtype) * variable
        self.torch_update(g, variable, ops.cast(self._lr64, dtype))

    def torch_update(self, g: Any, variable: Any, lr: Any) -> None:
        """The optimizer's own update with the (decayed) gradient ``g`` and ``lr`` in
        ``variable.dtype``."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update({"weight_decay": self.torch_weight_decay, "decay": self.decay})
        return config


class TorchSGD(TorchOptimizer):
    """``torch.optim.SGD`` (dampening 0): the momentum buffer holds g, not lr·g.

    Example:
        >>> opt = TorchSGD(learning_rate=2**-5, momentum=0.875, nesterov=True)
        >>> opt.slot_names, opt.nesterov
        (('momentum_buffer',), True)
    """

    def __init__(
        self,
        learning_rate: float = 1e-3,
        momentum: float = 0.0,
        nesterov: bool = False,
        *,
        weight_decay: float = 0.0,
        decay: Decay = "coupled",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum requires a momentum > 0 (as in torch)")
        super().__init__(learning_rate, weight_decay=weight_decay, decay=decay, name=name,
                         **kwargs)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum_buffer",) if momentum > 0 else ()

    def torch_update(self, g: Any, variable: Any, lr: Any) -> None:
        if self.momentum > 0:
            mu = self.const(self.momentum, variable.dtype)
            buf = self.slot("momentum_buffer", variable)
            new_buf = buf * mu + g  # buf.mul_(μ).add_(g); the first step gives g as torch does
            self.assign(buf, new_buf)
            g = g + mu * new_buf if self.nesterov else new_buf
        self.assign(variable, variable - lr * g)  # param.add_(g, alpha=-lr)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


class TorchAdam(TorchOptimizer):
    """``torch.optim.Adam`` / ``AdamW``: ε added to √v̂, bias corrections in float64.

    ``decay="decoupled"`` is AdamW; ``"coupled"`` is Adam's ``weight_decay`` (L2 in the
    gradient).

    Example:
        >>> import numpy as np, keras
        >>> w = keras.Variable(np.zeros(1), dtype="float64")
        >>> opt = TorchAdam(learning_rate=0.1, betas=(0.9, 0.999), eps=1e-8)
        >>> opt.build([w])
        >>> opt.apply([np.array([1e-6])], [w])
        >>> round(float(keras.ops.convert_to_numpy(w)[0]), 6)  # ≈ −lr·g/(|g| + ε)
        -0.09901
    """

    def __init__(
        self,
        learning_rate: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.0,
        decay: Decay = "coupled",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, decay=decay, name=name,
                         **kwargs)
        self.beta_1, self.beta_2 = float(betas[0]), float(betas[1])
        self.epsilon = float(eps)
        self.slot_names = ("exp_avg", "exp_avg_sq")

    def torch_update(self, g: Any, variable: Any, lr: Any) -> None:
        dtype = variable.dtype
        # torch: step as a Python float, bc = 1 − β**step, step_size = lr / bc1 (all doubles)
        step = ops.cast(self.iterations + 1, "float64")
        bc1 = 1.0 - ops.power(self.const(self.beta_1, "float64"), step)
        bc2 = 1.0 - ops.power(self.const(self.beta_2, "float64"), step)
        step_size = ops.cast(self._lr64 / bc1, dtype)
        bc2_sqrt = ops.cast(ops.sqrt(bc2), dtype)
        m = self.slot("exp_avg", variable)
        v = self.slot("exp_avg_sq", variable)
        new_m = m + self.const(1.0 - self.beta_1, dtype) * (g - m)  # exp_avg.lerp_(g, 1 − β1)
        # exp_avg_sq.mul_(β2).addcmul_(g, g, value=1 − β2)
        new_v = v * self.const(self.beta_2, dtype) + self.const(1.0 - self.beta_2, dtype) * g * g
        self.assign(m, new_m)
        self.assign(v, new_v)
        denom = ops.sqrt(new_v) / bc2_sqrt + self.const(self.epsilon, dtype)
        self.assign(variable, variable - step_size * new_m / denom)  # addcdiv_(m, d, -step)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"betas": (self.beta_1, self.beta_2), "eps": self.epsilon})
        return config


class TorchRMSprop(TorchOptimizer):
    """``torch.optim.RMSprop`` (not centered): ``α`` smoothing, ε added *outside* the sqrt.

    Example:
        >>> import numpy as np, keras
        >>> w = keras.Variable(np.zeros(1), dtype="float64")
        >>> opt = TorchRMSprop(learning_rate=0.01, alpha=0.75, eps=1e-8)
        >>> opt.build([w])
        >>> opt.apply([np.array([2.0])], [w])
        >>> round(float(keras.ops.convert_to_numpy(w)[0]), 6)  # −lr·g/√((1−α)g²) = −0.02
        -0.02
    """

    def __init__(
        self,
        learning_rate: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        *,
        weight_decay: float = 0.0,
        decay: Decay = "coupled",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, decay=decay, name=name,
                         **kwargs)
        self.alpha = float(alpha)
        self.epsilon = float(eps)
        self.momentum = float(momentum)
        self.slot_names = ("square_avg", "momentum_buffer") if momentum > 0 else ("square_avg",)

    def torch_update(self, g: Any, variable: Any, lr: Any) -> None:
        dtype = variable.dtype
        s = self.slot("square_avg", variable)
        new_s = s * self.const(self.alpha, dtype) + self.const(1.0 - self.alpha, dtype) * g * g
        self.assign(s, new_s)
        avg = ops.sqrt(new_s) + self.const(self.epsilon, dtype)
        if self.momentum > 0:
            buf = self.slot("momentum_buffer", variable)
            new_buf = buf * self.const(self.momentum, dtype) + g / avg
            self.assign(buf, new_buf)
            self.assign(variable, variable - lr * new_buf)
        else:
            self.assign(variable, variable - lr * g / avg)  # addcdiv_(g, avg, value=-lr)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"alpha": self.alpha, "eps": self.epsilon, "momentum": self.momentum})
        return config


__all__ = ["Decay", "TorchAdam", "TorchOptimizer", "TorchRMSprop", "TorchSGD"]
