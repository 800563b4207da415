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
