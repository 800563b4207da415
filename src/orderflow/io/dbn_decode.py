"""Raw DBN records to the normalised streams, one function per schema: prices to ticks of the
row's instrument (off-grid raises :class:`~orderflow.core.errors.DecodeError`), Databento's
action and side characters to :mod:`orderflow.model.enums`, MBP-10 snapshots to level deltas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from orderflow.core.errors import DecodeError
from orderflow.core.units import UNDEF_PRICE
from orderflow.io.dbn_layouts import MBP_EVENT_DTYPE, STAT_DTYPE, STATUS_DTYPE
from orderflow.model.dtypes import (
    BAR_DTYPE,
    LEVEL_DTYPE,
    MBO_DTYPE,
    NO_PRICE,
    QUOTE_DTYPE,
    TRADE_DTYPE,
)
from orderflow.model.enums import Action, Flags, LevelAction, Side
from orderflow.model.instruments import Instrument

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


def tick_per_row(ids: np.ndarray, instruments: dict[int, Instrument]) -> np.ndarray | int:
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
            t = int(tick[row]) if isinstance(tick, np.ndarray) else int(tick)
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
    if "action" in (raw.dtype.names or ()):
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
