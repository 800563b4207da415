"""Time as integer nanoseconds since the Unix epoch, UTC. Clocks are injected, never global."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000
NS_PER_US = 1_000


class Clock(Protocol):
    """Anything that tells the time in nanoseconds (the wall, or the data being replayed)."""

    def now_ns(self) -> int: ...


class WallClock:
    """The real clock, for the server edge only."""

    def now_ns(self) -> int:
        return time.time_ns()


class ReplayClock:
    """A clock that is wherever the data says it is."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now:
            self._now = ts_ns


def ns_to_datetime(ts_ns: int) -> datetime:
    """Nanoseconds to an aware UTC datetime (microsecond precision)."""
    return datetime.fromtimestamp(ts_ns / NS_PER_SECOND, tz=UTC)


def ns_to_iso(ts_ns: int) -> str:
    """Nanoseconds to ISO 8601 UTC with all nine digits (``2023-12-25T23:59:59.451234567Z``)."""
    sec, frac = divmod(int(ts_ns), NS_PER_SECOND)
    return datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def parse_time(text: str) -> int:
    """Parse an ISO 8601 time (``2023-12-25T23:30:00``, ``...Z``, with offset) or integer ns.

    A time without a zone is UTC.
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    frac_ns = 0
    base = text.replace("Z", "+00:00")
    if "." in base:
        head, rest = base.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        tail = rest[len(digits) :]
        frac_ns = int((digits + "000000000")[:9])
        base = head + tail
    dt = datetime.fromisoformat(base)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS_PER_SECOND + frac_ns
