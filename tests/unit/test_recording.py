"""The recorder on real files: bounded open files, torn tails cut off when a file is opened,
a corrupt frame inside refused by name, a failed append (a real ENOSPC from /dev/full) cut back
and reported until a write succeeds, and frames an older version recorded before it validated
everything (an int64 overflow) skipped instead of stopping a restart."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import msgspec
import pytest

from orderflow.core.errors import RecordingCorruptError, RecordingUnavailableError
from orderflow.server.protocol import Batch, Depth
from orderflow.server.recording import MAGIC, Recorder, check_recording, read_recording

NOW = time.time_ns()


def batch(k: int, instrument: str = "ES 03-24") -> Batch:
    return Batch(instrument, k, depth=[Depth(NOW - 1000 + k, "bid", "update", 0, 4810.0, 10 + k)])


def test_at_most_max_open_files_are_open_and_every_frame_lands(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, max_open=3)
    names = [f"ES {m:02d}-24" for m in range(1, 11)]
    for round_ in range(2):
        for name in names:
            rec.append(batch(round_ + 1, name), "nt", NOW)
            assert rec.open_files <= 3
    rec.close()
    assert rec.evicted == 17 and rec.opened == 20
    files = sorted(tmp_path.rglob("*.ofrec"))
    assert len(files) == 10
    assert all([r.batch.seq for r in read_recording(f).records] == [1, 2] for f in files)


def half_frame(tmp_path: Path) -> bytes:
    other = Recorder(tmp_path / "other")
    other.append(batch(99), None, NOW)
    other.close()
    (f,) = (tmp_path / "other").rglob("*.ofrec")
    frame = f.read_bytes()[len(MAGIC) :]
    return frame[: len(frame) // 2]


def test_a_torn_tail_is_cut_off_when_the_file_is_opened_for_appending(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "rec")
    for k in (1, 2):
        rec.append(batch(k), "nt", NOW)
    rec.close()
    (path,) = (tmp_path / "rec").rglob("*.ofrec")
    torn = half_frame(tmp_path)
    with open(path, "ab") as fh:
        fh.write(torn)
    seen: list[tuple[Path, int]] = []
    again = Recorder(tmp_path / "rec", on_torn=lambda p, n: seen.append((p, n)))
    again.append(batch(3), "nt", NOW)
    again.close()
    assert seen == [(path, len(torn))] and again.torn_tails == 1
    check = check_recording(path)
    assert check.to_dict()["ok"] and check.frames == 3
    assert [r.batch.seq for r in read_recording(path).records] == [1, 2, 3]


def test_a_corrupt_frame_inside_is_refused_by_name_never_appended_after(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    for k in (1, 2, 3):
        rec.append(batch(k), "nt", NOW)
    rec.close()
    (path,) = tmp_path.rglob("*.ofrec")
    data = bytearray(path.read_bytes())
    data[len(MAGIC) + 8 + 3] ^= 0x55
    path.write_bytes(bytes(data))
    check = check_recording(path)
    assert (check.frames, check.corrupt_frames, check.later_frames) == (0, 1, 2)
    with pytest.raises(RecordingCorruptError, match="orderflow recordings repair") as exc:
        Recorder(tmp_path).append(batch(4), "nt", NOW)
    assert str(path) in exc.value.message
    with pytest.raises(RecordingCorruptError):
        Recorder(tmp_path).recover([path])
    assert path.read_bytes() == bytes(data)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failed_append_is_reported_until_a_write_succeeds(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC: the recorder refuses the batch retryably and
    says so; once the file is writable again the next append succeeds and the state clears."""
    rec = Recorder(tmp_path)
    path = rec.path_for("ES 03-24", NOW)
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/full")
    with pytest.raises(RecordingUnavailableError, match="No space left on device") as exc:
        rec.append(batch(1), "nt", NOW)
    assert exc.value.code == "recording_unavailable"
    assert rec.write_failures == 1 and rec.unavailable is not None
    assert str(tmp_path) in rec.unavailable and not rec.status()["ok"]
    assert rec.frames == 0 and rec.open_files == 0
    path.unlink()
    rec.append(batch(2), "nt", NOW)
    rec.close()
    assert rec.unavailable is None and rec.status()["ok"]
    assert [r.batch.seq for r in read_recording(path).records] == [2]


@pytest.mark.parametrize("name", ["..", "../x", "a/../../b", ".", "/etc/passwd", "..\\x"])
def test_no_instrument_name_leads_outside_the_recordings(tmp_path: Path, name: str) -> None:
    path = Recorder(tmp_path / "rec").path_for(name, NOW).resolve()
    assert path.is_relative_to((tmp_path / "rec").resolve())
    assert path.parent != (tmp_path / "rec").resolve()


def test_a_frame_an_older_version_kept_unvalidated_is_skipped_not_fatal(tmp_path: Path) -> None:
    """Before validation came first, a batch with an int64 overflow was recorded: its frame is
    whole (CRC right) but the protocol refuses it now. Reading skips it and counts it."""
    rec = Recorder(tmp_path)
    rec.append(batch(1), "nt", NOW)
    rec.close()
    (path,) = tmp_path.rglob("*.ofrec")
    junk = {"recv_ns": NOW, "client": "x", "batch": {"type": "batch", "instrument": "ES 03-24",
            "depth": [{"t": 1 << 63, "side": "bid", "op": "add", "pos": 0, "price": 1.0,
                       "size": 1}]}}  # fmt: skip
    payload = msgspec.msgpack.encode(junk)
    with open(path, "ab") as fh:
        fh.write(struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)
    again = Recorder(tmp_path)
    again.append(batch(2), "nt", NOW)
    again.close()
    got = read_recording(path)
    assert [r.batch.seq for r in got.records] == [1, 2] and got.invalid == 1
    assert [r.batch.seq for r in Recorder(tmp_path).recover([path])] == [1, 2]
