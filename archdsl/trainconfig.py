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

import math
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    # NaN and ±inf are refused in every number (``lr: .inf`` would train to NaN weights)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class OptimizerConfig(_Strict):
    """Optimizer and all its constants (PyTorch's meaning of each)."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0, description="learning rate (the peak of a schedule)")
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
    """Learning-rate schedule, computed in float64 by the loop and set on every framework
    before each epoch (``interval: epoch``) or each optimizer step (``interval: step``).

    Example:
        >>> s = ScheduleConfig(name="cosine", interval="step", warmup=2)
        >>> [round(s.lr_at(1.0, t, 6), 3) for t in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """

    name: Literal["constant", "step", "cosine", "one_cycle"] = "constant"
    interval: Literal["epoch", "step"] | None = Field(
        None, description="epoch or step (default: step for one_cycle, epoch otherwise)"
    )
    warmup: int = Field(
        0, ge=0, description="linear warm-up intervals: lr·(t+1)/warmup, then the schedule"
    )
    step_size: int = Field(30, gt=0, description="intervals between steps (step)")
    gamma: float = Field(0.1, gt=0, description="factor per step (step)")
    min_lr: float = Field(0.0, ge=0, description="floor (cosine)")
    pct_start: float = Field(0.3, gt=0, lt=1, description="one_cycle: share of the rise")
    div_factor: float = Field(25.0, gt=0, description="one_cycle: start lr = lr / div_factor")
    final_div_factor: float = Field(
        1e4, gt=0, description="one_cycle: final lr = start lr / final_div_factor"
    )

    @model_validator(mode="after")
    def _one_cycle_has_its_own_warmup(self) -> ScheduleConfig:
        if self.name == "one_cycle" and self.warmup:
            raise ValueError("one_cycle rises from lr/div_factor itself; remove warmup")
        return self

    @property
    def per_step(self) -> bool:
        """Whether the learning rate changes before every optimizer step."""
        return (self.interval or ("step" if self.name == "one_cycle" else "epoch")) == "step"

    def lr_at(self, base: float, t: int, total: int) -> float:
        """The learning rate of interval ``t`` (0-based) of ``total``; ``base`` is the peak.

        ``one_cycle`` is ``torch.optim.lr_scheduler.OneCycleLR`` (cosine annealing, two
        phases) with ``max_lr = base``.
        """
        if t < self.warmup:
            return float(base * (t + 1) / self.warmup)
        if self.name == "one_cycle":
            return self._one_cycle(base, t, total)
        u, span = t - self.warmup, max(total - self.warmup, 1)
        if self.name == "step":
            return float(base * self.gamma ** (u // self.step_size))
        if self.name == "cosine":
            cos = 0.5 * (1 + math.cos(math.pi * u / span))
            return float(self.min_lr + (base - self.min_lr) * cos)
        return float(base)

    def _one_cycle(self, base: float, t: int, total: int) -> float:
        start = base / self.div_factor
        final = start / self.final_div_factor
        up_end = float(self.pct_start * total) - 1
        if t <= up_end:
            pct, hi, lo = t / up_end if up_end > 0 else 1.0, base, start
            return float(hi + (lo - hi) / 2 * (math.cos(math.pi * pct) + 1))
        down = (total - 1) - up_end
        pct = (t - up_end) / down if down > 0 else 1.0
        return float(final + (base - final) / 2 * (math.cos(math.pi * pct) + 1))

    def lr(self, base: float, epoch: int, epochs: int) -> float:
        """The learning rate of ``epoch`` (0-based) of a per-epoch schedule."""
        return self.lr_at(base, epoch, epochs)


class LossConfig(_Strict):
    """Cross-entropy on logits (the model's last layer must not be a softmax)."""

    name: Literal["cross_entropy"] = "cross_entropy"
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="target (1-ε)·one-hot + ε/K (torch and Keras alike)"
    )


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


class RandomResizedCropConfig(_Strict):
    """Training crops of a random area share and aspect ratio, scaled to the input size
    (torchvision's ``RandomResizedCrop``), drawn in numpy: the same crops in both frameworks."""

    scale: tuple[float, float] = Field((0.08, 1.0), description="area share range")
    ratio: tuple[float, float] = Field((0.75, 4 / 3), description="aspect ratio range")

    @model_validator(mode="after")
    def _ranges(self) -> RandomResizedCropConfig:
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1 or not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError("scale must be 0 < lo <= hi <= 1 and ratio 0 < lo <= hi")
        return self


class ImagesConfig(_Strict):
    """How image files (``dataset:`` a folder or a CSV) are decoded once into the cache, and
    cropped to the spec's input size (H, W) at training time."""

    resize: int | tuple[int, int] | None = Field(
        None, description="decode size H, W (one number: square); default: the input size. "
        "Larger than the input: validation images are center-cropped")
    fit: Literal["crop", "stretch"] = Field(
        "crop", description="crop: keep the aspect ratio and center-crop; stretch: scale to size")
    random_resized_crop: RandomResizedCropConfig | None = Field(
        None, description="training augmentation; null: off")

    @model_validator(mode="after")
    def _positive(self) -> ImagesConfig:
        if self.decode_size is not None and min(self.decode_size) < 1:
            raise ValueError("resize must be positive")
        return self

    @property
    def decode_size(self) -> tuple[int, int] | None:
        r = self.resize
        return (r, r) if isinstance(r, int) else r


Monitor = Literal["val_loss", "val_acc"]


class EarlyStoppingConfig(_Strict):
    """Stop when the monitored validation value (mean over the frameworks) has not improved by
    ``min_delta`` for ``patience`` epochs."""

    patience: int | None = Field(None, gt=0, description="epochs without improvement; null: off")
    monitor: Monitor = "val_loss"
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as improvement")


class KeepBestConfig(_Strict):
    """Keep the checkpoints of the ``count`` best epochs (``best/epoch-NNNN.npz``)."""

    count: int = Field(0, ge=0, description="how many best checkpoints to keep; 0: off")
    monitor: Monitor = "val_loss"


class TrainConfig(_Strict):
    """Everything that defines a training run."""

    dataset: str = Field(
        "digits", min_length=1,
        description="cifar10, mnist, fashion_mnist, digits, or the path of your data: a folder "
        "of class subfolders of images, an .npz (x, y, x_test, y_test) or a CSV of path,label")
    images: ImagesConfig = Field(
        ImagesConfig(), description="image files: resize, fit, random_resized_crop")
    val_split: float = Field(
        0.1, gt=0, lt=1, description="share held out for validation when the data has no test "
        "split")
    batch_size: int = Field(50, gt=0)
    epochs: int = Field(1, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many steps")
    train_subset: int | None = Field(None, gt=0, description="use only the first N samples")
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = Field(
        ScheduleConfig(), description="constant, step, cosine or one_cycle; per epoch or step; "
        "warm-up")
    loss: LossConfig = LossConfig()
    clip_grad_norm: float | None = Field(
        None, gt=0, description="scale the gradients to this global L2 norm when above it"
    )
    augment: AugmentConfig = AugmentConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    seed: int = Field(0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    precision: Literal["full", "bf16"] = Field(
        "full", description="bf16: mixed precision (torch autocast, Keras mixed_bfloat16)"
    )
    dropout: Literal["matched", "off"] = Field(
        "matched", description="matched: the same numpy masks in both; off: no dropout (strict)"
    )
    conventions: Literal["matched", "native"] = Field(
        "matched", description="native: each framework's own defaults (what a naive port gets)"
    )
    early_stopping: EarlyStoppingConfig = Field(
        EarlyStoppingConfig(), description="patience, monitor, min_delta (off by default)")
    keep_best: KeepBestConfig = Field(
        KeepBestConfig(), description="count, monitor: keep the best epochs' checkpoints")
    verify_data: bool = Field(
        True, description="check a built-in dataset's files against their known content "
        "hashes (false: --no-verify, for a deliberately modified copy)")
    download: bool = Field(
        False, description="download a missing built-in dataset into the data directory "
        "(checksum-verified; --download)")

    @model_validator(mode="after")
    def _bf16_needs_float32(self) -> TrainConfig:
        if self.precision == "bf16" and self.dtype != "float32":
            raise ValueError("precision: bf16 keeps float32 weights; set dtype: float32")
        return self


def setting_paths(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    """Every key that ``--set train.KEY=VALUE`` accepts, dotted, in declaration order.

    Example:
        >>> paths = setting_paths()
        >>> "optimizer.lr" in paths, "batch_size" in paths, "optimizer" in paths
        (True, True, False)
    """
    out: list[str] = []
    for name, field in model.model_fields.items():
        inner = [t for t in (field.annotation, *get_args(field.annotation))
                 if isinstance(t, type) and issubclass(t, BaseModel)]
        out += setting_paths(inner[0], f"{prefix}{name}.") if inner else [prefix + name]
    return out


#: Settings that do not change a run's trajectory (a resumed run may change them).
UNHASHED = frozenset({"epochs", "max_steps", "early_stopping", "keep_best", "verify_data",
                      "download"})


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
