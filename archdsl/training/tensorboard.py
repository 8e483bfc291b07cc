"""TensorBoard event files, written without TensorFlow or the ``tensorboard`` package.

``archdsl train --tensorboard`` writes ``OUT/tensorboard/<framework>/events.out.tfevents.*``:
one TensorBoard *run* per framework, so ``tensorboard --logdir OUT/tensorboard`` draws PyTorch
and Keras on the same charts. Tags: ``train/loss``, ``train/acc``, ``train/lr``,
``train/grad_norm`` per step, ``val/loss``, ``val/acc`` per epoch.

The format is TensorBoard's: TFRecord framing (length, masked CRC-32C of the length, the
record, masked CRC-32C of the record) around ``Event`` protocol buffers holding one
``Summary.Value`` with a ``simple_value``. The few fields needed are encoded here by hand
(:func:`event_bytes`); :func:`read_scalars` reads them back. Viewing the files needs the
``tensorboard`` program (``pip install tensorboard``); writing them needs nothing.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with EventWriter(folder) as w:
    ...     w.scalar("train/loss", 0.5, step=1)
    >>> read_scalars(next(folder.glob("events.out.tfevents.*")))
    [('train/loss', 1, 0.5)]
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data``.

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint((number << 3) | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def event_bytes(wall_time: float, step: int, *, tag: str | None = None,
                value: float | None = None, file_version: str | None = None) -> bytes:
    """One ``Event`` message: wall time, step, and a scalar summary or the file version."""
    out = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step))
    if file_version is not None:
        out += _field(3, 2, file_version.encode())
    if tag is not None and value is not None:
        summary_value = _field(1, 2, tag.encode()) + _field(2, 5, struct.pack("<f", value))
        out += _field(5, 2, _field(1, 2, summary_value))
    return out


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc(length)) + data
            + struct.pack("<I", masked_crc(data)))


class EventWriter:
    """Appends scalar events to a new ``events.out.tfevents.*`` file in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.archdsl"
        self.path = self.folder / name
        self._file: IO[bytes] | None = open(self.path, "ab")  # noqa: SIM115 (kept open)
        self._write(event_bytes(now, 0, file_version="brain.Event:2"))

    def _write(self, data: bytes) -> None:
        if self._file is not None:
            self._file.write(record(data))

    def scalar(self, tag: str, value: float, step: int) -> None:
        """One point of the chart ``tag``."""
        self._write(event_bytes(time.time(), int(step), tag=tag, value=float(value)))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class TensorBoardLog:
    """One :class:`EventWriter` per framework under ``folder`` (``folder/<framework>/``)."""

    def __init__(self, folder: str | Path, frameworks: Sequence[str]) -> None:
        self.writers = {name: EventWriter(Path(folder) / name) for name in frameworks}

    def scalars(self, framework: str, values: Mapping[str, float | None], step: int) -> None:
        """Several tags of one framework at ``step`` (``None`` values are skipped)."""
        writer = self.writers[framework]
        for tag, value in values.items():
            if value is not None:
                writer.scalar(tag, value, step)

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """The (number, wire type, value) of a protocol buffer's fields."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def read_scalars(path: str | Path) -> list[tuple[str, int, float]]:
    """``(tag, step, value)`` of every scalar event in an event file (CRCs checked).

    Raises:
        ValueError: a record's checksum does not match.
    """
    data = Path(path).read_bytes()
    out, i = [], 0
    while i + 12 <= len(data):
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[i + 8:i + 12])[0] != masked_crc(header):
            raise ValueError(f"{path}: bad length checksum at byte {i}")
        body = data[i + 12:i + 12 + length]
        if struct.unpack("<I", data[i + 12 + length:i + 16 + length])[0] != masked_crc(body):
            raise ValueError(f"{path}: bad record checksum at byte {i}")
        i += 16 + length
        step = 0
        for number, _, value in _fields(body):
            if number == 2:
                step = value
            elif number == 5:
                for _, _, val in _fields(value):
                    parts = {n: v for n, _, v in _fields(val)}
                    out.append((parts[1].decode(), step, struct.unpack("<f", parts[2])[0]))
    return out


__all__ = ["EventWriter", "TensorBoardLog", "crc32c", "event_bytes", "read_scalars", "record"]
