"""How long `archdsl check` takes on a large spec (issue: well under a second for 300 nodes).

Run: .venv/bin/python bench/check_speed.py [--blocks N]
Prints the node count and the median wall time of load + expand + all passes (in process),
and of the whole CLI (`archdsl check --json`, a fresh interpreter).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archdsl

SPEC = """archdsl: 1
name: deep-resnet
input: [3, 64, 64]
blocks:
  basic:
    args: {{filters: int}}
    body:
      - conv2d: {{filters: $filters, kernel: 3, padding: same, bias: false}}
      - batchnorm: {{}}
      - relu: {{}}
      - conv2d: {{filters: $filters, kernel: 3, padding: same, bias: false}}
      - batchnorm: {{id: main}}
      - add: {{from: [$in, main]}}
      - relu: {{}}
body:
  - conv2d: {{filters: 32, kernel: 3, padding: same}}
  - basic: {{filters: 32, repeat: {blocks}, id: stage}}
  - global_avg_pool: {{}}
  - dense: {{units: 10}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--blocks", type=int, default=43, help="residual blocks (7 nodes each)")
    ap.add_argument("--repeats", type=int, default=7)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deep.yaml"
        path.write_text(SPEC.format(blocks=ns.blocks))
        times = []
        for _ in range(ns.repeats):
            t0 = time.perf_counter()
            g = archdsl.load(path)
            times.append(time.perf_counter() - t0)
        cli = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "archdsl", "check", str(path), "--json"],
                check=True,
                capture_output=True,
            )
            cli.append(time.perf_counter() - t0)
    print(f"nodes: {len(g)}  params: {g.params['total']:,}")
    print(
        f"in-process load+compile: median {statistics.median(times) * 1000:.1f} ms "
        f"(min {min(times) * 1000:.1f} ms, {ns.repeats} runs)"
    )
    cli_ms = statistics.median(cli) * 1000
    print(f"CLI `archdsl check --json` (new interpreter): median {cli_ms:.0f} ms")


if __name__ == "__main__":
    main()
