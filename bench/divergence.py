"""Why two matched float32 runs of the chapter's CNN part ways: max pooling's winner flips.

PyTorch and Keras start from one init and see the same batches, masks and optimizer arithmetic,
yet in float32 their losses differ by 1e-2 within 40 steps, while in float64 they agree to
1e-13 for hundreds of steps. A smooth chaotic system would amplify both round-offs alike; this
does not, so the amplifier is discrete: a 2×2 max pool sends each window's gradient to one
element, and when two candidates differ by less than the frameworks' round-off, each may pick a
different winner. This script trains variants of the chapter's CNN side by side for a few steps
and prints the relative loss difference per step, so the mechanism can be seen by switching it off:

* ``chapter``: the spec as the book writes it (max pooling, conv bias before BatchNorm),
* ``no-conv-bias``: ``bias: false`` on every conv (the bias's true gradient is zero under BN),
* ``avg-pool``: average pooling instead of max pooling (no discrete choice left).

Usage::

    python bench/divergence.py [--steps 40] [--dtype float32] [--data-dir ../shared/datasets]
                               [--variants chapter,no-conv-bias,avg-pool]

Prints a markdown table (rows: steps; columns: variants; cells: the largest relative loss
difference up to that step) and writes it to ``OUT/divergence.md``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
# before torch loads: passive OpenMP waits and one thread count for both frameworks
from archdsl.training.threads import configure_threads  # noqa: E402

configure_threads()

from cifar10_book import SPEC, book_config, versions  # noqa: E402

import archdsl  # noqa: E402
from archdsl.fsutil import atomic_write_text  # noqa: E402
from archdsl.training import run_training  # noqa: E402

#: variant name → (what it changes, text substitutions applied to the chapter's spec)
VARIANTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "chapter": ("the book's CNN", ()),
    "no-conv-bias": (
        "convs without bias",
        (("padding: $padding, id: conv", "padding: $padding, bias: false, id: conv"),),
    ),
    "avg-pool": ("average instead of max pooling", (("max_pool2d:", "avg_pool2d:"),)),
}
REPORT_STEPS = (1, 2, 5, 10, 20, 40, 80, 160, 320, 640)


def variant_graph(name: str) -> archdsl.Graph:
    """The chapter's spec with the variant's substitutions (its ``expect:`` block dropped)."""
    text = SPEC.read_text(encoding="utf-8")
    for old, new in VARIANTS[name][1]:
        if old not in text:
            raise SystemExit(f"variant {name}: '{old}' no longer occurs in {SPEC}")
        text = text.replace(old, new)
    if name != "chapter":
        text = text[: text.index("\nexpect:")] + "\n"
    return archdsl.loads(text, f"{SPEC.name} [{name}]")


def loss_gaps(metrics_csv: Path) -> dict[int, float]:
    """step → the largest |loss_torch − loss_keras| / |loss_torch| up to that step.

    One batch's loss gap jumps up and down once the runs have parted; the running maximum
    says when they parted and by how much.
    """
    losses: dict[int, dict[str, float]] = {}
    with open(metrics_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            losses.setdefault(int(row["step"]), {})[row["framework"]] = float(row["loss"])
    gaps, worst = {}, 0.0
    for step, v in sorted(losses.items()):
        worst = max(worst, abs(v["torch"] - v["keras"]) / abs(v["torch"]))
        gaps[step] = worst
    return gaps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--out", default="out/bench/divergence")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    ns = ap.parse_args(argv)
    names = [v for v in ns.variants.split(",") if v]
    for v in names:
        if v not in VARIANTS:
            ap.error(f"--variants: unknown '{v}'; valid: {', '.join(VARIANTS)}")

    command = " ".join(["python", "bench/divergence.py", *(argv or sys.argv[1:])])
    print(f"$ {command}\n{versions()}", flush=True)
    config = book_config(variant_graph("chapter"), epochs=1, max_steps=ns.steps, dtype=ns.dtype)
    gaps: dict[str, dict[int, float]] = {}
    for v in names:
        out = Path(ns.out) / v
        run_training(
            variant_graph(v), config, data_dir=ns.data_dir, out_dir=out, progress=False
        )
        gaps[v] = loss_gaps(out / "metrics.csv")
        worst = gaps[v][ns.steps]
        print(f"{v}: largest relative loss gap in {ns.steps} steps: {worst:.1e}", flush=True)

    steps = [s for s in REPORT_STEPS if s <= ns.steps]
    header = "| step | " + " | ".join(f"{v} ({VARIANTS[v][0]})" for v in names) + " |"
    lines = [header, "|---:|" + "---:|" * len(names)]
    lines += [f"| {s} | " + " | ".join(f"{gaps[v][s]:.1e}" for v in names) + " |" for s in steps]
    text = "\n".join(lines) + "\n"
    atomic_write_text(
        Path(ns.out) / "divergence.md",
        f"`{command}` ({versions()}; {ns.dtype}; cells: the largest relative loss "
        f"difference up to each step)\n\n{text}",
    )
    print("\n" + text + f"wrote {ns.out}/divergence.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
