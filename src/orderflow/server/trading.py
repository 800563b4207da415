"""The trading engine wired into the server: one :class:`~orderflow.trading.node.TradingNode`
(order desk, risk manager, strategy hosts) per bridge client, fed from the same sequenced
batches. This module is the server's adapter: it converts the wire's messages
to domain events (:mod:`orderflow.server.wire`), gives each node the server's clock, commits
the journal per unit of work and only then hands the node's commands to the transport outbox
(:attr:`ServerTrading.outbox`). The trading itself is the node's:

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
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import numpy as np

from orderflow.core.errors import RequestError, UnavailableError
from orderflow.engine.pipeline import Pipeline
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Batch, Command, Report
from orderflow.server.journalling import JournalWriter
from orderflow.server.outbox import Outbox
from orderflow.server.report_checks import check_report
from orderflow.server.wire import (
    batch_reports,
    body_enum,
    body_int,
    body_ticks,
    bracket_legs,
    broker_report,
)
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.desk import OrderDesk
from orderflow.trading.journal import Entry, Journal
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import CommandError, OrderAction, OrderCommand, OrderType
from orderflow.trading.params import ServerTradingParams, TradingParams
from orderflow.trading.reconcile import StartBehavior
from orderflow.trading.risk import RiskManager
from orderflow.trading.sessions import TradingSessions, calendar
from orderflow.trading.sizing import paired_instrument
from orderflow.trading.strategy import SignalStrategy, Strategy

__all__ = ["ServerTrading", "ServerTradingParams"]

#: the desk's alerts raised on the server
_RAISED = frozenset({"overfill", "order_rejected"})


class ServerTrading:
    """Every client's :class:`TradingNode`, and the mapping between them and the wire."""

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
        #: per client, the desk's alerts already raised on the server
        self._alerted: dict[str, int] = {}
        self.params = params or TradingParams()
        self.server = server or ServerTradingParams()
        StartBehavior(self.server.start_behavior)  # a wrong name fails at start-up
        self.broker: BrokerProfile = self.params.broker.build()
        self.clients: dict[str, TradingNode] = {}
        #: (client, command) to push; the app drains it after each call that may add some
        self.outbox: list[tuple[str, Command]] = []
        #: the Hub's (client, instrument key) -> the client's name for it
        self.names: dict[tuple[str, str], str] = {}
        self.on_alert = on_alert
        self.writer = JournalWriter(journal, on_alert) if journal is not None else None
        #: the nodes' commands of the current unit of work, sent once it is journalled
        self._deferred: list[tuple[TradingNode, OrderCommand]] = []
        #: per client, command_seq -> the node's OrderCommand.ref
        self.refs: dict[str, dict[int, int]] = {}
        #: per client, the last batch whose order reports are journalled (recovery from a
        #: recording feeds the engine only the batches after it)
        self.journalled_batch: dict[str, int] = {}
        #: (reason, detail) of a kill every new client starts with until an operator resets
        #: it (a journal missing or repaired at start: :meth:`hold`)
        self.held: tuple[str, str] | None = None

    # ---- per client ----------------------------------------------------------------------
    def of(self, client: str) -> TradingNode:
        node = self.clients.get(client)
        if node is None:
            desk = OrderDesk(self.server.account, timeout_ns=self.wire.timeout_ns,
                             start_behavior=StartBehavior(self.server.start_behavior))  # fmt: skip
            desk.brackets.op_log = []  # journalled (and emptied) after each unit of work
            risk = RiskManager(self.params.risk, broker=self.broker)
            node = self.clients[client] = TradingNode(
                desk, risk, self.params, self.broker, client=client,
                strategy=self._strategy if self.server.strategy else None,
                sessions=self._calendar if self.server.use_sessions else None,
                sink=self.writer,
            )  # fmt: skip
            if self.held is not None:
                self.hold_client(node, *self.held)
        return node

    def _strategy(self, inst: Instrument) -> Strategy:
        return SignalStrategy(self.params.strategy)

    def _calendar(self, inst: Instrument) -> TradingSessions:
        """The session calendar of the instrument's product (built once per process)."""
        return calendar(inst, self.params.sessions)

    def _now(self, node: TradingNode) -> int:
        """The engine's time for ``node``: the wall clock, or its data's (``clock: data``)."""
        if self.server.clock == "data" and node.data_ns:
            return node.data_ns
        return time.time_ns()

    def _out(self, node: TradingNode, cmds: Iterable[OrderCommand]) -> None:
        self._deferred += [(node, cmd) for cmd in cmds]

    # ---- the strategy ----------------------------------------------------------------------
    def market(
        self,
        client: str | None,
        inst: Instrument,
        pipeline: Pipeline,
        new_from: int = 0,
        series: Callable[[], Mapping[int, np.ndarray]] | None = None,
    ) -> None:
        """After a batch of the client's market data went through the instrument's pipeline:
        the node's strategy (``trading.server.strategy``) decides, on the data's time; its
        commands are journalled and sent like the engine's own (:meth:`TradingNode.market`).
        ``series``: what gives NinjaTrader's own bar series, for a multi-timeframe filter
        (asked only when the strategy decides)."""
        if client is None or not pipeline.last_ts or not self.moves_for(client):
            return  # no engine state for this client: nothing to move
        node = self.of(client)
        node.data_ns = max(node.data_ns, pipeline.last_ts)  # the data clock moves with any data
        if not node.deciding:
            return
        bars = None if series is None else series()
        self._out(node, node.market(inst, pipeline, self._now(node), new_from, bars))
        self._flush()

    def _commit_due(self) -> bool:
        """Whether a flush has anything to commit: commands deferred for their record, or
        records the journal holds unwritten."""
        return bool(self._deferred) or (self.writer is not None and bool(self.writer.pending))

    def moves_for(self, client: str | None) -> bool:
        """Whether :meth:`market` can do anything for ``client``'s data (a strategy runs, or
        the client has engine state): when not, the caller need not gather its arguments."""
        return client is not None and (self.server.strategy or client in self.clients)

    # ---- the journal ---------------------------------------------------------------------
    def _commit(self) -> bool:
        return self.writer is None or self.writer.commit()

    def _flush(self) -> None:
        """End of a unit of work: commit its records, then send the engine's own commands
        (or refuse them all when the commit failed: never an order that is not journalled)."""
        for node in self.clients.values():  # a call that raised left its commands there
            if node.pending:
                self._out(node, node.take())
        self._desk_alerts()
        if not self._commit_due():
            return
        deferred, self._deferred = self._deferred, []
        ok = self._commit()
        for node, cmd in deferred:
            if not ok:
                self._unjournalled(node, cmd)
                continue
            inst = get_instrument(cmd.instrument)
            try:
                command = self._send(node, cmd, inst, self.wire_name(node.client, inst))
            except RequestError:
                node.desk.counters["engine_commands_refused"] += 1
                continue
            self.outbox.append((node.client, command))
        if ok and self.writer is not None and self.writer.pending:
            self._commit()  # what the outbox refused

    def _desk_alerts(self) -> None:
        """Raise the desks' new overfill and rejection alerts on the server (a command's
        timeout is the outbox's alert)."""
        for name, node in self.clients.items():
            alerts = node.desk.alerts
            seen = self._alerted.get(name, 0)
            if seen == len(alerts):
                continue
            for kind, cid, text in alerts[seen:]:
                if kind in _RAISED and self.on_alert is not None:
                    order = node.desk.orders.orders.get(cid)
                    self.on_alert(kind, order.instrument if order else cid, f"{cid}: {text}")
            self._alerted[name] = len(alerts)

    def _unjournalled(self, node: TradingNode, cmd: OrderCommand) -> None:
        """A command whose records did not commit: refused, as if the bridge had."""
        node.unjournalled(cmd, self._now(node))
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
        node = self.of(client)
        self._out(node, node.connected(self._now(node), report, self.server.require_report))
        self._flush()

    def disconnected(self, client: str) -> None:
        node = self.clients.get(client)
        if node is None:
            return
        self._out(node, node.disconnected(self._now(node)))
        self._flush()

    def report(self, client: str, msg: Report) -> dict[str, Any]:
        """NinjaTrader's positions and working orders after a (re)connect: the truth. A report
        :func:`check_report` refuses changes nothing (RequestError naming the field)."""
        check_report(msg)
        node = self.of(client)
        account = node.desk.orders.account
        now = self._now(node)
        broker = broker_report(msg, account, now)
        self._out(node, node.broker_report(now, broker))
        self._flush()
        assert node.last_reconcile is not None
        return node.last_reconcile

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
        node = self.of(client)
        key = inst.contract or inst.symbol
        now = self._now(node)
        got = batch_reports(inst, batch, self.broker, node.desk.orders.account)
        if got.unmapped:
            node.desk.counters["reports_unmapped"] += got.unmapped
        if got.error is not None:  # no costs for the instrument: its updates, then the error
            self._out(node, node.reports(now, key, got.orders))
            raise got.error
        seq = (batch.seq, batch.instrument) if batch.seq else None
        self._out(node, node.reports(now, key, got.orders, got.fills, got.positions, seq))
        if batch.seq:
            self.journalled_batch[client] = max(self.journalled_batch.get(client, 0), batch.seq)

    def prints(self, client: str | None, inst: Instrument, last_price: float) -> None:
        """The last print's price (on the grid, already checked) marks every client's position
        in the instrument. A desk without any position record is not marked (the mark would
        change nothing: no position, no open P&L for the risk manager); only what it would
        take goes. The price becomes ticks only when some desk is marked."""
        key = inst.contract or inst.symbol
        last_ticks: int | None = None
        for node in self.clients.values():
            if not node.desk.positions.positions:
                if node.pending:
                    self._out(node, node.take())
                continue
            if last_ticks is None:
                last_ticks = inst.to_ticks(last_price)
            self._out(node, node.mark(key, last_ticks, self._now(node)))
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
        clients = self.clients
        if not clients and not self._commit_due():
            return  # no desk to tell and nothing to commit: the flush would do nothing
        fed = clients.get(client) if client is not None else None
        if fed is not None:  # the feeder trades (nearly always): its desk alone
            if data_ns:
                fed.data_ns = max(fed.data_ns, data_ns)
            cmds = fed.book(self._now(fed), crossed)
            if cmds:
                self._out(fed, cmds)
        else:
            for name, node in list(clients.items()):
                if name not in feeders:
                    self._out(node, node.book(self._now(node), crossed))
        self._flush()  # only an automatic kill wrote anything

    # ---- commands ------------------------------------------------------------------------
    def command(self, client: str, inst: Instrument, wire: str, body: dict[str, Any]) -> Command:
        """A command posted to the API: through the node (desk and risk check), then issued
        to the outbox. RequestError (nothing sent) when the desk or the risk manager refuses."""
        node = self.of(client)
        key = inst.contract or inst.symbol
        now = self._now(node)
        op, cid = body.get("op"), body.get("cid")
        if not isinstance(cid, str):
            raise RequestError("cid: required", field="cid")
        try:
            if op in ("submit", "bracket"):
                node.entry_gate()
                action = body_enum(OrderAction, body, "action")
                kind = body_enum(OrderType, body, "order_type")
                qty = body_int(body, "quantity")
                limit = body_ticks(inst, body, "limit_price")
                stop = body_ticks(inst, body, "stop_price")
                oco = str(body.get("oco") or "")
                node.cid_free(cid)
                legs = bracket_legs(body, action, qty) if op == "bracket" else None
                cmd = node.submit(now, inst, cid, action, kind, qty, limit, stop, oco, legs)
            elif op == "change":
                qty = body_int(body, "quantity")
                limit = body_ticks(inst, body, "limit_price")
                stop = body_ticks(inst, body, "stop_price")
                cmd = node.change(now, key, cid, qty, limit, stop)
            elif op == "cancel":
                cmd = node.cancel(now, cid)
            else:
                raise RequestError("op: submit, bracket, change or cancel", field="op")
        except CommandError as exc:
            field = str(
                exc.details.get("field") or {"bad_quantity": "quantity"}.get(exc.reason, "cid")
            )
            raise RequestError(f"{field}: {exc.reason}: {exc.message}", field=field,
                               reason=exc.reason) from None  # fmt: skip
        if not self._commit():  # never an order that is not journalled
            self._unjournalled(node, cmd)
            raise UnavailableError(
                f"journal: journal_unavailable: {self.writer.failing if self.writer else ''}",
                field="journal",
                reason="journal_unavailable",
            )
        try:
            return self._send(node, cmd, inst, wire, {"series": body.get("series", 0)})
        finally:
            self._flush()  # the outbox's refusal, if any

    def _send(
        self, node: TradingNode, cmd: OrderCommand, inst: Instrument, wire: str,
        extra: dict[str, Any] | None = None,
    ) -> Command:  # fmt: skip
        fields = {**cmd.fields(inst), **(extra or {})}
        try:
            command = self.wire.issue(node.client, fields, wire)
        except RequestError:
            node.not_issued(cmd, self._now(node))
            raise
        self.refs.setdefault(node.client, {})[command.command_seq] = cmd.ref
        return command

    def wire_name(self, client: str, inst: Instrument) -> str:
        key = inst.contract or inst.symbol
        name = self.names.get((client, key))
        if name is None:  # a micro the sizing chose, never named by the client: its
            pair = paired_instrument(inst)  # NinjaTrader name from the standard's
            other = self.names.get((client, pair.contract or pair.symbol)) if pair else None
            if pair is not None and other is not None and other.startswith(pair.symbol + " "):
                return inst.symbol + other[len(pair.symbol) :]  # ES 03-24 -> MES 03-24
        return name or key

    def acknowledge(self, client: str, command_seq: int, status: str, reason: str) -> None:
        node = self.clients.get(client)
        ref = self.refs.get(client, {}).get(command_seq) if node is not None else None
        if node is not None and ref is not None:
            self._out(node, node.acknowledge(ref, status, reason, self._now(node), command_seq))
            self._flush()

    def expire(self, now: int | None = None) -> None:
        for node in self.clients.values():
            node.expire(now if now is not None else self._now(node))
            if self.server.clock == "wall":
                # the client's session calendar is known once its first command or strategy
                # decision built it: until then no book staleness rule
                timed = not self.server.use_sessions or bool(node.risk.sessions)
                if node.on_clock(self._now(node), timed):
                    self._out(node, node.take())
                    self._flush()
        if self.writer is not None and self.writer.failing and self.writer.pending:
            self.writer.commit()  # the journal may be back: write what waited

    # ---- kill switch and flatten ---------------------------------------------------------
    def kill(self, client: str | None = None, reason: str = "manual") -> list[str]:
        names = [client] if client else list(self.clients)
        for name in names:
            node = self.of(name)
            self._out(node, node.kill(reason, self._now(node)))
        self._flush()
        return names

    def hold_client(self, node: TradingNode, reason: str, detail: str) -> None:
        """Engage ``node``'s kill switch for ``reason`` (journalled with its state) and alert."""
        if node.hold(reason, detail, time.time_ns(), self._now(node)):
            self._out(node, node.take())
            if self.on_alert is not None:
                self.on_alert(reason, node.client, detail)

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
            node = self.of(name)
            self._out(node, node.reset_kill(self._now(node)))
        self._flush()
        return names

    def flatten(self, node: TradingNode) -> None:
        """Cancel ``node``'s working entries and close its open positions at market."""
        self._out(node, node.flatten(self._now(node)))

    def status(self) -> dict[str, Any]:
        return {name: node.status() for name, node in self.clients.items()}

    def positions(self) -> list[dict[str, Any]]:
        out = []
        for name, node in self.clients.items():
            for pos in node.desk.positions.positions.values():
                out.append({"client": name, **pos.to_dict()})
        return out
