"""The long fuzzing run (not in CI): random valid specs and random mutations of them.

Run: .venv/bin/python bench/fuzz.py --count 20000 [--seed 0] [--backends]
Prints how many specs it tried, how each ended (compiled, which archdsl error kind), and every
crash (any exception that is not archdsl's own) with the seed to reproduce it. With
--backends it also crosschecks a sample of the valid specs in PyTorch and Keras.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback

import archdsl
from archdsl.errors import ArchdslError
from archdsl.fuzz import mutate, random_spec


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--backends",
        type=int,
        default=0,
        metavar="N",
        help="crosscheck N valid specs in both frameworks",
    )
    ns = ap.parse_args()
    outcomes: collections.Counter[str] = collections.Counter()
    crashes = []
    start = time.perf_counter()
    for i in range(ns.count):
        seed = ns.seed + i
        text = random_spec(seed, 1 + seed % 14)
        if i % 2:
            text = mutate(text, seed * 7919)
        try:
            archdsl.loads(text, "fuzz.yaml")
            outcomes["compiled"] += 1
        except ArchdslError as exc:
            outcomes[type(exc).__name__] += 1
        except Exception:  # a crash: archdsl must never raise anything else
            crashes.append((seed, i % 2 == 1, traceback.format_exc(limit=3)))
    elapsed = time.perf_counter() - start
    print(f"tried {ns.count} specs ({ns.count // 2} mutated) in {elapsed:.1f} s")
    for k, v in outcomes.most_common():
        print(f"  {k:>14}: {v}")
    print(f"  crashes: {len(crashes)}")
    for seed, mutated, tb in crashes[:10]:
        print(f"--- seed {seed} (mutated={mutated})\n{tb}")
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
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
