"""The top-N -> NinjaTrader depth converter, checked against a naive position-indexed ladder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.book.common import DepthRecord
from orderflow.core.errors import PriceOrderError
from orderflow.io.nt_convert import convert_file, depth_to_nt, levels_to_nt_depth, mbo_to_nt_depth
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side


class NtLadder:
    """NinjaTrader's SampleLevel2Book, strictly: rows indexed by position, no price keys."""

    def __init__(self, max_rows: int) -> None:
        self.rows: dict[int, list[tuple[int, int]]] = {Side.BID: [], Side.ASK: []}
        self.max_rows = max_rows

    def apply(self, ev: np.void) -> None:
        rows = self.rows[int(ev["side"])]
        pos, op = int(ev["position"]), int(ev["operation"])
        row = (int(ev["price"]), int(ev["size"]))
        if op == NtOperation.ADD:
            assert 0 <= pos <= len(rows), "add past the end of the ladder"
            rows.insert(pos, row)
        elif op == NtOperation.UPDATE:
            assert 0 <= pos < len(rows), "update of a row that does not exist"
            assert rows[pos][0] == row[0], "update changed the price"
            rows[pos] = row
        elif op == NtOperation.REMOVE:
            assert 0 <= pos < len(rows), "remove of a row that does not exist"
            assert rows[pos][0] == row[0], "remove names another price"
            del rows[pos]
        else:
            raise AssertionError(f"bad operation {op}")
        assert len(rows) <= self.max_rows, "ladder grew past N rows"


def make_depth(states: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]], n: int):
    """DepthRecord from per-boundary (bids, asks) lists of (price, size), best first."""
    rows = len(states)
    arr = {k: np.zeros((rows, n), np.int64) for k in ("bp", "bs", "ap", "as")}
    arr["bp"][:] = NO_PRICE
    arr["ap"][:] = NO_PRICE
    for b, (bids, asks) in enumerate(states):
        for c, (p, s) in enumerate(bids):
            arr["bp"][b, c], arr["bs"][b, c] = p, s
        for c, (p, s) in enumerate(asks):
            arr["ap"][b, c], arr["as"][b, c] = p, s
    zeros = np.zeros((rows, n), np.int64)
    return DepthRecord(
        index=np.arange(rows),
        ts_event=np.arange(rows, dtype=np.int64) * 1000 + 7,
        bid_price=arr["bp"],
        bid_size=arr["bs"],
        bid_count=zeros,
        ask_price=arr["ap"],
        ask_size=arr["as"],
        ask_count=zeros,
    )


def replay_and_check(depth: DepthRecord, states, n: int) -> np.ndarray:
    events = depth_to_nt(depth)
    ladder = NtLadder(n)
    boundary_of_ts = {int(t): b for b, t in enumerate(depth.ts_event)}
    k = 0
    for b, (bids, asks) in enumerate(states):
        while k < len(events) and boundary_of_ts[int(events["ts_event"][k])] == b:
            ladder.apply(events[k])
            k += 1
        assert ladder.rows[Side.BID] == list(bids), f"bids differ at boundary {b}"
        assert ladder.rows[Side.ASK] == list(asks), f"asks differ at boundary {b}"
    assert k == len(events)
    return events


def ladder_side(draw, n: int, descending: bool):
    prices = draw(st.lists(st.integers(100, 130), max_size=n, unique=True))
    prices.sort(reverse=descending)
    return [(p, draw(st.integers(1, 4))) for p in prices]


@st.composite
def book_states(draw):
    n = draw(st.integers(1, 6))
    count = draw(st.integers(1, 12))
    states = [(ladder_side(draw, n, True), ladder_side(draw, n, False)) for _ in range(count)]
    return n, states


@settings(max_examples=300, deadline=None)
@given(book_states())
def test_applying_emitted_ops_reproduces_every_state(case):
    n, states = case
    depth = make_depth(states, n)
    events = replay_and_check(depth, states, n)
    assert events.dtype == NT_DEPTH_DTYPE
    assert (events["sequence"] == np.arange(1, len(events) + 1)).all()
    # LAST exactly on the final event of each boundary that emitted anything
    ts = events["ts_event"]
    expected_last = np.append(ts[1:] != ts[:-1], True) if len(ts) else ts.astype(bool)
    assert ((events["flags"] & Flags.LAST) != 0).tolist() == expected_last.tolist()


@settings(max_examples=150, deadline=None)
@given(book_states())
def test_op_count_is_the_price_diff(case):
    n, states = case
    events = depth_to_nt(make_depth(states, n))
    expected = 0
    prev = ([], [])
    for cur in states:
        for side in (0, 1):
            old, new = dict(prev[side]), dict(cur[side])
            expected += len(old.keys() - new.keys()) + len(new.keys() - old.keys())
            expected += sum(1 for p in old.keys() & new.keys() if old[p] != new[p])
        prev = cur
    assert len(events) == expected


def test_a_better_bid_pushes_the_tenth_level_out_with_a_remove_first():
    n = 3
    states = [
        ([(10, 1), (9, 1), (8, 1)], [(11, 1)]),
        ([(10, 1), (9, 1), (8, 1)], [(11, 1)]),  # unchanged: emits nothing
        ([(10, 5), (9, 1), (8, 1)], [(11, 1)]),  # size change: one update
        ([(105, 2), (10, 5), (9, 1)], [(11, 1)]),  # new best bid, 8 falls off the 3 levels
    ]
    events = replay_and_check(make_depth(states, n), states, n)
    last = events[events["ts_event"] == 3007]
    assert last["operation"].tolist() == [NtOperation.REMOVE, NtOperation.ADD]
    assert last["position"].tolist() == [2, 0]
    assert last["price"].tolist() == [8, 105]
    upd = events[events["ts_event"] == 2007]
    assert upd["operation"].tolist() == [NtOperation.UPDATE]
    assert len(events[events["ts_event"] == 1007]) == 0
    first = events[events["ts_event"] == 7]
    assert first["operation"].tolist() == [NtOperation.ADD] * 4
    assert first["side"].tolist() == [Side.BID] * 3 + [Side.ASK]
    assert first["position"].tolist() == [0, 1, 2, 0]


def test_unsorted_levels_are_refused():
    depth = make_depth([([(9, 1), (10, 1)], [])], 2)
    with pytest.raises(PriceOrderError):
        depth_to_nt(depth)
    depth = make_depth([([], [(12, 1), (11, 1)])], 2)
    with pytest.raises(PriceOrderError):
        depth_to_nt(depth)


def test_empty_record_gives_no_events():
    assert len(depth_to_nt(make_depth([], 3))) == 0


def test_a_random_walk_of_boundaries_rebuilds_its_last_ladder_from_the_events():
    rng = np.random.default_rng(7)
    rows, n = 5_000, 10
    mid = 20_000 + np.cumsum(rng.integers(-1, 2, rows))
    bid_p = mid[:, None] - np.arange(n)[None, :]
    ask_p = mid[:, None] + 1 + np.arange(n)[None, :]
    zeros = np.zeros((rows, n), np.int64)
    depth = DepthRecord(
        np.arange(rows),
        np.arange(rows, dtype=np.int64),
        bid_p,
        rng.integers(1, 50, (rows, n)),
        zeros,
        ask_p,
        rng.integers(1, 50, (rows, n)),
        zeros,
    )
    events = depth_to_nt(depth)
    ladder = NtLadder(n)
    for ev in events:
        ladder.apply(ev)
    last = rows - 1
    assert ladder.rows[Side.BID] == [
        (int(p), int(q)) for p, q in zip(bid_p[last], depth.bid_size[last], strict=True)
    ]
    assert ladder.rows[Side.ASK] == [
        (int(p), int(q)) for p, q in zip(ask_p[last], depth.ask_size[last], strict=True)
    ]


def test_mbo_to_nt_depth_on_esh4_reproduces_every_boundary(es_mbo_path):
    pytest.importorskip("orderflow.book.l3")
    from orderflow.book.l3 import OrderBook
    from orderflow.io.dbn import read_mbo
    from orderflow.io.ninjatrader import read_depth_dump, write_depth_dump

    mbo, inst = read_mbo(es_mbo_path)
    depth = OrderBook().apply_mbo(mbo, record_depth=10).depth
    events = mbo_to_nt_depth(mbo, levels=10)
    # the opening snapshot arrives as one batch of adds, ten per side
    first = events[: np.flatnonzero(events["flags"] & Flags.LAST)[0] + 1]
    assert (first["operation"] == NtOperation.ADD).all() and len(first) == 20
    # NinjaTrader's ladder fed the events equals the book's top 10 after every batch
    start = int(np.searchsorted(depth.index, 8_724))
    ends = np.flatnonzero(events["flags"] & Flags.LAST)
    ladder, k, checked = NtLadder(10), 0, 0
    bid_p, bid_s = depth.bid_price.tolist(), depth.bid_size.tolist()
    ask_p, ask_s = depth.ask_price.tolist(), depth.ask_size.tolist()
    ts = depth.ts_event.tolist()
    b = start
    for end in ends:
        for ev in events[k : end + 1]:
            ladder.apply(ev)
        k = end + 1
        while ts[b] != events["ts_event"][end]:
            b += 1
        assert ladder.rows[Side.BID] == [
            (p, q) for p, q in zip(bid_p[b], bid_s[b], strict=True) if p != NO_PRICE
        ]
        assert ladder.rows[Side.ASK] == [
            (p, q) for p, q in zip(ask_p[b], ask_s[b], strict=True) if p != NO_PRICE
        ]
        checked += 1
        b += 1
    assert checked > 30_000
    # and the stream survives the DumpMarketDepth text format (times at 100 ns)
    buf = io.StringIO()
    write_depth_dump(buf, events, inst, tz="America/Chicago")
    back = read_depth_dump(buf.getvalue().encode(), inst, tz="America/Chicago").depth
    for key in ("price", "size", "position", "operation", "side", "flags"):
        assert np.array_equal(back[key], events[key]), key
    assert np.array_equal(back["ts_event"], events["ts_event"] // 100 * 100)


def test_convert_file_writes_a_dump_that_reads_back(es_mbo_path, tmp_path):
    pytest.importorskip("orderflow.book.l3")
    from orderflow.io.dbn import read_mbo
    from orderflow.io.ninjatrader import read_depth_dump

    out = tmp_path / "esh4.depth.txt"
    result = convert_file(es_mbo_path, out, levels=5)
    back = read_depth_dump(out, read_mbo(es_mbo_path)[1]).depth
    assert result["events"] == len(back) > 0
    assert result["boundaries"] == int(((back["flags"] & Flags.LAST) != 0).sum())
    assert result["source_format"] == "dbn:mbo"
    assert back["position"].max() <= 4


def test_mbp10_levels_convert_through_the_level_book():
    pytest.importorskip("orderflow.book.levels")
    from orderflow.io.dbn import mbp10_to_levels, read_dbn
    from tests.conftest import ESH1_DIR, need

    data = read_dbn(need(ESH1_DIR / "test_data.mbp-10.dbn.zst"))
    events = levels_to_nt_depth(mbp10_to_levels(data.data), 10, data.instrument)
    ladder = NtLadder(10)
    for ev in events:
        ladder.apply(ev)
    mbp = data.data
    assert ladder.rows[Side.BID] == list(
        zip(mbp.bid_price[-1].tolist(), mbp.bid_size[-1].tolist(), strict=True)
    )
    assert ladder.rows[Side.ASK] == list(
        zip(mbp.ask_price[-1].tolist(), mbp.ask_size[-1].tolist(), strict=True)
    )
