"""The trading engine wired into the server: one :class:`OrderDesk` and one
:class:`RiskManager` per bridge client, fed the order reports of the sequenced batches. The
desk is the one record of orders and fills; the server's :class:`~orderflow.server.outbox.Outbox`
only carries the commands (numbering, acknowledgement, resend, expiry).

Transport-free (the Hub owns it; the app only pushes the commands it returns):

- NinjaTrader's order updates, executions and positions of a batch are mapped onto the desk's
  structs (``order_event`` / ``fill_event``; fees from the broker profile, the commission from
  the execution or, when NinjaTrader reports none, the profile's); a new fill moves the risk
  manager's position and its realised P&L (net of commission and fees, per fill), prints mark
  the positions and give the open P&L;
- a command posted to the API goes through the desk (cid, prices, the reconciliation gate)
  and :meth:`RiskManager.check` before it goes to the outbox; a refused one raises
  :class:`RequestError` (HTTP 422, ``field: "risk"`` and ``reason``: the risk code) and is
  never sent;
- a risk event that asks to flatten, the kill switch, and the desk's own commands (bracket
  legs, reconciliation) come back as wire commands for the app to push.

The risk manager is fed the server's wall clock (its day, rate and staleness rules are about
now), never NinjaTrader's event times.

With a :class:`~orderflow.trading.journal.Journal` every input of the desk and the risk
manager, every command and every risk decision, event and state is journalled; the records of
one unit of work (a batch of order reports, an API command, an acknowledgement, a report, a
kill) commit in one transaction before any of its effects leave the process (a command on the
wire, the batch's ack, the API's answer). A command whose records could not be committed is
never sent: it is refused with ``journal_unavailable``. At start the Hub restores each
client's desk (by replaying its records) and its risk state (the latest snapshot) from the
journal (:func:`orderflow.server.journal_start.restore`); the client's gate stays shut until
NinjaTrader's report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from orderflow.core.errors import OrderflowError, RequestError
from orderflow.engine.pipeline import Pipeline
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Batch, Command, Report
from orderflow.server.journalling import (
    JournalWriter,
    command_payload,
    decision_fields,
    decision_payload,
    report_payload,
)
from orderflow.server.outbox import Outbox
from orderflow.server.report_checks import check_report
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.desk import OrderDesk
from orderflow.trading.host import StrategyHost
from orderflow.trading.journal import Entry, Journal
from orderflow.trading.money import price_to_ticks_exact
from orderflow.trading.orders import (
    TERMINAL,
    CommandError,
    OrderAction,
    OrderCommand,
    OrderState,
    OrderType,
    fill_event,
    order_event,
)
from orderflow.trading.params import ServerTradingParams, TradingParams
from orderflow.trading.reconcile import BrokerOrder, BrokerPosition, BrokerReport, StartBehavior
from orderflow.trading.risk import (
    OrderIntent,
    PendingOrder,
    RiskDecision,
    RiskEvent,
    RiskManager,
    register_exits,
)
from orderflow.trading.sessions import TradingSessions
from orderflow.trading.strategy import SignalStrategy, split_targets

__all__ = ["ClientTrading", "ServerTrading", "ServerTradingParams"]

#: the desk's alerts raised on the server
_RAISED = frozenset({"overfill", "order_rejected"})


def _wire(msg: str, reason: str, status: int = 422) -> RequestError:
    return RequestError(msg, field="risk", reason=reason, status=status)


@dataclass
class ClientTrading:
    """One bridge client's desk and risk manager, and the command_seq -> desk ref map."""

    client: str
    desk: OrderDesk
    risk: RiskManager
    refs: dict[int, int] = field(default_factory=dict)  # command_seq -> OrderCommand.ref
    awaiting_report: bool = False
    reconciliations: int = 0
    last_reconcile: dict[str, Any] | None = None
    flattening: set[str] = field(default_factory=set)  # cids of our flatten orders
    flatten_after_report: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)  # risk events, oldest first
    restored: dict[str, Any] | None = None  # what the journal gave back at start
    hosts: dict[str, StrategyHost] = field(default_factory=dict)  # by instrument key
    data_ns: int = 0  # the latest event time of the client's data (the ``data`` clock)
    alerted: int = 0  # the desk's alerts already raised on the server

    def status(self) -> dict[str, Any]:
        return {
            "reconciled": self.desk.orders.reconciled,
            "restored": self.restored,
            "awaiting_report": self.awaiting_report,
            "reconciliations": self.reconciliations,
            "last_reconcile": self.last_reconcile,
            "risk": self.risk.status(),
            "events": list(self.events[-20:]),
            "desk": dict(self.desk.orders.counters + self.desk.counters),
            "strategy": {key: host.status() for key, host in self.hosts.items()},
        }


class ServerTrading:
    """Every client's :class:`ClientTrading`, and the mapping between them and the wire."""

    def __init__(
        self,
        outbox: Outbox,
        params: TradingParams | None = None,
        server: ServerTradingParams | None = None,
        journal: Journal | None = None,
        on_alert: Callable[[str, str, str], None] | None = None,
    ) -> None:
        #: the transport: numbers the commands per client, resends, expires (the desk
        #: keeps the orders); its timeout is the desks' command timeout too
        self.wire = outbox
        self.params = params or TradingParams()
        self.server = server or ServerTradingParams()
        StartBehavior(self.server.start_behavior)  # a wrong name fails at start-up
        self.broker: BrokerProfile = self.params.broker.build()
        self.clients: dict[str, ClientTrading] = {}
        self._sessions: dict[str, TradingSessions] = {}
        #: (client, command) to push; the app drains it after each call that may add some
        self.outbox: list[tuple[str, Command]] = []
        #: the Hub's (client, instrument key) -> the client's name for it
        self.names: dict[tuple[str, str], str] = {}
        self.on_alert = on_alert
        self.writer = JournalWriter(journal, on_alert) if journal is not None else None
        #: the engine's own commands of the current unit of work, sent once it is journalled
        self._deferred: list[tuple[ClientTrading, OrderCommand]] = []
        #: per client, the last batch whose order reports are journalled (recovery from a
        #: recording feeds the engine only the batches after it)
        self.journalled_batch: dict[str, int] = {}
        #: (reason, detail) of a kill every new client starts with until an operator resets
        #: it (a journal missing or repaired at start: :meth:`hold`)
        self.held: tuple[str, str] | None = None

    # ---- per client ----------------------------------------------------------------------
    def of(self, client: str) -> ClientTrading:
        ct = self.clients.get(client)
        if ct is None:
            desk = OrderDesk(self.server.account, timeout_ns=self.wire.timeout_ns,
                             start_behavior=StartBehavior(self.server.start_behavior))  # fmt: skip
            desk.brackets.op_log = []  # journalled (and emptied) after each unit of work
            risk = RiskManager(self.params.risk, broker=self.broker)
            ct = self.clients[client] = ClientTrading(client, desk, risk)
            if self.held is not None:
                self.hold_client(ct, *self.held)
        return ct

    def _now(self, ct: ClientTrading) -> int:
        """The engine's time for ``ct``: the wall clock, or its data's (``clock: data``)."""
        if self.server.clock == "data" and ct.data_ns:
            return ct.data_ns
        return time.time_ns()

    # ---- the strategy ----------------------------------------------------------------------
    def market(
        self, client: str | None, inst: Instrument, pipeline: Pipeline, new_from: int = 0
    ) -> None:
        """After a batch of the client's market data went through the instrument's pipeline:
        the strategy (``trading.server.strategy``) decides, on the data's time; its commands
        are journalled and sent like the engine's own. Nothing while the client's gate is shut
        (before NinjaTrader's report, waiting until flat). ``new_from``: how many accumulated
        signals the pipeline held before this batch; a host made now takes only the later ones
        as new (a server restarted on a recovered book, or the strategy switched on
        mid-session, must not enter on a signal from an hour ago)."""
        if client is None or not pipeline.last_ts:
            return
        if not self.server.strategy and client not in self.clients:
            return  # no engine state for this client: nothing to move
        ct = self.of(client)
        ct.data_ns = max(ct.data_ns, pipeline.last_ts)  # the data clock moves with any data
        if not self.server.strategy or ct.awaiting_report or not ct.desk.orders.reconciled:
            return
        fresh = (inst.contract or inst.symbol) not in ct.hosts
        host = self._host(ct, inst)
        if fresh:
            host.catch_up(pipeline, new_from)
        mark = self._host_mark(host)
        cmds = host.on_market(pipeline)
        self._host_out(ct, host, cmds, mark, pipeline.last_ts)
        if ct.risk.flatten_requested:  # what no live entry of the strategy holds
            self.flatten(ct)
        self._flush()

    def _host(self, ct: ClientTrading, inst: Instrument) -> StrategyHost:
        key = inst.contract or inst.symbol
        host = ct.hosts.get(key)
        if host is None:
            self._calendar(ct, inst)
            cal = ct.risk.sessions.get(inst.symbol)
            host = ct.hosts[key] = StrategyHost(
                inst, SignalStrategy(self.params.strategy), self.params, desk=ct.desk,
                risk=ct.risk, sessions=cal, broker=self.broker,
            )  # fmt: skip
        return host

    @staticmethod
    def _host_mark(host: StrategyHost) -> tuple[int, int]:
        return len(host.decisions), len(host.risk_events)

    def _host_out(
        self, ct: ClientTrading, host: StrategyHost, cmds: list[OrderCommand],
        mark: tuple[int, int], now: int,
    ) -> None:  # fmt: skip
        """What one call of the host did, journalled in the order the replay needs: the
        bracket operations (they regenerate their commands), the decisions (refused entries
        keep their cid), the risk events; then its commands go out like the desk's own."""
        self._rec_brackets(ct)
        for d in host.decisions[mark[0] :]:
            self._rec(ct, "strategy", d.ts_ns, {"intent": d.intent, "outcome": d.outcome,
                                                "entry_id": d.entry_id, "detail": d.detail},
                      host.key, d.entry_id)  # fmt: skip
        events = host.risk_events[mark[1] :]
        self._rec_risk_events(ct, events)  # the host flattened its entries itself
        for cmd in cmds:
            self._issue(ct, cmd, registered=True)
        if cmds or events or len(host.decisions) > mark[0]:
            self._rec_state(ct, now)

    def _rec_brackets(self, ct: ClientTrading) -> None:
        log = ct.desk.brackets.op_log
        if log:
            for rec in log:
                self._rec(ct, "bracket", int(rec["now"]), rec, cid=rec["bracket"])
            log.clear()

    def _calendar(self, ct: ClientTrading, inst: Instrument) -> None:
        """The session calendar of the instrument's product, built once (it takes a while)."""
        if not self.server.use_sessions or inst.symbol in ct.risk.sessions:
            return
        cal = self._sessions.get(inst.symbol)
        if cal is None:
            cal = self._sessions[inst.symbol] = TradingSessions(inst, self.params.sessions)
        ct.risk.sessions[inst.symbol] = cal

    # ---- the journal ---------------------------------------------------------------------
    def _rec(
        self,
        ct: ClientTrading,
        kind: str,
        ts_ns: int,
        payload: Any,
        instrument: str = "",
        cid: str = "",
        day: str | None = None,
        account: str | None = None,
    ) -> None:
        if self.writer is not None:
            acct = ct.desk.orders.account if account is None else account
            self.writer.add(Entry(kind, ts_ns, payload, instrument, acct, cid, day, ct.client))

    def _rec_state(self, ct: ClientTrading, ts_ns: int) -> None:
        if self.writer is not None:
            state = ct.risk.state
            self._rec(ct, "risk_state", ts_ns, state.to_dict(), day=state.day)

    def _rec_command(self, ct: ClientTrading, cmd: OrderCommand, origin: str) -> None:
        self._rec(ct, "command", cmd.t, command_payload(cmd, origin), cmd.instrument, cmd.cid)

    def _rec_decision(self, ct: ClientTrading, intent: OrderIntent, decision: RiskDecision,
                      origin: str) -> None:  # fmt: skip
        """The decision and the state after it (an accepted order already counted)."""
        if self.writer is None:
            return
        payload = decision_payload(intent, decision, origin)
        self._rec(ct, "risk_decision", intent.ts_ns, payload, intent.symbol, intent.client_id)
        self._rec_state(ct, intent.ts_ns)

    def _commit(self) -> bool:
        return self.writer is None or self.writer.commit()

    def _flush(self) -> None:
        """End of a unit of work: commit its records, then send the engine's own commands
        (or refuse them all when the commit failed: never an order that is not journalled)."""
        self._desk_alerts()
        if not self._deferred and (self.writer is None or not self.writer.pending):
            return
        deferred, self._deferred = self._deferred, []
        ok = self._commit()
        for ct, cmd in deferred:
            if not ok:
                self._unjournalled(ct, cmd)
                continue
            inst = get_instrument(cmd.instrument)
            try:
                command = self._send(ct, cmd, inst, self.wire_name(ct.client, inst))
            except RequestError:
                ct.desk.counters["engine_commands_refused"] += 1
                continue
            self.outbox.append((ct.client, command))
        if ok and self.writer is not None and self.writer.pending:
            self._commit()  # what the outbox refused

    def _desk_alerts(self) -> None:
        """Raise the desks' new overfill and rejection alerts on the server (a command's
        timeout is the outbox's alert)."""
        for ct in self.clients.values():
            alerts = ct.desk.alerts
            if ct.alerted == len(alerts):
                continue
            for kind, cid, text in alerts[ct.alerted :]:
                if kind in _RAISED and self.on_alert is not None:
                    order = ct.desk.orders.orders.get(cid)
                    self.on_alert(kind, order.instrument if order else cid, f"{cid}: {text}")
            ct.alerted = len(alerts)

    def _unjournalled(self, ct: ClientTrading, cmd: OrderCommand) -> None:
        """A command whose records did not commit: refused, as if the bridge had."""
        now = self._now(ct)
        ct.desk.orders.acknowledge(cmd.ref, "refused", "journal_unavailable", now)
        ct.risk.on_order_done(cmd.cid)
        ct.flattening.discard(cmd.cid)
        ct.desk.counters["journal_unavailable_refused"] += 1
        self._rec(ct, "command_ack", now, {"ref": cmd.ref, "cid": cmd.cid, "status": "refused",
                                           "reason": "journal_unavailable"},
                  cmd.instrument, cmd.cid)  # fmt: skip
        self._rec_state(ct, now)
        if self.on_alert is not None:
            self.on_alert(
                "journal_unavailable",
                cmd.instrument,
                f"{cmd.op} {cmd.cid} not sent: the journal cannot be written",
            )

    def journal_status(self) -> dict[str, Any] | None:
        return None if self.writer is None else self.writer.status()

    def unjournalled(self, client: str | None, batch: Batch) -> bool:
        """A recorded batch (recovery) with order reports the journal does not have: the
        process died between recording and journalling it."""
        return (client is not None and bool(batch.orders or batch.executions or batch.positions)
                and batch.seq > self.journalled_batch.get(client, 0))  # fmt: skip

    # ---- connection and reconciliation ---------------------------------------------------
    def connected(self, client: str, report: bool) -> None:
        """A (re)connect after welcome: the gate closes until NinjaTrader's report arrives;
        a client that will send none opens it at once unless ``require_report``."""
        ct = self.of(client)
        now = self._now(ct)
        awaiting = report or self.server.require_report
        self._rec(ct, "connection", now, {"up": True, "report": report,
                                          "awaiting_report": awaiting})  # fmt: skip
        ct.desk.connection_lost()
        self._risk_events(ct, ct.risk.on_connection(True, now))
        self._rec_state(ct, now)
        ct.awaiting_report = awaiting
        if not ct.awaiting_report:
            ct.desk.orders.reconciled = True
            ct.desk.orders.counters["reconcile_skipped"] += 1
            if ct.flatten_after_report:  # no report will come: flatten our own picture
                ct.flatten_after_report = False
                self.flatten(ct)
        self._flush()

    def disconnected(self, client: str) -> None:
        ct = self.clients.get(client)
        if ct is None:
            return
        now = self._now(ct)
        self._rec(ct, "connection", now, {"up": False})
        ct.desk.connection_lost()
        self._risk_events(ct, ct.risk.on_connection(False, now))
        self._rec_state(ct, now)
        self._flush()

    def report(self, client: str, msg: Report) -> dict[str, Any]:
        """NinjaTrader's positions and working orders after a (re)connect: the truth. A report
        :func:`check_report` refuses changes nothing (RequestError naming the field)."""
        check_report(msg)
        ct = self.of(client)
        positions = []
        for p in msg.positions:
            inst = get_instrument(p.instrument)
            qty = -p.quantity if p.market_position == "Short" else p.quantity
            if p.market_position == "Flat":
                qty = 0
            avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
            key = inst.contract or inst.symbol
            positions.append(BrokerPosition(p.account or ct.desk.orders.account, key, qty, avg))
        orders = []
        for o in msg.orders:
            inst = get_instrument(o.instrument)
            orders.append(BrokerOrder(
                o.cid, inst.contract or inst.symbol, OrderState(o.state), o.quantity, o.filled,
                OrderAction(o.action) if o.action else None,
                OrderType(o.order_type) if o.order_type else None,
                inst.to_ticks(o.limit_price) if o.limit_price else None,
                inst.to_ticks(o.stop_price) if o.stop_price else None,
                o.oco, o.account,
            ))  # fmt: skip
        now = self._now(ct)
        broker = BrokerReport(msg.t or now, positions, orders)
        self._rec(ct, "reconcile", now, report_payload(broker))
        rec = ct.desk.reconcile(broker, now)
        for account, instrument, _, qty in rec.position_changes:  # for the journal's replay
            avg = next((bp.avg_price_ticks for bp in positions if bp.instrument == instrument
                        and qty), Fraction(0))  # fmt: skip
            self._rec(ct, "position_adopted", broker.t, {"quantity": qty, "avg_price_ticks": avg},
                      instrument, account=account)  # fmt: skip
        for bp in positions:
            ct.risk.set_position(bp.instrument, bp.quantity)
        for acct_inst, pos in ct.desk.positions.positions.items():
            if not any(bp.instrument == acct_inst[1] for bp in positions):
                ct.risk.set_position(acct_inst[1], pos.quantity)
        for cid in rec.missing_orders:  # ended Unknown: no longer working
            ct.risk.on_order_done(cid)
        for cid in rec.adopted_orders:  # NinjaTrader's working orders count for the limits
            order = ct.desk.orders.orders.get(cid)
            if order is not None and not order.terminal and order.action is not None:
                side = 1 if order.action.is_buy else -1
                ct.risk.state.pending.setdefault(cid, PendingOrder(
                    order.instrument, side, order.remaining, order.oco or None, False))  # fmt: skip
        ct.awaiting_report = False
        ct.reconciliations += 1
        ct.last_reconcile = {
            "t": now, "behavior": str(rec.behavior), "blocked": rec.blocked,
            "adopted_orders": rec.adopted_orders, "missing_orders": rec.missing_orders,
            "updated_orders": rec.updated_orders,
            "position_changes": [list(c) for c in rec.position_changes],
        }  # fmt: skip
        for cmd in rec.commands:
            self._issue(ct, cmd)
        if ct.flatten_after_report or ct.risk.flatten_requested:
            ct.flatten_after_report = False
            self.flatten(ct)
        self._rec_state(ct, now)
        self._flush()
        return ct.last_reconcile

    # ---- what NinjaTrader reports in a batch ---------------------------------------------
    def apply_batch(self, client: str | None, inst: Instrument, batch: Batch) -> dict[str, int]:
        """The batch's order reports applied to ``client``'s desk; how many order updates,
        new executions (a repeated ``execution_id`` counts none) and position updates."""
        if client is None or not (batch.orders or batch.executions or batch.positions):
            return {}
        counters = self.of(client).desk.orders.counters
        before = counters["executions"]
        try:
            self._apply_reports(client, inst, batch)
        finally:  # whatever happened, what was applied is journalled (and its commands sent)
            self._flush()
        return {"orders": len(batch.orders), "executions": counters["executions"] - before,
                "positions": len(batch.positions)}  # fmt: skip

    def _apply_reports(self, client: str, inst: Instrument, batch: Batch) -> None:
        ct = self.of(client)
        desk, risk = ct.desk, ct.risk
        key = inst.contract or inst.symbol
        now = self._now(ct)
        done: list[tuple[str, int]] = []
        for u in batch.orders:
            try:
                ev = order_event(inst, u.cid, u.state, u.t, u.quantity, u.filled, u.limit_price,
                                 u.stop_price, u.order_id, u.error, u.comment)  # fmt: skip
            except (OrderflowError, ValueError):
                desk.counters["reports_unmapped"] += 1
                continue
            self._rec(ct, "order_update", now, ev, key, ev.cid)
            host = ct.hosts.get(key)
            if host is not None:  # the strategy's instrument: its host applies it
                mark = self._host_mark(host)
                self._host_out(ct, host, host.on_order_update(now, ev), mark, now)
                if ev.state in TERMINAL:
                    ct.flattening.discard(u.cid)
                continue
            _, cmds = desk.apply_update(now, ev, key)
            self._rec_brackets(ct)
            if ev.state in TERMINAL:
                done.append((u.cid, u.filled))
                ct.flattening.discard(u.cid)
            for cmd in cmds:
                self._issue(ct, cmd)
        costs = self.broker.costs_for(inst.symbol)
        fees_per = Decimal(str(costs.exchange_fee_per_side + costs.clearing_fee_per_side
                               + costs.nfa_fee_per_side))  # fmt: skip
        commission_per = Decimal(str(costs.commission_per_side))
        for e in batch.executions:
            commission = (Decimal(str(e.commission)) if e.commission
                          else commission_per * e.quantity)  # fmt: skip
            try:
                fill = fill_event(inst, e.execution_id, e.cid, e.t, e.price, e.quantity,
                                  e.market_position, commission, fees_per * e.quantity,
                                  desk.orders.account)  # fmt: skip
            except (OrderflowError, ValueError):
                desk.counters["reports_unmapped"] += 1
                continue
            self._rec(ct, "execution", now, fill, key, fill.cid)
            host = ct.hosts.get(key)
            if host is not None:  # the host follows the fill for the risk manager too
                mark = self._host_mark(host)
                self._host_out(ct, host, host.on_fill(now, fill), mark, now)
                continue
            pos = desk.positions.position(desk.orders.account, key)
            before = pos.net_realized
            res = desk.apply_fill(now, fill)
            if not res.new:
                continue
            if e.cid in risk.state.pending:
                risk.on_fill(e.cid, e.quantity)
            risk.set_position(key, pos.quantity)  # NinjaTrader's executions are the truth
            # the fill moves realised and open P&L together (the rest of the position is
            # marked at its price): both are in before the limits are evaluated, once
            risk.roll_day(now)
            risk.state.unrealised = self._open_pnl(ct)
            events = risk.on_realised(float(pos.net_realized - before), now, bool(res.closed))
            self._risk_events(ct, events)
            for cmd in res.commands:
                self._issue(ct, cmd)
        for p in batch.positions:
            qty = -p.quantity if p.market_position == "Short" else p.quantity
            qty = 0 if p.market_position == "Flat" else qty
            try:
                avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
            except (OrderflowError, ValueError):
                desk.counters["reports_unmapped"] += 1
                continue
            self._rec(ct, "position", now, {"account": p.account, "quantity": qty,
                                            "avg_price_ticks": avg}, key)  # fmt: skip
            desk.apply_position(p.account, key, qty, avg)
        # NinjaTrader reports Filled before the execution: an order ends for risk after the
        # batch's executions, and one reported filled is never an unfilled entry (which would
        # give its trade back to max_trades_per_day) even if its execution comes later
        for cid, filled in done:
            pending = risk.state.pending.get(cid)
            if pending is not None and filled > pending.filled:
                pending.filled = filled
            risk.on_order_done(cid)
        if batch.seq:
            self._rec(ct, "batch", now, {"seq": batch.seq, "instrument": batch.instrument})
            self.journalled_batch[client] = max(self.journalled_batch.get(client, 0), batch.seq)
        self._rec_state(ct, now)

    def prints(self, client: str | None, inst: Instrument, last_ticks: int) -> None:
        """The last print's price marks every client's position in the instrument."""
        for ct in self.clients.values():
            ct.desk.mark(inst.contract or inst.symbol, last_ticks)
            if any(p.quantity for p in ct.desk.positions.positions.values()):
                self._risk_events(ct, ct.risk.on_unrealised(self._open_pnl(ct), self._now(ct)))
        self._flush()  # only a limit reached by the marks wrote anything

    def book(
        self,
        crossed: bool,
        client: str | None = None,
        data_ns: int = 0,
        feeders: Collection[str] = (),
    ) -> None:
        """A book update (server's receive time, or ``data_ns``, the data's time, on the data
        clock); ``crossed`` outside the pre-open. It counts for the client that fed it when
        that client trades; else for every trading client but ``feeders`` (the clients that
        feed books of their own: another client's fresh book must not hide that theirs is
        stale)."""
        if client is not None and data_ns and client in self.clients:
            ct = self.clients[client]
            ct.data_ns = max(ct.data_ns, data_ns)
        if client is not None and client in self.clients:
            targets = [self.clients[client]]
        else:
            targets = [ct for name, ct in self.clients.items() if name not in feeders]
        for ct in targets:
            self._risk_events(ct, ct.risk.on_book(self._now(ct), crossed))
        self._flush()  # only an automatic kill wrote anything

    @staticmethod
    def _open_pnl(ct: ClientTrading) -> float:
        return float(sum((p.unrealized() for p in ct.desk.positions.positions.values()),
                         Decimal(0)))  # fmt: skip

    # ---- commands ------------------------------------------------------------------------
    def command(self, client: str, inst: Instrument, wire: str, body: dict[str, Any]) -> Command:
        """A command posted to the API: through the desk and the risk check, then issued to
        the outbox. RequestError (nothing sent) when the desk or the risk manager refuses."""
        ct = self.of(client)
        desk, risk = ct.desk, ct.risk
        key = inst.contract or inst.symbol
        now = self._now(ct)
        op, cid = body.get("op"), body.get("cid")
        if not isinstance(cid, str):
            raise RequestError("cid: required", field="cid")
        origin = "api"
        try:
            if op in ("submit", "bracket"):
                if ct.awaiting_report or not desk.orders.reconciled:
                    why = (
                        "waiting for NinjaTrader's report of positions and orders"
                        if ct.awaiting_report
                        else "waiting until flat (reconciliation)"
                    )
                    raise _wire(f"risk: not_reconciled: {why}", "not_reconciled")  # fmt: skip
                action, kind = (
                    _enum(OrderAction, body, "action"),
                    _enum(OrderType, body, "order_type"),
                )
                qty = _int(body, "quantity")
                limit, stop = _ticks(inst, body, "limit_price"), _ticks(inst, body, "stop_price")
                oco = str(body.get("oco") or "")
                if cid in desk.orders.orders:
                    raise RequestError(f"cid: {cid!r} is already used (cids are never reused)",
                                       field="cid")  # fmt: skip
                legs = _bracket_legs(body, action, qty) if op == "bracket" else None
                self._calendar(ct, inst)
                intent = OrderIntent.from_action(cid, key, action, qty, now, order_type=kind,
                                                 oco=oco or None)  # fmt: skip
                decision = risk.check(intent)
                self._rec_decision(ct, intent, decision, "api")
                if not decision:
                    desk.counters[f"risk_refused_{decision.reason}"] += 1
                    self._commit()  # a refusal is journalled when it can be; it sends nothing
                    raise _wire(f"risk: {decision.code}", decision.code)
                try:
                    if legs is not None:
                        cmd = self._bracket(ct, key, legs, action, kind, qty, limit, stop, cid,
                                            now)  # fmt: skip
                        origin = "desk"  # the bracket's record regenerates it on replay
                    else:
                        cmd = desk.orders.submit(now, key, action, kind, qty, limit, stop,
                                                 oco=oco, cid=cid)  # fmt: skip
                except (CommandError, RequestError):
                    risk.on_order_done(cid)
                    self._rec_state(ct, now)
                    self._commit()
                    raise
            elif op == "change":
                qty = _int(body, "quantity")
                limit, stop = _ticks(inst, body, "limit_price"), _ticks(inst, body, "stop_price")
                order = desk.orders.orders.get(cid)
                if order is not None and not order.terminal:
                    # a larger order is checked like the order it grows (entry rules, size,
                    # the worst-case position); a smaller or price-only one always passes
                    changed = risk.check_change(cid, qty, now)
                    self._rec(ct, "risk_decision", now,
                              decision_fields(changed, "api", op="change", quantity=qty),
                              key, cid)  # fmt: skip
                    if not changed:
                        desk.counters[f"risk_refused_{changed.reason}"] += 1
                        self._rec_state(ct, now)
                        self._commit()
                        raise _wire(f"risk: {changed.code}", changed.code)
                cmd = desk.orders.change(now, cid, qty, limit, stop)
            elif op == "cancel":
                got = desk.orders.cancel(now, cid)
                if got is None:
                    raise RequestError(f"cid: a cancel of {cid!r} is already pending",
                                       field="cid")  # fmt: skip
                cmd = got
            else:
                raise RequestError("op: submit, bracket, change or cancel", field="op")
        except CommandError as exc:
            field = str(
                exc.details.get("field") or {"bad_quantity": "quantity"}.get(exc.reason, "cid")
            )
            raise RequestError(f"{field}: {exc.reason}: {exc.message}", field=field,
                               reason=exc.reason) from None  # fmt: skip
        self._rec_command(ct, cmd, origin)
        if not self._commit():  # never an order that is not journalled
            self._unjournalled(ct, cmd)
            raise RequestError(
                f"journal: journal_unavailable: {self.writer.failing if self.writer else ''}",
                field="journal",
                reason="journal_unavailable",
                status=503,
            )
        try:
            return self._send(ct, cmd, inst, wire, {"series": body.get("series", 0)})
        finally:
            self._flush()  # the outbox's refusal, if any

    def _bracket(
        self, ct: ClientTrading, key: str, legs: tuple[int, tuple[tuple[int, int], ...]],
        action: OrderAction, kind: OrderType, qty: int, limit: int | None, stop: int | None,
        cid: str, now: int,
    ) -> OrderCommand:  # fmt: skip
        """An entry with its stop and target(s) (:func:`_bracket_legs`), managed by the
        desk's brackets: the legs go out when the entry fills, at their distances from its
        first fill price, resized to what is open. The bracket's record is journalled (a
        replay rebuilds it)."""
        stop_ticks, plan = legs
        try:
            _, cmds = ct.desk.brackets.submit(
                now, key, action, qty, stop_loss_ticks=stop_ticks,
                target_ticks=plan[0][0] if len(plan) == 1 else None,
                scale_out=plan if len(plan) > 1 else (), relative=True, order_type=kind,
                limit_ticks=limit, stop_ticks=stop, cid=cid,
            )  # fmt: skip
        except ValueError as exc:
            raise RequestError(f"stop_ticks: {exc}", field="stop_ticks") from None
        self._rec_brackets(ct)
        return cmds[0]

    def _send(
        self, ct: ClientTrading, cmd: OrderCommand, inst: Instrument, wire: str,
        extra: dict[str, Any] | None = None,
    ) -> Command:  # fmt: skip
        fields = {**cmd.fields(inst), **(extra or {})}
        try:
            command = self.wire.issue(ct.client, fields, wire)
        except RequestError:
            now = self._now(ct)
            ack = {"ref": cmd.ref, "cid": cmd.cid, "status": "refused", "reason": "not issued"}
            self._rec(ct, "command_ack", now, ack, cmd.instrument, cmd.cid)
            ct.desk.orders.acknowledge(cmd.ref, "refused", "not issued", now)
            ct.risk.on_order_done(cmd.cid)
            self._rec_state(ct, now)
            raise
        ct.refs[command.command_seq] = cmd.ref
        return command

    def _issue(self, ct: ClientTrading, cmd: OrderCommand, origin: str = "desk",
               registered: bool = False) -> None:  # fmt: skip
        """A command of the engine itself (bracket leg, reconciliation, flatten): shown to the
        risk manager as an exit (unless the strategy's host did), journalled, and sent to the
        outbox once the unit of work's records are committed (``_flush``); refused on the
        outbox it is counted and dropped."""
        if not registered:
            now = self._now(ct)
            for kind, cid, decision in register_exits(ct.risk, [cmd], cmd.instrument, now):
                ct.desk.counters["exit_sent_despite_risk"] += 1
                self._rec(ct, "risk_decision", now,
                          decision_fields(decision, "desk", op=kind, sent_anyway=True),
                          cmd.instrument, cid)  # fmt: skip
        self._rec_command(ct, cmd, origin)
        self._deferred.append((ct, cmd))

    def wire_name(self, client: str, inst: Instrument) -> str:
        key = inst.contract or inst.symbol
        return self.names.get((client, key), key)

    def acknowledge(self, client: str, command_seq: int, status: str, reason: str) -> None:
        ct = self.clients.get(client)
        ref = ct.refs.get(command_seq) if ct is not None else None
        if ct is not None and ref is not None:
            now = self._now(ct)
            cid = self._cid_of(ct, ref) or ""
            self._rec(ct, "command_ack", now, {"ref": ref, "cid": cid, "status": status,
                                               "reason": reason, "command_seq": command_seq},
                      cid=cid)  # fmt: skip
            ct.desk.orders.acknowledge(ref, status, reason, now)
            order = ct.desk.orders.orders.get(cid)
            if order is not None and order.terminal:
                ct.risk.on_order_done(order.cid)
                self._rec_state(ct, now)
            self._flush()

    @staticmethod
    def _cid_of(ct: ClientTrading, ref: int) -> str | None:
        for order in ct.desk.orders.orders.values():
            if any(pc.command.ref == ref for pc in order.commands):
                return order.cid
        return None

    def expire(self, now: int | None = None) -> None:
        for ct in self.clients.values():
            ct.desk.expire(now if now is not None else self._now(ct))
            if self.server.clock == "wall":
                # the bridge away past the grace, or a book without a trustworthy update for
                # book_stale_ms, trips the kill even when nothing else runs; the book rule
                # once the client's session calendar is known (its first command or strategy
                # decision builds it): the maintenance break and weekends are no staleness
                timed = not self.server.use_sessions or bool(ct.risk.sessions)
                now_ns = self._now(ct)
                events = ct.risk.on_clock(now_ns) if timed else ct.risk.on_time(now_ns)
                if events:
                    self._risk_events(ct, events)
                    self._flush()
        if self.writer is not None and self.writer.failing and self.writer.pending:
            self.writer.commit()  # the journal may be back: write what waited

    # ---- kill switch and flatten ---------------------------------------------------------
    def kill(self, client: str | None = None, reason: str = "manual") -> list[str]:
        names = [client] if client else list(self.clients)
        for name in names:
            ct = self.of(name)
            self._risk_events(ct, [ct.risk.kill(reason, self._now(ct))])
        self._flush()
        return names

    def hold_client(self, ct: ClientTrading, reason: str, detail: str) -> None:
        """Engage ``ct``'s kill switch for ``reason`` (journalled with its state) and alert."""
        if ct.risk.state.kill and ct.risk.state.kill_reason == reason:
            return
        now = time.time_ns()
        self._rec(ct, "note", now, {"action": "hold_kill", "reason": reason, "detail": detail})
        self._risk_events(ct, [ct.risk.kill(reason, now)])
        if self.on_alert is not None:
            self.on_alert(reason, ct.client, detail)

    def hold(self, reason: str, clients: Iterable[str], detail: str) -> None:
        """Hold the kill switch of ``clients``, of every client already known, and of any that
        appears later (:meth:`of`), until an operator resets it."""
        self.held = (reason, detail)
        for name in sorted(set(clients) | set(self.clients)):
            self.hold_client(self.of(name), reason, detail)
        self._flush()

    def release_hold(self) -> None:
        """An operator reset every client: clients that appear later start free too; journalled
        (a ``reset_kill`` note of no client ends a repair's hold of every client)."""
        if self.held is not None:
            reason, _ = self.held
            self.held = None
            if self.writer is not None:
                note = {"action": "reset_kill", "was": reason}
                self.writer.add(Entry("note", time.time_ns(), note))

    def reset_kill(self, client: str | None = None) -> list[str]:
        if client is None:
            self.release_hold()  # an operator reset every client: later ones start free too
        names = [client] if client else list(self.clients)
        for name in names:
            ct = self.of(name)
            now = self._now(ct)
            self._rec(ct, "note", now, {"action": "reset_kill", "was": ct.risk.state.kill_reason})
            ct.risk.reset_kill()
            self._rec_state(ct, now)
        self._flush()
        return names

    def _rec_risk_events(self, ct: ClientTrading, events: list[RiskEvent]) -> None:
        """Limits reached: kept for /api/risk and journalled."""
        for ev in events:
            ct.events.append({"reason": str(ev.reason), "flatten": ev.flatten,
                              "t": ev.ts_ns, "detail": ev.detail})  # fmt: skip
            payload = {"reason": str(ev.reason), "flatten": ev.flatten, "ts_ns": ev.ts_ns,
                       "detail": ev.detail}  # fmt: skip
            self._rec(ct, "risk_event", ev.ts_ns, payload)

    def _risk_events(self, ct: ClientTrading, events: list[RiskEvent]) -> None:
        self._rec_risk_events(ct, events)
        if events:
            self._rec_state(ct, events[-1].ts_ns)
        if any(ev.flatten for ev in events) or (events and ct.risk.flatten_requested):
            if ct.desk.orders.reconciled:
                self.flatten(ct)
            else:  # disconnected or before the report: flatten what the report says is open
                ct.flatten_after_report = True

    def flatten(self, ct: ClientTrading) -> None:
        """Cancel our working entries and close every open position at market (one flatten
        order per position at a time)."""
        now = self._now(ct)
        desk = ct.desk
        for host in ct.hosts.values():  # the strategy's entries close themselves
            mark = self._host_mark(host)
            self._host_out(ct, host, host.flatten(now, "risk_flatten"), mark, now)
        for b in list(desk.brackets.brackets.values()):  # brackets posted to the API
            if b.status not in ("done", "flattening") and b.instrument not in ct.hosts:
                cmds = desk.brackets.close(now, b.id, "risk_flatten")
                self._rec_brackets(ct)
                for cmd in cmds:
                    self._issue(ct, cmd)
        for order in desk.orders.working():
            if desk.brackets.owns(order.cid):
                continue  # a bracket's orders are its own to cancel or flatten
            if order.ours and order.cid not in ct.flattening and not order.cancel_requested:
                try:
                    cancel = desk.orders.cancel(now, order.cid)
                except CommandError:
                    continue
                if cancel is not None:
                    self._issue(ct, cancel, origin="flatten")
        for (_, key), pos in list(desk.positions.positions.items()):
            if not pos.quantity or any(
                desk.orders.orders[c].instrument == key for c in ct.flattening
            ):
                continue
            if any(b.status != "done" and b.instrument == key
                   for b in desk.brackets.brackets.values()):  # fmt: skip
                continue  # a live bracket is flattening it (closed above)
            action = OrderAction.SELL if pos.quantity > 0 else OrderAction.BUY_TO_COVER
            cid = desk.orders.new_cid(".flat")
            intent = OrderIntent.from_action(cid, key, action, abs(pos.quantity), now)
            self._rec_decision(ct, intent, ct.risk.check(intent), "flatten")
            cmd = desk.orders.submit(now, key, action, OrderType.MARKET, abs(pos.quantity),
                                     cid=cid, internal=True)  # fmt: skip
            ct.flattening.add(cid)
            self._issue(ct, cmd, origin="flatten", registered=True)

    def status(self) -> dict[str, Any]:
        return {name: ct.status() for name, ct in self.clients.items()}

    def positions(self) -> list[dict[str, Any]]:
        out = []
        for name, ct in self.clients.items():
            for pos in ct.desk.positions.positions.values():
                out.append({"client": name, **pos.to_dict()})
        return out


def _bracket_legs(
    body: dict[str, Any], action: OrderAction, qty: int
) -> tuple[int, tuple[tuple[int, int], ...]]:
    """A bracket's legs from the request: ``stop_ticks`` and ``target_ticks``, or
    ``targets_ticks`` with ``target_sizes`` (shares; a scale-out), distances in ticks from
    the entry's first fill."""
    if action not in (OrderAction.BUY, OrderAction.SELL_SHORT):
        raise RequestError("action: a bracket enters with Buy or SellShort", field="action")
    stop_ticks = _int(body, "stop_ticks")
    targets = body.get("targets_ticks")
    if targets is None:
        return stop_ticks, ((_int(body, "target_ticks"), qty),)
    sizes = body.get("target_sizes")
    if sizes is None and isinstance(targets, list):
        sizes = [1] * len(targets)
    if (not isinstance(targets, list) or not targets or not isinstance(sizes, list)
            or len(sizes) != len(targets)
            or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                       for x in [*targets, *sizes])):  # fmt: skip
        raise RequestError(
            "targets_ticks: positive integers, nearest first, with as many "
            "positive target_sizes (shares)",
            field="targets_ticks",
        )
    counts = split_targets(qty, sizes)
    return stop_ticks, tuple((t, n) for t, n in zip(targets, counts, strict=True) if n)


def _enum(kind: Any, body: dict[str, Any], name: str) -> Any:
    try:
        return kind(body.get(name))
    except ValueError:
        raise RequestError(f"{name}: required to submit, one of {[str(k) for k in kind]}",
                           field=name) from None  # fmt: skip


def _int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RequestError(f"{name}: a positive integer is required", field=name)
    return value


def _ticks(inst: Instrument, body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if not value:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RequestError(f"{name}: a number is expected", field=name)
    try:
        ticks = inst.to_ticks(float(value))
    except (OrderflowError, ValueError) as exc:
        raise RequestError(f"{name}: {exc}", field=name) from None
    if abs(ticks) > _MAX_ABS_TICKS:  # no market is there; nor can the journal store it
        raise RequestError(f"{name}: {value} is not a price of {inst.symbol}", field=name)
    return ticks


#: no order price beyond this many ticks from zero (the hub's bound on market prices)
_MAX_ABS_TICKS = 1 << 40
