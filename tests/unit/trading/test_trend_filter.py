"""The multi-timeframe filter: with ``trend_series`` set, an entry against the trend of that
NinjaTrader series (here a 5-minute series built from NinjaTrader's real minute bars) is
refused and one with it goes through; without the series' bars no entry is made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from orderflow.analytics.nt_bars import NtBars
from orderflow.core.errors import ParameterError
from orderflow.model.instruments import get_instrument
from orderflow.trading.strategy import StrategyParams, TrendRule, series_trend
from tests.unit.analytics.test_nt_bars import minute_bars
from tests.unit.trading.test_strategy import T0, host, market, signal


def five_minute_series() -> np.ndarray:
    """NinjaTrader's 5-minute series (BarsInProgress 1) of the day, built from its minute
    bars as NinjaTrader sends it, as the server's NtBars keeps it (ticks)."""
    nb = NtBars(get_instrument("ESM0"))
    bars = minute_bars()
    for i in range(0, len(bars) - 4, 5):
        five = bars[i : i + 5]
        prices = (five[0][1], max(b[2] for b in five), min(b[3] for b in five), five[-1][4])
        nb.add_wire(1, five[0][0], prices, sum(b[5] for b in five), True, "5 Minute")
    return nb.closed_bars()[1]


def ema(closes: list[float], n: int) -> float:
    k = 2 / (n + 1)
    e = closes[0]
    for c in closes[1:]:
        e = k * c + (1 - k) * e
    return e


def test_the_trend_is_the_last_close_against_ninjatraders_ema():
    series = five_minute_series()
    assert len(series) == 273
    ups = downs = 0
    for i in range(20, len(series) + 1):
        closes = [float(c) for c in series["close"][:i]][-61:]
        e = ema(closes, 20)
        want = (closes[-1] > e) - (closes[-1] < e)
        assert series_trend(series[:i], TrendRule.CLOSE_ABOVE_EMA, 20) == want, i
        ups, downs = ups + (want > 0), downs + (want < 0)
    assert ups > 20 and downs > 20  # the day has both
    assert series_trend(series[:19], TrendRule.CLOSE_ABOVE_EMA, 20) is None
    rising = series_trend(series[:40], TrendRule.EMA_RISING, 20)
    closes = [float(c) for c in series["close"][:40]]
    assert rising == (ema(closes, 20) > ema(closes[:-1], 20)) - (
        ema(closes, 20) < ema(closes[:-1], 20)
    )


@pytest.mark.parametrize("trend", [1, -1])
def test_an_entry_against_the_five_minute_trend_is_blocked_and_one_with_it_goes_through(trend):
    series = five_minute_series()
    i = next(i for i in range(20, len(series))
             if series_trend(series[:i], TrendRule.CLOSE_ABOVE_EMA, 20) == trend)  # fmt: skip
    seen = {1: series[:i]}
    with_it = host(trend_series=1, trend_length=20)
    ctx = dataclasses.replace(market(T0, signal(T0, trend)), series=seen)
    (cmd,) = with_it.step(ctx)
    assert cmd.op == "submit" and (cmd.action.is_buy if trend > 0 else not cmd.action.is_buy)
    against = host(trend_series=1, trend_length=20)
    assert against.step(dataclasses.replace(market(T0, signal(T0, -trend)), series=seen)) == []
    assert against.strategy.counters["skip_against_trend"] == 1
    # the same signal with the filter off enters
    (cmd,) = host().step(dataclasses.replace(market(T0, signal(T0, -trend)), series=seen))
    assert cmd.op == "submit"


def test_without_the_series_bars_no_entry_is_made():
    h = host(trend_series=1)
    assert h.step(market(T0, signal(T0, 1))) == []
    assert h.strategy.counters["skip_no_trend"] == 1


def test_the_filters_settings_are_checked():
    with pytest.raises(ParameterError):
        StrategyParams(trend_rule="close_below_sma")
    with pytest.raises(ParameterError):
        StrategyParams(trend_series=-2)
    with pytest.raises(ParameterError):
        StrategyParams(trend_length=0)


def test_the_host_puts_the_series_in_the_context():
    from orderflow.engine.pipeline import Pipeline

    h = host(trend_series=1)
    series = {1: five_minute_series()}
    ctx = h.market_context(Pipeline(get_instrument("ESH4"), "nt_depth"), series)
    assert ctx.series[1] is series[1]
    assert h.market_context(Pipeline(get_instrument("ESH4"), "nt_depth")).series == {}
