"""The in-memory dataset every loader returns: layout-neutral NCHW numpy arrays.

Example:
    >>> import numpy as np
    >>> from archdsl.data.dataset import Dataset
    >>> ds = Dataset("toy", np.zeros((4, 1, 2, 2), np.uint8), np.arange(4),
    ...              np.zeros((2, 1, 2, 2), np.uint8), np.arange(2), ("a", "b", "c", "d"))
    >>> ds.input_shape, ds.num_classes
    ((1, 2, 2), 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split with images as ``(N, C, H, W)`` arrays and integer labels.

    ``x_*`` are ``uint8`` (raw pixels) or ``float32`` in ``[0, 1]``; ``y_*`` are ``int64`` class
    indices into ``classes``. The arrays are made read-only so a pipeline cannot modify the data
    that another framework's pipeline will read next.
    """

    name: str
    x_train: npt.NDArray[np.generic]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.generic]
    y_test: npt.NDArray[np.int64]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if x.ndim != 4:
                raise ValueError(
                    f"{self.name}: x_{split} must be (N, C, H, W). Received: {x.shape}"
                )
            if y.shape != (x.shape[0],):
                raise ValueError(
                    f"{self.name}: y_{split} must have shape ({x.shape[0]},). Received: {y.shape}"
                )
            if y.dtype != np.int64:
                raise ValueError(f"{self.name}: y_{split} must be int64. Received: {y.dtype}")
            if x.dtype not in (np.uint8, np.float32):
                raise ValueError(
                    f"{self.name}: x_{split} must be uint8 or float32. Received: {x.dtype}"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"{self.name}: train and test images differ in shape. "
                f"Received: {self.x_train.shape[1:]} and {self.x_test.shape[1:]}"
            )
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test):
            arr.setflags(write=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The layout-neutral shape of one image, ``(C, H, W)``."""
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.x_train.shape} {self.x_train.dtype}, "
            f"test={self.x_test.shape} {self.x_test.dtype}, classes={self.num_classes})"
        )
