"""The server trading engine's journal: what it writes (one transaction per unit of work) and
how a restarted server rebuilds each client's order desk from it.

Writing (:class:`JournalWriter`): the engine adds records while it handles one thing (a batch
of order reports, an API command, a report, an acknowledgement, a kill) and commits them in one
transaction before anything of it leaves the process: no command goes on the wire, no ack goes
back to the bridge and no API answer is given before the records it depends on are durable.
A failed commit keeps the records in memory, in order, and writes them with the next commit
that succeeds (NinjaTrader's reports are facts: they are applied whatever the journal says);
the caller refuses the commands of a failed commit (``journal_unavailable``).

Replaying (:func:`replay_desk`): a client's records in journal order drive a fresh
:class:`OrderDesk` through the same calls the live engine made (its own commands regenerate
from the reports, and are checked against the journalled ones), so working orders, brackets,
positions and the executions already counted come back as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import msgspec

from orderflow.trading.desk import OrderDesk
from orderflow.trading.journal import Entry, Journal, JournalEvent
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
    "JournalWriter",
    "Replayed",
    "command_payload",
    "decision_fields",
    "decision_payload",
    "replay_desk",
    "report_payload",
]

log = logging.getLogger("orderflow.server")

#: records kept in memory while the journal fails; beyond, the oldest are dropped (counted)
MAX_BACKLOG = 100_000


class JournalWriter:
    """Records of one unit of work, committed together (one sync)."""

    def __init__(self, journal: Journal, on_alert: Callable[[str, str, str], None] | None = None):
        self.journal = journal
        self.on_alert = on_alert
        self.pending: list[Entry] = []
        self.failing: str | None = None  # the last commit's error while it fails
        self.commits = 0
        self.records = 0
        self.failures = 0
        self.dropped = 0
        self.unstorable = 0
        self.commit_ns_total = 0
        self.commit_ns_max = 0

    def add(self, entry: Entry) -> None:
        """Queue a record for the next commit. A record no journal could store (a time
        beyond int64, a payload that does not encode) is dropped here, logged and alerted
        (``journal_unstorable``): kept, it would fail every later commit and with them every
        command, the engine's own flatten included."""
        try:
            Journal.row_of(entry)
        except (ValueError, TypeError, OverflowError) as exc:
            self.unstorable += 1
            log.error("journal %s: record %s dropped: %s", self.journal.path, entry.kind, exc)
            if self.on_alert is not None:
                self.on_alert("journal_unstorable", entry.instrument, f"{entry.kind}: {exc}")
            return
        self.pending.append(entry)
        if len(self.pending) > MAX_BACKLOG:
            del self.pending[0]
            self.dropped += 1

    def commit(self) -> bool:
        """Write what was added in one transaction; False (kept for the next try, alerted
        once per outage) when the journal cannot take it."""
        if not self.pending:
            return self.failing is None
        t0 = time.perf_counter_ns()
        try:
            if not self.journal.path.exists():  # SQLite would write on into the unlinked file
                raise FileNotFoundError(f"{self.journal.path} was removed: restart the server")
            self.journal.append_many(self.pending)
        except Exception as exc:  # sqlite3.Error, OSError (disk full, locked, removed)
            self.failures += 1
            if self.failing is None:
                log.error("journal %s: commit failed: %s", self.journal.path, exc)
                if self.on_alert is not None:
                    self.on_alert("journal_unavailable", "", f"{self.journal.path}: {exc}")
            self.failing = f"{type(exc).__name__}: {exc}"
            return False
        dt = time.perf_counter_ns() - t0
        self.commits += 1
        self.records += len(self.pending)
        self.commit_ns_total += dt
        self.commit_ns_max = max(self.commit_ns_max, dt)
        self.pending = []
        if self.failing is not None:
            log.warning("journal %s: writing again", self.journal.path)
        self.failing = None
        return True

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.journal.path), "ok": self.failing is None, "error": self.failing,
            "commits": self.commits, "records": self.records, "failures": self.failures,
            "backlog": len(self.pending), "dropped": self.dropped,
            "unstorable": self.unstorable,
            "commit_us_mean": round(self.commit_ns_total / self.commits / 1e3, 1)
            if self.commits else None,
            "commit_us_max": round(self.commit_ns_max / 1e3, 1),
        }  # fmt: skip


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
