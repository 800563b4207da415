"""Reconciliation on (re)connect: NinjaTrader's positions and working orders replace the
engine's picture, and nothing new is sent before; adopt, flatten or wait until flat."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading.money import price_to_ticks_exact
from orderflow.trading.orders import (
    CommandError,
    Fill,
    OrderAction,
    OrderEvent,
    OrderManager,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.positions import PositionBook
from orderflow.trading.reconcile import (
    BrokerOrder,
    BrokerPosition,
    BrokerReport,
    StartBehavior,
    connection_lost,
    reconcile,
    release_when_flat,
)

ES = get_instrument("ESH4")
P = ES.to_ticks("4810.00")
S = OrderState
ACCT = "Sim101"


def engine() -> tuple[OrderManager, PositionBook, str, str]:
    """Long 1 ES from our order of-1 (2 ordered), and a working stop of-2."""
    om, book = OrderManager(account=ACCT), PositionBook()
    a = om.submit(1, "ESH4", OrderAction.BUY, OrderType.LIMIT, 2, limit_ticks=P).cid
    b = om.submit(1, "ESH4", OrderAction.SELL, OrderType.STOP_MARKET, 1, stop_ticks=P - 8).cid
    om.apply_update(OrderEvent(a, S.WORKING, 2, 2, limit_ticks=P))
    om.apply_update(OrderEvent(b, S.ACCEPTED, 2, 1, stop_ticks=P - 8))
    f = Fill("E1", a, 3, P, 1, Side.BUY, Decimal("0.59"), instrument="ESH4", account=ACCT)
    om.apply_fill(f)
    book.apply(f)
    return om, book, a, b


def test_adopt_takes_ninjatraders_orders_and_position_as_they_are() -> None:
    om, book, a, b = engine()
    connection_lost(om)
    with pytest.raises(CommandError) as err:
        om.submit(4, "ESH4", OrderAction.BUY, OrderType.MARKET, 1)
    assert err.value.reason == "not_reconciled"
    avg = price_to_ticks_exact(ES, 4810.125, 2)
    report = BrokerReport(
        10,
        positions=[BrokerPosition(ACCT, "ESH4", 2, avg)],
        orders=[BrokerOrder(a, "ESH4", S.FILLED, 2, 2, limit_ticks=P),
                BrokerOrder("manual-7", "ESH4", S.WORKING, 1, action=OrderAction.SELL,
                            order_type=OrderType.LIMIT, limit_ticks=P + 20)],
    )  # fmt: skip
    rec = reconcile(om, book, report, StartBehavior.ADOPT)
    assert rec.commands == [] and not rec.blocked and om.reconciled
    assert rec.updated_orders == [a] and rec.adopted_orders == ["manual-7"]
    assert rec.missing_orders == [b] and om.orders[b].state is S.UNKNOWN
    assert om.orders[a].state is S.FILLED and om.orders[a].reported_filled == 2
    assert om.orders[a].filled == 1  # fills still only from executions
    assert not om.orders["manual-7"].ours and om.orders["manual-7"].limit_ticks == P + 20
    assert rec.position_changes == [(ACCT, "ESH4", 1, 2)]
    pos = book.position(ACCT, "ESH4")
    assert pos.quantity == 2 and pos.avg_price_ticks == avg and pos.trade is not None
    assert pos.trade.adopted and book.trades[0].closed_by == "reconcile"
    assert om.submit(11, "ESH4", OrderAction.SELL, OrderType.MARKET, 2).op == "submit"


def test_a_position_ninjatrader_does_not_report_is_flat() -> None:
    om, book, a, b = engine()
    rec = reconcile(om, book, BrokerReport(10), StartBehavior.ADOPT)
    assert rec.position_changes == [(ACCT, "ESH4", 1, 0)]
    assert book.position(ACCT, "ESH4").quantity == 0
    assert sorted(rec.missing_orders) == sorted([a, b])


def test_in_sync_changes_nothing() -> None:
    om, book, a, b = engine()
    report = BrokerReport(
        10,
        positions=[BrokerPosition(ACCT, "ESH4", 1, Fraction(P))],
        orders=[BrokerOrder(a, "ESH4", S.PART_FILLED, 2, 1),
                BrokerOrder(b, "ESH4", S.ACCEPTED, 1)],
    )  # fmt: skip
    rec = reconcile(om, book, report)
    assert rec.in_sync and rec.commands == [] and book.trades[0].open


def test_flatten_cancels_and_closes_before_anything_new() -> None:
    om, book, a, b = engine()
    connection_lost(om)
    report = BrokerReport(
        10,
        positions=[BrokerPosition(ACCT, "ESH4", 1, Fraction(P))],
        orders=[BrokerOrder(a, "ESH4", S.PART_FILLED, 2, 1),
                BrokerOrder(b, "ESH4", S.ACCEPTED, 1)],
    )  # fmt: skip
    rec = reconcile(om, book, report, StartBehavior.FLATTEN, now=11)
    ops = [(c.op, c.cid, c.action, c.quantity) for c in rec.commands]
    flat = rec.commands[-1].cid
    assert ops == [("cancel", a, None, 0), ("cancel", b, None, 0),
                   ("submit", flat, OrderAction.SELL, 1)]  # fmt: skip
    assert rec.commands[-1].order_type is OrderType.MARKET and rec.blocked
    with pytest.raises(CommandError, match="not reconciled"):
        om.submit(12, "ESH4", OrderAction.BUY, OrderType.MARKET, 1)
    for cid in (a, b):
        om.apply_update(
            OrderEvent(cid, S.CANCELLED, 13, 2 if cid == a else 1, 1 if cid == a else 0)
        )
    assert not release_when_flat(om, book)  # still long 1, the flatten order working
    f = Fill("X1", flat, 14, P - 2, 1, Side.SELL, instrument="ESH4", account=ACCT)
    om.apply_fill(f)
    book.apply(f)
    om.apply_update(OrderEvent(flat, S.FILLED, 14, 1, 1))
    assert release_when_flat(om, book)
    assert book.position(ACCT, "ESH4").quantity == 0
    assert book.trades[-1].realized_ticks == -2
    assert om.submit(15, "ESH4", OrderAction.BUY, OrderType.MARKET, 1).op == "submit"


def test_wait_until_flat_sends_nothing_and_waits() -> None:
    om, book = OrderManager(account=ACCT), PositionBook()
    connection_lost(om)
    report = BrokerReport(5, positions=[BrokerPosition(ACCT, "MNQH4", -1, Fraction(68000))])
    rec = reconcile(om, book, report, StartBehavior.WAIT_UNTIL_FLAT)
    assert rec.commands == [] and rec.blocked and not om.reconciled
    pos = book.position(ACCT, "MNQH4")
    assert pos.quantity == -1
    # the trader closes it in NinjaTrader; the execution arrives as a foreign order's
    f = Fill("M1", "manual-1", 6, 67996, 1, Side.BUY, instrument="MNQH4", account=ACCT)
    om.apply_fill(f)
    book.apply(f)
    om.apply_update(OrderEvent("manual-1", S.FILLED, 6, 1, 1))
    assert release_when_flat(om, book) and om.reconciled
    assert book.trades[-1].gross == Decimal("2.00")  # 4 MNQ ticks x $0.50
