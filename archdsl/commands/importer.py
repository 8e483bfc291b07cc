"""``archdsl import-weights``: a reference model's weights → canonical ``.npz`` for a spec.

The reference's weighted layers are matched to the spec's nodes by structure
(:mod:`archdsl.weights`) and saved keyed ``"<node id>/<weight name>"`` in the canonical
(PyTorch) layout, atomically. Sources (``--from``):

* ``keras:NAME``: ``keras.applications.NAME`` built at the spec's input shape with
  ``classifier_activation=None`` (and ``include_preprocessing=False`` where the constructor
  has it); ``--ref-weights imagenet`` (default; Keras' download cache) / ``none`` (random,
  seeded by ``--seed``) / a weights file;
* ``torchvision:NAME``: ``torchvision.models.get_model(NAME, weights=...)``;
  ``--ref-weights DEFAULT`` (default) / ``none`` / a weights enum name (needs torchvision);
* ``FILE.keras``: a saved Keras model;
* ``FILE.weights.h5``: Keras weights, loaded into ``--arch keras:NAME`` or, without
  ``--arch``, into the spec's own Keras model;
* ``FILE.pt`` / ``FILE.pth``: a PyTorch state dict (``torch.load(weights_only=True)``).

``--verify`` runs the reference and the spec (with the imported weights) on one random input
and reports the largest output difference (exit 1 above ``--tolerance``).

Example::

    archdsl import-weights specs/resnet50_v2.yaml --from keras:ResNet50V2 --out rn50v2.npz
    archdsl import-weights specs/resnet18.yaml --from torchvision:resnet18 --out rn18.npz
    archdsl import-weights specs/resnet18.yaml --from resnet18.pt --out rn18.npz

Run standalone (before the command is registered) as ``python -m archdsl.commands.importer``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from archdsl.cli import add_spec_args, command, load_graph
from archdsl.errors import BackendError, SpecError, did_you_mean

#: notes printed at most (--json lists them all)
SHOWN_NOTES = 12


def _configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument(
        "--from", dest="source", required=True, metavar="SOURCE",
        help="keras:NAME | torchvision:NAME | FILE.keras | FILE.weights.h5 | FILE.pt",
    )
    p.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the weights")
    p.add_argument(
        "--ref-weights", default=None, metavar="W",
        help="reference weights: keras 'imagenet' (default), torchvision 'DEFAULT' (default), "
             "'none' for a random reference, or a file",
    )
    p.add_argument("--arch", metavar="keras:NAME",
                   help="with FILE.weights.h5: the keras.applications model the file belongs to")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of a random reference (--ref-weights none) and of --verify's input")
    p.add_argument("--allow-unused", action="store_true",
                   help="ignore reference layers the spec does not use (e.g. auxiliary heads)")
    p.add_argument("--no-names", action="store_true",
                   help="never use layer names, even to split structurally equal candidates")
    p.add_argument("--verify", action="store_true",
                   help="compare the reference's and the spec's outputs on a random input")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max abs output diff for --verify, relative to max(1, |output|)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("import-weights",
         "match a reference model's weights (Keras, torchvision, file) to a spec; save as .npz",
         _configure)
def cmd_import_weights(ns: argparse.Namespace) -> int:
    from archdsl import __version__
    from archdsl.weights import save_npz

    graph = load_graph(ns)
    if not str(ns.out).endswith(".npz"):
        raise SpecError(f"--out must name an .npz file, received '{ns.out}'")
    kind, reference = load_reference(ns.source, graph, ns.ref_weights, ns.arch, ns.seed)
    opts = {"use_names": not ns.no_names, "allow_unused": ns.allow_unused}
    if kind == "keras":
        from archdsl.backends.keras.importer import match_keras_model

        match = match_keras_model(graph, reference, **opts)
    else:
        from archdsl.backends.torch.importer import match_torch_state_dict

        match = match_torch_state_dict(graph, reference, **opts)
    result: dict[str, Any] = {"source": ns.source, **match.as_json()}
    ok = True
    if ns.verify:
        result["verify"] = verify(graph, kind, reference, match.weights, ns.seed, ns.tolerance)
        ok = result["verify"].get("ok") is not False
    meta = {
        "archdsl": __version__,
        "spec": graph.name,
        "spec_file": str(ns.spec),
        "overrides": list(ns.overrides),
        "input_shapes": [list(s) for s in graph.input_shapes],
        "source": ns.source,
        "ref_weights": ns.ref_weights,
        "mode": match.mode,
        "notes": match.notes,
    }
    save_npz(ns.out, match.weights, meta)
    total = sum(int(np.size(a)) for arrays in match.weights.values() for a in arrays.values())
    result.update(out=str(ns.out), values=total)
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"matched {len(match.pairs)} weighted nodes of '{graph.name}' to {ns.source} "
              f"({match.mode} mode); {total:,} values")
        for note in match.notes[:SHOWN_NOTES]:
            print(f"note: {note}")
        if len(match.notes) > SHOWN_NOTES:
            print(f"note: ... {len(match.notes) - SHOWN_NOTES} more (--json lists them all)")
        if "verify" in result:
            print(f"verify: {result['verify']['message']}")
        print(f"wrote {ns.out}")
    return 0 if ok else 1


# ---------------------------------------------------------------------------- sources
def load_reference(source: str, graph: Any, ref_weights: str | None, arch: str | None,
                   seed: int = 0) -> tuple[str, Any]:
    """``("keras", keras.Model)`` or ``("torch", nn.Module | state dict)`` for a ``--from``.

    Raises:
        BackendError / SpecError: unknown scheme or model, missing framework, unreadable file.
    """
    if source.startswith("keras:"):
        return "keras", keras_application(source[len("keras:"):], graph, ref_weights, seed)
    if source.startswith("torchvision:"):
        return "torch", torchvision_model(source[len("torchvision:"):], ref_weights, seed,
                                          graph.input_shapes[0])
    path = Path(source)
    if not path.is_file():
        raise SpecError(f"--from: no file '{source}'",
                        hint="give keras:NAME, torchvision:NAME or an existing "
                             ".keras / .weights.h5 / .pt file")
    name = path.name.lower()
    if name.endswith(".weights.h5"):
        return "keras", _keras_weights_file(path, graph, arch, seed)
    if name.endswith(".keras"):
        _need("keras")
        import keras

        import archdsl.backends.keras  # noqa: F401  (registers archdsl's custom layers)

        try:
            return "keras", keras.saving.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for bad files
            raise BackendError(f"cannot load '{source}' as a Keras model: "
                               f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if name.endswith((".pt", ".pth")):
        _need("torch")
        from archdsl.backends.torch.importer import load_torch_file

        return "torch", load_torch_file(str(path))
    raise SpecError(f"--from: cannot tell what '{source}' is from its name",
                    hint="expected .keras, .weights.h5, .pt or .pth (or keras:NAME, "
                         "torchvision:NAME)")


def _need(framework: str) -> None:
    from archdsl.backends import load_backend

    load_backend(framework)  # a one-line BackendError with the install hint when missing


def keras_application(name: str, graph: Any, ref_weights: str | None, seed: int = 0) -> Any:
    """``keras.applications.<name>`` built for ``graph``'s input shape and classes.

    ``ref_weights``: ``None``/``"imagenet"`` (pretrained, from Keras' cache or download),
    ``"none"`` (every weight random, BN statistics included, seeded) or a weights file path.
    """
    _need("keras")
    import keras

    apps = {n: getattr(keras.applications, n) for n in dir(keras.applications)
            if n[:1].isupper() and callable(getattr(keras.applications, n))}
    if name not in apps:
        raise SpecError(f"--from keras:{name}: keras.applications has no model '{name}'."
                        f"{did_you_mean(name, apps)}", hint=f"e.g. {', '.join(sorted(apps)[:6])}")
    fn = apps[name]
    params = inspect.signature(fn).parameters
    shape = graph.input_shapes[0]
    kwargs: dict[str, Any] = {"input_shape": (*shape[1:], shape[0])}
    if "classifier_activation" in params:
        kwargs["classifier_activation"] = None
    if "include_preprocessing" in params:
        kwargs["include_preprocessing"] = False
    out = graph.output_shapes[0]
    if "classes" in params and len(out) == 1:
        kwargs["classes"] = out[0]
    weights = "imagenet" if ref_weights in (None, "imagenet") else ref_weights
    kwargs["weights"] = None if weights == "none" else weights
    try:
        model = fn(**kwargs)
    except Exception as exc:  # download errors, shape errors
        raise BackendError(
            f"cannot build keras.applications.{name}({_show(kwargs)}): "
            f"{type(exc).__name__}: {str(exc)[:300]}",
            hint="pretrained Keras weights need the spec's standard input size (e.g. "
                 "224×224) and a download or a cached file in ~/.keras/models; "
                 "--ref-weights none builds a random reference offline",
        ) from None
    if weights == "none":
        from archdsl.backends.keras.importer import randomize_weights

        randomize_weights(model, seed)
    return model


def _show(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _keras_weights_file(path: Path, graph: Any, arch: str | None, seed: int) -> Any:
    _need("keras")
    if arch is not None:
        if not arch.startswith("keras:"):
            raise SpecError(f"--arch must be keras:NAME, received '{arch}'")
        model = keras_application(arch[len("keras:"):], graph, "none", seed)
    else:
        model = graph.to_keras(seed=seed)
    try:
        model.load_weights(path)
    except Exception as exc:
        what = arch or f"the Keras model of '{graph.name}'"
        raise BackendError(f"cannot load '{path}' into {what}: {type(exc).__name__}: "
                           f"{str(exc)[:200]}",
                           hint="a .weights.h5 file loads only into the architecture that "
                                "saved it; name it with --arch keras:NAME") from None
    return model


def torchvision_model(name: str, ref_weights: str | None, seed: int = 0,
                      input_shape: Any = None) -> Any:
    """``torchvision.models.get_model(name, weights=...)`` in eval mode; ``ref_weights``
    ``None`` → ``"DEFAULT"``, ``"none"`` → random (every weight, seeded). A random model built
    for a fixed ``image_size`` (ViT) is built for the spec's square ``input_shape`` instead."""
    _need("torch")
    try:
        import torchvision
    except ImportError:
        raise BackendError("--from torchvision:... needs the 'torchvision' package",
                           hint="pip install torchvision (the build matching your torch); or "
                                "save a state dict elsewhere and pass the .pt file") from None
    weights = "DEFAULT" if ref_weights is None else ref_weights
    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        raise SpecError(f"--from torchvision:{name}: no such classification model."
                        f"{did_you_mean(name, names)}")
    kwargs: dict[str, Any] = {"weights": None if weights == "none" else weights}
    try:
        model = torchvision.models.get_model(name, **kwargs)
        side = _square_side(input_shape)
        if weights == "none" and side and getattr(model, "image_size", side) != side:
            kwargs["image_size"] = side  # ViT: position embedding and size check follow it
            model = torchvision.models.get_model(name, **kwargs)
    except Exception as exc:
        raise BackendError(f"cannot build torchvision.models.{name}({_show(kwargs)}): "
                           f"{type(exc).__name__}: {str(exc)[:300]}") from None
    if weights == "none":
        from archdsl.backends.torch.importer import randomize_weights

        randomize_weights(model, seed)
    return model.eval()


def _square_side(shape: Any) -> int | None:
    """The side of a square ``(C, H, W)`` input, else ``None``."""
    if shape is not None and len(shape) == 3 and shape[1] == shape[2]:
        return int(shape[1])
    return None


# ---------------------------------------------------------------------------- verification
def verify(graph: Any, kind: str, reference: Any, weights: Any, seed: int = 0,
           tolerance: float = 1e-4) -> dict[str, Any]:
    """Run the reference and the spec (with ``weights``) on one random input; compare outputs.

    Returns ``{"ok", "max_abs_diff", "max_abs_output", "message"}``; ``ok`` is ``None`` (not
    checked) for a bare state dict, which has no forward pass.
    """
    from archdsl.crosscheck import random_inputs

    x = random_inputs(graph, batch=2, seed=seed)[0]
    if kind == "keras":
        from archdsl.backends.keras import build, forward
        from archdsl.backends.keras.importer import undo_preprocessing

        model = build(graph, weights=weights)
        ours = forward(model, graph, x, nodes=graph.outputs)[graph.outputs[0]]
        xr = undo_preprocessing(reference, np.moveaxis(x, 1, -1))
        theirs = np.asarray(reference(xr, training=False))
    else:
        import torch

        if not isinstance(reference, torch.nn.Module):
            return {"ok": None, "message": "not checked: a state dict has no forward pass"}
        from archdsl.backends.torch import build as tbuild
        from archdsl.backends.torch import forward as tforward

        model = tbuild(graph, weights=weights)
        ours = tforward(model, graph, x, nodes=graph.outputs)[graph.outputs[0]]
        with torch.no_grad():
            theirs = reference.eval()(torch.as_tensor(x)).numpy()
    theirs = theirs.reshape(ours.shape) if theirs.size == ours.size else theirs
    if theirs.shape != ours.shape:
        return {"ok": False, "message": f"output shapes differ: spec {list(ours.shape)}, "
                                        f"reference {list(theirs.shape)}"}
    diff = float(np.abs(ours.astype(np.float64) - theirs).max())
    scale = float(np.abs(theirs).max())
    ok = diff <= tolerance * max(1.0, scale)
    message = (f"max abs output diff {diff:.2e} (outputs up to {scale:.3g}, tolerance "
               f"{tolerance:.0e}·max(1, |output|)): " + (
        "agree, the spec computes the reference" if ok else "disagree"))
    return {"ok": ok, "max_abs_diff": diff, "max_abs_output": scale, "message": message}


def main(argv: list[str] | None = None) -> int:
    """``python -m archdsl.commands.importer SPEC --from ... --out ...`` (standalone)."""
    from archdsl.cli import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "import-weights":
        args.insert(0, "import-weights")
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
