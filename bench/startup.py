"""Start-up time of ``archdsl check`` as a fresh process, against its unavoidable imports.

Run: .venv/bin/python bench/startup.py [--spec specs/resnet101.yaml] [--repeats 15]

Measures, alternating the two so that machine load hits both alike, the wall time of

* the baseline: a fresh interpreter importing pydantic, networkx, PyYAML and numpy (what
  the core needs and cannot avoid), and
* ``python -m archdsl check SPEC --json`` as a fresh process (import, compile, print),

and prints both medians and their ratio (the goal: at most 1.3), in wall time and in CPU time
(user + system, which other jobs on a busy machine disturb less). It also times ``archdsl
check`` of a 20,000-node spec in process, and the summary table's share of it (the goal:
under 2 s).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import pydantic, networkx, yaml, numpy"
#: A chain of 19,999 layers plus the input: 20,000 nodes, the default ``--max-nodes``.
BIG_SPEC = """archdsl: 1
name: big-chain
input: [4, 8, 8]
blocks:
  pair:
    body:
      - conv2d: {filters: 4, kernel: 1}
      - relu: {}
  stage:
    body:
      - pair: {repeat: 1000}
body:
  - stage: {repeat: 9}
  - pair: {repeat: 999}
  - relu: {}
"""


#: The children's environment: bytecode written and read as usual, so that archdsl's modules
#: load compiled, as pip leaves an installed wheel (with PYTHONDONTWRITEBYTECODE set, as on this
#: project's machines, a source checkout would recompile all of them at every start, about
#: 100 ms, while the baseline's packages come precompiled from their wheels).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of running ``cmd``."""
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)


def startup(spec: str, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of the baseline imports and of ``archdsl check SPEC --json``."""
    cmds = {"baseline": [sys.executable, "-c", BASELINE],
            "check": [sys.executable, "-m", "archdsl", "check", spec, "--json"]}
    for cmd in cmds.values():
        _run(cmd)  # warm the file cache and the bytecode
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(repeats):
        for name, cmd in cmds.items():
            runs[name].append(_run(cmd))
    return {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
            for name, r in runs.items()}


def big_table() -> tuple[int, float, float]:
    """(nodes, seconds of ``archdsl check`` in process, seconds of its table alone: the best
    of three)."""
    import archdsl
    from archdsl.cli import main
    from archdsl.report import summary_text

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(BIG_SPEC, encoding="utf-8")
        t0 = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            main(["check", str(path)])
        total = time.perf_counter() - t0
        graph = archdsl.load(path)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            summary_text(graph)
            times.append(time.perf_counter() - t0)
        return len(graph), total, min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="specs/resnet101.yaml")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-table", action="store_true", help="skip the 20,000-node table")
    ns = ap.parse_args(argv)
    t = startup(ns.spec, ns.repeats)
    (base_wall, base_cpu), (check_wall, check_cpu) = t["baseline"], t["check"]
    print(f"baseline ({BASELINE}): {base_wall * 1000:.0f} ms wall, {base_cpu * 1000:.0f} ms CPU "
          f"(medians of {ns.repeats})")
    print(f"archdsl check {ns.spec} --json: {check_wall * 1000:.0f} ms wall, "
          f"{check_cpu * 1000:.0f} ms CPU")
    print(f"ratio: {check_wall / base_wall:.2f} (wall), {check_cpu / base_cpu:.2f} (CPU)")
    if not ns.no_table:
        nodes, total, table = big_table()
        print(f"archdsl check of {nodes:,} nodes, in process: {total:.2f} s; its table alone: "
              f"{table:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
