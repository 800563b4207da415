"""The recorder on real files: bounded open files, torn tails cut off when a file is opened,
a corrupt frame inside refused by name, a failed append (a real ENOSPC from /dev/full) cut back
and reported until a write succeeds, frames an older version recorded before it validated
everything (an int64 overflow) skipped instead of stopping a restart, and a refused batch's
stale marker replayed into the same stale ladder the live server had."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from orderflow.core.errors import RecordingCorruptError, RecordingUnavailableError, RequestError
from orderflow.protocol import Batch, Depth, RawRows, Tick, decode_client
from orderflow.server.frames import decode_frame
from orderflow.server.hub import Hub
from orderflow.server.recording import (
    MAGIC,
    Recorder,
    check_recording,
    read_recording,
    recording_files,
)

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


def test_a_refused_batchs_marker_replays_into_the_stale_ladder_the_live_one_had(
    tmp_path: Path,
) -> None:
    """Seed 1207's case 418 of the fuzzer: a REST batch whose first depth event (a remove) is
    priced 5e-324, off the grid, is refused whole while the ladder is fresh. Live, the ladder
    turns stale ("refused") and the next REST batch's depth is skipped; the recording keeps
    only a marker (no depth of its own). The restart must mark the ladder stale at the marker
    and skip the same depth, not apply it to a ladder it believes fresh."""
    es, rest = "ES 03-24", "rest:127.0.0.1"
    live = Hub(recorder=Recorder(tmp_path))
    live.apply(Batch(es, snapshot=True, depth=[
        Depth(NOW, "bid", "add", 0, 4810.0, 40), Depth(NOW, "bid", "add", 1, 4809.75, 12),
        Depth(NOW, "ask", "add", 0, 4810.25, 28), Depth(NOW, "ask", "add", 1, 4810.5, 9)]),
        feeder=rest)  # fmt: skip
    bad = Batch(es, depth=[Depth(NOW + 1, "bid", "remove", 0, 5e-324, 15),
                           Depth(NOW + 1, "bid", "add", 8, 4810.0, 44)],
                ticks=[Tick(NOW + 5, 4810.5, 2, 4810.25, 4810.5)])  # fmt: skip
    with pytest.raises(RequestError, match=r"not on the 0\.25 grid"):
        live.apply(bad, feeder=rest)
    ack, _ = live.apply(Batch(es, depth=[Depth(NOW + 2, "bid", "update", 0, 4810.0, 7)]),
                        feeder=rest)  # fmt: skip
    assert ack.stale and ack.applied["depth"] == 0  # skipped: the ladder lost depth
    live.recorder.close()  # type: ignore[union-attr]
    files = recording_files(tmp_path)
    records = Recorder(tmp_path).recover(files)
    assert [(r.refused, r.batch.n_depth) for r in records] == [(None, 4), ("refused", 0),
                                                               (None, 1)]  # fmt: skip
    again = Hub()
    again.recover(records)
    st, st2 = live.instruments["ESH4"], again.instruments["ESH4"]
    assert st2.stale_reason == st.stale_reason == "refused"
    rows = [a.tolist() for a in st.pipeline.book.top_rows(10)]
    assert [a.tolist() for a in st2.pipeline.book.top_rows(10)] == rows
    assert rows[:2] == [[19240, 19239], [40, 12]]  # 4810.00 x 40 kept, not 4810.00 x 7


def test_a_refusal_that_uses_up_a_sequence_number_replays_without_a_gap(tmp_path: Path) -> None:
    """A sequenced client's batch refused without losing depth (ticks off the grid, and a
    batch for an instrument another client feeds) uses up its ``seq`` live; the recording
    keeps a ``seq`` marker so the restart sees no gap and keeps feeding the ladder it had."""
    es, nt8 = "ES 03-24", "nt8"
    live = Hub(recorder=Recorder(tmp_path))
    live.apply(Batch(es, seq=1, snapshot=True, depth=[
        Depth(NOW, "bid", "add", 0, 4810.0, 40), Depth(NOW, "ask", "add", 0, 4810.25, 28)]),
        nt8)  # fmt: skip
    with pytest.raises(RequestError, match=r"not on the 0\.25 grid"):
        live.apply(Batch(es, seq=2, ticks=[Tick(NOW + 1, 4810.3, 2, 4810.0, 4810.25)]), nt8)
    mes = Batch("MES 03-24", depth=[Depth(NOW, "bid", "add", 0, 4810.0, 3)])
    live.apply(mes, feeder="rest:10.0.0.9")  # a REST client feeds MES
    with pytest.raises(RequestError, match=r"rest:10\.0\.0\.9"):  # MES is not nt8's: 409
        live.apply(Batch("MES 03-24", seq=3, depth=[Depth(NOW, "bid", "add", 0, 4809.0, 9)]),
                   nt8)  # fmt: skip
    ack, _ = live.apply(Batch(es, seq=4, depth=[Depth(NOW + 2, "bid", "update", 0, 4810.0, 30)]),
                        nt8)  # fmt: skip
    assert not ack.stale and ack.applied["depth"] == 1
    live.recorder.close()  # type: ignore[union-attr]
    records = Recorder(tmp_path).recover(recording_files(tmp_path))
    assert [(r.batch.instrument, r.batch.seq, r.refused) for r in records] == [
        (es, 1, None), (es, 2, "seq"), ("MES 03-24", 0, None), ("MES 03-24", 3, "seq"),
        (es, 4, None)]  # fmt: skip
    again = Hub()
    again.recover(records)
    assert again.last_seq == live.last_seq == {"nt8": 4}
    st, st2 = live.instruments["ESH4"], again.instruments["ESH4"]
    assert st2.stale_reason is None and not st2.pipeline.book.stale
    assert [a.tolist() for a in st2.pipeline.book.top_rows(10)] == [
        a.tolist() for a in st.pipeline.book.top_rows(10)
    ]
    assert st.pipeline.book.top_rows(10)[1][0] == 30  # the update at seq 4 was applied


def test_the_kept_file_of_a_day_is_the_file_worked_out_every_time(tmp_path: Path) -> None:
    """``path_for`` keeps each instrument's file for the span of its UTC day: every time
    around three midnights (to the nanosecond and the millisecond either side, in an order
    that goes back and forth between days and instruments) gets the file worked out anew,
    and a batch appended across a midnight lands in the next day's file (a nanosecond before
    midnight is already the next day's, as ``recv_ns / 1e9`` rounds: kept as it was)."""
    rec, fresh = Recorder(tmp_path), Recorder(tmp_path)
    day = 86_400 * 10**9
    midnights = [NOW // day * day + k * day for k in (-1, 0, 1)]
    steps = [0, 1, 999, 10**3, 10**6 - 1, 10**6, 10**6 + 1, 5 * 10**6, 3_600 * 10**9]
    times = sorted({m + s * sign for m in midnights for s in steps for sign in (-1, 1)})
    order = times + times[::-1] + times[::3] + times[1::2][::-1]
    for k, t in enumerate(order):
        for name in ("ES 03-24", "NQ 03-24", "../x" if k % 2 else "ES 03-24"):
            assert rec.path_for(name, t) == fresh._path_of(name, t), (name, t)
    assert len(rec._paths) == 3
    assert rec.path_for("ES 03-24", midnights[1] - 1) == rec.path_for("ES 03-24", midnights[1])
    rec.append(batch(1), "nt", midnights[1] - 10**3)
    rec.append(batch(2), "nt", midnights[1])
    rec.close()
    before = rec.path_for("ES 03-24", midnights[1] - 10**3)
    after = rec.path_for("ES 03-24", midnights[1])
    assert before != after
    assert [r.batch.seq for r in read_recording(before).records] == [1]
    assert [r.batch.seq for r in read_recording(after).records] == [2]


def _frame_as_before(recv_ns: int, client: str | None, b: Batch, refused: str | None) -> bytes:
    """A frame as the recorder made it with one bytes object per step (the reference)."""
    fields = {"recv_ns": recv_ns, "client": client, "batch": b, "refused": refused}
    payload = msgspec.msgpack.encode(fields)
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


class _Trickle:
    """A raw file that takes at most ``most`` bytes a write, and nothing on every third."""

    def __init__(self, fh: Any, most: int) -> None:
        self.fh, self.most, self.calls = fh, most, 0

    def write(self, data: Any) -> int | None:
        self.calls += 1
        if self.calls % 3 == 0:
            return None
        return int(self.fh.write(bytes(data[: self.most])))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def test_every_esh4_frame_is_the_bytes_it_was_whole_or_written_in_pieces(tmp_path: Path) -> None:
    """ESH4's bridge batches as rows and as packed columns, from a client and from none, and
    stale markers, and the rows as a MessagePack session decodes them (the depth left in the
    frame's bytes, ``server.frames``), appended: each file holds the magic and then exactly
    the frames a reference encoding gives (head, CRC, payload), also when every raw write
    takes only part of what it was given (a disk filling up) or nothing at all."""
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream
    from orderflow.protocol import packed
    from tests.conftest import ES_MBO, need

    rows = [fb.batch for fb in build_batches(load_stream(need(ES_MBO)), 10, 100)]
    items = [(b, "nt" if k % 2 else None, None, b) for k, b in enumerate(rows)]
    items += [(packed(b), "nt", None, packed(b)) for b in rows]
    items += [(Batch("ES 03-24", 7), "nt", "seq", Batch("ES 03-24", 7)),
              (Batch("ES 03-24", 8), None, "refused", Batch("ES 03-24", 8))]  # fmt: skip
    # a MessagePack session's rows, still its frame's bytes: written as the events' objects
    frames = [msgspec.msgpack.encode(b) for b in rows]
    items += [(decode_frame(f), "nt", None, decode_client(f)) for f in frames]
    assert all(type(b.depth) is RawRows for b, *_ in items[-len(rows) :])
    for most in (None, 1000):
        rec = Recorder(tmp_path / f"w{most}")
        expected: dict[Path, bytes] = {}
        for k, (b, client, refused, ref) in enumerate(items):
            path = rec.path_for(b.instrument, NOW + k)
            if most is not None and path not in rec._files:
                rec._files[path] = _Trickle(rec._open(path), most)  # type: ignore[assignment]
            rec.append(b, client, NOW + k, refused=refused)
            expected[path] = expected.get(path, MAGIC) + _frame_as_before(NOW + k, client, ref,
                                                                          refused)  # fmt: skip
        rec.close()
        assert rec.frames == len(items) and rec.bytes == sum(map(len, expected.values()))
        for path, data in expected.items():
            assert path.read_bytes() == data
