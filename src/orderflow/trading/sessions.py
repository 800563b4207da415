"""CME Globex trading hours for the trading engine: when a product trades, when it may be traded.

Which days trade and which close early comes from the maintained ``exchange-calendars`` library
(calendar ``CMES``; ``CME``, ``CBOT``, ``NYMEX`` and ``COMEX`` are its aliases). The daily
times come from the instrument registry's session template (``model.instruments``): Globex opens
at 17:00 CT the evening before and closes at 16:00 CT, then the daily maintenance break until
17:00 CT. Everything is in the exchange's time zone, America/Chicago; timestamps are UTC ns.

What the library lacks (documented in ``docs/trading.md``): it keeps one calendar for all CME
products with the session running 17:00-17:00 CT (no maintenance break: the registry supplies
it), early closes at 12:00 CT where equity products close at 12:15 CT (Black Friday, Christmas
Eve: 15 minutes early, the conservative side), and it has no early close on July 3 or
Juneteenth and treats national days of mourning as whole holidays. The trader can add closed
days and early closes in the settings (``extra_holidays``, ``extra_early_closes``).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from orderflow.core.errors import ConfigError, ParameterError
from orderflow.model.instruments import Instrument
from orderflow.trading import session_file
from orderflow.trading.checks import flag, integer, number, text
from orderflow.trading.session_file import Row

NS = 1_000_000_000
MINUTE_NS = 60 * NS
EXCHANGE_TZ = ZoneInfo("America/Chicago")


class SessionReason(StrEnum):
    """Why an entry may not be made now (``can_trade``); ``OK`` when it may."""

    OK = "ok"
    MAINTENANCE_BREAK = "maintenance_break"  # the daily 16:00-17:00 CT break
    EARLY_CLOSE = "early_close"  # closed after an early close, before the next open
    HOLIDAY = "holiday"  # a weekday without a session
    WEEKEND = "weekend"
    OUTSIDE_CALENDAR = "outside_calendar"  # beyond the dates the calendar was built for
    OUTSIDE_RTH = "outside_rth"  # rth_only and the cash session is not on
    OPENING_WINDOW = "opening_window"  # within no_trade_after_open_min of the open
    CLOSING_WINDOW = "closing_window"  # within no_trade_before_close_min of the close
    NO_TRADE_WINDOW = "no_trade_window"  # a window the trader listed


def _hhmm(text: str, where: str) -> time:
    try:
        hh, mm = (int(x) for x in text.split(":"))
        return time(hh, mm)
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not HH:MM", field=where) from exc


@dataclass(frozen=True, slots=True)
class SessionParams:
    """When the strategy may open positions. Times are HH:MM in America/Chicago."""

    calendar: str = "CMES"  # exchange-calendars name (CMES = CME Globex)
    first_year: int = 2015  # calendar built from January 1 of this year ...
    last_year: int = 0  # ... to December 31 of this one (0: next year)
    rth_only: bool = False  # trade the cash session only (e.g. 08:30-15:00 CT for ES)
    no_trade_after_open_min: float = 0.0  # no entries in the first N minutes of the window
    no_trade_before_close_min: float = 0.0  # no entries in its last N minutes
    no_trade_windows: tuple[tuple[str, str], ...] = ()  # e.g. (("07:25", "07:35"),) news
    flatten_before_close_min: float = 0.0  # flatten this long before the close (0: never)
    extra_holidays: tuple[str, ...] = ()  # ISO dates (trading days) the calendar misses
    extra_early_closes: dict[str, str] = field(default_factory=dict)  # date -> HH:MM CT

    def __post_init__(self) -> None:
        for name in ("no_trade_after_open_min", "no_trade_before_close_min",
                     "flatten_before_close_min"):  # fmt: skip
            number(self, name, lo=0, hi=24 * 60)
        integer(self, "first_year", lo=1990, hi=2200)
        integer(self, "last_year", lo=0, hi=2200)
        if self.last_year and self.last_year < self.first_year:
            raise ParameterError(
                f"last_year: {self.last_year} is before first_year {self.first_year}"
            )
        flag(self, "rth_only")
        text(self, "calendar")
        for window in self.no_trade_windows:
            if len(window) != 2:
                raise ParameterError(f"no_trade_windows: {window!r} is not [start, end]")
            _hhmm(window[0], "no_trade_windows")
            _hhmm(window[1], "no_trade_windows")
        for day in self.extra_holidays:
            date.fromisoformat(day)
        for day, hhmm in self.extra_early_closes.items():
            date.fromisoformat(day)
            _hhmm(hhmm, "extra_early_closes")


@dataclass(frozen=True, slots=True)
class Session:
    """One Globex session, labelled with its trading day; instants are UTC ns."""

    day: date
    open_ns: int
    close_ns: int  # the close before the maintenance break, or the early close
    rth_open_ns: int  # cash session, clipped to the session (equal when it has none)
    rth_close_ns: int
    early_close: bool

    def window(self, rth: bool) -> tuple[int, int]:
        return (self.rth_open_ns, self.rth_close_ns) if rth else (self.open_ns, self.close_ns)


@lru_cache(maxsize=8)
def _library_sessions(name: str, start: str, end: str) -> tuple[Row, ...]:
    """(trading day, open ns, close ns, early close) per session, from exchange-calendars:
    read from the file it was stored in the first time (:mod:`orderflow.trading.session_file`:
    no pandas imported), else built by the library and stored."""
    stored = session_file.read(name, start, end)
    if stored is not None:
        return stored
    rows = _build_library_sessions(name, start, end)
    session_file.write(name, start, end, rows)
    return rows


def _build_library_sessions(name: str, start: str, end: str) -> tuple[Row, ...]:
    """The sessions as exchange-calendars builds them (about a second of CPU: pandas)."""
    import exchange_calendars as xcals

    try:
        cal = xcals.get_calendar(name, start=start, end=end)
    except Exception as exc:  # the library raises its own error types for bad names and dates
        raise ConfigError(f"trading calendar {name!r}: {exc}", field="calendar") from exc
    early = {ts.date() for ts in cal.early_closes}
    labels = [ts.date() for ts in cal.opens.index]
    opens = [int(ts.as_unit("ns").value) for ts in cal.opens]  # UTC ns, whatever the tz
    closes = [int(ts.as_unit("ns").value) for ts in cal.closes]
    return tuple(
        (day, int(o), int(c), day in early) for day, o, c in zip(labels, opens, closes, strict=True)
    )


def _at(day: date, hhmm: str, tz: ZoneInfo) -> int:
    hh, mm = (int(x) for x in hhmm.split(":"))
    return int(datetime.combine(day, time(hh, mm), tzinfo=tz).timestamp()) * NS


class TradingSessions:
    """The sessions of one product and the no-trade rules, answered by binary search."""

    def __init__(self, instrument: Instrument, params: SessionParams | None = None) -> None:
        self.instrument = instrument
        self.params = p = params or SessionParams()
        hours = instrument.trading_hours
        home = ZoneInfo(hours.timezone)
        last = p.last_year or datetime.now(EXCHANGE_TZ).year + 1
        raw = _library_sessions(p.calendar, f"{p.first_year}-01-01", f"{last}-12-31")
        skip = {date.fromisoformat(d) for d in p.extra_holidays}
        extra_early = {date.fromisoformat(d): hhmm for d, hhmm in p.extra_early_closes.items()}
        sessions: list[Session] = []
        for day, open_ns, lib_close, early in raw:
            if day in skip:
                continue
            close_ns = min(lib_close, _at(day, hours.close, home))  # registry: the daily break
            if day in extra_early:
                close_ns = min(close_ns, _at(day, extra_early[day], EXCHANGE_TZ))
                early = True
            rth_open, rth_close = close_ns, close_ns
            if hours.rth_open and hours.rth_close:
                rth_open = min(_at(day, hours.rth_open, home), close_ns)
                rth_close = min(_at(day, hours.rth_close, home), close_ns)
            sessions.append(Session(day, open_ns, close_ns, rth_open, rth_close, early))
        if not sessions:
            raise ConfigError(f"trading calendar {p.calendar!r} has no sessions", field="calendar")
        self.sessions: tuple[Session, ...] = tuple(sessions)
        self._opens = [s.open_ns for s in sessions]
        self._windows = tuple(
            (_hhmm(a, "no_trade_windows"), _hhmm(b, "no_trade_windows"))
            for a, b in p.no_trade_windows
        )

    # ---- where an instant falls ----------------------------------------------------------------
    def _index(self, ts_ns: int) -> int:
        """Index of the last session opened at or before ``ts_ns`` (-1 before the first)."""
        return bisect.bisect_right(self._opens, ts_ns) - 1

    def session_at(self, ts_ns: int) -> Session | None:
        """The session trading at ``ts_ns``, or None when Globex is closed."""
        i = self._index(ts_ns)
        if i >= 0 and ts_ns < self.sessions[i].close_ns:
            return self.sessions[i]
        return None

    def trading_day(self, ts_ns: int) -> date:
        """The trading day ``ts_ns`` counts for: the current session's, else the next one's."""
        s = self.session_at(ts_ns)
        if s is not None:
            return s.day
        i = self._index(ts_ns) + 1
        if i < len(self.sessions):
            return self.sessions[i].day
        return datetime.fromtimestamp(ts_ns / NS, EXCHANGE_TZ).date()

    def is_open(self, ts_ns: int) -> bool:
        """Globex is trading (not a weekend, holiday, maintenance break or after an early close)."""
        return self.session_at(ts_ns) is not None

    def is_rth(self, ts_ns: int) -> bool:
        s = self.session_at(ts_ns)
        return s is not None and s.rth_open_ns <= ts_ns < s.rth_close_ns

    def closed_reason(self, ts_ns: int) -> SessionReason:
        """Why Globex is closed at ``ts_ns`` (``OK`` when it is open)."""
        i = self._index(ts_ns)
        if i >= 0 and ts_ns < self.sessions[i].close_ns:
            return SessionReason.OK
        if i < 0 or i + 1 >= len(self.sessions):
            return SessionReason.OUTSIDE_CALENDAR
        before, after = self.sessions[i], self.sessions[i + 1]
        day = before.day + timedelta(days=1)
        while day < after.day:  # a weekday between two sessions' trading days: a holiday
            if day.weekday() < 5:
                return SessionReason.HOLIDAY
            day += timedelta(days=1)
        if after.day.weekday() == 0 and before.day.weekday() == 4:
            return SessionReason.WEEKEND
        if before.early_close:
            return SessionReason.EARLY_CLOSE
        return SessionReason.MAINTENANCE_BREAK

    # ---- the trading window (RTH when rth_only, else the Globex session) -----------------------
    def _window(self, ts_ns: int) -> tuple[int, int] | None:
        s = self.session_at(ts_ns)
        if s is None:
            return None
        start, end = s.window(self.params.rth_only)
        return (start, end) if start <= ts_ns < end else None

    def next_open(self, ts_ns: int) -> int | None:
        """The next open of the trading window strictly after ``ts_ns`` (None past the calendar)."""
        rth = self.params.rth_only
        for s in self.sessions[max(self._index(ts_ns), 0) :]:
            start, end = s.window(rth)
            if start > ts_ns and start < end:
                return start
        return None

    def next_close(self, ts_ns: int) -> int | None:
        """The close of the trading window now open, else of the next one (None past the end)."""
        rth = self.params.rth_only
        for s in self.sessions[max(self._index(ts_ns), 0) :]:
            start, end = s.window(rth)
            if end > ts_ns and start < end:
                return end
        return None

    def minutes_to_close(self, ts_ns: int) -> float | None:
        """Minutes until the current trading window closes; None when it is not open."""
        window = self._window(ts_ns)
        return None if window is None else (window[1] - ts_ns) / MINUTE_NS

    def minutes_since_open(self, ts_ns: int) -> float | None:
        window = self._window(ts_ns)
        return None if window is None else (ts_ns - window[0]) / MINUTE_NS

    def _in_listed_window(self, ts_ns: int) -> bool:
        if not self._windows:
            return False
        now = datetime.fromtimestamp(ts_ns / NS, EXCHANGE_TZ).time()
        for start, end in self._windows:
            inside = start <= now < end if start <= end else (now >= start or now < end)
            if inside:
                return True
        return False

    def can_trade(self, ts_ns: int) -> tuple[bool, SessionReason]:
        """May a new position be opened at ``ts_ns``? ``(False, reason)`` when not."""
        closed = self.closed_reason(ts_ns)
        if closed is not SessionReason.OK:
            return False, closed
        window = self._window(ts_ns)
        if window is None:
            return False, SessionReason.OUTSIDE_RTH
        p = self.params
        if ts_ns - window[0] < p.no_trade_after_open_min * MINUTE_NS:
            return False, SessionReason.OPENING_WINDOW
        before_close = max(p.no_trade_before_close_min, p.flatten_before_close_min)
        if window[1] - ts_ns <= before_close * MINUTE_NS:
            return False, SessionReason.CLOSING_WINDOW
        if self._in_listed_window(ts_ns):
            return False, SessionReason.NO_TRADE_WINDOW
        return True, SessionReason.OK

    def flatten_due(self, ts_ns: int) -> bool:
        """Should open positions be closed now? Only with ``flatten_before_close_min`` set: in
        the last minutes of the trading window, or while Globex trades outside the window
        (rth_only and it is the overnight session). Never while Globex is closed."""
        p = self.params
        if p.flatten_before_close_min <= 0 or not self.is_open(ts_ns):
            return False
        window = self._window(ts_ns)
        if window is None:
            return True
        return window[1] - ts_ns <= p.flatten_before_close_min * MINUTE_NS


def local_time(ts_ns: int) -> datetime:
    """``ts_ns`` in the exchange's time zone (America/Chicago), for display."""
    return datetime.fromtimestamp(ts_ns / NS, EXCHANGE_TZ)


def exchange_ns(day: date, hhmm: str) -> int:
    """An instant given as a date and HH:MM in the exchange's time zone, in UTC ns."""
    return _at(day, hhmm, EXCHANGE_TZ)


def sessions_for(
    instruments: Sequence[Instrument], params: SessionParams | None = None
) -> dict[str, TradingSessions]:
    """One :class:`TradingSessions` per product root (the calendar itself is built once)."""
    return {i.symbol: TradingSessions(i, params) for i in instruments}


#: calendars built once per process (about 30 ms each, immutable once built): the server's
#: clients, sweeps and multi-file backtests share them
_CALENDARS: dict[tuple[str, str, str], TradingSessions] = {}


def calendar(instrument: Instrument, params: SessionParams | None = None) -> TradingSessions:
    """The :class:`TradingSessions` of ``instrument``'s product under ``params``, built once."""
    key = (instrument.symbol, repr(instrument.trading_hours), repr(params))
    cal = _CALENDARS.get(key)
    if cal is None:
        cal = _CALENDARS[key] = TradingSessions(instrument, params)
    return cal
