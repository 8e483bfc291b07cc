"""How long exporting ResNet-50 takes, per format (the goal for ONNX: under 30 s).

Run: .venv/bin/python bench/export_time.py [--spec resnet50] [--formats onnx torch-src ...]
     [--no-verify] [--input-shape 3,224,224]

For each format, one ``archdsl.export.export`` call (the spec's seeded init weights, 224×224):
the time of writing the file and, unless ``--no-verify``, of checking it against the lowering
on a random batch of 2 (onnxruntime for ONNX), as ``archdsl export`` reports it in
``seconds``. Framework imports are done before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = {"onnx": 30.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default="resnet50")
    p.add_argument("--formats", nargs="+", default=["onnx"])
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--input-shape", default=None, help="C,H,W (default: the spec's)")
    ns = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import archdsl
    from archdsl.backends import load_backend
    from archdsl.export import FRAMEWORK, export
    from archdsl.init import init_weights
    from archdsl.zoo import resolve

    shape = [[int(v) for v in ns.input_shape.split(",")]] if ns.input_shape else None
    g = archdsl.load(resolve(ns.spec), input_shapes=shape)
    weights = init_weights(g, None, 0)
    for fmt in ns.formats:  # import the frameworks and the exporters before timing
        load_backend(FRAMEWORK[fmt])
        __import__(f"archdsl.backends.{FRAMEWORK[fmt]}.export")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ns.formats:
            start = time.perf_counter()
            r = export(g, fmt, Path(tmp) / f"model{_suffix(fmt)}", weights=weights,
                       verify=not ns.no_verify)
            wall = time.perf_counter() - start
            size = Path(r.path).stat().st_size / 1e6
            goal = GOAL_S.get(fmt)
            ok = goal is None or wall < goal
            failed |= not ok or r.verified is False
            diff = ("not verified" if r.max_abs_diff is None
                    else f"max abs diff {r.max_abs_diff:.1e}")
            print(f"{g.name} {fmt}: {wall:.1f} s ({size:.1f} MB, {diff})"
                  + (f" goal < {goal:.0f} s: {'ok' if ok else 'MISSED'}" if goal else ""))
    return 1 if failed else 0


def _suffix(fmt: str) -> str:
    from archdsl.export import SUFFIX

    return SUFFIX[fmt]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
