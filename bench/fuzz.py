"""The long fuzzing run: random valid specs and random (partly hostile) mutations of them.

Run: .venv/bin/python bench/fuzz.py --count 50000 [--seed 0] [--workers 2] [--backends N]

Prints how many specs it tried, how each ended (compiled, which archdsl error kind), the slowest
spec and the longest message, and every broken invariant (an exception that is not archdsl's own,
a hang, an over-long or unescaped message) with the seed to reproduce it:
``archdsl.fuzz.fuzz_one(SEED)``. ``make test-slow`` runs the same campaign on 50,000 specs
(tests/test_fuzz.py). With --backends it also crosschecks N valid specs in PyTorch and Keras.
"""

from __future__ import annotations

import argparse
import os
import sys

import archdsl
from archdsl.fuzz import random_spec, run_fuzz


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                    help="processes (default: 2, or 1 on a single core)")
    ap.add_argument(
        "--backends",
        type=int,
        default=0,
        metavar="N",
        help="crosscheck N valid specs in both frameworks",
    )
    ns = ap.parse_args()
    report = run_fuzz(ns.count, ns.seed, ns.workers)
    print(report.summary())
    if ns.backends:
        from archdsl.crosscheck import forward_check

        worst = 0.0
        bad = 0
        for j in range(ns.backends):
            g = archdsl.loads(random_spec(ns.seed + 10**6 + j, 6))
            r = forward_check(g)
            worst = max(worst, r.max_abs_diff)
            bad += not r.ok
        print(
            f"crosschecked {ns.backends} valid specs: {bad} failed, worst max abs diff {worst:.2e}"
        )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
