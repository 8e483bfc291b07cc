"""The frameworks training can drive: :class:`Framework` records and their registry.

A framework is a backend module (``build``/``get_weights``/``forward``, see
:mod:`archdsl.backends`) plus its trainer module ``archdsl.backends.<name>.train``
(``make_trainer``, ``CONVENTIONS``, optionally ``build_options``). :func:`load_framework`
imports them on demand; nothing here imports a framework at import time. Tests plug in their
own with :func:`register_framework`.

Example:
    >>> fw = Framework("fake", None, print, ("bn_eps",))
    >>> register_framework(fw)
    >>> load_framework("fake") is fw
    True
    >>> register_framework(None, "fake")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.errors import BackendError
from archdsl.trainconfig import TrainConfig
from archdsl.training.errors import TrainingError
from archdsl.training.trainer import Trainer

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: ``make_trainer(model, graph, config, *, device, native) -> Trainer``
MakeTrainer = Callable[..., Trainer]


@dataclass(frozen=True)
class Framework:
    """One framework as training sees it: its backend and its trainer factory.

    ``backend`` provides ``build(graph, *, weights, dtype, **options)``,
    ``get_weights(model, graph)`` and ``forward(model, graph, inputs, nodes)`` (see
    :mod:`archdsl.backends`); ``make_trainer(model, graph, config, *, device, native)`` returns
    a :class:`~archdsl.training.Trainer` that trains ``model`` **in place**. ``conventions``
    are the names ``native`` may contain; ``build_options(config, native)``, when given, returns
    extra keyword arguments for ``backend.build`` (e.g. Keras' ``bn="torch"``).

    Load the real ones with :func:`load_framework`; tests pass their own.
    """

    name: str
    backend: Any
    make_trainer: MakeTrainer
    conventions: tuple[str, ...] = ()
    build_options: Callable[[TrainConfig, frozenset[str]], dict[str, Any]] | None = None

    def build(
        self, graph: Graph, weights: Mapping[str, Mapping[str, np.ndarray]], config: TrainConfig,
        native: frozenset[str],
    ) -> Any:
        """Build this framework's model of ``graph`` holding ``weights``."""
        own = native & frozenset(self.conventions)
        options = dict(self.build_options(config, own)) if self.build_options else {}
        options.setdefault("dtype", config.dtype)
        return self.backend.build(graph, weights=weights, **options)

    def trainer(
        self, model: Any, graph: Graph, config: TrainConfig, native: frozenset[str], device: str
    ) -> Trainer:
        """This framework's trainer of ``model``, with its share of the ``native`` conventions."""
        own = native & frozenset(self.conventions)
        return self.make_trainer(model, graph, config, device=device, native=own)


_REGISTERED: dict[str, Framework] = {}


def register_framework(framework: Framework | None, name: str | None = None) -> None:
    """Make ``load_framework(name)`` return ``framework`` (``None`` removes the override)."""
    key = name or (framework.name if framework is not None else "")
    if framework is None:
        _REGISTERED.pop(key, None)
    else:
        _REGISTERED[key] = framework


def load_framework(name: str | Framework) -> Framework:
    """The backend and trainer of framework ``name`` (``"torch"`` or ``"keras"``).

    Raises:
        BackendError: the framework is not installed or its backend has no trainer.
    """
    if isinstance(name, Framework):
        return name
    if name in _REGISTERED:
        return _REGISTERED[name]
    from archdsl.backends import load_backend

    backend = load_backend(name)
    module = f"{backend.__name__}.train"
    try:
        train = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise BackendError(f"the {name} backend has no trainer yet ({module} is missing)") from None
    return Framework(
        name,
        backend,
        train.make_trainer,
        tuple(getattr(train, "CONVENTIONS", ())),
        getattr(train, "build_options", None),
    )


def load_frameworks(backends: Sequence[str | Framework]) -> list[Framework]:
    """:func:`load_framework` of each name; the frameworks must be distinct and at least one.

    Raises:
        TrainingError: no framework, or one named twice.
    """
    fws = [load_framework(b) for b in backends]
    names = [fw.name for fw in fws]
    if not names or len(set(names)) != len(names):
        raise TrainingError(f"backends must name distinct frameworks. Received: {names}")
    return fws


def all_conventions(frameworks: Sequence[Framework]) -> tuple[str, ...]:
    """The union of the frameworks' ``CONVENTIONS``, in order of first appearance.

    Example:
        >>> fw = [Framework("a", None, print, ("eps", "init")), Framework("b", None, print,
        ...       ("init", "bn"))]
        >>> all_conventions(fw)
        ('eps', 'init', 'bn')
    """
    return tuple(dict.fromkeys(c for fw in frameworks for c in fw.conventions))


def native_set(
    config: TrainConfig, frameworks: Sequence[Framework], native: Sequence[str] | None = None
) -> frozenset[str]:
    """The conventions that run natively: all of them when ``config.conventions == "native"``.

    Raises:
        TrainingError: a name in ``native`` is no framework's convention.
    """
    known = all_conventions(frameworks)
    if config.conventions == "native":
        return frozenset(known)
    chosen = frozenset(native or ())
    unknown = sorted(chosen - set(known))
    if unknown:
        raise TrainingError(
            f"unknown convention '{unknown[0]}'; the trainers know: {', '.join(known) or 'none'}"
        )
    return chosen


__all__ = [
    "Framework",
    "MakeTrainer",
    "all_conventions",
    "load_framework",
    "load_frameworks",
    "native_set",
    "register_framework",
]
