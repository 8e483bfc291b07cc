"""Where each dataset's files come from, and the checksums that prove they are the real ones.

Two kinds of checksum:

* **file checksums** (md5 as published by the dataset authors) verify a downloaded file before
  it is moved into the data directory;
* **content hashes** (sha256 of the decoded arrays' C-order ``uint8`` bytes, images in NHWC
  order as the datasets are published) verify what a loader decoded. They are what proves a
  local copy genuine when its files differ from the official ones (the CIFAR-10 copies used in
  development have placeholder ``filenames`` entries, so their batch md5s differ).

Example:
    >>> SOURCES["mnist"].files[0].name
    'train-images-idx3-ubyte.gz'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file and its published checksum (``algorithm`` is md5 or sha256)."""

    name: str
    checksum: str
    algorithm: str = "md5"


@dataclass(frozen=True)
class Source:
    """The mirrors (base URLs, tried in order) and files of one dataset."""

    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    subdir: str  # the folder under the data directory the files are downloaded into


IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

SOURCES: dict[str, Source] = {
    "mnist": Source(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://yann.lecun.com/exdb/mnist/",
        ),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
        subdir="mnist",
    ),
    "fashion_mnist": Source(
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        subdir="fashion-mnist",
    ),
    "cifar10": Source(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        subdir="cifar10",
    ),
}

#: sha256 of the decoded arrays (C order, uint8; images NHWC), per dataset and array name.
CONTENT_SHA256: dict[str, dict[str, str]] = {
    "cifar10": {
        "x_train": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
        "y_train": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
        "x_test": "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
        "y_test": "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5",
    },
    # Computed from the official (md5-verified) idx files.
    "mnist": {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
    "fashion_mnist": {
        "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
}

#: The shapes of those arrays (images NHWC, as published): a header that disagrees is refused
#: before its data is read.
KNOWN_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "cifar10": {"x_train": (50000, 32, 32, 3), "y_train": (50000,),
                "x_test": (10000, 32, 32, 3), "y_test": (10000,)},
    "mnist": {"x_train": (60000, 28, 28), "y_train": (60000,),
              "x_test": (10000, 28, 28), "y_test": (10000,)},
    "fashion_mnist": {"x_train": (60000, 28, 28), "y_train": (60000,),
                      "x_test": (10000, 28, 28), "y_test": (10000,)},
}  # fmt: skip
