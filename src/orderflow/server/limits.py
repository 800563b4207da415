"""Per-connection rate limits: token buckets on messages and on events.

A WebSocket over its rate is slowed, not refused: the server stops reading from it until the
bucket refills, so TCP pushes back on the sender and nothing it sent is lost or reordered. Only
a connection that would have to wait longer than ``max_wait_s`` (a flood, not a burst) gets an
``error`` with code ``rate_limited`` and is closed; it may reconnect and resume from its last
acknowledged batch. A REST request over the rate is answered 429 with ``Retry-After`` and not
applied. The defaults are far above what a NinjaTrader feed sends (a busy ES open is a few
thousand depth events per second), so only a runaway or hostile client meets them. Beyond each
connection's own rate, the engine's time is shared fairly (:mod:`orderflow.server.scheduler`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from orderflow.settings import Settings

__all__ = ["DECODE_BYTES_PER_EVENT", "MAX_BODY", "Limits", "RateLimiter", "TokenBucket"]

#: largest request body or WebSocket message accepted (bytes); here, not in the app, so the
#: server can be configured before the app (and its compiled kernels) is loaded
MAX_BODY = 8 * 1024 * 1024
#: a frame is estimated to cost as much to decode as this many bytes per event (then measured)
DECODE_BYTES_PER_EVENT = 64


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's limits. ``burst_s``: seconds of the rate a bucket holds when full."""

    messages_per_s: float = 5_000.0
    events_per_s: float = 5_000_000.0
    burst_s: float = 2.0
    max_wait_s: float = 5.0
    send_queue: int = 4096  # messages waiting to go out to one WebSocket client
    #: fair scheduling of engine work (see :mod:`orderflow.server.scheduler`)
    engine_slice_ms: float = 2.0
    queue_events: int = 1_000_000
    engine_max_wait_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        sv = settings.server
        return cls(
            messages_per_s=sv.rate_messages_per_s,
            events_per_s=sv.rate_events_per_s,
            burst_s=sv.rate_burst_s,
            max_wait_s=sv.rate_max_wait_s,
            send_queue=sv.send_queue,
            engine_slice_ms=sv.engine_slice_ms,
            queue_events=sv.engine_queue_events,
            engine_max_wait_s=sv.engine_max_wait_s,
        )


class TokenBucket:
    """A bucket of ``rate`` tokens per second holding at most ``burst``. ``take`` always takes
    (the level may go below zero) and returns how long the caller must wait before going on."""

    __slots__ = ("burst", "level", "rate", "stamp")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.stamp = time.monotonic()

    def take(self, n: float, now: float | None = None) -> float:
        t = time.monotonic() if now is None else now
        self.level = min(self.burst, self.level + max(0.0, t - self.stamp) * self.rate)
        self.stamp = max(t, self.stamp)
        self.level -= n
        return _wait(self.level, self.rate)

    def peek(self, n: float, now: float | None = None) -> float:
        """The wait ``take(n)`` would ask for, without taking."""
        t = time.monotonic() if now is None else now
        level = min(self.burst, self.level + max(0.0, t - self.stamp) * self.rate) - n
        return _wait(level, self.rate)


def _wait(level: float, rate: float) -> float:
    """Seconds until ``level`` is back at zero; a level a rounding error under zero (a refill
    over a float time difference) is zero, not a wait of picoseconds."""
    return 0.0 if level >= -1e-9 else -level / rate


class RateLimiter:
    """One connection's buckets: messages and events."""

    __slots__ = ("events", "limits", "messages")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.messages = TokenBucket(limits.messages_per_s, limits.messages_per_s * limits.burst_s)
        self.events = TokenBucket(limits.events_per_s, limits.events_per_s * limits.burst_s)

    def take(self, events: int, now: float | None = None) -> float:
        """Seconds to wait before handling a message of ``events`` events (taken now): both
        buckets' :meth:`TokenBucket.take` at one reading of the clock."""
        t = time.monotonic() if now is None else now
        return max(self.messages.take(1, t), self.events.take(events, t))

    def peek(self, events: int, now: float | None = None) -> float:
        return max(self.messages.peek(1, now), self.events.peek(events, now))


class RestLimiters:
    """Rate limiters per HTTP connection (client address and port), the least recently used
    forgotten beyond ``keep``."""

    def __init__(self, limits: Limits, keep: int = 4096) -> None:
        self.limits = limits
        self.keep = keep
        self._by: OrderedDict[tuple[str, int], RateLimiter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by)

    def get(self, key: tuple[str, int]) -> RateLimiter:
        lim = self._by.get(key)
        if lim is None:
            lim = self._by[key] = RateLimiter(self.limits)
            if len(self._by) > self.keep:
                self._by.popitem(last=False)
        else:
            self._by.move_to_end(key)
        return lim
