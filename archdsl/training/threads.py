"""CPU threads of a process that trains PyTorch and Keras side by side: one function for all.

PyTorch's OpenMP threads spin-wait between operations by default. Next to TensorFlow's thread
pool in one process (and on a busy machine) that spinning takes the cores the other framework
needs: measured on the 2-core development machine, a CIFAR-10 step was about 10× slower,
``crosscheck --train-steps 20`` took 100.6 s instead of 48.9 s, and the demo's torch epochs
6–10 s instead of 0.3–0.7 s. :func:`configure_threads` sets the wait policy to passive and
gives both frameworks' pools one thread per CPU this process may use (its affinity mask, not
the machine's count). Every command that trains calls it first (``train``, ``ablate``,
``crosscheck``, the demo, the benchmarks).

The variables take effect when the frameworks start their thread pools, so call it before
``torch`` or ``tensorflow`` is imported; afterwards it still sets torch's intra-op thread count.
A variable the user set is left alone.

Example:
    >>> env = {}
    >>> sorted(configure_threads(env, cpus=4).items())  # doctest: +NORMALIZE_WHITESPACE
    [('OMP_NUM_THREADS', '4'), ('OMP_WAIT_POLICY', 'PASSIVE'),
     ('TF_NUM_INTEROP_THREADS', '2'), ('TF_NUM_INTRAOP_THREADS', '4')]
    >>> configure_threads({"OMP_WAIT_POLICY": "ACTIVE"}, cpus=4)["OMP_WAIT_POLICY"]
    'ACTIVE'
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import MutableMapping


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_settings(cpus: int) -> dict[str, str]:
    """The variables :func:`configure_threads` sets for ``cpus`` CPUs."""
    return {
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(cpus),
        "TF_NUM_INTRAOP_THREADS": str(cpus),
        "TF_NUM_INTEROP_THREADS": str(min(2, cpus)),
    }


def configure_threads(
    env: MutableMapping[str, str] | None = None, *, cpus: int | None = None
) -> dict[str, str]:
    """Set the OpenMP wait policy and the thread counts of both frameworks unless already set
    (in ``env``, default ``os.environ``); returns the values in force. If torch is already
    imported, its intra-op thread count is set to match."""
    target = os.environ if env is None else env
    for key, value in thread_settings(cpus or usable_cpus()).items():
        target.setdefault(key, value)
    torch = sys.modules.get("torch") if env is None else None
    if torch is not None:
        with contextlib.suppress(ValueError, RuntimeError):
            torch.set_num_threads(int(target["OMP_NUM_THREADS"]))
    return {key: target[key] for key in thread_settings(1)}


__all__ = ["configure_threads", "thread_settings", "usable_cpus"]
