"""Peak memory of an epoch over a large cached dataset: it streams, it is not loaded.

Generates ``--gb`` GiB of random 3×64×64 uint8 images with labels as an ``.npz`` (written in
chunks), then, each in a fresh process, measures the peak resident memory (``ru_maxrss``) of:

1. decoding the ``.npz`` into the decoded-data cache (streamed member by member);
2. one epoch of the shared batch pipeline over the cached dataset (normalization statistics
   streamed, then shuffled batches of 256 with flips and crops, normalized to float32): what
   every framework's trainer consumes;
3. with ``--train``: one epoch of ``archdsl train`` of a tiny CNN on that data
   (``--backend torch``, the framework's own memory included).

Target: the pipeline epoch stays under 1 GB with a 2 GB dataset.

Run (about 5 minutes on 2 CPU cores, 4 GB of free disk)::

    python bench/data_stream.py --gb 2 --train
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archdsl.training.threads import configure_threads  # noqa: E402

configure_threads()
SHAPE = (64, 64, 3)

CACHE_IT = """
import resource, sys
from archdsl.data.images import ImageOptions
from archdsl.data.user import load_user_dataset
ds = load_user_dataset(sys.argv[1], ImageOptions((64, 64), 3))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, len(ds.y_train))
"""

EPOCH = """
import resource, sys, time
import numpy as np
from archdsl.data import Normalization
from archdsl.data.crops import streamed_stats
from archdsl.data.images import ImageOptions
from archdsl.data.pipeline import Batches
from archdsl.data.user import load_user_dataset
ds = load_user_dataset(sys.argv[1], ImageOptions((64, 64), 3))
t0 = time.perf_counter()
norm = Normalization(*streamed_stats(ds.x_train))
n = 0
for xb, yb in Batches(ds.x_train, ds.y_train, 256, seed=0, flip=True, crop_padding=4,
                      normalization=norm).epoch(0):
    n += len(yb)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, n, time.perf_counter() - t0)
"""

SPEC = """archdsl: 1
name: stream-cnn
input: [3, 64, 64]
body:
  - conv2d: {filters: 8, kernel: 4, stride: 4}
  - relu: {}
  - global_avg_pool: {}
  - dense: {units: 10}
train: {batch_size: 256, epochs: 1, optimizer: {name: adam, lr: 0.001}}
"""


def write_npz(path: Path, gib: float, chunk: int = 2048) -> int:
    """Random images and labels as an uncompressed .npz, written chunk by chunk."""
    n = int(gib * 2**30 // np.prod(SHAPE))
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as fh:
            header = {"descr": "|u1", "fortran_order": False, "shape": (n, *SHAPE)}
            np.lib.format.write_array_header_2_0(fh, header)
            for start in range(0, n, chunk):
                count = min(chunk, n - start)
                fh.write(rng.integers(0, 256, size=(count, *SHAPE), dtype=np.uint8).tobytes())
        with zf.open("y.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, rng.integers(0, 10, size=n))
    return n


def run(code: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run(code, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout.split()


def train_rss(npz: Path, tmp: Path, env: dict[str, str]) -> tuple[float, float]:
    spec = tmp / "stream.yaml"
    spec.write_text(SPEC)
    t0 = time.perf_counter()
    log = tmp / "train.err"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "archdsl", "train", str(spec), "--data",
                                 str(npz), "--backend", "torch", "--val-limit", "1000",
                                 "--out", str(tmp / "out"), "--quiet", "--json"],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"train failed: {log.read_text()[-3000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--train", action="store_true", help="also one torch training epoch")
    ap.add_argument("--tmp", default=None, help="folder for the data and cache (4 GB free)")
    ns = ap.parse_args(argv)
    gib = 2**30
    with tempfile.TemporaryDirectory(dir=ns.tmp) as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "ARCHDSL_CACHE": str(tmp / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
        npz = tmp / "images.npz"
        n = write_npz(npz, ns.gb)
        size = npz.stat().st_size
        print(f"dataset: {n:,} images of 3x64x64, {size / gib:.2f} GiB (.npz)")
        rss, _ = run([sys.executable, "-c", CACHE_IT, str(npz)], env)
        print(f"decode into the cache: peak RSS {int(rss) / gib:.2f} GiB")
        rss, count, seconds = run([sys.executable, "-c", EPOCH, str(npz)], env)
        print(f"pipeline epoch ({int(count):,} images, {float(seconds):.0f} s): peak RSS "
              f"{int(rss) / gib:.2f} GiB (target < 0.93 GiB = 1 GB)")
        ok = int(rss) < 1e9
        if ns.train:
            rss_t, seconds_t = train_rss(npz, tmp, env)
            print(f"archdsl train --backend torch, 1 epoch ({seconds_t:.0f} s): peak RSS "
                  f"{rss_t / gib:.2f} GiB")
        print(f"own process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
