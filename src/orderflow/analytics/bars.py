"""Bars from trades on several timeframes at once (time, tick, volume, range), plus ready-made bars.

A :class:`BarSeries` turns trades (:data:`TRADE_DTYPE`, aggressor side set) into bar records
(:data:`BAR_RECORD_DTYPE`) with one jitted kernel; :class:`MultiBars` keeps one series per
:class:`BarSpec`, indexed like NinjaTrader's ``BarsInProgress`` (spec order, primary = 0). Batch
(:func:`build_bars`) is the incremental path fed one chunk, so both give identical bars.

How bars close (a bar is emitted to ``bars()`` once closed; ``forming()`` shows the open one):

- **time** (``size`` seconds): intervals aligned to the Unix epoch (60 s bars start on the
  minute, 300 s bars on the 5 minutes), ``[start, start + size)``. A bar closes at the first
  trade at or after its end (or at :meth:`BarSeries.advance`, a time event from the feed). Empty
  intervals make no bar (NinjaTrader does the same for time bars built from ticks). ``ts_open``
  is the interval start and ``ts_close`` its end.
- **tick** (``size`` trades): closes on its ``size``-th trade.
- **volume** (``size`` contracts): closes when it holds exactly ``size``. A trade that overflows
  it is split like NinjaTrader's VolumeBarsType: the part that fills the bar stays, the rest
  opens the next bar(s), so every volume bar but the forming one has exactly ``size``. A split
  trade counts in ``trades`` of every bar it reaches.
- **range** (``size`` ticks): ``high - low`` never exceeds ``size``; a trade that would make it
  exceed closes the bar and opens the next one at its own price. Unlike NinjaTrader we do not
  fabricate the boundary close or "phantom" bars over a gap (they would carry volume nobody
  traded and break the conservation laws); a gap therefore shows as a gap between bars.

For non-time bars ``ts_open``/``ts_close`` are the first and last trade times. A trade earlier
than its time bar's start (out-of-order input) is added to the forming bar. Trades with
``Side.NONE`` count in ``volume`` but in neither ``buy_volume`` nor ``sell_volume``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numba import njit

from orderflow.analytics.params import BarParams as BarParams
from orderflow.core.errors import ArgumentError, ParameterError
from orderflow.model.dtypes import BAR_DTYPE, NO_PRICE
from orderflow.model.enums import Side

NS = 1_000_000_000

#: Sentinel of an integer field that a ready-made bar cannot know (buy/sell volume, delta, ...).
UNKNOWN = int(NO_PRICE)

#: One bar. Prices in ticks, times ns UTC, volumes in contracts. ``delta`` = buy - sell volume;
#: ``max_delta``/``min_delta`` the running bar delta's extremes after each trade (NinjaTrader's
#: MaxSeenDelta/MinSeenDelta); ``vwap`` in ticks (float); ``range`` = high - low;
#: ``true_range`` = max(high, previous close) - min(low, previous close) (= range on the first
#: bar); ``atr`` NinjaTrader's ATR(n) at this bar (simple mean of TR over the first n bars, then
#: Wilder's smoothing); ``close_location`` = (close - low) / (high - low), 0.5 for a flat bar;
#: ``poc`` the price with most volume (footprint series only, else NO_PRICE); ``cell_start`` and
#: ``cell_count`` locate the bar's footprint cells (0 without a footprint). Ready-made bars
#: carry :data:`UNKNOWN` in buy/sell volume, delta, max/min delta, trades and NaN vwap.
BAR_RECORD_DTYPE = np.dtype(
    [
        ("ts_open", "i8"),
        ("ts_close", "i8"),
        ("open", "i8"),
        ("high", "i8"),
        ("low", "i8"),
        ("close", "i8"),
        ("volume", "i8"),
        ("buy_volume", "i8"),
        ("sell_volume", "i8"),
        ("delta", "i8"),
        ("max_delta", "i8"),
        ("min_delta", "i8"),
        ("trades", "i8"),
        ("range", "i8"),
        ("true_range", "i8"),
        ("poc", "i8"),
        ("cell_start", "i8"),
        ("cell_count", "i8"),
        ("vwap", "f8"),
        ("atr", "f8"),
        ("close_location", "f8"),
    ]
)

#: Footprint cell of one bar at one price: volume by aggressor. ``bid`` = sold into the bid
#: (sell aggressor, ``Side.ASK``), ``ask`` = bought at the offer (``Side.BID``), ``other`` =
#: unknown aggressor (``Side.NONE``). Cells of a bar are sorted by price, only non-empty ones.
CELL_DTYPE = np.dtype([("price", "i8"), ("bid", "i8"), ("ask", "i8"), ("other", "i8")])


class BarKind(IntEnum):
    """How a bar's extent is measured."""

    TIME = 0  # size in seconds
    TICK = 1  # size in trades
    VOLUME = 2  # size in contracts
    RANGE = 3  # size in ticks


@dataclass(frozen=True, slots=True)
class BarSpec:
    """One bar series: its kind and size (seconds, trades, contracts or ticks)."""

    kind: BarKind
    size: int

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ParameterError(f"bar size must be positive, not {self.size}")
        object.__setattr__(self, "kind", BarKind(self.kind))


# ---------------------------------------------------------------------------------------------
# kernel state (one int64 vector and one float64 per series)

_HAS, _TS_OPEN, _TS_CLOSE, _O, _H, _L, _C, _VOL, _BUY, _SELL, _TRADES, _PV = range(12)
_MAXD, _MIND, _BUCKET_END, _PREV_CLOSE, _NCLOSED, _NOUT, _CLO, _CHI, _WBASE, _NCELLS = range(12, 22)
_NSTATE = 22
_F_ATR = 0

_OK, _NEED_OUT, _NEED_WIN = 0, 1, 2
#: what :func:`_advance` returns when the bar it must close does not fit (grow, call again)
ADVANCE_NEEDS_ROOM = _NEED_OUT + 1
_TIME, _TICK, _VOLUME, _RANGE = 0, 1, 2, 3
_SBID, _SASK = int(Side.BID), int(Side.ASK)
_NOP = int(NO_PRICE)


@njit(cache=True)
def _poc(S, wb, wa, wo):  # type: ignore[no-untyped-def]
    """Price with most volume in the forming bar's window; ties go to the lowest price."""
    best, best_v = _NOP, -1
    base = S[_WBASE]
    for px in range(S[_CLO], S[_CHI] + 1):
        j = px - base
        v = wb[j] + wa[j] + wo[j]
        if v > best_v:
            best, best_v = px, v
    return best


@njit(cache=True)
def _atr_next(atr, k, n, tr):  # type: ignore[no-untyped-def]
    """NinjaTrader's ATR after ``k`` closed bars, given this bar's true range."""
    if k == 0:
        return float(tr)
    if k < n:
        return (atr * k + tr) / (k + 1)
    return (atr * (n - 1) + tr) / n


def atr_next(atr: float, closed: int, period: int, true_range: int) -> float:
    """NinjaTrader's ATR(``period``) of the bar after ``closed`` closed bars whose ATR was
    ``atr``, given this bar's true range (the step :class:`BarSeries` takes per bar)."""
    return float(_atr_next(float(atr), int(closed), int(period), int(true_range)))


@njit(cache=True)
def _write_row(S, F, atr_n, out, k, poc, cell_start, cell_count):  # type: ignore[no-untyped-def]
    """Write the forming bar (state ``S``) as record ``k`` with its metrics; returns its ATR."""
    h, lo, c, pc = S[_H], S[_L], S[_C], S[_PREV_CLOSE]
    r = out[k]
    r.ts_open = S[_TS_OPEN]
    r.ts_close = S[_TS_CLOSE]
    r.open = S[_O]
    r.high = h
    r.low = lo
    r.close = c
    r.volume = S[_VOL]
    r.buy_volume = S[_BUY]
    r.sell_volume = S[_SELL]
    r.delta = S[_BUY] - S[_SELL]
    r.max_delta = S[_MAXD]
    r.min_delta = S[_MIND]
    r.trades = S[_TRADES]
    r.range = h - lo
    tr = h - lo if pc == _NOP else max(h, pc) - min(lo, pc)
    r.true_range = tr
    r.poc = poc
    r.cell_start = cell_start
    r.cell_count = cell_count
    r.vwap = S[_PV] / S[_VOL] if S[_VOL] > 0 else np.nan
    atr = _atr_next(F[_F_ATR], S[_NCLOSED], atr_n, tr)
    r.atr = atr
    r.close_location = 0.5 if h == lo else (c - lo) / (h - lo)
    return atr


@njit(cache=True)
def _close(S, F, atr_n, out, use_cells, wb, wa, wo, cells):  # type: ignore[no-untyped-def]
    """Close the forming bar: emit its record (and cells), update ATR state. O(prices in bar)."""
    poc = _NOP
    start = S[_NCELLS]
    count = 0
    if use_cells:
        poc = _poc(S, wb, wa, wo)
        base = S[_WBASE]
        for px in range(S[_CLO], S[_CHI] + 1):
            j = px - base
            if wb[j] + wa[j] + wo[j] > 0:
                m = start + count
                cells[m, 0] = px
                cells[m, 1] = wb[j]
                cells[m, 2] = wa[j]
                cells[m, 3] = wo[j]
                count += 1
                wb[j] = 0
                wa[j] = 0
                wo[j] = 0
        S[_NCELLS] = start + count
    F[_F_ATR] = _write_row(S, F, atr_n, out, S[_NOUT], poc, start, count)
    S[_NOUT] += 1
    S[_NCLOSED] += 1
    S[_PREV_CLOSE] = S[_C]
    S[_HAS] = 0


@njit(cache=True)
def _add(S, kind, size, t, p, q, s, use_cells, wb, wa, wo):  # type: ignore[no-untyped-def]
    """Add ``q`` contracts at ``p`` to the forming bar, opening one if there is none. O(1)."""
    if S[_HAS] == 0:
        S[_HAS] = 1
        if kind == _TIME:
            start = (t // size) * size
            S[_TS_OPEN] = start
            S[_BUCKET_END] = start + size
        else:
            S[_TS_OPEN] = t
        S[_O] = p
        S[_H] = p
        S[_L] = p
        S[_VOL] = 0
        S[_BUY] = 0
        S[_SELL] = 0
        S[_TRADES] = 0
        S[_PV] = 0
        S[_CLO] = p
        S[_CHI] = p
        if use_cells:
            S[_WBASE] = p - len(wb) // 2
    S[_H] = max(S[_H], p)
    S[_L] = min(S[_L], p)
    S[_C] = p
    S[_VOL] += q
    S[_PV] += p * q
    S[_TRADES] += 1
    S[_TS_CLOSE] = S[_BUCKET_END] if kind == _TIME else t
    if s == _SBID:
        S[_BUY] += q
    elif s == _SASK:
        S[_SELL] += q
    d = S[_BUY] - S[_SELL]
    if S[_TRADES] == 1:
        S[_MAXD] = d
        S[_MIND] = d
    else:
        S[_MAXD] = max(S[_MAXD], d)
        S[_MIND] = min(S[_MIND], d)
    if use_cells:
        S[_CLO] = min(S[_CLO], p)
        S[_CHI] = max(S[_CHI], p)
        j = p - S[_WBASE]
        if s == _SBID:
            wa[j] += q
        elif s == _SASK:
            wb[j] += q
        else:
            wo[j] += q


@njit(cache=True)
def _run(kind, size, atr_n, ts, price, qty, side, start, S, F, out, use_cells, wb, wa, wo, cells):  # type: ignore[no-untyped-def]
    """Feed trades ``start..`` to one series. Returns (next trade, code): code 0 done, 1 needs a
    larger output, 2 needs a larger cell window; nothing of the returned trade is applied."""
    n = len(price)
    w = len(wb)
    for i in range(start, n):
        t, p, q, s = ts[i], price[i], qty[i], side[i]
        rows = q // size + 2 if kind == _VOLUME else 2
        if S[_NOUT] + rows > len(out):
            return i, _NEED_OUT
        if use_cells:
            held = S[_CHI] - S[_CLO] + 1 if S[_HAS] else 0
            if S[_NCELLS] + held + rows > cells.shape[0]:
                return i, _NEED_OUT
        if S[_HAS]:
            ended = kind == _TIME and t >= S[_BUCKET_END]
            broken = kind == _RANGE and (p > S[_L] + size or p < S[_H] - size)
            if ended or broken:
                _close(S, F, atr_n, out, use_cells, wb, wa, wo, cells)
        if use_cells and S[_HAS] and (p < S[_WBASE] or p >= S[_WBASE] + w):
            return i, _NEED_WIN
        if kind == _VOLUME:
            left = q
            while left > 0:
                room = size - S[_VOL] if S[_HAS] else size
                take = min(left, room)
                _add(S, kind, size, t, p, take, s, use_cells, wb, wa, wo)
                left -= take
                if S[_VOL] >= size:
                    _close(S, F, atr_n, out, use_cells, wb, wa, wo, cells)
        else:
            _add(S, kind, size, t, p, q, s, use_cells, wb, wa, wo)
            if kind == _TICK and S[_TRADES] >= size:
                _close(S, F, atr_n, out, use_cells, wb, wa, wo, cells)
    return n, _OK


@njit(cache=True)
def _advance(S, F, atr_n, out, use_cells, wb, wa, wo, cells, ts):  # type: ignore[no-untyped-def]
    """Time has reached ``ts`` in a time series: close the forming bar if its interval ended.
    Returns 1 when it closed one, 0 when there was nothing to close, ``_NEED_OUT`` (nothing
    done) when the closed bar would not fit the output or the cells."""
    if not S[_HAS] or ts < S[_BUCKET_END]:
        return 0
    if S[_NOUT] + 2 > len(out):
        return ADVANCE_NEEDS_ROOM
    if use_cells and S[_NCELLS] + S[_CHI] - S[_CLO] + 1 + 2 > cells.shape[0]:
        return ADVANCE_NEEDS_ROOM
    _close(S, F, atr_n, out, use_cells, wb, wa, wo, cells)
    return 1


@njit(cache=True)
def _load(bars, size_ns, S, F, atr_n, out):  # type: ignore[no-untyped-def]
    """Append ready-made OHLCV bars as closed records with their metrics. O(len(bars))."""
    for i in range(len(bars)):
        b = bars[i]
        S[_TS_OPEN] = b.ts_event
        S[_TS_CLOSE] = b.ts_event + size_ns if size_ns > 0 else _NOP
        S[_O] = b.open
        S[_H] = b.high
        S[_L] = b.low
        S[_C] = b.close
        S[_VOL] = b.volume
        k = S[_NOUT]
        F[_F_ATR] = _write_row(S, F, atr_n, out, k, _NOP, 0, 0)
        r = out[k]
        r.buy_volume = _NOP
        r.sell_volume = _NOP
        r.delta = _NOP
        r.max_delta = _NOP
        r.min_delta = _NOP
        r.trades = _NOP
        r.vwap = np.nan
        S[_NOUT] += 1
        S[_NCLOSED] += 1
        S[_PREV_CLOSE] = b.close


# ---------------------------------------------------------------------------------------------
# Python side


class BarSeries:
    """One bar series fed trades in chunks of any size; ``footprint=True`` also keeps the cells.

    ``update`` costs O(trades + prices of closed bars); ``forming()`` O(1) (O(prices in the
    bar) with a footprint); ``last()`` O(1); ``bars()`` returns a view, no copy.
    """

    def __init__(
        self, spec: BarSpec, params: BarParams = BarParams(), footprint: bool = False
    ) -> None:
        self.spec = spec
        self.params = params
        self.footprint = footprint
        self._unit = spec.size * NS if spec.kind == BarKind.TIME else spec.size
        self._S = np.zeros(_NSTATE, dtype=np.int64)
        self._S[_PREV_CLOSE] = _NOP
        self._F = np.zeros(1, dtype=np.float64)
        self._out = np.zeros(64, dtype=BAR_RECORD_DTYPE)
        width = 256 if footprint else 1
        self._wb = np.zeros(width, dtype=np.int64)
        self._wa = np.zeros(width, dtype=np.int64)
        self._wo = np.zeros(width, dtype=np.int64)
        self._cells = np.zeros((1024 if footprint else 1, 4), dtype=np.int64)

    # -- feeding ---------------------------------------------------------------------------

    def update(self, trades: np.ndarray) -> int:
        """Feed trades (:data:`TRADE_DTYPE`, time order); returns how many bars closed."""
        before = int(self._S[_NOUT])
        ts, price, qty, side = trades["ts_event"], trades["price"], trades["size"], trades["side"]
        i = 0
        while True:
            i, code = _run(
                int(self.spec.kind), self._unit, self.params.atr_period, ts, price, qty, side,
                i, self._S, self._F, self._out, self.footprint,
                self._wb, self._wa, self._wo, self._cells,
            )  # fmt: skip
            if code == _OK:
                return int(self._S[_NOUT]) - before
            if code == _NEED_OUT:
                self._grow_out(int(qty[i]))
            else:
                self._grow_window(int(price[i]))

    def advance(self, ts_ns: int) -> bool:
        """Time has reached ``ts_ns`` (a feed event): close a time bar whose interval ended."""
        if self.spec.kind != BarKind.TIME:
            return False
        while True:
            rc = _advance(self._S, self._F, self.params.atr_period, self._out, self.footprint,
                          self._wb, self._wa, self._wo, self._cells, ts_ns)  # fmt: skip
            if rc != ADVANCE_NEEDS_ROOM:
                return bool(rc)
            self._grow_out(0)

    def load_bars(self, bars: np.ndarray) -> None:
        """Append ready-made bars (:data:`BAR_DTYPE`) as closed bars with their metrics.

        ``ts_close`` is open + size for a time spec, else UNKNOWN; flow fields are UNKNOWN.
        """
        if self._S[_HAS]:
            raise ArgumentError("cannot load ready-made bars while a bar is forming")
        bars = np.ascontiguousarray(bars, dtype=BAR_DTYPE)
        need = int(self._S[_NOUT]) + len(bars)
        if need > len(self._out):
            self._out = _grown(self._out, need)
        size_ns = self._unit if self.spec.kind == BarKind.TIME else 0
        _load(bars, size_ns, self._S, self._F, self.params.atr_period, self._out)

    def _grow_out(self, qty: int) -> None:
        rows = qty // self.spec.size + 2 if self.spec.kind == BarKind.VOLUME else 2
        need = int(self._S[_NOUT]) + rows
        if need > len(self._out):
            self._out = _grown(self._out, need)
        if self.footprint:
            held = int(self._S[_CHI] - self._S[_CLO] + 1) if self._S[_HAS] else 0
            need = int(self._S[_NCELLS]) + held + rows
            if need > len(self._cells):
                self._cells = _grown(self._cells, need)

    def _grow_window(self, price: int) -> None:
        """Widen the forming bar's cell window so it holds ``price`` too (re-centred)."""
        S = self._S
        lo, hi = min(int(S[_CLO]), price), max(int(S[_CHI]), price)
        width = max(2 * len(self._wb), 2 * (hi - lo + 1))
        base = lo - (width - (hi - lo + 1)) // 2
        old = int(S[_WBASE])
        for name in ("_wb", "_wa", "_wo"):
            arr = getattr(self, name)
            new = np.zeros(width, dtype=np.int64)
            a, b = int(S[_CLO]) - old, int(S[_CHI]) - old + 1
            new[a + old - base : b + old - base] = arr[a:b]
            setattr(self, name, new)
        S[_WBASE] = base

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """Closed bars so far."""
        return int(self._S[_NOUT])

    def bars(self) -> np.ndarray:
        """The closed bars (:data:`BAR_RECORD_DTYPE`), oldest first: a read-only view. O(1)."""
        view = self._out[: int(self._S[_NOUT])]
        view.flags.writeable = False
        return view

    def last(self) -> np.void | None:
        """The last closed bar (a one-record copy) or None. O(1)."""
        n = int(self._S[_NOUT])
        return self._out[n - 1].copy() if n else None

    def forming(self) -> np.void | None:
        """The forming bar as a record with metrics as if it closed now, or None. O(1)
        (O(prices in the bar) with a footprint, for its POC)."""
        S = self._S
        if not S[_HAS]:
            return None
        row = np.zeros(1, dtype=BAR_RECORD_DTYPE)
        poc = int(_poc(S, self._wb, self._wa, self._wo)) if self.footprint else _NOP
        count = len(self.forming_cells()) if self.footprint else 0
        _write_row(S, self._F, self.params.atr_period, row, 0, poc, int(S[_NCELLS]), count)
        rec: np.void = row[0]
        return rec

    def forming_open(self) -> int | None:
        """The forming bar's ``ts_open``, or None without one. O(1), nothing built."""
        S = self._S
        return int(S[_TS_OPEN]) if S[_HAS] else None

    def all_bars(self) -> np.ndarray:
        """Closed bars plus the forming one (if any), as a new array. O(bars)."""
        f = self.forming()
        closed = self.bars()
        if f is None:
            return closed.copy()
        return np.concatenate([closed, np.asarray([f], dtype=BAR_RECORD_DTYPE)])

    def cells(self) -> np.ndarray:
        """All closed bars' footprint cells (:data:`CELL_DTYPE`); a bar's are at its
        ``cell_start`` for ``cell_count``. A read-only view. O(1)."""
        view = self._cells[: int(self._S[_NCELLS])].view(CELL_DTYPE).reshape(-1)
        view.flags.writeable = False
        return view

    def bar_cells(self, i: int) -> np.ndarray:
        """Footprint cells of closed bar ``i`` (negative counts from the end). O(1) view."""
        r = self.bars()[i]
        return self.cells()[int(r["cell_start"]) : int(r["cell_start"] + r["cell_count"])]

    def forming_cells(self) -> np.ndarray:
        """Footprint cells of the forming bar (a new array). O(prices in the bar)."""
        S = self._S
        if not (self.footprint and S[_HAS]):
            return np.zeros(0, dtype=CELL_DTYPE)
        a, b = int(S[_CLO] - S[_WBASE]), int(S[_CHI] - S[_WBASE]) + 1
        out = np.zeros(b - a, dtype=CELL_DTYPE)
        out["price"] = np.arange(int(S[_CLO]), int(S[_CHI]) + 1)
        out["bid"], out["ask"], out["other"] = self._wb[a:b], self._wa[a:b], self._wo[a:b]
        kept: np.ndarray = out[(out["bid"] + out["ask"] + out["other"]) > 0]
        return kept


def _grown(arr: np.ndarray, need: int) -> np.ndarray:
    new = np.zeros((max(need, 2 * len(arr)), *arr.shape[1:]), dtype=arr.dtype)
    new[: len(arr)] = arr
    return new


class MultiBars:
    """Several bar series fed the same trades; series ``i`` is ``specs[i]`` (BarsInProgress)."""

    def __init__(
        self, specs: list[BarSpec], params: BarParams = BarParams(), footprint: bool = False
    ) -> None:
        if not specs:
            raise ParameterError("MultiBars needs at least one BarSpec")
        self.specs = list(specs)
        self.series = [BarSeries(s, params, footprint) for s in self.specs]

    def update(self, trades: np.ndarray) -> list[int]:
        """Feed trades to every series; returns the bars closed per series. O(trades x series)."""
        return [s.update(trades) for s in self.series]

    def advance(self, ts_ns: int) -> list[bool]:
        """Time has reached ``ts_ns``: close the time bars whose interval ended."""
        return [s.advance(ts_ns) for s in self.series]

    def __getitem__(self, bars_in_progress: int) -> BarSeries:
        """The series of ``specs[bars_in_progress]``."""
        return self.series[bars_in_progress]

    def __len__(self) -> int:
        return len(self.series)

    def bars(self, bars_in_progress: int = 0) -> np.ndarray:
        """Closed bars of one series (a view). O(1)."""
        return self.series[bars_in_progress].bars()

    def forming(self, bars_in_progress: int = 0) -> np.void | None:
        """The forming bar of one series, or None."""
        return self.series[bars_in_progress].forming()


def build_bars(
    trades: np.ndarray,
    spec: BarSpec,
    params: BarParams = BarParams(),
    include_forming: bool = True,
) -> np.ndarray:
    """Batch: the bars of ``trades`` (a new array), the last one still forming if asked. O(n)."""
    series = BarSeries(spec, params)
    series.update(trades)
    return series.all_bars() if include_forming else series.bars().copy()
