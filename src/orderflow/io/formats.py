"""Which market-data format a file holds (by content, not name), and one loader for all.

Formats :func:`detect_format` names:

``dbn:<schema>``        Databento DBN (zstd or plain), e.g. ``dbn:mbo``
``lobster_messages``    LOBSTER message CSV (``time,type,order_id,size,price,direction``)
``lobster_orderbook``   LOBSTER orderbook CSV (4 x levels integer columns)
``nt_dump``             NinjaTrader ``DumpMarketDepth`` (``L1;``/``L2;`` lines)
``nt_ticks``            NinjaTrader tick export (``time;price;volume``)
``nt_tick_replay``      NinjaTrader Tick Replay export (``time;last;bid;ask;volume``)
``nt_minute_bars``      NinjaTrader minute bars (``yyyyMMdd HHmmss;o;h;l;c;v``)
``nt_daily_bars``       NinjaTrader daily bars (``yyyyMMdd;o;h;l;c;v``)
``cme_bars``            CME bar CSV (``timestamp_utc,open,high,low,close,volume``, gz or plain)
``ncd_ticks``           NinjaTrader 8 database ticks (``db/tick/<instrument>/*.ncd``, binary)
``ncd_minutes``         NinjaTrader 8 database minute bars (``db/minute/<instrument>/*.ncd``)
``ntd_ticks``           NinjaTrader 7 database ticks (``*.ntd``, binary)

NinjaTrader's database files are told by their suffix (their 4-byte header word is too common
to sniff); the reader then checks the header and names the byte where a file goes wrong.
Their times are the PC's local clock: :func:`load_stream` reads them in ``America/New_York``
unless told another zone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.core.errors import ConfigError, DecodeError
from orderflow.io import cme_bars, dbn, ncd, ninjatrader
from orderflow.io.decompress import open_gzip
from orderflow.model.instruments import Instrument, find_instrument, generic_instrument

_SNIFF_BYTES = 64 * 1024
_NT_TIME = re.compile(r"^\d{8} \d{6}( \d{7})?$")
_NT_DATE = re.compile(r"^\d{8}$")
_DECIMAL = re.compile(r"^-?\d+([.,]\d+)?$")
_INT = re.compile(r"^-?\d+$")
_LOBSTER_NAME = re.compile(r"^([A-Za-z0-9.]+)_(\d{4}-\d{2}-\d{2})_")

KINDS = ("mbo", "levels", "nt_depth", "trades", "quotes", "bars", "statistics", "status")


@dataclass(frozen=True, slots=True)
class LoadedStream:
    """A file normalised into one of our streams.

    ``kind``: ``mbo`` (MBO_DTYPE), ``levels`` (LEVEL_DTYPE), ``nt_depth`` (NT_DEPTH_DTYPE),
    ``trades`` (TRADE_DTYPE), ``quotes`` (QUOTE_DTYPE), ``bars`` (BAR_DTYPE), ``statistics`` /
    ``status`` (``dbn.STAT_DTYPE`` / ``dbn.STATUS_DTYPE``). ``extra`` holds companion streams
    (an NT dump's ``trades``/``quotes``, TBBO and Tick Replay ``quotes``, DBN ``instrument_id``).
    """

    kind: str
    array: np.ndarray
    instrument: Instrument
    source_format: str
    extra: dict[str, Any] = field(default_factory=dict)


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head[:2] == b"\x1f\x8b":
        gz = open_gzip(path)
        try:
            head = gz.read(_SNIFF_BYTES)
        finally:
            gz.close()
    return head


def _first_lines(head: bytes, count: int = 5) -> list[str]:
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(head) >= _SNIFF_BYTES and lines:
        lines = lines[:-1]  # the last one may be cut
    return lines[:count]


def _nt_format(line: str) -> str | None:
    fields = line.split(";")
    if fields[0] in ("L1", "L2"):
        return "nt_dump"
    if not all(_DECIMAL.match(f) for f in fields[1:]):
        return None
    if _NT_DATE.match(fields[0]) and len(fields) == 6:
        return "nt_daily_bars"
    m = _NT_TIME.match(fields[0])
    if not m:
        return None
    if len(fields) == 3:
        return "nt_ticks"
    if len(fields) == 5:
        return "nt_tick_replay"
    if len(fields) == 6 and m.group(1) is None:
        return "nt_minute_bars"
    return None


def _csv_format(line: str) -> str | None:
    if line.lower() == cme_bars.HEADER:
        return "cme_bars"
    fields = line.split(",")
    if (
        len(fields) == 6
        and _DECIMAL.match(fields[0])
        and fields[1] in {"1", "2", "3", "4", "5", "6", "7"}
        and all(_INT.match(f) for f in fields[2:])
    ):
        return "lobster_messages"
    if len(fields) % 4 == 0 and all(_INT.match(f) for f in fields):
        return "lobster_orderbook"
    return None


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a file, from its first bytes and lines (see the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ncd":
        return "ncd_minutes" if ncd.is_ncd_minutes(path) else "ncd_ticks"
    if suffix == ".ntd":
        return "ntd_ticks"
    head = _head(path)
    if head[:4] == dbn.ZSTD_MAGIC or head[:3] == b"DBN":
        return f"dbn:{dbn.dbn_schema(path)}"
    lines = _first_lines(head)
    if not lines:
        raise DecodeError(f"{path.name}: empty file, format unknown", field="format")
    for detect in (_nt_format, _csv_format):
        found = detect(lines[0])
        if found is not None:
            return found
    raise DecodeError(
        f"{path.name}: unknown format (first line {lines[0][:80]!r}); expected DBN, LOBSTER, "
        "NinjaTrader export/dump or CME bar CSV",
        field="format",
    )


def _nt_instrument(path: Path, instrument: Instrument | None) -> Instrument:
    """NT files are named ``<instrument>.<Last|Bid|Ask>.txt`` (``ES 03-24.Last.txt``)."""
    if instrument is not None:
        return instrument
    found = find_instrument(path.name.split(".")[0])
    if found is None:
        raise ConfigError(
            f"{path.name}: cannot tell the instrument from the file name; pass instrument=",
            field="instrument",
        )
    return found


_DBN_KIND = {
    "mbo": "mbo",
    "trades": "trades",
    "tbbo": "trades",
    "mbp-1": "quotes",
    "bbo-1s": "quotes",
    "bbo-1m": "quotes",
    "mbp-10": "levels",
    "statistics": "statistics",
    "status": "status",
}


def _load_dbn(path: Path, fmt: str, instrument: Instrument | None) -> LoadedStream:
    data = dbn.read_dbn(path, instrument)
    if data.schema == "definition":
        raise DecodeError(
            f"{path.name}: a definition file is not a stream; use dbn.read_definitions",
            field="schema",
        )
    kind = "bars" if data.schema.startswith("ohlcv") else _DBN_KIND[data.schema]
    extra: dict[str, Any] = {
        "instrument_id": data.instrument_id,
        "instruments": data.instruments,
        **data.extra,
    }
    array = data.data
    if kind == "levels":
        extra["mbp10"] = array
        array = dbn.mbp10_to_levels(array)
    inst = data.instrument or dbn.instrument_of(dbn.open_dbn(path))
    return LoadedStream(kind, array, inst, fmt, extra)


def _load_lobster(path: Path, fmt: str, instrument: Instrument | None) -> LoadedStream:
    if fmt == "lobster_orderbook":
        raise DecodeError(
            f"{path.name}: a LOBSTER orderbook file is not an event stream; load its message file",
            field="format",
        )
    from orderflow.io import lobster  # written alongside; imported when used

    m = _LOBSTER_NAME.match(path.name)
    if m is None:
        raise DecodeError(
            f"{path.name}: LOBSTER file name must start with TICKER_YYYY-MM-DD_", field="file_name"
        )
    messages = lobster.read_messages(path)
    tick = lobster.exact_tick(messages)  # $0.01, or $0.005 when hidden prints need it
    inst = instrument or generic_instrument(m.group(1), str(tick / 10_000))
    day = date.fromisoformat(m.group(2))
    mbo = lobster.to_mbo(messages, day, tick=inst.tick_fixed // 100_000)  # 1e-9 -> x10000
    extra: dict[str, Any] = {"messages": messages, "raw_tick": tick}
    return LoadedStream("mbo", mbo, inst, fmt, extra)


def _load_nt_database(path: Path, fmt: str, instrument: Instrument | None, tz: str) -> LoadedStream:
    if fmt == "ncd_minutes":
        bars = ncd.read_ncd_minutes(path, instrument, tz)
        return LoadedStream("bars", bars.bars, bars.instrument, fmt, {"tick_size": bars.tick_size})
    ticks = (ncd.read_ncd_ticks if fmt == "ncd_ticks" else ncd.read_ntd_ticks)(path, instrument, tz)
    extra: dict[str, Any] = {"tick_size": ticks.tick_size}
    if len(ticks.quotes):  # .ncd: sides already set by the bid/ask rule on each tick's quote
        extra["quotes"] = ticks.quotes
        extra["aggressor_rule"] = "bid/ask rule"
    return LoadedStream("trades", ticks.trades, ticks.instrument, fmt, extra)


def load_stream(
    path: str | os.PathLike[str], instrument: Instrument | None = None, tz: str | None = None
) -> LoadedStream:
    """Load any supported file as a :class:`LoadedStream`. ``tz``: the zone of a NinjaTrader
    file's local clock; None means each format's default (UTC for exports and dumps,
    ``America/New_York`` for NinjaTrader's database files, :data:`orderflow.io.ncd.DEFAULT_TZ`)."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt in ("ncd_ticks", "ncd_minutes", "ntd_ticks"):
        return _load_nt_database(path, fmt, instrument, tz or ncd.DEFAULT_TZ)
    tz = tz or "UTC"
    if fmt.startswith("dbn:"):
        return _load_dbn(path, fmt, instrument)
    if fmt.startswith("lobster"):
        return _load_lobster(path, fmt, instrument)
    if fmt == "cme_bars":
        bars = cme_bars.read_cme_bars(path, instrument)
        return LoadedStream("bars", bars.bars, bars.instrument, fmt)
    inst = _nt_instrument(path, instrument)
    if fmt == "nt_dump":
        dump = ninjatrader.read_depth_dump(path, inst, tz=tz)
        return LoadedStream(
            "nt_depth", dump.depth, inst, fmt, {"trades": dump.trades, "quotes": dump.quotes}
        )
    if fmt == "nt_ticks":
        return LoadedStream("trades", ninjatrader.read_ticks(path, inst, tz=tz), inst, fmt)
    if fmt == "nt_tick_replay":
        replay = ninjatrader.read_tick_replay(path, inst, tz=tz)
        return LoadedStream("trades", replay.trades, inst, fmt, {"quotes": replay.quotes})
    return LoadedStream("bars", ninjatrader.read_bars(path, inst, tz=tz), inst, fmt)


__all__ = ["KINDS", "LoadedStream", "detect_format", "load_stream"]
