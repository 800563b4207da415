"""Naive reference models of the two L2 books: plain dicts and lists, no numpy, no cleverness.

Written from the specification (ninjatrader-api.md §1.3 and the book docstrings), not from the
jitted code, so the property tests compare two independent readings of the same rules.
Each ``apply``/``set`` returns ``None`` when applied or the reject reason's name when refused
(and then changes nothing but the reject counter and, for the ladder's price order, staleness).
"""

from __future__ import annotations

from collections import Counter

NO_PRICE = -(2**63)


def _pad(levels: list[tuple[int, int]], n: int) -> tuple[list[int], list[int]]:
    levels = levels[:n] + [(NO_PRICE, 0)] * max(0, n - len(levels))
    return [p for p, _ in levels], [s for _, s in levels]


class RefLevelBook:
    """Price -> size dicts per side. ``max_levels`` bounds the span of prices held."""

    def __init__(self, max_levels: int = 1 << 22) -> None:
        self.sides: list[dict[int, int]] = [{}, {}]
        self.max_levels = max_levels
        self.rejected: Counter[str] = Counter()

    def _reject(self, reason: str) -> str:
        self.rejected[reason] += 1
        return reason

    def set(self, side: int, price: int, size: int) -> str | None:
        if side not in (0, 1):
            return self._reject("bad_side")
        if size < 0:
            return self._reject("invalid_size")
        book = self.sides[side]
        if size == 0:
            book.pop(price, None)
            return None
        held = list(self.sides[0]) + list(self.sides[1]) + [price]
        if max(held) - min(held) + 1 > self.max_levels:
            return self._reject("capacity")
        book[price] = size
        return None

    def clear(self, side: int | None) -> str | None:
        if side is None or side == 2:
            self.sides = [{}, {}]
        elif side in (0, 1):
            self.sides[side] = {}
        else:
            return self._reject("bad_side")
        return None

    def snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.sides = [{}, {}]
        for side, levels in enumerate((bids, asks)):
            for p, s in levels:
                if s > 0:
                    self.sides[side][p] = s
                else:
                    self.sides[side].pop(p, None)

    def levels(self, side: int) -> list[tuple[int, int]]:
        return sorted(self.sides[side].items(), reverse=(side == 0))

    def depth(self, n: int) -> dict[str, list[int]]:
        bp, bs = _pad(self.levels(0), n)
        ap, as_ = _pad(self.levels(1), n)
        return {"bid_price": bp, "bid_size": bs, "ask_price": ap, "ask_size": as_}

    def best(self, side: int) -> tuple[int, int] | None:
        levels = self.levels(side)
        return levels[0] if levels else None


def _ordered(rows: list[list[int]], side: int) -> bool:
    prices = [r[0] for r in rows]
    if side == 0:
        return all(prices[i] > prices[i + 1] for i in range(len(prices) - 1))
    return all(prices[i] < prices[i + 1] for i in range(len(prices) - 1))


class RefLadder:
    """Two lists of [price, volume] rows per side, edited the way SampleLevel2Book does."""

    ADD, UPDATE, REMOVE = 0, 1, 2

    def __init__(self) -> None:
        self.rows: list[list[list[int]]] = [[], []]
        self.stale: str | None = None
        self.rejected: Counter[str] = Counter()

    def _reject(self, reason: str) -> str:
        self.rejected[reason] += 1
        if reason == "price_order":
            self.stale = "price_order"
        return reason

    def apply(
        self, side: int, op: int, pos: int, price: int, vol: int, reset: bool = False
    ) -> str | None:
        if side not in (0, 1):
            return self._reject("bad_side")
        if reset:
            self.rows[side] = []
            self.stale = "reset"
            return None
        if op not in (self.ADD, self.UPDATE, self.REMOVE):
            return self._reject("bad_action")
        rows = self.rows[side]
        if op == self.REMOVE:
            if not 0 <= pos < len(rows):
                return self._reject("position_out_of_range")
            del rows[pos]
            return None
        if vol < 0:
            return self._reject("invalid_size")
        if not 0 <= pos <= len(rows):
            return self._reject("position_out_of_range")
        trial = [list(r) for r in rows]
        if op == self.ADD or pos == len(rows):
            trial.insert(pos, [price, vol])
        else:
            trial[pos] = [price, vol]
        if not _ordered(trial, side):
            return self._reject("price_order")
        self.rows[side] = trial
        return None

    def snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.rows = [[list(r) for r in bids], [list(r) for r in asks]]
        self.stale = None

    def as_tuples(self, side: int) -> list[tuple[int, int]]:
        return [(p, v) for p, v in self.rows[side]]

    def depth(self, n: int) -> dict[str, list[int]]:
        bp, bs = _pad(self.as_tuples(0), n)
        ap, as_ = _pad(self.as_tuples(1), n)
        return {"bid_price": bp, "bid_size": bs, "ask_price": ap, "ask_size": as_}
