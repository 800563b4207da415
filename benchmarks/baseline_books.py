"""Plain pure-Python books: the baselines every book figure is a ratio against.

They do the same work as the real books on the same streams (validate, mutate, answer top and
depth reads) the way a careful Python programmer would write them without numba: dicts, a
``sortedcontainers.SortedDict`` of price levels, and for NinjaTrader's position-indexed depth
plain lists with ``insert``/``pop``, as NinjaTrader's own SampleLevel2Book does.
They are run in the same process as the real books so machine and load cancel out of ratios.
"""

from __future__ import annotations

from contextlib import suppress
from itertools import islice
from typing import Any

import numpy as np
from sortedcontainers import SortedDict

from orderflow.book.common import TopOfBook
from orderflow.model.enums import Action, Flags, LevelAction, NtOperation

_BID, _ASK = 0, 1
_ADD, _CANCEL, _MODIFY, _CLEAR = (
    int(a) for a in (Action.ADD, Action.CANCEL, Action.MODIFY, Action.CLEAR)
)
_LAST = int(Flags.LAST)
_RESET = int(Flags.RESET)


class BaselineError(ValueError):
    """An update the baseline refused (the real books raise their own typed errors)."""


def _batch_depth(book: Any, record_depth: int, flags: list[int], i: int, rec: list[Any]) -> None:
    if record_depth and flags[i] & _LAST:
        rec.append(book.depth(record_depth))


class BaselineL3Book:
    """Order-by-order book: ``order_id -> [side, price, size]`` and per side a SortedDict of
    ``price -> [total size, order count]``. add/cancel/modify O(log levels) when a level
    appears or empties, O(1) otherwise; top O(1); depth(n) O(n)."""

    def __init__(self, instrument: Any = None) -> None:
        self.instrument = instrument
        self.orders: dict[int, list[int]] = {}
        self.levels: tuple[SortedDict, SortedDict] = (SortedDict(), SortedDict())
        self.rejected = 0

    def __len__(self) -> int:
        return len(self.orders)

    def add(
        self, order_id: int, side: int, price: int, size: int, ts_event: int = 0, sequence: int = 0
    ) -> None:
        if order_id in self.orders or size <= 0 or side not in (0, 1):
            self.rejected += 1
            raise BaselineError(f"bad add {order_id}")
        self.orders[order_id] = [side, price, size]
        lv = self.levels[side].get(price)
        if lv is None:
            self.levels[side][price] = [size, 1]
        else:
            lv[0] += size
            lv[1] += 1

    def cancel(
        self, order_id: int, size: int | None = None, ts_event: int = 0, sequence: int = 0
    ) -> None:
        o = self.orders.get(order_id)
        if o is None:
            self.rejected += 1
            raise BaselineError(f"unknown order {order_id}")
        side, price, rest = o
        take = rest if size is None or size >= rest or size <= 0 else size
        levels = self.levels[side]
        lv = levels[price]
        lv[0] -= take
        if take == rest:
            del self.orders[order_id]
            lv[1] -= 1
            if lv[1] == 0:
                del levels[price]
        else:
            o[2] = rest - take

    def modify(
        self, order_id: int, price: int, size: int, ts_event: int = 0, sequence: int = 0
    ) -> None:
        o = self.orders.get(order_id)
        if o is None or size <= 0:
            self.rejected += 1
            raise BaselineError(f"bad modify {order_id}")
        side, old_price, old_size = o
        levels = self.levels[side]
        if price == old_price:
            levels[price][0] += size - old_size
            o[2] = size
            return
        lv = levels[old_price]
        lv[0] -= old_size
        lv[1] -= 1
        if lv[1] == 0:
            del levels[old_price]
        o[1], o[2] = price, size
        lv = levels.get(price)
        if lv is None:
            levels[price] = [size, 1]
        else:
            lv[0] += size
            lv[1] += 1

    def clear(self) -> None:
        self.orders.clear()
        self.levels[0].clear()
        self.levels[1].clear()

    def apply(
        self,
        action: int,
        side: int,
        price: int,
        size: int,
        order_id: int,
        flags: int = 0,
        ts_event: int = 0,
        ts_recv: int = 0,
        sequence: int = 0,
    ) -> None:
        """One MBO record (trades and fills leave the book alone)."""
        if action == _ADD:
            self.add(order_id, side, price, size, ts_event, sequence)
        elif action == _CANCEL:
            self.cancel(order_id, size)
        elif action == _MODIFY:
            self.modify(order_id, price, size)
        elif action == _CLEAR:
            self.clear()

    def apply_mbo(self, events: np.ndarray, record_depth: int = 0) -> list[Any]:
        """A batch is a Python loop over the columns (trades and fills do not change the book)."""
        cols = [events[f].tolist() for f in ("action", "order_id", "side", "price", "size")]
        ts, seq, flags = (events[f].tolist() for f in ("ts_event", "sequence", "flags"))
        rec: list[Any] = []
        add, cancel, modify = self.add, self.cancel, self.modify
        for i, (a, oid, side, price, size) in enumerate(zip(*cols, strict=True)):
            try:
                if a == _ADD:
                    add(oid, side, price, size, ts[i], seq[i])
                elif a == _CANCEL:
                    cancel(oid, size)
                elif a == _MODIFY:
                    modify(oid, price, size)
                elif a == _CLEAR:
                    self.clear()
            except BaselineError:
                pass
            _batch_depth(self, record_depth, flags, i, rec)
        return rec

    def best_bid(self) -> tuple[int, int] | None:
        bids = self.levels[0]
        if not bids:
            return None
        p, lv = bids.peekitem(-1)
        return p, lv[0]

    def best_ask(self) -> tuple[int, int] | None:
        asks = self.levels[1]
        if not asks:
            return None
        p, lv = asks.peekitem(0)
        return p, lv[0]

    def top(self) -> TopOfBook:
        bids, asks = self.levels
        bp = bs = bc = ap = as_ = ac = 0
        if bids:
            bp, (bs, bc) = bids.peekitem(-1)
        if asks:
            ap, (as_, ac) = asks.peekitem(0)
        return TopOfBook(bp if bids else None, bs, ap if asks else None, as_, bc, ac)

    def depth(self, n: int) -> dict[str, list[int]]:
        bids, asks = self.levels
        bp = list(islice(reversed(bids), n))
        ap = list(islice(asks, n))
        return {
            "bid_price": bp,
            "bid_size": [bids[p][0] for p in bp],
            "bid_count": [bids[p][1] for p in bp],
            "ask_price": ap,
            "ask_size": [asks[p][0] for p in ap],
            "ask_count": [asks[p][1] for p in ap],
        }


class BaselineLevelBook:
    """Price-level book: per side a SortedDict ``price -> size``. set O(log levels); top O(1)."""

    def __init__(self, instrument: Any = None) -> None:
        self.instrument = instrument
        self.sides: tuple[SortedDict, SortedDict] = (SortedDict(), SortedDict())

    def set(self, side: int, price: int, size: int, ts_event: int = 0, sequence: int = 0) -> None:
        if size < 0 or side not in (0, 1):
            raise BaselineError(f"bad level {side} {price} {size}")
        levels = self.sides[side]
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)

    def clear(self, side: int | None = None) -> None:
        for s in (0, 1) if side is None or side not in (0, 1) else (side,):
            self.sides[s].clear()

    def apply_deltas(self, events: np.ndarray, record_depth: int = 0) -> list[Any]:
        cols = [events[f].tolist() for f in ("action", "side", "price", "size")]
        ts, seq, flags = (events[f].tolist() for f in ("ts_event", "sequence", "flags"))
        rec: list[Any] = []
        set_ = self.set
        for i, (a, side, price, size) in enumerate(zip(*cols, strict=True)):
            try:
                if a == LevelAction.SET:
                    set_(side, price, size, ts[i], seq[i])
                else:
                    self.clear(side)
            except BaselineError:
                pass
            _batch_depth(self, record_depth, flags, i, rec)
        return rec

    def best_bid(self) -> tuple[int, int] | None:
        bids = self.sides[0]
        return bids.peekitem(-1) if bids else None

    def best_ask(self) -> tuple[int, int] | None:
        asks = self.sides[1]
        return asks.peekitem(0) if asks else None

    def top(self) -> TopOfBook:
        bids, asks = self.sides
        bp, bs = bids.peekitem(-1) if bids else (None, 0)
        ap, as_ = asks.peekitem(0) if asks else (None, 0)
        return TopOfBook(bp, bs, ap, as_)

    def depth(self, n: int) -> dict[str, list[int]]:
        bids, asks = self.sides
        bp = list(islice(reversed(bids), n))
        ap = list(islice(asks, n))
        return {
            "bid_price": bp,
            "bid_size": [bids[p] for p in bp],
            "ask_price": ap,
            "ask_size": [asks[p] for p in ap],
        }


class BaselineLadderBook:
    """NinjaTrader depth as NinjaTrader's SampleLevel2Book keeps it: per side a list of
    ``(price, volume)`` rows indexed by position; Add inserts, Update replaces, Remove pops.
    apply O(levels) (list insert/pop shift); top O(1); depth(n) O(n)."""

    def __init__(self, instrument: Any = None) -> None:
        self.instrument = instrument
        self.rows: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])

    def apply(
        self,
        side: int,
        operation: int,
        position: int,
        price: int,
        volume: int,
        ts_event: int = 0,
        sequence: int = 0,
        reset: bool = False,
    ) -> None:
        if reset:
            self.rows[0].clear()
            self.rows[1].clear()
            return
        rows = self.rows[side]
        if operation == NtOperation.ADD:
            if not 0 <= position <= len(rows):
                raise BaselineError(f"add at {position} of {len(rows)}")
            rows.insert(position, (price, volume))
        elif operation == NtOperation.UPDATE:
            if not 0 <= position < len(rows):
                raise BaselineError(f"update at {position} of {len(rows)}")
            rows[position] = (price, volume)
        else:
            if not 0 <= position < len(rows):
                raise BaselineError(f"remove at {position} of {len(rows)}")
            rows.pop(position)

    def apply_events(self, events: np.ndarray, record_depth: int = 0) -> list[Any]:
        cols = [events[f].tolist() for f in ("side", "operation", "position", "price", "size")]
        ts, seq, flags = (events[f].tolist() for f in ("ts_event", "sequence", "flags"))
        rec: list[Any] = []
        apply = self.apply
        for i, (side, op, pos, price, size) in enumerate(zip(*cols, strict=True)):
            with suppress(BaselineError):
                apply(side, op, pos, price, size, ts[i], seq[i], bool(flags[i] & _RESET))
            _batch_depth(self, record_depth, flags, i, rec)
        return rec

    def best_bid(self) -> tuple[int, int] | None:
        bids = self.rows[0]
        return bids[0] if bids else None

    def best_ask(self) -> tuple[int, int] | None:
        asks = self.rows[1]
        return asks[0] if asks else None

    def top(self) -> TopOfBook:
        bids, asks = self.rows
        bp, bs = bids[0] if bids else (None, 0)
        ap, as_ = asks[0] if asks else (None, 0)
        return TopOfBook(bp, bs, ap, as_)

    def depth(self, n: int) -> dict[str, list[int]]:
        bids, asks = self.rows[0][:n], self.rows[1][:n]
        return {
            "bid_price": [r[0] for r in bids],
            "bid_size": [r[1] for r in bids],
            "ask_price": [r[0] for r in asks],
            "ask_size": [r[1] for r in asks],
        }
