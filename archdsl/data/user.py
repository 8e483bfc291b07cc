"""The user's own data: a folder of class subfolders, an ``.npz``, or a CSV of image paths.

:func:`load_user_dataset` reads any of the three, decodes it **once** into the cache
(:mod:`archdsl.data.cache`) and returns a :class:`~archdsl.data.Dataset` streamed from there:

* **a folder**: ``DIR/<class>/*.png|jpg|jpeg`` (classes sorted by name, as torchvision's
  ``ImageFolder``), or ``DIR/train/<class>/...`` with ``DIR/test/<class>/...`` (or ``val/``)
  as the test split;
* **an .npz**: arrays ``x`` and ``y`` (and optionally ``x_test``, ``y_test``); images
  ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` (told apart by the spec's channel count),
  uint8 pixels or floats in ``[0, 1]``; labels whole numbers from 0;
* **a CSV**: rows ``path,label`` (a header row is allowed; a ``split`` column with
  ``train``/``test`` gives the test split), paths relative to the CSV's folder.

Without a test split a seeded share of the images (``val_split``) is held out. Images are
decoded as :class:`~archdsl.data.images.ImageOptions` says (size, channels, resize, fit).

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> np.savez(root / "toy.npz", x=np.zeros((10, 4, 4), np.uint8), y=np.arange(10) % 2)
    >>> ds = load_user_dataset(root / "toy.npz", ImageOptions((4, 4), 1), cache=root / "c")
    >>> ds.name, ds.x_train.shape, ds.x_test.shape, ds.classes
    ('toy', (9, 1, 4, 4), (1, 1, 4, 4), ('0', '1'))
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np

from archdsl.data.cache import (
    cache_key,
    cache_root,
    check_free_space,
    open_entry,
    source_digest,
    store_entry,
)
from archdsl.data.dataset import Dataset
from archdsl.data.download import ProgressFn
from archdsl.data.errors import DataError
from archdsl.data.images import IMAGE_SUFFIXES, ImageOptions, decode_image

#: Most CSV rows or image files one dataset may list.
MAX_IMAGES = 10_000_000
_CHUNK_ROWS = 512


def is_user_source(text: str) -> bool:
    """Whether a dataset setting names files (a path) rather than a built-in dataset."""
    return "/" in text or "\\" in text or text.endswith((".npz", ".csv")) or Path(text).exists()


def load_user_dataset(path: str | Path, options: ImageOptions, *, val_split: float = 0.1,
                      cache: str | Path | None = None, progress: ProgressFn | None = None
                      ) -> Dataset:
    """Read the user's dataset at ``path`` (see the module docs), through the cache.

    Raises:
        DataError: missing, unreadable or inconsistent files (the message names the file).
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise DataError(f"{source}: not found (a folder of class subfolders, an .npz or a .csv)")
    if source.is_dir():
        kind, files, items = "folder", *_folder_items(source)
    elif source.suffix.lower() == ".npz":
        kind, files, items = "npz", [source], None
    elif source.suffix.lower() == ".csv":
        kind, files, items = "csv", *_csv_items(source)
    else:
        raise DataError(f"{source}: expected a folder, an .npz or a .csv file")
    root = cache_root(cache)
    options_key = options.key() if kind != "npz" else {"channels": options.channels}
    key = cache_key(kind, source_digest(files, root), options_key)
    if root is not None:
        found = open_entry(root / key, val_split=val_split)
        if found is not None:
            return found
    if root is None:
        raise DataError(f"{source}: user datasets are decoded into the cache, which "
                        "ARCHDSL_CACHE=off turned off; set ARCHDSL_CACHE to a folder")
    name = source.stem or source.name
    if kind == "npz":
        arrays, classes = _npz_arrays(source, options, root)
    else:
        assert items is not None
        arrays, classes = _image_arrays(items, options, root, progress)
    folder = store_entry(root, key, name, classes, arrays, source=str(source), kind=kind)
    loaded = open_entry(folder, val_split=val_split)
    if loaded is None:  # pragma: no cover - just written
        raise DataError(f"{folder}: the cache entry just written cannot be read")
    return loaded


# ---------------------------------------------------------------------------- listing
Items = dict[str, tuple[list[Path], list[int]]]  # split → (files, labels)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith(".") and p.is_file())


def _folder_items(root: Path) -> tuple[list[Path], tuple[Items, list[str]]]:
    train_dir = root / "train" if (root / "train").is_dir() else root
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir()
                     and not p.name.startswith(".") and _images_in(p))
    if not classes:
        raise DataError(f"{train_dir}: no class subfolders with .png/.jpg/.jpeg images "
                        "(expected DIR/<class>/<image>)")
    items: Items = {"train": _class_files(train_dir, classes)}
    if test_dir is not None and train_dir != root:
        extra = sorted(p.name for p in test_dir.iterdir() if p.is_dir()
                       and _images_in(p) and p.name not in classes)
        if extra:
            raise DataError(f"{test_dir}: classes {extra[:5]} have no training images in "
                            f"{train_dir}")
        items["test"] = _class_files(test_dir, classes)
    files = [f for fs, _ in items.values() for f in fs]
    if len(files) > MAX_IMAGES:
        raise DataError(f"{root}: more than {MAX_IMAGES:,} images")
    return files, (items, classes)


def _class_files(folder: Path, classes: Sequence[str]) -> tuple[list[Path], list[int]]:
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        if (folder / name).is_dir():
            found = _images_in(folder / name)
            files += found
            labels += [index] * len(found)
    return files, labels


def _csv_items(path: Path) -> tuple[list[Path], tuple[Items, list[str]]]:
    rows = _csv_rows(path)
    labels_text = [r[1] for r in rows]
    if all(t.lstrip("-").isdigit() for t in labels_text):
        values = [int(t) for t in labels_text]
        if min(values) < 0:
            raise DataError(f"{path}: labels must be >= 0 (found {min(values)})")
        classes = [str(i) for i in range(max(values) + 1)]
        index = values
    else:
        classes = sorted(set(labels_text))
        lookup = {c: i for i, c in enumerate(classes)}
        index = [lookup[t] for t in labels_text]
    items: Items = {}
    for (file_text, _, split_name), label in zip(rows, index):
        split_key = "test" if split_name in ("test", "val", "validation") else "train"
        files, labels = items.setdefault(split_key, ([], []))
        files.append(_csv_path(path, file_text))
        labels.append(label)
    if "train" not in items:
        raise DataError(f"{path}: no training rows")
    files = [f for fs, _ in items.values() for f in fs]
    return [path, *files], (items, classes)


def _csv_rows(path: Path) -> list[tuple[str, str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            table = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable CSV ({type(exc).__name__}: {exc})") from None
    split_col = None
    if table and [c.strip().lower() for c in table[0][:2]] == ["path", "label"]:
        header = [c.strip().lower() for c in table[0]]
        split_col = header.index("split") if "split" in header else None
        table = table[1:]
    if not table:
        raise DataError(f"{path}: no rows (expected path,label)")
    if len(table) > MAX_IMAGES:
        raise DataError(f"{path}: more than {MAX_IMAGES:,} rows")
    rows = []
    for n, r in enumerate(table, 1):
        if len(r) < 2:
            raise DataError(f"{path}: row {n}: expected path,label, received {r[:3]}")
        split_name = r[split_col].strip().lower() if split_col is not None and len(r) > split_col \
            else "train"
        rows.append((r[0].strip(), r[1].strip(), split_name))
    return rows


def _csv_path(csv_path: Path, text: str) -> Path:
    path = Path(text)
    path = path if path.is_absolute() else csv_path.parent / path
    if not path.is_file():
        raise DataError(f"{csv_path}: the image {path} is not a file")
    return path


# ---------------------------------------------------------------------------- decoding
def _image_arrays(items: tuple[Items, list[str]], options: ImageOptions, root: Path,
                  progress: ProgressFn | None) -> tuple[dict[str, Any], list[str]]:
    splits, classes = items
    c, (h, w) = options.channels, options.decode_size
    total = sum(len(files) for files, _ in splits.values())
    check_free_space(root, total * c * h * w, "the images")
    arrays: dict[str, Any] = {}
    done = [0]
    for split_name, (files, labels) in splits.items():
        shape = (len(files), c, h, w)
        arrays[f"x_{split_name}"] = (shape, np.uint8,
                                     _decoded(files, options, done, total, progress))
        arrays[f"y_{split_name}"] = np.asarray(labels, dtype=np.int64)
    return arrays, classes


def _decoded(files: Sequence[Path], options: ImageOptions, done: list[int], total: int,
             progress: ProgressFn | None) -> Iterator[np.ndarray]:
    """The decoded images in order, a chunk at a time (decoded by a thread pool: Pillow
    releases the GIL while it decodes)."""
    with ThreadPoolExecutor() as pool:
        for start in range(0, len(files), _CHUNK_ROWS):
            chunk = files[start:start + _CHUNK_ROWS]
            yield np.stack(list(pool.map(lambda f: decode_image(f, options), chunk)))
            done[0] += len(chunk)
            if progress is not None:
                progress("decoding images", done[0], total)


def _npz_arrays(path: Path, options: ImageOptions, root: Path
                ) -> tuple[dict[str, Any], list[str]]:
    """The arrays of an .npz, streamed member by member into NCHW (bounded memory)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    names = {n.removesuffix(".npy") for n in archive.namelist()}
    if not {"x", "y"} <= names:
        raise DataError(f"{path}: an .npz dataset needs arrays 'x' and 'y' (optionally "
                        f"'x_test', 'y_test'); it holds {sorted(names)[:8]}")
    has_test = {"x_test", "y_test"} <= names
    arrays: dict[str, Any] = {}
    labels = []
    for split_name, xk, yk in (("train", "x", "y"), ("test", "x_test", "y_test")):
        if split_name == "test" and not has_test:
            continue
        y = _npz_labels(archive, path, yk)
        x_shape, x_dtype, chunks = _npz_images(archive, path, xk, options.channels, len(y))
        check_free_space(root, math.prod(x_shape) * np.dtype(x_dtype).itemsize, str(path))
        arrays[f"x_{split_name}"] = (x_shape, x_dtype, chunks)
        arrays[f"y_{split_name}"] = y
        labels.append(y)
    top = max(int(v.max()) for v in labels if v.size)
    return arrays, [str(i) for i in range(top + 1)]


def _member(archive: zipfile.ZipFile, name: str) -> IO[bytes]:
    return archive.open(name + ".npy")


def _npz_header(fh: IO[bytes], path: Path, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    try:
        version = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read(fh)
    except ValueError as exc:
        raise DataError(f"{path}: array '{name}' is not a numpy array ({exc})") from None
    if fortran or dtype.hasobject:
        raise DataError(f"{path}: array '{name}' must be a C-order numeric array")
    return tuple(shape), dtype


def _npz_labels(archive: zipfile.ZipFile, path: Path, name: str) -> np.ndarray:
    with _member(archive, name) as fh:
        shape, dtype = _npz_header(fh, path, name)
        if len(shape) != 1 or shape[0] > MAX_IMAGES:
            raise DataError(f"{path}: '{name}' must be a 1-D array of labels, it is {shape}")
        y = np.frombuffer(fh.read(shape[0] * dtype.itemsize), dtype=dtype)
    if y.size != shape[0]:
        raise DataError(f"{path}: '{name}' is truncated")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(f"{path}: '{name}' must hold whole-number labels")
    if y.dtype.kind not in "iuf" or (y.size and y.min() < 0):
        raise DataError(f"{path}: '{name}' must hold labels 0, 1, 2, ...")
    return y.astype(np.int64)


def _npz_images(archive: zipfile.ZipFile, path: Path, name: str, channels: int, n: int
                ) -> tuple[tuple[int, ...], Any, Iterator[np.ndarray]]:
    with _member(archive, name) as fh:
        shape, dtype = _npz_header(fh, path, name)
    if dtype.kind not in "uif" or shape[:1] != (n,) or len(shape) not in (3, 4):
        raise DataError(f"{path}: '{name}' must be (N, H, W), (N, C, H, W) or (N, H, W, C) "
                        f"numbers with N = {n} labels; it is {shape} {dtype}")
    layout = "nhw" if len(shape) == 3 else _layout(shape, channels)
    out_dtype = np.uint8 if dtype == np.uint8 else np.float32
    c = 1 if layout == "nhw" else (shape[1] if layout == "nchw" else shape[3])
    hw = shape[1:3] if layout in ("nhw", "nhwc") else shape[2:4]
    target = (n, c, *hw)

    def chunks() -> Iterator[np.ndarray]:
        row = math.prod(shape[1:]) * dtype.itemsize
        with _member(archive, name) as fh:
            _npz_header(fh, path, name)
            for start in range(0, n, _CHUNK_ROWS):
                count = min(_CHUNK_ROWS, n - start)
                raw = fh.read(count * row)
                if len(raw) != count * row:
                    raise DataError(f"{path}: '{name}' is truncated")
                block = np.frombuffer(raw, dtype=dtype).reshape(count, *shape[1:])
                yield _to_nchw(block, layout, path, name).astype(out_dtype, copy=False)

    return target, out_dtype, chunks()


def _layout(shape: tuple[int, ...], channels: int) -> str:
    first, last = shape[1] == channels, shape[3] == channels
    if first and not last:
        return "nchw"
    if last and not first:
        return "nhwc"
    return "nchw" if shape[2] == shape[3] else "nhwc"


def _to_nchw(block: np.ndarray, layout: str, path: Path, name: str) -> np.ndarray:
    if block.dtype.kind == "f" and not (np.isfinite(block).all() and block.min() >= 0
                                        and block.max() <= 1):
        raise DataError(f"{path}: '{name}' holds floats outside [0, 1] (or NaN); store uint8 "
                        "pixels or floats scaled to [0, 1]")
    if layout == "nhw":
        return block[:, None]
    return block.transpose(0, 3, 1, 2) if layout == "nhwc" else block


__all__ = ["MAX_IMAGES", "is_user_source", "load_user_dataset"]
