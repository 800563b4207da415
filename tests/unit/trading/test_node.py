"""The trading node driven with domain events, no server: fills move the desk's positions and
the risk manager's P&L, a batch of reports is applied in the server's order and journalled
before its commands go, flatten, the kill switch, a node without a strategy, and the strategy's
instrument against a manual one."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from orderflow.core.errors import RequestError
from orderflow.model.instruments import get_instrument
from orderflow.trading.broker import ProductCosts
from orderflow.trading.desk import OrderDesk
from orderflow.trading.journal import Journal
from orderflow.trading.journal_replay import replay_desk
from orderflow.trading.node import ListSink, TradingNode
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.reconcile import BrokerPosition, BrokerReport
from orderflow.trading.risk import RiskManager, RiskParams
from orderflow.trading.strategy import SignalStrategy

ES = get_instrument("ESH4")
NQ = get_instrument("NQH4")
ACCT = "Sim101"
T0 = 1_703_545_200_000_000_000  # 2023-12-25 23:00 UTC, ES's Globex session
S = OrderState


def node_of(strategy: bool = False, sink: ListSink | None = None, **risk: Any) -> TradingNode:
    params = TradingParams(risk=RiskParams(**risk)) if risk else TradingParams()
    broker = params.broker.build()
    zero = ProductCosts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    broker = dataclasses.replace(broker, costs={**broker.costs, "ES": zero, "NQ": zero})
    desk = OrderDesk(ACCT)
    desk.brackets.op_log = [] if sink is not None else None
    return TradingNode(
        desk, RiskManager(params.risk, broker=broker), params, broker,
        strategy=(lambda inst: SignalStrategy(params.strategy)) if strategy else None,
        sink=sink,
    )  # fmt: skip


def working(node: TradingNode, cmd: OrderCommand, t: int, key: str = "ESH4") -> None:
    for i, state in enumerate((S.SUBMITTED, S.ACCEPTED, S.WORKING)):
        node.order_update(t + i, OrderEvent(cmd.cid, state, t + i, cmd.quantity), key)


def fill(cid: str, n: int, price: int, qty: int, side: Side, key: str = "ESH4") -> Fill:
    return Fill(f"X{n}", cid, T0 + n, price, qty, side, instrument=key, account=ACCT)


def buy(node: TradingNode, cid: str, qty: int = 1, inst: Any = ES) -> OrderCommand:
    return node.submit(T0, inst, cid, OrderAction.BUY, OrderType.MARKET, qty, None, None)


def test_a_fill_moves_the_desks_position_and_the_risk_managers_pnl() -> None:
    node = node_of()
    cmd = buy(node, "a", 2)
    assert (cmd.op, cmd.cid, cmd.quantity) == ("submit", "a", 2)
    working(node, cmd, T0)
    node.fill(T0 + 10, fill("a", 1, 19000, 2, Side.BUY), "ESH4")
    pos = node.desk.positions.position(ACCT, "ESH4")
    assert pos.quantity == 2 and node.risk.state.positions["ESH4"] == 2
    assert node.fill(T0 + 11, fill("a", 1, 19000, 2, Side.BUY), "ESH4") == []  # resent
    assert pos.quantity == 2
    node.order_update(T0 + 12, OrderEvent("a", S.FILLED, T0 + 12, 2, 2), "ESH4")
    node.mark("ESH4", 19004, T0 + 13)  # 4 ticks x 2 contracts x $12.50
    assert node.open_pnl() == 100.0 and node.risk.state.unrealised == 100.0
    out = node.submit(T0 + 20, ES, "b", OrderAction.SELL, OrderType.MARKET, 2, None, None)
    working(node, out, T0 + 20)
    node.fill(T0 + 30, fill("b", 2, 18998, 2, Side.SELL), "ESH4")
    assert pos.quantity == 0 and pos.net_realized == Decimal("-50.00")
    assert node.risk.state.realised_today == -50.0 and node.risk.state.positions["ESH4"] == 0


def test_a_batch_applies_every_update_then_every_execution_and_journals_before_returning() -> None:
    sink = ListSink()
    node = node_of(sink=sink)
    cmd = buy(node, "a")
    working(node, cmd, T0)
    trades = node.risk.state.trades_today
    sink.entries.clear()
    # NinjaTrader reports Filled before the execution: the order ends for risk only after
    # the batch's executions, and as a filled entry (its trade is not given back)
    node.reports(
        T0 + 10, "ESH4",
        [OrderEvent("a", S.FILLED, T0 + 10, 1, 1)], [fill("a", 1, 19000, 1, Side.BUY)],
        [BrokerPosition(ACCT, "ESH4", 1, Fraction(19000))], batch=(7, "ES 03-24"),
    )  # fmt: skip
    kinds = [e.kind for e in sink.entries]
    assert kinds[:3] == ["order_update", "execution", "position"]
    assert kinds[-2:] == ["batch", "risk_state"] and sink.entries[-2].payload["seq"] == 7
    assert "a" not in node.risk.state.pending and node.risk.state.trades_today == trades
    assert node.desk.positions.position(ACCT, "ESH4").quantity == 1
    assert not node.desk.counters["position_mismatch"]


def test_an_unfilled_entry_ended_in_a_batch_gives_its_trade_back() -> None:
    node = node_of()
    cmd = buy(node, "a")
    working(node, cmd, T0)
    trades = node.risk.state.trades_today
    node.reports(T0 + 10, "ESH4", [OrderEvent("a", S.CANCELLED, T0 + 10, 1, 0)])
    assert node.risk.state.trades_today == trades - 1 and "a" not in node.risk.state.pending


def test_flatten_closes_each_open_position_once_and_cancels_working_orders() -> None:
    sink = ListSink()
    node = node_of(sink=sink, max_position=5)
    working(node, buy(node, "a", 2), T0)
    node.fill(T0 + 10, fill("a", 1, 19000, 2, Side.BUY), "ESH4")
    node.order_update(T0 + 11, OrderEvent("a", S.FILLED, T0 + 11, 2, 2), "ESH4")
    lim = node.submit(T0 + 12, ES, "lim", OrderAction.BUY, OrderType.LIMIT, 1, 18900, None)
    working(node, lim, T0 + 12)
    cmds = node.flatten(T0 + 20)
    assert len(cmds) == 2 and (cmds[0].op, cmds[0].cid) == ("cancel", "lim")
    flat = cmds[1]
    assert (flat.op, flat.action, flat.order_type, flat.quantity) == (
        "submit", OrderAction.SELL, OrderType.MARKET, 2)  # fmt: skip
    assert flat.cid.endswith(".flat") and flat.cid in node.flattening
    assert node.flatten(T0 + 21) == []  # one flatten order per position at a time
    journalled = [(e.payload["op"], e.cid) for e in sink.entries if e.kind == "command"]
    assert journalled[-2:] == [("cancel", "lim"), ("submit", flat.cid)]
    node.order_update(T0 + 30, OrderEvent(flat.cid, S.FILLED, T0 + 30, 2, 2), "ESH4")
    assert flat.cid not in node.flattening


def test_the_kill_switch_refuses_entries_until_reset() -> None:
    sink = ListSink()
    node = node_of(sink=sink)
    assert node.kill("manual", T0) == []  # flat: nothing to close
    assert node.risk.state.kill
    with pytest.raises(RequestError) as err:
        buy(node, "a")
    assert err.value.details["field"] == "risk"
    assert err.value.details["reason"].startswith("kill_switch")
    assert sink.commits == 1  # the refusal is journalled when it can be
    assert "a" not in node.desk.orders.orders
    node.reset_kill(T0 + 1)
    assert not node.risk.state.kill
    assert buy(node, "b").cid == "b"
    notes = [e.payload["action"] for e in sink.entries if e.kind == "note"]
    assert notes == ["reset_kill"]


def test_a_kill_with_a_position_flattens_it() -> None:
    node = node_of()
    working(node, buy(node, "a"), T0)
    node.fill(T0 + 10, fill("a", 1, 19000, 1, Side.BUY), "ESH4")
    node.order_update(T0 + 11, OrderEvent("a", S.FILLED, T0 + 11, 1, 1), "ESH4")
    cmds = node.kill("manual", T0 + 20)
    assert [(c.op, c.action, c.quantity) for c in cmds] == [("submit", OrderAction.SELL, 1)]


def test_a_node_without_a_strategy_refuses_nothing_the_risk_manager_allows() -> None:
    node = node_of(max_position=3)
    assert node.strategy is None and not node.hosts
    cmds = [buy(node, f"e{i}") for i in range(3)]
    assert [c.cid for c in cmds] == ["e0", "e1", "e2"]
    with pytest.raises(RequestError) as err:  # the fourth is over max_position
        buy(node, "e3")
    assert err.value.details["reason"].startswith("max_position")
    with pytest.raises(RequestError):
        node.host(ES)  # trading off: no strategy to host


def test_the_gate_stays_shut_until_ninjatraders_report() -> None:
    node = node_of(strategy=True)
    node.connected(T0, report=True, require_report=True)
    with pytest.raises(RequestError) as err:
        node.entry_gate()
    assert err.value.details["reason"] == "not_reconciled"
    report = BrokerReport(T0 + 1, [BrokerPosition(ACCT, "ESH4", 1, Fraction(19000))], [])
    node.broker_report(T0 + 1, report)
    node.entry_gate()
    assert node.last_reconcile is not None and node.reconciliations == 1
    assert node.risk.state.positions["ESH4"] == 1


def test_the_strategys_instrument_goes_through_its_host_a_manual_one_through_the_desk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = node_of(strategy=True)
    host = node.host(ES)
    seen: list[str] = []
    on_fill, on_update = host.on_fill, host.on_order_update
    monkeypatch.setattr(host, "on_fill", lambda now, f: seen.append(f.cid) or on_fill(now, f))
    monkeypatch.setattr(host, "on_order_update",
                        lambda now, ev: seen.append(ev.cid) or on_update(now, ev))  # fmt: skip
    manual = buy(node, "nq", inst=NQ)  # the API's order on another instrument
    working(node, manual, T0, "NQH4")
    node.fill(T0 + 10, fill("nq", 1, 68000, 1, Side.BUY, "NQH4"), "NQH4")
    assert seen == [] and node.desk.positions.position(ACCT, "NQH4").quantity == 1
    assert node.risk.state.positions["NQH4"] == 1
    es = buy(node, "es")
    working(node, es, T0 + 20)
    node.fill(T0 + 30, fill("es", 2, 19000, 1, Side.BUY), "ESH4")
    assert seen == ["es", "es", "es", "es"]  # three updates and the fill, through the host
    assert node.desk.positions.position(ACCT, "ESH4").quantity == 1
    assert node.risk.state.positions["ESH4"] == 1
    assert set(node.status()["strategy"]) == {"ESH4"}


def test_the_nodes_records_replay_into_the_same_desk(tmp_path: Path) -> None:
    sink = ListSink()
    node = node_of(sink=sink, max_position=5)
    node.client = "nt"
    legs = (8, ((16, 2),))  # a bracket: stop 8 ticks, target 16 ticks from the first fill
    entry = node.submit(T0, ES, "br", OrderAction.BUY, OrderType.MARKET, 2, None, None, "", legs)
    working(node, entry, T0)
    node.order_update(T0 + 9, OrderEvent(entry.cid, S.FILLED, T0 + 9, 2, 2), "ESH4")
    legs_out = node.fill(T0 + 10, fill(entry.cid, 1, 19000, 2, Side.BUY), "ESH4")
    assert sorted(c.order_type for c in legs_out) == [OrderType.LIMIT, OrderType.STOP_MARKET]
    for leg in legs_out:
        working(node, leg, T0 + 20)
    lim = node.submit(T0 + 30, ES, "lim", OrderAction.BUY, OrderType.LIMIT, 1, 18900, None)
    working(node, lim, T0 + 30)
    assert node.kill("manual", T0 + 40)  # cancels the limit, closes the bracket
    journal = Journal(tmp_path / "j.sqlite")
    journal.append_many(sink.entries)
    got = replay_desk(list(journal.events(client="nt")), OrderDesk(ACCT))
    assert got.mismatches == []
    assert sorted(o.cid for o in got.desk.orders.working()) == sorted(
        o.cid for o in node.desk.orders.working())  # fmt: skip
    mine = node.desk.positions.position(ACCT, "ESH4")
    theirs = got.desk.positions.position(ACCT, "ESH4")
    assert (theirs.quantity, theirs.avg_price_ticks) == (mine.quantity, mine.avg_price_ticks) == (
        2, Fraction(19000))  # fmt: skip
    assert got.risk_state is not None and got.risk_state["kill"]


def test_a_host_call_with_no_command_still_records_its_risk_events_and_bracket_ops() -> None:
    """The host's output is skipped only when it is empty (no command, no risk event, no
    bracket operation, no journal): a risk event alone, or a bracket operation alone, still
    goes through; a journal still gets the call's records."""
    from orderflow.trading.risk import Reason, RiskEvent

    node = node_of(strategy=True)
    host = node.host(ES)
    mark = node._host_mark(host)
    node._host_out(host, [], mark, 5)  # nothing happened: nothing recorded
    assert node.events == [] and not node.take()
    host.risk_events.append(RiskEvent(Reason.DAILY_LOSS_LIMIT, False, 6))
    node._host_out(host, [], mark, 6)
    assert [e["reason"] for e in node.events] == [str(Reason.DAILY_LOSS_LIMIT)]
    node.desk.brackets.op_log = [{"op": "cancel", "now": 7, "bracket": "b1"}]
    node._host_out(host, [], node._host_mark(host), 7)
    assert node.desk.brackets.op_log == []  # taken (for a journal; none here)
    sink = ListSink()
    journalled = node_of(strategy=True, sink=sink)
    h2 = journalled.host(ES)
    m2 = journalled._host_mark(h2)
    h2.decisions.append(h2.decisions[-1] if h2.decisions else _decision(8))
    journalled._host_out(h2, [], m2, 8)
    assert [e.kind for e in sink.entries] == ["strategy", "strategy", "risk_state"]


def _decision(t: int) -> Any:
    from orderflow.trading.host import Decision

    return Decision(t, "enter", "refused:test", "", "")
