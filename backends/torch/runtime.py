"""Devices, dtypes and the numerics switches for framework cross-checks.

Example:
    >>> resolve_dtype("float64")
    torch.float64
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import os
from typing import Any

import torch

from archdsl.errors import BackendError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` (or the torch dtype) → ``torch.dtype``."""
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
        raise BackendError(f"dtype must be float32 or float64, received {dtype}")
    if dtype not in DTYPES:
        raise BackendError(f"dtype must be float32 or float64, received {dtype!r}")
    return DTYPES[dtype]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``, or ``"auto"`` (CUDA if present)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"invalid device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} requested but CUDA is not available",
                           hint="use --device cpu, or --device auto (CUDA when present); "
                           "in Python: device='cpu' or device='auto'")
    return dev


def parity_mode(warn_only: bool = False) -> dict[str, Any]:
    """Make torch numerics reproducible for framework cross-checks; returns what it set.

    Turns on deterministic algorithms (``warn_only`` only warns for ops without a
    deterministic kernel), disables cuDNN autotuning and TF32 in matmul and convolution
    (``fp32_precision='ieee'`` on torch ≥ 2.9, else ``allow_tf32=False``), and sets
    ``CUBLAS_WORKSPACE_CONFIG`` if unset (needed by deterministic cuBLAS; it takes effect
    only before CUDA is first used). Process-wide; call it once at start-up.

    >>> parity_mode()["deterministic"]  # doctest: +SKIP
    True
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    matmul = torch.backends.cuda.matmul
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(matmul, "fp32_precision") and hasattr(conv, "fp32_precision"):
        matmul.fp32_precision = "ieee"
        conv.fp32_precision = "ieee"  # type: ignore[union-attr]
    else:  # torch < 2.9
        matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return {
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "tf32": False,
        "cublas_workspace_config": os.environ["CUBLAS_WORKSPACE_CONFIG"],
    }


__all__ = ["DTYPES", "parity_mode", "resolve_device", "resolve_dtype"]
