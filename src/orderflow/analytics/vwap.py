"""VWAP with 1, 2 and 3 standard-deviation bands, reset per session, week or month.

As NinjaTrader's Order Flow VWAP: over the trades of the current reset period,

    VWAP  = sum(p_i * v_i) / sum(v_i)
    sigma = sqrt( sum(v_i * (p_i - VWAP)^2) / sum(v_i) )        (volume-weighted, population)
    band_k = VWAP +/- m_k * sigma,   m = (1, 2, 3) by default (NinjaTrader's SD multipliers)

Prices are integer ticks, so VWAP and sigma are in (fractional) ticks.

Numerical choices. The running state is four exact integers per period, kept relative to the
first price of the period ``p0`` (so they stay small): ``V = sum(v)``, ``S1 = sum(v*d)``,
``S2 = sum(v*d^2)`` with ``d = p - p0``. Every update adds integers, so the running sums never
drift and chunking cannot change them (batch == incremental, bit for bit). They stay exact in
int64 while ``V * max|d|^2 < 9.2e18`` (ES: a month of 4e7 contracts over a 400-point range is
2.6e14). Reads turn them into floats once: ``m = S1/V``, ``VWAP = p0 + m``,
``var = max(S2/V - m^2, 0)``. Because ``d`` is measured from a price inside the period's range,
``m`` is small and the subtraction loses little (relative error ~1e-15 of range^2/var).
:meth:`VwapTracker.vwap_exact` gives the VWAP as an exact fraction when that is wanted.

Reset periods come from the instrument's session template (``model.session_times``): a session is
one trading day (CME equity: 18:00 New York the evening before, to the next open); a week is the
trading days Monday to Sunday (so it starts with Sunday's 18:00 open); a month is the trading
days of a calendar month (it starts at the open on the evening before the 1st). Trades are taken
in time order; a trade stamped before the start of the current period (out of order) is counted
in the current period rather than reopening an old one. Trades of size <= 0 are ignored.
"""

from __future__ import annotations

import math
from datetime import timedelta
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numba import njit

from orderflow.analytics.params import ResetInterval as ResetInterval
from orderflow.analytics.params import VwapParams as VwapParams
from orderflow.core.errors import ParameterError
from orderflow.model.instruments import Instrument
from orderflow.model.session_times import session_open_ns, trading_day_of

__all__ = [
    "ResetInterval",
    "VwapParams",
    "VwapSeries",
    "VwapTracker",
    "VwapValue",
    "period_bounds",
    "vwap_series",
]

_I64_MIN = int(np.iinfo(np.int64).min)
_I64_MAX = int(np.iinfo(np.int64).max)


def period_bounds(ts_ns: int, instrument: Instrument, reset: ResetInterval) -> tuple[int, int]:
    """``[start, end)`` in ns of the reset period that contains ``ts_ns``. O(1)."""
    reset = ResetInterval(reset)
    if reset is ResetInterval.NONE:
        return _I64_MIN, _I64_MAX
    hours = instrument.trading_hours
    day = trading_day_of(int(ts_ns), hours)
    if reset is ResetInterval.SESSION:
        first, nxt = day, day + timedelta(days=1)
    elif reset is ResetInterval.WEEK:
        first = day - timedelta(days=day.weekday())
        nxt = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
    return session_open_ns(first, hours), session_open_ns(nxt, hours)


class PeriodClock:
    """Tells when a time leaves the current reset period; shared by VWAP, profile, clusters."""

    __slots__ = ("end", "instrument", "reset", "start")

    def __init__(self, instrument: Instrument | None, reset: ResetInterval) -> None:
        self.reset = ResetInterval(reset)
        if instrument is None and self.reset is not ResetInterval.NONE:
            raise ParameterError(f"reset {self.reset.value!r} needs an instrument (its sessions)")
        self.instrument = instrument
        self.start = _I64_MIN
        self.end = _I64_MIN  # no period yet: the first time opens one

    def open_at(self, ts_ns: int) -> None:
        if self.instrument is None:
            self.start, self.end = _I64_MIN, _I64_MAX
        else:
            self.start, self.end = period_bounds(ts_ns, self.instrument, self.reset)


class VwapValue(NamedTuple):
    """VWAP and bands at one instant; prices in ticks (floats). NaN before the first trade."""

    period_start: int  # ns; INT64_MIN for an unanchored (NONE) period
    volume: int
    trades: int
    vwap: float
    std: float
    upper: tuple[float, ...]  # vwap + m_k * std, per multiplier
    lower: tuple[float, ...]


class VwapSeries(NamedTuple):
    """VWAP after every trade (batch output); ``upper``/``lower`` have shape (trades, bands)."""

    period_start: np.ndarray
    vwap: np.ndarray
    std: np.ndarray
    upper: np.ndarray
    lower: np.ndarray


# state cells (int64)
_P0, _V, _S1, _S2, _N = 0, 1, 2, 3, 4


@njit(cache=True)
def _vwap_run(tr, i0, end, st, rec, out_vwap, out_std, out_start, start):  # type: ignore[no-untyped-def]
    """Add trades from ``i0`` until the first one at or after ``end``; returns its index.

    Per trade: d = p - p0; V += v; S1 += v*d; S2 += v*d*d (exact int64).
    With ``rec`` the VWAP and sigma after each trade are written to the outputs.
    """
    n = len(tr)
    for i in range(i0, n):
        if tr[i]["ts_event"] >= end:
            return i
        v = tr[i]["size"]
        if v > 0:
            if st[_V] == 0:
                st[_P0] = tr[i]["price"]
            d = tr[i]["price"] - st[_P0]
            st[_V] += v
            st[_S1] += v * d
            st[_S2] += v * d * d
            st[_N] += 1
        if rec:
            out_start[i] = start
            if st[_V] > 0:
                m = st[_S1] / st[_V]
                var = st[_S2] / st[_V] - m * m
                out_vwap[i] = st[_P0] + m
                out_std[i] = np.sqrt(var) if var > 0.0 else 0.0
            else:
                out_vwap[i] = np.nan
                out_std[i] = np.nan
    return n


def _stats(st: np.ndarray) -> tuple[float, float]:
    """The kernel's read formula, in Python floats (same IEEE operations, same results)."""
    v = float(st[_V])
    if v == 0.0:
        return float("nan"), float("nan")
    m = float(st[_S1]) / v
    var = float(st[_S2]) / v - m * m
    return float(st[_P0]) + m, (math.sqrt(var) if var > 0.0 else 0.0)


class VwapTracker:
    """Running VWAP and bands. ``update`` is O(chunk); every read is O(1).

    ``instrument`` supplies the session template; it may be None only with reset NONE.
    """

    def __init__(self, instrument: Instrument | None, params: VwapParams | None = None) -> None:
        self.params = params or VwapParams()
        self._clock = PeriodClock(instrument, self.params.reset)
        self._st = np.zeros(5, dtype=np.int64)
        self._mult = np.asarray(self.params.multipliers, dtype=np.float64)
        self._empty = np.empty(0, dtype=np.float64)
        self._empty_i = np.empty(0, dtype=np.int64)
        #: the last value() and what it was read from (the sums, the period's start, the
        #: bands): the sums also change inside the pipeline's fused step, so the state itself
        #: is the key
        self._memo: tuple[tuple[bytes, int, tuple[float, ...]], VwapValue] | None = None

    def update(self, trades: np.ndarray, record: bool = False) -> VwapSeries | None:
        """Add trades (TRADE_DTYPE, time order). With ``record``, return the VWAP after each."""
        n = len(trades)
        if record:
            vw, sd = np.empty(n), np.empty(n)
            starts = np.empty(n, dtype=np.int64)
        else:
            vw, sd, starts = self._empty, self._empty, self._empty_i
        clock, st, i = self._clock, self._st, 0
        while True:
            i = _vwap_run(trades, i, clock.end, st, record, vw, sd, starts, clock.start)
            if i >= n:
                break
            clock.open_at(int(trades[i]["ts_event"]))
            st[:] = 0
        if not record:
            return None
        width = self._mult[None, :] * sd[:, None]
        return VwapSeries(starts, vw, sd, vw[:, None] + width, vw[:, None] - width)

    # -- reads, O(1) ---------------------------------------------------------------------------

    @property
    def volume(self) -> int:
        return int(self._st[_V])

    @property
    def vwap(self) -> float:
        return _stats(self._st)[0]

    @property
    def std(self) -> float:
        return _stats(self._st)[1]

    @property
    def period(self) -> tuple[int, int]:
        """``[start, end)`` ns of the current period (INT64_MIN, INT64_MIN before any trade)."""
        return self._clock.start, self._clock.end

    def vwap_exact(self) -> Fraction | None:
        """The VWAP in ticks as an exact fraction ``(p0*V + S1) / V``; None before a trade."""
        v = int(self._st[_V])
        if v == 0:
            return None
        return Fraction(int(self._st[_P0]) * v + int(self._st[_S1]), v)

    def headline(self) -> tuple[int, float, float]:
        """``(volume, vwap, std)`` as :meth:`value` gives them (the same IEEE operations on
        the same integers), without the bands. O(1)."""
        st = self._st.tolist()
        v = st[_V]
        if v == 0:
            return 0, float("nan"), float("nan")
        m = float(st[_S1]) / float(v)
        var = float(st[_S2]) / float(v) - m * m
        return v, float(st[_P0]) + m, (math.sqrt(var) if var > 0.0 else 0.0)

    def sums(self) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`headline` reads, as the tracker's own arrays: the sums (p0, volume, s1,
        s2; int64) and the band multipliers (float64), for a compiled reader: read only, not
        kept. O(1)."""
        return self._st, self._mult

    def value(self) -> VwapValue:
        """VWAP, sigma and bands now; read again only when the sums or the period changed
        since the last read (an immutable value, shared). O(1)."""
        key = (self._st.tobytes(), self._clock.start, self.params.multipliers)
        memo = self._memo
        if memo is not None and memo[0] == key:
            return memo[1]
        value = self._value()
        self._memo = key, value
        return value

    def _value(self) -> VwapValue:
        return self.value_of(self.state())

    def state(self) -> tuple[np.ndarray, int]:
        """What :meth:`value` reads, copied (the sums, the period's start): for a reader
        that turns it into a value later, off a hot path (:meth:`value_of`). O(1)."""
        return self._st.copy(), self._clock.start

    @staticmethod
    def volume_of(state: tuple[np.ndarray, int]) -> int:
        """The volume a :meth:`state` holds (its :meth:`value_of`'s ``volume``), without the
        value. O(1)."""
        return int(state[0][_V])

    def value_of(self, state: tuple[np.ndarray, int]) -> VwapValue:
        """The :meth:`value` of a :meth:`state` (this tracker's bands). O(1)."""
        st, start = state
        vw, sd = _stats(st)
        m = self.params.multipliers
        return VwapValue(
            start,
            int(st[_V]),
            int(st[_N]),
            vw,
            sd,
            tuple(vw + k * sd for k in m),
            tuple(vw - k * sd for k in m),
        )


def vwap_series(
    trades: np.ndarray, instrument: Instrument | None, params: VwapParams | None = None
) -> VwapSeries:
    """Batch: VWAP, sigma and bands after every trade (TRADE_DTYPE, time order). O(trades)."""
    out = VwapTracker(instrument, params).update(trades, record=True)
    assert out is not None
    return out
