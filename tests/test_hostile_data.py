"""Hostile dataset files (issue 15): headers and compressed streams are bounded before anything
is allocated, special files are refused, and the built-in datasets are verified by content.

The tests with the real MNIST files run when ARCHDSL_DATA names a folder holding them (the
layout ``load_dataset`` reads) and skip with the reason otherwise.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from archdsl.data import DataError, load_dataset, parse_idx, read_idx
from archdsl.data import cifar as cifar_module
from archdsl.data.sources import IDX_FILES


def idx_header(dims: list[int], code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def gzip_bomb(header: bytes, zeros: int) -> bytes:
    """``header`` followed by ``zeros`` zero bytes, gzip-compressed (about 1000:1)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [comp.compress(header)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        out.append(comp.compress(chunk))
    out.append(comp.flush())
    return b"".join(out)


def test_header_of_65536_to_the_4_is_refused_before_allocating(tmp_path):
    header = idx_header([65536] * 4)
    with pytest.raises(DataError, match=r"asks for 18446744073709551616 bytes"):
        read_idx(_write(tmp_path / "a.idx", header + bytes(100)))
    with pytest.raises(DataError, match=r"header \(65536, 65536, 65536, 65536\) needs"):
        parse_idx(header + bytes(100), "mem")
    with pytest.raises(DataError, match="claims 200 dimensions"):
        parse_idx(bytes([0, 0, 8, 200]) + bytes(800), "mem")


def test_gzip_bomb_is_decompressed_only_up_to_its_header(tmp_path):
    bomb = _write(tmp_path / "train-images-idx3-ubyte.gz",
                  gzip_bomb(idx_header([100, 28, 28]), 256 << 20))
    assert bomb.stat().st_size < 1_000_000  # 256 MB of zeros
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DataError, match=r"idx data has more bytes, header \(100, 28, 28\)"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"peak {peak / 2**20:.0f} MiB"
    assert time.perf_counter() - start < 5


def test_gzip_bomb_with_a_huge_header_is_refused_at_once(tmp_path):
    bomb = _write(tmp_path / "x.gz", gzip_bomb(idx_header([2**31, 2**20]), 64 << 20))
    with pytest.raises(DataError, match="more than the 536870912 an idx file may hold"):
        read_idx(bomb)


def test_known_shape_is_checked_before_the_data(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write(folder / IDX_FILES[0], gzip_bomb(idx_header([12, 28, 28]), 64 << 20))
    for name in IDX_FILES[1:]:
        _write(folder / name, gzip.compress(idx_header([12]) + bytes(12)))
    with pytest.raises(DataError, match=r"says shape \(12, 28, 28\), expected \(60000, 28, 28\)"
                       ".*--no-verify"):
        load_dataset("mnist", tmp_path)


def test_truncated_header_and_special_files(tmp_path):
    with pytest.raises(DataError, match="truncated idx header"):
        read_idx(_write(tmp_path / "t.idx", bytes([0, 0, 8, 3, 0, 0])))
    os.mkfifo(tmp_path / "fifo.idx")
    with pytest.raises(DataError, match="not a regular file"):
        read_idx(tmp_path / "fifo.idx")
    with pytest.raises(DataError, match="not a regular file"):
        read_idx("/dev/zero")


def test_cifar_archive_scanning_is_bounded(tmp_path, monkeypatch):
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(30):
            data = bytes(4096)
            info = tarfile.TarInfo(f"cifar-10-batches-py/junk_{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(cifar_module, "_MAX_MEMBERS", 10)
    with pytest.raises(DataError, match="holds more than any CIFAR-10 copy"):
        cifar_module.read_members(archive, ["data_batch_1"])
    monkeypatch.setattr(cifar_module, "_MAX_MEMBERS", 10_000)
    monkeypatch.setattr(cifar_module, "_MAX_ARCHIVE_BYTES", 50_000)
    with pytest.raises(DataError, match="holds more than any CIFAR-10 copy"):
        cifar_module.read_members(archive, ["data_batch_1"])


def test_cifar_folder_batch_that_is_a_fifo(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    os.mkfifo(folder / "data_batch_1")
    with pytest.raises(DataError, match="data_batch_1: not a regular file"):
        cifar_module.read_members(folder, ["data_batch_1"])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ the real MNIST, altered
def real_mnist() -> Path:
    root = os.environ.get("ARCHDSL_DATA")
    folder = Path(root) / "mnist" if root else None
    if folder is None or not (folder / IDX_FILES[0]).is_file():
        pytest.skip("set ARCHDSL_DATA to a folder holding mnist/ (the real idx files)")
    return folder


def test_flipped_pixel_in_mnist_train_is_refused(tmp_path):
    source = real_mnist()
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in IDX_FILES[1:]:
        shutil.copy(source / name, folder / name)
    raw = bytearray(gzip.decompress((source / IDX_FILES[0]).read_bytes()))
    raw[16 + 28 * 28 * 123 + 400] ^= 0xFF  # one pixel of image 123
    (folder / IDX_FILES[0]).write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    with pytest.raises(DataError, match=r"decoded mnist x_train has sha256 .* expected "
                       r"741c988805d008ac.*--no-verify"):
        load_dataset("mnist", tmp_path)
    ds = load_dataset("mnist", tmp_path, verify=False)  # --no-verify: the altered copy loads
    assert ds.x_train[123, 0].ravel()[400] == raw[16 + 28 * 28 * 123 + 400]
    assert np.array_equal(ds.y_train, load_dataset("mnist", source.parent).y_train)
