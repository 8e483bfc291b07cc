"""A second ``archdsl train`` run on CIFAR-10 costs little more than importing the frameworks.

Measures, each in a fresh process:

1. importing ``torch``, ``tensorflow`` and ``keras`` (median of ``--repeat`` runs): the floor
   of any command that trains in both frameworks;
2. ``archdsl train specs/cifar10_cnn.yaml --max-steps 20`` with an empty decoded-data cache
   (it decodes CIFAR-10 from its archive and fills the cache);
3. the same command again (the dataset streams from the cache; validation on the default
   500 images of a ``--max-steps`` run).

It prints the three wall times and the ratio *second run / imports* (target: at most 3).

Run (about 3 minutes on 2 CPU cores)::

    python bench/data_cache.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archdsl.training.threads import configure_threads  # noqa: E402

configure_threads()  # the same thread settings for every measured process
PYTHON = sys.executable
IMPORTS = "import torch, tensorflow, keras"


def timed(cmd: list[str], env: dict[str, str], show: bool = False) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    if show:  # the run's own phase lines (loading, building, per-epoch seconds)
        for line in done.stderr.splitlines():
            if line.startswith(("loading", "building", "  done", "epoch", "validating")):
                print(f"    {line}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("ARCHDSL_DATA", "../shared/datasets"))
    ap.add_argument("--repeat", type=int, default=3, help="import timings (median)")
    ap.add_argument("--steps", type=int, default=20)
    ns = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ARCHDSL_CACHE": str(Path(tmp) / "cache"),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        imports = statistics.median(timed([PYTHON, "-c", IMPORTS], env)
                                    for _ in range(ns.repeat))
        train = [PYTHON, "-m", "archdsl", "train", "specs/cifar10_cnn.yaml", "--max-steps",
                 str(ns.steps), "--data-dir", ns.data_dir, "--json"]
        print("first run (empty cache):")
        first = timed([*train, "--out", str(Path(tmp) / "first")], env, show=True)
        print("second run:")
        second = timed([*train, "--out", str(Path(tmp) / "second")], env, show=True)
    print(f"import torch, tensorflow, keras:      {imports:6.1f} s (median of {ns.repeat})")
    print(f"train --max-steps {ns.steps}, empty cache:   {first:6.1f} s")
    print(f"train --max-steps {ns.steps}, second run:    {second:6.1f} s")
    print(f"second run / imports: {second / imports:.2f} (target <= 3)")
    return 0 if second <= 3 * imports else 1


if __name__ == "__main__":
    sys.exit(main())
