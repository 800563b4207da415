"""What a decision no longer works out again, checked against working it out: the trading day
from the session last looked up (every minute of a week with Christmas, the maintenance breaks
and a weekend, a day rolled while a limit held, another calendar), the best print since a fill
read without masking when every new print is after it, and the last price taken from the
newest print rather than from the first bar series (at every decision of ESH4 backtests)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import numpy as np
import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading.host import StrategyHost, _Prints
from orderflow.trading.risk import Reason, RiskManager, RiskParams
from orderflow.trading.sessions import SessionParams, TradingSessions, exchange_ns

MIN = 60 * 1_000_000_000


@pytest.fixture(scope="module")
def es() -> TradingSessions:
    return TradingSessions(get_instrument("ES"), SessionParams(first_year=2023, last_year=2025))


def test_the_sessions_never_overlap(es: TradingSessions) -> None:
    """What the cached trading day rests on: each session closes before the next opens."""
    s = es.sessions
    assert all(a.open_ns < a.close_ns <= b.open_ns for a, b in itertools.pairwise(s))


def test_the_trading_day_is_the_calendars_every_minute_of_christmas_week(
    es: TradingSessions,
) -> None:
    r = RiskManager(RiskParams(), {"ES": es})
    t0 = exchange_ns(date(2023, 12, 22), "12:00")  # Friday; Christmas Monday is a holiday
    seen = set()
    for k in range(0, 6 * 24 * 60, 1):  # to Thursday noon, minute by minute, in order
        t = t0 + k * MIN
        want = es.trading_day(t).isoformat()
        assert r._day_iso(t, "ESH4") == want
        seen.add(want)
    # and out of order: back to Friday, forward, into a maintenance break
    for t in (t0, t0 + 3 * 24 * 60 * MIN, exchange_ns(date(2023, 12, 26), "16:30"), t0 + MIN):
        assert r._day_iso(t, "ESH4") == es.trading_day(t).isoformat()
    assert {"2023-12-22", "2023-12-26", "2023-12-27", "2023-12-28"} <= seen
    assert "2023-12-25" not in seen  # the holiday is no trading day


def test_a_new_day_lifts_the_days_loss_stop_right_after_a_cached_lookup(
    es: TradingSessions,
) -> None:
    r = RiskManager(RiskParams(daily_loss_limit=100.0), {"ES": es})
    late = exchange_ns(date(2024, 12, 10), "15:59")  # the last minute of Tuesday's session
    r.roll_day(late - MIN, "ES")
    r.on_realised(-150.0, late - MIN, True)
    assert r.state.daily_stop == Reason.DAILY_LOSS_LIMIT
    assert not r.roll_day(late, "ES")  # the same session: from the cache, the same day
    assert r.entry_block(late, "ES") is not None
    assert r.roll_day(exchange_ns(date(2024, 12, 10), "17:00"), "ES")  # Wednesday's session
    assert r.state.day == "2024-12-11" and r.state.daily_stop is None


def test_another_calendar_is_asked_not_the_cached_session(es: TradingSessions) -> None:
    """The cache is the calendar's: a symbol answered by another calendar is not given the
    day of the session another one cached."""
    cl = TradingSessions(get_instrument("CL"), SessionParams(first_year=2023, last_year=2025))
    r = RiskManager(RiskParams(), {"ES": es, "CL": cl})
    t = exchange_ns(date(2024, 12, 10), "12:00")
    assert r._day_iso(t, "ES") == "2024-12-10"
    assert r._day_at["ES"][0] is es
    assert r._day_iso(t, "CL") == cl.trading_day(t).isoformat()
    assert r._day_at["CL"][0] is cl and r._day_at["ES"][0] is es


def test_the_cached_day_follows_a_calendar_replaced_and_each_symbol(es: TradingSessions) -> None:
    """The cache is kept per symbol asked (a contract, a root, none) and answers only while
    the calendar its root gets is the one it cached: a calendar replaced for the root (the
    trading day of the same instant changes with it) is asked, not the cached session."""
    r = RiskManager(RiskParams(), {"ES": es})
    other = SessionParams(first_year=2023, last_year=2025, extra_holidays=("2024-12-11",))
    late = TradingSessions(get_instrument("ES"), other)  # no session for December 11
    t0 = exchange_ns(date(2024, 12, 10), "08:00")
    swap = exchange_ns(date(2024, 12, 10), "18:00")  # in the session of December 11
    assert es.trading_day(swap) != late.trading_day(swap)
    for k in range(0, 2 * 24 * 60, 7):
        t = t0 + k * MIN
        if t >= swap and r.sessions["ES"] is es:  # the root's calendar replaced mid-session
            r.sessions["ES"] = es = late
        for sym in ("ESH4", None, "ES"):
            assert r._day_iso(t, sym) == es.trading_day(t).isoformat()
    assert set(r._day_at) == {"ESH4", None, "ES"}


def test_the_best_print_since_a_fill_starts_at_the_fill() -> None:
    ts = np.array([10, 20, 20, 30], dtype=np.int64)
    px = np.array([5, 9, 1, 7], dtype=np.int64)
    p = _Prints(start=100, new=100, ts=ts, px=px)
    assert p.extreme(1, 20, False) == 9 and p.extreme(-1, 20, False) == 1  # at the fill: in
    assert p.extreme(1, 21, False) == 7 and p.extreme(-1, 21, False) == 7
    assert p.extreme(1, 10, False) == 9 and p.extreme(-1, 0, False) == 1  # all after it
    assert p.extreme(1, 31, False) is None
    # not fresh: only the prints since the previous decision (from number 102 on)
    q = _Prints(start=100, new=102, ts=ts, px=px)
    assert q.extreme(1, 0, False) == 7 and q.extreme(-1, 0, False) == 1
    assert q.extreme(1, 0, True) == 9  # fresh: every print kept since the entry was sent


def _bars_close(pipeline: Any) -> int | None:
    """The last price as the first bar series gives it (the forming bar, else the last)."""
    series = pipeline.bars.series[0]
    forming = series.forming()
    if forming is not None:
        return int(forming["close"])
    return int(series.bars()["close"][-1]) if len(series) else None


@pytest.mark.slow
@pytest.mark.parametrize("every", [100, "group"])
def test_the_last_price_is_the_first_bar_series_close_at_every_decision(
    monkeypatch: pytest.MonkeyPatch, every: int | str
) -> None:
    from orderflow.backtest.run import BacktestOptions, run_backtest
    from tests.conftest import ES_MBO, need
    from tests.integration.test_parity import BUSY

    real = StrategyHost._last_price
    seen = {"n": 0, "fresh": 0}

    def checked(self: StrategyHost, pipeline: Any, prints: _Prints) -> int | None:
        cached = self._last_at[0] is not None and self._last_at[1] == pipeline.trades
        got = real(self, pipeline, prints)
        assert got == _bars_close(pipeline)
        seen["n"] += 1
        seen["fresh"] += not cached
        return got

    monkeypatch.setattr(StrategyHost, "_last_price", checked)
    # (the forming bar read at each decision: the pipeline fed piece by piece, not run ahead)
    monkeypatch.setattr("orderflow.backtest.run.reads_ahead", lambda strategy: False)
    opts = BacktestOptions(decide_every=every, end_ns=1_703_545_200_000_000_000 + 1_800 * 10**9)
    res = run_backtest([need(ES_MBO)], trading=BUSY, options=opts)
    assert seen["n"] > 200 and seen["fresh"] > 100 and res.fills
