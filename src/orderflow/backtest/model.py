"""What the venue holds per order of ours, what it hands back, and the codes it shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from orderflow.backtest.queues import QueueState
from orderflow.model.enums import Action, Flags
from orderflow.model.enums import Side as BookSide
from orderflow.trading.orders import Fill, OrderEvent, OrderState, OrderType

__all__ = ["Delivery", "SimOrder"]

S = OrderState
BID, ASK, NONE = int(BookSide.BID), int(BookSide.ASK), int(BookSide.NONE)
TRADE, FILL, CANCEL, MODIFY, CLEAR = (int(a) for a in (Action.TRADE, Action.FILL, Action.CANCEL,
                                                       Action.MODIFY, Action.CLEAR))  # fmt: skip
LAST = int(Flags.LAST)
STOPS = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
LIVE = frozenset({S.SUBMITTED, S.ACCEPTED, S.WORKING, S.PART_FILLED})


class Delivery(NamedTuple):
    """A report and the time the strategy sees it (venue time + md latency)."""

    at_ns: int
    report: OrderEvent | Fill


@dataclass(slots=True)
class SimOrder:
    """One of our orders as the venue holds it."""

    cid: str
    is_buy: bool
    order_type: OrderType
    quantity: int
    limit_ticks: int | None
    stop_ticks: int | None
    oco: str
    order_id: str
    seq: int = 0  # priority among our orders (arrival at the venue)
    state: OrderState = S.SUBMITTED
    filled: int = 0
    triggered: bool = False
    resting: bool = False  # a limit in the book, queue tracked
    queued_t: int = 0
    queue: QueueState = field(default_factory=QueueState)
    instrument: str = ""  # the contract it trades ("": the venue's own)

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def side(self) -> int:
        """The book side the order rests on (bid for a buy)."""
        return BID if self.is_buy else ASK
