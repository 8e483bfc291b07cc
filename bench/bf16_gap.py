"""How far apart mixed precision puts PyTorch and Keras: ``precision: bf16`` against float32.

Both frameworks train the same spec in lock-step (identical batches, dropout masks and initial
weights, matched conventions), once with float32 compute and once with bfloat16 compute
(PyTorch ``torch.autocast``, Keras ``mixed_bfloat16``; float32 weights in both). The script
prints the relative per-step loss difference between the frameworks at a few steps, the
largest over the run, the parameter drift, and each framework's eval accuracy on held-out
images, as a Markdown table (docs/benchmarks.md, section "bf16").

Run (digits: about 2 minutes on 2 CPU cores; CIFAR-10 subset: about 15 minutes)::

    python bench/bf16_gap.py --steps 100
    python bench/bf16_gap.py --spec specs/cifar10_cnn.yaml --data-dir ../shared/datasets \\
        --subset 5000 --steps 100
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archdsl.training.threads import configure_threads  # noqa: E402

configure_threads()

MARKS = (1, 5, 10, 20, 50, 100, 200, 500)


def measure(spec: str, steps: int, data_dir: str | None, subset: int | None,
            precision: str) -> dict[str, object]:
    """One lock-step run; the numbers of one table row."""
    import archdsl
    from archdsl.trainconfig import TrainConfig
    from archdsl.training import load_framework, lockstep_run, prepare_data

    graph = archdsl.load(spec)
    base = graph.spec.train.model_dump() if graph.spec.train is not None else {}
    changes = {"precision": precision, "dtype": "float32"}
    if subset:
        changes["train_subset"] = subset
    cfg = TrainConfig.model_validate({**base, **changes})
    data = prepare_data(graph, cfg, data_dir)
    t0 = time.perf_counter()
    run = lockstep_run(graph, cfg, data, [load_framework("torch"), load_framework("keras")],
                       steps, eval_samples=1000)
    a, b = run.losses["torch"], run.losses["keras"]
    rel = [abs(x - y) / abs(x) for x, y in zip(a, b)]
    return {
        "precision": precision, "dataset": data.dataset.name, "rel": rel,
        "max_rel": max(rel), "drift": max(run.param_rel_diff.values()),
        "logits": run.eval_logit_max_abs_diff, "acc": run.eval_acc,
        "loss": (a[-1], b[-1]), "seconds": time.perf_counter() - t0,
    }


def table(rows: list[dict[str, object]], steps: int) -> str:
    marks = [m for m in MARKS if m <= steps]
    head = ("| compute | " + " | ".join(f"step {m}" for m in marks)
            + " | max over the run | parameter drift | eval logits max abs diff "
              "| eval acc torch / keras | final loss torch / keras |")
    lines = [head, "|---|" + "---:|" * (len(marks) + 5)]
    for r in rows:
        rel = r["rel"]
        acc, loss = r["acc"], r["loss"]
        assert isinstance(rel, list) and isinstance(acc, dict) and isinstance(loss, tuple)
        lines.append(
            f"| {'bfloat16 (mixed)' if r['precision'] == 'bf16' else 'float32'} | "
            + " | ".join(f"{rel[m - 1]:.1e}" for m in marks)
            + f" | {r['max_rel']:.1e} | {r['drift']:.1e} | {r['logits']:.2e} "
            f"| {100 * acc['torch']:.1f}% / {100 * acc['keras']:.1f}% "
            f"| {loss[0]:.4f} / {loss[1]:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=str(ROOT / "specs" / "digits_cnn.yaml"))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--subset", type=int, default=None, help="train on the first N images")
    ns = ap.parse_args(argv)
    rows = []
    for precision in ("full", "bf16"):
        row = measure(ns.spec, ns.steps, ns.data_dir, ns.subset, precision)
        print(f"{precision}: max relative loss difference {row['max_rel']:.2e} "
              f"({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
        rows.append(row)
    print(f"{Path(ns.spec).stem} on {rows[0]['dataset']}, {ns.steps} lock-step steps, "
          "relative loss difference torch vs keras:\n")
    print(table(rows, ns.steps))
    ratio = float(rows[1]["max_rel"]) / max(float(rows[0]["max_rel"]), 1e-300)  # type: ignore[arg-type]
    print(f"\nbf16 / float32 gap ratio: {ratio:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
