"""The ``train:`` section: every hyperparameter explicit, validated with pydantic.

A spec's ``train:`` section (or a separate file given with ``--train FILE``) becomes a
:class:`TrainConfig`. Nothing is left to a framework default: optimizer constants, weight-decay
coupling, BatchNorm conventions, loss, schedule, augmentation, normalization, seed and dtype are
all named here and handed to both backends.

Example:
    >>> cfg = TrainConfig.model_validate({"dataset": "cifar10", "optimizer": {"name": "adam"}})
    >>> cfg.optimizer.lr, cfg.optimizer.eps, cfg.batch_size
    (0.001, 1e-08, 50)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimizerConfig(_Strict):
    """Optimizer and all its constants (PyTorch's meaning of each)."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0, description="learning rate")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD / RMSprop momentum")
    nesterov: bool = Field(False, description="SGD Nesterov momentum")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam β1, β2")
    eps: float = Field(1e-8, gt=0, description="Adam: added to √v̂ (PyTorch placement)")
    alpha: float = Field(0.99, gt=0, lt=1, description="RMSprop smoothing (Keras calls it rho)")
    weight_decay: float = Field(0.0, ge=0, description="decay strength")
    decay: Literal["coupled", "decoupled"] = Field(
        "coupled",
        description="coupled: L2 added to the gradient (torch SGD/Adam); "
        "decoupled: w -= lr·wd·w (AdamW, every Keras optimizer)",
    )

    @model_validator(mode="before")
    @classmethod
    def _adamw_is_decoupled(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") == "adamw":
            return {**data, "decay": "decoupled"}
        return data


class ScheduleConfig(_Strict):
    """Learning-rate schedule, applied per epoch."""

    name: Literal["constant", "step", "cosine"] = "constant"
    step_size: int = Field(30, gt=0, description="epochs between steps (step)")
    gamma: float = Field(0.1, gt=0, description="factor per step (step)")
    min_lr: float = Field(0.0, ge=0, description="floor (cosine)")

    def lr(self, base: float, epoch: int, epochs: int) -> float:
        """The learning rate of ``epoch`` (0-based)."""
        if self.name == "step":
            return float(base * self.gamma ** (epoch // self.step_size))
        if self.name == "cosine":
            t = epoch / max(epochs, 1)
            return float(self.min_lr + (base - self.min_lr) * 0.5 * (1 + np.cos(np.pi * t)))
        return base


class LossConfig(_Strict):
    """Cross-entropy on logits (the model's last layer must not be a softmax)."""

    name: Literal["cross_entropy"] = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0, lt=1)


class AugmentConfig(_Strict):
    """Seeded numpy augmentation, identical for both frameworks."""

    flip: bool = Field(False, description="random horizontal flip")
    crop_padding: int = Field(0, ge=0, description="random crop after zero padding by this much")


class NormalizeConfig(_Strict):
    """Per-channel normalization: statistics computed from the training set, or given."""

    stats: Literal["computed", "given", "none"] = "computed"
    mean: list[float] | None = None
    std: list[float] | None = None

    @model_validator(mode="after")
    def _given_needs_values(self) -> NormalizeConfig:
        if self.stats == "given" and (self.mean is None or self.std is None):
            raise ValueError("stats: given needs both mean and std")
        return self


class TrainConfig(_Strict):
    """Everything that defines a training run."""

    dataset: str = Field("digits", description="cifar10, mnist, fashion_mnist or digits")
    batch_size: int = Field(50, gt=0)
    epochs: int = Field(1, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many steps")
    train_subset: int | None = Field(None, gt=0, description="use only the first N samples")
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    dropout: Literal["matched", "off"] = Field(
        "matched", description="matched: the same numpy masks in both; off: no dropout (strict)"
    )
    conventions: Literal["matched", "native"] = Field(
        "matched", description="native: each framework's own defaults (what a naive port gets)"
    )


#: Conventions a trainer can take from its framework's own defaults, one at a time (ablation).
CONVENTIONS = (
    "bn_momentum",
    "bn_eps",
    "bn_variance",
    "optimizer",
    "adam_eps",
    "init",
    "dropout_kind",
)


def resolve_native(
    config: TrainConfig, native: frozenset[str] | set[str] = frozenset()
) -> frozenset[str]:
    """The conventions to take from a framework's defaults: all when ``config.conventions ==
    "native"``, else ``native`` (validated).

    Example:
        >>> resolve_native(TrainConfig(), {"bn_eps"})
        frozenset({'bn_eps'})
        >>> len(resolve_native(TrainConfig(conventions="native")))
        7
    """
    from archdsl.errors import BackendError

    unknown = sorted(set(native) - set(CONVENTIONS))
    if unknown:
        raise BackendError(
            f"unknown convention(s) {', '.join(unknown)}; valid: {', '.join(CONVENTIONS)}"
        )
    return frozenset(CONVENTIONS) if config.conventions == "native" else frozenset(native)
