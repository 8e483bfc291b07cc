"""Which :class:`~archdsl.trainconfig.TrainConfig` a run uses, and its fingerprint.

Example:
    >>> c = override_config(TrainConfig(), {"optimizer.lr": 0.01, "epochs": 3})
    >>> c.optimizer.lr, c.epochs
    (0.01, 3)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from archdsl.errors import SpecError
from archdsl.trainconfig import UNHASHED, TrainConfig

if TYPE_CHECKING:
    from archdsl.graph import Graph


def resolve_config(graph: Graph, config: TrainConfig | None = None) -> TrainConfig:
    """``config``, else the spec's ``train:`` section, else the defaults (digits, Adam 1e-3)."""
    if config is not None:
        return config
    spec_cfg = getattr(graph.spec, "train", None)
    return spec_cfg if isinstance(spec_cfg, TrainConfig) else TrainConfig()


def override_config(config: TrainConfig, changes: Mapping[str, Any]) -> TrainConfig:
    """A validated copy of ``config`` with dotted keys changed (``"optimizer.lr": 0.01``).

    Raises:
        SpecError: a key or value is invalid (the message names the key).

    Example:
        >>> c = override_config(TrainConfig(), {"optimizer.lr": 0.01, "dataset": "mnist"})
        >>> c.optimizer.lr, c.dataset
        (0.01, 'mnist')
    """
    from pydantic import ValidationError

    data = config.model_dump()
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise SpecError(f"train setting '{key}': '{part}' is not a section")
            node = node[part]
        node[parts[-1]] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SpecError(
            f"invalid train setting '{where}': {err['msg']}. Received: {err.get('input')!r}"
        ) from None


def with_length(
    config: TrainConfig, epochs: int | None = None, max_steps: int | None = None
) -> TrainConfig:
    """``config`` with ``epochs`` / ``max_steps`` replaced where given (validated).

    Example:
        >>> with_length(TrainConfig(), max_steps=5).max_steps, with_length(TrainConfig()).epochs
        (5, 1)
    """
    changes = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps)) if v is not None}
    return override_config(config, changes) if changes else config


def step_limit(config: TrainConfig, per_epoch: int) -> int:
    """The number of steps a run takes: ``epochs`` × ``per_epoch``, capped by ``max_steps``.

    Example:
        >>> step_limit(TrainConfig(epochs=3), 10), step_limit(TrainConfig(max_steps=7), 10)
        (30, 7)
    """
    limit = config.epochs * per_epoch
    return limit if config.max_steps is None else min(limit, config.max_steps)


def config_hash(
    graph: Graph, config: TrainConfig, frameworks: Sequence[str], native: frozenset[str]
) -> str:
    """A fingerprint of everything that decides a run's trajectory (not ``epochs``/``max_steps``,
    so a finished run can be resumed for more epochs, nor early stopping and best-k settings:
    :data:`~archdsl.trainconfig.UNHASHED`)."""
    payload = {
        "config": config.model_dump(mode="json", exclude=set(UNHASHED)),
        "graph": graph.expanded(),
        "frameworks": list(frameworks),
        "native": sorted(native),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = ["config_hash", "override_config", "resolve_config", "step_limit", "with_length"]
