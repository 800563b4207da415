"""Capped decompression, used by every reader that inflates a file (zstd DBN, gzip CSV).

A compressed file may expand to at most ``free_bytes + max_ratio * compressed_size`` bytes
and never beyond ``max_bytes``. Real market data compresses a few times (Databento MBO about
4:1, the shared fixtures under 10:1), so a ratio of 100 leaves plenty of room, while a
decompression bomb (80 KB of zstd that would expand to gigabytes) stops after a few tens of
megabytes with a :class:`~orderflow.core.errors.DecompressionLimitError` naming the file and
the limit. The cap is checked as the data is read, so memory stays bounded whether a reader
streams the file or reads it whole.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard

from orderflow.core.errors import DecodeError, DecompressionLimitError

__all__ = [
    "DEFAULT_CAPS",
    "CappedReader",
    "Caps",
    "gunzip_bytes",
    "open_gzip",
    "open_zstd",
    "unzstd_bytes",
]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Caps:
    """How far compressed data may expand: ``free_bytes`` plus ``max_ratio`` times its
    compressed size, never more than ``max_bytes``."""

    max_bytes: int = 64 << 30
    max_ratio: float = 100.0
    free_bytes: int = 64 << 20

    def limit(self, compressed_size: int) -> int:
        """Most bytes data of ``compressed_size`` compressed bytes may expand to."""
        by_ratio = self.free_bytes + int(self.max_ratio * max(0, compressed_size))
        return min(self.max_bytes, by_ratio)

    def describe(self, compressed_size: int) -> str:
        return (
            f"{self.limit(compressed_size):,} bytes ({self.max_ratio:g}x its "
            f"{compressed_size:,} compressed bytes + {self.free_bytes:,}, at most "
            f"{self.max_bytes:,})"
        )


DEFAULT_CAPS = Caps()


class CappedReader:
    """A binary stream (a decompressor) that refuses to give more than ``limit`` bytes.

    Reading past the limit raises :class:`DecompressionLimitError`; a corrupt stream raises
    :class:`DecodeError`. Both name the file."""

    def __init__(self, raw: Any, name: str, compressed_size: int, kind: str,
                 caps: Caps = DEFAULT_CAPS) -> None:  # fmt: skip
        self.raw = raw
        self.name = name
        self.kind = kind
        self.caps = caps
        self.compressed_size = compressed_size
        self.limit = caps.limit(compressed_size)
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        # one byte more than allowed tells a stream at the limit from one beyond it
        want = min(size, self.limit - self.count + 1)
        try:
            data: bytes = self.raw.read(want) if want > 0 else b""
        except (zstandard.ZstdError, OSError, EOFError, zlib.error) as exc:
            raise DecodeError(f"{self.name}: bad {self.kind} data: {exc}", field="compression",
                              file=self.name) from exc  # fmt: skip
        self.count += len(data)
        if self.count > self.limit:
            raise DecompressionLimitError(
                f"{self.name}: {self.kind} data expands beyond "
                f"{self.caps.describe(self.compressed_size)}: refused as a decompression bomb",
                field="compression",
                file=self.name,
                limit_bytes=self.limit,
            )
        return data

    def close(self) -> None:
        close = getattr(self.raw, "close", None)
        if close is not None:
            close()


def open_zstd(fh: IO[bytes], name: str, compressed_size: int,
              caps: Caps = DEFAULT_CAPS) -> CappedReader:  # fmt: skip
    """A capped zstd stream over an open file (read from its current position)."""
    return CappedReader(zstandard.ZstdDecompressor().stream_reader(fh), name, compressed_size,
                        "zstd", caps)  # fmt: skip


def unzstd_bytes(data: bytes, name: str, caps: Caps = DEFAULT_CAPS) -> bytes:
    """``data`` (one or more zstd frames) decompressed whole, within the cap."""
    reader = zstandard.ZstdDecompressor().stream_reader(data)
    return CappedReader(reader, name, len(data), "zstd", caps).read()


def gunzip_bytes(data: bytes, name: str, caps: Caps = DEFAULT_CAPS) -> bytes:
    """``data`` (gzip) decompressed whole, within the cap."""
    import io

    reader = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
    return CappedReader(reader, name, len(data), "gzip", caps).read()


def open_gzip(path: Path, caps: Caps = DEFAULT_CAPS) -> CappedReader:
    """A capped gzip stream over a file (close it when done)."""
    return CappedReader(gzip.open(path, "rb"), path.name, path.stat().st_size, "gzip", caps)
