"""Recordings: every inbound batch, appended as received and before it is applied, so that
``orderflow replay`` plays a session back through the same engine exactly.

Layout: ``DIR/<instrument>/<YYYY-MM-DD>.ofrec`` (instrument as the client named it, made safe
for a file name; the UTC day the batch was received). File format (little-endian)::

    magic   b"OFREC1\\n"                     (7 bytes, once)
    frame   u32 length | u32 crc32(payload) | payload (MessagePack)
    payload {"recv_ns": int, "client": str | null, "batch": <protocol batch>}

Each frame is written with one ``write`` on a file opened for appending and flushed at once,
so a crash of the process loses at most the batch in flight; a torn last frame (short, or its
CRC wrong) is reported by the reader and skipped, never misread. (A power cut can lose what the
OS had not written yet: call :meth:`Recorder.sync` where that matters; it costs an fsync.)
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import msgspec

from orderflow.core.errors import DecodeError
from orderflow.server.protocol import Batch

__all__ = [
    "MAGIC",
    "ReadResult",
    "Record",
    "Recorder",
    "read_recording",
    "recording_files",
    "replay_records",
]

MAGIC = b"OFREC1\n"
_HEAD = struct.Struct("<II")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class _Frame(msgspec.Struct, frozen=True):
    recv_ns: int
    client: str | None
    batch: Batch


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(_Frame)


@dataclass(frozen=True, slots=True)
class Record:
    """One recorded batch: when it was received, from which client."""

    recv_ns: int
    client: str | None
    batch: Batch


class Recorder:
    """Appends batches to per-instrument, per-day files under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._files: dict[Path, IO[bytes]] = {}
        self.frames = 0
        self.bytes = 0

    def path_for(self, instrument: str, recv_ns: int) -> Path:
        day = datetime.fromtimestamp(recv_ns / 1e9, tz=UTC).strftime("%Y-%m-%d")
        return self.root / _SAFE.sub("_", instrument).strip("_") / f"{day}.ofrec"

    def append(self, batch: Batch, client: str | None, recv_ns: int) -> None:
        payload = _ENC.encode(_Frame(recv_ns, client, batch))
        frame = _HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        fh = self._open(self.path_for(batch.instrument, recv_ns))
        fh.write(frame)
        fh.flush()
        self.frames += 1
        self.bytes += len(frame)

    def _open(self, path: Path) -> IO[bytes]:
        fh = self._files.get(path)
        if fh is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists() or path.stat().st_size == 0
            fh = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open, closed in close()
            if new:
                fh.write(MAGIC)
            self._files[path] = fh
        return fh

    def sync(self) -> None:
        """fsync every open file (survives a power cut, not only a process crash)."""
        for fh in self._files.values():
            os.fsync(fh.fileno())

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()


@dataclass(slots=True)
class ReadResult:
    records: list[Record]
    torn_bytes: int  # a torn last frame (crash mid-write), skipped


def read_recording(path: str | Path) -> ReadResult:
    """Every whole frame of one recording file, in order; a torn tail is counted, not read."""
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise DecodeError(f"{Path(path).name}: not an orderflow recording", field="magic")
    out: list[Record] = []
    pos, n = len(MAGIC), len(data)
    while pos < n:
        if pos + _HEAD.size > n:
            break
        length, crc = _HEAD.unpack_from(data, pos)
        start, end = pos + _HEAD.size, pos + _HEAD.size + length
        if end > n or zlib.crc32(data[start:end]) != crc:
            if end >= n:  # the last frame, cut short by a crash
                break
            raise DecodeError(
                f"{Path(path).name}: frame at byte {pos} is corrupt (CRC)", field="frame"
            )
        f = _DEC.decode(data[start:end])
        out.append(Record(f.recv_ns, f.client, f.batch))
        pos = end
    return ReadResult(out, n - pos)


def recording_files(root: str | Path) -> list[Path]:
    """Every recording file under ``root`` (or ``root`` itself when it is a file)."""
    p = Path(root)
    if p.is_file():
        return [p]
    return sorted(p.rglob("*.ofrec"))


def replay_records(paths: list[Path]) -> Iterator[Record]:
    """The records of several files merged in the order they were received."""
    records: list[Record] = []
    for path in paths:
        records += read_recording(path).records
    records.sort(key=lambda r: r.recv_ns)
    yield from records
