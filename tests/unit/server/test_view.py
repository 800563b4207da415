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
