"""Data-parallel training of a spec with ``DistributedDataParallel`` (gloo, CPU or CUDA).

Each rank builds the same model from the same canonical weights, wraps it in
``DistributedDataParallel`` and trains it with :class:`~archdsl.backends.torch.train.
TorchTrainer` on a deterministic shard of the **same** numpy batches: rank ``r`` of ``W`` takes
rows ``[r·B/W, (r+1)·B/W)`` of every batch (no ``DistributedSampler``). DDP averages the
gradients, so with equal shards one DDP step equals one single-process step on the full batch
(up to the summation order: ~1e-7 relative in float32). The reported loss of a step is the mean
over the full batch (an all-reduce of the shard losses). BatchNorm normalizes each shard with
its own statistics, as torch's DDP does (no SyncBatchNorm), so the single-process equality holds
for nets without BatchNorm.

Two ways to run it:

* from Python, :func:`train_ddp` spawns ``world_size`` processes (``torch.multiprocessing``,
  a free port on 127.0.0.1) and returns rank 0's :class:`DDPResult`;
* under ``torchrun``, every process calls :func:`train_ddp`, which joins the process group
  torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``)::

      torchrun --nproc_per_node=2 -m archdsl.backends.torch.ddp specs/cifar10_cnn.yaml \\
          --steps 20 --batch-size 32

  Rank 0 prints one line per step (``step <i> loss <value>``).

Without ``batches``, the data are seeded synthetic batches (:func:`synthetic_batches`).

Example:
    >>> from archdsl.trainconfig import TrainConfig
    >>> cfg = TrainConfig(dropout="off")
    >>> r = train_ddp("net.yaml", cfg, world_size=2, steps=3)  # doctest: +SKIP
    >>> len(r.losses)  # doctest: +SKIP
    3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from archdsl.errors import BackendError
from archdsl.init import init_weights
from archdsl.trainconfig import TrainConfig
from archdsl.training.masks import dropout_masks, dropout_nodes

from .model import build
from .train import make_trainer
from .weights import get_weights

Batch = tuple[np.ndarray, np.ndarray]
Weights = dict[str, dict[str, np.ndarray]]


@dataclass
class DDPResult:
    """Per-step full-batch mean losses, accuracy counts, and (optionally) rank 0's final
    weights in canonical layout."""

    losses: list[float]
    correct: list[int]
    weights: Weights | None = None


def synthetic_batches(graph: Any, batch_size: int, steps: int, seed: int = 0,
                      dtype: str = "float32") -> list[Batch]:
    """``steps`` seeded batches of standard-normal inputs shaped like the graph's input and
    uniform labels over its ``K`` logits.

    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [2, 3]\\nbody:\\n"
    ...                   "  - flatten: {}\\n  - dense: {units: 4}\\n")
    >>> b = synthetic_batches(g, 8, 2)
    >>> len(b), b[0][0].shape, bool(b[0][1].max() < 4)
    (2, (8, 2, 3), True)
    """
    rng = np.random.default_rng(seed)
    shape = tuple(graph.input_shapes[0])
    classes = int(graph.output_shapes[0][0])
    return [(rng.normal(size=(batch_size, *shape)).astype(dtype),
             rng.integers(0, classes, size=batch_size)) for _ in range(steps)]


def shard(n: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s rows of a batch of ``n`` (equal shards; ``n`` must divide evenly).

    >>> shard(32, 1, 2)
    slice(16, 32, None)
    """
    if n % world_size:
        raise BackendError(f"a batch of {n} does not split evenly over {world_size} ranks")
    size = n // world_size
    return slice(rank * size, (rank + 1) * size)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (for the process group's rendezvous)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_graph(spec_path: str | Path) -> Any:
    import archdsl

    return archdsl.load(spec_path)


def run_rank(
    rank: int, world_size: int, spec_path: str | Path, config: TrainConfig, steps: int,
    batches: Sequence[Batch] | None = None, *, weights: Weights | None = None,
    native: frozenset[str] = frozenset(), device: str = "cpu", return_weights: bool = False,
    verbose: bool = False,
) -> DDPResult:
    """Train on this rank inside an initialized process group; every rank returns the same
    losses (rank 0 also the weights when asked).

    Dropout masks (``dropout: matched``) are :func:`archdsl.training.dropout_masks` of the full
    batch, keyed by ``(seed, epoch 0, step)``, and sharded like the data, so they do not depend
    on the number of ranks.
    """
    graph = _load_graph(spec_path)
    if batches is None:
        batches = synthetic_batches(graph, config.batch_size, steps, config.seed, config.dtype)
    w = weights if weights is not None else init_weights(graph, None, config.seed)
    model = build(graph, weights=w, dtype=config.dtype, device=device)
    trainer = make_trainer(model, graph, config, device=device, native=native)
    ddp_kw: dict[str, Any] = {}
    if trainer.device.type == "cuda":
        ddp_kw["device_ids"] = [trainer.device]
    trainer.forward_module = DistributedDataParallel(model, **ddp_kw)
    losses: list[float] = []
    correct: list[int] = []
    nodes = dropout_nodes(graph)
    for i in range(steps):
        x, y = batches[i % len(batches)]
        rows = shard(len(x), rank, world_size)
        masks = None
        if config.dropout == "matched":
            full = dropout_masks(nodes, len(x), seed=config.seed, epoch=0, index=i,
                                 dtype=config.dtype)
            masks = {k: m[rows] for k, m in full.items()}
        r = trainer.step(x[rows], y[rows], masks)
        total = torch.tensor([r.loss * r.count, float(r.correct), float(r.count)],
                             dtype=torch.float64)
        dist.all_reduce(total)
        losses.append(float(total[0] / total[2]))
        correct.append(int(total[1]))
        if verbose and rank == 0:
            print(f"step {i} loss {losses[-1]:.10g}", flush=True)
    out = get_weights(model, graph) if return_weights and rank == 0 else None
    return DDPResult(losses, correct, out)


def _spawned(rank: int, world_size: int, port: int, payload: dict[str, Any],
             results: Any) -> None:
    """Entry point of a spawned rank: join the group, train, send rank 0's result back."""
    torch.set_num_threads(payload.pop("threads"))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    try:
        config = TrainConfig.model_validate(payload.pop("config"))
        result = run_rank(rank, world_size, payload.pop("spec_path"), config, **payload)
        if rank == 0:
            results.put(result)
    finally:
        dist.destroy_process_group()


def _under_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def train_ddp(
    spec_path: str | Path, config: TrainConfig, world_size: int = 2, steps: int = 10, *,
    batches: Sequence[Batch] | None = None, weights: Weights | None = None,
    native: frozenset[str] = frozenset(), device: str = "cpu", return_weights: bool = False,
    verbose: bool = False, threads: int = 1, timeout_s: float = 300.0,
) -> DDPResult:
    """Train ``spec_path`` data-parallel for ``steps`` steps; the per-step full-batch losses.

    Under ``torchrun`` this process is one rank (``world_size`` is torchrun's); otherwise
    ``world_size`` ranks are spawned and rank 0's result is returned. ``batches``: numpy
    (x, y) pairs in IR layout, cycled (default: :func:`synthetic_batches` of
    ``config.batch_size``); ``weights``: the canonical initial weights (default:
    ``init_weights(graph, seed=config.seed)``); ``threads``: torch threads per spawned rank.

    Raises:
        BackendError: a rank failed or did not finish within ``timeout_s``.
    """
    if _under_torchrun():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group("gloo")
        try:
            return run_rank(rank, world, spec_path, config, steps, batches, weights=weights,
                            native=native, device=device, return_weights=return_weights,
                            verbose=verbose)
        finally:
            dist.destroy_process_group()
    payload = {
        "spec_path": str(spec_path), "config": config.model_dump(mode="json"), "steps": steps,
        "batches": None if batches is None else list(batches), "weights": weights,
        "native": frozenset(native), "device": device, "return_weights": return_weights,
        "verbose": verbose, "threads": threads,
    }
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_spawned, args=(r, world_size, port, dict(payload), results),
                         daemon=True) for r in range(world_size)]
    for p in procs:
        p.start()
    try:
        return _collect(procs, results, timeout_s)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


def _collect(procs: list[Any], results: Any, timeout_s: float) -> DDPResult:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result: DDPResult = results.get(timeout=0.5)
            return result
        except queue.Empty:
            failed = [i for i, p in enumerate(procs) if p.exitcode not in (None, 0)]
            if failed:
                raise BackendError(f"DDP rank(s) {failed} failed (exit codes "
                                   f"{[procs[i].exitcode for i in failed]})") from None
            if all(p.exitcode == 0 for p in procs):
                raise BackendError("the DDP ranks exited without a result") from None
    raise BackendError(f"DDP training did not finish within {timeout_s:g} s")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m archdsl.backends.torch.ddp SPEC`` (spawns) or the same under ``torchrun``."""
    ap = argparse.ArgumentParser(prog="archdsl.backends.torch.ddp",
                                 description="Data-parallel training of a spec (gloo).")
    ap.add_argument("spec")
    ap.add_argument("--train", help="a YAML/JSON file with the train: settings")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--dtype", choices=("float32", "float64"), default=None)
    ap.add_argument("--world-size", type=int, default=2, help="ranks to spawn (no torchrun)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    raw: dict[str, Any] = {}
    if args.train:
        import yaml

        raw = yaml.safe_load(Path(args.train).read_text()) or {}
    if args.batch_size:
        raw["batch_size"] = args.batch_size
    if args.dtype:
        raw["dtype"] = args.dtype
    config = TrainConfig.model_validate(raw)
    result = train_ddp(args.spec, config, args.world_size, args.steps, device=args.device,
                       verbose=_under_torchrun())
    if not _under_torchrun():
        for i, loss in enumerate(result.losses):
            print(f"step {i} loss {loss:.10g}")
    return 0


__all__ = ["DDPResult", "free_port", "main", "run_rank", "shard", "synthetic_batches",
           "train_ddp"]


if __name__ == "__main__":
    sys.exit(main())
