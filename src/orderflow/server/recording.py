"""Recordings: every inbound batch that passed validation, appended before it is applied, so
that ``orderflow replay`` plays a session back through the same engine exactly and a restart
recovers today's books from it.

Layout: ``DIR/<instrument>/<YYYY-MM-DD>.ofrec`` (instrument as the client named it, made safe
for a file name; the UTC day the batch was received). File format (little-endian)::

    magic   b"OFREC1\\n"                     (7 bytes, once)
    frame   u32 length | u32 crc32(payload) | payload (MessagePack)
    payload {"recv_ns": int, "client": str | null, "batch": <protocol batch>}

Each frame is written on a file opened for appending and flushed at once, so a crash of the
process loses at most the batch in flight, whose ack was never sent. What a file may hold at
its end after a crash, a torn last frame (short, or its CRC wrong), is cut off when the file is
opened again (for appending, or by a restart's recovery), reported and counted: appends always
follow the last whole frame. A frame that fails its check *inside* a file is never guessed
around: :class:`~orderflow.core.errors.RecordingCorruptError` names the file, and
``orderflow recordings repair`` keeps the frames before it. An append that fails (disk full,
I/O error) is cut back to the file's size before it, so no partial frame stays behind, and
raises :class:`~orderflow.core.errors.RecordingUnavailableError` (the batch is refused
retryably, nothing of it applied) until a write succeeds again. At most ``max_open`` files are
open at once; the least recently written is closed first. (A power cut can lose what the OS
had not written yet: call :meth:`Recorder.sync` where that matters; it costs an fsync.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import msgspec

from orderflow.core.errors import (
    ParameterError,
    RecordingCorruptError,
    RecordingUnavailableError,
)
from orderflow.core.raw_lists import RawList
from orderflow.protocol import Batch

__all__ = [
    "MAGIC",
    "MAX_FRAME",
    "FileCheck",
    "ReadResult",
    "Record",
    "Recorder",
    "RecordingCollector",
    "check_recording",
    "corrupt_error",
    "read_recording",
    "recording_files",
    "repair_recording",
    "replay_records",
]

log = logging.getLogger("orderflow.server")

MAGIC = b"OFREC1\n"
_HEAD = struct.Struct("<II")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: no frame is longer (a batch is at most the server's 8 MiB body): a longer length field is
#: corruption, not a frame cut short by a crash
MAX_FRAME = 64 * 1024 * 1024
_DAY_NS = 86_400 * 10**9
#: how far inside its UTC day the span of receive times :meth:`Recorder.path_for` keeps
#: starts and ends (a float's rounding of ``recv_ns / 1e9`` is microseconds at most)
_DAY_MARGIN_NS = 10**6
_MAX_PATHS = 4096  # instrument names whose file is kept (more: forgotten and worked out again)


class _Frame(msgspec.Struct, frozen=True):
    recv_ns: int
    client: str | None
    batch: Batch
    refused: str | None = None  # a marker, not a batch: see Record.refused


#: a batch whose depth or prints are still their frame's bytes (``protocol.RawRows``,
#: ``RawTicks``) writes those bytes, which are what the objects would be written as
_ENC = msgspec.msgpack.Encoder(enc_hook=RawList.enc_hook)
_DEC = msgspec.msgpack.Decoder(_Frame)


@dataclass(frozen=True, slots=True)
class Record:
    """One recorded batch: when it was received, from which client."""

    recv_ns: int
    client: str | None
    batch: Batch
    #: a marker, not data: a batch refused here made the instrument's ladder stale (its depth
    #: was lost: ``"refused"``) or used up its client's sequence number (``"seq"``); ``batch``
    #: holds only its instrument and ``seq``, the refused content is never kept. A replay does
    #: the same at the same point, so it rebuilds the same book and sequence.
    refused: str | None = None


#: called for each torn tail the recorder cut off: (file, bytes dropped)
TornHook = Callable[[Path, int], None]


class Recorder:
    """Appends batches to per-instrument, per-day files under ``root``; at most ``max_open``
    of them open at once (the least recently written is closed first)."""

    def __init__(
        self, root: str | Path, max_open: int = 256, on_torn: TornHook | None = None
    ) -> None:
        if max_open < 1:
            raise ParameterError(f"max_open must be at least 1, not {max_open}", field="max_open")
        self.root = Path(root)
        self.max_open = max_open
        self.on_torn = on_torn
        self._files: OrderedDict[Path, IO[bytes]] = OrderedDict()
        #: the size each file had when this recorder last wrote or checked it: a file that
        #: still has it needs no check when it is opened again
        self._sizes: dict[Path, int] = {}
        #: per instrument name: its last file and the receive times certainly on its day
        self._paths: dict[str, tuple[Path, int, int]] = {}
        self.frames = 0
        self.bytes = 0
        self.opened = 0  # files opened (again) for appending
        self.evicted = 0  # idle files closed to stay within max_open
        self.torn_tails = 0  # torn tails cut off (at recovery or when opening a file)
        self.torn_bytes = 0
        self.write_failures = 0
        #: why the last append failed (the volume and the OS's reason); None once one succeeds
        self.unavailable: str | None = None

    def path_for(self, instrument: str, recv_ns: int) -> Path:
        """The file of ``instrument``'s batches received at ``recv_ns``. Each instrument's
        last file is kept with a span of receive times inside its UTC day (a millisecond in
        from either end) whose first and last time both give that file: the day only grows
        with the time, so every time between them gives it too. A time outside the span is
        worked out again."""
        kept = self._paths.get(instrument)
        if kept is not None and kept[1] <= recv_ns < kept[2]:
            return kept[0]
        path = self._path_of(instrument, recv_ns)
        start = recv_ns // _DAY_NS * _DAY_NS
        lo, hi = start + _DAY_MARGIN_NS, start + _DAY_NS - _DAY_MARGIN_NS
        if lo <= recv_ns < hi and self._path_of(instrument, lo) == path == self._path_of(
            instrument, hi - 1
        ):
            if len(self._paths) >= _MAX_PATHS:
                self._paths.clear()
            self._paths[instrument] = (path, lo, hi)
        return path

    def _path_of(self, instrument: str, recv_ns: int) -> Path:
        day = datetime.fromtimestamp(recv_ns / 1e9, tz=UTC).strftime("%Y-%m-%d")
        # no "." or ".." can be a folder name: the file stays under root whatever the name
        folder = _SAFE.sub("_", instrument).strip("._") or "_"
        return self.root / folder / f"{day}.ofrec"

    @property
    def open_files(self) -> int:
        return len(self._files)

    def append(
        self, batch: Batch, client: str | None, recv_ns: int, refused: str | None = None
    ) -> None:
        """Append one frame, whole or not at all. RecordingUnavailableError when the file
        cannot be opened or written (what was written of the frame is cut off again).
        ``refused``: a stale marker (:attr:`Record.refused`) instead of a batch."""
        payload = _ENC.encode(_Frame(recv_ns, client, batch, refused))
        frame = _HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        path = self.path_for(batch.instrument, recv_ns)
        try:
            fh = self._open(path)
        except OSError as exc:
            self._failed(path, exc)
        size = self._sizes.get(path, 0)
        data = frame if size else MAGIC + frame
        try:
            view = memoryview(data)
            while view:  # a raw write may write less than asked (a disk filling up)
                n = fh.write(view)
                view = view[n or 0 :]
            fh.flush()
        except OSError as exc:
            self._undo(path, fh, size)
            self._failed(path, exc)
        self._sizes[path] = size + len(data)
        self.frames += 1
        self.bytes += len(data)
        self.unavailable = None

    def _undo(self, path: Path, fh: IO[bytes], size: int) -> None:
        """Cut a failed append back to the size before it; a file it created goes again."""
        self._files.pop(path, None)
        try:
            os.ftruncate(fh.fileno(), size)
            if size == 0:
                path.unlink(missing_ok=True)
        except OSError:  # not even that: the next open checks the file and cuts its tail
            self._sizes.pop(path, None)
        finally:
            with contextlib.suppress(OSError):
                fh.close()

    def _failed(self, path: Path, exc: OSError) -> NoReturn:
        self.write_failures += 1
        reason = exc.strerror or str(exc)
        self.unavailable = f"{self.root}: {reason}"
        log.error("recording to %s failed: %s", path, reason)
        raise RecordingUnavailableError(
            f"recording: cannot write {path} ({reason}); the batch was not applied, send it "
            "again later",
            field="recording",
            retry_after_s=1,
        ) from exc

    def _open(self, path: Path) -> IO[bytes]:
        fh = self._files.get(path)
        if fh is not None:
            self._files.move_to_end(path)
            return fh
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        if size and self._sizes.get(path) != size:
            size = self._cut_torn_tail(path)
        self._sizes[path] = size
        while len(self._files) >= self.max_open:
            _, idle = self._files.popitem(last=False)
            idle.close()
            self.evicted += 1
        fh = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open, closed in close()
        self._files[path] = fh
        self.opened += 1
        return fh

    def _cut_torn_tail(self, path: Path) -> int:
        """Check a file this recorder has not written as it stands: a torn tail is cut off
        (reported); a corrupt frame inside raises RecordingCorruptError. Its size after."""
        check = check_recording(path)
        if check.corrupt_at is not None:
            raise corrupt_error(path, check)
        if check.torn_bytes:
            self.torn(path, check)
        return check.good_bytes

    def torn(self, path: Path, check: FileCheck) -> None:
        """Cut the torn tail ``check`` found off ``path``, count it and tell ``on_torn``."""
        try:
            os.truncate(path, check.good_bytes)
        except OSError as exc:  # a read-only volume: say so in one line, never append after it
            raise RecordingUnavailableError(
                f"recording {path}: cannot cut off its torn last frame ({exc.strerror}); make "
                f"the folder writable or run `orderflow recordings repair {path}`",
                field="recording",
            ) from exc
        self._sizes[path] = check.good_bytes
        self.torn_tails += 1
        self.torn_bytes += check.torn_bytes
        log.warning(
            "recording %s: a torn last frame (%d bytes, a crash mid-write) was cut off; "
            "appending after its last whole frame",
            path,
            check.torn_bytes,
        )
        if self.on_torn is not None:
            self.on_torn(path, check.torn_bytes)

    def recover(self, paths: list[Path]) -> list[Record]:
        """The records of ``paths`` (a restart's recovery), each file's torn tail cut off
        first; RecordingCorruptError for a corrupt frame inside a file."""
        records: list[Record] = []
        for path in paths:
            check = check_recording(path, keep=True)
            if check.corrupt_at is not None:
                raise corrupt_error(path, check)
            if check.torn_bytes:
                self.torn(path, check)
            self._sizes[path] = check.good_bytes
            records += check.records
        records.sort(key=lambda r: r.recv_ns)
        return records

    def sync(self) -> None:
        """fsync every open file (survives a power cut, not only a process crash)."""
        for fh in self._files.values():
            os.fsync(fh.fileno())

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    def status(self) -> dict[str, Any]:
        """For ``/health`` and ``/metrics``."""
        return {
            "dir": str(self.root),
            "ok": self.unavailable is None,
            "unavailable": self.unavailable,
            "frames": self.frames,
            "bytes": self.bytes,
            "open_files": len(self._files),
            "max_open_files": self.max_open,
            "evicted": self.evicted,
            "torn_tails": self.torn_tails,
            "torn_bytes": self.torn_bytes,
            "write_failures": self.write_failures,
        }


class RecordingCollector:
    """The recorder's state as Prometheus metrics (registered on the app's registry)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def describe(self) -> list[Any]:
        return []  # collected on demand: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        r = self.recorder
        yield GaugeMetricFamily("orderflow_recording_open_files", "Recording files open",
                                value=len(r._files))  # fmt: skip
        yield GaugeMetricFamily("orderflow_recording_unavailable",
                                "1 while appends to the recording fail (disk full, I/O error)",
                                value=0 if r.unavailable is None else 1)  # fmt: skip
        for name, doc, value in (
            ("orderflow_recording_frames", "Batches recorded", r.frames),
            ("orderflow_recording_bytes", "Bytes recorded", r.bytes),
            ("orderflow_recording_torn_tails", "Torn last frames cut off", r.torn_tails),
            ("orderflow_recording_torn_bytes", "Bytes of torn frames cut off", r.torn_bytes),
            ("orderflow_recording_write_failures", "Appends that failed", r.write_failures),
            ("orderflow_recording_evicted_files", "Idle files closed (max_open)", r.evicted),
        ):
            yield CounterMetricFamily(name, doc, value=value)


@dataclass(slots=True)
class FileCheck:
    """What :func:`check_recording` found in one file."""

    path: Path
    size: int
    frames: int = 0  # whole, good frames before the first corrupt one
    good_bytes: int = 0  # the magic and those frames: where appends may follow
    torn_bytes: int = 0  # a torn last frame (a crash mid-write)
    corrupt_at: int | None = None  # the byte where the first corrupt frame starts
    corrupt_frames: int = 0  # frames that fail their check inside the file
    later_frames: int = 0  # whole frames after the first corrupt one (a repair drops them)
    unreadable_bytes: int = 0  # bytes after a corruption that cannot be framed at all
    reason: str = ""
    invalid: int = 0  # whole frames the protocol refuses now (with keep only): skipped
    records: list[Record] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "bytes": self.size,
            "frames": self.frames,
            "torn_tail_bytes": self.torn_bytes,
            "corrupt_frames": self.corrupt_frames,
            "corrupt_at": self.corrupt_at,
            "frames_after_corruption": self.later_frames,
            "unreadable_bytes": self.unreadable_bytes,
            "reason": self.reason,
            "ok": self.corrupt_at is None and not self.torn_bytes,
        }


def check_recording(path: str | Path, keep: bool = False) -> FileCheck:
    """Every frame of one file checked (length and CRC): a torn tail is a frame cut short at
    the very end of the file; any other frame that fails is corrupt (counted on past it while
    its length is sane). A whole frame the current protocol no longer accepts (recorded by an
    older version before it validated everything) is counted in ``invalid`` and skipped.
    ``keep``: also decode the records of the good frames before the first corrupt one."""
    p = Path(path)
    data = p.read_bytes()
    out = FileCheck(p, len(data))
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):  # created, then the crash came before the magic was out
            out.torn_bytes = len(data)
            return out
        out.corrupt_at, out.corrupt_frames = 0, 1
        out.reason, out.unreadable_bytes = "not an orderflow recording", len(data)
        return out
    pos = out.good_bytes = len(MAGIC)
    n = len(data)
    while pos < n:
        if pos + _HEAD.size > n:  # not even a whole header: cut short
            break
        length, crc = _HEAD.unpack_from(data, pos)
        start, end = pos + _HEAD.size, pos + _HEAD.size + length
        sane = length <= MAX_FRAME
        if sane and end <= n and zlib.crc32(data[start:end]) == crc:
            if out.corrupt_at is not None:
                out.later_frames += 1
            else:
                out.frames += 1
                out.good_bytes = end
                if keep:
                    try:
                        f = _DEC.decode(data[start:end])
                        out.records.append(Record(f.recv_ns, f.client, f.batch, f.refused))
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        out.invalid += 1
            pos = end
            continue
        if sane and end >= n:  # the last frame, cut short by a crash
            break
        out.corrupt_frames += 1
        if out.corrupt_at is None:
            out.corrupt_at, out.reason = pos, "CRC" if sane else "length"
        if not sane or end > n:  # nothing after it can be framed
            out.unreadable_bytes = n - pos
            return out
        pos = end
    if out.corrupt_at is None:
        out.torn_bytes = n - pos
    else:  # a tear after a corruption is part of what a repair drops
        out.unreadable_bytes += n - pos
    return out


def corrupt_error(path: Path, check: FileCheck) -> RecordingCorruptError:
    """The one-line error for a file with a corrupt frame inside, and what to do about it."""
    return RecordingCorruptError(
        f"recording {path}: frame at byte {check.corrupt_at} is corrupt ({check.reason}); "
        f"run `orderflow recordings check {path.parent.parent}` and `orderflow recordings "
        f"repair {path}` (keeps the {check.frames} frames before it, moves the file aside)",
        field="recording",
        file=str(path),
    )


def repair_recording(path: str | Path) -> dict[str, Any]:
    """Make one file appendable again: a torn tail is cut off; a file with a corrupt frame
    inside is moved aside (``<name>.corrupt-<ns>``) and replaced by its good frames before
    the corruption. Says what was done and what was dropped."""
    p = Path(path)
    check = check_recording(p)
    out: dict[str, Any] = {"file": str(p), "action": "none", "kept_frames": check.frames,
                           "dropped_bytes": 0, "moved_to": None}  # fmt: skip
    if check.corrupt_at is not None:
        aside = p.with_name(f"{p.name}.corrupt-{time.time_ns()}")
        data = p.read_bytes()[: check.good_bytes] if check.good_bytes else MAGIC
        tmp = p.with_name(f"{p.name}.repair")
        tmp.write_bytes(data)
        os.replace(p, aside)
        os.replace(tmp, p)
        out.update(action="moved_aside", moved_to=str(aside),
                   dropped_bytes=check.size - len(data), corrupt_at=check.corrupt_at,
                   corrupt_frames=check.corrupt_frames,
                   dropped_frames=check.corrupt_frames + check.later_frames)  # fmt: skip
    elif check.torn_bytes:
        os.truncate(p, check.good_bytes)
        out.update(action="torn_tail_cut", dropped_bytes=check.torn_bytes)
    return out


@dataclass(slots=True)
class ReadResult:
    records: list[Record]
    torn_bytes: int  # a torn last frame (crash mid-write), skipped
    invalid: int = 0  # whole frames the protocol refuses now, skipped


def read_recording(path: str | Path) -> ReadResult:
    """Every whole frame of one recording file, in order; a torn tail is counted, not read;
    a corrupt frame inside the file raises RecordingCorruptError (naming file and repair)."""
    check = check_recording(path, keep=True)
    if check.corrupt_at is not None:
        raise corrupt_error(Path(path), check)
    return ReadResult(check.records, check.torn_bytes, check.invalid)


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
