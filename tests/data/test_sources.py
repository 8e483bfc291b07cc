"""Datasets from the user's files (image folders, .npz, CSV), the decoded-data cache, streaming
from disk, and the crops done in numpy (issue 14, data part)."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archdsl.data import DataError, channel_stats, load_dataset
from archdsl.data.cache import open_entry
from archdsl.data.crops import CropBatches, streamed_stats
from archdsl.data.diskarray import DiskArray, write_npy
from archdsl.data.images import ImageOptions, center_crop, crop_resize, random_resized_crop_boxes
from archdsl.data.resolve import dataset_setting
from archdsl.data.user import load_user_dataset

PIL = pytest.importorskip("PIL.Image", reason="Pillow reads the image files")

CLASSES = ("cat", "dog", "eel")


def make_image(path: Path, value: int, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> None:
    """An image whose pixels encode its class (``value``) and which has some texture."""
    w, h = size
    rng = np.random.default_rng(value * 1000 + len(str(path)))
    arr = np.clip(value * 60 + rng.integers(0, 30, size=(h, w, 3)), 0, 255).astype(np.uint8)
    img = PIL.fromarray(arr, "RGB").convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def image_folder(root: Path, per_class: int = 6, split: bool = False) -> Path:
    for c, name in enumerate(CLASSES):
        for i in range(per_class):
            sub = "train/" if split else ""
            ext = "png" if i % 2 else "jpg"
            make_image(root / f"{sub}{name}/{i}.{ext}", c)
        if split:
            for i in range(2):
                make_image(root / f"test/{name}/t{i}.png", c)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ARCHDSL_CACHE", str(folder))
    return folder


OPTS = ImageOptions((8, 8), 3)


# ---------------------------------------------------------------------------- sources
def test_image_folder_with_a_validation_split(tmp_path: Path, cache: Path) -> None:
    ds = load_user_dataset(image_folder(tmp_path / "imgs"), OPTS, val_split=0.2)
    assert ds.classes == CLASSES and ds.x_train.shape == (14, 3, 8, 8) and ds.x_test.shape == (4, 3, 8, 8)
    assert ds.x_train.dtype == np.uint8 and sorted(np.bincount(np.r_[ds.y_train, ds.y_test])) == [6, 6, 6]
    x = np.asarray(ds.x_train)
    for label in range(3):  # the pixels still say which class an image is
        mean = x[ds.y_train == label].mean()
        assert label * 60 <= mean <= label * 60 + 30


def test_image_folder_with_its_own_test_split_and_grayscale(tmp_path: Path, cache: Path) -> None:
    ds = load_user_dataset(image_folder(tmp_path / "imgs", split=True), ImageOptions((6, 6), 1))
    assert ds.x_train.shape == (18, 1, 6, 6) and ds.x_test.shape == (6, 1, 6, 6)
    assert ds.y_test.tolist() == [0, 0, 1, 1, 2, 2]


def test_resize_crop_and_stretch(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "wide"
    make_image(root / "a/0.png", 0, size=(40, 10))
    make_image(root / "b/0.png", 1, size=(10, 40))
    crop = load_user_dataset(root, ImageOptions((8, 8), 3, resize=(16, 16)), val_split=0.5)
    assert crop.input_shape == (3, 16, 16)
    stretch = load_user_dataset(root, ImageOptions((8, 8), 3, fit="stretch"), val_split=0.5)
    assert stretch.input_shape == (3, 8, 8)


def test_csv_of_paths_and_labels(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "csvdata"
    rows = ["path,label,split"]
    for c, name in enumerate(CLASSES):
        for i in range(4):
            make_image(root / "img" / f"{name}{i}.png", c)
            rows.append(f"img/{name}{i}.png,{name},{'test' if i == 3 else 'train'}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    ds = load_user_dataset(root / "list.csv", OPTS)
    assert ds.classes == CLASSES and len(ds.y_train) == 9 and len(ds.y_test) == 3
    (root / "plain.csv").write_text("".join(f"img/{n}{i}.png,{c}\n" for c, n in enumerate(CLASSES) for i in range(4)))
    plain = load_user_dataset(root / "plain.csv", OPTS, val_split=0.25)
    assert plain.classes == ("0", "1", "2") and len(plain.y_train) + len(plain.y_test) == 12


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "nhw", "float"])
def test_npz_layouts(tmp_path: Path, cache: Path, layout: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(20, 3, 5, 7), dtype=np.uint8)
    channels = 3
    stored: Any = x
    if layout == "nhwc":
        stored = x.transpose(0, 2, 3, 1)
    elif layout == "nhw":
        x, channels = x[:, :1], 1
        stored = x[:, 0]
    elif layout == "float":
        stored = x / 255.0
    np.savez(tmp_path / "d.npz", x=stored, y=np.arange(20) % 4, x_test=stored[:5], y_test=np.arange(5) % 4)
    ds = load_user_dataset(tmp_path / "d.npz", ImageOptions((5, 7), channels))
    assert ds.x_train.shape == (20, channels, 5, 7) and ds.x_test.shape == (5, channels, 5, 7)
    expect = (x / 255.0).astype(np.float32) if layout == "float" else x
    np.testing.assert_array_equal(np.asarray(ds.x_train), expect)
    assert ds.classes == ("0", "1", "2", "3")


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 4, 4))}, "needs arrays 'x' and 'y'"),
    ({"x": np.zeros((3, 4, 4)), "y": np.array([0, -1, 2])}, "labels 0, 1, 2"),
    ({"x": np.zeros((3, 4, 4)), "y": np.array([0.5, 1, 2])}, "whole-number labels"),
    ({"x": np.zeros((3, 4)), "y": np.arange(3)}, "must be (N, H, W)"),
    ({"x": np.zeros((4, 4, 4)), "y": np.arange(3)}, "N = 3 labels"),
    ({"x": np.full((3, 4, 4), 2.0), "y": np.arange(3)}, "floats outside [0, 1]"),
    ({"x": np.full((3, 4, 4), np.nan), "y": np.arange(3)}, "floats outside [0, 1]"),
])
def test_bad_npz_is_a_data_error(tmp_path: Path, cache: Path, arrays: dict[str, Any], message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_user_dataset(tmp_path / "bad.npz", ImageOptions((4, 4), 1))


def test_bad_images_and_csvs_name_the_file(tmp_path: Path, cache: Path) -> None:
    root = image_folder(tmp_path / "imgs", per_class=2)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=r"broken.png: not a readable image"):
        load_user_dataset(root, OPTS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders"):
        load_user_dataset(tmp_path / "empty", OPTS)
    (tmp_path / "bad.csv").write_text("path,label\nmissing.png,cat\n")
    with pytest.raises(DataError, match="missing.png is not a file"):
        load_user_dataset(tmp_path / "bad.csv", OPTS)
    with pytest.raises(DataError, match="not found"):
        load_user_dataset(tmp_path / "nope", OPTS)


def test_dataset_setting_tells_names_from_paths() -> None:
    assert dataset_setting("Fashion-MNIST") == "fashion_mnist"
    assert dataset_setting("./imgs") == "./imgs" and dataset_setting("d.npz") == "d.npz"
    with pytest.raises(DataError, match="did you mean 'cifar10'"):
        dataset_setting("cifar")


# ---------------------------------------------------------------------------- the cache
def test_decoded_once_then_streamed_from_the_cache(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = image_folder(tmp_path / "imgs")
    first = load_user_dataset(root, OPTS)
    import archdsl.data.user as user

    def no_decoding(*a: Any, **k: Any) -> Any:
        raise AssertionError("decoded again")

    monkeypatch.setattr(user, "decode_image", no_decoding)
    again = load_user_dataset(root, OPTS)
    assert isinstance(again.x_train, DiskArray)
    np.testing.assert_array_equal(np.asarray(first.x_train), np.asarray(again.x_train))
    np.testing.assert_array_equal(first.y_test, again.y_test)
    make_image(root / "cat" / "0.jpg", 2)  # a changed file is a new entry, decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        load_user_dataset(root, OPTS)
    with pytest.raises(AssertionError, match="decoded again"):  # so are other options
        load_user_dataset(image_folder(tmp_path / "imgs2"), ImageOptions((6, 6), 3))


def test_a_damaged_entry_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    root = image_folder(tmp_path / "imgs")
    load_user_dataset(root, OPTS)
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    (entry / "x_train.npy").write_bytes(b"\x93NUMPY garbage")
    assert open_entry(entry) is None
    assert load_user_dataset(root, OPTS).x_train.shape == (16, 3, 8, 8)


def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


def test_builtins_are_cached_too(tmp_path: Path, cache: Path) -> None:
    """MNIST-format files (generated, so --no-verify): the second load streams from the cache."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 30), ("t10k", 10)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(rng.integers(0, 255, (n, 28, 28)))))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(rng.integers(0, 10, n))))
    first = load_dataset("mnist", tmp_path / "data", verify=False)
    assert not isinstance(first.x_train, DiskArray)
    second = load_dataset("mnist", tmp_path / "data", verify=False)
    assert isinstance(second.x_train, DiskArray) and second.classes == first.classes
    np.testing.assert_array_equal(np.asarray(second.x_train), first.x_train)
    memo = json.loads((cache / "sources.json").read_text())
    assert len(memo) == 4  # content hashes remembered by stat: later runs only stat the files


def test_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHDSL_CACHE", "off")
    with pytest.raises(DataError, match="ARCHDSL_CACHE=off"):
        load_user_dataset(image_folder(tmp_path / "imgs"), OPTS)


# ---------------------------------------------------------------------------- streaming
def test_disk_array_reads_like_numpy(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 255, size=(50, 3, 4, 4), dtype=np.uint8)
    write_npy(tmp_path / "x.npy", x.shape, x.dtype, [x[:20], x[20:]])
    d = DiskArray.open(tmp_path / "x.npy")
    idx = np.random.default_rng(1).permutation(50)[:17]
    np.testing.assert_array_equal(d[idx], x[idx])
    np.testing.assert_array_equal(d[[3, 4, 5, 3]], x[[3, 4, 5, 3]])
    view = d[10:40].select(np.array([0, 29, 5]))
    np.testing.assert_array_equal(np.asarray(view), x[10:40][[0, 29, 5]])
    np.testing.assert_array_equal(d[-1], x[-1])
    np.testing.assert_array_equal(d[:, 1], x[:, 1])
    assert len(d) == 50 and d.nbytes == x.nbytes
    assert streamed_stats(d) == channel_stats(x)


STREAM = """
import resource, sys, numpy as np
from archdsl.data import Batches, Normalization
from archdsl.data.diskarray import DiskArray
from archdsl.data.crops import streamed_stats
x = DiskArray.open(sys.argv[1])
y = np.zeros(len(x), np.int64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
norm = Normalization(*streamed_stats(x))
for xb, yb in Batches(x, y, 64, seed=0, flip=True, crop_padding=2, normalization=norm).epoch(0):
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_an_epoch_streams_with_bounded_memory(tmp_path: Path) -> None:
    """A 200 MB cached dataset: an epoch of the shared pipeline (shuffled, flipped, cropped,
    normalized) grows the process by far less than the data (bench/data_stream.py: 2 GB)."""
    n, shape = 16000, (3, 64, 64)
    rng = np.random.default_rng(0)
    chunks = (rng.integers(0, 255, size=(1000, *shape), dtype=np.uint8) for _ in range(n // 1000))
    write_npy(tmp_path / "x.npy", (n, *shape), np.uint8, chunks)
    out = subprocess.run([sys.executable, "-c", STREAM, str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    grown = int(out.stdout.strip())
    assert grown < 60 * 2**20, f"grew {grown / 2**20:.0f} MB over a {n * np.prod(shape) / 2**20:.0f} MB dataset"


# ---------------------------------------------------------------------------- crops
def test_crops_are_seeded_and_cut_to_size() -> None:
    x = np.random.default_rng(0).integers(0, 255, size=(6, 3, 12, 12), dtype=np.uint8)
    kw: dict[str, Any] = {"size": (8, 8), "crop": "random", "seed": 3, "scale": (0.3, 1.0)}
    a = [xb for xb, _ in CropBatches(x, np.arange(6), 4, **kw).epoch(1)]
    b = [xb for xb, _ in CropBatches(x, np.arange(6), 4, **kw).epoch(1)]
    c = [xb for xb, _ in CropBatches(x, np.arange(6), 4, **kw).epoch(2)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b)) and not np.array_equal(a[0], c[0])
    assert a[0].shape == (4, 3, 8, 8)
    centre = [xb for xb, _ in CropBatches(x, np.arange(6), 6, size=(8, 8), crop="center", shuffle=False).epoch(0)]
    np.testing.assert_allclose(centre[0], x[:, :, 2:10, 2:10] / 255.0, rtol=1e-6)
    boxes = random_resized_crop_boxes(np.random.default_rng(0), 100, 12, 20, (0.1, 0.5), (0.5, 2.0))
    area = boxes[:, 2] * boxes[:, 3] / 240
    assert (boxes[:, 0] + boxes[:, 2] <= 12).all() and (boxes[:, 1] + boxes[:, 3] <= 20).all()
    assert area.min() > 0.05 and area.max() < 0.6
    whole = crop_resize(x[:1], np.array([[0, 0, 12, 12]]), (12, 12))
    np.testing.assert_allclose(whole, x[:1])  # the identity crop changes nothing
    assert center_crop(x, (12, 12)).shape == x.shape
