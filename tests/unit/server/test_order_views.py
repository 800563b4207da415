"""The orders and positions the server shows, through a Hub without a socket: the order
reports of a batch land on the reporting client's desk (executions once, an overfill or a
rejection alerted, a foreign order recorded as not ours), a command goes through the desk and
the risk checks whether the engine is switched on or off, and ``/api/orders`` shows the desk's
order with its commands' status from the outbox; one command timeout for both."""

from __future__ import annotations

import pytest

from orderflow.core.errors import RequestError
from orderflow.protocol import Batch, CommandAck, Depth, Execution, OrderUpdate, PositionUpdate
from orderflow.server.hub import Hub
from orderflow.server.order_views import order_list, order_of, position_list
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams

SUBMIT = {"op": "submit", "cid": "of-1", "action": "Buy", "order_type": "Limit", "quantity": 2,
          "limit_price": 4810.25}  # fmt: skip
T0 = 1_703_545_200_000_000_000
BOOK = Batch(instrument="ES 03-24", seq=1, depth=[
    Depth(t=T0, side="bid", op="add", pos=0, price=4810.0, size=5),
    Depth(t=T0, side="ask", op="add", pos=0, price=4810.25, size=7),
])  # fmt: skip
OPEN = RiskParams(book_stale_ms=0.0, kill_on_disconnect=False, kill_on_crossed_book=False,
                  max_position=10, max_order_size=10)  # fmt: skip


def hub(**kw) -> Hub:
    h = Hub(trading=TradingParams(risk=OPEN), trading_server=ServerTradingParams(
        enabled=False, use_sessions=False), **kw)  # fmt: skip
    h.apply(BOOK, "nt8")
    h.trading.connected("nt8", False)
    return h


def reports(seq: int, orders=(), executions=(), positions=()) -> Batch:
    return Batch(instrument="ES 03-24", seq=seq, orders=list(orders),
                 executions=list(executions), positions=list(positions))  # fmt: skip


def test_the_desk_records_the_orders_and_the_outbox_only_carries_the_commands() -> None:
    h = hub()
    inst = h.state("ESH4").instrument
    cmd = h.trading.command("nt8", inst, "ES 03-24", dict(SUBMIT))
    assert (cmd.command_seq, cmd.instrument, cmd.cid) == (1, "ES 03-24", "of-1")
    assert h.outbox.acknowledge("nt8", CommandAck("of-1", 1, "done"))
    h.trading.acknowledge("nt8", 1, "done", "")
    fill = Execution(t=T0 + 2, cid="of-1", execution_id="e1", price=4810.25, quantity=2,
                     market_position="Long")  # fmt: skip
    updates = [OrderUpdate(t=T0 + 1, cid="of-1", state=s, quantity=2, limit_price=4810.25)
               for s in ("Submitted", "Accepted", "Working")]  # fmt: skip
    ack, _ = h.apply(reports(2, updates, [fill]), "nt8")
    assert (ack.applied["orders"], ack.applied["executions"]) == (3, 1)
    filled = OrderUpdate(t=T0 + 2, cid="of-1", state="Filled", quantity=2, filled=2,
                         limit_price=4810.25)  # fmt: skip
    pos = PositionUpdate(t=T0 + 2, market_position="Long", quantity=2, average_price=4810.25,
                         account="Sim101")  # fmt: skip
    ack, _ = h.apply(reports(3, [filled], [fill], [pos]), "nt8")  # the fill resent: once
    assert (ack.applied["executions"], ack.applied["positions"]) == (0, 1)
    d = order_of(h.trading, h.outbox, "of-1")
    assert d is not None
    assert (d["client"], d["state"], d["terminal"], d["filled"], d["avg_fill_price"]) == (
        "nt8", "Filled", True, 2, 4810.25)  # fmt: skip
    assert (d["command"], d["updates"], d["executions"], d["ours"]) == ("done", 4, ["e1"], True)
    assert [(c["command_seq"], c["op"], c["status"], c["limit_price"]) for c in d["commands"]] == [
        (1, "submit", "done", 4810.25)]  # fmt: skip
    assert [o["cid"] for o in order_list(h.trading, h.outbox)] == ["of-1"]
    [p] = position_list(h.trading)
    assert (p["client"], p["account"], p["instrument"], p["quantity"], p["avg_price"]) == (
        "nt8", "Sim101", "ESH4", 2, 4810.25)  # fmt: skip
    assert h.health()["orders"]["executions_duplicate"] == 1
    assert h.health()["commands"]["commands_done"] == 1
    with pytest.raises(RequestError) as err:  # a filled order cannot be cancelled
        h.trading.command("nt8", inst, "ES 03-24", {"op": "cancel", "cid": "of-1"})
    assert err.value.details["field"] == "cid"
    assert h.outbox.next_command["nt8"] == 1  # nothing numbered for it


def test_overfills_and_rejections_are_alerted_and_foreign_orders_recorded() -> None:
    h = hub()
    inst = h.state("ESH4").instrument
    h.trading.command("nt8", inst, "ES 03-24", dict(SUBMIT))
    fills = [Execution(t=T0 + i, cid="of-1", execution_id=f"e{i}", price=4810.25, quantity=1,
                       market_position="Long") for i in (1, 2, 3)]  # fmt: skip
    h.apply(reports(2, [OrderUpdate(t=T0, cid="of-1", state="Working", quantity=2)], fills),
            "nt8")  # fmt: skip
    overfill = [a for a in h.alerts.to_list() if a["kind"] == "overfill"]
    assert len(overfill) == 1 and overfill[0]["instrument"] == "ESH4"
    assert overfill[0]["detail"].startswith("of-1: beyond_quantity: filled 3 of 2")
    d = order_of(h.trading, h.outbox, "of-1")
    assert d is not None and d["overfill"] and d["overfill_reasons"] == ["beyond_quantity"]
    h.trading.command("nt8", inst, "ES 03-24", {**SUBMIT, "cid": "of-2"})
    h.apply(reports(3, [OrderUpdate(t=T0 + 5, cid="of-2", state="Rejected", quantity=2,
                                    error="OrderRejected", comment="margin")]), "nt8")  # fmt: skip
    assert any(a["kind"] == "order_rejected" and a["detail"] == "of-2: OrderRejected margin"
               for a in h.alerts.to_list())  # fmt: skip
    h.apply(reports(4, [OrderUpdate(t=T0 + 6, cid="manual", state="Working", quantity=1)]), "nt8")
    manual = order_of(h.trading, h.outbox, "manual")
    assert manual is not None and manual["ours"] is False and manual["command"] is None
    assert h.health()["orders"]["orders_foreign"] == 1


def test_a_command_is_checked_by_the_desk_and_the_risk_limits_in_every_mode() -> None:
    h = hub()
    inst = h.state("ESH4").instrument
    for body, field in [
        ({**SUBMIT, "limit_price": 0}, "limit_price"),  # a Limit without its limit price
        ({**SUBMIT, "order_type": "StopMarket", "limit_price": 0}, "stop_price"),
        ({**SUBMIT, "action": "Long"}, "action"),
        ({"op": "cancel", "cid": "unknown"}, "cid"),
        ({**SUBMIT, "quantity": 11}, "risk"),  # over max_order_size: switched off or not
    ]:
        with pytest.raises(RequestError) as err:
            h.trading.command("nt8", inst, "ES 03-24", body)
        assert err.value.details["field"] == field, body
    assert h.outbox.next_command["nt8"] == 0 and order_list(h.trading, h.outbox) == []
    assert not h.trading.server.strategy  # enabled: false runs no strategy


def test_switched_off_runs_no_strategy_even_when_one_is_configured() -> None:
    h = Hub(trading_server=ServerTradingParams(enabled=False, strategy=True))
    assert h.trading.server.strategy is False and h.trading.server.enabled is False
    assert Hub().trading.server.enabled is False  # no trading parameters: switched off
    assert Hub(trading=TradingParams()).trading.server.enabled is True
    t = Hub(command_timeout_s=2.5)
    assert t.outbox.timeout_ns == 2_500_000_000
    assert t.trading.of("nt8").desk.orders.timeout_ns == 2_500_000_000  # one setting
