"""Support of bench/gpu_check.py: the environment (threads, precision, framework imports), the
devices found, synthetic CIFAR-10-sized data, and comparison and table helpers.

Kept apart from the checks themselves so each file holds one concern; the script imports it
as a sibling module (``python bench/gpu_check.py`` puts bench/ on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import math
import os
import platform
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------- environment
def prepare_environment(cpu_smoke: bool) -> None:
    """Environment defaults that must be set before torch, JAX or Keras is imported."""
    # OpenMP threads must not spin next to the other framework's (docs/training.md)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # deterministic cuBLAS needs this before CUDA is first used (parity_mode sets it too, late)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch and JAX share the GPU: JAX takes memory as it needs it instead of 75% up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    has_jax = importlib.util.find_spec("jax") is not None
    has_tf = importlib.util.find_spec("tensorflow") is not None
    if "KERAS_BACKEND" not in os.environ and has_jax and (not cpu_smoke or not has_tf):
        os.environ["KERAS_BACKEND"] = "jax"  # GPU machines: torch and JAX, often no TensorFlow
    if importlib.util.find_spec("archdsl") is None:
        # not from the checkout: archdsl.backends exists only in an install (pyproject's mapping)
        sys.exit(f"gpu_check: archdsl is not installed for {sys.executable}; install it with "
                 "`pip install --no-deps .` (or a wheel of it) next to torch and JAX")


def load_api() -> SimpleNamespace:
    """Every archdsl name this script uses, imported in this one place."""
    import archdsl
    from archdsl.backends import load_backend
    from archdsl.crosscheck import TOLERANCE, random_inputs
    from archdsl.data import Batches, Dataset, Normalization
    from archdsl.errors import BackendError
    from archdsl.init import init_weights
    from archdsl.training import (
        LOSS_TOLERANCE,
        PARTED,
        Lockstep,
        TrainData,
        check_fits,
        dropout_nodes,
        load_framework,
        lockstep_run,
        override_config,
        resolve_config,
        start_session,
    )

    return SimpleNamespace(
        archdsl=archdsl, load_backend=load_backend, TOLERANCE=TOLERANCE,
        random_inputs=random_inputs, Batches=Batches, Dataset=Dataset,
        Normalization=Normalization, BackendError=BackendError, init_weights=init_weights,
        LOSS_TOLERANCE=LOSS_TOLERANCE, PARTED=PARTED, Lockstep=Lockstep, TrainData=TrainData,
        check_fits=check_fits, dropout_nodes=dropout_nodes, load_framework=load_framework,
        lockstep_run=lockstep_run, override_config=override_config,
        resolve_config=resolve_config, start_session=start_session,
    )


@dataclasses.dataclass
class Devices:
    """Where each framework runs in this invocation, or why it cannot."""

    mode: str  # "gpu" or "cpu-smoke"
    torch: str | None  # "cuda" / "cpu", None when unavailable
    keras: str | None  # "gpu" / "cpu"
    why_not: dict[str, str]
    keras_backend: str | None

    @property
    def torch_label(self) -> str:
        return f"PyTorch {'CUDA' if self.torch == 'cuda' else 'CPU'}"

    @property
    def keras_label(self) -> str:
        return self.keras_on("GPU" if self.keras == "gpu" else "CPU")

    def keras_on(self, where: str) -> str:
        name = {"jax": "JAX", "tensorflow": "TF"}.get(self.keras_backend or "", "?")
        return f"Keras-{name} {where}"


def find_devices(cpu_smoke: bool) -> Devices:
    """Which frameworks can run their part, without importing TensorFlow on a GPU machine."""
    why: dict[str, str] = {}
    torch_dev: str | None = None
    keras_dev: str | None = None
    backend = os.environ.get("KERAS_BACKEND")
    if importlib.util.find_spec("torch") is None:
        why["torch"] = "torch is not installed"
    else:
        import torch

        if cpu_smoke:
            torch_dev = "cpu"
        elif torch.cuda.is_available():
            torch_dev = "cuda"
        else:
            why["torch"] = "no CUDA device (torch.cuda.is_available() is False)"
    if importlib.util.find_spec("keras") is None:
        why["keras"] = "keras is not installed"
    elif cpu_smoke:
        keras_dev = "cpu"
    elif backend != "jax":
        why["keras"] = (f"Keras' backend is {backend or 'its default'!r}, not JAX: "
                        "run with KERAS_BACKEND=jax")
    else:
        import jax

        if jax.default_backend() in ("gpu", "cuda"):
            keras_dev = "gpu"
        else:
            why["keras"] = f"JAX has no CUDA device (jax.default_backend() is " \
                           f"{jax.default_backend()!r})"
    if keras_dev is not None:
        try:
            if backend == "jax":
                import jax

                # float32 convolutions and matmuls in full precision (no TF32), before compiling
                jax.config.update("jax_default_matmul_precision", "highest")
            import keras

            backend = keras.backend.backend()
        except Exception as exc:  # e.g. Keras' default backend, TensorFlow, is not installed
            keras_dev = None
            why["keras"] = f"Keras does not import: {type(exc).__name__}: {exc}"
    return Devices("cpu-smoke" if cpu_smoke else "gpu", torch_dev, keras_dev, why, backend)


def versions(dev: Devices) -> dict[str, Any]:
    """Versions and the device, for the output and the benchmarks page."""
    out: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                           "machine": platform.machine()}
    with contextlib.suppress(Exception):
        import archdsl

        out["archdsl"] = archdsl.__version__
    if dev.torch is not None:
        import torch

        out["torch"] = torch.__version__
        out["torch_cuda"] = torch.version.cuda
        if dev.torch == "cuda":
            out["cudnn"] = torch.backends.cudnn.version()
            out["gpu"] = torch.cuda.get_device_name(0)
            props = torch.cuda.get_device_properties(0)
            out["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            out["gpu_capability"] = f"{props.major}.{props.minor}"
    if dev.keras is not None:
        import keras

        out["keras"] = keras.__version__
        out["keras_backend"] = dev.keras_backend
        if dev.keras_backend == "jax":
            import jax
            import jaxlib

            out["jax"] = jax.__version__
            out["jaxlib"] = jaxlib.__version__
            d = jax.devices()[0]
            out["jax_device"] = f"{d.platform}: {getattr(d, 'device_kind', d)}"
            with contextlib.suppress(Exception):
                out["jax_platform_version"] = d.client.platform_version
    if dev.torch == "cuda" or dev.keras == "gpu":
        with contextlib.suppress(Exception):
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                 "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
            out["nvidia_smi"] = smi.stdout.strip()
    return out


def precision_state(dev: Devices) -> dict[str, Any]:
    """What TF32 and determinism are set to, read back from the frameworks."""
    out: dict[str, Any] = {}
    if dev.torch is not None:
        import torch

        matmul, conv = torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None)
        if hasattr(matmul, "fp32_precision") and hasattr(conv, "fp32_precision"):
            # torch >= 2.9: reading the legacy allow_tf32 flags after setting these raises
            out["torch_matmul_fp32_precision"] = matmul.fp32_precision
            out["torch_cudnn_conv_fp32_precision"] = conv.fp32_precision  # type: ignore[union-attr]
        else:
            out["torch_matmul_allow_tf32"] = matmul.allow_tf32
            out["torch_cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        out["torch_deterministic"] = torch.are_deterministic_algorithms_enabled()
        out["torch_cudnn_benchmark"] = torch.backends.cudnn.benchmark
    if dev.keras_backend == "jax" and dev.keras is not None:
        import jax

        out["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
    return out


# ---------------------------------------------------------------------------- data
def synthetic_dataset(api: SimpleNamespace, n_train: int, n_test: int, seed: int = 0) -> Any:
    """CIFAR-10-shaped uint8 images whose class can be learned, but not at once: a faint
    per-class template (blocks of 8×8 pixels, values 0–31) under uniform noise (0–223). The
    chapter's CNN then lowers the loss about as on real CIFAR-10 (from 2.7 to about 1.4 in 50
    steps), so relative loss differences are not taken of near-zero losses."""
    rng = np.random.default_rng(seed)
    contrast = 32
    coarse = rng.integers(0, contrast, size=(10, 3, 4, 4)).astype(np.uint8)
    templates = coarse.repeat(8, axis=2).repeat(8, axis=3)  # (10, 3, 32, 32)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=n).astype(np.int64)
        noise = rng.integers(0, 256 - contrast, size=(n, 3, 32, 32), dtype=np.uint8)
        x = templates[y] + noise
        return x, y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    classes = tuple(f"class{i}" for i in range(10))
    return api.Dataset("synthetic-cifar10-size", x_train, y_train, x_test, y_test, classes)


def train_data(api: SimpleNamespace, graph: Any, config: Any, dataset: Any) -> Any:
    """The shared pipelines of ``archdsl train`` (prepare_data) over an in-memory dataset."""
    api.check_fits(graph, dataset)
    norm = api.Normalization.from_data(dataset.x_train)
    aug = config.augment
    train = api.Batches(dataset.x_train, dataset.y_train, config.batch_size, seed=config.seed,
                        shuffle=True, flip=aug.flip, crop_padding=aug.crop_padding,
                        normalization=norm, dtype=config.dtype)
    val = api.Batches(dataset.x_test, dataset.y_test, max(500, config.batch_size),
                      seed=config.seed, shuffle=False, normalization=norm, dtype=config.dtype)
    return api.TrainData(dataset, norm, train, val)


# ---------------------------------------------------------------------------- helpers
def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def compare(graph: Any, a: dict[str, np.ndarray], b: dict[str, np.ndarray]
            ) -> dict[str, Any]:
    """Max abs difference per node, overall, on the logits, and the worst node."""
    per_node = {n: max_abs(a[n], b[n]) for n in graph if n in a and n in b}
    worst = max(per_node, key=lambda n: per_node[n])
    out = graph.outputs[0]
    return {"max_abs_diff": per_node[worst], "logits_max_abs_diff": per_node[out],
            "worst_node": worst, "per_node": per_node}


def rel_loss_diffs(a: list[float], b: list[float]) -> list[float]:
    return [abs(x - y) / abs(x) if x else (0.0 if x == y else math.inf) for x, y in zip(a, b)]


def fmt(x: Any) -> str:
    if isinstance(x, float):
        return "inf" if math.isinf(x) else ("0" if x == 0 else f"{x:.2e}")
    return str(x)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table (readable in a terminal, pasteable into docs)."""
    cells = [headers, *[[fmt(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *[line(r) for r in cells[1:]]])
