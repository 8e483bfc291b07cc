"""Apply the chapter's fixed filters (blur, grey, Sobel x/y) to an image, through PyTorch.

The filters are the spec specs/filters.yaml: convolutions whose weights are fixed (`fixed:
blur3`, `fixed: sobel_x`, ...). archdsl lowers the spec to a native torch module; the weights come
from the fixed filters (archdsl.init), so nothing is trained. The image is a CIFAR-10 training
image when ARCHDSL_DATA (or --data-dir) holds CIFAR-10, else a digit from scikit-learn's bundled
8×8 digits (offline). Writes a PNG grid: the image, each filter's output, and the gradient
magnitude sqrt(sobel_x² + sobel_y²).

    python examples/apply_filters.py -o filters.png
    ARCHDSL_DATA=../shared/datasets python examples/apply_filters.py -o docs/img/filters.png

Needs torch and matplotlib (pip install -e '.[torch,train]').
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import archdsl
from archdsl.spec import builtin_specs_dir


def find_spec() -> Path:
    local = Path("specs/filters.yaml")
    return local if local.is_file() else builtin_specs_dir() / "filters.yaml"


def load_image(source: str, index: int | None, data_dir: str | None) -> tuple[np.ndarray, str]:
    """One image as float (3, H, W) in [0, 1], and its caption (default: CIFAR #7, digit #0)."""
    from archdsl.data import DataError, find_dataset, load_cifar10_batch

    if source in ("auto", "cifar10"):
        try:
            if source == "auto" and not (data_dir or os.environ.get("ARCHDSL_DATA")):
                raise DataError("no data directory")
            x, y = load_cifar10_batch(find_dataset("cifar10", data_dir), "data_batch_1")
            index = 7 if index is None else index
            classes = ("airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck")
            return x[index].astype(np.float64) / 255.0, f"CIFAR-10 #{index} ({classes[y[index]]})"
        except DataError:
            if source == "cifar10":
                raise
    from sklearn.datasets import load_digits

    digits = load_digits()
    index = 0 if index is None else index
    gray = digits.images[index] / 16.0
    return np.repeat(gray[None], 3, axis=0), f"digit #{index} ({digits.target[index]})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="filters.png", help="PNG file to write")
    ap.add_argument("--source", choices=("auto", "cifar10", "digits"), default="auto")
    ap.add_argument("--index", type=int, default=None,
                    help="which image (default: CIFAR-10 #7, digit #0)")
    ap.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: $ARCHDSL_DATA)")
    ns = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    image, caption = load_image(ns.source, ns.index, ns.data_dir)
    size = image.shape[-1]
    graph = archdsl.load(find_spec(), size=size)  # the spec's input is [3, $size, $size]
    model = graph.to_torch(dtype="float64").eval()  # weights: the fixed filters
    with torch.no_grad():
        blur, gray, sx, sy = (t[0].numpy() for t in model(torch.from_numpy(image[None])))
    magnitude = np.sqrt(sx[0] ** 2 + sy[0] ** 2)

    panels = [
        (caption, image.transpose(1, 2, 0), None),
        ("blur (blur3, groups=3)", np.clip(blur.transpose(1, 2, 0), 0, 1), None),
        ("grey (1×1 conv)", gray[0], "gray"),
        ("sobel_x", sx[0], "RdBu_r"),
        ("sobel_y", sy[0], "RdBu_r"),
        ("|∇| = √(x² + y²)", magnitude, "gray"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6))
    for ax, (title, img, cmap) in zip(axes, panels):
        if cmap == "RdBu_r":  # signed responses: zero is white
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
        else:
            ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"specs/filters.yaml through PyTorch: {graph.params['non_trainable']} fixed "
                 "weights, 0 trainable", fontsize=9)
    fig.tight_layout()
    Path(ns.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(ns.output, dpi=110)
    print(f"wrote {ns.output} ({caption}; {size}×{size})")


if __name__ == "__main__":
    main()
