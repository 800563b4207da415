"""A naive order-by-order book, written apart from ``orderflow.book.l3`` to check it.

Plain dicts and lists, no numpy, no code shared with the implementation: orders by id, a FIFO
list of ids per price, ``[size, count]`` per price, and a sorted price list per side (bisect)
so the top N is cheap. It also keeps an incremental digest of ALL levels: the sum, mod 2**64,
of :func:`level_hash` over every non-empty level, updated on every level change.

Operations return ``None`` when applied or the reject reason's name (``"unknown_order"``, ...)
and then change nothing.
"""

from __future__ import annotations

import bisect

M64 = (1 << 64) - 1
BID, ASK = 0, 1
SNAPSHOT, LAST = 0x20, 0x80
ADD, CANCEL, MODIFY, CLEAR, TRADE, FILL = 1, 2, 3, 4, 5, 6


def level_hash(side: int, price: int, size: int, count: int) -> int:
    """A mixing hash of one level (splitmix64 finaliser over a linear combination)."""
    x = (
        (side + 1) * 0x9E3779B97F4A7C15
        + (price & M64) * 0xBF58476D1CE4E5B9
        + size * 0x94D049BB133111EB
        + count * 0xD6E8FEB86659FD93
    ) & M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    x ^= x >> 31
    return x


class ReferenceBook:
    def __init__(self) -> None:
        self.clear()
        self.traded = 0
        self.in_snapshot = False

    def clear(self) -> None:
        self.orders: dict[int, list[int]] = {}  # id -> [side, price, size]
        self.queues: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        self.lvl: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        self.prices: tuple[list[int], list[int]] = ([], [])  # ascending
        self.digest = 0

    # ---- level bookkeeping -------------------------------------------------------------------
    def _level_change(self, side: int, price: int, dsize: int, dcount: int) -> None:
        levels = self.lvl[side]
        old = levels.get(price)
        if old is not None:
            self.digest = (self.digest - level_hash(side, price, old[0], old[1])) & M64
            size, count = old[0] + dsize, old[1] + dcount
        else:
            size, count = dsize, dcount
            bisect.insort(self.prices[side], price)
        if count == 0:
            assert size == 0
            del levels[price]
            plist = self.prices[side]
            del plist[bisect.bisect_left(plist, price)]
        else:
            levels[price] = [size, count]
            self.digest = (self.digest + level_hash(side, price, size, count)) & M64

    def _enqueue(self, oid: int, side: int, price: int, size: int) -> None:
        self.orders[oid] = [side, price, size]
        self.queues[side].setdefault(price, []).append(oid)
        self._level_change(side, price, size, 1)

    def _dequeue(self, oid: int) -> None:
        side, price, size = self.orders.pop(oid)
        q = self.queues[side][price]
        q.remove(oid)
        if not q:
            del self.queues[side][price]
        self._level_change(side, price, -size, -1)

    # ---- operations --------------------------------------------------------------------------
    def add(self, oid: int, side: int, price: int, size: int) -> str | None:
        if side not in (BID, ASK):
            return "bad_side"
        if size <= 0:
            return "invalid_size"
        if oid in self.orders:
            return "duplicate_order"
        self._enqueue(oid, side, price, size)
        return None

    def cancel(self, oid: int, size: int | None = None) -> str | None:
        if oid not in self.orders:
            return "unknown_order"
        held = self.orders[oid][2]
        if size is None:
            size = held
        if size <= 0 or size > held:
            return "invalid_size"
        if size == held:
            self._dequeue(oid)
        else:
            side, price, _ = self.orders[oid]
            self.orders[oid][2] = held - size
            self._level_change(side, price, -size, 0)
        return None

    def fill(self, oid: int, size: int) -> str | None:
        why = self.cancel(oid, size)
        if why is None:
            self.traded += size
        return why

    def modify(self, oid: int, price: int, size: int) -> str | None:
        if oid not in self.orders:
            return "unknown_order"
        if size < 0:
            return "invalid_size"
        side, old_price, old_size = self.orders[oid]
        if size == 0:
            self._dequeue(oid)
        elif price == old_price and size <= old_size:
            self.orders[oid][2] = size
            self._level_change(side, price, size - old_size, 0)
        else:
            self._dequeue(oid)
            self._enqueue(oid, side, price, size)
        return None

    def apply(self, action: int, side: int, price: int, size: int, oid: int, flags: int):
        """One Databento MBO record; returns the reject reason or None."""
        if flags & SNAPSHOT:
            if not self.in_snapshot:
                self.clear()
            self.in_snapshot = True
        else:
            self.in_snapshot = False
        if action == ADD:
            return self.add(oid, side, price, size)
        if action == CANCEL:
            return self.cancel(oid, size)
        if action == MODIFY:
            return self.modify(oid, price, size)
        if action == CLEAR:
            self.clear()
        elif action == FILL:
            if size <= 0:
                return "invalid_size"
            self.traded += size
        elif action not in (0, TRADE):
            return "bad_action"
        return None

    # ---- reads -------------------------------------------------------------------------------
    def levels(self, side: int) -> list[tuple[int, int, int]]:
        """All levels (price, size, count), best first."""
        prices = self.prices[side]
        seq = reversed(prices) if side == BID else prices
        lv = self.lvl[side]
        return [(p, lv[p][0], lv[p][1]) for p in seq]

    def top(self, side: int, n: int) -> list[tuple[int, int, int]]:
        prices = self.prices[side]
        chosen = prices[: -n - 1 : -1] if side == BID else prices[:n]
        lv = self.lvl[side]
        return [(p, lv[p][0], lv[p][1]) for p in chosen]

    def best(self, side: int) -> int | None:
        prices = self.prices[side]
        if not prices:
            return None
        return prices[-1] if side == BID else prices[0]

    def queue_position(self, oid: int) -> int:
        side, price, _ = self.orders[oid]
        total = 0
        for other in self.queues[side][price]:
            if other == oid:
                return total
            total += self.orders[other][2]
        raise AssertionError("order missing from its queue")

    def level_orders(self, side: int, price: int) -> list[int]:
        return list(self.queues[side].get(price, []))
