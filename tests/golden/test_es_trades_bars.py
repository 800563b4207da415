"""Trades, bars, footprint and cumulative delta on the ESH4 MBO recording, checked against
independent numpy groupings computed here."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.analytics.bars import BarKind, BarSpec, MultiBars, build_bars
from orderflow.analytics.delta import cumulative_delta, delta_candles
from orderflow.analytics.footprint import FootprintSeries
from orderflow.analytics.trades import trades_from_mbo
from orderflow.io.dbn import read_mbo
from orderflow.model.enums import Side
from tests.conftest import ES_MBO, need

NS = 1_000_000_000


@pytest.fixture(scope="module")
def es():
    mbo, inst = read_mbo(need(ES_MBO))
    return trades_from_mbo(mbo), inst


def signed(trades: np.ndarray) -> np.ndarray:
    sign = np.where(trades["side"] == Side.BID, 1, np.where(trades["side"] == Side.ASK, -1, 0))
    return sign * trades["size"]


def grouped_bars(trades: np.ndarray, seconds: int) -> dict[str, list]:
    """Time bars by plain numpy grouping on floor(ts / interval), independent of the kernel."""
    key = trades["ts_event"] // (seconds * NS)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(trades)]
    out: dict[str, list] = {k: [] for k in ("ts_open", "open", "high", "low", "close",
                                             "volume", "buy", "sell", "vwap")}  # fmt: skip
    for a, b in zip(starts, ends, strict=True):
        g = trades[a:b]
        p, q = g["price"], g["size"]
        out["ts_open"].append(int(key[a]) * seconds * NS)
        out["open"].append(int(p[0]))
        out["high"].append(int(p.max()))
        out["low"].append(int(p.min()))
        out["close"].append(int(p[-1]))
        out["volume"].append(int(q.sum()))
        out["buy"].append(int(q[g["side"] == Side.BID].sum()))
        out["sell"].append(int(q[g["side"] == Side.ASK].sum()))
        out["vwap"].append(float((p * q).sum() / q.sum()))
    return out


def test_esh4_has_2973_trades_of_9892_contracts(es):
    trades, _ = es
    assert len(trades) == 2973
    assert int(trades["size"].sum()) == 9892
    assert (np.diff(trades["ts_event"]) >= 0).all()


@pytest.mark.parametrize("seconds", [60, 300])
def test_time_bars_equal_an_independent_grouping(es, seconds):
    trades, _ = es
    bars = build_bars(trades, BarSpec(BarKind.TIME, seconds))
    ref = grouped_bars(trades, seconds)
    assert bars["ts_open"].tolist() == ref["ts_open"]
    for key in ("open", "high", "low", "close", "volume"):
        assert bars[key].tolist() == ref[key], key
    assert bars["buy_volume"].tolist() == ref["buy"]
    assert bars["sell_volume"].tolist() == ref["sell"]
    assert bars["vwap"].tolist() == ref["vwap"]
    assert int(bars["volume"].sum()) == 9892


def test_footprint_cells_of_every_minute_sum_to_its_volume(es):
    trades, _ = es
    fp = FootprintSeries(BarSpec(BarKind.TIME, 60))
    fp.update(trades)
    bars = fp.bars()
    assert len(bars) == 59  # the 60th minute is still forming at the end of the file
    for i, bar in enumerate(bars):
        cells = fp.bar_cells(i)
        assert int((cells["bid"] + cells["ask"] + cells["other"]).sum()) == bar["volume"]
        assert int(cells["ask"].sum()) == bar["buy_volume"]
        assert int(cells["bid"].sum()) == bar["sell_volume"]
    fc = fp.forming_cells()
    assert int((fc["bid"] + fc["ask"] + fc["other"]).sum()) == fp.forming()["volume"]


def test_cumulative_delta_at_the_end_equals_the_signed_sum(es):
    trades, inst = es
    total = int(signed(trades).sum())
    cd = cumulative_delta(trades, inst)
    assert cd[-1] == total == 796
    assert (cd == np.cumsum(signed(trades))).all()  # one session: 18:00 New York onwards
    candles = delta_candles(build_bars(trades, BarSpec(BarKind.TIME, 60)), inst)
    assert candles["close"][-1] == total


def test_multi_timeframe_series_agree(es):
    trades, _ = es
    mb = MultiBars([BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TIME, 300)])
    for i in range(0, len(trades), 97):
        mb.update(trades[i : i + 97])
    one, five = mb[0].all_bars(), mb[1].all_bars()
    assert one.tobytes() == build_bars(trades, BarSpec(BarKind.TIME, 60)).tobytes()
    for bar in five:
        m = one[(one["ts_open"] >= bar["ts_open"]) & (one["ts_open"] < bar["ts_close"])]
        assert len(m) == 5
        assert m["open"][0] == bar["open"] and m["close"][-1] == bar["close"]
        assert m["high"].max() == bar["high"] and m["low"].min() == bar["low"]
        for key in ("volume", "buy_volume", "sell_volume", "delta", "trades"):
            assert m[key].sum() == bar[key], key
        assert m["ts_close"][-1] == bar["ts_close"]
        assert (m["vwap"] * m["volume"]).sum() / m["volume"].sum() == pytest.approx(bar["vwap"])


def test_aggressor_rules_against_the_exchange_aggressor():
    """The bid/ask rule, fed the L3 book's best bid and ask before each print's event group,
    agrees with CME's recorded aggressor on every print that has one; the tick rule on 2,222
    of 2,972 (74.8%; 7,976 of 9,848 contracts). Measured here on ESH4."""
    from orderflow.analytics.trades import classify_bidask, classify_tick_rule
    from orderflow.book.l3 import OrderBook
    from orderflow.model.enums import Action

    mbo, inst = read_mbo(need(ES_MBO))
    depth = OrderBook(inst).apply_mbo(mbo, record_depth=1).depth
    trades = trades_from_mbo(mbo)
    before = np.searchsorted(depth.index, np.flatnonzero(mbo["action"] == Action.TRADE)) - 1
    ok = before >= 0
    bid = np.where(ok, depth.bid_price[np.maximum(before, 0), 0], -1)
    ask = np.where(ok, depth.ask_price[np.maximum(before, 0), 0], -1)
    known = trades["side"] != Side.NONE
    recorded = trades["side"][known]
    by_quotes = classify_bidask(trades["price"], bid, ask)[known]
    by_ticks = classify_tick_rule(trades["price"])[known]
    assert (int(known.sum()), int((by_quotes == recorded).sum())) == (2_972, 2_972)
    assert int((by_ticks == recorded).sum()) == 2_222
    assert int(trades["size"][known][by_ticks == recorded].sum()) == 7_976
