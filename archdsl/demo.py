"""``make demo``: the main job end to end on offline data, in about a minute on 2 CPU cores
(1–2 minutes measured on the busy 2-core development machine, most of it importing the two
frameworks).

1. check and draw the chapter's CIFAR-10 CNN (shapes, params, MACs, receptive fields),
2. crosscheck it: PyTorch vs Keras, node by node, identical weights,
3. train a small digits CNN in both frameworks on identical batches and compare the runs,
4. print the verdict and where the diagram, curves and report were written.

Run: ``python -m archdsl.demo [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.rule import Rule

from archdsl.errors import ArchdslError
from archdsl.verdict import verdict, verdict_line

if TYPE_CHECKING:
    from archdsl.graph import Graph


def _specs_dir() -> Path:
    from archdsl.spec import builtin_specs_dir

    return builtin_specs_dir()


def run(out: Path, console: Console) -> int:
    """Run the demo; returns the exit code."""
    import archdsl

    specs = _specs_dir()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cifar = archdsl.load(specs / "cifar10_cnn.yaml")
    diagram = check_and_render(cifar, out, console)
    forward_ok = crosscheck(cifar, console)
    train_ok = train(archdsl.load(specs / "digits_cnn.yaml"), out, console)

    console.print(Rule("verdict"))
    ok = forward_ok and train_ok
    console.print(
        verdict_line(ok, "PyTorch and Keras: forward and training" if ok else "see the report")
    )
    console.print(
        f"diagram: {diagram}\ncurves:  {out / 'digits' / 'curves.png'}\n"
        f"report:  {out / 'crosscheck' / 'report.md'}"
    )
    console.print(f"({time.perf_counter() - t0:.0f} s)")
    return 0 if ok else 1


def check_and_render(cifar: Graph, out: Path, console: Console) -> Path:
    """Steps 1 and 2: the summary table of the chapter's CNN, and its diagram (the path)."""
    from archdsl.render import GraphvizMissing, render
    from archdsl.report import summary_table, totals_text

    console.print(Rule("1. check: the chapter's CIFAR-10 CNN, without any framework"))
    console.print(summary_table(cifar))
    console.print(totals_text(cifar))
    cifar.check_expectations()

    console.print(Rule("2. render"))
    try:
        diagram = render(cifar, out / "cifar10_cnn.svg")
    except GraphvizMissing as exc:
        console.print(exc.message)
        diagram = exc.dot_path
    console.print(f"diagram: {diagram}")
    return diagram


def crosscheck(cifar: Graph, console: Console) -> bool:
    """Step 3: PyTorch vs Keras forward, node by node; whether they agree."""
    from archdsl.crosscheck import forward_check

    console.print(Rule("3. crosscheck: PyTorch vs Keras, same weights, every node compared"))
    fwd = forward_check(cifar)
    for name, p in fwd.params.items():
        console.print(
            f"params {name:>8}: {p['trainable']:,} trainable + {p['non_trainable']:,} non-trainable"
        )
    console.print(
        f"forward max abs diff {fwd.max_abs_diff:.2e} over {len(fwd.per_node)} nodes "
        f"(tolerance {fwd.tolerance:.0e}): {verdict(bool(fwd.ok))}"
    )
    return bool(fwd.ok)


def train(digits: Graph, out: Path, console: Console) -> bool:
    """Step 4: train the digits CNN in both frameworks, then 50 matched steps compared;
    whether the training cross-check agrees."""
    from archdsl.training import run_training, train_crosscheck

    console.print(Rule("4. train: a digits CNN in both frameworks on identical batches"))
    config = digits.spec.train
    # the demo owns out/demo/digits: a second `make demo` replaces its results
    result = run_training(digits, config, out_dir=out / "digits", progress=console.is_terminal,
                          overwrite=True)
    for line in result.summary_lines():
        console.print(line)
    check = train_crosscheck(digits, 50, out_dir=out / "crosscheck")
    t = check.as_json()
    console.print(
        f"50 matched steps: max relative loss difference {t['max_rel_loss_diff']:.1e}, "
        f"max parameter drift {t['max_param_rel_diff']:.1e}"
    )
    return check.ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m archdsl.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", default="out/demo", help="folder for the diagram, curves and report")
    ns = ap.parse_args(argv)
    from archdsl.training.threads import configure_threads

    configure_threads()  # before the first framework import
    console = Console(highlight=False)
    try:
        return run(Path(ns.out), console)
    except ArchdslError as exc:
        console.print(exc.render())
        return 2


if __name__ == "__main__":
    sys.exit(main())
