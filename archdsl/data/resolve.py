"""Find a dataset's files under the data directory and load it by name.

The data directory is the ``data_dir`` argument, else the ``ARCHDSL_DATA`` environment variable,
else ``~/.cache/archdsl``. Under it, these layouts are recognised (first match wins):

* ``cifar10``: ``cifar10/`` or the directory itself, holding ``cifar-10-batches-py/``,
  ``cifar-10-batches-py.tar.xz`` / ``.tar.gz`` or the official ``cifar-10-python.tar.gz``;
  or the data directory *is* a ``cifar-10-batches-py`` folder;
* ``mnist``: ``mnist/``, ``MNIST/raw/`` (torchvision) or the directory itself, holding the four
  idx files, gzip-compressed or raw;
* ``fashion_mnist``: ``fashion-mnist/``, ``fashion_mnist/``, ``FashionMNIST/raw/`` or the
  directory itself.

Example:
    >>> ds = load_dataset("mnist", "~/data")  # doctest: +SKIP
    >>> ds.x_train.shape  # doctest: +SKIP
    (60000, 1, 28, 28)
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from archdsl.data.builtin_cache import cached_builtin
from archdsl.data.cifar import TRAIN_BATCHES, load_cifar10
from archdsl.data.dataset import Dataset
from archdsl.data.digits import load_digits
from archdsl.data.download import ProgressFn, download
from archdsl.data.errors import WHERE_HINT, DataError
from archdsl.data.idx import FASHION_MNIST_CLASSES, MNIST_CLASSES, load_idx_dataset
from archdsl.data.images import ImageOptions
from archdsl.data.sources import IDX_FILES

#: The datasets :func:`load_dataset` accepts, with their image shape (C, H, W).
DATASET_SHAPES = {
    "cifar10": (3, 32, 32), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
    "digits": (1, 8, 8),
}  # fmt: skip
#: The dataset names :func:`load_dataset` accepts.
DATASETS = tuple(DATASET_SHAPES)
ENV_VAR = "ARCHDSL_DATA"
DEFAULT_DATA_DIR = Path("~/.cache/archdsl")

_CIFAR_ENTRIES = (
    "cifar-10-batches-py",
    "cifar-10-batches-py.tar.xz",
    "cifar-10-batches-py.tar.gz",
    "cifar-10-python.tar.gz",
    "cifar-10-python.tar.xz",
)
_IDX_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw", "MNIST", "."),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST", "."),
}


def canonical_name(name: str) -> str:
    """Return the canonical dataset name; case, ``-`` and ``_`` are ignored.

    Raises:
        DataError: unknown name; the message lists the valid names and the closest match.

    Example:
        >>> canonical_name("Fashion-MNIST"), canonical_name("CIFAR-10")
        ('fashion_mnist', 'cifar10')
        >>> canonical_name("cifar")
        Traceback (most recent call last):
        ...
        archdsl.data.errors.DataError: unknown dataset 'cifar'; did you mean 'cifar10'? \
Valid names: cifar10, mnist, fashion_mnist, digits
    """
    squashed = {d.replace("_", ""): d for d in DATASETS}
    key = name.lower().replace("-", "").replace("_", "").strip()
    if key in squashed:
        return squashed[key]
    close = difflib.get_close_matches(key, list(squashed), n=1, cutoff=0.5)
    hint = f" did you mean '{squashed[close[0]]}'?" if close else ""
    raise DataError(f"unknown dataset '{name}';{hint} Valid names: {', '.join(DATASETS)}")


def default_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return ``data_dir``, else ``$ARCHDSL_DATA``, else ``~/.cache/archdsl`` (user-expanded).

    Example:
        >>> default_data_dir("/data")
        PosixPath('/data')
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


def find_dataset(name: str, data_dir: str | Path | None = None) -> Path:
    """Return the folder or archive holding dataset ``name`` under the data directory.

    Raises:
        DataError: nothing recognisable was found; the message names the expected path.

    Example:
        >>> find_dataset("cifar10", "~/data")  # doctest: +SKIP
        PosixPath('/home/me/data/cifar10/cifar-10-python.tar.gz')
    """
    key = canonical_name(name)
    root = default_data_dir(data_dir)
    if key == "cifar10":
        if (root / TRAIN_BATCHES[0]).is_file():
            return root
        for sub in ("cifar10", "cifar-10", "."):
            for entry in _CIFAR_ENTRIES:
                path = root / sub / entry  # pathlib drops the "." component
                is_folder = entry == "cifar-10-batches-py"
                if (path / TRAIN_BATCHES[0]).is_file() if is_folder else path.is_file():
                    return path
        expected = root / "cifar10" / "cifar-10-python.tar.gz"
        raise DataError(
            f"{expected}: not found (nor a cifar-10-batches-py folder or .tar.xz); {WHERE_HINT}"
        )
    if key in _IDX_SUBDIRS:
        for sub in _IDX_SUBDIRS[key]:
            folder = root / sub
            if any((folder / f).is_file() for f in (IDX_FILES[0], IDX_FILES[0][:-3])):
                return folder
        expected = root / _IDX_SUBDIRS[key][0] / IDX_FILES[0]
        raise DataError(f"{expected}: not found; {WHERE_HINT}")
    raise DataError(f"{key}: ships with scikit-learn and has no files to find")


def dataset_setting(text: str) -> str:
    """What ``--data TEXT`` sets ``train.dataset`` to: a built-in's canonical name, or the
    path of the user's own data (a folder, an ``.npz`` or a ``.csv``) as given.

    Raises:
        DataError: neither a dataset name nor a path.

    Example:
        >>> dataset_setting("CIFAR-10"), dataset_setting("data/flowers"), dataset_setting("x.npz")
        ('cifar10', 'data/flowers', 'x.npz')
    """
    from archdsl.data.user import is_user_source

    return text if is_user_source(text) else canonical_name(text)


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    verify: bool = True,
    download_missing: bool = False,
    progress: ProgressFn | None = None,
    images: ImageOptions | None = None,
    val_split: float = 0.1,
    cache: str | Path | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`, or the path of the user's own data) as
    NCHW arrays.

    A path (a folder of class subfolders, an ``.npz``, a CSV of ``path,label``) is read by
    :func:`archdsl.data.user.load_user_dataset` with ``images`` (how to decode image files;
    default 32×32 RGB) and ``val_split`` (the share held out when there is no test split).
    Built-ins and user data are decoded once into the cache (:mod:`archdsl.data.cache`;
    ``cache`` overrides its folder) and streamed from it by later runs.

    ``digits`` needs no files (it ships with scikit-learn). For the others the files are looked
    up under the data directory (see the module docstring); with ``download_missing=True`` they
    are downloaded there (checksum-verified) when absent. ``verify`` (the default) checks the
    decoded arrays against the datasets' known content hashes, so a corrupted or altered copy
    is refused; ``verify=False`` (``--no-verify``) skips it, for a deliberately modified copy.

    Raises:
        DataError: unknown name, missing or corrupt files, or a failed verification.

    Example:
        >>> ds = load_dataset("digits")  # doctest: +SKIP
        >>> ds.x_train.shape, ds.classes[0]  # doctest: +SKIP
        ((1438, 1, 8, 8), '0')
    """
    from archdsl.data.user import is_user_source, load_user_dataset

    if name not in DATASETS and is_user_source(name):
        options = images or ImageOptions((32, 32))
        return load_user_dataset(name, options, val_split=val_split, cache=cache,
                                 progress=progress)
    key = canonical_name(name)
    if key == "digits":
        return load_digits()
    try:
        path = find_dataset(key, data_dir)
    except DataError:
        if not download_missing:
            raise
        download(key, default_data_dir(data_dir), progress=progress)
        path = find_dataset(key, data_dir)
    return cached_builtin(key, path, lambda: _decode_builtin(key, path, verify),
                          {"verify": verify}, cache)


def _decode_builtin(key: str, path: Path, verify: bool) -> Dataset:
    if key == "cifar10":
        return load_cifar10(path, verify=verify)
    classes = MNIST_CLASSES if key == "mnist" else FASHION_MNIST_CLASSES
    return load_idx_dataset(path, key, classes, verify=verify)
