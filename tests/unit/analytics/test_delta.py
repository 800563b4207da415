"""Cumulative delta per session (resettable), batch and incremental, and delta candles."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.bars import BarKind, BarSpec, build_bars
from orderflow.analytics.delta import (
    CumulativeDelta,
    DeltaCandles,
    DeltaParams,
    cumulative_delta,
    delta_candles,
)
from orderflow.model.enums import Side
from orderflow.model.instruments import get_instrument
from tests.conftest import make_trades

B, A, N = int(Side.BID), int(Side.ASK), int(Side.NONE)
NS = 1_000_000_000
ES = get_instrument("ES")


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


# the ES session opens at 18:00 New York = 23:00 UTC in December
ACROSS = make_trades(
    [
        (utc("2023-12-26T22:58:00"), 100, 5, B),
        (utc("2023-12-26T22:59:59"), 100, 2, A),
        (utc("2023-12-26T23:00:00"), 101, 4, A),
        (utc("2023-12-26T23:00:01"), 101, 3, N),
        (utc("2023-12-27T23:00:00"), 102, 1, B),
    ]
)


def test_cumulative_delta_is_the_signed_running_sum():
    assert cumulative_delta(ACROSS).tolist() == [5, 3, -1, -1, 0]


def test_cumulative_delta_restarts_at_each_session_open():
    assert cumulative_delta(ACROSS, ES).tolist() == [5, 3, -4, -4, 1]
    off = cumulative_delta(ACROSS, ES, DeltaParams(reset_per_session=False))
    assert off.tolist() == [5, 3, -1, -1, 0]


def test_incremental_equals_batch_and_reset_on_demand():
    cd = CumulativeDelta(ES)
    got = [cd.update(ACROSS[i : i + 1]) for i in range(len(ACROSS))]
    assert np.concatenate(got).tolist() == [5, 3, -4, -4, 1]
    assert cd.value == 1
    cd.reset()
    assert cd.value == 0
    assert cd.update(make_trades([(utc("2023-12-28T01:00:00"), 1, 2, A)])).tolist() == [-2]
    assert cd.update(ACROSS[:0]).tolist() == []


def test_delta_candles_open_at_the_previous_close_and_span_the_seen_extremes():
    bars = build_bars(ACROSS, BarSpec(BarKind.TICK, 2))
    # bars: [+5, -2] -> delta 3, max 5, min 3; [-4, N] -> delta -4, max -4, min -4; [+1]
    candles = delta_candles(bars)
    assert candles[["open", "high", "low", "close"]].tolist() == [
        (0, 5, 0, 3),
        (3, 3, -1, -1),
        (-1, 0, -1, 0),
    ]
    assert candles["ts_open"].tolist() == bars["ts_open"].tolist()
    # per session: the second bar opens at 23:00 UTC, a new session
    candles = delta_candles(bars, ES)
    assert candles[["open", "high", "low", "close"]].tolist() == [
        (0, 5, 0, 3),
        (0, 0, -4, -4),
        (0, 1, 0, 1),
    ]
    inc = DeltaCandles(ES)
    parts = [inc.update(bars[i : i + 1]) for i in range(len(bars))]
    assert np.concatenate(parts).tobytes() == candles.tobytes()
    assert inc.value == 1
    inc.reset()
    assert inc.value == 0 and len(inc.update(bars[:0])) == 0


@st.composite
def trade_streams(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(0, 60))  # stays before the March DST change
    ts = utc("2023-12-26T20:00:00")
    rows = []
    for _ in range(n):
        ts += draw(st.sampled_from([0, NS, 600 * NS, 3 * 3600 * NS, 25 * 3600 * NS]))
        rows.append((ts, 100, draw(st.integers(1, 50)), draw(st.sampled_from([B, A, N]))))
    return make_trades(rows)


def signed(trades: np.ndarray) -> np.ndarray:
    return np.where(trades["side"] == B, 1, np.where(trades["side"] == A, -1, 0)) * trades["size"]


@settings(max_examples=60, deadline=None)
@given(trades=trade_streams(), chunk=st.integers(1, 10))
def test_cumulative_delta_equals_signed_sum_per_session_in_any_chunking(trades, chunk):
    assert (cumulative_delta(trades) == np.cumsum(signed(trades))).all()
    batch = cumulative_delta(trades, ES)
    cd = CumulativeDelta(ES)
    parts = [cd.update(trades[i : i + chunk]) for i in range(0, len(trades), chunk)]
    assert np.concatenate([np.zeros(0, np.int64), *parts]).tolist() == batch.tolist()
    # reference: group by the session each trade falls in (opens at 23:00 UTC in winter)
    sess = (trades["ts_event"] - utc("2023-12-26T23:00:00")) // (86400 * NS)
    expect = np.zeros(len(trades), dtype=np.int64)
    for s in np.unique(sess):
        m = sess == s
        expect[m] = np.cumsum(signed(trades[m]))
    assert batch.tolist() == expect.tolist()
    if len(trades):
        bars = build_bars(trades, BarSpec(BarKind.TIME, 60))
        assert delta_candles(bars)["close"][-1] == signed(trades).sum()
