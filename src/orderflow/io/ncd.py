"""NinjaTrader's own historical files: NinjaTrader 8 ``.ncd`` (ticks, minute bars) and
NinjaTrader 7 ``.ntd`` (ticks), read from the database folder without an export.

NinjaTrader does not document these formats; the layout below was learned from public readers
and is proven here record by record against text decodes of real files.

NinjaTrader 8 ``.ncd`` (``Documents\\NinjaTrader 8\\db\\tick\\<instrument>\\*.ncd`` and
``...\\db\\minute\\...``), little-endian header of 28 bytes::

    0   u32   format version, 1
    4   f64   price increment (the tick size, 0.25 for ES)
    12  f64   first price (the first tick's price, the first bar's open)
    20  i64   first time, .NET ticks (100 ns since 0001-01-01) of the PC's local clock

then variable-length records, every multi-byte field big-endian. A **tick** record starts with
two flag bytes, ``ppsssttt`` and ``vvvddddd``: ``ttt`` the time step (0, 1/2/4/8 bytes of 100 ns
ticks, or 1 byte of whole seconds), ``pp`` the price step (0, ``ddddd`` - 16, 1 byte - 128,
4 bytes - 2^31, in increments), ``sss`` the bid/ask distance from the price (bid = price or one
below, ask = one above or price, doubled or tripled by two of the bits; ``110`` one byte of
two nibbles, ``111`` two bytes), ``vvv`` the volume (1 byte, 1 byte x 100 / 500 / 1000, 2, 4 or
8 bytes). A **minute** record: ``vvvOOoTT`` and ``LLHH__CC``: ``TT`` the minutes since the last
bar (1, 1 byte, 2 bytes - 2^15, 4 bytes - 2^31), ``OO`` the open's step from the last open
(0, 1/2/4 bytes biased like the time), ``HH`` high above the open, ``LL`` low below the open,
``CC`` close above the low (0, 1, 2 or 4 bytes), ``vvv`` the volume as for ticks (``000``: 0).

NinjaTrader 7 ``.ntd`` (ticks): ``f64`` minus the increment at 0, ``u32`` record count at 12,
``f64`` first price at 16, first time (.NET ticks) at 48, ``u64`` first volume at 56, then from
byte 64 one mask byte ``_vvvpptt`` a record (``tt`` seconds 0/1/2/3 bytes, ``pp`` price step
biased as above, ``vvv`` volume: 1, 8, 1 x 100, 1 x 500, 1 x 1000, 2 or 4 bytes).

Both keep the exporting PC's **local** clock: every reader takes ``tz`` (default
``America/New_York``, where NinjaTrader's US futures users mostly sit) and returns ``ts_event``
in ns UTC. Prices come out in ticks of the instrument. The decoding loops are jitted kernels
over the file's bytes writing into preallocated arrays: no Python object per record.

A corrupt file raises one :class:`DecodeError` that names the file and the byte offset
(``details``: ``offset``, ``field``); ``orderflow`` commands print it as one line.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from orderflow.core.errors import DecodeError
from orderflow.core.units import to_fixed
from orderflow.io.ninjatrader import infer_aggressor_side, local_to_utc
from orderflow.model.dtypes import BAR_DTYPE, QUOTE_DTYPE, TRADE_DTYPE
from orderflow.model.instruments import Instrument, find_instrument

__all__ = [
    "DEFAULT_TZ",
    "NCD_HEADER",
    "NTD_HEADER",
    "NcdBars",
    "NcdTicks",
    "instrument_from_path",
    "is_ncd_minutes",
    "read_ncd",
    "read_ncd_minutes",
    "read_ncd_ticks",
    "read_ntd_ticks",
]

_log = logging.getLogger(__name__)

#: the zone of NinjaTrader's local clock when none is named
DEFAULT_TZ = "America/New_York"
NCD_HEADER = 28
NTD_HEADER = 64
_NCD_VERSION = 1
#: .NET ticks (100 ns) from 0001-01-01 to 1970-01-01
_DOTNET_EPOCH = 621_355_968_000_000_000
_TICKS_PER_SECOND = 10_000_000

MINUTE_NS = 60_000_000_000
_HOUR_NS = 3_600_000_000_000

# kernel status codes
_OK, _TRUNCATED, _BAD_TIME, _BAD_VOLUME, _BAD_SPREAD = 0, 1, 2, 3, 4
_REASON = {
    _TRUNCATED: ("record", "truncated record: the file ends inside it"),
    _BAD_TIME: ("time", "unknown time flag"),
    _BAD_VOLUME: ("volume", "unknown volume flag"),
    _BAD_SPREAD: ("bid_ask", "bid/ask distance out of range"),
}


@numba.njit(cache=True)
def _be(buf: np.ndarray, pos: int, n: int) -> int:  # pragma: no cover - jitted
    """``n`` bytes at ``pos`` as a big-endian unsigned integer (n <= 8; 8 wraps to int64)."""
    v = 0
    for k in range(n):
        v = (v << 8) | buf[pos + k]
    return v


@numba.njit(cache=True)
def _tick_kernel(  # pragma: no cover - jitted
    buf: np.ndarray,
    time0: int,
    out_time: np.ndarray,
    out_price: np.ndarray,
    out_bid: np.ndarray,
    out_ask: np.ndarray,
    out_volume: np.ndarray,
) -> tuple[int, int, int]:
    """Decode NT8 tick records from byte 28; prices in file increments (the first price is 0).
    Returns (records, status, byte offset of the failing record)."""
    end = len(buf)
    pos = 28
    n = 0
    t = time0
    p = 0
    while pos < end:
        start = pos
        if pos + 2 > end:
            return n, 1, start
        b1 = int(buf[pos])
        b2 = int(buf[pos + 1])
        pos += 2
        tf = b1 & 7
        pf = b1 >> 6
        sf = (b1 >> 3) & 7
        vf = b2 >> 5
        need = 0
        if tf == 1 or tf == 5:
            need += 1
        elif tf == 2:
            need += 2
        elif tf == 3:
            need += 4
        elif tf == 4:
            need += 8
        elif tf != 0:
            return n, 2, start
        if pf == 2:
            need += 1
        elif pf == 3:
            need += 4
        if sf == 6:
            need += 1
        elif sf == 7:
            need += 2
        if vf == 1 or vf == 2 or vf == 3 or vf == 4:
            need += 1
        elif vf == 5:
            need += 2
        elif vf == 6:
            need += 4
        elif vf == 7:
            need += 8
        else:
            return n, 3, start
        if pos + need > end:
            return n, 1, start
        if tf == 1:
            t += buf[pos]
            pos += 1
        elif tf == 2:
            t += _be(buf, pos, 2)
            pos += 2
        elif tf == 3:
            t += _be(buf, pos, 4)
            pos += 4
        elif tf == 4:
            t += _be(buf, pos, 8)
            pos += 8
        elif tf == 5:
            t += int(buf[pos]) * 10_000_000
            pos += 1
        if pf == 1:
            p += (b2 & 31) - 16
        elif pf == 2:
            p += int(buf[pos]) - 128
            pos += 1
        elif pf == 3:
            p += _be(buf, pos, 4) - 2147483648
            pos += 4
        bid_off = sf & 1
        ask_off = 1 - bid_off
        if sf == 6:
            bid_off = int(buf[pos]) >> 4
            ask_off = int(buf[pos]) & 15
            pos += 1
        elif sf == 7:
            bid_off = int(buf[pos])
            ask_off = int(buf[pos + 1])
            pos += 2
        elif sf & 2:
            bid_off *= 2
            ask_off *= 2
        elif sf & 4:
            bid_off *= 3
            ask_off *= 3
        if vf == 1:
            v = int(buf[pos])
            pos += 1
        elif vf == 2:
            v = int(buf[pos]) * 100
            pos += 1
        elif vf == 3:
            v = int(buf[pos]) * 500
            pos += 1
        elif vf == 4:
            v = int(buf[pos]) * 1000
            pos += 1
        elif vf == 5:
            v = _be(buf, pos, 2)
            pos += 2
        elif vf == 6:
            v = _be(buf, pos, 4)
            pos += 4
        else:
            v = _be(buf, pos, 8)
            pos += 8
        out_time[n] = t
        out_price[n] = p
        out_bid[n] = p - bid_off
        out_ask[n] = p + ask_off
        out_volume[n] = v
        n += 1
    return n, 0, pos


@numba.njit(cache=True)
def _biased(buf: np.ndarray, pos: int, code: int) -> tuple[int, int]:  # pragma: no cover
    """A signed step: code 1 = 1 byte - 2^7, 2 = 2 bytes - 2^15, 3 = 4 bytes - 2^31."""
    if code == 1:
        return int(buf[pos]) - 128, pos + 1
    if code == 2:
        return _be(buf, pos, 2) - 32768, pos + 2
    return _be(buf, pos, 4) - 2147483648, pos + 4


@numba.njit(cache=True)
def _unsigned(buf: np.ndarray, pos: int, code: int) -> tuple[int, int]:  # pragma: no cover
    """An unsigned step: code 0 = 0, 1 = 1 byte, 2 = 2 bytes, 3 = 4 bytes."""
    if code == 0:
        return 0, pos
    if code == 1:
        return int(buf[pos]), pos + 1
    if code == 2:
        return _be(buf, pos, 2), pos + 2
    return _be(buf, pos, 4), pos + 4


@numba.njit(cache=True)
def _minute_kernel(  # pragma: no cover - jitted
    buf: np.ndarray,
    time0: int,
    out_time: np.ndarray,
    out_ohlc: np.ndarray,
    out_volume: np.ndarray,
) -> tuple[int, int, int]:
    """Decode NT8 minute records from byte 28 (prices in file increments from the first
    open, times in .NET ticks). Returns (records, status, byte offset of the failing record)."""
    end = len(buf)
    pos = 28
    n = 0
    t = time0
    o = 0
    sizes = np.array([0, 1, 2, 4], dtype=np.int64)
    vsizes = np.array([0, 1, 1, 1, 1, 2, 4, 8], dtype=np.int64)
    while pos < end:
        start = pos
        if pos + 2 > end:
            return n, 1, start
        b1 = int(buf[pos])
        b2 = int(buf[pos + 1])
        pos += 2
        tf = b1 & 3
        of = (b1 >> 2) & 3
        vf = b1 >> 5
        hf = (b2 >> 4) & 3
        lf = b2 >> 6
        cf = b2 & 3
        need = sizes[tf] + sizes[of] + sizes[hf] + sizes[lf] + sizes[cf] + vsizes[vf]
        if pos + need > end:
            return n, 1, start
        if tf == 0:
            t += 600_000_000
        elif tf == 1:
            t += int(buf[pos]) * 600_000_000
            pos += 1
        else:
            step, pos = _biased(buf, pos, tf)
            t += step * 600_000_000
        if of != 0:
            step, pos = _biased(buf, pos, of)
            o += step
        up, pos = _unsigned(buf, pos, hf)
        down, pos = _unsigned(buf, pos, lf)
        rise, pos = _unsigned(buf, pos, cf)
        if vf == 0:
            v = 0
        elif vf == 1:
            v = int(buf[pos])
        elif vf == 2:
            v = int(buf[pos]) * 100
        elif vf == 3:
            v = int(buf[pos]) * 500
        elif vf == 4:
            v = int(buf[pos]) * 1000
        else:
            v = _be(buf, pos, vsizes[vf])
        pos += vsizes[vf]
        out_time[n] = t
        out_ohlc[n, 0] = o
        out_ohlc[n, 1] = o + up
        out_ohlc[n, 2] = o - down
        out_ohlc[n, 3] = o - down + rise
        out_volume[n] = v
        n += 1
    return n, 0, pos


@numba.njit(cache=True)
def _ntd_kernel(  # pragma: no cover - jitted
    buf: np.ndarray,
    count: int,
    out_time: np.ndarray,
    out_price: np.ndarray,
    out_volume: np.ndarray,
) -> tuple[int, int, int]:
    """Decode NT7 tick records 1.. from byte 64 into slots 1..count-1 (slot 0, the header's
    tick, is the caller's); times in seconds from the first, prices in increments from it."""
    end = len(buf)
    pos = 64
    t = 0
    p = 0
    vsizes = np.array([0, 1, 8, 1, 1, 1, 2, 4], dtype=np.int64)
    for n in range(1, count):
        start = pos
        if pos + 1 > end:
            return n, 1, start
        mask = int(buf[pos])
        pos += 1
        tf = mask & 3
        pf = (mask >> 2) & 3
        vf = (mask >> 4) & 7
        if vf == 0:
            return n, 3, start
        psize = 0 if pf == 0 else (1 if pf == 1 else (2 if pf == 2 else 4))
        if pos + tf + psize + vsizes[vf] > end:
            return n, 1, start
        if tf != 0:
            t += _be(buf, pos, tf)
            pos += tf
        if pf != 0:
            step, pos = _biased(buf, pos, pf)
            p += step
        v = _be(buf, pos, vsizes[vf])
        pos += vsizes[vf]
        if vf == 3:
            v *= 100
        elif vf == 4:
            v *= 500
        elif vf == 5:
            v *= 1000
        out_time[n] = t
        out_price[n] = p
        out_volume[n] = v
    return count, 0, pos


# ---------------------------------------------------------------------------------------------
# the Python side: headers, errors, instruments, the house's arrays


@dataclass(frozen=True, slots=True)
class NcdTicks:
    """NinjaTrader ticks: prints (:data:`TRADE_DTYPE`, aggressor side by the bid/ask rule on
    each tick's own bid and ask) and the inside quote stored with each (:data:`QUOTE_DTYPE`,
    sizes 0: the file has none; empty for ``.ntd``, which stores no quotes)."""

    trades: np.ndarray
    quotes: np.ndarray
    instrument: Instrument
    tick_size: str  # the file's price increment


@dataclass(frozen=True, slots=True)
class NcdBars:
    """NinjaTrader minute bars as :data:`BAR_DTYPE` (``ts_event`` the bar's open, UTC)."""

    bars: np.ndarray
    instrument: Instrument
    tick_size: str


def _fail(path: Path, offset: int, field: str, what: str) -> DecodeError:
    return DecodeError(
        f"{path.name}: byte {offset:,}: {what}", file=str(path), offset=offset, field=field
    )


def _read(path: Path, header: int, data: bytes | None) -> np.ndarray:
    raw = path.read_bytes() if data is None else data
    if len(raw) < header:
        raise _fail(
            path, len(raw), "header", f"truncated header: {len(raw)} bytes, a header is {header}"
        )
    return np.frombuffer(raw, dtype=np.uint8)


def _increment(path: Path, value: float, offset: int) -> str:
    if not (math.isfinite(value) and 0 < value < 1e6):
        raise _fail(path, offset, "increment", f"price increment {value!r} is not a tick size")
    return repr(value)


def _ncd_header(path: Path, buf: np.ndarray) -> tuple[str, float, int]:
    version, inc, first, time0 = struct.unpack_from("<Idd q", buf[:NCD_HEADER].tobytes())
    if version != _NCD_VERSION:
        raise _fail(path, 0, "magic", f"not a NinjaTrader .ncd file: version {version}, expected 1")
    tick = _increment(path, inc, 4)
    if not math.isfinite(first):
        raise _fail(path, 12, "price", f"first price {first!r} is not finite")
    return tick, first, time0


def _check_time(path: Path, time0: int, offset: int) -> None:
    if not 0 < time0 < 3_155_378_975_999_999_999:  # DateTime.MaxValue.Ticks
        raise _fail(path, offset, "time", f"first time {time0} is not a .NET DateTime")


def _raise_kernel(path: Path, status: int, offset: int, records: int) -> None:
    if status != _OK:
        field, what = _REASON[status]
        raise _fail(path, offset, field, f"record {records + 1}: {what}")


_ROOT = re.compile(r"^([A-Z0-9]{1,5}?)(?=\d{8}|[A-Z][a-z]|[ _.-]|$)")


def instrument_from_path(path: str | os.PathLike[str]) -> Instrument | None:
    """The instrument a NinjaTrader database file names: its folder (NinjaTrader keeps
    ``db\\tick\\ES 09-20\\20200623.Last.ncd``), else its name's leading root (``ES...``,
    ``NQMinutes``), looked up in the registry; None when neither is known."""
    p = Path(path)
    found = find_instrument(p.parent.name) if p.parent.name else None
    if found is not None:
        return found
    m = _ROOT.match(p.name)
    return find_instrument(m.group(1)) if m else None


def _instrument(path: Path, instrument: Instrument | None) -> Instrument:
    inst = instrument or instrument_from_path(path)
    if inst is None:
        raise DecodeError(
            f"{path.name}: cannot tell the instrument from the file's name or folder; "
            "pass it (--instrument ES)",
            file=str(path),
            field="instrument",
        )
    return inst


def _to_ticks(
    path: Path, steps: np.ndarray, first: float, tick: str, inst: Instrument
) -> np.ndarray:
    """Prices in file increments from the first price -> ticks of the instrument, exactly.
    The first price is rounded to the increment grid (NinjaTrader stores it as a double)."""
    inc_fixed = to_fixed(tick)
    base = round(first / float(tick))
    t = inst.tick_fixed
    if inc_fixed == t:  # the usual case: the file's increment is the instrument's tick
        return steps + base
    fixed = (steps + base) * inc_fixed
    if inc_fixed % t == 0:
        return fixed // t
    off = np.flatnonzero(fixed % t)
    if len(off):
        raise DecodeError(
            f"{path.name}: the file's increment {tick} puts prices off the tick "
            f"{inst.tick_size} of {inst.symbol} (record {int(off[0]) + 1}); pass the instrument",
            file=str(path),
            field="instrument",
        )
    return fixed // t


def _check_tick_size(path: Path, tick: str, inst: Instrument, given: bool) -> None:
    """Warn when the file's increment is not the instrument's tick (a wrong name or folder)."""
    if to_fixed(tick) != inst.tick_fixed:
        _log.warning(
            "%s: the file's price increment %s is not the tick %s of %s%s",
            path.name,
            tick,
            inst.tick_size,
            inst.symbol,
            "" if given else " (taken from the file name: pass --instrument)",
        )


def _utc(dotnet_ticks: np.ndarray, tz: str) -> np.ndarray:
    """.NET ticks of the local clock in ``tz`` -> ns UTC. The zone's offset is looked up once
    per run of records in the same hour (a file's records run in time order)."""
    naive = (dotnet_ticks - _DOTNET_EPOCH) * 100
    if len(naive) < 2:
        return local_to_utc(naive, tz)
    hours = naive // _HOUR_NS
    starts = np.concatenate(([0], np.flatnonzero(hours[1:] != hours[:-1]) + 1))
    wall = hours[starts] * _HOUR_NS
    offsets = wall - local_to_utc(wall, tz)
    naive -= np.repeat(offsets, np.diff(np.append(starts, len(naive))))
    return naive


def is_ncd_minutes(path: str | os.PathLike[str]) -> bool:
    """Whether an ``.ncd`` file holds minute bars rather than ticks: NinjaTrader keeps them in
    ``db\\minute\\...`` (ticks in ``db\\tick\\...``); outside that tree, a name that says
    ``minute`` (``NQMinutes.Last.ncd``)."""
    p = Path(path)
    parts = [x.lower() for x in p.parts[-3:-1]]
    if "minute" in parts:
        return True
    if "tick" in parts:
        return False
    return "minute" in p.name.lower()


def read_ncd_ticks(
    path: str | os.PathLike[str],
    instrument: Instrument | None = None,
    tz: str = DEFAULT_TZ,
    data: bytes | None = None,
) -> NcdTicks:
    """A NinjaTrader 8 tick ``.ncd``: prints and their quotes in ticks of the instrument
    (named by the file's folder or name unless given), ``ts_event`` in ns UTC from the
    file's local clock in ``tz``. ``data``: the file's bytes when already in memory (``path``
    then only names it)."""
    p = Path(path)
    buf = _read(p, NCD_HEADER, data)
    tick, first, time0 = _ncd_header(p, buf)
    _check_time(p, time0, 20)
    inst = _instrument(p, instrument)
    _check_tick_size(p, tick, inst, instrument is not None)
    # the kernel writes straight into the result's columns (np.zeros leaves the pages of the
    # unused tail untouched: the bound of 2 bytes a record costs address space, not memory)
    cap = (len(buf) - NCD_HEADER) // 2
    trades = np.zeros(cap, dtype=TRADE_DTYPE)
    quotes = np.zeros(cap, dtype=QUOTE_DTYPE)
    n, status, offset = _tick_kernel(
        buf, time0, trades["ts_event"], trades["price"], quotes["bid_price"],
        quotes["ask_price"], trades["size"],
    )  # fmt: skip
    _raise_kernel(p, status, offset, n)
    trades, quotes = trades[:n], quotes[:n]
    ts = _utc(trades["ts_event"], tz)
    for col in (trades["price"], quotes["bid_price"], quotes["ask_price"]):
        col[:] = _to_ticks(p, col, first, tick, inst)
    trades["ts_event"] = trades["ts_recv"] = ts
    trades["sequence"] = np.arange(1, n + 1)
    trades["side"] = infer_aggressor_side(trades["price"], quotes["bid_price"], quotes["ask_price"])
    quotes["ts_event"] = quotes["ts_recv"] = ts
    quotes["sequence"] = trades["sequence"]
    return NcdTicks(trades, quotes, inst, tick)


def read_ncd_minutes(
    path: str | os.PathLike[str],
    instrument: Instrument | None = None,
    tz: str = DEFAULT_TZ,
    data: bytes | None = None,
) -> NcdBars:
    """A NinjaTrader 8 minute ``.ncd`` as :data:`BAR_DTYPE`. NinjaTrader stamps a bar at its
    close (the day's first bar is 00:01); ``ts_event`` is the bar's open, in ns UTC."""
    p = Path(path)
    buf = _read(p, NCD_HEADER, data)
    tick, first, time0 = _ncd_header(p, buf)
    _check_time(p, time0, 20)
    inst = _instrument(p, instrument)
    _check_tick_size(p, tick, inst, instrument is not None)
    cap = (len(buf) - NCD_HEADER) // 2
    t = np.empty(cap, np.int64)
    ohlc = np.empty((cap, 4), np.int64)
    vol = np.empty(cap, np.int64)
    n, status, offset = _minute_kernel(buf, time0, t, ohlc, vol)
    _raise_kernel(p, status, offset, n)
    bars = np.zeros(n, dtype=BAR_DTYPE)
    bars["ts_event"] = _utc(t[:n], tz) - MINUTE_NS
    ticks = _to_ticks(p, ohlc[:n].ravel(), first, tick, inst).reshape(n, 4)
    for c, key in enumerate(("open", "high", "low", "close")):
        bars[key] = ticks[:, c]
    bars["volume"] = vol[:n]
    return NcdBars(bars, inst, tick)


def read_ncd(
    path: str | os.PathLike[str], instrument: Instrument | None = None, tz: str = DEFAULT_TZ
) -> NcdTicks | NcdBars:
    """Either kind of ``.ncd`` (:func:`is_ncd_minutes` tells which)."""
    if is_ncd_minutes(path):
        return read_ncd_minutes(path, instrument, tz)
    return read_ncd_ticks(path, instrument, tz)


def read_ntd_ticks(
    path: str | os.PathLike[str],
    instrument: Instrument | None = None,
    tz: str = DEFAULT_TZ,
    data: bytes | None = None,
) -> NcdTicks:
    """A NinjaTrader 7 tick ``.ntd``: prints (side NONE: the format stores no bid or ask;
    analytics classify them by the tick rule) and no quotes."""
    p = Path(path)
    buf = _read(p, NTD_HEADER, data)
    raw = buf[:NTD_HEADER].tobytes()
    (neg_inc,) = struct.unpack_from("<d", raw, 0)
    (count,) = struct.unpack_from("<I", raw, 12)
    (first,) = struct.unpack_from("<d", raw, 16)
    (time0,) = struct.unpack_from("<q", raw, 48)
    (vol0,) = struct.unpack_from("<Q", raw, 56)
    if not (math.isfinite(neg_inc) and neg_inc < 0):
        raise _fail(p, 0, "magic", f"not a NinjaTrader .ntd file: increment field {neg_inc!r}")
    tick = _increment(p, -neg_inc, 0)
    if not math.isfinite(first):
        raise _fail(p, 16, "price", f"first price {first!r} is not finite")
    _check_time(p, time0, 48)
    if count > len(buf) - NTD_HEADER + 1:
        raise _fail(
            p, 12, "count", f"record count {count:,} exceeds what {len(buf):,} bytes can hold"
        )
    inst = _instrument(p, instrument)
    _check_tick_size(p, tick, inst, instrument is not None)
    t = np.zeros(count, np.int64)
    px = np.zeros(count, np.int64)
    vol = np.zeros(count, np.int64)
    if count:
        vol[0] = vol0
    n, status, offset = _ntd_kernel(buf, count, t, px, vol)
    _raise_kernel(p, status, offset, n)
    trades = np.zeros(count, dtype=TRADE_DTYPE)
    ts = _utc(time0 + t * _TICKS_PER_SECOND, tz)
    trades["ts_event"] = trades["ts_recv"] = ts
    trades["sequence"] = np.arange(1, count + 1)
    trades["price"] = _to_ticks(p, px, first, tick, inst)
    trades["size"] = vol
    trades["side"] = 2  # Side.NONE
    return NcdTicks(trades, np.zeros(0, dtype=QUOTE_DTYPE), inst, tick)
