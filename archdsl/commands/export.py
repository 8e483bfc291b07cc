"""``archdsl export``: write a spec (and its trained weights) as ONNX, TorchScript, ``.keras``
or standalone PyTorch / Keras source, each checked against the lowering."""

from __future__ import annotations

import argparse
import json
import sys

from archdsl.cli import add_spec_args, command, load_graph
from archdsl.verdict import verdict_line

FORMAT_HELP = (
    "onnx (from the torch lowering, checked with onnxruntime), torch-src / keras-src (one "
    "readable file importing only torch or keras and numpy), torchscript (the scripted "
    "torch-src module), keras (a .keras file)"
)


def add_weights_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--weights FILE``: a run's weights.npz, its checkpoint.npz, or an imported .npz."""
    p.add_argument(
        "--weights", metavar="FILE", required=required, default=None,
        help="trained weights: a run's weights.npz or checkpoint.npz, or an .npz from "
        "archdsl import-weights" + ("" if required else " (default: the spec's seeded init)"),
    )


def _configure(p: argparse.ArgumentParser) -> None:
    from archdsl.export import FORMATS

    add_spec_args(p)
    add_weights_arg(p)
    p.add_argument("--format", "-f", dest="fmt", choices=FORMATS, required=True,
                   help=FORMAT_HELP)
    p.add_argument("-o", "--out", dest="out", metavar="PATH", default=None,
                   help="the file to write (default: <spec name> with the format's suffix)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip running the export against the lowering on a random batch")
    p.add_argument("--seed", type=int, default=0, help="init seed (without --weights) and the "
                   "random batch's seed")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: format, path, verified, max_abs_diff, seconds")


@command("export", "write a spec as ONNX, TorchScript, .keras or standalone PyTorch/Keras "
         "source, checked against the lowering", _configure)
def cmd_export(ns: argparse.Namespace) -> int:
    from archdsl.export import SUFFIX, TOLERANCE, export
    from archdsl.fsutil import safe_filename

    graph = load_graph(ns)
    weights = None
    if ns.weights:
        from archdsl.weights import load_npz_for

        weights = load_npz_for(graph, ns.weights)
    out = ns.out or safe_filename(graph.name).replace("-", "_") + SUFFIX[ns.fmt]
    result = export(graph, ns.fmt, out, weights=weights, verify=not ns.no_verify, seed=ns.seed)
    if ns.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(f"wrote {result.path} ({result.format}, {result.seconds:.1f} s)")
        if result.companion:
            print(f"wrote {result.companion} (its custom layers: import it before "
                  "keras.saving.load_model)")
        if result.max_abs_diff is not None:
            lowering = "keras" if ns.fmt.startswith("keras") else "torch"
            print(verdict_line(bool(result.verified),
                               f"the export and the {lowering} lowering on a random batch: max "
                               f"abs diff {result.max_abs_diff:.2e}, tolerance {TOLERANCE:.0e}"))
    if result.verified is False:
        print("the export does not compute what the lowering computes; please report it",
              file=sys.stderr)
        return 1
    return 0
