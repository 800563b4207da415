"""A trading node's journal records (what each payload holds) and the replay that rebuilds a
node's order desk from them.

Payloads (:func:`command_payload`, :func:`decision_payload`, :func:`report_payload`, ...): the
fields a :class:`~orderflow.trading.node.TradingNode` journals for a command, a risk decision
and NinjaTrader's reconnect report.

Replaying (:func:`replay_desk`): a client's records in journal order drive a fresh
:class:`OrderDesk` through the same calls the live node made (its own commands regenerate
from the reports, and are checked against the journalled ones), so working orders, brackets,
positions and the executions already counted come back as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import msgspec

from orderflow.trading.desk import OrderDesk
from orderflow.trading.journal import JournalEvent
from orderflow.trading.orders import (
    TERMINAL,
    CommandError,
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderType,
    TimeInForce,
)
from orderflow.trading.reconcile import BrokerOrder, BrokerPosition, BrokerReport
from orderflow.trading.risk import OrderIntent, RiskDecision

__all__ = [
    "Replayed",
    "command_payload",
    "decision_fields",
    "decision_payload",
    "replay_desk",
    "report_payload",
]


def command_payload(cmd: OrderCommand, origin: str) -> dict[str, Any]:
    """A command as journalled: the OrderCommand's fields and who issued it (``api``: posted
    to the API; ``flatten``: the engine's flatten; ``desk``: the desk's own, from a report:
    bracket legs, reconciliation). Decodes as an OrderCommand (the extra key is ignored)."""
    return {**msgspec.to_builtins(cmd), "origin": origin}


def decision_fields(decision: RiskDecision, origin: str, **extra: Any) -> dict[str, Any]:
    """A risk decision's journalled fields: accepted or the refusal's code, who asked
    (``api``, ``flatten``, ``desk``) and what else the caller adds (the op, the quantity)."""
    return {**extra, "accepted": decision.accepted, "reason": str(decision.reason),
            "detail": decision.detail, "code": decision.code, "origin": origin}  # fmt: skip


def decision_payload(intent: OrderIntent, decision: RiskDecision, origin: str) -> dict[str, Any]:
    """A risk decision on an order intent as journalled: the intent and the decision."""
    return decision_fields(decision, origin, intent={
        "client_id": intent.client_id, "symbol": intent.symbol, "side": intent.side,
        "qty": intent.qty, "ts_ns": intent.ts_ns, "order_type": intent.order_type,
        "oco": intent.oco})  # fmt: skip


def report_payload(report: BrokerReport) -> dict[str, Any]:
    return {
        "t": report.t,
        "positions": [{"account": p.account, "instrument": p.instrument, "quantity": p.quantity,
                       "avg_price_ticks": p.avg_price_ticks} for p in report.positions],
        "orders": [msgspec.to_builtins(o) for o in report.orders],
    }  # fmt: skip


def _report(p: dict[str, Any]) -> BrokerReport:
    positions = [
        BrokerPosition(x["account"], x["instrument"], x["quantity"], Fraction(x["avg_price_ticks"]))
        for x in p["positions"]
    ]
    orders = []
    for o in p["orders"]:
        orders.append(BrokerOrder(
            o["cid"], o["instrument"], OrderState(o["state"]), o["quantity"], o.get("filled", 0),
            OrderAction(o["action"]) if o.get("action") else None,
            OrderType(o["order_type"]) if o.get("order_type") else None,
            o.get("limit_ticks"), o.get("stop_ticks"), o.get("oco", ""), o.get("account", ""),
        ))  # fmt: skip
    return BrokerReport(p["t"], positions, orders)


@dataclass(slots=True)
class Replayed:
    """One client's desk rebuilt from the journal, and what else the engine keeps of it."""

    desk: OrderDesk
    risk_state: dict[str, Any] | None = None  # the latest RiskState snapshot
    events: list[dict[str, Any]] = field(default_factory=list)  # risk events, oldest first
    flattening: set[str] = field(default_factory=set)
    records: int = 0
    last_seq: int = 0
    last_batch_seq: int = 0
    mismatches: list[str] = field(default_factory=list)  # regenerated != journalled commands
    #: per instrument, the strategy's latest journalled state (``StrategyHost.state``)
    strategy: dict[str, dict[str, Any]] = field(default_factory=dict)


def replay_desk(events: list[JournalEvent], desk: OrderDesk) -> Replayed:
    """Drive ``desk`` with one client's records, in order, as the live engine did."""
    out = Replayed(desk)
    refs: dict[int, int] = {}  # the journalled command's ref -> the replayed one's
    regenerated: list[OrderCommand] = []  # the desk's own commands, not yet matched
    for ev in events:
        out.records += 1
        out.last_seq = ev.seq
        try:
            regenerated += _replay_one(ev, out, refs, regenerated)
        except (CommandError, ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
            out.mismatches.append(f"record {ev.seq} ({ev.kind}): {exc}")
    for cmd in regenerated:
        out.mismatches.append(f"{cmd.op} {cmd.cid} regenerated, not journalled")
    return out


def _replay_one(
    ev: JournalEvent, out: Replayed, refs: dict[int, int], regenerated: list[OrderCommand]
) -> list[OrderCommand]:
    """One record applied to the desk; the desk's own commands it gave."""
    desk, orders = out.desk, out.desk.orders
    p, t = ev.payload, ev.ts_ns
    if ev.kind == "order_update":
        upd = msgspec.json.decode(ev.raw, type=OrderEvent)
        if upd.state in TERMINAL:
            out.flattening.discard(upd.cid)
        return desk.apply_update(t, upd, ev.instrument)[1]
    if ev.kind == "execution":
        return desk.apply_fill(t, msgspec.json.decode(ev.raw, type=Fill)).commands
    if ev.kind == "position":
        desk.apply_position(p["account"], ev.instrument, p["quantity"],
                            Fraction(p["avg_price_ticks"]))  # fmt: skip
    elif ev.kind == "command":
        _replay_command(ev, out, refs, regenerated)
    elif ev.kind == "command_ack":
        orders.acknowledge(refs.get(p["ref"], p["ref"]), p["status"], p.get("reason", ""), t)
    elif ev.kind == "connection":
        desk.connection_lost()
        if p.get("up") and not p.get("awaiting_report"):
            orders.reconciled = True
    elif ev.kind == "reconcile":
        return desk.reconcile(_report(p), t).commands
    elif ev.kind == "risk_event":
        out.events.append({"reason": p["reason"], "flatten": p["flatten"], "t": p["ts_ns"],
                           "detail": p["detail"]})  # fmt: skip
    elif ev.kind == "risk_state":
        out.risk_state = p
    elif ev.kind == "batch":
        out.last_batch_seq = max(out.last_batch_seq, int(p.get("seq", 0)))
    elif ev.kind == "bracket":  # the strategy's bracket operations regenerate their commands
        if p["op"] == "submit":
            orders.note_cid(p["bracket"])
        return desk.brackets.replay(p)
    elif ev.kind == "strategy" and p.get("intent") == "state":
        if isinstance(p.get("state"), dict):
            out.strategy[ev.instrument] = p["state"]
    elif ev.kind == "strategy" and p.get("entry_id"):
        orders.note_cid(p["entry_id"])  # a refused entry's cid was drawn all the same
    return []


def _replay_command(
    ev: JournalEvent, out: Replayed, refs: dict[int, int], regenerated: list[OrderCommand]
) -> None:
    p, t, orders = ev.payload, ev.ts_ns, out.desk.orders
    origin, op, cid = p.get("origin", "api"), p["op"], p["cid"]
    got: OrderCommand | None
    if origin == "desk":
        got = regenerated.pop(0) if regenerated else None
        if got is None or (got.op, got.cid) != (op, cid):
            out.mismatches.append(
                f"{op} {cid} journalled, the replay gave "
                f"{'nothing' if got is None else f'{got.op} {got.cid}'}"
            )
    elif op == "submit":
        if origin == "flatten":  # its cid came from the desk's counter: draw it again
            drawn = orders.new_cid(".flat")
            if drawn != cid:
                out.mismatches.append(f"flatten cid {cid} journalled, the replay drew {drawn}")
            out.flattening.add(cid)
        got = orders.submit(
            t, p["instrument"], OrderAction(p["action"]), OrderType(p["order_type"]),
            p["quantity"], p.get("limit_ticks"), p.get("stop_ticks"),
            tif=TimeInForce(p["tif"]) if p.get("tif") else TimeInForce.GTC,
            oco=p.get("oco", ""), cid=cid, internal=True,
        )  # fmt: skip
    elif op == "change":
        got = orders.change(t, cid, p.get("quantity"), p.get("limit_ticks"), p.get("stop_ticks"))
    else:
        got = orders.cancel(t, cid)
    if got is not None:
        refs[int(p["ref"])] = got.ref
