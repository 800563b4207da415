"""CME sessions on real calendar dates, from exchange-calendars plus the registry's hours."""

from datetime import date

import pytest

from orderflow.core.errors import ConfigError
from orderflow.model.instruments import get_instrument
from orderflow.trading.sessions import (
    SessionParams,
    SessionReason,
    TradingSessions,
    exchange_ns,
    local_time,
)

PARAMS = SessionParams(first_year=2023, last_year=2025)


def at(day: str, hhmm: str) -> int:
    return exchange_ns(date.fromisoformat(day), hhmm)


@pytest.fixture(scope="module")
def es() -> TradingSessions:
    return TradingSessions(get_instrument("ES"), PARAMS)


def test_christmas_2024_is_a_holiday_and_globex_reopens_at_17_ct(es):
    assert es.can_trade(at("2024-12-25", "10:00")) == (False, SessionReason.HOLIDAY)
    assert not es.is_open(at("2024-12-25", "16:59"))
    assert es.is_open(at("2024-12-25", "17:00"))
    assert es.trading_day(at("2024-12-25", "17:00")) == date(2024, 12, 26)
    # Christmas Eve closes early: 12:00 CT in the library (equities really 12:15 CT)
    assert es.is_open(at("2024-12-24", "11:59"))
    assert not es.is_open(at("2024-12-24", "12:00"))


def test_thanksgiving_2024_halts_at_noon_and_black_friday_closes_early(es):
    assert es.is_open(at("2024-11-28", "11:59"))
    assert es.can_trade(at("2024-11-28", "12:00")) == (False, SessionReason.EARLY_CLOSE)
    assert es.is_open(at("2024-11-28", "17:00"))  # the Friday session opens Thursday evening
    friday = es.session_at(at("2024-11-29", "09:00"))
    assert friday is not None and friday.early_close
    assert local_time(friday.close_ns).strftime("%H:%M") == "12:00"
    assert es.minutes_to_close(at("2024-11-29", "11:00")) == 60.0
    assert es.can_trade(at("2024-11-29", "12:30")) == (False, SessionReason.WEEKEND)


def test_july_3_2024_early_close_is_missing_from_the_library_and_added_in_settings(es):
    assert es.is_open(at("2024-07-03", "14:00"))  # the gap: CME closed equities at 12:15 CT
    patched = TradingSessions(
        get_instrument("ES"),
        SessionParams(first_year=2023, last_year=2025, extra_early_closes={"2024-07-03": "12:15"}),
    )
    assert patched.is_open(at("2024-07-03", "12:14"))
    assert patched.can_trade(at("2024-07-03", "12:15")) == (False, SessionReason.EARLY_CLOSE)
    assert not es.is_open(at("2024-07-04", "12:00"))  # Independence Day: noon halt (library)


def test_daily_maintenance_break_16_to_17_ct(es):
    assert es.is_open(at("2024-12-10", "15:59"))
    assert es.can_trade(at("2024-12-10", "16:00")) == (False, SessionReason.MAINTENANCE_BREAK)
    assert es.can_trade(at("2024-12-10", "16:59")) == (False, SessionReason.MAINTENANCE_BREAK)
    assert es.can_trade(at("2024-12-10", "17:00")) == (True, SessionReason.OK)
    assert local_time(es.next_close(at("2024-12-10", "16:30"))).isoformat() == (
        "2024-12-11T16:00:00-06:00"
    )
    # summer time moves UTC, not the exchange's clock
    assert es.can_trade(at("2024-07-10", "16:30")) == (False, SessionReason.MAINTENANCE_BREAK)


def test_sunday_open_and_the_weekend(es):
    assert es.can_trade(at("2024-12-07", "12:00")) == (False, SessionReason.WEEKEND)
    assert es.can_trade(at("2024-12-08", "16:59")) == (False, SessionReason.WEEKEND)
    assert es.is_open(at("2024-12-08", "17:00"))
    assert es.trading_day(at("2024-12-08", "17:00")) == date(2024, 12, 9)
    assert es.next_open(at("2024-12-07", "12:00")) == at("2024-12-08", "17:00")
    assert not es.is_open(at("2024-12-06", "16:00"))  # Friday's close


def test_rth_per_product_in_central_time():
    for root, (start, end) in {
        "ES": ("08:30", "15:00"),
        "CL": ("08:00", "13:30"),
        "GC": ("07:20", "12:30"),
    }.items():
        s = TradingSessions(get_instrument(root), PARAMS)
        session = s.session_at(at("2024-12-10", "10:00"))
        assert session is not None
        assert local_time(session.rth_open_ns).strftime("%H:%M") == start
        assert local_time(session.rth_close_ns).strftime("%H:%M") == end
    rth = TradingSessions(
        get_instrument("ES"), SessionParams(first_year=2023, last_year=2025, rth_only=True)
    )
    assert rth.can_trade(at("2024-12-10", "08:00")) == (False, SessionReason.OUTSIDE_RTH)
    assert rth.can_trade(at("2024-12-10", "08:30")) == (True, SessionReason.OK)
    assert rth.minutes_to_close(at("2024-12-10", "14:00")) == 60.0
    # on Black Friday the cash session ends with the early close
    assert rth.next_close(at("2024-11-29", "09:00")) == at("2024-11-29", "12:00")


def test_no_trade_windows_and_flatten_before_close():
    s = TradingSessions(
        get_instrument("MES"),
        SessionParams(
            first_year=2023,
            last_year=2025,
            rth_only=True,
            no_trade_after_open_min=15,
            no_trade_before_close_min=10,
            no_trade_windows=(("12:00", "12:30"),),
            flatten_before_close_min=5,
        ),
    )
    assert s.can_trade(at("2024-12-10", "08:44")) == (False, SessionReason.OPENING_WINDOW)
    assert s.can_trade(at("2024-12-10", "08:45")) == (True, SessionReason.OK)
    assert s.can_trade(at("2024-12-10", "12:10")) == (False, SessionReason.NO_TRADE_WINDOW)
    assert s.can_trade(at("2024-12-10", "12:30")) == (True, SessionReason.OK)
    assert s.can_trade(at("2024-12-10", "14:50")) == (False, SessionReason.CLOSING_WINDOW)
    assert not s.flatten_due(at("2024-12-10", "14:54"))
    assert s.flatten_due(at("2024-12-10", "14:55"))
    assert s.flatten_due(at("2024-12-10", "20:00"))  # overnight Globex while trading RTH only
    assert not s.flatten_due(at("2024-12-10", "16:30"))  # maintenance break: nothing to do
    assert s.flatten_due(at("2024-11-29", "11:55"))  # early close moves the flatten time


def test_extra_holidays_and_bad_parameters():
    s = TradingSessions(
        get_instrument("ES"),
        SessionParams(first_year=2023, last_year=2025, extra_holidays=("2024-12-10",)),
    )
    assert s.can_trade(at("2024-12-10", "10:00")) == (False, SessionReason.HOLIDAY)
    with pytest.raises(ConfigError, match="no_trade_windows"):
        SessionParams(no_trade_windows=(("9:xx", "10:00"),))
    with pytest.raises(ConfigError):
        TradingSessions(get_instrument("ES"), SessionParams(calendar="NOPE"))
    far = TradingSessions(get_instrument("ES"), PARAMS)
    assert far.can_trade(at("2030-01-07", "10:00")) == (False, SessionReason.OUTSIDE_CALENDAR)
