"""The Parquet store: every field back exactly, days split at the CME session open, chunks in
time order, memory bounded while writing, and a backtest from the store equals one from DBN."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from orderflow.io.dbn import read_mbo
from orderflow.io.parquet_store import (
    StoreWriter,
    convert_to_store,
    is_store,
    read_chunks,
    store_info,
    write_store,
)
from orderflow.io.stream import open_chunks
from orderflow.model.dtypes import BAR_DTYPE, MBO_DTYPE
from orderflow.model.instruments import get_instrument
from tests.conftest import ES_MBO, ES_MBO_SNAPSHOT, need

DAY_NS = 86_400_000_000_000
#: 2023-12-25 23:00 UTC = 18:00 New York: the session of trading day 2023-12-26 opens
OPEN_1226 = 1_703_545_200_000_000_000


def _all(root: Path, chunk: int = 10_000, **kw: object) -> np.ndarray:
    chunks = read_chunks(root, chunk, **kw).chunks  # type: ignore[arg-type]
    parts = [c.records for c in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, MBO_DTYPE)


def test_esh4_mbo_round_trip_every_field_and_the_day_boundary(tmp_path: Path) -> None:
    path = need(ES_MBO)
    events, es = read_mbo(path)
    summary = convert_to_store(path, tmp_path, chunk_records=4_096)
    assert is_store(tmp_path) and summary["rows"] == len(events) == 68_792
    back = _all(tmp_path, 7_000)
    assert back.dtype == events.dtype and back.tobytes() == events.tobytes()
    # the opening snapshot (orders' old ts_event) on 12-24, the pre-open on 12-25 and the
    # session from 23:00 UTC on 12-26, the CME trading day of that evening
    assert summary["days"] == ["2023-12-24", "2023-12-25", "2023-12-26"]
    late = _all(tmp_path, start_day="2023-12-26", end_day="2023-12-26")
    first = int(np.argmax(np.maximum.accumulate(events["ts_event"]) >= OPEN_1226))
    assert late.tobytes() == events[first:].tobytes()
    assert len(late) == 59_142 and int(late["ts_event"][0]) >= OPEN_1226
    early = _all(tmp_path, end_day="2023-12-25")
    assert np.concatenate([early, late]).tobytes() == events.tobytes()
    inst, kind, _ = read_chunks(tmp_path)
    assert (inst, kind) == (es, "mbo")


def test_chunks_are_exactly_the_size_asked_across_files(tmp_path: Path) -> None:
    path = need(ES_MBO)
    convert_to_store(path, tmp_path, chunk_records=3_000, rows_per_file=10_000)
    sizes = [len(c.records) for c in read_chunks(tmp_path, 4_096).chunks]
    assert sizes[:-1] == [4_096] * (len(sizes) - 1) and sum(sizes) == 68_792
    assert len(list((tmp_path / "instrument=ESH4" / "day=2023-12-26").glob("part-*"))) == 6


def test_two_files_appended_read_back_as_one_stream(tmp_path: Path) -> None:
    a, b = need(ES_MBO_SNAPSHOT), need(ES_MBO)
    convert_to_store(a, tmp_path)
    convert_to_store(b, tmp_path)
    both = np.concatenate([read_mbo(a)[0], read_mbo(b)[0]])
    assert _all(tmp_path).tobytes() == both.tobytes()
    meta = json.loads((tmp_path / "instrument=ESH4" / "_stream.json").read_text())
    assert meta["rows"] == 8_725 + 68_792
    assert [p.name for p in sorted((tmp_path / "instrument=ESH4" / "day=2023-12-24").iterdir())] \
        == ["part-0000.parquet", "part-0001.parquet"]  # fmt: skip


def test_padding_bytes_and_bars_survive(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    mbo = np.zeros(1_000, dtype=MBO_DTYPE)
    mbo.view(np.uint8)[:] = rng.integers(0, 256, mbo.nbytes, dtype=np.uint8)
    mbo["ts_event"] = np.sort(rng.integers(OPEN_1226 - DAY_NS, OPEN_1226 + DAY_NS, 1_000))
    es = get_instrument("ESH4")
    write_store(tmp_path / "m", es, "mbo", [mbo[:300], mbo[300:]])
    assert _all(tmp_path / "m", 256).tobytes() == mbo.tobytes()
    bars = np.zeros(50, dtype=BAR_DTYPE)
    bars["ts_event"] = OPEN_1226 + np.arange(50) * 3_600_000_000_000
    bars["close"] = np.arange(50)
    write_store(tmp_path / "b", es, "bars", [bars])
    _, kind, chunks = read_chunks(tmp_path / "b", 16)
    assert (
        kind == "bars" and np.concatenate([c.records for c in chunks]).tobytes() == bars.tobytes()
    )
    assert len(store_info(tmp_path / "b")["instruments"]["ESH4"]["days"]) == 3


def test_an_l2_stream_keeps_its_prints_chunk_for_chunk(tmp_path: Path) -> None:
    from orderflow.io.nt_convert import convert_file

    dump = tmp_path / "ES 03-24.depth.txt"
    convert_file(need(ES_MBO), dump, levels=10)
    convert_to_store(dump, tmp_path / "s", chunk_records=5_000)
    want = list(open_chunks(dump, 8_192).chunks)
    got = list(read_chunks(tmp_path / "s", 8_192).chunks)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.records.tobytes() == w.records.tobytes()
        assert g.trades is not None and w.trades is not None
        assert g.trades.tobytes() == w.trades.tobytes()
    assert sum(len(c.trades) for c in got if c.trades is not None) == 0  # a dump of L2 lines


def test_nt_depth_with_prints_round_trip_and_prints_stay_with_their_chunk(tmp_path: Path) -> None:
    from orderflow.io.formats import load_stream
    from orderflow.io.nt_feed import nt_batches
    from orderflow.io.stream import Chunk

    stream = load_stream(need(ES_MBO))
    batches = nt_batches(stream, levels=10, batch_events=100)
    depth = np.concatenate([b.depth for b in batches])
    prints = np.concatenate([b.trades for b in batches])
    chunks = [Chunk(np.concatenate([b.depth for b in batches[i : i + 40]]),
                    np.concatenate([b.trades for b in batches[i : i + 40]]))
              for i in range(0, len(batches), 40)]  # fmt: skip
    write_store(tmp_path, stream.instrument, "nt_depth", chunks)
    got = list(read_chunks(tmp_path, 5_000).chunks)
    assert np.concatenate([c.records for c in got]).tobytes() == depth.tobytes()
    back = np.concatenate([c.trades for c in got if c.trades is not None])
    assert back.tobytes() == prints.tobytes() and len(prints) == 2_973
    for c, nxt in itertools.pairwise(got):  # each print with the depth up to it
        last = c.records["ts_event"][-1]
        assert c.trades is not None and nxt.trades is not None
        assert (c.trades["ts_event"] <= last).all() and (nxt.trades["ts_event"] > last).all()


def _days_of(events: np.ndarray, days: int) -> Iterator[np.ndarray]:
    """The ESH4 hour again and again, a day later each time, in chunks of 4,096."""
    for d in range(days):
        for s in range(0, len(events), 4_096):
            part = events[s : s + 4_096].copy()
            part["ts_event"] += d * DAY_NS
            part["ts_recv"] += d * DAY_NS
            yield part


def _peak(root: Path, events: np.ndarray, days: int) -> tuple[int, int]:
    pool = pa.default_memory_pool()
    tracemalloc.start()
    base_arrow = pool.bytes_allocated()
    with StoreWriter(root, get_instrument("ESH4"), "mbo", MBO_DTYPE) as w:
        arrow_peak = 0
        for chunk in _days_of(events, days):
            w.write(chunk)
            arrow_peak = max(arrow_peak, pool.bytes_allocated() - base_arrow)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, arrow_peak


def test_converting_a_long_history_keeps_memory_bounded(tmp_path: Path) -> None:
    events, _ = read_mbo(need(ES_MBO))
    _peak(tmp_path / "warm", events, 1)  # first use: imports, the calendar, Arrow's pools
    p1, a1 = _peak(tmp_path / "one", events, 1)
    p20, a20 = _peak(tmp_path / "twenty", events, 20)
    total = 20 * events.nbytes  # 66 MB of records written
    assert store_info(tmp_path / "twenty")["instruments"]["ESH4"]["rows"] == 20 * len(events)
    # the peak does not grow with the history: one chunk and one row group, not the whole
    assert p20 < 1.5 * p1 + 1_000_000 and p20 < total / 20
    assert a20 < 1.5 * a1 + 1_000_000
    print(f"peak python {p1 / 1e6:.2f} -> {p20 / 1e6:.2f} MB, arrow {a1 / 1e6:.2f} -> "
          f"{a20 / 1e6:.2f} MB, for {events.nbytes / 1e6:.1f} -> {total / 1e6:.1f} MB")  # fmt: skip


@pytest.mark.slow
def test_a_backtest_from_the_store_equals_one_from_the_dbn_file(tmp_path: Path) -> None:
    from orderflow.backtest.run import run_backtest

    path = need(ES_MBO)
    convert_to_store(path, tmp_path / "store")
    a = run_backtest([path])
    b = run_backtest([tmp_path / "store"])
    timing = {"elapsed_s", "events_per_s"}
    assert {k: v for k, v in a.stats.items() if k not in timing} == {
        k: v for k, v in b.stats.items() if k not in timing
    }
    assert a.trades == b.trades and a.commands == b.commands and a.fills == b.fills
    assert a.stats["trades"] > 0 and len(a.fills) > 0
