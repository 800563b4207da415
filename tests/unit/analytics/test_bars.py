"""Bars from trades (time, tick, volume, range), ready-made bars, metrics, multi-timeframe."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.bars import (
    BAR_RECORD_DTYPE,
    UNKNOWN,
    BarKind,
    BarParams,
    BarSeries,
    BarSpec,
    MultiBars,
    build_bars,
)
from orderflow.model.dtypes import BAR_DTYPE, NO_PRICE
from orderflow.model.enums import Side
from tests.conftest import make_trades

B, A, N = int(Side.BID), int(Side.ASK), int(Side.NONE)
NS = 1_000_000_000
T0 = 1_700_000_040 * NS  # on a minute boundary


FIVE = make_trades(
    [
        (T0 + 5 * NS, 100, 2, B),
        (T0 + 10 * NS, 102, 3, A),
        (T0 + 59_999_999_999, 99, 1, B),
        (T0 + 60 * NS, 101, 4, A),
        (T0 + 185 * NS, 103, 1, N),
    ]
)

FIELDS = [n for n in BAR_RECORD_DTYPE.names if n not in ("vwap", "atr", "close_location")]


def row(bar: np.ndarray) -> dict[str, object]:
    return {k: bar[k].item() for k in BAR_RECORD_DTYPE.names}


def test_time_bars_align_to_the_epoch_skip_empty_intervals_and_carry_every_metric():
    bars = build_bars(FIVE, BarSpec(BarKind.TIME, 60), BarParams(atr_period=2))
    assert len(bars) == 3
    assert row(bars[0]) == {
        "ts_open": T0, "ts_close": T0 + 60 * NS, "open": 100, "high": 102, "low": 99,
        "close": 99, "volume": 6, "buy_volume": 3, "sell_volume": 3, "delta": 0,
        "max_delta": 2, "min_delta": -1, "trades": 3, "range": 3, "true_range": 3,
        "poc": NO_PRICE, "cell_start": 0, "cell_count": 0, "vwap": 605 / 6, "atr": 3.0,
        "close_location": 0.0,
    }  # fmt: skip
    assert row(bars[1]) == {
        "ts_open": T0 + 60 * NS, "ts_close": T0 + 120 * NS, "open": 101, "high": 101,
        "low": 101, "close": 101, "volume": 4, "buy_volume": 0, "sell_volume": 4, "delta": -4,
        "max_delta": -4, "min_delta": -4, "trades": 1, "range": 0, "true_range": 2,
        "poc": NO_PRICE, "cell_start": 0, "cell_count": 0, "vwap": 101.0, "atr": 2.5,
        "close_location": 0.5,
    }  # fmt: skip
    # the 120-180 s interval had no trade: no bar; the unknown-side trade counts in volume only
    assert row(bars[2]) == {
        "ts_open": T0 + 180 * NS, "ts_close": T0 + 240 * NS, "open": 103, "high": 103,
        "low": 103, "close": 103, "volume": 1, "buy_volume": 0, "sell_volume": 0, "delta": 0,
        "max_delta": 0, "min_delta": 0, "trades": 1, "range": 0, "true_range": 2,
        "poc": NO_PRICE, "cell_start": 0, "cell_count": 0, "vwap": 103.0,
        "atr": (2.5 * 1 + 2) / 2, "close_location": 0.5,
    }  # fmt: skip


def test_atr_is_the_simple_mean_until_the_period_then_wilder():
    bars = build_bars(FIVE, BarSpec(BarKind.TIME, 60), BarParams(atr_period=14))
    assert bars["atr"].tolist() == [3.0, 2.5, (2.5 * 2 + 2) / 3]


def test_forming_bar_is_separate_from_closed_bars():
    s = BarSeries(BarSpec(BarKind.TIME, 60))
    assert s.forming() is None and s.last() is None
    assert s.update(FIVE[:3]) == 0
    assert len(s) == 0
    f = s.forming()
    assert f is not None and (f["open"], f["close"], f["volume"]) == (100, 99, 6)
    assert s.update(FIVE[3:4]) == 1
    assert s.last()["volume"] == 6
    assert s.forming()["volume"] == 4
    with pytest.raises(ValueError):
        s.bars()["volume"] = 0


def test_advance_closes_a_time_bar_whose_interval_ended_without_a_trade():
    s = BarSeries(BarSpec(BarKind.TIME, 60))
    s.update(FIVE[:1])
    assert not s.advance(T0 + 59 * NS)
    assert s.advance(T0 + 60 * NS)
    assert len(s) == 1 and s.forming() is None
    assert not BarSeries(BarSpec(BarKind.TICK, 5)).advance(T0)


def test_tick_bars_close_on_their_nth_trade():
    bars = build_bars(FIVE, BarSpec(BarKind.TICK, 2))
    got = bars[["ts_open", "ts_close", "open", "high", "low", "close", "volume", "trades"]]
    assert got.tolist() == [
        (T0 + 5 * NS, T0 + 10 * NS, 100, 102, 100, 102, 5, 2),
        (T0 + 59_999_999_999, T0 + 60 * NS, 99, 101, 99, 101, 5, 2),
        (T0 + 185 * NS, T0 + 185 * NS, 103, 103, 103, 103, 1, 1),
    ]
    assert bars["buy_volume"].tolist() == [2, 1, 0]
    assert bars["sell_volume"].tolist() == [3, 4, 0]


def test_volume_bars_split_an_overflowing_trade_across_bars():
    bars = build_bars(FIVE, BarSpec(BarKind.VOLUME, 4))
    got = bars[["ts_open", "open", "high", "low", "close", "volume", "buy_volume",
                "sell_volume", "trades"]]  # fmt: skip
    assert got.tolist() == [
        (T0 + 5 * NS, 100, 102, 100, 102, 4, 2, 2, 2),
        (T0 + 10 * NS, 102, 102, 99, 101, 4, 1, 3, 3),
        (T0 + 60 * NS, 101, 103, 101, 103, 3, 0, 2, 2),
    ]
    big = make_trades([(T0, 50, 10, B)])
    bars = build_bars(big, BarSpec(BarKind.VOLUME, 4))
    assert bars["volume"].tolist() == [4, 4, 2]
    assert bars["buy_volume"].tolist() == [4, 4, 2]
    assert bars["trades"].tolist() == [1, 1, 1]


def test_range_bars_never_exceed_their_range_and_open_at_the_breaking_trade():
    bars = build_bars(FIVE, BarSpec(BarKind.RANGE, 2))
    assert bars[["open", "high", "low", "close", "volume"]].tolist() == [
        (100, 102, 100, 102, 5),
        (99, 101, 99, 101, 5),
        (103, 103, 103, 103, 1),
    ]
    # a gap makes no phantom bars
    gap = make_trades([(T0, 100, 1, B), (T0 + 1, 120, 1, B)])
    assert build_bars(gap, BarSpec(BarKind.RANGE, 2))["open"].tolist() == [100, 120]
    assert build_bars(gap, BarSpec(BarKind.RANGE, 2))["true_range"].tolist() == [0, 20]


def test_ready_made_bars_get_metrics_and_unknown_flow_fields():
    raw = np.zeros(2, dtype=BAR_DTYPE)
    raw["ts_event"] = [T0, T0 + 60 * NS]
    raw["open"], raw["high"], raw["low"], raw["close"] = [10, 12], [14, 13], [9, 11], [12, 11]
    raw["volume"] = [100, 50]
    s = BarSeries(BarSpec(BarKind.TIME, 60))
    s.load_bars(raw)
    bars = s.bars()
    assert bars["ts_close"].tolist() == [T0 + 60 * NS, T0 + 120 * NS]
    assert bars["range"].tolist() == [5, 2]
    assert bars["true_range"].tolist() == [5, 2]
    assert bars["atr"].tolist() == [5.0, 3.5]
    assert bars["close_location"].tolist() == [3 / 5, 0.0]
    for key in ("buy_volume", "sell_volume", "delta", "max_delta", "min_delta", "trades"):
        assert bars[key].tolist() == [UNKNOWN, UNKNOWN]
    assert np.isnan(bars["vwap"]).all()
    # trades continue the series after the loaded history (TR uses the loaded close 11)
    s.update(make_trades([(T0 + 125 * NS, 15, 1, B)]))
    assert s.forming()["true_range"] == 4
    t = BarSeries(BarSpec(BarKind.TICK, 10))
    t.load_bars(raw)
    assert t.bars()["ts_close"].tolist() == [UNKNOWN, UNKNOWN]
    t.update(make_trades([(T0, 15, 1, B)]))
    with pytest.raises(ValueError):
        t.load_bars(raw)


def test_multibars_series_are_indexed_in_spec_order_like_bars_in_progress():
    specs = [BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TICK, 2), BarSpec(BarKind.VOLUME, 4)]
    mb = MultiBars(specs)
    assert mb.update(FIVE) == [2, 2, 2]
    assert len(mb) == 3
    assert mb[1].spec == specs[1]
    assert mb.bars(0)["volume"].tolist() == [6, 4]
    assert mb.forming(2)["volume"] == 3
    assert mb.advance(T0 + 240 * NS) == [True, False, False]
    with pytest.raises(ValueError):
        MultiBars([])
    with pytest.raises(ValueError):
        BarSpec(BarKind.TICK, 0)


def test_output_buffers_grow_past_their_initial_capacity():
    rows = [(T0 + i * 60 * NS, 100 + i % 7, 1 + i % 3, i % 3) for i in range(500)]
    trades = make_trades(rows)
    bars = build_bars(trades, BarSpec(BarKind.TIME, 60))
    assert len(bars) == 500
    assert bars["close"].tolist() == trades["price"].tolist()


# ---------------------------------------------------------------------------------------------
# properties


@st.composite
def trade_streams(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(0, 60))
    rows, ts, price = [], T0, 1000
    for _ in range(n):
        ts += draw(st.sampled_from([0, 1, NS, 20 * NS, 61 * NS, 400 * NS]))
        price += draw(st.integers(-3, 3)) + draw(st.sampled_from([0, 0, 0, 40, -40]))
        rows.append((ts, price, draw(st.integers(1, 25)), draw(st.sampled_from([B, A, N]))))
    return make_trades(rows)


SPECS = st.sampled_from(
    [
        BarSpec(BarKind.TIME, 1),
        BarSpec(BarKind.TIME, 60),
        BarSpec(BarKind.TICK, 3),
        BarSpec(BarKind.VOLUME, 7),
        BarSpec(BarKind.RANGE, 4),
    ]
)


@settings(max_examples=60, deadline=None)
@given(trades=trade_streams(), spec=SPECS, cuts=st.lists(st.integers(0, 60), max_size=6))
def test_batch_equals_incremental_and_volume_is_conserved(trades, spec, cuts):
    batch = build_bars(trades, spec)
    series = BarSeries(spec)
    bounds = sorted({0, len(trades), *[min(c, len(trades)) for c in cuts]})
    for a, b in pairwise(bounds):
        series.update(trades[a:b])
    assert series.all_bars().tobytes() == batch.tobytes()
    assert batch["volume"].sum() == trades["size"].sum()
    known = trades["side"] != N
    assert batch["buy_volume"].sum() + batch["sell_volume"].sum() == trades["size"][known].sum()
    assert (batch["delta"] == batch["buy_volume"] - batch["sell_volume"]).all()
    assert (batch["min_delta"] <= batch["delta"]).all()
    assert (batch["delta"] <= batch["max_delta"]).all()
    assert (batch["range"] == batch["high"] - batch["low"]).all()
    closed = series.bars()
    if spec.kind == BarKind.RANGE:
        assert (batch["range"] <= spec.size).all()
    if spec.kind == BarKind.VOLUME:
        assert (closed["volume"] == spec.size).all()
    if spec.kind == BarKind.TICK:
        assert (closed["trades"] == spec.size).all()
    if spec.kind == BarKind.TIME:
        assert (batch["ts_open"] % (spec.size * NS) == 0).all()
        assert (np.diff(batch["ts_open"]) > 0).all()
