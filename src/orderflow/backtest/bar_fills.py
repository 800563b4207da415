"""The bar fill model of :class:`~orderflow.backtest.venue.SimVenue`: a bar's OHLC as the market.

A venue of kind ``bars`` (``SimVenue(instrument, "bars")``) has no book and no prints: its
market is one bar at a time, and :class:`BarFills` fills the orders the venue holds by these
rules (every doubt goes against us):

- a market order (entries, flattens) fills at the **next bar's open**, stamped with the bar's
  start; after the last bar (:meth:`BarFills.at_end`), at the last close;
- a stop (StopMarket) fills when the bar's range reaches it, at the stop or at the open when
  the bar opened beyond it (a gap), stamped with the bar's middle; stops are looked at before
  limits, so a bar that reaches both the stop and the target of a bracket takes the stop;
- a limit fills only when the bar trades **through** it (a buy limit when the low is below it),
  at its price, and only from the bar after the one it was placed in (a target placed at a
  fill at the open waits for the next bar; an order sent at a bar's close is placed in the
  bar that follows, so it can fill from the one after that); a touch does not fill;
- each fill is the whole order (a market or a stop order as taker, a limit as maker), with the
  broker profile's commission and fees, as every fill of the venue; StopLimit and MIT orders
  work but bars do not fill them;
- no stop is refused as placed through the market: between bars the venue has no market to
  check it against.

The venue has no latency (the bar is its market, and nothing happens inside a bar but these
fills), and each fill's reports are answered before the model looks at the next order: the
``answer`` callback hands them to the node and sends what the node commands back to the venue,
where it acts at once. So a stop placed at a fill at the open is looked at in the same bar, a
bracket's other leg is cancelled before the model looks at it, and a venue-side OCO sibling is
cancelled with the fill. The bars backtest (:func:`orderflow.backtest.bars.run_bars`) drives it.
"""

from __future__ import annotations

from collections.abc import Callable

from orderflow.backtest.model import Delivery, S, SimOrder
from orderflow.trading.orders import OrderType

__all__ = ["Answer", "BarFills"]

#: what the venue's reports are handed to between fills (the node, whose commands come back)
Answer = Callable[[list[Delivery]], None]
#: the venue's fill: (order, quantity, price in ticks, time, "maker" | "taker")
FillFn = Callable[[SimOrder, int, int, int, str], None]


class BarFills:
    """The fill model of a ``bars`` venue (module docstring): which orders a bar fills. A part
    of the venue, as :class:`~orderflow.backtest.matching.Matching` is of a book venue: the
    fills, their reports and the OCO groups are the venue's own (``fill``: its fill of an
    order; ``take``: the reports it has made since the last take)."""

    def __init__(self, fill: FillFn, take: Callable[[], list[Delivery]]) -> None:
        self._venue_fill, self._take = fill, take
        #: bars seen so far: the number of the next bar
        self.bar = 0
        self._placed: dict[str, int] = {}  # cid -> the bar number when it started working
        self._live: dict[str, SimOrder] = {}  # orders accepted, oldest first (ended ones pruned)

    def accepted(self, o: SimOrder) -> None:
        """``o`` is working from now on (the venue has reported it Working)."""
        self._placed[o.cid] = self.bar
        self._live[o.cid] = o

    def _working(self, order_type: OrderType) -> list[SimOrder]:
        return [o for o in self._live.values() if o.order_type == order_type and o.live]

    def _fill(self, o: SimOrder, price: int, t: int, liquidity: str, answer: Answer) -> None:
        self._venue_fill(o, o.remaining, price, t, liquidity)
        answer(self._take())

    def on_bar(self, t_open: int, t_mid: int, open_: int, high: int, low: int,
               answer: Answer) -> None:  # fmt: skip
        """One bar: market orders at its open, then stops, then limits placed before it; each
        order looked at only while it is still working when its turn comes."""
        self._live = {c: o for c, o in self._live.items() if o.live}
        for o in self._working(OrderType.MARKET):
            if o.state == S.WORKING:
                self._fill(o, open_, t_open, "taker", answer)
        for o in self._working(OrderType.STOP_MARKET):
            stop = o.stop_ticks
            if o.state != S.WORKING or stop is None:
                continue
            if o.is_buy and high >= stop:
                self._fill(o, max(open_, stop), t_mid, "taker", answer)
            elif not o.is_buy and low <= stop:
                self._fill(o, min(open_, stop), t_mid, "taker", answer)
        for o in self._working(OrderType.LIMIT):
            limit = o.limit_ticks
            if o.state != S.WORKING or limit is None or self._placed[o.cid] >= self.bar:
                continue
            if low < limit if o.is_buy else high > limit:
                self._fill(o, limit, t_mid, "maker", answer)
        self.bar += 1

    def at_end(self, t: int, close: int, answer: Answer) -> None:
        """After the last bar: market orders (the flatten at the end) fill at the last close,
        and those their fills cause, for up to ten rounds."""
        for _ in range(10):
            self._live = {c: o for c, o in self._live.items() if o.live}
            due = self._working(OrderType.MARKET)
            if not due:
                return
            for o in due:
                if o.state == S.WORKING:
                    self._fill(o, close, t, "taker", answer)
