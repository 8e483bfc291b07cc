"""``archdsl predict``: classify image files with a spec and its trained weights.

Images (PNG, JPEG, anything Pillow reads) are converted to the spec's channels (grayscale or
RGB), resized to its input size, scaled to ``[0, 1]`` and normalized as in training: with the
statistics the run stored in its ``weights.npz``, else the spec's ``train: normalize``
(statistics computed from the training set when it says ``computed``). The top-k classes come
from a softmax over the logits, in one framework or both side by side.

Example (needs a framework and Pillow)::

    >>> from archdsl.commands.predict import predict  # doctest: +SKIP
    >>> predict(graph, "out/digits/weights.npz", ["seven.png"], ("torch",))  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.cli import add_spec_args, command, load_graph, positive_int
from archdsl.errors import ArchdslError
from archdsl.verdict import verdict, verdict_line

if TYPE_CHECKING:
    from archdsl.data import Normalization
    from archdsl.graph import Graph

BACKENDS = {"torch": ("torch",), "keras": ("keras",), "both": ("torch", "keras")}


class PredictError(ArchdslError):
    """An image or a spec ``predict`` cannot use (exit code 2)."""

    kind = "predict error"


def load_images(paths: Sequence[str | Path], shape: Sequence[int]) -> np.ndarray:
    """Images as a ``(N, C, H, W)`` uint8 batch of ``shape`` (C = 1 grayscale or 3 RGB),
    resized with bilinear filtering.

    Raises:
        PredictError: Pillow is missing, a file is not an image, or C is not 1 or 3.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise PredictError("reading images needs Pillow",
                           hint="pip install 'archdsl[export]' (or pillow)") from None
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise PredictError(f"predict reads images into a (1 or 3, H, W) input; the spec takes "
                           f"{list(shape)}")
    c, h, w = shape
    out = []
    for p in paths:
        try:
            with Image.open(p) as opened:
                img = opened.convert("L" if c == 1 else "RGB")
                if img.size != (w, h):
                    img = img.resize((w, h), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as exc:
            raise PredictError(f"cannot read image '{p}': {exc}") from None
        out.append(arr[None] if c == 1 else arr.transpose(2, 0, 1))
    return np.stack(out)


def normalization_for(graph: Graph, meta: dict[str, Any],
                      data_dir: str | None = None) -> Normalization | None:
    """The normalization training used: the weights file's, else the spec's ``train:``."""
    from archdsl.data import Normalization

    norm = meta.get("normalization")
    if isinstance(norm, dict) and norm.get("mean") and norm.get("std"):
        return Normalization(tuple(norm["mean"]), tuple(norm["std"]))
    if "normalization" in meta and norm is None:
        return None
    from archdsl.data import load_dataset
    from archdsl.training import resolve_config
    from archdsl.training.data import normalization

    config = resolve_config(graph)
    if config.normalize.stats != "computed":
        return normalization(config, np.zeros((1, graph.input_shapes[0][0], 1, 1), np.uint8))
    ds = load_dataset(config.dataset, data_dir, verify=config.verify_data,
                      download_missing=config.download)
    return normalization(config, ds.x_train)


def class_names(graph: Graph, meta: dict[str, Any]) -> list[str]:
    """Class names: the weights file's, else the spec's dataset's, else the indices."""
    n = graph.output_shapes[0][0]
    names = meta.get("classes")
    if not isinstance(names, list):
        from archdsl.training import resolve_config

        names = _dataset_classes(resolve_config(graph).dataset)
    names = list(names or [])
    return [names[i] if i < len(names) else str(i) for i in range(n)]


def _dataset_classes(name: str) -> tuple[str, ...]:
    from archdsl.data.cifar import CIFAR10_CLASSES
    from archdsl.data.digits import DIGITS_CLASSES
    from archdsl.data.idx import FASHION_MNIST_CLASSES, MNIST_CLASSES

    return {"cifar10": CIFAR10_CLASSES, "digits": DIGITS_CLASSES, "mnist": MNIST_CLASSES,
            "fashion_mnist": FASHION_MNIST_CLASSES}.get(name, ())


def logits(graph: Graph, weights: Any, x: np.ndarray, backend: str) -> np.ndarray:
    """The model's output on the normalized NCHW batch ``x`` (eval mode, float32)."""
    from archdsl.backends import load_backend

    b = load_backend(backend)
    model = b.build(graph, weights=weights)
    out = b.forward(model, graph, x.astype(np.float32), nodes=[graph.outputs[0]])
    return np.asarray(out[graph.outputs[0]], dtype=np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predict(graph: Graph, weights_path: str, images: Sequence[str], backends: Sequence[str],
            top: int = 5, data_dir: str | None = None) -> dict[str, Any]:
    """Top-``top`` classes of every image per framework: the ``predict --json`` object."""
    from archdsl.weights import load_npz_for, load_npz_meta

    if len(graph.inputs) != 1 or len(graph.output_shapes[0]) != 1:
        raise PredictError(f"predict needs one image input and one vector output; "
                           f"'{graph.name}' has {len(graph.inputs)} input(s) and output "
                           f"{list(graph.output_shapes[0])}")
    weights = load_npz_for(graph, weights_path)
    meta = load_npz_meta(weights_path)
    raw = load_images(images, graph.input_shapes[0])
    norm = normalization_for(graph, meta, data_dir)
    from archdsl.data import to_unit

    x = norm(raw, np.float32) if norm is not None else to_unit(raw, np.float32)
    names = class_names(graph, meta)
    probs = {b: softmax(logits(graph, weights, x, b)) for b in backends}
    k = min(top, len(names))
    results = []
    for i, path in enumerate(images):
        entry: dict[str, Any] = {"image": str(path)}
        for b, p in probs.items():
            order = np.argsort(-p[i], kind="stable")[:k]
            entry[b] = [{"class": names[j], "index": int(j), "probability": float(p[i, j])}
                        for j in order]
        results.append(entry)
    out: dict[str, Any] = {"spec": graph.name, "weights": str(weights_path),
                           "backends": list(backends), "images": results}
    if len(probs) == 2:
        pa, pb = (probs[n] for n in backends)
        out["agree"] = bool((pa.argmax(1) == pb.argmax(1)).all())
        out["verdict"] = verdict(out["agree"])
        out["max_probability_diff"] = float(np.abs(pa - pb).max())
    return out


def _configure(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--weights", metavar="FILE", required=True,
                   help="trained weights: a run's weights.npz or checkpoint.npz")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG / JPEG files")
    p.add_argument("--backend", choices=tuple(BACKENDS), default="torch",
                   help="framework(s) to run (default torch; both: side by side)")
    p.add_argument("--top", type=positive_int, default=5, metavar="K",
                   help="classes to show per image (default 5)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where the training set is, when the normalization statistics must be "
                   "computed from it (default: $ARCHDSL_DATA, else ~/.cache/archdsl)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("predict", "classify image files with a spec and its trained weights", _configure)
def cmd_predict(ns: argparse.Namespace) -> int:
    graph = load_graph(ns)
    result = predict(graph, ns.weights, ns.images, BACKENDS[ns.backend], ns.top, ns.data_dir)
    if ns.json:
        print(json.dumps(result, indent=2))
        return 0
    for entry in result["images"]:
        print(entry["image"])
        for b in result["backends"]:
            tops = ", ".join(f"{c['class']} {100 * c['probability']:.1f}%" for c in entry[b])
            print(f"  {b:>5}: {tops}")
    if "agree" in result:
        same = "the same" if result["agree"] else "not the same"
        print(verdict_line(result["agree"], f"torch and keras give {same} top-1 class for every "
                           f"image; max probability difference "
                           f"{result['max_probability_diff']:.1e}"))
    return 0
