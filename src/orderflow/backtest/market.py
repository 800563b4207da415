"""The venue's view of the market: one of our books, fed the replayed records.

The venue keeps its own book of the same class the pipeline uses (``OrderBook`` for MBO,
``LevelBook`` for price-level deltas, ``LadderBook`` for NinjaTrader depth), so what it fills
against is exactly the book the strategy's analytics see, without a second book
implementation. This module adapts the three to the few reads the venue needs.
"""

from __future__ import annotations

from typing import Any

from orderflow.core.errors import ArgumentError
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.instruments import Instrument

__all__ = ["KINDS", "MarketView"]

#: stream kinds the venue can fill against
KINDS = ("mbo", "levels", "nt_depth")


def _not_ours(records: Any) -> None:
    raise ArgumentError("a shared book is applied by its owner, not by the venue")


class MarketView:
    """A book of ``kind`` and the reads of it the venue makes (prices in ticks)."""

    def __init__(self, kind: str, instrument: Instrument, book: Any = None) -> None:
        self.kind = kind
        self.book: Any
        self.apply: Any
        if kind == "bars":  # no book: the bar fill model (backtest.bar_fills) is the market
            self.book = None
            self.apply = _not_ours
            return
        if book is not None:  # a book someone else applies the records to (the pipeline's)
            self.book = book
            self.apply = _not_ours
            return
        if kind == "mbo":
            from orderflow.book.l3 import OrderBook

            self.book = OrderBook(instrument)
            self.apply = self.book.apply_mbo
        elif kind == "levels":
            from orderflow.book.levels import LevelBook

            self.book = LevelBook(instrument)
            self.apply = self.book.apply_deltas
        elif kind == "nt_depth":
            from orderflow.book.ladder import LadderBook

            self.book = LadderBook(instrument)
            self.apply = self.book.apply_events
        else:
            raise ArgumentError(f"the venue fills against {', '.join(KINDS)} streams, not {kind!r}")

    def best(self, side: int) -> int | None:
        """Best price of ``side`` (0 bid, 1 ask), or None (none too without a book). O(1)."""
        if self.book is None:
            return None
        b = self.book.best_bid() if side == 0 else self.book.best_ask()
        return None if b is None else int(b[0])

    def levels(self, side: int, n: int) -> tuple[list[int], list[int]]:
        """Up to ``n`` non-empty levels of ``side``, best first: (prices, sizes). O(n + gaps)."""
        if self.book is None:
            return [], []
        d = self.book.depth(n)
        key = "bid" if side == 0 else "ask"
        p, s = d[f"{key}_price"], d[f"{key}_size"]
        keep = p != NO_PRICE
        return p[keep].tolist(), s[keep].tolist()

    def size_at(self, side: int, price: int) -> int:
        """Size resting at ``price`` on ``side`` (0 when none). O(1) for a level book, O(ticks
        from the touch) otherwise."""
        if self.kind == "levels":
            return int(self.book.size_at(side, price))
        best = self.best(side)
        if best is None:
            return 0
        away = best - price if side == 0 else price - best
        if away < 0:
            return 0
        prices, sizes = self.levels(side, away + 1)
        for p, s in zip(prices, sizes, strict=True):
            if p == price:
                return s
        return 0

    def queue_at(self, side: int, price: int) -> dict[int, int]:
        """L3 only: the orders resting at ``price`` on ``side``, front first, as
        ``{order_id: size}`` (dicts keep insertion order). O(orders at the level)."""
        out: dict[int, int] = self.book.level_queue(side, price)
        return out
