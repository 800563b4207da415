"""The event streams every book benchmark replays, decoded once per run.

The ESH4 MBO file is decoded once with :func:`orderflow.io.dbn.read_mbo`; the price-level
delta stream and the NinjaTrader depth stream are derived from it here, so the three books are
fed the same market. Per-event benchmarks also need the columns as Python lists (indexing a
list is the cheapest thing a Python caller can do), built once here and shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.model.dtypes import LEVEL_DTYPE, NT_DEPTH_DTYPE
from orderflow.model.enums import Action, Flags, LevelAction, Side

DATA_ROOT = Path("/work/shared/data")
ESH4_MBO = DATA_ROOT / "databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
NT_LEVELS = 10

_LAST = int(Flags.LAST)
#: A boundary is a LAST record outside a snapshot (the books record depth there).
_BOUNDARY_MASK = int(Flags.LAST | Flags.SNAPSHOT)
_BOOK_ACTIONS = (int(Action.ADD), int(Action.CANCEL), int(Action.MODIFY), int(Action.CLEAR))


@dataclass(slots=True)
class Streams:
    """The decoded MBO stream and the streams derived from it (``nt`` None when unavailable)."""

    path: Path
    instrument: Any
    mbo: np.ndarray
    level: np.ndarray
    nt: np.ndarray | None
    nt_error: str | None = None
    _lists: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    @property
    def mbo_book_events(self) -> np.ndarray:
        """MBO events that change the book (add, cancel, modify, clear), LAST moved onto them."""
        return book_changing(self.mbo)

    def lists(self, name: str) -> dict[str, list[Any]]:
        """Columns of stream ``name`` ('mbo', 'mbo_book', 'level', 'nt') as Python lists, cached."""
        if name not in self._lists:
            arr = {
                "mbo": self.mbo,
                "mbo_book": self.mbo_book_events,
                "level": self.level,
                "nt": self.nt,
            }[name]
            if arr is None:
                raise LookupError(f"stream {name!r} is not available")
            cols = {f: arr[f].tolist() for f in arr.dtype.names if not f.startswith("_")}
            cols["boundary"] = [(f & _BOUNDARY_MASK) == _LAST for f in cols["flags"]]
            self._lists[name] = cols
        return self._lists[name]

    def describe(self) -> list[str]:
        """One line per stream: events and event boundaries."""
        rows = [("mbo", self.mbo), ("level", self.level), ("nt depth", self.nt)]
        out = []
        for name, arr in rows:
            if arr is None:
                out.append(f"{name:9s} not available ({self.nt_error})")
                continue
            bounds = int(np.count_nonzero(arr["flags"] & _LAST))
            out.append(f"{name:9s} {len(arr):>9,d} events {bounds:>9,d} boundaries")
        return out


def book_changing(mbo: np.ndarray) -> np.ndarray:
    """The events a per-event caller hands the L3 book: trades and fills do not change it.

    A boundary (LAST) carried by a dropped trade or fill moves onto the last kept event since
    the previous boundary, so reads at boundaries see the same books as in the full stream.
    """
    keep = np.isin(mbo["action"], _BOOK_ACTIONS)
    out = mbo[keep].copy()
    kept_index = np.flatnonzero(keep)
    last_pos = np.flatnonzero(mbo["flags"] & _LAST)
    # For each boundary, the last kept event at or before it (and after the previous boundary).
    j = np.searchsorted(kept_index, last_pos, side="right") - 1
    prev = np.concatenate(([-1], last_pos[:-1]))
    ok = (j >= 0) & (kept_index[np.maximum(j, 0)] > prev)
    out["flags"] &= np.uint8(0xFF ^ _LAST)
    out["flags"][j[ok]] |= np.uint8(_LAST)
    return out


def derive_level_deltas(mbo: np.ndarray) -> np.ndarray:
    """Price-level deltas from MBO with a plain dict pass: after each book-changing event, the
    absolute size of every level it touched (0 deletes). LAST is copied from the MBO event (a
    modify that moves price emits two rows; LAST goes on the second), and a LAST carried by a
    trade or fill moves onto the last row emitted since the previous boundary.
    """
    orders: dict[int, list[int]] = {}  # order_id -> [side, price, size]
    totals: dict[tuple[int, int], int] = {}  # (side, price) -> size
    out = np.zeros(len(mbo) + len(mbo) // 4 + 16, dtype=LEVEL_DTYPE)
    ts_event = mbo["ts_event"].tolist()
    ts_recv = mbo["ts_recv"].tolist()
    sequence = mbo["sequence"].tolist()
    cols = (mbo[f].tolist() for f in ("order_id", "price", "size", "action", "side", "flags"))
    n = 0
    since_boundary = 0  # rows emitted since the last boundary

    def emit(i: int, side: int, price: int, action: int, flags: int) -> None:
        nonlocal n
        out[n] = (
            ts_event[i],
            ts_recv[i],
            sequence[i],
            price,
            totals.get((side, price), 0),
            action,
            side,
            flags,
            0,
        )
        n += 1

    add, cancel, modify, clear = (int(a) for a in _BOOK_ACTIONS)
    for i, (oid, price, size, action, side, flags) in enumerate(zip(*cols, strict=True)):
        last = flags & _LAST
        rest = flags & ~_LAST
        start = n
        if action == add and oid not in orders and size > 0:
            orders[oid] = [side, price, size]
            totals[side, price] = totals.get((side, price), 0) + size
            emit(i, side, price, LevelAction.SET, rest)
        elif action == cancel and oid in orders:
            o = orders[oid]
            take = min(size, o[2]) if size > 0 else o[2]
            o[2] -= take
            totals[o[0], o[1]] -= take
            if o[2] == 0:
                del orders[oid]
            emit(i, o[0], o[1], LevelAction.SET, rest)
        elif action == modify and oid in orders and size > 0:
            o = orders[oid]
            old_side, old_price = o[0], o[1]
            totals[old_side, old_price] -= o[2]
            o[1], o[2] = price, size
            totals[old_side, price] = totals.get((old_side, price), 0) + size
            emit(i, old_side, old_price, LevelAction.SET, rest)
            if price != old_price:
                emit(i, old_side, price, LevelAction.SET, rest)
        elif action == clear:
            orders.clear()
            totals.clear()
            emit(i, Side.NONE, 0, LevelAction.CLEAR, rest)
        since_boundary += n - start
        if last:
            if since_boundary:
                out["flags"][n - 1] |= _LAST
            since_boundary = 0
    return out[:n].copy()


def load_streams(path: Path | None = None, nt_levels: int = NT_LEVELS) -> Streams | None:
    """Decode the MBO file once and derive the other streams; None when the data is absent."""
    path = Path(path) if path is not None else ESH4_MBO
    if not path.exists():
        return None
    from orderflow.io.dbn import read_mbo

    mbo, instrument = read_mbo(path)
    level = derive_level_deltas(mbo)
    nt, nt_error = None, None
    try:
        from orderflow.io.nt_convert import mbo_to_nt_depth
    except ImportError as exc:
        nt_error = f"orderflow.io.nt_convert not importable: {exc}"
    else:
        nt = np.asarray(mbo_to_nt_depth(mbo, levels=nt_levels))
        if nt.dtype != NT_DEPTH_DTYPE:
            nt_error = f"mbo_to_nt_depth returned dtype {nt.dtype}, not NT_DEPTH_DTYPE"
            nt = None
    return Streams(path, instrument, mbo, level, nt, nt_error)
