"""NinjaTrader's own bar series (every ``BarsInProgress``): bar metrics and a bar-range profile.

NinjaTrader sends its bars (``OnBarUpdate``: open time, OHLC, volume, closed or forming) per
series; :class:`NtBars` keeps them per series, with the instrument's classified prints beside
them (:class:`PrintTape`), and says for each bar:

- ``range`` = high - low, ``body`` = |close - open| (prices);
- ``relative_volume`` = volume / mean volume of the previous ``relative_volume_bars`` closed
  bars of the same series (None before the first closed bar, or when their mean is 0);
- ``atr``: NinjaTrader's ATR(``atr_period``) as :class:`~orderflow.analytics.bars.BarSeries`
  computes it over the series' closed bars (simple mean of the true range over the first n bars,
  then Wilder's smoothing); a forming bar's is the value it would have if it closed now;
- ``delta`` = buy - sell volume of the prints in the bar's window, ``imbalance`` =
  delta / (buy + sell) (None when no classified volume), both only when the tape covers the
  bar (its first print, or the first print kept, is not later than the bar's open); else None.

The prints are fed to the tape only once the instrument has a bar: before it, each batch's
prints are kept as they came (a copy and an append, no per-print work; at most
``keep_prints`` of them, the oldest whole batches dropped beyond), and the tape takes them all
at the first bar, so that bar's delta is what it would have been had the tape been fed all
along (within the same bound). A client that never sends bars costs no tape work.

A bar's window is ``[open, open + period)`` for time periods ("1 Minute", "30 Second",
"1 Day"); for other periods (tick, volume, range bars) it ends at the last print received when
the bar arrived. The period is the one the bridge names (``Bar.period``) or, when it names none,
inferred from the smallest gap between the series' bar opens ("5 Minute"; "" while unknown).

A closed bar older than or at the series' last closed bar (a resend) is ignored and counted;
a bar off the instrument's tick grid or with high < low is dropped and counted.

:meth:`NtBars.profile` is the original design's ``analyze_volume_profile``: POC, value area,
HVN and LVN over the last N closed bars of a series (and its forming bar), from the prints in
those bars' windows when the tape covers them all (``source = "prints"``), else from the bars'
volume spread evenly over each bar's range in ticks (``source = "bars"``; the remainder of the
integer division goes to the ticks nearest the bar's close).

Bars are in ticks inside, prices at the edge (:meth:`NtBars.metrics`, :meth:`NtBars.profile`).
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orderflow.analytics.bars import BarKind, BarParams, BarSeries, BarSpec, atr_next
from orderflow.analytics.profile import ProfileParams, VolumeProfile
from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import BAR_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Side
from orderflow.model.instruments import Instrument

__all__ = ["NtBar", "NtBarParams", "NtBars", "PrintTape", "infer_period", "period_ns"]

NS = 1_000_000_000
_UNITS = {"second": NS, "minute": 60 * NS, "day": 86_400 * NS}
_PERIOD = re.compile(r"^\s*(\d+)\s+(second|minute|day)s?\s*$", re.IGNORECASE)
_BUY, _SELL = int(Side.BID), int(Side.ASK)


@dataclass(frozen=True, slots=True)
class NtBarParams:
    """``relative_volume_bars``: closed bars whose mean volume a bar is measured against;
    ``atr_period``: NinjaTrader's ATR length; ``keep_prints``: prints the tape keeps (the
    oldest half is dropped beyond it); ``profile_bars``: bars of :meth:`NtBars.profile` by
    default."""

    relative_volume_bars: int = 20
    atr_period: int = 14
    keep_prints: int = 2_000_000
    profile_bars: int = 30

    def __post_init__(self) -> None:
        for name in ("relative_volume_bars", "atr_period", "keep_prints", "profile_bars"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, not {v!r}")


@dataclass(frozen=True, slots=True)
class NtBar:
    """One bar of a NinjaTrader series, prices in ticks, ``t`` its open time (ns)."""

    series: int
    t: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    closed: bool = True
    period: str = ""


def period_ns(period: str) -> int | None:
    """ns of a time period as NinjaTrader names it ("1 Minute", "30 Second", "1 Day"); None
    for other periods (tick, volume, range...) or an unknown name."""
    m = _PERIOD.match(period)
    if m is None or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def infer_period(gap_ns: int) -> str:
    """NinjaTrader's name of a time period from the smallest gap between bar opens; "" when
    the gap is not a whole number of seconds."""
    if gap_ns <= 0 or gap_ns % NS:
        return ""
    for unit, name in ((86_400 * NS, "Day"), (60 * NS, "Minute"), (NS, "Second")):
        if gap_ns % unit == 0:
            return f"{gap_ns // unit} {name}"
    return ""  # pragma: no cover - NS divides it


class PrintTape:
    """The instrument's classified prints (TRADE_DTYPE) in time order, for bar windows.

    ``add`` is amortised O(prints); a window's flow is O(log prints + prints in it). A print
    stamped before the last one is kept at the last one's time (it is counted in the window
    open then). ``start``: bars opening at or after it are covered (None before any print)."""

    def __init__(self, keep: int = 2_000_000) -> None:
        self.keep = keep
        self._buf = np.zeros(1024, dtype=TRADE_DTYPE)
        self._n = 0
        self.start: int | None = None

    def __len__(self) -> int:
        return self._n

    @property
    def last_ts(self) -> int | None:
        return int(self._buf["ts_event"][self._n - 1]) if self._n else None

    def add(self, trades: np.ndarray) -> None:
        if not len(trades):
            return
        if self.start is None:
            self.start = int(trades["ts_event"][0])
        n = self._n + len(trades)
        if n > len(self._buf):
            grown = np.zeros(max(n, 2 * len(self._buf)), dtype=TRADE_DTYPE)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        new = self._buf[self._n : n]
        new[:] = trades
        ts = new["ts_event"]
        floor = self._buf["ts_event"][self._n - 1] if self._n else ts[0]
        np.maximum.accumulate(np.maximum(ts, floor), out=ts)
        self._n = n
        if n > self.keep:
            self._trim(n - self.keep // 2)

    def _trim(self, drop: int) -> None:
        last_dropped = int(self._buf["ts_event"][drop - 1])
        rest = self._buf[drop : self._n].copy()
        self._buf[: len(rest)] = rest
        self._n = len(rest)
        self.start = last_dropped + 1  # what shares its time with a dropped print is partial

    def covers(self, t0: int) -> bool:
        return self.start is not None and self.start <= t0

    def window(self, t0: int, t1: int | None) -> np.ndarray:
        """The prints with ``t0 <= ts_event < t1`` (``t1`` None: to the last one), a view."""
        ts = self._buf["ts_event"][: self._n]
        a = int(np.searchsorted(ts, t0, side="left"))
        b = self._n if t1 is None else int(np.searchsorted(ts, t1, side="left"))
        return self._buf[a:b]


@dataclass(slots=True)
class _Series:
    series: int
    atr_period: int
    period: str = ""
    named: bool = False  # the bridge named the period (else inferred)
    min_gap: int = 0
    closed: BarSeries = field(init=False)
    closed_t: list[int] = field(default_factory=list)
    flows: list[tuple[int, int] | None] = field(default_factory=list)  # buy, sell per closed bar
    forming: NtBar | None = None
    forming_flow: tuple[int, int] | None = None
    latest: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.closed = BarSeries(BarSpec(BarKind.TICK, 1), BarParams(self.atr_period))

    def note_open(self, t: int) -> None:
        if self.closed_t and t > self.closed_t[-1]:
            gap = t - self.closed_t[-1]
            if not self.min_gap or gap < self.min_gap:
                self.min_gap = gap
                if not self.named:
                    self.period = infer_period(gap)


class NtBars:
    """Every NinjaTrader series of one instrument: its bars, their metrics, a bar-range
    profile. Prices at the edges are exchange prices, inside ticks."""

    def __init__(
        self,
        instrument: Instrument,
        params: NtBarParams | None = None,
        profile: ProfileParams | None = None,
    ) -> None:
        self.instrument = instrument
        self.params = params or NtBarParams()
        self.profile_params = profile or ProfileParams()
        self.tape = PrintTape(self.params.keep_prints)
        self.series: dict[int, _Series] = {}
        self.rejected: Counter[str] = Counter()
        #: before the first bar: the prints as they came (the batches' arrays, copied unless
        #: handed over: :meth:`add_prints`), at most ``keep_prints`` of them in whole
        #: batches, for the tape to take at once when a bar arrives; a client that never
        #: sends bars pays an append per batch (and a copy, unless it hands them over)
        self._pending: deque[np.ndarray] = deque()
        self._pending_n = 0
        self._pending_floor: int | None = None  # after a dropped batch: covered from here on

    # ---- feeding -------------------------------------------------------------------------
    def add_prints(self, trades: np.ndarray, owned: bool = False) -> None:
        """The instrument's classified prints (TRADE_DTYPE, aggressor side set). Before the
        first bar they are only kept (O(1) Python per batch: :attr:`tape` takes them when a
        bar arrives); after it, the tape takes them at once. ``owned``: the caller hands the
        array over and never writes it again (the server's converted prints), so it is kept
        as it is; else a copy is kept (a structured copy costs more than the rest of the call
        on a cold cache)."""
        if not len(trades):
            return
        if self.series:
            self.tape.add(trades)
            return
        self._pending.append(trades if owned else trades.copy())
        self._pending_n += len(trades)
        keep = self.params.keep_prints
        while self._pending_n > keep and len(self._pending) > 1:
            old = self._pending.popleft()
            self._pending_n -= len(old)
            last = int(old["ts_event"].max()) + 1  # what shares its time is partial
            self._pending_floor = max(last, self._pending_floor or last)

    def _take_pending(self) -> None:
        """The prints kept before the first bar, into the tape (once, at the first bar)."""
        if not self._pending:
            return
        self.tape.add(np.concatenate(self._pending))
        if self._pending_floor is not None and self.tape.start is not None:
            self.tape.start = max(self.tape.start, self._pending_floor)
        self._pending.clear()
        self._pending_n, self._pending_floor = 0, None

    def add_wire(
        self,
        series: int,
        t: int,
        prices: tuple[float, float, float, float],
        volume: int,
        closed: bool,
        period: str = "",
    ) -> Counter[str]:
        """One bar as NinjaTrader sends it (exchange prices): checked, converted, added.
        Returns what was refused (``bar_off_grid``, ``bar_inconsistent``, ``bar_resent``)."""
        before = Counter(self.rejected)
        try:
            o, h, lo, c = (self.instrument.to_ticks(p) for p in prices)
        except Exception:  # off the grid or not a price: bad market data, dropped and counted
            self.rejected["bar_off_grid"] += 1
            return self.rejected - before
        self.add(NtBar(series, t, o, h, lo, c, volume, closed, period))
        return self.rejected - before

    def add(self, bar: NtBar) -> bool:
        """One bar (ticks); False when it was refused (counted in ``rejected``)."""
        self._take_pending()
        if (
            bar.high < bar.low
            or not bar.low <= bar.open <= bar.high
            or not (bar.low <= bar.close <= bar.high)
        ):
            self.rejected["bar_inconsistent"] += 1
            return False
        s = self.series.get(bar.series)
        if s is None:
            s = self.series[bar.series] = _Series(bar.series, self.params.atr_period)
        if bar.period and not s.named:
            s.period, s.named = bar.period, True
        if s.closed_t and bar.t <= s.closed_t[-1]:
            self.rejected["bar_resent"] += 1
            return False
        s.note_open(bar.t)
        flow = self._flow(s, bar.t)
        if bar.closed:
            rec = np.zeros(1, dtype=BAR_DTYPE)
            rec[0] = (bar.t, bar.open, bar.high, bar.low, bar.close, bar.volume)
            s.closed.load_bars(rec)
            s.closed_t.append(bar.t)
            s.flows.append(flow)
            s.forming, s.forming_flow = None, None
            s.latest = self._entry(s, bar, flow, closed_index=len(s.closed_t) - 1)
        else:
            s.forming, s.forming_flow = bar, flow
            s.latest = self._entry(s, bar, flow, closed_index=None)
        return True

    def _window_end(self, s: _Series, t: int) -> int | None:
        size = period_ns(s.period)
        return None if size is None else t + size

    def _flow(self, s: _Series, t: int) -> tuple[int, int] | None:
        if not self.tape.covers(t):
            return None
        w = self.tape.window(t, self._window_end(s, t))
        side, size = w["side"], w["size"]
        return int(size[side == _BUY].sum()), int(size[side == _SELL].sum())

    # ---- reading -------------------------------------------------------------------------
    def _entry(
        self, s: _Series, bar: NtBar, flow: tuple[int, int] | None, closed_index: int | None
    ) -> dict[str, Any]:
        recs = s.closed.bars()
        if closed_index is not None:
            atr = float(recs["atr"][closed_index])
            prev = recs[max(0, closed_index - self.params.relative_volume_bars) : closed_index]
        else:
            k = len(recs)
            pc = int(recs["close"][-1]) if k else None
            tr = bar.high - bar.low if pc is None else max(bar.high, pc) - min(bar.low, pc)
            atr = atr_next(float(recs["atr"][-1]) if k else 0.0, k, self.params.atr_period, tr)
            prev = recs[max(0, k - self.params.relative_volume_bars) :]
        mean = float(prev["volume"].mean()) if len(prev) else 0.0
        tick = float(self.instrument.tick_size)
        px = self.instrument.to_price
        delta = imbalance = None
        if flow is not None:
            delta = flow[0] - flow[1]
            traded = flow[0] + flow[1]
            imbalance = delta / traded if traded else None
        return {
            "series": s.series,
            "period": s.period,
            "ts_ns": bar.t,
            "open": px(bar.open),
            "high": px(bar.high),
            "low": px(bar.low),
            "close": px(bar.close),
            "volume": bar.volume,
            "range": px(bar.high - bar.low),
            "body": px(abs(bar.close - bar.open)),
            "relative_volume": bar.volume / mean if mean > 0 else None,
            "atr": atr * tick,
            "delta": delta,
            "imbalance": imbalance,
            "closed": bar.closed,
        }

    def metrics(self, series: int) -> dict[str, Any] | None:
        """The wire entry of the series' latest bar (closed or forming); None if unknown."""
        s = self.series.get(series)
        return None if s is None else s.latest

    def latest(self) -> list[dict[str, Any]]:
        """The latest bar metrics of every series, by series."""
        return [s.latest for _, s in sorted(self.series.items()) if s.latest is not None]

    def closed_bars(self) -> dict[int, np.ndarray]:
        """Closed bars per series (BAR_RECORD_DTYPE in ticks, read-only views; their ATR
        included, flow fields unknown): what a strategy's multi-timeframe filter reads."""
        return {k: s.closed.bars() for k, s in self.series.items()}

    def profile(
        self, series: int, bars: int | None = None, source: str = "auto"
    ) -> dict[str, Any] | None:
        """``analyze_volume_profile`` over the last ``bars`` closed bars of ``series`` plus
        its forming bar: POC, value area, HVN/LVN (exchange prices). ``source``: ``prints``
        (the tape's prints in the bars' windows; only when it covers them all), ``bars``
        (volume spread over each bar's range) or ``auto`` (prints when covered). None
        without bars."""
        s = self.series.get(series)
        if s is None:
            return None
        n = bars or self.params.profile_bars
        recs = s.closed.bars()[-n:]
        rows: list[tuple[int, int, int, int, int]] = [
            (int(r["ts_open"]), int(r["high"]), int(r["low"]), int(r["close"]), int(r["volume"]))
            for r in recs
        ]
        if s.forming is not None:
            f = s.forming
            rows.append((f.t, f.high, f.low, f.close, f.volume))
        if not rows:
            return None
        covered = self.tape.covers(rows[0][0])
        if source == "prints" and not covered:
            return None
        use_prints = source == "prints" or (source == "auto" and covered)
        prof = VolumeProfile(self.profile_params)
        if use_prints:
            end = self._window_end(s, rows[-1][0])
            prof.update(self.tape.window(rows[0][0], end))
        else:
            prof.update(spread_volume(rows))
        va = prof.value_area()
        if va is None:
            return None
        nodes = prof.nodes()
        px = self.instrument.to_price
        return {
            "series": series,
            "period": s.period,
            "bars": len(rows),
            "source": "prints" if use_prints else "bars",
            "from_ns": rows[0][0],
            "poc": px(va.poc),
            "vah": px(va.vah),
            "val": px(va.val),
            "hvn": [px(x.price) for x in nodes.hvn],
            "lvn": [px(x.price) for x in nodes.lvn],
            "volume": int(prof.total),
        }


def spread_volume(rows: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """Bars ``(t, high, low, close, volume)`` (ticks) as trades: each bar's volume spread
    evenly over its ticks ``low..high``, the rest of the integer division one contract each
    to the ticks nearest the close (the lower first on a tie); aggressor unknown."""
    parts = []
    for t, high, low, close, volume in rows:
        prices = np.arange(low, high + 1, dtype=np.int64)
        sizes = np.full(len(prices), volume // len(prices), dtype=np.int64)
        rest = volume % len(prices)
        if rest:
            order = np.lexsort((prices, np.abs(prices - close)))
            sizes[order[:rest]] += 1
        tr = np.zeros(len(prices), dtype=TRADE_DTYPE)
        tr["ts_event"], tr["price"], tr["size"], tr["side"] = t, prices, sizes, int(Side.NONE)
        parts.append(tr[sizes > 0])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=TRADE_DTYPE)
