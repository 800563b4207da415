"""Databento DBN record layouts: the raw fixed-size records as numpy dtypes (viewed in place
over a file's bytes) and the normalised dtypes of the schemas :mod:`orderflow.model.dtypes` does
not define (MBP events, statistics, status)."""

from __future__ import annotations

import numpy as np

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

RAW_BY_SCHEMA: dict[str, np.dtype] = {
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
