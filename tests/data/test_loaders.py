"""Dataset loaders, resolver, checksums and download: synthetic files plus the real datasets."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import pickle
import tarfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

from archdsl.data import (
    DATASET_SHAPES,
    DATASETS,
    DataError,
    Normalization,
    canonical_name,
    content_sha256,
    default_data_dir,
    download,
    download_file,
    find_dataset,
    load_cifar10,
    load_cifar10_batch,
    load_dataset,
    load_digits,
    parse_idx,
    read_idx,
    sources,
)
from archdsl.data.diskarray import DiskArray
from archdsl.data.safe_pickle import safe_loads
from archdsl.data.sources import IDX_FILES, RemoteFile, Source

# The real datasets, when ARCHDSL_DATA names a folder holding them (the layout load_dataset
# reads: mnist/, fashion-mnist/, cifar10/); the tests that need them skip otherwise.
SHARED = Path(os.environ.get("ARCHDSL_DATA") or "/nonexistent/ARCHDSL_DATA-unset")
CIFAR_ARCHIVE = SHARED / "cifar10" / "cifar-10-batches-py.tar.xz"


def need_shared(*parts: str) -> Path:
    """Return a path under $ARCHDSL_DATA, or skip the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real datasets not present: set ARCHDSL_DATA to a folder holding {path.name}")
    return path


# ----------------------------------------------------------------------------- synthetic files


def idx_bytes(arr: npt.NDArray[np.generic]) -> bytes:
    """Encode an array in the idx format (big-endian)."""
    types = (np.uint8, np.int8, None, np.int16, np.int32, np.float32, np.float64)
    codes = {np.dtype(t): 0x08 + k for k, t in enumerate(types) if t is not None}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx_set(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True) -> dict:
    """Write a tiny MNIST-like set of four idx files; return the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        IDX_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        IDX_FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        IDX_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        IDX_FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (folder / name).write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name.removesuffix(".gz")).write_bytes(data)
    return arrays


CIFAR_N = 6  # images per synthetic batch


def cifar_batch(seed: int, n: int = CIFAR_N) -> dict[bytes, object]:
    """A batch dict shaped like the official ones (protocol-2 pickle, bytes keys)."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"synthetic batch",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"{i:05d}.png".encode() for i in range(n)],
    }


def write_cifar_dir(folder: Path) -> dict[str, dict[bytes, object]]:
    """Write a synthetic cifar-10-batches-py folder; return its batches by name."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {name: cifar_batch(i) for i, name in enumerate(names)}
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [c.encode() for c in "abcdefghij"], b"num_cases_per_batch": CIFAR_N}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


def make_archive(folder: Path, dest: Path, mode: Literal["w:gz", "w:xz"]) -> Path:
    """Pack ``folder`` (as ``cifar-10-batches-py/``) into a tar archive."""
    with tarfile.open(dest, mode) as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return dest


class Evil:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


# ----------------------------------------------------------------------------- idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_parse_idx_round_trips_every_type(dtype: type) -> None:
    arr: npt.NDArray[np.generic] = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    out = parse_idx(idx_bytes(arr), "mem")
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_idx_bad_magic_and_size_raise(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not an idx file"):
        parse_idx(b"\x1f\x8b\x08\x00garbage", "x")
    good = idx_bytes(np.zeros((2, 3), np.uint8))
    with pytest.raises(DataError, match="truncated or corrupt"):
        parse_idx(good[:-1], "x")
    with pytest.raises(DataError, match="truncated or corrupt"):
        parse_idx(good + b"\x00", "x")


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path / "mnist")
    path = tmp_path / "mnist" / IDX_FILES[0]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path, verify=False)
    assert str(path) in str(info.value) and "truncated" in str(info.value)
    assert len(arrays) == 4


def test_missing_idx_file_names_path_and_remedy(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / IDX_FILES[3]).unlink()
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "mnist" / IDX_FILES[3]) in msg
    assert "ARCHDSL_DATA" in msg and "--download" in msg and "\n" not in msg


@pytest.mark.parametrize("gz", [True, False])
def test_synthetic_idx_dataset_loads_nchw(
    tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load decodes (read-only arrays in memory); the second streams the same
    numbers from the decode cache (a read-only DiskArray)."""
    monkeypatch.setenv("ARCHDSL_CACHE", str(tmp_path / "cache"))
    arrays = write_idx_set(tmp_path / "fashion-mnist", gz=gz)
    first = load_dataset("fashion-mnist", tmp_path, verify=False)
    assert isinstance(first.x_train, np.ndarray) and not first.x_train.flags.writeable
    again = load_dataset("fashion-mnist", tmp_path, verify=False)
    assert isinstance(again.x_train, DiskArray)
    with pytest.raises(TypeError, match="does not support item assignment"):
        again.x_train[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        again.x_train.setflags(write=True)
    for ds in (first, again):
        assert ds.name == "fashion_mnist" and ds.classes[0] == "T-shirt/top"
        assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
        assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
        np.testing.assert_array_equal(ds.x_train[:, 0], arrays[IDX_FILES[0]])
        np.testing.assert_array_equal(ds.y_test, arrays[IDX_FILES[3]])


def test_idx_label_count_mismatch(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist")
    labels = tmp_path / "mnist" / IDX_FILES[1]
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(DataError, match="labels to match"):
        load_dataset("mnist", tmp_path, verify=False)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope.gz")


# ----------------------------------------------------------------------------- cifar


@pytest.mark.parametrize("layout", ["folder", "xz", "gz"])
def test_synthetic_cifar_layouts_and_pixel_order(tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "src" / "cifar-10-batches-py"
    batches = write_cifar_dir(folder)
    if layout == "folder":
        source = folder
    elif layout == "xz":
        source = make_archive(folder, tmp_path / "cifar-10-batches-py.tar.xz", "w:xz")
    else:
        source = make_archive(folder, tmp_path / "cifar-10-python.tar.gz", "w:gz")
    ds = load_cifar10(source, verify=False)
    assert ds.x_train.shape == (5 * CIFAR_N, 3, 32, 32) and ds.x_test.shape == (CIFAR_N, 3, 32, 32)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.classes == tuple("abcdefghij")
    data = batches["data_batch_2"][b"data"]
    assert isinstance(data, np.ndarray)
    img = ds.x_train[CIFAR_N]  # first image of data_batch_2
    # R plane first, row by row: pixel (row 1, col 2) of G is at 1024 + 32 + 2.
    assert img[0, 0, 0] == data[0, 0] and img[1, 1, 2] == data[0, 1024 + 32 + 2]
    assert img[2, 31, 31] == data[0, 3071]
    assert ds.y_test.tolist() == batches["test_batch"][b"labels"]


def test_cifar_resolver_finds_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar_dir(tmp_path / "a" / "cifar10" / "cifar-10-batches-py")
    assert find_dataset("cifar10", tmp_path / "a").name == "cifar-10-batches-py"
    write_cifar_dir(tmp_path / "b" / "cifar-10-batches-py")
    assert find_dataset("CIFAR-10", tmp_path / "b") == tmp_path / "b" / "cifar-10-batches-py"
    make_archive(tmp_path / "b" / "cifar-10-batches-py", tmp_path / "c.tar.gz", "w:gz")
    (tmp_path / "d" / "cifar10").mkdir(parents=True)
    os.replace(tmp_path / "c.tar.gz", tmp_path / "d" / "cifar10" / "cifar-10-python.tar.gz")
    monkeypatch.setenv("ARCHDSL_DATA", str(tmp_path / "d"))
    assert find_dataset("cifar10").name == "cifar-10-python.tar.gz"
    assert load_dataset("cifar10", verify=False).x_train.shape[0] == 5 * CIFAR_N
    assert (
        find_dataset("cifar10", tmp_path / "b" / "cifar-10-batches-py").name
        == "cifar-10-batches-py"
    )


def test_malicious_pickle_is_refused_not_run(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_dir(folder)
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps(Evil(marker), protocol=2))
    with pytest.raises(DataError) as info:
        load_cifar10(folder)
    assert "data_batch_3" in str(info.value) and "forbidden" in str(info.value)
    time.sleep(0.05)
    assert not marker.exists()
    # The same payload inside an archive is refused too.
    with pytest.raises(DataError, match="forbidden"):
        load_cifar10(make_archive(folder, tmp_path / "evil.tar.xz", "w:xz"))
    assert not marker.exists()


def test_safe_loads_accepts_numpy_pickles_of_any_protocol() -> None:
    obj = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        out = safe_loads(pickle.dumps(obj, protocol=protocol), "mem")
        np.testing.assert_array_equal(out[b"data"], obj[b"data"])
    with pytest.raises(DataError, match="forbidden"):
        safe_loads(pickle.dumps(Path("x")), "mem")


def test_corrupt_cifar_archive_and_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_dir(folder)
    archive = make_archive(folder, tmp_path / "cifar-10-batches-py.tar.xz", "w:xz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError) as info:
        load_cifar10(archive)
    assert str(archive) in str(info.value) and "truncated" in str(info.value)
    (folder / "test_batch").write_bytes(pickle.dumps(cifar_batch(9), protocol=2)[:500])
    with pytest.raises(DataError, match="test_batch: corrupt pickle"):
        load_cifar10(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": [1, 2]}, protocol=2))
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        load_cifar10(folder)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch: not found"):
        load_cifar10(folder)


def test_cifar_verify_rejects_wrong_content(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_dir(folder)
    with pytest.raises(DataError, match="x_train has sha256.*--no-verify"):
        load_cifar10(folder)  # verification is the default


# ----------------------------------------------------------------------------- resolver, digits


def test_unknown_name_suggests_and_lists() -> None:
    with pytest.raises(DataError) as info:
        load_dataset("fashon_mnist")
    msg = str(info.value)
    assert "did you mean 'fashion_mnist'?" in msg
    assert all(name in msg for name in DATASETS)
    assert canonical_name("MNIST") == "mnist"


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHDSL_DATA", str(tmp_path / "env"))
    assert default_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert default_data_dir() == tmp_path / "env"
    monkeypatch.delenv("ARCHDSL_DATA")
    assert default_data_dir() == Path.home() / ".cache" / "archdsl"


def test_missing_dataset_message(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", tmp_path)
    assert str(tmp_path / "cifar10") in str(info.value) and "ARCHDSL_DATA" in str(info.value)


def test_digits_offline_default() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn not installed")
    ds = load_digits()
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_test.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.input_shape == DATASET_SHAPES["digits"]  # what the "does not fit" error lists
    again = load_dataset("digits")
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    # The split is a partition of all 1797 images.
    assert np.bincount(np.concatenate([ds.y_train, ds.y_test])).sum() == 1797
    assert not np.array_equal(load_digits(seed=1).y_test, ds.y_test)


# ----------------------------------------------------------------------------- real datasets


@pytest.mark.parametrize(
    ("name", "folder", "mean", "std"),
    [("mnist", "mnist", 0.1307, 0.3081), ("fashion_mnist", "fashion-mnist", 0.2860, 0.3530)],
)
def test_real_idx_datasets(name: str, folder: str, mean: float, std: float) -> None:
    need_shared(folder)
    ds = load_dataset(name, SHARED, verify=True)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert set(np.unique(ds.y_train).tolist()) == set(range(10))
    # Exact integer moments from the pixel histogram, no float copy of 47M pixels.
    # (x_train is a DiskArray when a previous load cached the decoded set: read it whole)
    hist = np.bincount(np.asarray(ds.x_train).ravel(), minlength=256).astype(np.int64)
    levels = np.arange(256, dtype=np.int64)
    n, sum_x, sum_x2 = int(hist.sum()), int(hist @ levels), int(hist @ levels**2)
    got_mean = sum_x / n / 255
    got_std = (sum_x2 / n - (sum_x / n) ** 2) ** 0.5 / 255
    assert abs(got_mean - mean) < 1e-4 and abs(got_std - std) < 1e-4


def test_real_cifar10_first_batch_fast() -> None:
    """``data_batch_1`` is the archive's first member: about 2 s instead of 13 s for all."""
    need_shared("cifar10", "cifar-10-batches-py.tar.xz")
    x, y = load_cifar10_batch(CIFAR_ARCHIVE, "data_batch_1")
    assert x.shape == (10000, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64
    assert y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # frog, truck, truck, deer, ...
    assert np.bincount(y).tolist() == [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    # One fifth of the training set: its channel means lie close to the full set's.
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)) / 255, [0.4914, 0.4822, 0.4465], atol=3e-3)


@pytest.mark.slow
def test_real_cifar10_full_content_and_stats() -> None:
    """The whole archive: 13-15 s here, nearly all xz decompression; hashes, counts, stats."""
    need_shared("cifar10", "cifar-10-batches-py.tar.xz")
    ds = load_dataset("cifar10", SHARED, verify=True)  # verify: the known content hashes
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_test.shape == (10000, 3, 32, 32)
    assert ds.classes[:3] == ("airplane", "automobile", "bird")
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert content_sha256(ds.y_test) == sources.CONTENT_SHA256["cifar10"]["y_test"]
    mean = ds.x_train.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=1e-4)
    norm = Normalization.from_data(ds.x_train)  # what the pipeline normalizes with
    np.testing.assert_allclose(norm.mean, [0.4914, 0.4822, 0.4465], atol=1e-4)
    np.testing.assert_allclose(norm.std, [0.2470, 0.2435, 0.2616], atol=1e-4)


# ----------------------------------------------------------------------------- download


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/served``; no proxy, nothing else."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_verifies_and_installs(
    tmp_path: Path, loopback_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, served = loopback_server
    arrays = write_idx_set(served)
    md5s = tuple(
        RemoteFile(f, hashlib.md5((served / f).read_bytes()).hexdigest()) for f in IDX_FILES
    )
    monkeypatch.setitem(
        sources.SOURCES, "mnist", Source(mirrors=("http://192.0.2.1/",), files=md5s, subdir="mnist")
    )
    calls: list[tuple[str, int, int | None]] = []
    data_dir = tmp_path / "data"
    folder = download("mnist", data_dir, base_url=base_url, progress=lambda *a: calls.append(a))
    assert folder == data_dir / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(IDX_FILES)  # no temp files left
    assert calls and calls[-1][1] == calls[-1][2] == (served / IDX_FILES[3]).stat().st_size
    ds = load_dataset("mnist", data_dir, verify=False)
    np.testing.assert_array_equal(ds.y_train, arrays[IDX_FILES[1]])
    # A second call finds the verified files and downloads nothing.
    calls.clear()
    download("mnist", data_dir, base_url=base_url, progress=lambda *a: calls.append(a))
    assert calls == []


def test_download_bad_checksum_leaves_nothing(
    tmp_path: Path, loopback_server: tuple[str, Path]
) -> None:
    base_url, served = loopback_server
    write_idx_set(served)
    dest = tmp_path / "data" / "mnist" / IDX_FILES[0]
    with pytest.raises(DataError) as info:
        download_file(base_url + IDX_FILES[0], dest, "0" * 32, "md5")
    assert "does not match" in str(info.value) and IDX_FILES[0] in str(info.value)
    assert list(dest.parent.iterdir()) == []
    good = hashlib.sha256((served / IDX_FILES[0]).read_bytes()).hexdigest()
    assert download_file(base_url + IDX_FILES[0], dest, good, "sha256") == dest
    assert dest.read_bytes() == (served / IDX_FILES[0]).read_bytes()
    with pytest.raises(DataError, match="download failed"):
        download_file(base_url + "missing.gz", dest.with_name("m.gz"), good, "sha256")
    assert sorted(p.name for p in dest.parent.iterdir()) == [IDX_FILES[0]]


def test_download_refuses_non_http(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="only http"):
        download_file(f"file://{tmp_path}/x", tmp_path / "y", "0" * 32)


def test_load_dataset_downloads_when_asked(
    tmp_path: Path, loopback_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, served = loopback_server
    write_idx_set(served)
    files = tuple(
        RemoteFile(f, hashlib.sha256((served / f).read_bytes()).hexdigest(), "sha256")
        for f in IDX_FILES
    )
    monkeypatch.setitem(
        sources.SOURCES, "fashion_mnist", Source((base_url,), files, "fashion-mnist")
    )
    with pytest.raises(DataError):
        load_dataset("fashion_mnist", tmp_path)
    ds = load_dataset("fashion_mnist", tmp_path, download_missing=True, verify=False)
    assert ds.x_train.shape == (12, 1, 28, 28)
    assert (tmp_path / "fashion-mnist" / IDX_FILES[0]).is_file()
