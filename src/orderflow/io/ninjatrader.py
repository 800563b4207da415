"""NinjaTrader 8 text exports and ``MarketReplay.DumpMarketDepth`` dumps, read and written.

Formats (``shared/docs/ninjatrader-api.md`` section 4), ``;``-separated, one record a line:

* ticks: ``yyyyMMdd HHmmss fffffff;price;volume`` or ``yyyyMMdd HHmmss;price;volume``
  (``fffffff``: seven digits of 100 ns);
* Tick Replay: ``yyyyMMdd HHmmss fffffff;last;bid;ask;volume`` (or second granularity);
* minute bars: ``yyyyMMdd HHmmss;open;high;low;close;volume``, stamped at the bar's END (NT's
  export default); :data:`BAR_DTYPE` stamps the bar's OPEN, so readers subtract the bar length;
* daily bars: ``yyyyMMdd;open;high;low;close;volume`` (``ts_event`` = that date 00:00 UTC);
* depth dumps: ``L1;<type>;<yyyyMMddHHmmss>;<fraction>;<price>;<volume>`` and
  ``L2;<type>;<yyyyMMddHHmmss>;<fraction>;<operation>;<position>;<marketmaker>;<price>;<volume>``
  where ``fraction`` is an integer count of 100 ns (not microseconds; NT does not zero-pad it).

Exports are UTC; dumps are in the NT machine's local zone (``tz``). Prices may carry a comma as
decimal separator; both are accepted. Parsing is one jitted pass over the bytes (tokenise, then
typed columns); any malformed line raises :class:`DecodeError` naming line, field and reason, and
off-grid prices raise :class:`OffTickError`. Round trips through the writers are exact (times at
NinjaTrader's 100 ns resolution; in a zone with DST the repeated autumn hour reads back as its
first occurrence, as it does in NinjaTrader).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import numba
import numpy as np

from orderflow.core.errors import DecodeError, MarketDataError, OffTickError, ParameterError
from orderflow.core.time import NS_PER_SECOND
from orderflow.core.units import format_price
from orderflow.model.dtypes import (
    BAR_DTYPE,
    NO_PRICE,
    NT_DEPTH_DTYPE,
    QUOTE_DTYPE,
    TRADE_DTYPE,
)
from orderflow.model.enums import Flags, NtMarketDataType, Side
from orderflow.model.instruments import Instrument

Source = str | os.PathLike[str] | bytes | IO[bytes] | IO[str]

NS_PER_100NS = 100
NS_PER_DAY = 86_400 * NS_PER_SECOND
MINUTE_NS = 60 * NS_PER_SECOND

# timestamp layouts understood by _parse_time
TS_COMPACT = 0  # yyyyMMddHHmmss
TS_SECONDS = 1  # yyyyMMdd HHmmss
TS_TICKS = 2  # yyyyMMdd HHmmss fffffff
TS_DATE = 3  # yyyyMMdd

_REASONS = {
    1: "empty",
    2: "not a number",
    3: "too many digits",
    4: "more than 9 decimals",
    5: "bad date/time layout",
    6: "month out of range",
    7: "day out of range",
    8: "hour, minute or second out of range",
    9: "negative value not allowed",
    10: "fraction is not 7 digits",
}


# ---------------------------------------------------------------------------------------------
# jitted tokeniser and column parsers


@numba.njit(cache=True)
def _tokenise(buf: np.ndarray, max_fields: int) -> tuple[Any, Any, Any, Any]:
    """Split ``buf`` into non-blank lines and ``;`` fields: line numbers, field counts, spans.

    A line with more than ``max_fields`` fields gets count ``max_fields + 1``.
    """
    size = buf.size
    lines = 0
    for i in range(size):
        if buf[i] == 10:
            lines += 1
    lines += 1
    line_no = np.empty(lines, np.int64)
    nf = np.empty(lines, np.int32)
    fs = np.zeros((lines, max_fields), np.int64)
    fe = np.zeros((lines, max_fields), np.int64)
    row = 0
    start = 0
    physical = 0
    while start <= size:
        end = start
        while end < size and buf[end] != 10:
            end += 1
        physical += 1
        stop = end
        while stop > start and (buf[stop - 1] == 13 or buf[stop - 1] == 32 or buf[stop - 1] == 9):
            stop -= 1
        first = start
        if (
            physical == 1
            and stop - first >= 3
            and buf[first] == 0xEF
            and buf[first + 1] == 0xBB
            and buf[first + 2] == 0xBF
        ):  # UTF-8 byte order mark
            first += 3
        if stop > first:
            k = 0
            fstart = first
            for j in range(first, stop + 1):
                if j == stop or buf[j] == 59:
                    if k < max_fields:
                        fs[row, k] = fstart
                        fe[row, k] = j
                    k += 1
                    fstart = j + 1
            nf[row] = k if k <= max_fields else max_fields + 1
            line_no[row] = physical
            row += 1
        start = end + 1
    return line_no[:row], nf[:row], fs[:row], fe[:row]


@numba.njit(cache=True)
def _parse_ints(
    buf: np.ndarray, fs: np.ndarray, fe: np.ndarray, rows: np.ndarray, col: int, signed: bool
) -> tuple[np.ndarray, int, int]:
    n = rows.size
    out = np.empty(n, np.int64)
    for k in range(n):
        s = fs[rows[k], col]
        e = fe[rows[k], col]
        neg = False
        if s < e and (buf[s] == 45 or buf[s] == 43):
            if buf[s] == 45:
                if not signed:
                    return out, k, 9
                neg = True
            s += 1
        if s >= e:
            return out, k, 1
        if e - s > 18:
            return out, k, 3
        v = 0
        for j in range(s, e):
            c = buf[j] - 48
            if c < 0 or c > 9:
                return out, k, 2
            v = v * 10 + c
        out[k] = -v if neg else v
    return out, -1, 0


@numba.njit(cache=True)
def _parse_fixed(
    buf: np.ndarray, fs: np.ndarray, fe: np.ndarray, rows: np.ndarray, col: int
) -> tuple[np.ndarray, int, int]:
    """Decimal text (``.`` or ``,`` separator) to fixed-point 1e-9 integers, exactly."""
    n = rows.size
    out = np.empty(n, np.int64)
    for k in range(n):
        s = fs[rows[k], col]
        e = fe[rows[k], col]
        neg = False
        if s < e and (buf[s] == 45 or buf[s] == 43):
            neg = buf[s] == 45
            s += 1
        if s >= e:
            return out, k, 1
        whole = 0
        frac = 0
        fdigits = 0
        digits = 0
        seen_sep = False
        for j in range(s, e):
            b = buf[j]
            if (b == 46 or b == 44) and not seen_sep:
                seen_sep = True
                continue
            c = b - 48
            if c < 0 or c > 9:
                return out, k, 2
            if seen_sep:
                if fdigits == 9:
                    if c != 0:
                        return out, k, 4
                    continue
                frac = frac * 10 + c
                fdigits += 1
            else:
                whole = whole * 10 + c
                digits += 1
                if digits > 9:
                    return out, k, 3
        if digits == 0 and fdigits == 0:
            return out, k, 2
        while fdigits < 9:
            frac *= 10
            fdigits += 1
        v = whole * 1_000_000_000 + frac
        out[k] = -v if neg else v
    return out, -1, 0


@numba.njit(cache=True)
def _days_from_civil(y: int, m: int, d: int) -> int:
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@numba.njit(cache=True)
def _digits(buf: np.ndarray, s: int, n: int) -> int:
    v = 0
    for j in range(s, s + n):
        c = buf[j] - 48
        if c < 0 or c > 9:
            return -1
        v = v * 10 + c
    return v


@numba.njit(cache=True)
def _parse_time(
    buf: np.ndarray, fs: np.ndarray, fe: np.ndarray, rows: np.ndarray, col: int, layout: int
) -> tuple[np.ndarray, int, int]:
    """Timestamps to naive nanoseconds (wall time read as UTC). ``layout``: TS_* constant;
    TS_SECONDS also accepts TS_TICKS text (both appear in tick files)."""
    n = rows.size
    out = np.empty(n, np.int64)
    month_days = np.array([31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    for k in range(n):
        s = fs[rows[k], col]
        e = fe[rows[k], col]
        length = e - s
        if length == 0:
            return out, k, 1
        hh = 0
        mi = 0
        ss = 0
        frac = 0
        if layout == TS_COMPACT:
            if length != 14:
                return out, k, 5
            hh = _digits(buf, s + 8, 2)
            mi = _digits(buf, s + 10, 2)
            ss = _digits(buf, s + 12, 2)
        elif layout == TS_DATE:
            if length != 8:
                return out, k, 5
        else:
            if length != 15 and length != 23:
                return out, k, 5
            if buf[s + 8] != 32:
                return out, k, 5
            hh = _digits(buf, s + 9, 2)
            mi = _digits(buf, s + 11, 2)
            ss = _digits(buf, s + 13, 2)
            if length == 23:
                if buf[s + 15] != 32:
                    return out, k, 5
                frac = _digits(buf, s + 16, 7)
                if frac < 0:
                    return out, k, 10
        y = _digits(buf, s, 4)
        m = _digits(buf, s + 4, 2)
        d = _digits(buf, s + 6, 2)
        if y < 0 or m < 0 or d < 0 or hh < 0 or mi < 0 or ss < 0:
            return out, k, 5
        if m < 1 or m > 12:
            return out, k, 6
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        if d < 1 or d > month_days[m - 1] or (m == 2 and d == 29 and not leap):
            return out, k, 7
        if hh > 23 or mi > 59 or ss > 59:
            return out, k, 8
        days = _days_from_civil(y, m, d)
        secs = days * 86400 + hh * 3600 + mi * 60 + ss
        out[k] = secs * 1_000_000_000 + frac * 100
    return out, -1, 0


# ---------------------------------------------------------------------------------------------
# python side of parsing


@dataclass(frozen=True, slots=True)
class _Lines:
    buf: np.ndarray
    line_no: np.ndarray
    nf: np.ndarray
    fs: np.ndarray
    fe: np.ndarray
    name: str

    def text(self, row: int, col: int) -> str:
        return bytes(self.buf[self.fs[row, col] : self.fe[row, col]]).decode("utf-8", "replace")

    def fail(
        self, row: int, field: str, reason: str, cls: type[MarketDataError] = DecodeError
    ) -> None:
        line = int(self.line_no[row])
        raise cls(
            f"{self.name}: line {line}: field {field}: {reason}",
            line=line,
            field=field,
            reason=reason,
        )

    def ints(self, rows: np.ndarray, col: int, field: str, signed: bool = False) -> np.ndarray:
        out, bad, code = _parse_ints(self.buf, self.fs, self.fe, rows, col, signed)
        if bad >= 0:
            self._bad(rows[bad], col, field, code)
        return out

    def fixed(self, rows: np.ndarray, col: int, field: str) -> np.ndarray:
        out, bad, code = _parse_fixed(self.buf, self.fs, self.fe, rows, col)
        if bad >= 0:
            self._bad(rows[bad], col, field, code)
        return out

    def times(self, rows: np.ndarray, col: int, field: str, layout: int) -> np.ndarray:
        out, bad, code = _parse_time(self.buf, self.fs, self.fe, rows, col, layout)
        if bad >= 0:
            self._bad(rows[bad], col, field, code)
        return out

    def ticks(self, rows: np.ndarray, col: int, field: str, inst: Instrument) -> np.ndarray:
        fixed = self.fixed(rows, col, field)
        tick = inst.tick_fixed
        off = fixed % tick != 0
        if off.any():
            k = int(np.flatnonzero(off)[0])
            self.fail(
                int(rows[k]),
                field,
                f"price {self.text(int(rows[k]), col)!r} is not on the tick grid {inst.tick_size}",
                OffTickError,
            )
        return fixed // tick

    def _bad(self, row: int, col: int, field: str, code: int) -> None:
        self.fail(
            int(row), field, f"{_REASONS.get(code, 'invalid')} ({self.text(int(row), col)!r})"
        )

    def require_fields(self, rows: np.ndarray, count: int, what: str) -> None:
        bad = self.nf[rows] != count
        if bad.any():
            row = int(rows[np.flatnonzero(bad)[0]])
            got = int(self.nf[row])
            self.fail(
                row,
                "line",
                f"{what} needs {count} fields, got {got if got <= self.fs.shape[1] else 'more'}",
            )


def _read_source(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "<bytes>"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return path.read_bytes(), path.name
    data = source.read()
    name = str(getattr(source, "name", "<stream>"))
    return (data.encode("utf-8") if isinstance(data, str) else data), name


def _lines(source: Source, max_fields: int) -> _Lines:
    data, name = _read_source(source)
    buf = np.frombuffer(data, dtype=np.uint8)
    line_no, nf, fs, fe = _tokenise(buf, max_fields)
    return _Lines(buf, line_no, nf, fs, fe, name)


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo | None:
    return None if tz.upper() in ("UTC", "Z", "ETC/UTC") else ZoneInfo(tz)


def local_to_utc(naive_ns: np.ndarray, tz: str = "UTC") -> np.ndarray:
    """Wall-clock nanoseconds in ``tz`` to UTC (ambiguous times take their first occurrence)."""
    from datetime import UTC, datetime

    zone = _zone(tz)
    if zone is None or len(naive_ns) == 0:
        return naive_ns
    hours, inverse = np.unique(naive_ns // (3600 * NS_PER_SECOND), return_inverse=True)
    offsets = np.empty(len(hours), dtype=np.int64)
    for i, h in enumerate(hours):
        wall = datetime.fromtimestamp(int(h) * 3600, tz=UTC).replace(tzinfo=zone, fold=0)
        off = wall.utcoffset()
        offsets[i] = int(off.total_seconds()) * NS_PER_SECOND if off is not None else 0
    return naive_ns - offsets[inverse]


def utc_to_local(ts_ns: np.ndarray, tz: str = "UTC") -> np.ndarray:
    """UTC nanoseconds to wall-clock nanoseconds in ``tz``."""
    from datetime import UTC, datetime

    zone = _zone(tz)
    if zone is None or len(ts_ns) == 0:
        return np.asarray(ts_ns, dtype=np.int64)
    hours, inverse = np.unique(ts_ns // (3600 * NS_PER_SECOND), return_inverse=True)
    offsets = np.empty(len(hours), dtype=np.int64)
    for i, h in enumerate(hours):
        off = datetime.fromtimestamp(int(h) * 3600, tz=UTC).astimezone(zone).utcoffset()
        offsets[i] = int(off.total_seconds()) * NS_PER_SECOND if off is not None else 0
    return ts_ns + offsets[inverse]


# ---------------------------------------------------------------------------------------------
# depth dumps


@dataclass(frozen=True, slots=True)
class DepthDump:
    """A ``DumpMarketDepth`` file: L2 depth events plus the L1 trades and quotes.

    ``sequence`` in every array is the record's ordinal in the file (1-based, L1 and L2 counted
    together), so the streams merge back into file order. ``quotes`` carries the other side
    forward from earlier L1 lines (NO_PRICE/0 until it is first seen). ``l1_other`` counts L1
    lines of other types (daily high/low/volume, settlement...), which are not kept.
    """

    depth: np.ndarray  # NT_DEPTH_DTYPE
    trades: np.ndarray  # TRADE_DTYPE
    quotes: np.ndarray  # QUOTE_DTYPE
    l1_other: int = 0


def read_depth_dump(
    source: Source, instrument: Instrument, tz: str = "UTC", infer_aggressor: bool = True
) -> DepthDump:
    """Read a ``MarketReplay.DumpMarketDepth`` file (see the module docstring).

    L2 lines with the same timestamp in a row form one batch; its last event carries
    ``Flags.LAST``. Trades get the aggressor side from the L1 quote in force before them when
    ``infer_aggressor`` (at/above the ask: buyer, BID; at/below the bid: seller, ASK), else NONE.
    """
    lines = _lines(source, 9)
    buf, fs, fe = lines.buf, lines.fs, lines.fe
    n = len(lines.line_no)
    s0 = fs[:, 0]
    rec_ok = (fe[:, 0] - s0 == 2) & (buf[np.minimum(s0, max(len(buf) - 1, 0))] == ord("L"))
    kind = np.where(rec_ok, buf[np.minimum(s0 + 1, max(len(buf) - 1, 0))] - ord("0"), 0)
    bad = (kind != 1) & (kind != 2)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        lines.fail(row, "record", f"must be L1 or L2, got {lines.text(row, 0)!r}")
    order = np.arange(1, n + 1, dtype=np.int64)
    l2 = np.flatnonzero(kind == 2)
    l1 = np.flatnonzero(kind == 1)
    lines.require_fields(l2, 9, "an L2 line")
    lines.require_fields(l1, 6, "an L1 line")

    def stamp(rows: np.ndarray) -> np.ndarray:
        base = lines.times(rows, 2, "time", TS_COMPACT)
        frac = lines.ints(rows, 3, "fraction")
        big = frac >= 10_000_000
        if big.any():
            lines.fail(
                int(rows[np.flatnonzero(big)[0]]),
                "fraction",
                "more than 9,999,999 (the fraction counts 100 ns)",
            )
        return local_to_utc(base + frac * NS_PER_100NS, tz)

    depth = np.zeros(len(l2), dtype=NT_DEPTH_DTYPE)
    if len(l2):
        mdt = lines.ints(l2, 1, "type")
        wrong = (mdt != NtMarketDataType.ASK) & (mdt != NtMarketDataType.BID)
        if wrong.any():
            lines.fail(
                int(l2[np.flatnonzero(wrong)[0]]), "type", "depth type must be 0 (ask) or 1 (bid)"
            )
        op = lines.ints(l2, 4, "operation")
        if (op > 2).any():
            lines.fail(
                int(l2[np.flatnonzero(op > 2)[0]]),
                "operation",
                "must be 0 (add), 1 (update) or 2 (remove)",
            )
        ts = stamp(l2)
        depth["ts_event"] = ts
        depth["ts_recv"] = ts
        depth["sequence"] = order[l2]
        depth["side"] = np.where(mdt == NtMarketDataType.ASK, Side.ASK, Side.BID)
        depth["operation"] = op
        depth["position"] = lines.ints(l2, 5, "position")
        depth["price"] = lines.ticks(l2, 7, "price", instrument)
        depth["size"] = lines.ints(l2, 8, "volume")
        last = np.ones(len(l2), dtype=bool)
        last[:-1] = ts[1:] != ts[:-1]
        depth["flags"] = np.where(last, int(Flags.LAST), 0)

    trades, quotes, other = _level1(lines, l1, order, stamp, instrument, infer_aggressor)
    return DepthDump(depth, trades, quotes, other)


def _level1(
    lines: _Lines,
    l1: np.ndarray,
    order: np.ndarray,
    stamp: Any,
    instrument: Instrument,
    infer_aggressor: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    if not len(l1):
        return np.zeros(0, TRADE_DTYPE), np.zeros(0, QUOTE_DTYPE), 0
    mdt = lines.ints(l1, 1, "type")
    keep = mdt <= NtMarketDataType.LAST
    other = int((~keep).sum())
    rows, mdt = l1[keep], mdt[keep]
    ts = stamp(rows)
    price = lines.ticks(rows, 4, "price", instrument)
    volume = lines.ints(rows, 5, "volume")
    is_bid, is_ask = mdt == NtMarketDataType.BID, mdt == NtMarketDataType.ASK
    bid_px, bid_sz = _carry(is_bid, price, volume)
    ask_px, ask_sz = _carry(is_ask, price, volume)
    q = is_bid | is_ask
    quotes = np.zeros(int(q.sum()), dtype=QUOTE_DTYPE)
    quotes["ts_event"] = quotes["ts_recv"] = ts[q]
    quotes["sequence"] = order[rows[q]]
    quotes["bid_price"], quotes["bid_size"] = bid_px[q], bid_sz[q]
    quotes["ask_price"], quotes["ask_size"] = ask_px[q], ask_sz[q]
    t = mdt == NtMarketDataType.LAST
    trades = np.zeros(int(t.sum()), dtype=TRADE_DTYPE)
    trades["ts_event"] = trades["ts_recv"] = ts[t]
    trades["sequence"] = order[rows[t]]
    trades["price"], trades["size"] = price[t], volume[t]
    trades["side"] = (
        infer_aggressor_side(price[t], bid_px[t], ask_px[t]) if infer_aggressor else Side.NONE
    )
    return trades, quotes, other


def _carry(mask: np.ndarray, price: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-fill the last ``price``/``size`` where ``mask`` held (NO_PRICE/0 before any)."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    np.maximum.accumulate(idx, out=idx)
    seen = idx >= 0
    safe = np.maximum(idx, 0)
    return np.where(seen, price[safe], NO_PRICE), np.where(seen, size[safe], 0)


def infer_aggressor_side(price: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """Aggressor by the bid/ask rule (:func:`orderflow.analytics.trades.classify_bidask`): at or
    above the ask BID (a buyer), at or below the bid ASK, in between the previous print's side
    (NONE until one is known)."""
    from orderflow.analytics.trades import classify_bidask

    return classify_bidask(price, bid, ask)


# ---------------------------------------------------------------------------------------------
# tick and bar exports


@dataclass(frozen=True, slots=True)
class TickReplay:
    """A Tick Replay export: the trades and the inside quote stored with each."""

    trades: np.ndarray  # TRADE_DTYPE, aggressor side inferred from the stored bid/ask
    quotes: np.ndarray  # QUOTE_DTYPE, sizes 0 (the format has none)


def _stamps(lines: _Lines, rows: np.ndarray, tz: str) -> np.ndarray:
    return local_to_utc(lines.times(rows, 0, "time", TS_SECONDS), tz)


def read_ticks(source: Source, instrument: Instrument, tz: str = "UTC") -> np.ndarray:
    """A NinjaTrader tick export (``time;price;volume``) as :data:`TRADE_DTYPE` (side NONE)."""
    lines = _lines(source, 3)
    rows = np.arange(len(lines.line_no))
    lines.require_fields(rows, 3, "a tick line")
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    out["ts_event"] = out["ts_recv"] = _stamps(lines, rows, tz)
    out["sequence"] = rows + 1
    out["price"] = lines.ticks(rows, 1, "price", instrument)
    out["size"] = lines.ints(rows, 2, "volume")
    out["side"] = Side.NONE
    return out


def read_tick_replay(source: Source, instrument: Instrument, tz: str = "UTC") -> TickReplay:
    """A Tick Replay export (``time;last;bid;ask;volume``): prints with side NONE (the format
    has none) and the inside quote of each; :func:`infer_aggressor_side` classifies them."""
    lines = _lines(source, 5)
    rows = np.arange(len(lines.line_no))
    lines.require_fields(rows, 5, "a tick replay line")
    ts = _stamps(lines, rows, tz)
    last = lines.ticks(rows, 1, "last", instrument)
    bid = lines.ticks(rows, 2, "bid", instrument)
    ask = lines.ticks(rows, 3, "ask", instrument)
    trades = np.zeros(len(rows), dtype=TRADE_DTYPE)
    trades["ts_event"] = trades["ts_recv"] = ts
    trades["sequence"] = rows + 1
    trades["price"] = last
    trades["size"] = lines.ints(rows, 4, "volume")
    trades["side"] = Side.NONE  # the export has no aggressor: analytics classify (bid/ask rule)
    quotes = np.zeros(len(rows), dtype=QUOTE_DTYPE)
    quotes["ts_event"] = quotes["ts_recv"] = ts
    quotes["sequence"] = rows + 1
    quotes["bid_price"], quotes["ask_price"] = bid, ask
    return TickReplay(trades, quotes)


def read_bars(
    source: Source,
    instrument: Instrument,
    tz: str = "UTC",
    bar_ns: int = MINUTE_NS,
    stamp: str = "end",
) -> np.ndarray:
    """Minute (``yyyyMMdd HHmmss;o;h;l;c;v``) or daily (``yyyyMMdd;o;h;l;c;v``) bars.

    ``ts_event`` of the result is the bar's OPEN: an end-stamped minute bar (``stamp="end"``,
    NinjaTrader's export) moves back by ``bar_ns``. Daily bars are stamped 00:00 UTC of their
    date whatever ``stamp`` says.
    """
    if stamp not in ("end", "start"):
        raise ParameterError(f"stamp must be 'end' or 'start', not {stamp!r}")
    lines = _lines(source, 6)
    rows = np.arange(len(lines.line_no))
    lines.require_fields(rows, 6, "a bar line")
    out = np.zeros(len(rows), dtype=BAR_DTYPE)
    if len(rows):
        daily = (lines.fe[0, 0] - lines.fs[0, 0]) == 8
        if daily:
            out["ts_event"] = lines.times(rows, 0, "date", TS_DATE)
        else:
            ts = local_to_utc(lines.times(rows, 0, "time", TS_SECONDS), tz)
            out["ts_event"] = ts - bar_ns if stamp == "end" else ts
    for col, key in enumerate(("open", "high", "low", "close"), start=1):
        out[key] = lines.ticks(rows, col, key, instrument)
    out["volume"] = lines.ints(rows, 5, "volume")
    return out


# ---------------------------------------------------------------------------------------------
# writers


def _price_strings(ticks: np.ndarray, instrument: Instrument, decimal: str) -> list[str]:
    uniq, inverse = np.unique(np.asarray(ticks, dtype=np.int64), return_inverse=True)
    text = [format_price(int(t), instrument.tick_size) for t in uniq]
    if decimal != ".":
        text = [t.replace(".", decimal) for t in text]
    return [text[i] for i in inverse.ravel()]


def _wall(ts_ns: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC ns to (``yyyyMMddHHmmss`` strings, 100-ns fraction ints) in ``tz``."""
    local = utc_to_local(np.asarray(ts_ns, dtype=np.int64), tz)
    secs = local // NS_PER_SECOND
    iso = np.datetime_as_string(secs.astype("datetime64[s]"), unit="s")
    compact = np.char.replace(np.char.replace(np.char.replace(iso, "-", ""), ":", ""), "T", "")
    return compact, (local - secs * NS_PER_SECOND) // NS_PER_100NS


def _write_lines(target: str | os.PathLike[str] | IO[str], lines: Iterable[str]) -> None:
    if isinstance(target, str | os.PathLike):
        with open(target, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)
    else:
        target.writelines(lines)


def write_depth_dump(
    path_or_file: str | os.PathLike[str] | IO[str],
    events: np.ndarray,
    instrument: Instrument,
    tz: str = "UTC",
    decimal: str = ".",
) -> None:
    """Write :data:`NT_DEPTH_DTYPE` events as ``DumpMarketDepth`` L2 lines (exact prices).

    Times are written in ``tz`` at 100 ns resolution; the fraction is unpadded, as NT writes it.
    """
    stamp, frac = _wall(events["ts_event"], tz)
    nt_type = np.where(events["side"] == Side.ASK, 0, 1).tolist()
    prices = _price_strings(events["price"], instrument, decimal)
    rows = zip(
        stamp.tolist(),
        frac.tolist(),
        nt_type,
        events["operation"].tolist(),
        events["position"].tolist(),
        prices,
        events["size"].tolist(),
        strict=True,
    )
    _write_lines(
        path_or_file,
        (f"L2;{t};{s};{f};{o};{p};;{px};{v}\n" for s, f, t, o, p, px, v in rows),
    )


def write_ticks(
    path_or_file: str | os.PathLike[str] | IO[str],
    trades: np.ndarray,
    instrument: Instrument,
    tz: str = "UTC",
    subsecond: bool = True,
    decimal: str = ".",
) -> None:
    """Write trades as a NinjaTrader tick export (``yyyyMMdd HHmmss[ fffffff];price;volume``)."""
    stamps = _tick_stamps(trades["ts_event"], tz, subsecond)
    prices = _price_strings(trades["price"], instrument, decimal)
    rows = zip(stamps, prices, trades["size"].tolist(), strict=True)
    _write_lines(path_or_file, (f"{s};{p};{v}\n" for s, p, v in rows))


def write_tick_replay(
    path_or_file: str | os.PathLike[str] | IO[str],
    trades: np.ndarray,
    quotes: np.ndarray,
    instrument: Instrument,
    tz: str = "UTC",
    decimal: str = ".",
) -> None:
    """Write trades with their inside quotes as a Tick Replay export."""
    stamps = _tick_stamps(trades["ts_event"], tz, True)
    last = _price_strings(trades["price"], instrument, decimal)
    bid = _price_strings(quotes["bid_price"], instrument, decimal)
    ask = _price_strings(quotes["ask_price"], instrument, decimal)
    rows = zip(stamps, last, bid, ask, trades["size"].tolist(), strict=True)
    _write_lines(path_or_file, (f"{s};{a};{b};{c};{v}\n" for s, a, b, c, v in rows))


def _tick_stamps(ts_ns: np.ndarray, tz: str, subsecond: bool) -> list[str]:
    compact, frac = _wall(ts_ns, tz)
    if subsecond:
        return [
            f"{c[:8]} {c[8:]} {f:07d}" for c, f in zip(compact.tolist(), frac.tolist(), strict=True)
        ]
    return [f"{c[:8]} {c[8:]}" for c in compact.tolist()]


def write_bars(
    path_or_file: str | os.PathLike[str] | IO[str],
    bars: np.ndarray,
    instrument: Instrument,
    tz: str = "UTC",
    bar_ns: int = MINUTE_NS,
    daily: bool = False,
    stamp: str = "end",
    decimal: str = ".",
) -> None:
    """Write :data:`BAR_DTYPE` bars as NT minute (end-stamped by default) or daily bars."""
    ts = np.asarray(bars["ts_event"], dtype=np.int64)
    if daily:
        days = np.datetime_as_string(ts.astype("datetime64[ns]").astype("datetime64[D]"))
        stamps = [d.replace("-", "") for d in days.tolist()]
    else:
        compact, _ = _wall(ts + bar_ns if stamp == "end" else ts, tz)
        stamps = [f"{c[:8]} {c[8:]}" for c in compact.tolist()]
    cols = [_price_strings(bars[k], instrument, decimal) for k in ("open", "high", "low", "close")]
    rows = zip(stamps, *cols, bars["volume"].tolist(), strict=True)
    _write_lines(path_or_file, (f"{s};{o};{h};{lo};{c};{v}\n" for s, o, h, lo, c, v in rows))


__all__ = [
    "DepthDump",
    "TickReplay",
    "infer_aggressor_side",
    "local_to_utc",
    "read_bars",
    "read_depth_dump",
    "read_tick_replay",
    "read_ticks",
    "utc_to_local",
    "write_bars",
    "write_depth_dump",
    "write_tick_replay",
    "write_ticks",
]
