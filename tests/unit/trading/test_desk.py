"""The desk end to end, fed the bridge's fields as the server will: a bracketed ES trade with
partial fills and a resent execution, its P&L to the cent, NinjaTrader's position reports
checked against the executions, and a reconnect that flattens before anything new."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading.desk import OrderDesk
from orderflow.trading.orders import CommandError, OrderAction, OrderType, fill_event, order_event
from orderflow.trading.reconcile import BrokerPosition, BrokerReport, StartBehavior

ES = get_instrument("ESH4")
ACCT = "Sim101"


def tk(price: str) -> int:
    return ES.to_ticks(price)


def test_a_bracketed_es_trade_end_to_end() -> None:
    desk = OrderDesk(account=ACCT)
    b, cmds = desk.brackets.submit(1, "ESH4", OrderAction.BUY, 2, order_type=OrderType.LIMIT,
                                   limit_ticks=tk("4810.00"), stop_loss_ticks=tk("4808.00"),
                                   target_ticks=tk("4812.00"))  # fmt: skip
    assert cmds[0].fields(ES) == {"op": "submit", "cid": b.entry, "quantity": 2,
                                  "limit_price": 4810.0, "stop_price": 0.0, "action": "Buy",
                                  "order_type": "Limit", "oco": ""}  # fmt: skip
    for i, state in enumerate(("Submitted", "Accepted", "Working")):
        ev = order_event(ES, b.entry, state, 2 + i, 2, limit_price=4810.0)
        assert desk.apply_update(2 + i, ev) == ("applied", [])
    desk.apply_update(10, order_event(ES, b.entry, "PartFilled", 10, 2, 1, limit_price=4810.0))
    first = fill_event(ES, "X1", b.entry, 10, 4810.0, 1, "Long", commission=0.59, account=ACCT)
    res = desk.apply_fill(10, first)
    assert res.new and [(c.op, c.order_type, c.quantity) for c in res.commands] == [
        ("submit", OrderType.STOP_MARKET, 1), ("submit", OrderType.LIMIT, 1)]  # fmt: skip
    assert res.commands[0].fields(ES)["stop_price"] == 4808.0
    assert not desk.apply_fill(11, first).new  # resent: the position does not move twice
    pos = desk.positions.position(ACCT, "ESH4")
    assert pos.quantity == 1
    assert desk.apply_position(ACCT, "ESH4", 1, Fraction(tk("4810.00")))
    assert not desk.apply_position(ACCT, "ESH4", 2, Fraction(tk("4810.00")))
    assert desk.alerts[-1][0] == "position_mismatch" and desk.counters["position_mismatch"] == 1
    desk.apply_update(12, order_event(ES, b.entry, "Filled", 12, 2, 2, limit_price=4810.0))
    res = desk.apply_fill(12, fill_event(ES, "X2", b.entry, 12, 4810.25, 1, "Long",
                                         commission=0.59, account=ACCT))  # fmt: skip
    assert [(c.op, c.quantity) for c in res.commands] == [("change", 2), ("change", 2)]
    assert pos.quantity == 2 and pos.avg_price_ticks == Fraction(tk("4810.00") + tk("4810.25"), 2)
    desk.mark("ESH4", tk("4811.00"))
    assert pos.unrealized_ticks() == 7 and pos.unrealized() == Decimal("87.50")
    for leg in (b.stop, b.target):
        assert leg is not None
        desk.apply_update(13, order_event(ES, leg, "Working", 13, 2,
                                          limit_price=4812.0 if leg == b.target else 0.0,
                                          stop_price=4808.0 if leg == b.stop else 0.0))  # fmt: skip
    desk.apply_update(20, order_event(ES, b.target or "", "Filled", 20, 2, 2, limit_price=4812.0))
    res = desk.apply_fill(20, fill_event(ES, "X3", b.target or "", 20, 4812.0, 2, "Short",
                                         commission=1.18, fees=2.80, account=ACCT))  # fmt: skip
    assert [(c.op, c.cid) for c in res.commands] == [("cancel", b.stop)]
    (trade,) = res.closed
    assert trade.realized_ticks == 15 and trade.gross == Decimal("187.50")  # 8 + 7 ticks
    assert trade.commission == Decimal("2.36") and trade.fees == Decimal("2.80")
    assert trade.net == Decimal("182.34")
    assert (trade.mae_ticks, trade.mfe_ticks) == (0, 15)
    assert pos.quantity == 0 and desk.brackets.brackets[b.id].status == "protected"
    desk.apply_update(21, order_event(ES, b.stop or "", "Cancelled", 21, 2, stop_price=4808.0))
    assert desk.brackets.brackets[b.id].status == "done"
    assert not any(o.overfill for o in desk.orders.orders.values())


def test_a_reconnect_that_flattens_before_anything_new() -> None:
    desk = OrderDesk(account=ACCT, start_behavior=StartBehavior.FLATTEN)
    desk.connection_lost()
    rec = desk.reconcile(
        BrokerReport(5, [BrokerPosition(ACCT, "ESH4", -3, Fraction(tk("4810.00")))])
    )
    (flat,) = rec.commands
    assert (flat.action, flat.quantity, flat.order_type) == (OrderAction.BUY_TO_COVER, 3,
                                                             OrderType.MARKET)  # fmt: skip
    with pytest.raises(CommandError, match="not reconciled"):
        desk.orders.submit(6, "ESH4", OrderAction.BUY, OrderType.MARKET, 1)
    desk.apply_update(7, order_event(ES, flat.cid, "Filled", 7, 3, 3))
    res = desk.apply_fill(7, fill_event(ES, "R1", flat.cid, 7, 4811.0, 3, "Long", account=ACCT))
    assert res.closed[0].adopted and res.closed[0].gross == Decimal("-150.00")  # 4 ticks x 3
    assert desk.orders.reconciled
    assert desk.orders.submit(8, "ESH4", OrderAction.BUY, OrderType.MARKET, 1).op == "submit"
