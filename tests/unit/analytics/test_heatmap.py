"""Heatmap columns: the largest size per price per bucket of data time, over a window fixed at
the bucket's first mid; a column closes when a later bucket starts; the ring keeps the latest;
reads by number and by time; a random sequence against a naive model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.heatmap import HeatColumns
from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import NO_PRICE


def rows(*pairs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p for p, _ in pairs], dtype=np.int64),
            np.array([q for _, q in pairs], dtype=np.int64))  # fmt: skip


def test_largest_size_per_price_and_window_at_the_first_mid() -> None:
    h = HeatColumns(bucket_ns=100, half_width=3, capacity=10)
    h.update(5, *rows((100, 4), (99, 9)), *rows((102, 1), (103, 7)), last=101)
    h.update(50, *rows((101, 6), (100, 2)), *rows((104, 8), (110, 50)))  # mid moved: window not
    assert h.closed == 0  # the bucket is still open
    h.update(120, *rows((100, 1)), *rows((101, 1)))
    assert h.closed == 1
    c = h.column(0)
    assert c.ts == 0
    assert c.p0 == (100 + 102) // 2 - 3 == 98
    assert c.sizes.tolist() == [0, 9, 4, 6, 1, 7, 8]  # 98..104; 110 is outside
    assert (c.bid, c.ask, c.last) == (101, 104, 101)


def test_one_sided_book_and_empty_book() -> None:
    h = HeatColumns(10, 2, 4)
    empty = np.zeros(0, dtype=np.int64)
    h.update(0, empty, empty, empty, empty)  # nothing: no column starts
    h.update(3, *rows((50, 5)), empty, empty)
    h.update(15, empty, empty, *rows((60, 1)))
    c = h.column(0)
    assert (c.ts, c.p0, c.sizes.tolist(), c.ask) == (0, 48, [0, 0, 5, 0, 0], NO_PRICE)


def test_the_ring_keeps_the_latest_and_reads_by_time() -> None:
    h = HeatColumns(10, 1, 3)
    for t in range(0, 100, 10):
        h.update(t, *rows((t, t + 1)), *rows((t + 1, 1)))
    assert h.closed == 9 and h.kept == 3
    assert [c.ts for c in h.since(0, 100)] == [60, 70, 80]
    assert [c.ts for c in h.since(8, 100)] == [80]
    assert [c.ts for c in h.between(65, 80, 100)] == [70, 80]
    assert [c.ts for c in h.between(0, 1000, 2)] == [70, 80]
    with pytest.raises(IndexError):
        h.column(2)


def test_bad_parameters() -> None:
    with pytest.raises(ParameterError):
        HeatColumns(0, 1, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.lists(st.tuples(st.integers(90, 110),
       st.integers(1, 99)), min_size=1, max_size=6)), min_size=1, max_size=40))  # fmt: skip
def test_against_a_naive_model(steps: list[tuple[int, list[tuple[int, int]]]]) -> None:
    h = HeatColumns(bucket_ns=10, half_width=5, capacity=1000)
    model: dict[int, dict[str, object]] = {}
    t = 0
    for dt, levels in steps:
        t += dt
        bids = sorted({p: q for p, q in levels if p <= 100}.items(), reverse=True)
        asks = sorted({p: q for p, q in levels if p > 100}.items())
        if not bids and not asks:
            continue
        h.update(t, *rows(*bids) if bids else (np.zeros(0, np.int64),) * 2,
                 *rows(*asks) if asks else (np.zeros(0, np.int64),) * 2)  # fmt: skip
        b = t - t % 10
        if b not in model:
            bb, aa = (bids[0][0] if bids else None), (asks[0][0] if asks else None)
            mid = (bb + aa) // 2 if bb is not None and aa is not None else (bb or aa)
            model[b] = {"p0": mid - 5, "sizes": {}}
        col = model[b]
        for p, q in bids + asks:
            if 0 <= p - col["p0"] <= 10:  # type: ignore[operator]
                s = col["sizes"]
                s[p] = max(s.get(p, 0), q)  # type: ignore[union-attr]
    closed = sorted(model)[:-1]
    assert [c.ts for c in h.since(0, 1000)] == closed
    for c in h.since(0, 1000):
        got = {c.p0 + i: int(v) for i, v in enumerate(c.sizes) if v}
        assert (c.p0, got) == (model[c.ts]["p0"], model[c.ts]["sizes"])


def _ladder_step(rows: dict[int, list[tuple[int, int]]], side: int, op: int, pos: int,
                 price: int, size: int) -> bool:  # fmt: skip
    """book.ladder's rules on lists: Add inserts, Update overwrites (appends at the end),
    Remove deletes; a position out of range or a price out of order is refused."""
    r = rows[side]

    def fits(prev: int, nxt: int) -> bool:
        better = (lambda a, b: a > b) if side == 0 else (lambda a, b: a < b)
        return (prev < 0 or better(r[prev][0], price)) and (
            nxt >= len(r) or better(price, r[nxt][0])
        )

    if op == 2:
        if not 0 <= pos < len(r):
            return False
        del r[pos]
        return True
    if not 0 <= pos <= len(r):
        return False
    if op == 1 and pos < len(r):
        if not fits(pos - 1, pos + 1):
            return False
        r[pos] = (price, size)
        return True
    if not fits(pos - 1, pos):
        return False
    r.insert(pos, (price, size))
    return True


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 25), st.integers(0, 1), st.integers(0, 2),
                          st.integers(0, 4), st.integers(90, 110), st.integers(0, 99)),
                min_size=1, max_size=80),
       st.lists(st.integers(1, 20), min_size=1, max_size=10))  # fmt: skip
def test_depth_events_against_a_naive_model(
    steps: list[tuple[int, int, int, int, int, int]], cuts: list[int]
) -> None:
    """NinjaTrader depth events in batches cut anywhere: every closed bucket equals the
    largest size per price over the state at its start and after each of its events, buckets
    without events carry the state, refused events change nothing."""
    from orderflow.model.dtypes import NT_DEPTH_DTYPE

    bucket, half = 10, 5
    h = HeatColumns(bucket_ns=bucket, half_width=half, capacity=10_000)
    model: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    want: dict[int, dict[str, object]] = {}

    def see(b: int) -> None:
        bb = model[0][0][0] if model[0] else None
        aa = model[1][0][0] if model[1] else None
        if b not in want:
            if bb is None and aa is None:
                return
            mid = (bb + aa) // 2 if bb is not None and aa is not None else (bb or aa)
            assert mid is not None
            want[b] = {"p0": mid - half, "sizes": {}}
        col = want[b]
        for p, q in model[0] + model[1]:
            if 0 <= p - col["p0"] <= 2 * half:  # type: ignore[operator]
                s: dict[int, int] = col["sizes"]  # type: ignore[assignment]
                s[p] = max(s.get(p, 0), q)

    ev = np.zeros(len(steps), dtype=NT_DEPTH_DTYPE)
    t, cur = 0, -1
    for i, (dt, side, op, pos, price, size) in enumerate(steps):
        t += dt
        ev[i] = (t, t, i, price, size, pos, op, side, 0, (0,))
        b = t - t % bucket
        if b > cur:
            for k in range(cur + bucket if cur >= 0 else b, b + 1, bucket):
                see(k)
            cur = b
        _ladder_step(model, side, op, pos, price, size)
        see(cur)
    # feed in batches, the book's rows (the model's) after each
    replay: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    i = 0
    for n in [*cuts, len(ev)]:
        chunk = ev[i : i + n]
        i += len(chunk)
        for e in chunk:
            _ladder_step(replay, int(e["side"]), int(e["operation"]), int(e["position"]),
                         int(e["price"]), int(e["size"]))  # fmt: skip
        book = (
            (*rows(*replay[0]), *rows(*replay[1]))
            if replay[0] and replay[1]
            else tuple(
                np.array([x[k] for x in replay[s]], dtype=np.int64) for s in (0, 1) for k in (0, 1)
            )
        )
        h.apply_depth(chunk, np.zeros(0, np.int64), np.zeros(0, np.int64), book)  # type: ignore[arg-type]
        if i >= len(ev):
            break
    assert h.resynced == 0
    closed = sorted(k for k in want if k < cur)  # the last event's bucket is open
    got_cols = h.since(0, 10_000)
    assert [c.ts for c in got_cols] == closed
    for c in got_cols:
        got = {c.p0 + k: int(v) for k, v in enumerate(c.sizes) if v}
        sizes = {p: q for p, q in want[c.ts]["sizes"].items() if q}  # type: ignore[attr-defined]
        assert (c.p0, got) == (want[c.ts]["p0"], sizes)


def _nt(*events: tuple[int, int, int, int, int, int]) -> np.ndarray:
    """NT depth events ``(ts, side, op, pos, price, size)``."""
    from orderflow.model.dtypes import NT_DEPTH_DTYPE

    out = np.zeros(len(events), dtype=NT_DEPTH_DTYPE)
    for i, (t, side, op, pos, price, size) in enumerate(events):
        out[i] = (t, t, i, price, size, pos, op, side, 0, (0,))
    return out


def test_a_gap_carries_the_book_and_keeps_at_most_the_ring() -> None:
    """A gap of 10 buckets into a ring of 4: the 4 latest columns, each the book carried
    (bid 99 x 5, ask 101 x 7), with bid, ask and the last print at each bucket's end."""
    h = HeatColumns(bucket_ns=10, half_width=5, capacity=4)
    none = np.zeros(0, np.int64)
    book = (*rows((99, 5)), *rows((101, 7)))
    h.apply_depth(_nt((1, 0, 0, 0, 99, 5), (2, 1, 0, 0, 101, 7)), np.array([3]),
                  np.array([100]), book)  # fmt: skip
    h.apply_depth(_nt((105, 0, 1, 0, 99, 6)), none, none, (*rows((99, 6)), *rows((101, 7))))
    assert h.kept == 4  # bucket 0 and the empty ones closed, the ring keeps 4
    cols = h.since(0, 100)
    assert [c.ts for c in cols] == [60, 70, 80, 90]
    for c in cols:
        assert (c.p0, c.bid, c.ask, c.last) == (95, 99, 101, 100)
        assert {c.p0 + i: int(v) for i, v in enumerate(c.sizes) if v} == {99: 5, 101: 7}


def test_a_stale_book_starts_again_from_its_rows() -> None:
    """After :meth:`unsync` (a stale book) the next batch is the book's rows at its last
    event (its events are not walked: the state before them is unknown), then exact again."""
    h = HeatColumns(bucket_ns=10, half_width=5, capacity=100)
    none = np.zeros(0, np.int64)
    h.apply_depth(_nt((1, 0, 0, 0, 99, 5)), none, none, (*rows((99, 5)), *rows()))
    h.unsync()
    # the events say 98 x 50 for a moment; the book (after a snapshot) says 99 x 8 only
    h.apply_depth(_nt((12, 0, 0, 1, 98, 50), (13, 0, 2, 1, 98, 0)), none, none,
                  (*rows((99, 8)), *rows()))  # fmt: skip
    assert h.synced
    h.apply_depth(_nt((21, 0, 1, 0, 99, 9)), none, none, (*rows((99, 9)), *rows()))
    cols = h.since(0, 100)
    assert [c.ts for c in cols] == [0, 10]
    assert {cols[1].p0 + i: int(v) for i, v in enumerate(cols[1].sizes) if v} == {99: 8}


def _state(h: HeatColumns) -> list[object]:
    arrays = (h._ts, h._meta, h._sizes, h._cur, h._st, h._lp, h._ls, h._cnt)
    return [h.closed, h.resynced, h.synced, *(a.tolist() for a in arrays)]


@pytest.mark.parametrize("capacity", [3, 8, 400])
def test_one_call_a_batch_equals_the_steps(capacity: int) -> None:
    """:meth:`HeatColumns.apply_batch` (one compiled call from the records) leaves every
    array, count and flag as :meth:`HeatColumns.apply_depth` does, batch after batch: random
    NinjaTrader events with prints, gaps longer than the ring, resets, refused events, a
    stale book, a book whose rows differ from the events, and rings that wrap or have no
    room before their end (those take the steps)."""
    from orderflow.model.dtypes import NT_DEPTH_DTYPE, TRADE_DTYPE

    rng = np.random.default_rng(capacity)
    a, b = (HeatColumns(bucket_ns=10, half_width=4, capacity=capacity) for _ in range(2))
    t, book = 0, {0: [(99, 5)], 1: [(101, 7)]}
    for k in range(200):
        n = int(rng.integers(1, 12))
        depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
        gap = 45 * capacity if rng.random() < 0.03 else 0  # longer than the ring
        for i in range(n):
            t += int(rng.choice([0, 1, 3, 12])) + (gap if i == n // 2 else 0)
            side, op = int(rng.integers(0, 2)), int(rng.integers(0, 3))
            pos, price = int(rng.integers(0, 4)), int(rng.integers(94, 107))
            flags = 1 if rng.random() < 0.02 else 0  # Flags.RESET
            depth[i] = (t, t, i, price, int(rng.integers(0, 30)), pos, op, side, flags, (0,))
            if flags:
                book[side] = []
            else:
                _ladder_step(book, side, op, pos, price, int(depth[i]["size"]))
        prints = np.zeros(int(rng.integers(0, 4)), dtype=TRADE_DTYPE)
        prints["ts_event"] = np.sort(rng.integers(max(0, t - 30), t + 1, len(prints)))
        prints["price"] = rng.integers(95, 106, len(prints))
        rows_ = tuple(np.array([x[j] for x in book[s]], dtype=np.int64)
                      for s in (0, 1) for j in (0, 1))  # fmt: skip
        if k % 37 == 5:  # the book says otherwise than the events: a resync
            rows_ = (rows_[0], rows_[1] + 1, rows_[2], rows_[3])
        if k % 53 == 7:
            a.unsync()
            b.unsync()
        a.apply_depth(depth, prints["ts_event"], prints["price"], rows_)  # type: ignore[arg-type]
        b.apply_batch(depth, prints, rows_)  # type: ignore[arg-type]
        assert _state(b) == _state(a), k
    assert a.resynced and a.closed > capacity
