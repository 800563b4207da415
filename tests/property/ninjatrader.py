"""What NinjaTrader does with a bracket manager's commands in the property tests."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow.trading.brackets import BracketManager
from orderflow.trading.orders import OrderCommand, OrderEvent, OrderState

S = OrderState


def confirm(bm: BracketManager, cmds: Sequence[OrderCommand], t: int) -> None:
    """NinjaTrader confirms each command before anything fills against it (Working, or
    PartFilled when part of the order filled; Cancelled for a cancel), and the manager's
    answers to those updates are confirmed in turn."""
    om = bm.orders.orders
    for c in cmds:
        o = om[c.cid]
        state = S.CANCELLED if c.op == "cancel" else S.WORKING
        if o.filled and state is S.WORKING:
            state = S.PART_FILLED
        _, more = bm.apply_update(t, OrderEvent(c.cid, state, t, o.requested_quantity, o.filled))
        confirm(bm, more, t)
