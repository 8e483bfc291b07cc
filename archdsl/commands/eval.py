"""``archdsl eval``: accuracy and loss of trained weights on a dataset's test split, in both
frameworks side by side.

The test images go through the training pipeline's normalization (the statistics stored in
the weights file, else those of the spec's ``train:`` section) and each framework's own
evaluation step, the one ``archdsl train`` validates with: the loss is the training loss in
eval mode (dropout off, BatchNorm on its running statistics).

Example (needs both frameworks)::

    >>> from archdsl.commands.eval import evaluate_split  # doctest: +SKIP
    >>> r = evaluate_split(graph, "out/digits/weights.npz", "digits")  # doctest: +SKIP
    >>> r["frameworks"]["torch"]["accuracy"], r["frameworks"]["keras"]["accuracy"]  # doctest: +SKIP
    (0.9415, 0.9415)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archdsl.cli import add_data_args, add_spec_args, command, load_graph, positive_int
from archdsl.verdict import verdict, verdict_line

if TYPE_CHECKING:
    from archdsl.graph import Graph

BACKENDS = {"torch": ("torch",), "keras": ("keras",), "both": ("torch", "keras")}


def evaluate_split(graph: Graph, weights_path: str, dataset: str | None = None,
                   backends: Sequence[str] = ("torch", "keras"), data_dir: str | None = None,
                   limit: int | None = None, *, verify: bool = True,
                   download: bool = False) -> dict[str, Any]:
    """Test-split accuracy and loss of ``weights_path`` per framework (the ``eval --json``
    object); ``dataset``: a built-in's name or the path of the user's data (default: the
    spec's ``train.dataset``); ``limit``: the first N test images only; ``verify`` and
    ``download`` as :func:`archdsl.data.load_dataset` takes them."""
    from archdsl.commands.predict import normalization_for
    from archdsl.data import Batches, load_dataset
    from archdsl.data.resolve import dataset_setting
    from archdsl.training import override_config, resolve_config
    from archdsl.training.data import EVAL_BATCH_SIZE, check_fits, normalization
    from archdsl.training.frameworks import load_frameworks, native_set
    from archdsl.training.loop import evaluate
    from archdsl.weights import load_npz_for, load_npz_meta

    weights = load_npz_for(graph, weights_path)
    meta = load_npz_meta(weights_path)
    config = resolve_config(graph)
    if dataset:
        config = override_config(config, {"dataset": dataset_setting(dataset)})
    ds = load_dataset(config.dataset, data_dir, verify=verify, download_missing=download)
    check_fits(graph, ds)
    if meta.get("dataset") not in (None, ds.name):
        meta = {k: v for k, v in meta.items() if k != "normalization"}
    norm = (normalization_for(graph, meta) if "normalization" in meta
            else normalization(config, ds.x_train))
    x, y = ds.x_test[:limit], ds.y_test[:limit]
    val = Batches(x, y, EVAL_BATCH_SIZE, seed=config.seed, shuffle=False, normalization=norm,
                  dtype=config.dtype)
    fws = load_frameworks(list(backends))
    native = frozenset(meta["native"]) if isinstance(meta.get("native"), list) else native_set(
        config, fws)
    trainers = {}
    for fw in fws:
        own = native & frozenset(fw.conventions)
        trainers[fw.name] = fw.trainer(fw.build(graph, weights, config, own), graph, config,
                                       own, "cpu")
    scores = evaluate(trainers, val)
    out: dict[str, Any] = {
        "spec": graph.name, "weights": str(weights_path), "dataset": ds.name, "split": "test",
        "images": len(y),
        "frameworks": {n: {"accuracy": s["val_acc"], "loss": s["val_loss"]}
                       for n, s in scores.items()},
    }
    if len(scores) == 2:
        first, second = scores.values()
        out.update(compare_scores(first, second, config.dtype))
    return out


def compare_scores(a: dict[str, float], b: dict[str, float], dtype: str) -> dict[str, Any]:
    """The side-by-side part of ``eval --json``: the two frameworks agree when they classify
    the same number of images correctly and their losses differ by no more than the training
    crosscheck's loss tolerance for ``dtype`` (relative).

    Example:
        >>> r = compare_scores({"val_acc": 0.9, "val_loss": 0.30000},
        ...                    {"val_acc": 0.9, "val_loss": 0.30001}, "float32")
        >>> r["verdict"], f"{r['loss_rel_diff']:.1e}", r["loss_tolerance"]
        ('agree', '3.3e-05', 0.001)
    """
    from archdsl.training.crosscheck import LOSS_TOLERANCE

    loss_diff = abs(a["val_loss"] - b["val_loss"])
    rel = loss_diff / max(abs(a["val_loss"]), abs(b["val_loss"]), 1e-30)
    tol = LOSS_TOLERANCE[dtype]
    ok = a["val_acc"] == b["val_acc"] and rel <= tol
    return {"accuracy_diff": abs(a["val_acc"] - b["val_acc"]), "loss_diff": loss_diff,
            "loss_rel_diff": rel, "loss_tolerance": tol, "agree": ok, "verdict": verdict(ok)}


def _configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--weights", metavar="FILE", required=True,
                   help="trained weights: a run's weights.npz or checkpoint.npz")
    p.add_argument("--backend", choices=tuple(BACKENDS), default="both",
                   help="framework(s) to evaluate (default: both, side by side)")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="evaluate on the first N test images only")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("eval", "accuracy and loss of trained weights on a dataset's test split, in both "
         "frameworks", _configure)
def cmd_eval(ns: argparse.Namespace) -> int:
    from archdsl.commands.train import quiet_threads

    quiet_threads()
    graph = load_graph(ns)
    r = evaluate_split(graph, ns.weights, ns.data, BACKENDS[ns.backend], ns.data_dir, ns.limit,
                       verify=ns.verify_data, download=ns.download)
    if ns.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['spec']} on the {r['dataset']} test split ({r['images']:,} images)")
    for name, s in r["frameworks"].items():
        print(f"  {name:>5}: accuracy {100 * s['accuracy']:.2f}%  loss {s['loss']:.4f}")
    if "verdict" in r:
        within = "within" if r["loss_rel_diff"] <= r["loss_tolerance"] else "beyond"
        print(verdict_line(r["agree"], f"accuracy differs by {100 * r['accuracy_diff']:.2f} "
                           f"points, loss by {r['loss_rel_diff']:.1e} relative, {within} the "
                           f"tolerance {r['loss_tolerance']:.0e}"))
    return 0
