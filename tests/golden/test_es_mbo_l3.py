"""Golden: replay the real ESH4 2023-12-25 MBO file through the L3 book and a naive reference.

The batch replay records the top 10 levels at every event boundary and is compared with the
reference there. A per-event replay (``OrderBook.apply``) runs alongside; its digest of ALL
levels is compared with the reference's incremental digest at EVERY boundary, and all levels
exactly every 1000th boundary and at the end. Expected figures are the data README's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Side
from tests.golden.reference_l3 import ASK, BID, LAST, M64, SNAPSHOT, ReferenceBook

pytestmark = pytest.mark.slow

DEPTH = 10
SNAPSHOT_RECORDS = 8_725
BOUNDARIES = 47_022
CROSSED = 891


def _utc_ns(text: str) -> int:
    dt = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000


PRE_OPEN_FIRST_CROSS = _utc_ns("2023-12-25T22:39:55")
OPEN = _utc_ns("2023-12-25T23:00:00")


_K = [np.uint64(k) for k in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB,
                              0xD6E8FEB86659FD93)]  # fmt: skip
#: the first term of ``level_hash`` for the bid side and the ask side
_SIDE_TERM = np.array([[BID + 1], [ASK + 1]], dtype=np.uint64) * _K[0]
_DEPTH_KEYS = ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size", "ask_count")


def _level_hashes(side_term: np.ndarray, price: np.ndarray, size: np.ndarray,
                  count: np.ndarray) -> np.ndarray:  # fmt: skip
    """The reference's ``level_hash`` of each level (uint64 arrays, wrapping mod 2**64)."""
    x = side_term + price * _K[1] + size * _K[2] + count * _K[3]
    x ^= x >> np.uint64(30)
    x *= _K[1]
    x ^= x >> np.uint64(27)
    x *= _K[2]
    x ^= x >> np.uint64(31)
    return x


def book_digest(book: OrderBook) -> int:
    """The reference's digest, computed from every level ``levels()`` gives (a scan of the
    whole ladder: taken at every 1000th boundary and at the end)."""
    total = 0
    for side in (BID, ASK):
        lv = book.levels(Side(side)).view(np.uint64)
        x = _level_hashes(_SIDE_TERM[side], lv[:, 0], lv[:, 1], lv[:, 2])
        total += int(x.sum(dtype=np.uint64))  # wraps mod 2**64, like the reference
    return total & M64


def depth_digest(book: OrderBook, n: int) -> int:
    """The same digest from the book's top ``n + 1`` levels a side (``depth``: one kernel call
    from the best price outward), where ``n`` is at least the levels the reference holds on
    either side: a level the book has beyond those is in the extra row and changes the digest.
    The cheap form taken at every boundary (``levels()`` there, 94,044 whole-ladder scans,
    was four fifths of the file's time)."""
    d = book.depth(n + 1)
    rows = np.array([d[k] for k in _DEPTH_KEYS]).reshape(2, 3, n + 1)  # side, column, level
    held = rows[:, 0] != NO_PRICE
    u = rows.view(np.uint64)
    x = _level_hashes(_SIDE_TERM, u[:, 0], u[:, 1], u[:, 2])
    return int(x[held].sum(dtype=np.uint64))


def _top_rows(depth, side: int, b: int) -> list[tuple[int, int, int]]:
    prefix = "bid" if side == BID else "ask"
    px = depth[f"{prefix}_price"][b]
    rows = []
    for p, s, c in zip(px, depth[f"{prefix}_size"][b], depth[f"{prefix}_count"][b], strict=True):
        if p == NO_PRICE:
            assert s == 0 and c == 0
            break
        rows.append((p, s, c))
    return rows


@cache
def replay(path: Path):
    """Batch replay, reference walk and per-event replay, compared as they go (run once)."""
    events, inst = read_mbo(path)
    batch = OrderBook(inst)
    result = batch.apply_mbo(events, record_depth=DEPTH)
    ref = ReferenceBook()
    live = OrderBook(inst)
    report = walk(events, result.depth, ref, live, events)
    return events, result, batch, live, ref, report


def walk(events, d, ref: ReferenceBook, live: OrderBook, fed_live) -> dict:
    """``events`` into the reference and ``fed_live`` (the same records, or a broken copy)
    into ``live`` one by one; at each boundary the reference against the batch replay's
    recorded top ``d`` and against ``live``'s digest of all levels."""
    depth = {
        k: getattr(d, k).tolist()
        for k in ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size", "ask_count")
    }
    cols = [events[k].tolist() for k in ("action", "side", "price", "size", "order_id", "flags")]
    fed = [
        fed_live[k].tolist()
        for k in ("action", "side", "price", "size", "order_id", "flags", "ts_event", "ts_recv",
                  "sequence")
    ]  # fmt: skip
    report = {
        "top_mismatch": [],
        "digest_checks": 0,
        "digest_mismatch": [],
        "full_checks": 0,
        "full_mismatch": [],
        "ref_rejects": 0,
        "crossed_ts": [],
        "boundary_index": [],
    }
    b = 0
    for i, (rec, live_rec) in enumerate(
        zip(zip(*cols, strict=True), zip(*fed, strict=True), strict=True)
    ):
        action, side, price, size, oid, flags = rec
        if ref.apply(action, side, price, size, oid, flags) is not None:
            report["ref_rejects"] += 1
        live.apply(*live_rec)
        if not (flags & LAST) or flags & SNAPSHOT:
            continue
        report["boundary_index"].append(i)
        bb, ba = ref.best(BID), ref.best(ASK)
        if bb is not None and ba is not None and bb > ba:
            report["crossed_ts"].append(live_rec[6])
        for side_ in (BID, ASK):
            if ref.top(side_, DEPTH) != _top_rows(depth, side_, b):
                report["top_mismatch"].append((b, i, side_))
        report["digest_checks"] += 1
        if depth_digest(live, max(len(ref.prices[BID]), len(ref.prices[ASK]))) != ref.digest:
            report["digest_mismatch"].append(b)
        if b % 1000 == 0:
            report["full_checks"] += 1
            if book_digest(live) != ref.digest:
                report["digest_mismatch"].append(b)
            for side_ in (BID, ASK):
                if live.levels(Side(side_)).tolist() != [list(r) for r in ref.levels(side_)]:
                    report["full_mismatch"].append((b, side_))
        b += 1
    return report


@pytest.fixture
def replayed(es_mbo_path):
    return replay(es_mbo_path)


def test_batch_top10_equals_reference_at_every_boundary(replayed):
    _events, result, _batch, _live, _ref, report = replayed
    assert result.boundaries == BOUNDARIES
    assert len(result.depth) == BOUNDARIES
    assert result.depth.index.tolist() == report["boundary_index"]
    assert report["top_mismatch"] == []


def test_per_event_replay_digest_and_full_levels_equal_reference(replayed):
    _events, _result, _batch, live, ref, report = replayed
    assert report["digest_checks"] == BOUNDARIES
    assert report["digest_mismatch"] == []
    assert report["full_checks"] == (BOUNDARIES + 999) // 1000
    assert report["full_mismatch"] == []
    for side in (BID, ASK):
        assert live.levels(Side(side)).tolist() == [list(r) for r in ref.levels(side)]
    assert book_digest(live) == ref.digest


def test_final_book_matches_readme(replayed):
    _events, _result, batch, _live, ref, _report = replayed
    batch.check_integrity()
    assert len(batch) == len(ref.orders) == 11_217
    assert batch.best_bid()[:2] == (19_240, 22)
    assert batch.best_ask()[:2] == (19_241, 28)
    assert batch.instrument.format(19_240) == "4810.00"
    assert batch.instrument.format(19_241) == "4810.25"
    for side in (BID, ASK):
        assert batch.levels(Side(side)).tolist() == [list(r) for r in ref.levels(side)]


def test_crossed_boundaries_only_in_the_pre_open(replayed):
    _events, result, _batch, _live, _ref, report = replayed
    crossed = report["crossed_ts"]
    assert result.crossed_boundaries == len(crossed) == CROSSED
    assert min(crossed) >= PRE_OPEN_FIRST_CROSS
    assert max(crossed) < OPEN
    d = result.depth
    best_bid, best_ask = d.bid_price[:, 0], d.ask_price[:, 0]
    both = (best_bid != NO_PRICE) & (best_ask != NO_PRICE)
    batch_crossed_ts = d.ts_event[both & (best_bid > best_ask)]
    assert batch_crossed_ts.tolist() == crossed


def test_snapshot_is_rebuilt_and_no_record_rejected(replayed):
    events, result, batch, live, _ref, report = replayed
    assert (events["flags"][:SNAPSHOT_RECORDS] & SNAPSHOT).all()
    assert not (events["flags"][SNAPSHOT_RECORDS:] & SNAPSHOT).any()
    assert result.applied == len(events) == 68_792
    assert result.rejected == {} and result.first_reject_index == -1
    assert batch.rejected == {} and live.rejected == {}
    assert report["ref_rejects"] == 0
    assert batch.last_sequence == live.last_sequence == int(events["sequence"][-1])
    assert batch.last_ts_recv == live.last_ts_recv == int(events["ts_recv"][-1])


def test_batch_and_per_event_replay_end_identical(replayed):
    events, _result, batch, live, _ref, _report = replayed
    live.check_integrity()
    assert len(batch) == len(live)
    assert batch.top() == live.top()
    assert batch.traded_volume == live.traded_volume
    fills = events["action"] == 6
    assert batch.traded_volume == int(events["size"][fills].sum())
    for side in (Side.BID, Side.ASK):
        levels = batch.levels(side)
        assert levels.tolist() == live.levels(side).tolist()
        for price in levels[:, 0].tolist():
            ids = batch.level_orders(side, price)
            assert ids.tolist() == live.level_orders(side, price).tolist()
            for oid in ids.tolist():
                assert batch.order(oid) == live.order(oid)
            sizes = {oid: batch.order(oid).size for oid in ids.tolist()}
            assert list(batch.level_queue(side, price).items()) == list(sizes.items())


def test_the_digest_needs_the_extra_row_and_sees_every_level(replayed):
    """``depth_digest`` with room for every level equals the whole-ladder digest; given one
    row too few on the wider side it misses a level and differs."""
    _events, _result, batch, _live, ref, _report = replayed
    n = max(len(ref.prices[BID]), len(ref.prices[ASK]))
    assert depth_digest(batch, n) == depth_digest(batch, n + 50) == book_digest(batch)
    assert book_digest(batch) == ref.digest
    assert depth_digest(batch, n - 2) != ref.digest


def test_one_record_off_beyond_the_top_10_is_caught_at_its_boundary(replayed):
    """The fault the per-boundary digest is there for: one add after the snapshot, deeper than
    the 10th bid, one lot larger in the per-event book's feed only. The top 10 cannot see it;
    the digest differs from that record's boundary on. (The walk stops 2,000 records later.)"""
    events, result, batch, _live, _ref, _report = replayed
    d = result.depth
    index = d.index
    adds = np.flatnonzero((events["action"] == 1) & (events["side"] == BID))
    adds = adds[adds > SNAPSHOT_RECORDS]
    at = np.searchsorted(index, adds) - 1  # the boundary before each add
    tenth = d.bid_price[at, DEPTH - 1]
    (deep,) = np.flatnonzero((tenth != NO_PRICE) & (events["price"][adds] < tenth - 5))[:1]
    i = int(adds[deep])
    end = int(index[np.searchsorted(index, i + 2_000)]) + 1
    broken = events[:end].copy()
    broken["size"][i] += 1
    report = walk(events[:end], d, ReferenceBook(), OrderBook(batch.instrument), broken)
    first = int(np.searchsorted(index, i))  # the boundary that ends record i's group
    assert report["top_mismatch"] == []
    assert report["digest_mismatch"][:1] == [first]
    assert report["digest_checks"] == len(report["boundary_index"]) > first
