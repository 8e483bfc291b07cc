"""Framework-free numpy datasets and the one batch pipeline both backends share.

Loaders return a :class:`Dataset` of layout-neutral NCHW arrays; :class:`Batches` turns it into
seeded, identical batches for PyTorch (NCHW) and Keras (:func:`to_nhwc`). Nothing here imports a
deep-learning framework.

Example:
    >>> from archdsl.data import Batches, Normalization, load_dataset
    >>> ds = load_dataset("cifar10", "~/data")  # doctest: +SKIP
    >>> train = Batches(ds.x_train, ds.y_train, 128, seed=0, flip=True, crop_padding=4,
    ...                 normalization=Normalization.from_data(ds.x_train))  # doctest: +SKIP
    >>> xb, yb = next(train.epoch(0))  # doctest: +SKIP
"""

from archdsl.data.checks import content_sha256, file_digest
from archdsl.data.cifar import load_cifar10, load_cifar10_batch
from archdsl.data.dataset import Dataset
from archdsl.data.digits import load_digits
from archdsl.data.download import download, download_file
from archdsl.data.errors import DataError
from archdsl.data.idx import load_idx_dataset, parse_idx, read_idx
from archdsl.data.pipeline import (
    Batches,
    Normalization,
    channel_stats,
    flip_horizontal,
    pad_crop,
    random_crop,
    random_flip,
    to_nchw,
    to_nhwc,
    to_unit,
)
from archdsl.data.resolve import (
    DATASET_SHAPES,
    DATASETS,
    canonical_name,
    default_data_dir,
    find_dataset,
    load_dataset,
)

__all__ = [
    "DATASETS",
    "DATASET_SHAPES",
    "Batches",
    "DataError",
    "Dataset",
    "Normalization",
    "canonical_name",
    "channel_stats",
    "content_sha256",
    "default_data_dir",
    "download",
    "download_file",
    "file_digest",
    "find_dataset",
    "flip_horizontal",
    "load_cifar10",
    "load_cifar10_batch",
    "load_dataset",
    "load_digits",
    "load_idx_dataset",
    "pad_crop",
    "parse_idx",
    "random_crop",
    "random_flip",
    "read_idx",
    "to_nchw",
    "to_nhwc",
    "to_unit",
]
