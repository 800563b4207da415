"""Cumulative delta (buy minus sell aggressor volume) per session, and delta candles per bar.

Delta of a trade is ``+size`` for a buy aggressor (``Side.BID``), ``-size`` for a sell
(``Side.ASK``), 0 when unknown. Cumulative delta restarts at 0 at each session open of the
instrument's trading hours (``model.session_times``) when ``DeltaParams.reset_per_session`` and
an instrument are given, and whenever :meth:`CumulativeDelta.reset` is called. Batch
(:func:`cumulative_delta`) is the incremental object fed one chunk, so both agree exactly.

Delta candles (NinjaTrader's Order Flow Cumulative Delta, "bar" mode) come from bar records
alone, O(1) per bar: open = cumulative delta before the bar (the previous candle's close),
close = open + bar delta, high/low = open + the bar's max/min seen delta (the open included).
The session reset happens at the first bar that opens in a new session.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from numba import njit

from orderflow.analytics.params import DeltaParams as DeltaParams
from orderflow.model.enums import Side
from orderflow.model.instruments import Instrument
from orderflow.model.session_times import session_open_ns, trading_day_of

_BID, _ASK = int(Side.BID), int(Side.ASK)

#: One delta candle: the bar's open time and its cumulative delta open, high, low, close.
DELTA_CANDLE_DTYPE = np.dtype(
    [("ts_open", "i8"), ("open", "i8"), ("high", "i8"), ("low", "i8"), ("close", "i8")]
)


@njit(cache=True)
def _cum(ts, size, side, reset_at, value, out):  # type: ignore[no-untyped-def]
    """Running signed volume; restarts at 0 before the first trade at/after each ``reset_at``."""
    b = 0
    for i in range(len(size)):
        while b < len(reset_at) and ts[i] >= reset_at[b]:
            value = 0
            b += 1
        s = side[i]
        if s == _BID:
            value += size[i]
        elif s == _ASK:
            value -= size[i]
        out[i] = value
    return value


class _SessionClock:
    """Session opens after a given time, computed only when a chunk crosses the next one."""

    def __init__(self, instrument: Instrument | None, enabled: bool) -> None:
        self.hours = instrument.trading_hours if (instrument and enabled) else None
        self.next_open: int | None = None

    def opens_until(self, first_ns: int, last_ns: int) -> np.ndarray:
        """Session opens in ``(previous call, last_ns]`` (none on the very first call)."""
        if self.hours is None:
            return _EMPTY
        if self.next_open is None:
            self.next_open = self._open_after(first_ns)
        if last_ns < self.next_open:
            return _EMPTY
        opens = []
        while self.next_open <= last_ns:
            opens.append(self.next_open)
            self.next_open = self._open_after(self.next_open)
        return np.asarray(opens, dtype=np.int64)

    def _open_after(self, ts_ns: int) -> int:
        assert self.hours is not None
        day = trading_day_of(ts_ns, self.hours) + timedelta(days=1)
        return session_open_ns(day, self.hours)


_EMPTY = np.zeros(0, dtype=np.int64)


class CumulativeDelta:
    """Cumulative delta, fed trades in chunks of any size; ``value`` readable any time, O(1)."""

    def __init__(
        self, instrument: Instrument | None = None, params: DeltaParams = DeltaParams()
    ) -> None:
        self.params = params
        self._clock = _SessionClock(instrument, params.reset_per_session)
        #: the running value, in an array a compiled caller (the pipeline's fused step) updates
        self._v = np.zeros(1, dtype=np.int64)

    @property
    def value(self) -> int:
        """The cumulative delta now. O(1)."""
        return int(self._v[0])

    @value.setter
    def value(self, v: int) -> None:
        self._v[0] = v

    @property
    def next_open(self) -> int | None:
        """The next session open a chunk reaching it restarts at (None: not known before the
        first chunk, or no sessions: see :attr:`resets`)."""
        return self._clock.next_open

    @property
    def resets(self) -> bool:
        """Whether the value restarts at session opens."""
        return self._clock.hours is not None

    def update(self, trades: np.ndarray) -> np.ndarray:
        """Feed trades (:data:`TRADE_DTYPE`); returns the cumulative delta after each. O(n)."""
        out = np.empty(len(trades), dtype=np.int64)
        if len(trades) == 0:
            return out
        ts = trades["ts_event"]
        resets = self._clock.opens_until(int(ts[0]), int(ts[-1]))
        self._v[0] = _cum(ts, trades["size"], trades["side"], resets, self._v[0], out)
        return out

    def reset(self) -> None:
        """Restart at 0 now (on demand, e.g. at a user-chosen anchor)."""
        self.value = 0


def cumulative_delta(
    trades: np.ndarray, instrument: Instrument | None = None, params: DeltaParams = DeltaParams()
) -> np.ndarray:
    """Batch: the cumulative delta after each trade (int64), per session. O(n)."""
    return CumulativeDelta(instrument, params).update(trades)


class DeltaCandles:
    """Cumulative delta candles from closed bar records (:data:`BAR_RECORD_DTYPE`), fed in
    chunks; ``value`` is the cumulative delta after the last bar. O(1) per bar."""

    def __init__(
        self, instrument: Instrument | None = None, params: DeltaParams = DeltaParams()
    ) -> None:
        self._clock = _SessionClock(instrument, params.reset_per_session)
        self.value = 0

    def update(self, bars: np.ndarray) -> np.ndarray:
        """The delta candles of the next bars (each bar needs a known delta)."""
        out = np.zeros(len(bars), dtype=DELTA_CANDLE_DTYPE)
        if len(bars) == 0:
            return out
        ts = bars["ts_open"]
        resets = self._clock.opens_until(int(ts[0]), int(ts[-1]))
        self.value = int(
            _candles(ts, bars["delta"], bars["max_delta"], bars["min_delta"], resets,
                     self.value, out)
        )  # fmt: skip
        return out

    def reset(self) -> None:
        """Restart at 0 now."""
        self.value = 0


@njit(cache=True)
def _candles(ts, delta, max_d, min_d, reset_at, value, out):  # type: ignore[no-untyped-def]
    b = 0
    for i in range(len(delta)):
        while b < len(reset_at) and ts[i] >= reset_at[b]:
            value = 0
            b += 1
        r = out[i]
        r.ts_open = ts[i]
        r.open = value
        r.high = value + max(0, max_d[i])
        r.low = value + min(0, min_d[i])
        value += delta[i]
        r.close = value
    return value


def delta_candles(
    bars: np.ndarray, instrument: Instrument | None = None, params: DeltaParams = DeltaParams()
) -> np.ndarray:
    """Batch: the cumulative delta candles of bar records (:data:`DELTA_CANDLE_DTYPE`)."""
    return DeltaCandles(instrument, params).update(bars)
