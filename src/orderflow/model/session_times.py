"""Trading sessions as integer ns intervals: which session (trading day) an event belongs to.

A CME Globex session opens the evening before its trading day (18:00 New York for the equity
index products) and runs to the next day's close. Analytics that reset per session (cumulative
delta, VWAP, volume profile) need only the session *boundaries*; holidays and early closes are
the calendar's business (the trading engine), and a missing session here just means no events.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from orderflow.model.instruments import Instrument, TradingHours

NS = 1_000_000_000


def session_open_ns(trading_day: date, hours: TradingHours) -> int:
    """Start of the session whose trading day is ``trading_day`` (opens the evening before)."""
    tz = ZoneInfo(hours.timezone)
    hh, mm = (int(x) for x in hours.open.split(":"))
    opens = datetime.combine(trading_day - timedelta(days=1), time(hh, mm), tzinfo=tz)
    return int(opens.timestamp()) * NS


def trading_day_of(ts_ns: int, hours: TradingHours) -> date:
    """The trading day an instant belongs to (after the open, it is the next calendar day's)."""
    tz = ZoneInfo(hours.timezone)
    local = datetime.fromtimestamp(ts_ns / NS, tz=tz)
    hh, mm = (int(x) for x in hours.open.split(":"))
    day = local.date()
    return day + timedelta(days=1) if local.time() >= time(hh, mm) else day


def session_starts(first_ns: int, last_ns: int, hours: TradingHours) -> np.ndarray:
    """Sorted start times (ns) of every session that overlaps ``[first_ns, last_ns]``."""
    day = trading_day_of(first_ns, hours)
    last_day = trading_day_of(last_ns, hours)
    out = []
    while day <= last_day:
        out.append(session_open_ns(day, hours))
        day += timedelta(days=1)
    return np.asarray(out, dtype=np.int64)


def session_index(ts_ns: np.ndarray, instrument: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """For each timestamp, the index of its session in the returned array of session starts."""
    if len(ts_ns) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = session_starts(int(ts_ns.min()), int(ts_ns.max()), instrument.trading_hours)
    return np.searchsorted(starts, ts_ns, side="right") - 1, starts
