"""DDP on CPU (gloo, 2 processes): averaged gradients over 2×(B/2) equal one full-batch step.

The reference is the single-process torch trainer on the full batches; DDP's gradient average
only changes the summation order, so float32 losses and weights agree to ~1e-7 (float64: ~3e-16,
checked by hand). A larger learning rate (0.05) on these random labels amplifies the same
round-off to ~1e-3 in a few weights near ReLU kinks, so the test keeps lr at 2⁻⁷.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import archdsl  # noqa: E402
from archdsl.backends import torch as tb  # noqa: E402
from archdsl.backends.torch import ddp  # noqa: E402
from archdsl.backends.torch import train as tt  # noqa: E402
from archdsl.errors import BackendError  # noqa: E402
from archdsl.init import init_weights  # noqa: E402
from archdsl.trainconfig import TrainConfig  # noqa: E402
from archdsl.training import dropout_masks, dropout_nodes  # noqa: E402

SPEC = """archdsl: 1
name: small
input: [3, 16, 16]
body:
  - conv2d: {filters: 16, kernel: 3, padding: same, id: conv1}
  - relu: {}
  - conv2d: {filters: 32, kernel: 3, stride: 2, padding: same, id: conv2}
  - relu: {}
  - max_pool2d: {pool: 2}
  - flatten: {}
  - dropout: {rate: 0.25, id: drop}
  - dense: {units: 10, id: logits}
"""
STEPS = 12
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "small.yaml"
    path.write_text(SPEC)
    return path


def single_process(spec_path: Path, config: TrainConfig, batches: list[tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """The same run in this process on full batches (masks drawn as run_rank draws them)."""
    g = archdsl.load(spec_path)
    model = tb.build(g, weights=init_weights(g, None, config.seed), dtype=config.dtype)
    trainer = tt.make_trainer(model, g, config)
    losses = []
    for i, (x, y) in enumerate(batches):
        masks = None
        if config.dropout == "matched":
            masks = dropout_masks(dropout_nodes(g), len(x), seed=config.seed, epoch=0, index=i, dtype=config.dtype)
        losses.append(trainer.step(x, y, masks).loss)
    return np.array(losses), tb.get_weights(model, g)


def test_ddp_equals_full_batch(spec_path: Path) -> None:
    config = TrainConfig.model_validate(
        {"optimizer": {"name": "sgd", "lr": 2**-7, "momentum": 0.875, "weight_decay": 2**-10},
         "batch_size": 32, "dropout": "matched", "dtype": "float32"})
    g = archdsl.load(spec_path)
    batches = ddp.synthetic_batches(g, 32, STEPS, seed=3)
    result = ddp.train_ddp(spec_path, config, world_size=2, steps=STEPS, batches=batches,
                           return_weights=True, timeout_s=120)
    ref_losses, ref_weights = single_process(spec_path, config, batches)
    losses = np.array(result.losses)
    assert losses.shape == (STEPS,)
    assert np.max(np.abs(losses - ref_losses) / ref_losses) < 2e-6
    assert result.weights is not None
    for node, arrays in ref_weights.items():
        for name, ref in arrays.items():
            diff = np.max(np.abs(result.weights[node][name] - ref)) / np.max(np.abs(ref))
            assert diff < 1e-5, (node, name, diff)
    assert losses[-1] < losses[0]


def test_shards_must_be_equal() -> None:
    assert ddp.shard(32, 0, 2) == slice(0, 16)
    with pytest.raises(BackendError, match="split evenly"):
        ddp.shard(33, 1, 2)


@pytest.mark.slow  # three more interpreters importing torch: ~20 s on 2 busy cores
def test_torchrun_entry_point(spec_path: Path) -> None:
    """``torchrun --nproc_per_node=2 -m archdsl.backends.torch.ddp`` prints rank 0's losses."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={ddp.free_port()}",
           "-m", "archdsl.backends.torch.ddp", str(spec_path), "--steps", "3",
           "--batch-size", "8"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["0", "1", "2"]
