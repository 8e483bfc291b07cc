"""The data of a run: one dataset and the batch pipelines every framework shares.

:func:`prepare_data` loads ``config.dataset``, checks that it fits the graph, computes (or
takes) the normalization from the training set, and sets up the seeded training pipeline and
the unshuffled validation pipeline (:class:`archdsl.data.Batches`).

Example (reads the bundled digits)::

    >>> import archdsl
    >>> g = archdsl.load("specs/digits_cnn.yaml")  # doctest: +SKIP
    >>> len(prepare_data(g, TrainConfig(batch_size=128)).train)  # doctest: +SKIP
    12
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archdsl.trainconfig import TrainConfig
from archdsl.training.errors import TrainingError

if TYPE_CHECKING:
    from archdsl.data import Batches, Dataset, Normalization
    from archdsl.data.download import ProgressFn
    from archdsl.data.images import ImageOptions
    from archdsl.graph import Graph

#: Batch size of the validation pass (no gradients, so larger than a training batch).
EVAL_BATCH_SIZE = 500


@dataclass
class TrainData:
    """The dataset and the two batch pipelines every framework shares."""

    dataset: Dataset
    normalization: Normalization | None
    train: Batches
    val: Batches

    def eval_inputs(self, n: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` test images, normalized like the batches, and their labels."""
        from archdsl.data import to_unit

        x = self.dataset.x_test[:n]
        xs = self.normalization(x, dtype) if self.normalization else to_unit(x, dtype)
        return np.ascontiguousarray(xs), self.dataset.y_test[:n]


def check_fits(graph: Graph, dataset: Dataset, cropped: bool = False) -> None:
    """Raise a located :class:`TrainingError` when the spec's input or output cannot take the
    dataset (one image input, one output of at least ``num_classes`` logits). ``cropped``:
    images larger than the input are cut to it (``images.resize`` / random-resized crops)."""
    loc = graph.tree.key_loc("input") if "input" in graph.tree else None
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TrainingError(
            f"training needs one input and one output; '{graph.name}' has "
            f"{len(graph.inputs)} input(s) and {len(graph.outputs)} output(s)", loc,
        )
    want, got = list(graph.input_shapes[0]), list(dataset.input_shape)
    if cropped and len(want) == 3 and want[0] == got[0] and all(
            g >= w for g, w in zip(got[1:], want[1:])):
        got = want
    if want != got:
        from archdsl.data import DATASET_SHAPES

        shapes = ", ".join(f"{k} {list(v)}" for k, v in DATASET_SHAPES.items())
        raise TrainingError(
            f"dataset '{dataset.name}' has images of shape {got} but '{graph.name}' takes "
            f"input {want}; choose the dataset with --data ({shapes})", loc,
        )
    out = graph.output_shapes[0]
    if len(out) != 1 or out[0] < dataset.num_classes:
        raise TrainingError(
            f"'{graph.name}' outputs shape {list(out)} but dataset '{dataset.name}' has "
            f"{dataset.num_classes} classes; the last layer must be a dense layer with "
            f"{dataset.num_classes} units (logits, no softmax)", loc,
        )


def normalization(config: TrainConfig, x: np.ndarray) -> Normalization | None:
    """The per-channel normalization ``config.normalize`` asks for, on training images ``x``.

    Raises:
        TrainingError: given statistics do not have one value per channel.
    """
    from archdsl.data import Normalization

    norm_cfg = config.normalize
    if norm_cfg.stats == "computed":
        from archdsl.data.crops import streamed_stats

        mean, std = streamed_stats(x)  # chunk by chunk from a cached dataset
        return Normalization(mean, tuple(v if v > 0 else 1.0 for v in std))
    if norm_cfg.stats == "none":
        return None
    assert norm_cfg.mean is not None and norm_cfg.std is not None
    if len(norm_cfg.mean) != x.shape[1] or len(norm_cfg.std) != x.shape[1]:
        raise TrainingError(
            f"normalize: {len(norm_cfg.mean)} mean / {len(norm_cfg.std)} std values for "
            f"{x.shape[1]}-channel images"
        )
    return Normalization(tuple(norm_cfg.mean), tuple(norm_cfg.std))


def prepare_data(
    graph: Graph, config: TrainConfig, data_dir: str | Path | None = None, *,
    val_limit: int | None = None, progress: ProgressFn | None = None,
) -> TrainData:
    """Load ``config.dataset`` (a built-in or the user's files, through the decoded-data
    cache), check it fits ``graph``, and set up the shared pipelines. ``val_limit`` validates
    on the first that many test images only; ``progress(what, done, total)`` hears about
    decoding.

    Raises:
        DataError: missing or corrupt dataset files (the message names the file).
        TrainingError: the spec does not fit the dataset.
    """
    from archdsl.data import load_dataset

    options = image_options(graph, config)
    ds = load_dataset(dataset_path(graph, config.dataset), data_dir, images=options,
                      val_split=config.val_split, progress=progress,
                      verify=config.verify_data, download_missing=config.download)
    size = options.size if options is not None else None
    rrc = config.images.random_resized_crop
    asked = config.images.decode_size is not None or rrc is not None  # else: no silent crops
    crop = asked and size is not None and tuple(ds.input_shape[1:]) != size
    check_fits(graph, ds, cropped=crop)
    x, y = ds.x_train, ds.y_train
    if config.train_subset is not None:
        x, y = x[: config.train_subset], y[: config.train_subset]
    norm = normalization(config, x)
    common = {"seed": config.seed, "normalization": norm, "dtype": config.dtype}
    train = _batches(x, y, config.batch_size, size if (crop or rrc) else None,
                     "random" if rrc else "center", rrc, shuffle=True, flip=config.augment.flip,
                     crop_padding=config.augment.crop_padding, **common)
    n_val = len(ds.y_test) if val_limit is None else min(val_limit, len(ds.y_test))
    val = _batches(ds.x_test[:n_val], ds.y_test[:n_val], max(EVAL_BATCH_SIZE, config.batch_size),
                   size if crop else None, "center", None, shuffle=False, **common)
    return TrainData(ds, norm, train, val)


def dataset_path(graph: Graph, dataset: str) -> str:
    """``dataset`` as :func:`~archdsl.data.load_dataset` takes it: a relative path that is not
    found from the working folder is taken relative to the spec's folder (``train.dataset:
    images/`` beside the spec)."""
    from archdsl.data.user import is_user_source

    path = Path(dataset).expanduser()
    if not is_user_source(dataset) or path.is_absolute() or path.exists():
        return dataset
    spec_file = getattr(graph, "file", None)
    beside = Path(str(spec_file)).parent / path if spec_file else path
    return str(beside) if beside.exists() else dataset


def image_options(graph: Graph, config: TrainConfig) -> ImageOptions | None:
    """How image files are decoded for ``graph``: its input's channels and size, and
    ``config.images``; ``None`` when the input is not an image (C, H, W)."""
    from archdsl.data.images import ImageOptions

    shape = graph.input_shapes[0] if len(graph.inputs) == 1 else ()
    if len(shape) != 3 or shape[0] not in (1, 3):
        return None
    return ImageOptions((int(shape[1]), int(shape[2])), int(shape[0]),
                        config.images.decode_size, config.images.fit)


def _batches(x: Any, y: np.ndarray, batch_size: int, size: tuple[int, int] | None, crop: str,
             rrc: Any, **kw: Any) -> Batches:
    from archdsl.data import Batches
    from archdsl.data.crops import CropBatches

    if size is None:
        return Batches(x, y, batch_size, **kw)
    extra = {"scale": rrc.scale, "ratio": rrc.ratio} if rrc is not None else {}
    return CropBatches(x, y, batch_size, size=size, crop=crop, **extra, **kw)


__all__ = ["EVAL_BATCH_SIZE", "TrainData", "check_fits", "dataset_path", "image_options",
           "normalization",
           "prepare_data"]
