"""The views' print ring: appends in order, wraps at its bound keeping the latest, says how
many a capped read left out, reads by time; a batch larger than the ring keeps its tail; the
aggressor as the wire's sign; bounds of ``server.view`` refused when out of range."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.server.view import InstrumentView, ViewParams


def trades(t0: int, n: int) -> np.ndarray:
    a = np.zeros(n, dtype=TRADE_DTYPE)
    a["ts_event"] = np.arange(t0, t0 + n)
    a["price"] = 4800 + a["ts_event"] % 7
    a["size"] = 1 + a["ts_event"] % 3
    a["side"] = a["ts_event"] % 3  # BID (buy), ASK (sell), NONE
    return a


def test_the_ring_wraps_keeping_the_latest_in_order() -> None:
    iv = InstrumentView.new(ViewParams(prints=1000))
    for t0 in range(0, 2500, 100):
        iv.take_prints(trades(t0, 100))
    assert iv.n_prints == 2500
    rows, dropped = iv.prints_since(0, 10_000)
    assert rows["ts"].tolist() == list(range(1500, 2500)) and dropped == 1500
    rows, dropped = iv.prints_since(2400, 50)
    assert rows["ts"].tolist() == list(range(2450, 2500)) and dropped == 50
    assert rows["side"].tolist()[:3] == [[1, -1, 0][t % 3] for t in range(2450, 2453)]
    assert iv.prints_between(1990, 2004, 10)["ts"].tolist() == list(range(1995, 2005))
    assert iv.last_price == 4800 + 2499 % 7


def _numpy_take(ring: np.ndarray, n_prints: int, t: np.ndarray) -> None:
    """The ring's rows written by numpy, field by field (the reference)."""
    i = n_prints % len(ring)
    k = min(len(t), len(ring) - i)
    for dst, src in ((slice(i, i + k), slice(0, k)), (slice(0, len(t) - k), slice(k, len(t)))):
        if src.stop > src.start:
            rows, part = ring[dst], t[src]
            rows["ts"], rows["price"], rows["size"] = part["ts_event"], part["price"], part["size"]
            rows["side"] = np.array([1, -1, 0], np.int8)[np.minimum(part["side"], 2)]


def test_the_compiled_ring_write_equals_numpys() -> None:
    """Batches of 1 to 1,500 prints (growing the ring, wrapping it, past its bound) with every
    aggressor code a record can hold at the wire's edges (3 and above NONE, negative ones
    counted from the end as a numpy index is), some not contiguous or not aligned: the ring,
    the count and the last price as numpy's field-by-field writes leave them."""
    rng = np.random.default_rng(7)
    iv = InstrumentView.new(ViewParams(prints=1000))
    ref, n_ref = np.zeros(0, dtype=iv.prints.dtype), 0
    t0 = 0
    for k in range(60):
        n = int(rng.choice([1, 3, 7, 40, 333, 1500]))
        a = trades(t0, 2 * n)[::2] if k % 5 == 1 else trades(t0, n)  # strided
        if k % 7 == 3:  # not aligned: the records one byte into a buffer
            buf = np.zeros(a.nbytes + 1, np.uint8)
            b = np.frombuffer(buf[1:].data, dtype=TRADE_DTYPE)
            b[:] = a
            a = b
        a["side"] = rng.choice([0, 1, 2, 3, 100, -1, -2, -3], len(a))
        t0 += 3 * n
        iv.take_prints(a)
        if len(ref) < 1000 and n_ref + len(a) > len(ref):
            grown = np.zeros(min(1000, max(1024, 2 * (n_ref + len(a)))), dtype=ref.dtype)
            grown[: len(ref)] = ref
            ref = grown
        if len(a) > 1000:
            n_ref += len(a) - 1000
            a = a[len(a) - 1000 :]
        _numpy_take(ref, n_ref, a)
        n_ref += len(a)
        assert iv.prints.tobytes() == ref.tobytes() and iv.n_prints == n_ref, k
        assert iv.last_price == int(a["price"][-1])


def test_bar_vwaps_made_once_a_bar_equal_those_made_at_each_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Samples of a forming bar's session VWAP (bars that start, come back after others, hold
    no volume yet, or none at all, past the bound of bars kept), read at random moments: each
    bar's values, the bars kept and their order as if every sample were made a value at once."""
    import orderflow.server.view as view_module
    from orderflow.analytics.vwap import VwapTracker
    from orderflow.model.instruments import get_instrument

    monkeypatch.setattr(view_module, "BAR_VWAPS", 5)
    rng = np.random.default_rng(3)
    tracker = VwapTracker(get_instrument("ES"))
    iv = InstrumentView.new(ViewParams())
    want: dict[int, tuple[float, tuple[float, ...], tuple[float, ...]]] = {}
    start, t = 0, 0
    for k in range(400):
        if rng.random() < 0.15:  # another bar, sometimes one seen before
            start = int(rng.choice([start + 60, max(0, start - 60), start + 120]))
        if rng.random() < 0.8:
            tracker.update(trades(t, int(rng.integers(1, 4))))
            t += 10
        state = tracker.state()
        if rng.random() < 0.05:  # no volume (a new session's first moment)
            state = (state[0] * 0, state[1])
        bar = None if k % 17 == 0 else start  # (no forming bar)
        iv.keep_sample((t, 0.0, 0.0, 0.0, 0.0, 0.0, bar, (tracker, state)))
        if bar is not None:  # the values as they were made at each sample
            vw = tracker.value_of(state)
            if vw.volume:
                if bar not in want and len(want) >= 5:
                    del want[next(iter(want))]
                want[bar] = (vw.vwap, vw.upper, vw.lower)
        if rng.random() < 0.1:
            assert list(iv.bar_vwaps.items()) == list(want.items()), k
    assert list(iv.bar_vwaps.items()) == list(want.items())
    assert len(want) == 5


def test_a_batch_larger_than_the_ring_keeps_its_tail() -> None:
    iv = InstrumentView.new(ViewParams(prints=1000))
    iv.take_prints(trades(0, 2500))
    rows, _ = iv.prints_since(0, 10_000)
    assert iv.n_prints == 2500 and rows["ts"].tolist() == list(range(1500, 2500))


def test_bounds_out_of_range_are_refused() -> None:
    for bad in ({"frame_hz": 31}, {"prints": 10}, {"queue_frames": 0}, {"heat_ticks": 0}):
        with pytest.raises(ParameterError):
            ViewParams(**bad)  # type: ignore[arg-type]


def test_heat_rows_of_a_block_equal_the_columns_one_by_one() -> None:
    """A frame's heat columns built on the whole block (trim, prices, None for a missing side)
    equal :func:`heat_dict` of each column, across the ring's wrap and with empty columns."""
    from orderflow.analytics.heatmap import HeatColumns
    from orderflow.model.instruments import get_instrument
    from orderflow.server.view import heat_rows
    from tests.reference.heat import heat_dict

    es = get_instrument("ESH4")
    h = HeatColumns(10, 3, 5)
    empty = np.zeros(0, dtype=np.int64)
    for t in range(0, 120, 10):
        if t == 50:  # a column with no book at all
            h.update(t, empty, empty, empty, empty)
            continue
        bid = np.array([19240, 19239 - t // 40], dtype=np.int64), np.array([t + 1, 3])
        ask = (np.array([19242], dtype=np.int64), np.array([7])) if t % 20 else (empty, empty)
        h.update(t, *bid, *ask, 19241 if t > 30 else -1)
    assert h.closed > h.kept == 5  # the ring went round
    tick = float(es.tick_size)
    for k, limit in ((0, 100), (h.closed - 2, 100), (0, 2), (h.closed, 5)):
        one_by_one = [heat_dict(c, es.to_price, tick) for c in h.since(k, limit)]
        assert heat_rows(h.block(k, limit), es) == one_by_one
        # the backfill's block by time is the same columns as the list by time
        by_time = [heat_dict(c, es.to_price, tick) for c in h.between(65, 95, limit)]
        assert heat_rows(h.block_between(65, 95, limit), es) == by_time
    rows = heat_rows(h.block(0, 100), es)
    assert [r["ts"] for r in rows] == [c.ts for c in h.since(0, 100)]
    asks = [r["ask"] for r in rows]
    assert 4810.5 in asks and None in asks  # a side missing in some columns: None, not a price
