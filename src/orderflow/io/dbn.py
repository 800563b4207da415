"""Databento DBN files (``.dbn`` or ``.dbn.zst``) into normalised numpy streams.

Fixed-layout record schemas are decoded with one ``numpy.frombuffer`` over the records (no
Python object per record); the metadata header and the versioned ``definition`` records are read
by ``databento-dbn`` itself. What each schema becomes (:func:`read_dbn`):

=================  ==========================================================================
schema             ``DbnData.data`` (``extra``)
=================  ==========================================================================
mbo                :data:`MBO_DTYPE`
trades             :data:`TRADE_DTYPE`
tbbo               :data:`TRADE_DTYPE` (``extra["quotes"]``: :data:`QUOTE_DTYPE` before the trade)
mbp-1, bbo-1s/1m   :data:`QUOTE_DTYPE` (``extra["events"]``: :data:`MBP_EVENT_DTYPE`)
mbp-10             :class:`Mbp10` (events, top and ``(rows, 10)`` level arrays)
ohlcv-1s/1m/1h/1d  :data:`BAR_DTYPE`
definition         ``list[Instrument]`` (``DbnData.records``: the decoder's objects)
statistics         :data:`STAT_DTYPE`
status             :data:`STATUS_DTYPE`
=================  ==========================================================================

Every array row keeps its Databento ``instrument_id`` in ``DbnData.instrument_id`` (one file can
hold several contracts); ``DbnData.instruments`` maps ids to instruments through the metadata's
symbol mappings or a definition file. Prices become ticks of the row's instrument; an undefined
price (int64 max) becomes :data:`NO_PRICE` in quote and level arrays.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import databento_dbn as dd
import numba
import numpy as np
import zstandard

from orderflow.core.errors import DecodeError
from orderflow.core.units import UNDEF_PRICE
from orderflow.io.decompress import open_zstd, unzstd_bytes
from orderflow.model.dtypes import (
    BAR_DTYPE,
    LEVEL_DTYPE,
    MBO_DTYPE,
    NO_PRICE,
    QUOTE_DTYPE,
    TRADE_DTYPE,
)
from orderflow.model.enums import Action, Flags, LevelAction, Side
from orderflow.model.instruments import (
    Instrument,
    find_instrument,
    generic_instrument,
    instrument_from_definition,
)

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_HD = [
    ("length", "u1"),
    ("rtype", "u1"),
    ("publisher_id", "<u2"),
    ("instrument_id", "<u4"),
    ("ts_event", "<u8"),
]

#: Raw DBN MBO record (v1, v2 and v3 share this 56-byte layout).
RAW_MBO = np.dtype(
    [
        *_HD,
        ("order_id", "<u8"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("flags", "u1"),
        ("channel_id", "u1"),
        ("action", "S1"),
        ("side", "S1"),
        ("ts_recv", "<u8"),
        ("ts_in_delta", "<i4"),
        ("sequence", "<u4"),
    ]
)

_EVENT = [
    ("price", "<i8"),
    ("size", "<u4"),
    ("action", "S1"),
    ("side", "S1"),
    ("flags", "u1"),
    ("depth", "u1"),
    ("ts_recv", "<u8"),
    ("ts_in_delta", "<i4"),
    ("sequence", "<u4"),
]
#: One book level of MBP-1/MBP-10/BBO records (``BidAskPair``).
RAW_LEVEL = np.dtype(
    [
        ("bid_px", "<i8"),
        ("ask_px", "<i8"),
        ("bid_sz", "<u4"),
        ("ask_sz", "<u4"),
        ("bid_ct", "<u4"),
        ("ask_ct", "<u4"),
    ]
)
#: Raw trades record (48 bytes, all versions).
RAW_TRADE = np.dtype([*_HD, *_EVENT])
#: Raw MBP-1 / TBBO record (80 bytes, all versions).
RAW_MBP1 = np.dtype([*_HD, *_EVENT, ("levels", RAW_LEVEL, (1,))])
#: Raw MBP-10 record (368 bytes, all versions).
RAW_MBP10 = np.dtype([*_HD, *_EVENT, ("levels", RAW_LEVEL, (10,))])
#: Raw BBO-1s/1m record (80 bytes): the last trade's price/size/side plus the top level.
RAW_BBO = np.dtype(
    [
        *_HD,
        ("price", "<i8"),
        ("size", "<u4"),
        ("_reserved1", "u1"),
        ("side", "S1"),
        ("flags", "u1"),
        ("_reserved2", "u1"),
        ("ts_recv", "<u8"),
        ("_reserved3", "u1", (4,)),
        ("sequence", "<u4"),
        ("levels", RAW_LEVEL, (1,)),
    ]
)
#: Raw OHLCV record (56 bytes, all versions).
RAW_OHLCV = np.dtype(
    [*_HD, ("open", "<i8"), ("high", "<i8"), ("low", "<i8"), ("close", "<i8"), ("volume", "<u8")]
)
#: Raw status record (40 bytes, v2 and v3).
RAW_STATUS = np.dtype(
    [
        *_HD,
        ("ts_recv", "<u8"),
        ("action", "<u2"),
        ("reason", "<u2"),
        ("trading_event", "<u2"),
        ("is_trading", "S1"),
        ("is_quoting", "S1"),
        ("is_short_sell_restricted", "S1"),
        ("_reserved", "u1", (7,)),
    ]
)
_STAT_HEAD = [*_HD, ("ts_recv", "<u8"), ("ts_ref", "<u8"), ("price", "<i8")]
_STAT_TAIL = [
    ("stat_type", "<u2"),
    ("channel_id", "<u2"),
    ("update_action", "u1"),
    ("stat_flags", "u1"),
]
#: Raw statistics record, DBN v3 (80 bytes: 64-bit quantity).
RAW_STAT = np.dtype(
    [
        *_STAT_HEAD,
        ("quantity", "<i8"),
        ("sequence", "<u4"),
        ("ts_in_delta", "<i4"),
        *_STAT_TAIL,
        ("_reserved", "u1", (18,)),
    ]
)
#: Raw statistics record, DBN v1 and v2 (64 bytes: 32-bit quantity).
RAW_STAT_V1 = np.dtype(
    [
        *_STAT_HEAD,
        ("quantity", "<i4"),
        ("sequence", "<u4"),
        ("ts_in_delta", "<i4"),
        *_STAT_TAIL,
        ("_reserved", "u1", (6,)),
    ]
)

#: The event half of MBP-1/MBP-10/BBO records, normalised (price in ticks, NO_PRICE undefined).
MBP_EVENT_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("sequence", "i8"),
        ("price", "i8"),
        ("size", "i8"),
        ("action", "i1"),  # model.enums.Action (NONE for BBO)
        ("side", "i1"),  # model.enums.Side
        ("flags", "u1"),
        ("depth", "u1"),  # book level the event touched (0 for BBO)
        ("_pad", "u1", (4,)),
    ]
)
#: Statistics records. ``price`` in ticks (NO_PRICE when undefined or off the tick grid, as
#: some settlement-type statistics are); ``price_fixed`` is the raw 1e-9 value (int64 max when
#: undefined); ``quantity`` int64 max when undefined; an undefined ``ts_ref`` (uint64 max)
#: reads as -1; ``stat_type``/``update_action`` are Databento's ``StatType``/
#: ``StatUpdateAction`` codes.
STAT_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("ts_ref", "i8"),
        ("price", "i8"),
        ("price_fixed", "i8"),
        ("quantity", "i8"),
        ("sequence", "i8"),
        ("instrument_id", "u4"),
        ("ts_in_delta", "i4"),
        ("stat_type", "u2"),
        ("channel_id", "u2"),
        ("update_action", "u1"),
        ("stat_flags", "u1"),
        ("_pad", "u1", (2,)),
    ]
)
#: Trading status records. ``action``/``reason``/``trading_event`` are Databento's
#: ``StatusAction``/``StatusReason``/``TradingEvent`` codes; the three booleans are
#: 1 ('Y'), 0 ('N') or -1 ('~', not available).
STATUS_DTYPE = np.dtype(
    [
        ("ts_event", "i8"),
        ("ts_recv", "i8"),
        ("instrument_id", "u4"),
        ("action", "u2"),
        ("reason", "u2"),
        ("trading_event", "u2"),
        ("is_trading", "i1"),
        ("is_quoting", "i1"),
        ("is_short_sell_restricted", "i1"),
        ("_pad", "u1", (1,)),
    ]
)

_RAW_BY_SCHEMA: dict[str, np.dtype] = {
    "mbo": RAW_MBO,
    "trades": RAW_TRADE,
    "tbbo": RAW_MBP1,
    "mbp-1": RAW_MBP1,
    "mbp-10": RAW_MBP10,
    "bbo-1s": RAW_BBO,
    "bbo-1m": RAW_BBO,
    "ohlcv-1s": RAW_OHLCV,
    "ohlcv-1m": RAW_OHLCV,
    "ohlcv-1h": RAW_OHLCV,
    "ohlcv-1d": RAW_OHLCV,
    "ohlcv-eod": RAW_OHLCV,
    "status": RAW_STATUS,
    "statistics": RAW_STAT,
}

_ACTION_LUT = np.zeros(256, dtype=np.int8)
for _ch, _act in {
    b"A": Action.ADD,
    b"C": Action.CANCEL,
    b"M": Action.MODIFY,
    b"R": Action.CLEAR,
    b"T": Action.TRADE,
    b"F": Action.FILL,
    b"N": Action.NONE,
}.items():
    _ACTION_LUT[_ch[0]] = _act
#: 'B' (bid; buy aggressor for trades) -> BID, 'A' -> ASK, anything else -> NONE.
_SIDE_LUT = np.full(256, Side.NONE, dtype=np.int8)
_SIDE_LUT[ord("B")] = Side.BID
_SIDE_LUT[ord("A")] = Side.ASK
_BOOL_LUT = np.full(256, -1, dtype=np.int8)
_BOOL_LUT[ord("Y")] = 1
_BOOL_LUT[ord("N")] = 0
_INT32_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True, slots=True)
class DbnFile:
    """A DBN file's metadata and its raw record bytes (decompressed)."""

    metadata: Any
    body: bytes
    path: Path
    version: int = 0  # the file's own DBN version (the decoder upgrades metadata to the newest)

    @property
    def schema(self) -> str:
        return schema_name(self.metadata)

    @property
    def symbols(self) -> list[str]:
        return [str(s) for s in self.metadata.symbols]


@dataclass(frozen=True, slots=True)
class Mbp10:
    """MBP-10 records: the event, the top of book and the ten levels per side.

    Level arrays have shape ``(rows, 10)``; prices in ticks, :data:`NO_PRICE` for an empty
    level (size and count 0).
    """

    events: np.ndarray  # MBP_EVENT_DTYPE
    top: np.ndarray  # QUOTE_DTYPE (level 0)
    bid_price: np.ndarray
    bid_size: np.ndarray
    bid_count: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    ask_count: np.ndarray

    def __len__(self) -> int:
        return len(self.events)


@dataclass(frozen=True, slots=True)
class DbnData:
    """A decoded DBN file: its schema, instruments and normalised stream(s)."""

    schema: str
    version: int
    metadata: Any
    instrument: Instrument | None  # the file's only (or first) instrument
    instruments: dict[int, Instrument]  # Databento instrument_id -> instrument
    data: Any  # see the module docstring's table
    instrument_id: np.ndarray  # per row of ``data`` (uint32)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    records: list[Any] = field(default_factory=list)  # decoder objects (definition only)

    def __len__(self) -> int:
        return len(self.instrument_id)


def schema_name(metadata: Any) -> str:
    """The metadata's schema as Databento spells it (``mbp-10``, ``ohlcv-1m``)."""
    schema = metadata.schema
    return str(getattr(schema, "value", schema)).lower()


def _decode_metadata(prefix: bytes, name: str) -> tuple[Any, int]:
    """Metadata from the header bytes (``DBN``, version, length, metadata)."""
    decoder = dd.DBNDecoder()
    decoder.write(prefix)
    try:
        metadata = decoder.decode()[0]
    except Exception as exc:  # the decoder raises plain ValueError/RuntimeError
        raise DecodeError(f"{name}: bad DBN metadata: {exc}", field="metadata") from exc
    return metadata, prefix[3]


def open_dbn(path: str | Path) -> DbnFile:
    """Read (and decompress) a DBN file; the records stay raw bytes until decoded."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == ZSTD_MAGIC:
        data = unzstd_bytes(data, path.name)
    if data[:3] != b"DBN" or len(data) < 8:
        raise DecodeError(f"{path.name}: not a DBN file (no 'DBN' magic)", field="header")
    (meta_len,) = struct.unpack_from("<I", data, 4)
    header_end = 8 + meta_len
    metadata, version = _decode_metadata(data[:header_end], path.name)
    return DbnFile(metadata, data[header_end:], path, version)


def raw_records(dbn: DbnFile) -> np.ndarray:
    """The file's records as a raw structured array (the ``RAW_*`` dtype of its schema).

    Records are viewed in place with ``numpy.frombuffer``; the stride comes from the records'
    own length byte, so files written with ``ts_out`` (8 extra bytes per record) work too.
    """
    schema = dbn.schema
    base = _RAW_BY_SCHEMA.get(schema)
    if base is None:
        raise DecodeError(f"{dbn.path.name}: no fixed layout for schema {schema}", field="schema")
    return _frombuffer(dbn.body, base, schema, dbn.path.name)


def _frombuffer(body: bytes, base: np.dtype, schema: str, name: str) -> np.ndarray:
    if not body:
        return np.zeros(0, dtype=base)
    rec_len = body[0] * 4
    if schema == "statistics" and rec_len == RAW_STAT_V1.itemsize:
        base = RAW_STAT_V1
    if rec_len < base.itemsize or len(body) % rec_len:
        raise DecodeError(
            f"{name}: {schema} records of {rec_len} bytes do not match the layout "
            f"({base.itemsize} bytes) or the body length {len(body)}",
            field="length",
        )
    dtype = base
    if rec_len != base.itemsize:
        dtype = np.dtype(
            {
                "names": base.names,
                "formats": [base.fields[n][0] for n in base.names],
                "offsets": [base.fields[n][1] for n in base.names],
                "itemsize": rec_len,
            }
        )
    raw = np.frombuffer(body, dtype=dtype)
    bad = raw["length"] != body[0]
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DecodeError(
            f"{name}: record {row} has length {int(raw['length'][row]) * 4}, expected {rec_len} "
            "(mixed record types are not supported by the fast path)",
            field="length",
            row=row,
        )
    return raw


# ---------------------------------------------------------------------------------------------
# instruments


def instrument_of(dbn: DbnFile, tick_size: str = "0.25") -> Instrument:
    """The registry instrument for the file's symbol, or a generic one on ``tick_size``."""
    for sym in dbn.symbols:
        inst = find_instrument(sym)
        if inst is not None:
            return inst
    return generic_instrument(dbn.symbols[0] if dbn.symbols else "UNKNOWN", tick_size)


def _symbol_instrument(symbol: str, instrument_id: int, tick_size: str) -> Instrument:
    inst = find_instrument(symbol)
    if inst is None:
        inst = generic_instrument(symbol, tick_size)
    return inst.for_contract(symbol, instrument_id)


def instruments_of(dbn: DbnFile, tick_size: str = "0.25") -> dict[int, Instrument]:
    """Databento instrument ids to instruments, from the metadata's symbol mappings.

    Only raw-symbol -> instrument-id mappings are used (parent symbols such as ``ES.FUT`` map to
    many ids and say nothing about which is which).
    """
    out: dict[int, Instrument] = {}
    meta = dbn.metadata
    if schema_name_of(meta.stype_out) != "instrument_id":
        return out
    if schema_name_of(meta.stype_in) != "raw_symbol":
        return out
    for raw_symbol, intervals in dict(meta.mappings).items():
        for interval in intervals:
            text = str(interval["symbol"] if isinstance(interval, dict) else interval.symbol)
            if text.isdigit():
                out[int(text)] = _symbol_instrument(str(raw_symbol), int(text), tick_size)
    return out


def schema_name_of(enum_value: Any) -> str:
    return str(getattr(enum_value, "value", enum_value)).lower()


def read_definitions(path: str | Path) -> list[Instrument]:
    """A definition file as instruments (tick size, multiplier and id from each record)."""
    return [instrument_from_definition(r) for r in decode_records(path)]


def decode_records(path: str | Path) -> list[Any]:
    """Every record of a file as ``databento_dbn`` objects (v1/v2 upgraded to the newest)."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == ZSTD_MAGIC:
        data = unzstd_bytes(data, path.name)
    decoder = dd.DBNDecoder()
    decoder.write(data)
    try:
        return list(decoder.decode()[1:])
    except Exception as exc:
        raise DecodeError(f"{path.name}: cannot decode records: {exc}", field="record") from exc


def _resolve_instruments(
    dbn: DbnFile,
    ids: np.ndarray,
    instrument: Instrument | None,
    definitions: Sequence[Instrument] | str | Path | None,
) -> dict[int, Instrument]:
    """Every id in ``ids`` mapped to an instrument (explicit > definitions > mappings)."""
    mapping = instruments_of(dbn)
    if definitions is not None:
        defs = read_definitions(definitions) if isinstance(definitions, str | Path) else definitions
        mapping.update({int(d.instrument_id): d for d in defs if d.instrument_id is not None})
    unique = [int(i) for i in np.unique(ids)]
    if instrument is not None:
        if len(unique) > 1:
            raise DecodeError(
                f"{dbn.path.name}: holds {len(unique)} instruments; pass definitions, "
                "not one instrument",
                field="instrument_id",
            )
        return {i: instrument for i in unique} or {0: instrument}
    fallback = instrument_of(dbn)
    return {i: mapping.get(i, fallback) for i in unique} or dict(mapping)


def _tick_per_row(ids: np.ndarray, instruments: dict[int, Instrument]) -> np.ndarray | int:
    ticks = {i: inst.tick_fixed for i, inst in instruments.items()}
    if len(set(ticks.values())) <= 1:
        return next(iter(ticks.values()), 1)
    unique, inverse = np.unique(ids, return_inverse=True)
    return np.array([ticks[int(u)] for u in unique], dtype=np.int64)[inverse]


def _ticks(
    price: np.ndarray,
    tick: np.ndarray | int,
    field_name: str,
    name: str,
    undefined: int = NO_PRICE,
    off_grid: str = "raise",
) -> np.ndarray:
    """Fixed-point prices to ticks; int64 max -> ``undefined``; off-grid raises DecodeError."""
    price = price.astype(np.int64, copy=False)
    defined = price != UNDEF_PRICE
    off = defined & (price % tick != 0)
    if off.any():
        if off_grid != "raise":
            defined &= ~off
        else:
            row = int(np.flatnonzero(off)[0])
            t = int(tick if np.isscalar(tick) else tick[row])  # type: ignore[index]
            raise DecodeError(
                f"{name}: record {row}: {field_name} {int(price[row])} is off the tick grid {t}",
                field=field_name,
                row=row,
            )
    return np.where(defined, price // tick, undefined)


# ---------------------------------------------------------------------------------------------
# normalisation per schema


def normalise_mbo(raw: np.ndarray, tick_fixed: int | np.ndarray, name: str = "") -> np.ndarray:
    """Raw DBN MBO records to :data:`MBO_DTYPE` with prices in ticks.

    Trades and fills with an undefined price keep ``price`` 0; off-grid book prices raise.
    """
    out = np.zeros(len(raw), dtype=MBO_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    out["ts_recv"] = raw["ts_recv"].astype(np.int64)
    out["sequence"] = raw["sequence"].astype(np.int64)
    out["order_id"] = raw["order_id"]
    out["size"] = raw["size"].astype(np.int64)
    out["flags"] = raw["flags"]
    out["action"] = _ACTION_LUT[raw["action"].view(np.uint8)]
    out["side"] = _SIDE_LUT[raw["side"].view(np.uint8)]
    out["price"] = _ticks(raw["price"], tick_fixed, "price", name, undefined=0)
    return out


def normalise_trades(raw: np.ndarray, tick: int | np.ndarray, name: str = "") -> np.ndarray:
    """Trades/TBBO records to :data:`TRADE_DTYPE`; ``side`` is the aggressor ('B' -> BID)."""
    out = np.zeros(len(raw), dtype=TRADE_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    out["ts_recv"] = raw["ts_recv"].astype(np.int64)
    out["sequence"] = raw["sequence"].astype(np.int64)
    out["price"] = _ticks(raw["price"], tick, "price", name)
    out["size"] = raw["size"].astype(np.int64)
    out["side"] = _SIDE_LUT[raw["side"].view(np.uint8)]
    out["flags"] = raw["flags"]
    return out


def normalise_quotes(raw: np.ndarray, tick: int | np.ndarray, name: str = "") -> np.ndarray:
    """The top level of MBP-1/TBBO/BBO/MBP-10 records to :data:`QUOTE_DTYPE`."""
    top = raw["levels"][:, 0]
    out = np.zeros(len(raw), dtype=QUOTE_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    out["ts_recv"] = raw["ts_recv"].astype(np.int64)
    out["sequence"] = raw["sequence"].astype(np.int64)
    out["bid_price"] = _ticks(top["bid_px"], tick, "bid_px_00", name)
    out["ask_price"] = _ticks(top["ask_px"], tick, "ask_px_00", name)
    out["bid_size"] = top["bid_sz"].astype(np.int64)
    out["ask_size"] = top["ask_sz"].astype(np.int64)
    out["bid_count"] = top["bid_ct"].astype(np.int32)
    out["ask_count"] = top["ask_ct"].astype(np.int32)
    return out


def normalise_events(raw: np.ndarray, tick: int | np.ndarray, name: str = "") -> np.ndarray:
    """The event half of MBP-1/MBP-10/BBO records to :data:`MBP_EVENT_DTYPE`."""
    out = np.zeros(len(raw), dtype=MBP_EVENT_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    out["ts_recv"] = raw["ts_recv"].astype(np.int64)
    out["sequence"] = raw["sequence"].astype(np.int64)
    out["price"] = _ticks(raw["price"], tick, "price", name)
    out["size"] = raw["size"].astype(np.int64)
    if "action" in raw.dtype.names:
        out["action"] = _ACTION_LUT[raw["action"].view(np.uint8)]
        out["depth"] = raw["depth"]
    out["side"] = _SIDE_LUT[raw["side"].view(np.uint8)]
    out["flags"] = raw["flags"]
    return out


def normalise_mbp10(raw: np.ndarray, tick: int | np.ndarray, name: str = "") -> Mbp10:
    """MBP-10 records to :class:`Mbp10`."""
    lv = raw["levels"]
    tick2 = tick if np.isscalar(tick) else np.asarray(tick)[:, None]

    def px(key: str) -> np.ndarray:
        return _ticks(lv[key], tick2, key, name)  # type: ignore[arg-type]

    return Mbp10(
        events=normalise_events(raw, tick, name),
        top=normalise_quotes(raw, tick, name),
        bid_price=px("bid_px"),
        bid_size=lv["bid_sz"].astype(np.int64),
        bid_count=lv["bid_ct"].astype(np.int64),
        ask_price=px("ask_px"),
        ask_size=lv["ask_sz"].astype(np.int64),
        ask_count=lv["ask_ct"].astype(np.int64),
    )


def normalise_bars(raw: np.ndarray, tick: int | np.ndarray, name: str = "") -> np.ndarray:
    """OHLCV records to :data:`BAR_DTYPE` (Databento stamps bars at their open, as we do)."""
    out = np.zeros(len(raw), dtype=BAR_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    for key in ("open", "high", "low", "close"):
        out[key] = _ticks(raw[key], tick, key, name)
    out["volume"] = raw["volume"].astype(np.int64)
    return out


def normalise_statistics(raw: np.ndarray, tick: int | np.ndarray, name: str = "") -> np.ndarray:
    """Statistics records to :data:`STAT_DTYPE` (all fields kept, see its comment)."""
    out = np.zeros(len(raw), dtype=STAT_DTYPE)
    for key in ("ts_event", "ts_recv", "ts_ref", "sequence"):
        out[key] = raw[key].astype(np.int64)
    for key in ("instrument_id", "ts_in_delta", "stat_type", "channel_id"):
        out[key] = raw[key]
    out["update_action"] = raw["update_action"]
    out["stat_flags"] = raw["stat_flags"]
    out["price_fixed"] = raw["price"]
    out["price"] = _ticks(raw["price"], tick, "price", name, off_grid="undefined")
    qty = raw["quantity"].astype(np.int64)
    if raw.dtype["quantity"].itemsize == 4:  # v1/v2 undefined quantity is int32 max
        qty = np.where(qty == _INT32_MAX, np.iinfo(np.int64).max, qty)
    out["quantity"] = qty
    return out


def normalise_status(raw: np.ndarray) -> np.ndarray:
    """Status records to :data:`STATUS_DTYPE`."""
    out = np.zeros(len(raw), dtype=STATUS_DTYPE)
    out["ts_event"] = raw["ts_event"].astype(np.int64)
    out["ts_recv"] = raw["ts_recv"].astype(np.int64)
    for key in ("instrument_id", "action", "reason", "trading_event"):
        out[key] = raw[key]
    for key in ("is_trading", "is_quoting", "is_short_sell_restricted"):
        out[key] = _BOOL_LUT[raw[key].view(np.uint8)]
    return out


@numba.njit(cache=True)
def _mbp_diff(prices: np.ndarray, sizes: np.ndarray, fill: bool, total: int) -> tuple[Any, ...]:
    """Per row, the (row, price, size) SETs that turn the previous row's levels into this one's."""
    rows, depth = prices.shape
    out_row = np.empty(total, np.int64)
    out_price = np.empty(total, np.int64)
    out_size = np.empty(total, np.int64)
    k = 0
    for r in range(rows):
        for c in range(depth):  # levels gone from the view: size 0
            p = prices[r - 1, c] if r > 0 else NO_PRICE
            if p == NO_PRICE:
                continue
            found = False
            for d in range(depth):
                if prices[r, d] == p and sizes[r, d] > 0:
                    found = True
                    break
            if not found:
                if fill:
                    out_row[k] = r
                    out_price[k] = p
                    out_size[k] = 0
                k += 1
        for c in range(depth):  # new or resized levels
            p = prices[r, c]
            if p == NO_PRICE or sizes[r, c] <= 0:
                continue
            old = -1
            if r > 0:
                for d in range(depth):
                    if prices[r - 1, d] == p:
                        old = sizes[r - 1, d]
                        break
            if old != sizes[r, c]:
                if fill:
                    out_row[k] = r
                    out_price[k] = p
                    out_size[k] = sizes[r, c]
                k += 1
    return out_row, out_price, out_size, k


def mbp10_to_levels(mbp: Mbp10) -> np.ndarray:
    """MBP-10 snapshots as :data:`LEVEL_DTYPE` deltas of the top-10 view.

    Each record's levels are diffed against the previous record's, per side: a price that left
    the ten levels gets size 0 (it may still rest deeper: this stream is the top-10 book), a new
    or resized price its size. The last delta of each record carries ``Flags.LAST``.
    O(rows x 10 x 10).
    """
    parts = []
    for side, px, sz in (
        (Side.BID, mbp.bid_price, mbp.bid_size),
        (Side.ASK, mbp.ask_price, mbp.ask_size),
    ):
        px64 = np.ascontiguousarray(px, dtype=np.int64)
        sz64 = np.ascontiguousarray(sz, dtype=np.int64)
        *_, total = _mbp_diff(px64, sz64, False, 0)
        row, price, size, _ = _mbp_diff(px64, sz64, True, total)
        parts.append((row, np.full(len(row), int(side), np.int8), price, size))
    row = np.concatenate([p[0] for p in parts])
    order = np.argsort(row, kind="stable")  # bids before asks within a record
    out = np.zeros(len(row), dtype=LEVEL_DTYPE)
    row = row[order]
    ev = mbp.events
    out["ts_event"] = ev["ts_event"][row]
    out["ts_recv"] = ev["ts_recv"][row]
    out["sequence"] = ev["sequence"][row]
    out["side"] = np.concatenate([p[1] for p in parts])[order]
    out["price"] = np.concatenate([p[2] for p in parts])[order]
    out["size"] = np.concatenate([p[3] for p in parts])[order]
    out["action"] = int(LevelAction.SET)
    last = np.ones(len(row), dtype=bool)
    last[:-1] = row[1:] != row[:-1]
    out["flags"] = np.where(last, int(Flags.LAST), 0)
    return out


# ---------------------------------------------------------------------------------------------
# entry points


def read_mbo(
    path: str | Path, instrument: Instrument | None = None
) -> tuple[np.ndarray, Instrument]:
    """A Databento MBO file as an :data:`MBO_DTYPE` array and its instrument."""
    dbn = open_dbn(path)
    if dbn.schema != "mbo":
        raise DecodeError(f"{dbn.path.name}: schema is {dbn.schema}, not mbo", field="schema")
    inst = instrument or instrument_of(dbn)
    raw = np.frombuffer(dbn.body, dtype=RAW_MBO)
    return normalise_mbo(raw, inst.tick_fixed, dbn.path.name), inst


def read_dbn(
    path: str | Path,
    instrument: Instrument | None = None,
    definitions: Sequence[Instrument] | str | Path | None = None,
) -> DbnData:
    """Any DBN file, dispatched on its schema and normalised (see the module docstring).

    ``instrument`` forces the (single) instrument; ``definitions`` (a definition file or
    instruments) maps ids to exact specs in multi-instrument files.
    """
    dbn = open_dbn(path)
    schema, name = dbn.schema, dbn.path.name
    if schema == "definition":
        records = decode_records(path)
        insts = [instrument_from_definition(r) for r in records]
        ids = np.array([r.instrument_id for r in records], dtype=np.uint32)
        by_id = {int(i.instrument_id or 0): i for i in insts}
        first = insts[0] if insts else None
        return DbnData(schema, dbn.version, dbn.metadata, first, by_id, insts, ids, records=records)
    raw = raw_records(dbn)
    ids = raw["instrument_id"].copy()
    instruments = _resolve_instruments(dbn, ids, instrument, definitions)
    tick = _tick_per_row(ids, instruments)
    extra: dict[str, np.ndarray] = {}
    data: Any
    if schema == "mbo":
        data = normalise_mbo(raw, tick, name)
    elif schema == "trades":
        data = normalise_trades(raw, tick, name)
    elif schema == "tbbo":
        data = normalise_trades(raw, tick, name)
        extra["quotes"] = normalise_quotes(raw, tick, name)
    elif schema in ("mbp-1", "bbo-1s", "bbo-1m"):
        data = normalise_quotes(raw, tick, name)
        extra["events"] = normalise_events(raw, tick, name)
    elif schema == "mbp-10":
        data = normalise_mbp10(raw, tick, name)
    elif schema.startswith("ohlcv"):
        data = normalise_bars(raw, tick, name)
    elif schema == "statistics":
        data = normalise_statistics(raw, tick, name)
    elif schema == "status":
        data = normalise_status(raw)
    else:  # pragma: no cover - _RAW_BY_SCHEMA and this chain list the same schemas
        raise DecodeError(f"{name}: unsupported schema {schema}", field="schema")
    first = instruments[int(ids[0])] if len(ids) else next(iter(instruments.values()), None)
    if first is None:
        first = instrument or instrument_of(dbn)
    return DbnData(schema, dbn.version, dbn.metadata, first, instruments, data, ids, extra)


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def iter_mbo_chunks(
    path: str | Path,
    chunk_records: int = 1_000_000,
    instrument: Instrument | None = None,
) -> Iterator[np.ndarray]:
    """Stream an MBO file as :data:`MBO_DTYPE` chunks of at most ``chunk_records`` rows.

    The zstd frame is decompressed as a stream, so memory stays at one chunk whatever the file
    size. The instrument is the one :func:`read_mbo` would pick (or ``instrument``).
    """
    path = Path(path)
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        size = os.fstat(fh.fileno()).st_size
        stream: BinaryIO = (
            open_zstd(fh, path.name, size)  # type: ignore[assignment]
            if magic == ZSTD_MAGIC
            else fh
        )
        prefix = _read_exact(stream, 8)
        if prefix[:3] != b"DBN" or len(prefix) < 8:
            raise DecodeError(f"{path.name}: not a DBN file (no 'DBN' magic)", field="header")
        (meta_len,) = struct.unpack_from("<I", prefix, 4)
        header = prefix + _read_exact(stream, meta_len)
        metadata, version = _decode_metadata(header, path.name)
        dbn = DbnFile(metadata, b"", path, version)
        if dbn.schema != "mbo":
            raise DecodeError(f"{path.name}: schema is {dbn.schema}, not mbo", field="schema")
        tick = (instrument or instrument_of(dbn)).tick_fixed
        first = _read_exact(stream, 1)
        if not first:
            return
        rec_len = first[0] * 4
        pending = first
        row = 0
        while True:
            buf = pending + _read_exact(stream, chunk_records * rec_len - len(pending))
            pending = b""
            if not buf:
                return
            if len(buf) % rec_len:
                raise DecodeError(
                    f"{path.name}: truncated record after {row + len(buf) // rec_len} records",
                    field="length",
                )
            raw = _frombuffer(buf, RAW_MBO, "mbo", path.name)
            try:
                yield normalise_mbo(raw, tick, path.name)
            finally:
                row += len(raw)
            if len(buf) < chunk_records * rec_len:
                return


def dbn_schema(path: str | Path) -> str:
    """The schema of a DBN file, reading only its header (for format detection)."""
    path = Path(path)
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        size = os.fstat(fh.fileno()).st_size
        stream: Any = open_zstd(fh, path.name, size) if magic == ZSTD_MAGIC else fh
        try:
            prefix = _read_exact(stream, 8)
        except zstandard.ZstdError as exc:
            raise DecodeError(f"{path.name}: bad zstd stream: {exc}", field="header") from exc
        if prefix[:3] != b"DBN" or len(prefix) < 8:
            raise DecodeError(f"{path.name}: not a DBN file (no 'DBN' magic)", field="header")
        (meta_len,) = struct.unpack_from("<I", prefix, 4)
        metadata, _ = _decode_metadata(prefix + _read_exact(stream, meta_len), path.name)
    return schema_name(metadata)


__all__ = [
    "MBP_EVENT_DTYPE",
    "RAW_MBO",
    "STATUS_DTYPE",
    "STAT_DTYPE",
    "DbnData",
    "DbnFile",
    "Mbp10",
    "dbn_schema",
    "decode_records",
    "instrument_of",
    "instruments_of",
    "iter_mbo_chunks",
    "mbp10_to_levels",
    "open_dbn",
    "raw_records",
    "read_dbn",
    "read_definitions",
    "read_mbo",
]
