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
from typing import TYPE_CHECKING

import numpy as np

from archdsl.trainconfig import TrainConfig
from archdsl.training.errors import TrainingError

if TYPE_CHECKING:
    from archdsl.data import Batches, Dataset, Normalization
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


def check_fits(graph: Graph, dataset: Dataset) -> None:
    """Raise a located :class:`TrainingError` when the spec's input or output cannot take the
    dataset (one image input, one output of at least ``num_classes`` logits)."""
    loc = graph.tree.key_loc("input") if "input" in graph.tree else None
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TrainingError(
            f"training needs one input and one output; '{graph.name}' has "
            f"{len(graph.inputs)} input(s) and {len(graph.outputs)} output(s)", loc,
        )
    want, got = list(graph.input_shapes[0]), list(dataset.input_shape)
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
        return Normalization.from_data(x)
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
    graph: Graph, config: TrainConfig, data_dir: str | Path | None = None
) -> TrainData:
    """Load ``config.dataset``, check it fits ``graph``, and set up the shared pipelines.

    Raises:
        DataError: missing or corrupt dataset files (the message names the file).
        TrainingError: the spec does not fit the dataset.
    """
    from archdsl.data import Batches, load_dataset

    ds = load_dataset(config.dataset, data_dir)
    check_fits(graph, ds)
    x, y = ds.x_train, ds.y_train
    if config.train_subset is not None:
        x, y = x[: config.train_subset], y[: config.train_subset]
    norm = normalization(config, x)
    train = Batches(
        x, y, config.batch_size, seed=config.seed, shuffle=True, flip=config.augment.flip,
        crop_padding=config.augment.crop_padding, normalization=norm, dtype=config.dtype,
    )
    val = Batches(
        ds.x_test, ds.y_test, max(EVAL_BATCH_SIZE, config.batch_size), seed=config.seed,
        shuffle=False, normalization=norm, dtype=config.dtype,
    )
    return TrainData(ds, norm, train, val)


__all__ = ["EVAL_BATCH_SIZE", "TrainData", "check_fits", "normalization", "prepare_data"]
