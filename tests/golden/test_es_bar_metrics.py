"""Golden: bar metrics and footprint imbalances on the real ESH4 trades, each re-derived here in
plain Python from the raw prints (never through the implementation): true range and
NinjaTrader's ATR, close location, max/min seen delta, POC, diagonal and stacked imbalances at
every minute bar, and tick, volume and range bars."""

from __future__ import annotations

from collections import defaultdict

import pytest

from orderflow.analytics.bars import BarKind, BarSpec, build_bars
from orderflow.analytics.footprint import FootprintSeries, imbalances, stacked_imbalances
from orderflow.analytics.trades import trades_from_mbo
from orderflow.io.dbn import read_mbo
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow
NS = 1_000_000_000
TOTAL_BUY_IMB, TOTAL_SELL_IMB, STACKS = 78, 62, 10


@pytest.fixture(scope="module")
def trades():
    mbo, _ = read_mbo(need(ES_MBO))
    return trades_from_mbo(mbo)


def minute_groups(tr):
    """List of minute bars: the raw prints of each, by plain Python grouping."""
    groups = defaultdict(list)
    for t, p, q, s in zip(tr["ts_event"].tolist(), tr["price"].tolist(), tr["size"].tolist(),
                          tr["side"].tolist(), strict=True):  # fmt: skip
        groups[t // (60 * NS)].append((p, q, s))
    return [groups[k] for k in sorted(groups)]


def test_true_range_atr_close_location_and_seen_delta(trades):
    bars = build_bars(trades, BarSpec(BarKind.TIME, 60))  # 59 closed + the forming one
    groups = minute_groups(trades)
    assert len(bars) == len(groups) == 60
    prev_close, atr = None, 0.0
    for k, (bar, g) in enumerate(zip(bars, groups, strict=True)):
        hi, lo, close = max(p for p, _, _ in g), min(p for p, _, _ in g), g[-1][0]
        tr = hi - lo if prev_close is None else max(hi, prev_close) - min(lo, prev_close)
        atr = (atr * k + tr) / (k + 1) if k < 14 else (atr * 13 + tr) / 14  # NinjaTrader ATR(14)
        loc = 0.5 if hi == lo else (close - lo) / (hi - lo)
        running, seen = 0, []
        for _, q, s in g:
            running += q if s == 0 else -q if s == 1 else 0
            seen.append(running)
        assert (bar["range"], bar["true_range"]) == (hi - lo, tr)
        assert bar["atr"] == pytest.approx(atr, rel=1e-12)
        assert bar["close_location"] == pytest.approx(loc, abs=1e-15)
        assert (bar["delta"], bar["max_delta"], bar["min_delta"]) == (running, max(seen), min(seen))
        prev_close = close


def test_poc_and_diagonal_imbalances_of_every_minute(trades):
    fp = FootprintSeries(BarSpec(BarKind.TIME, 60))
    fp.update(trades)
    groups = minute_groups(trades)
    total_buy = total_sell = stacks = 0
    for i in range(len(fp)):
        vol, bid, ask = defaultdict(int), defaultdict(int), defaultdict(int)
        for p, q, s in groups[i]:
            vol[p] += q
            if s == 0:
                ask[p] += q
            elif s == 1:
                bid[p] += q
        top = max(vol.values())
        assert fp.bars()[i]["poc"] == min(p for p, v in vol.items() if v == top)
        prices = sorted(vol)
        want_buy = [ask[p] > 0 and ask[p] >= 1.5 * bid[p - 1] and ask[p] - bid[p - 1] >= 10
                    for p in prices]  # fmt: skip
        want_sell = [bid[p] > 0 and bid[p] >= 1.5 * ask[p + 1] and bid[p] - ask[p + 1] >= 10
                     for p in prices]  # fmt: skip
        buy, sell = imbalances(fp.bar_cells(i))
        assert buy.tolist() == want_buy and sell.tolist() == want_sell
        total_buy += sum(want_buy)
        total_sell += sum(want_sell)
        want_stacks = 0
        for flags in (want_buy, want_sell):
            flagged = {p for p, f in zip(prices, flags, strict=True) if f}
            for p in flagged:  # count each run once, at its lowest price
                if p - 1 not in flagged:
                    run = 1
                    while p + run in flagged:
                        run += 1
                    want_stacks += run >= 3
        assert len(stacked_imbalances(fp.bar_cells(i))) == want_stacks
        stacks += want_stacks
    # pinned once from the independent computation above (59 closed minutes)
    assert (total_buy, total_sell) == (TOTAL_BUY_IMB, TOTAL_SELL_IMB)
    assert stacks == STACKS


def test_tick_volume_and_range_bars_equal_a_direct_grouping(trades):
    px, qty = trades["price"].tolist(), trades["size"].tolist()
    tick = build_bars(trades, BarSpec(BarKind.TICK, 100))
    assert tick["volume"].tolist() == [sum(qty[i : i + 100]) for i in range(0, len(qty), 100)]
    assert tick["high"].tolist() == [max(px[i : i + 100]) for i in range(0, len(px), 100)]
    vol = build_bars(trades, BarSpec(BarKind.VOLUME, 500))
    assert (vol["volume"][:-1] == 500).all() and int(vol["volume"].sum()) == 9_892
    assert len(vol) == -(-9_892 // 500)
    rng = build_bars(trades, BarSpec(BarKind.RANGE, 4))
    bars, lo, hi, n = [], px[0], px[0], 0
    for p in px:  # a print that would stretch the bar past 4 ticks opens the next one
        if max(hi, p) - min(lo, p) > 4:
            bars.append((lo, hi, n))
            lo = hi = p
            n = 0
        lo, hi, n = min(lo, p), max(hi, p), n + 1
    bars.append((lo, hi, n))
    assert list(zip(rng["low"].tolist(), rng["high"].tolist(), rng["trades"].tolist(),
                    strict=True)) == bars  # fmt: skip
    assert (rng["high"] - rng["low"] <= 4).all()
