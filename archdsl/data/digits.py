"""scikit-learn's bundled 8x8 digits: the offline default dataset (no files, no network).

Example:
    >>> ds = load_digits()
    >>> ds.x_train.shape, ds.x_test.shape, ds.x_train.dtype
    ((1438, 1, 8, 8), (359, 1, 8, 8), dtype('float32'))
"""

from __future__ import annotations

import numpy as np

from archdsl.data.dataset import Dataset
from archdsl.data.errors import DataError

DIGITS_CLASSES = tuple(str(i) for i in range(10))


def load_digits(*, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Load the 1,797 digits as ``(N, 1, 8, 8)`` float32 in ``[0, 1]`` (pixels divided by 16).

    The split is a seeded permutation: the first ``round(test_fraction * N)`` shuffled samples are
    the test set, the rest the training set, so the same ``seed`` always gives the same split.

    Raises:
        DataError: scikit-learn is not installed.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1). Received: {test_fraction}")
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DataError(
            "scikit-learn is not installed, and the digits dataset ships with it; "
            "run `pip install scikit-learn` (or `pip install archdsl[train]`)"
        ) from None
    bunch = sk_load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None, :, :]
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", x[train], y[train], x[test], y[test], DIGITS_CLASSES)
