"""Backend commands: ``build`` (lower to one framework) and ``crosscheck`` (both, compared)."""

from __future__ import annotations

import argparse
import json

from archdsl.cli import add_data_args, add_spec_args, command, data_changes, load_graph
from archdsl.verdict import verdict, verdict_line


def _build_configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--backend", choices=("torch", "keras"), required=True, help="framework")
    p.add_argument("--summary", action="store_true", help="print the framework's own summary")
    p.add_argument("--init", default=None, help="init scheme (default: the spec's `init`)")
    p.add_argument("--seed", type=int, default=0, help="init seed")
    p.add_argument(
        "--weights",
        metavar="FILE.npz",
        default=None,
        help="weights instead of --init: a run's weights.npz or checkpoint.npz, or an .npz "
        "from archdsl import-weights",
    )


@command(
    "build",
    "lower a spec to a native PyTorch or Keras model and count its parameters",
    _build_configure,
)
def cmd_build(ns: argparse.Namespace) -> int:
    from archdsl.backends import load_backend

    g = load_graph(ns)
    backend = load_backend(ns.backend)
    weights = _weights(g, ns.weights)
    model = backend.build(g, weights=weights, init=ns.init, seed=ns.seed)
    counts = backend.count_params(model)
    if ns.summary:
        if ns.backend == "torch":
            print(model)
        else:
            model.summary(line_length=110)
    analytic = {k: g.params[k] for k in ("trainable", "non_trainable")}
    status = "matches" if counts == analytic else "DIFFERS FROM"
    print(
        f"{ns.backend}: {counts['trainable']:,} trainable + {counts['non_trainable']:,} "
        f"non-trainable parameters ({status} the analytic count)"
    )
    return 0 if counts == analytic else 1


def _crosscheck_configure(p: argparse.ArgumentParser) -> None:
    from archdsl.commands.train import settings_hint

    add_spec_args(p)
    p.set_defaults(settings_hint=settings_hint)  # --set train.KEY=VALUE with --train-steps
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="precision of the comparison (default float32; with --train-steps the spec's "
        "train.dtype)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="max abs diff allowed (default 1e-5 float32, 1e-12 float64)",
    )
    p.add_argument("--batch", type=int, default=2, help="random input batch size")
    p.add_argument("--seed", type=int, default=0, help="init and input seed")
    p.add_argument(
        "--calibrated",
        action="store_true",
        help="for deep networks: he_normal weights with BatchNorm statistics from a random "
        "batch, and a per-node tolerance measured from a one-ulp input perturbation",
    )
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the numpy reference, the third vote (for very large networks)",
    )
    p.add_argument(
        "--train-steps",
        type=int,
        default=0,
        metavar="N",
        help="also train both frameworks N steps on identical batches",
    )
    add_data_args(p, when="with --train-steps: ")
    p.add_argument(
        "--out", default="out/crosscheck", help="folder for report.md (with --train-steps)"
    )
    p.add_argument(
        "--weights",
        metavar="FILE.npz",
        default=None,
        help="weights instead of the spec's init: a run's weights.npz or checkpoint.npz, or "
        "an .npz from archdsl import-weights",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command(
    "crosscheck",
    "prove the PyTorch and Keras lowerings compute the same thing",
    _crosscheck_configure,
)
def cmd_crosscheck(ns: argparse.Namespace) -> int:
    from archdsl.commands.train import quiet_threads, split_overrides

    quiet_threads()  # both frameworks run in this process
    from archdsl.crosscheck import forward_check

    # training settings only where it trains; otherwise the spec refuses them, naming why
    spec_items, train_changes = split_overrides(ns.overrides) if ns.train_steps else (None, {})
    g = load_graph(ns, spec_items)
    report = forward_check(
        g,
        dtype=ns.dtype or "float32",
        tolerance=ns.tolerance,
        batch=ns.batch,
        seed=ns.seed,
        weights=_weights(g, ns.weights),
        calibrated=ns.calibrated,
        reference=not ns.no_reference,
    )
    result = report.as_json()
    ok = report.ok
    if ns.train_steps:
        from archdsl.training import override_config, resolve_config, train_crosscheck

        changes = {**train_changes, **({"dtype": ns.dtype} if ns.dtype else {}),
                   **data_changes(ns)}
        config = override_config(resolve_config(g), changes)
        train = train_crosscheck(g, ns.train_steps, config, data_dir=ns.data_dir, out_dir=ns.out)
        result["train"] = train.as_json()
        ok = ok and train.ok
    result["verdict"] = verdict(ok)
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        _print_forward(report)
        if "train" in result:
            t = result["train"]
            print(
                f"training {t['steps']} steps ({t['dtype']}): max rel loss diff "
                f"{t['max_rel_loss_diff']:.2e}, max param rel diff "
                f"{t['max_param_rel_diff']:.2e}; report: {ns.out}/report.md"
            )
            for note in t["notes"]:
                print(f"note: {note}")
        agree = "PyTorch and Keras" + (" and the reference" if report.reference else "")
        print(verdict_line(ok, agree if ok else "see the differences above"))
    return 0 if ok else 1


def _weights(graph: object, path: str | None) -> object:
    """Weights from a weights ``.npz`` or a training checkpoint (checked against the graph:
    an error names the node, the weight and both shapes), or None."""
    if path is None:
        return None
    from archdsl.weights import load_npz_for

    return load_npz_for(graph, path)  # type: ignore[arg-type]


def _print_forward(report: object) -> None:
    from archdsl.crosscheck import ForwardReport

    assert isinstance(report, ForwardReport)
    p = report.params
    for name in ("analytic", "torch", "keras", "reference"):
        if name in p:
            print(
                f"params {name:>8}: {p[name]['trainable']:,} trainable + "
                f"{p[name]['non_trainable']:,} non-trainable"
            )
    worst = sorted(report.per_node.items(), key=lambda kv: -kv[1])[:3]
    print(
        f"forward ({report.dtype}): max abs diff of outputs {report.max_abs_diff:.2e} "
        f"(tolerance {report.tolerance:.0e}"
        + (" · max(1, |x|) or the measured allowance" if report.calibrated else "")
        + "); largest per node: "
        + ", ".join(f"{k} {v:.1e}" for k, v in worst)
    )
    for line in _reference_lines(report):
        print(line)
    if report.worst:
        node, ratio = report.worst
        print(
            f"calibrated: tightest node {node}, difference {ratio:.2f} × its allowance "
            f"({report.allowed[node]:.1e})"
        )
    if report.mismatched_shapes:
        print(f"shape mismatches: {report.mismatched_shapes}")
    if report.first_divergent_node:
        print(f"first divergent node: {report.first_divergent_node}")


def _reference_lines(report: object) -> list[str]:
    """The third vote in words: how far each framework is from the numpy reference, and who
    departs from it first."""
    from archdsl.crosscheck import FRAMEWORK_NAMES, FRAMEWORKS, ForwardReport

    assert isinstance(report, ForwardReport)
    if not report.reference:
        return [f"reference (numpy): not run ({report.reference_skipped})"]
    far = report.reference_max_abs_diff
    lines = [
        "reference (numpy): max abs diff of outputs from the reference: "
        + ", ".join(f"{FRAMEWORK_NAMES[fw]} {far[fw]:.2e}" for fw in FRAMEWORKS)
    ]
    node = report.departs_at
    if report.departs is None or node is None:
        lines.append("reference (numpy): PyTorch, Keras and the reference agree at every node")
        return lines
    who = "Both frameworks depart" if report.departs == "both" else (
        f"{FRAMEWORK_NAMES[report.departs]} departs"
    )
    diffs = report.reference_per_node[node]
    lines.append(
        f"{who} from the reference at node '{node}' ("
        + ", ".join(f"{FRAMEWORK_NAMES[fw]} {diffs[fw]:.1e}" for fw in FRAMEWORKS)
        + f" from it; limit {report.limit(node):.{1 if report.calibrated else 0}e})"
    )
    return lines
