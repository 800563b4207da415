"""Top-N book states -> the position-indexed depth stream NinjaTrader would send.

NinjaTrader's ``OnMarketDepth`` keeps one ladder per side, indexed by position (0 = inside):
``Add`` inserts at a position and pushes deeper rows down, ``Update`` overwrites a row in place,
``Remove`` deletes a row and pulls deeper rows up (``ninjatrader-api.md`` section 1.3).

:func:`depth_to_nt` diffs consecutive top-N states per side with a merge walk on price and
emits the fewest price-preserving operations that turn the old ladder into the new one:

1. ``Remove`` every old price that is gone (top down, at its current position), then
2. walking the new ladder top down, ``Update`` a kept price whose size changed and ``Add`` a new
   price at its final position.

Removing first means a side never holds more than N rows between two events: a price pushed
out past level N by a better one is removed *before* the insert, as a feed of depth N must.
``Update`` never changes a row's price (CME's MDP "Change" is a size change at a level), so a
replaced level is a ``Remove`` plus an ``Add``. ``Remove`` events carry the removed price and
size 0. Per boundary the bid side comes first, then the ask side; the boundary's last event
carries ``Flags.LAST``, every event the boundary's ``ts_event``; ``sequence`` counts from 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numba
import numpy as np

from orderflow.book.common import DepthRecord
from orderflow.core.errors import DecodeError, PriceOrderError
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.model.instruments import Instrument

_ADD = int(NtOperation.ADD)
_UPDATE = int(NtOperation.UPDATE)
_REMOVE = int(NtOperation.REMOVE)
_BID = int(Side.BID)
_ASK = int(Side.ASK)
_LAST = int(Flags.LAST)


@numba.njit(cache=True)
def _side_ops(
    old_p: np.ndarray,
    old_s: np.ndarray,
    n_old: int,
    new_p: np.ndarray,
    new_s: np.ndarray,
    n_new: int,
    is_bid: bool,
    keep: np.ndarray,
    fill: bool,
    k: int,
    op: np.ndarray,
    pos: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
) -> int:
    """Emit the ops for one side into the output columns from row ``k``; returns the next row.

    O(N): one merge walk for the removes, one for the updates and adds.
    """
    i = 0
    j = 0
    removed = 0
    while i < n_old:
        if j < n_new and new_p[j] == old_p[i]:
            keep[i] = True
            i += 1
            j += 1
        elif j < n_new and ((new_p[j] > old_p[i]) if is_bid else (new_p[j] < old_p[i])):
            j += 1
        else:
            keep[i] = False
            if fill:
                op[k] = _REMOVE
                pos[k] = i - removed
                price[k] = old_p[i]
                size[k] = 0
            k += 1
            removed += 1
            i += 1
    i = 0
    for j in range(n_new):
        while i < n_old and not keep[i]:
            i += 1
        if i < n_old and old_p[i] == new_p[j]:
            if old_s[i] != new_s[j]:
                if fill:
                    op[k] = _UPDATE
                    pos[k] = j
                    price[k] = new_p[j]
                    size[k] = new_s[j]
                k += 1
            i += 1
        else:
            if fill:
                op[k] = _ADD
                pos[k] = j
                price[k] = new_p[j]
                size[k] = new_s[j]
            k += 1
    return k


@numba.njit(cache=True)
def _compact(prices: np.ndarray, sizes: np.ndarray, out_p: np.ndarray, out_s: np.ndarray) -> int:
    n = 0
    for c in range(prices.size):
        if prices[c] != NO_PRICE and sizes[c] > 0:
            out_p[n] = prices[c]
            out_s[n] = sizes[c]
            n += 1
    return n


@numba.njit(cache=True)
def _convert(
    bid_p: np.ndarray,
    bid_s: np.ndarray,
    ask_p: np.ndarray,
    ask_s: np.ndarray,
    fill: bool,
    total: int,
) -> tuple[Any, Any, Any, Any, Any, Any, int]:
    rows, levels = bid_p.shape
    op = np.empty(total, np.int8)
    pos = np.empty(total, np.int32)
    price = np.empty(total, np.int64)
    size = np.empty(total, np.int64)
    side = np.empty(total, np.int8)
    boundary = np.empty(total, np.int64)
    keep = np.zeros(levels, np.bool_)
    old = np.zeros((2, 2, levels), np.int64)  # [side][price|size][level]
    cur = np.zeros((2, 2, levels), np.int64)
    n_old = np.zeros(2, np.int64)
    k = 0
    for b in range(rows):
        for s in range(2):
            if s == 0:
                n_new = _compact(bid_p[b], bid_s[b], cur[0, 0], cur[0, 1])
            else:
                n_new = _compact(ask_p[b], ask_s[b], cur[1, 0], cur[1, 1])
            start = k
            k = _side_ops(
                old[s, 0],
                old[s, 1],
                n_old[s],
                cur[s, 0],
                cur[s, 1],
                n_new,
                s == 0,
                keep,
                fill,
                k,
                op,
                pos,
                price,
                size,
            )
            if fill:
                for r in range(start, k):
                    side[r] = _BID if s == 0 else _ASK
                    boundary[r] = b
            old[s, 0, :n_new] = cur[s, 0, :n_new]
            old[s, 1, :n_new] = cur[s, 1, :n_new]
            n_old[s] = n_new
    return op, pos, price, size, side, boundary, k


def _check_order(name: str, prices: np.ndarray, sizes: np.ndarray, descending: bool) -> None:
    """Levels must be best-first, strictly monotone, with empties only after the last level."""
    present = (prices != NO_PRICE) & (sizes > 0)
    gap = present[:, 1:] & ~present[:, :-1]
    if gap.any():
        row = int(np.flatnonzero(gap.any(axis=1))[0])
        raise PriceOrderError(
            f"{name}: boundary {row} has an empty level above a full one", boundary=row
        )
    both = present[:, 1:] & present[:, :-1]
    step = np.diff(prices, axis=1)
    wrong = both & ((step >= 0) if descending else (step <= 0))
    if wrong.any():
        row = int(np.flatnonzero(wrong.any(axis=1))[0])
        raise PriceOrderError(f"{name}: boundary {row} is not sorted best first", boundary=row)


def depth_to_nt(depth: DepthRecord) -> np.ndarray:
    """Convert recorded top-N states to :data:`NT_DEPTH_DTYPE` events (module docstring).

    Complexity O(boundaries x N); jitted (ESH4's 47k boundaries x 10 levels take milliseconds).
    """
    return depth_to_nt_rows(depth)[0]


def depth_to_nt_rows(depth: DepthRecord) -> tuple[np.ndarray, np.ndarray]:
    """:func:`depth_to_nt` and, for each event, the source record that ended the exchange
    event it comes from (``depth.index`` of its boundary): where a replay of the source stream
    stands when NinjaTrader would have shown that event."""
    if len(depth) == 0:
        return np.zeros(0, dtype=NT_DEPTH_DTYPE), np.zeros(0, dtype=np.int64)
    arrays = [
        np.ascontiguousarray(np.asarray(a, dtype=np.int64))
        for a in (depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size)
    ]
    bid_p, bid_s, ask_p, ask_s = (a.reshape(len(depth), -1) for a in arrays)
    _check_order("bid", bid_p, bid_s, descending=True)
    _check_order("ask", ask_p, ask_s, descending=False)
    *_, total = _convert(bid_p, bid_s, ask_p, ask_s, False, 0)
    op, pos, price, size, side, boundary, _ = _convert(bid_p, bid_s, ask_p, ask_s, True, total)
    out = np.zeros(total, dtype=NT_DEPTH_DTYPE)
    ts = np.asarray(depth.ts_event, dtype=np.int64)[boundary]
    out["ts_event"] = ts
    out["ts_recv"] = ts
    out["sequence"] = np.arange(1, total + 1, dtype=np.int64)
    out["price"] = price
    out["size"] = size
    out["position"] = pos
    out["operation"] = op
    out["side"] = side
    last = np.ones(total, dtype=bool)
    last[:-1] = boundary[1:] != boundary[:-1]
    out["flags"] = np.where(last, _LAST, 0)
    return out, np.asarray(depth.index, dtype=np.int64)[boundary]


def _after_snapshot(events: np.ndarray, depth: DepthRecord) -> DepthRecord:
    """Drop the boundaries inside an opening snapshot (records flagged SNAPSHOT)."""
    snap = (events["flags"] & int(Flags.SNAPSHOT)) != 0
    if not (len(snap) and snap[0]):
        return depth
    end = int(np.argmin(snap)) if not snap.all() else len(snap)
    keep = np.asarray(depth.index) >= end - 1
    return DepthRecord(*(np.asarray(getattr(depth, f))[keep] for f in _DEPTH_FIELDS))


def mbo_to_nt_depth(
    mbo_events: np.ndarray, levels: int = 10, instrument: Instrument | None = None
) -> np.ndarray:
    """An :data:`MBO_DTYPE` stream as the depth events NinjaTrader would show for ``levels``.

    Rebuilds the order book (``orderflow.book.l3``), records the top ``levels`` at every event
    boundary and converts; boundaries inside the opening snapshot are skipped, so the stream
    starts with the complete book as a run of ``Add``s.
    """
    from orderflow.book.l3 import OrderBook  # written alongside; imported when used

    book = OrderBook(instrument) if instrument is not None else OrderBook()
    return _recorded_to_nt(mbo_events, book.apply_mbo(mbo_events, record_depth=levels))


def levels_to_nt_depth(
    level_events: np.ndarray, levels: int = 10, instrument: Instrument | None = None
) -> np.ndarray:
    """A :data:`LEVEL_DTYPE` stream (price-level deltas) as NinjaTrader depth events."""
    from orderflow.book.levels import LevelBook  # written alongside; imported when used

    book = LevelBook(instrument) if instrument is not None else LevelBook()
    return _recorded_to_nt(level_events, book.apply_deltas(level_events, record_depth=levels))


def _recorded_to_nt(events: np.ndarray, result: Any) -> np.ndarray:
    """The depth a batch replay recorded (after any opening snapshot) as NinjaTrader events."""
    return _recorded_to_nt_rows(events, result)[0]


def _recorded_to_nt_rows(events: np.ndarray, result: Any) -> tuple[np.ndarray, np.ndarray]:
    if result.depth is None:
        return np.zeros(0, dtype=NT_DEPTH_DTYPE), np.zeros(0, dtype=np.int64)
    return depth_to_nt_rows(_after_snapshot(events, result.depth))


def mbo_to_nt_depth_rows(
    mbo_events: np.ndarray, levels: int = 10, instrument: Instrument | None = None
) -> tuple[np.ndarray, np.ndarray, DepthRecord | None]:
    """:func:`mbo_to_nt_depth`, each event's source record (:func:`depth_to_nt_rows`) and the
    recorded top ``levels`` at every boundary (the quotes before each print come from it)."""
    from orderflow.book.l3 import OrderBook

    book = OrderBook(instrument) if instrument is not None else OrderBook()
    result = book.apply_mbo(mbo_events, record_depth=levels)
    nt, rows = _recorded_to_nt_rows(mbo_events, result)
    return nt, rows, result.depth


def convert_file(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    levels: int = 10,
    tz: str = "UTC",
    instrument: Instrument | None = None,
) -> dict[str, Any]:
    """Convert any order-by-order or price-level file to a ``DumpMarketDepth`` text file.

    Returns ``{"events", "boundaries", "levels", "source_format", "instrument", "out"}``.
    """
    from orderflow.io.formats import load_stream
    from orderflow.io.ninjatrader import write_depth_dump

    stream = load_stream(path, instrument=instrument, tz=tz)
    inst = stream.instrument
    if stream.kind == "mbo":
        events = mbo_to_nt_depth(stream.array, levels, inst)
    elif stream.kind == "levels":
        events = levels_to_nt_depth(stream.array, levels, inst)
    elif stream.kind == "nt_depth":
        events = stream.array
    else:
        raise DecodeError(
            f"{Path(path).name} holds {stream.kind}, not book data; nothing to convert",
            field="file",
        )
    write_depth_dump(out, events, inst, tz=tz)
    boundaries = int(((events["flags"] & int(Flags.LAST)) != 0).sum())
    return {
        "events": len(events),
        "boundaries": boundaries,
        "levels": levels,
        "source_format": stream.source_format,
        "instrument": inst.contract or inst.symbol,
        "out": str(out),
    }


_DEPTH_FIELDS = (
    "index",
    "ts_event",
    "bid_price",
    "bid_size",
    "bid_count",
    "ask_price",
    "ask_size",
    "ask_count",
)

__all__ = [
    "convert_file",
    "depth_to_nt",
    "depth_to_nt_rows",
    "levels_to_nt_depth",
    "mbo_to_nt_depth",
    "mbo_to_nt_depth_rows",
]
