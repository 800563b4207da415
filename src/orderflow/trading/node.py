"""The trading node: one account's order desk, risk manager, strategy hosts and journal.

A :class:`TradingNode` takes domain events and the time they are handled at (``now``, ns UTC,
from its driver: the server's wall or data clock, a backtest's data clock) and returns the
:class:`~orderflow.trading.orders.OrderCommand` s to send, in order. The server (per bridge
client), the native backtest, the NinjaTrader-view backtest and the bars backtest drive this
same object; they differ only in the clock, where the events come from and where the commands
go. Nothing here reads a clock or does I/O.

- :meth:`market` after a batch of market data went through an instrument's pipeline: the
  strategy decides (only on a node with a strategy: "trading off" is a node without one,
  which still tracks orders, fills, positions and the risk limits of what the API sends);
- :meth:`reports` takes a batch of NinjaTrader's reports in the server's order: every order
  update, then every execution, then the positions; an order reported terminal stops counting
  for risk after the batch's executions. :meth:`order_update` and :meth:`fill` are one-report
  batches (a native backtest delivers one at a time). The strategy's instrument goes through
  its :class:`~orderflow.trading.host.StrategyHost`; another (a manual order's) through the
  desk, a new fill moving the risk manager's position and realised P&L;
- :meth:`broker_report` (NinjaTrader's positions and working orders after a reconnect, the
  truth), :meth:`connected` / :meth:`disconnected`, :meth:`acknowledge`, :meth:`expire` /
  :meth:`on_clock`, :meth:`mark` (prints), :meth:`book`, :meth:`kill` / :meth:`reset_kill` /
  :meth:`hold`, :meth:`flatten`;
- :meth:`submit` / :meth:`change` / :meth:`cancel`: an order intent in domain terms (prices
  in ticks, already validated), through the desk and :meth:`RiskManager.check`; a refusal
  raises :class:`RequestError` (``field: "risk"``, the risk code) and sends nothing (the
  node's API part, :mod:`orderflow.trading.node_api`).

The journal: with a :class:`JournalSink` every input, command, risk decision, event and state
is added to it as a :class:`~orderflow.trading.journal.Entry`, in the order the replay
(:mod:`orderflow.trading.journal_replay`) needs. The driver commits per unit of work and
sends the commands only then (the server: never a command that is not journalled); the node
itself commits only where an API refusal ends its unit of work inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from orderflow.core.errors import RequestError
from orderflow.model.instruments import Instrument
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.desk import OrderDesk
from orderflow.trading.host import StrategyHost
from orderflow.trading.journal_replay import decision_fields, report_payload
from orderflow.trading.market_source import MarketSource
from orderflow.trading.node_api import BracketLegs, NodeApi
from orderflow.trading.node_journal import JournalSink, ListSink
from orderflow.trading.orders import (
    TERMINAL,
    CommandError,
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderType,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.reconcile import BrokerPosition, BrokerReport
from orderflow.trading.risk import (
    OrderIntent,
    PendingOrder,
    RiskEvent,
    RiskManager,
    register_exits,
)
from orderflow.trading.sessions import TradingSessions
from orderflow.trading.strategy import Strategy, StrategyContext

__all__ = ["BracketLegs", "JournalSink", "ListSink", "TradingNode"]


class TradingNode(NodeApi):
    """One account's trading (see the module docstring).

    ``strategy`` makes the strategy of an instrument (None: trading off, no host ever);
    ``sessions`` gives an instrument's session calendar (None: no session rules);
    ``sink`` receives the journal's records (None: nothing journalled)."""

    def __init__(
        self,
        desk: OrderDesk,
        risk: RiskManager,
        params: TradingParams,
        broker: BrokerProfile,
        *,
        client: str = "",
        strategy: Callable[[Instrument], Strategy] | None = None,
        sessions: Callable[[Instrument], TradingSessions] | None = None,
        sink: JournalSink | None = None,
    ) -> None:
        super().__init__(desk, risk, client, sink)
        self.params = params
        self.broker = broker
        self.strategy = strategy
        self.sessions = sessions
        self.awaiting_report = False
        self.reconciliations = 0
        self.last_reconcile: dict[str, Any] | None = None
        self.flattening: set[str] = set()  # cids of our flatten orders
        self.flatten_after_report = False
        self.restored: dict[str, Any] | None = None  # what the journal gave back at start
        self.hosts: dict[str, StrategyHost] = {}  # by instrument key
        self.data_ns = 0  # the latest event time of the node's data (the ``data`` clock)
        #: per instrument key, the strategy state the journal gave back at start (a host
        #: made later takes it: :meth:`StrategyHost.restore`), and the last one journalled
        self.strategy_state: dict[str, dict[str, Any]] = {}
        self._state_journalled: dict[str, dict[str, Any]] = {}
        self._out: list[OrderCommand] = []  # the commands of the current call

    @classmethod
    def for_host(cls, host: StrategyHost, sink: JournalSink | None = None) -> TradingNode:
        """The node of an existing host (its desk, risk manager, parameters and broker; the
        strategy on its instrument only): a backtest builds the host, the node drives it."""

        def strategy(inst: Instrument) -> Strategy:
            if (inst.contract or inst.symbol) != host.key:
                raise RequestError(f"{inst.symbol}: this node trades {host.key} only",
                                   field="instrument")  # fmt: skip
            return host.strategy

        node = cls(host.desk, host.risk, host.params, host.broker, strategy=strategy, sink=sink)
        node.hosts[host.key] = host
        return node

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

    @property
    def pending(self) -> bool:
        """Commands issued and not taken yet (a call that raised half-way leaves some)."""
        return bool(self._out)

    def take(self) -> list[OrderCommand]:
        """The commands issued since the last call, in order (each public method returns
        them; a driver that called a private step takes them here)."""
        out, self._out = self._out, []
        return out

    # ---- the strategy ----------------------------------------------------------------------
    @property
    def deciding(self) -> bool:
        """The strategy is asked: there is one, and the gate is open (NinjaTrader's report
        came, nothing waits until flat)."""
        return (self.strategy is not None and not self.awaiting_report
                and self.desk.orders.reconciled)  # fmt: skip

    def market(
        self,
        inst: Instrument,
        pipeline: MarketSource,
        now: int,
        new_from: int = 0,
        series: Mapping[int, np.ndarray] | None = None,
    ) -> list[OrderCommand]:
        """After a batch of market data went through ``inst``'s pipeline: the strategy
        decides, on the data's time. Nothing while the gate is shut (before NinjaTrader's
        report, waiting until flat). ``new_from``: how many accumulated signals the pipeline
        held before this batch; a host made now takes only the later ones as new (a server
        restarted on a recovered book, the strategy switched on mid-session, must not enter on
        a signal from an hour ago). ``now``: the node's time (a flatten's). ``series``:
        NinjaTrader's own bar series (closed bars by BarsInProgress), for the strategy's
        multi-timeframe filter."""
        if not self.deciding:
            return []
        key = inst.contract or inst.symbol
        owner = self.host_of(key)
        if owner is not None and owner.key != key:
            return []  # a micro's own data: its entries are its standard's host's
        fresh = owner is None  # (else it is the host made for this key)
        host = self.host(inst) if owner is None else owner
        if fresh:
            host.catch_up(pipeline, new_from)
            saved = self.strategy_state.pop(host.key, None)
            if saved is not None:  # a restart: the entries continue under their plans
                host.restore(saved)
                self._state_journalled[host.key] = saved  # the journal's latest
        mark = self._host_mark(host)
        cmds = host.on_market(pipeline, series)
        self._host_out(host, cmds, mark, pipeline.last_ts)
        if self.risk.flatten_requested:  # what no live entry of the strategy holds
            self._flatten(now)
        return self.take()

    def decide(self, market: StrategyContext) -> list[OrderCommand]:
        """One decision of the strategy on a hand-built context (bars have no pipeline), at
        ``market.ts_event``; the same bookkeeping as :meth:`market`."""
        if not self.deciding:
            return []
        host = self.host(market.instrument)
        mark = self._host_mark(host)
        self._host_out(host, host.step(market), mark, market.ts_event)
        if self.risk.flatten_requested:
            self._flatten(market.ts_event)
        return self.take()

    def host(self, inst: Instrument) -> StrategyHost:
        """The strategy's host for ``inst`` (made on first use; a node with a strategy only)."""
        key = inst.contract or inst.symbol
        host = self.hosts.get(key)
        if host is None:
            if self.strategy is None:
                raise RequestError("no strategy: trading is off on this node", field="strategy")
            self.calendar(inst)
            cal = self.risk.sessions.get(inst.symbol)
            host = self.hosts[key] = StrategyHost(
                inst, self.strategy(inst), self.params, desk=self.desk, risk=self.risk,
                sessions=cal, broker=self.broker,
            )  # fmt: skip
        return host

    def host_of(self, key: str) -> StrategyHost | None:
        """The host trading contract ``key``: its own instrument's, or the other contract of
        its standard/micro pair (an entry sized into the micro)."""
        host = self.hosts.get(key)
        if host is None:
            host = next((h for h in self.hosts.values() if key in h.keys), None)
        return host

    @staticmethod
    def _host_mark(host: StrategyHost) -> tuple[int, int]:
        return len(host.decisions), len(host.risk_events)

    def _host_out(
        self, host: StrategyHost, cmds: list[OrderCommand], mark: tuple[int, int], now: int
    ) -> None:
        """What one call of the host did, journalled in the order the replay needs: the
        bracket operations (they regenerate their commands), the decisions (refused entries
        keep their cid), the risk events; then its commands go out like the desk's own."""
        if (not cmds and self.sink is None and len(host.risk_events) == mark[1]
                and not self.desk.brackets.op_log):  # fmt: skip
            return  # nothing to journal or issue (most calls of a backtest)
        self._rec_brackets()
        if self.sink is not None:
            for d in host.decisions[mark[0] :]:
                payload: dict[str, Any] = {
                    "intent": d.intent,
                    "outcome": d.outcome,
                    "entry_id": d.entry_id,
                    "detail": d.detail,
                }
                if d.sizing is not None:  # why that contract and that many
                    payload["sizing"] = dict(d.sizing)
                self._rec("strategy", d.ts_ns, payload, host.key, d.entry_id)
        if self.sink is not None:  # the strategy's memory, each time it changed
            state = host.state()
            if state != self._state_journalled.get(host.key):
                self._state_journalled[host.key] = state
                self._rec("strategy", now, {"intent": "state", "outcome": "", "entry_id": "",
                                            "detail": "", "state": state}, host.key)  # fmt: skip
        events = host.risk_events[mark[1] :]
        self._rec_risk_events(events)  # the host flattened its entries itself
        for cmd in cmds:
            self._issue(cmd, now, registered=True)
        if cmds or events or len(host.decisions) > mark[0]:
            self._rec_state(now)

    def calendar(self, inst: Instrument) -> None:
        """The session calendar of the instrument's product for the risk manager (once)."""
        if self.sessions is None or inst.symbol in self.risk.sessions:
            return
        self.risk.sessions[inst.symbol] = self.sessions(inst)

    def _issue(self, cmd: OrderCommand, now: int, origin: str = "desk",
               registered: bool = False) -> None:  # fmt: skip
        """A command of the node itself (bracket leg, reconciliation, flatten): shown to the
        risk manager as an exit (unless the strategy's host did), journalled, and returned to
        the driver (which sends it once the unit of work's records are committed)."""
        if not registered:
            for kind, cid, decision in register_exits(self.risk, [cmd], cmd.instrument, now):
                self.desk.counters["exit_sent_despite_risk"] += 1
                self._rec("risk_decision", now,
                          decision_fields(decision, "desk", op=kind, sent_anyway=True),
                          cmd.instrument, cid)  # fmt: skip
        self._rec_command(cmd, origin)
        self._out.append(cmd)

    def not_issued(self, cmd: OrderCommand, now: int) -> None:
        """A command the transport refused to issue: acknowledged refused, as if the bridge
        had (``not issued``)."""
        ack = {"ref": cmd.ref, "cid": cmd.cid, "status": "refused", "reason": "not issued"}
        self._rec("command_ack", now, ack, cmd.instrument, cmd.cid)
        self.desk.orders.acknowledge(cmd.ref, "refused", "not issued", now)
        self.risk.on_order_done(cmd.cid)
        self._rec_state(now)

    def unjournalled(self, cmd: OrderCommand, now: int) -> None:
        """A command whose records did not commit: refused, as if the bridge had
        (``journal_unavailable``); never sent."""
        self.desk.orders.acknowledge(cmd.ref, "refused", "journal_unavailable", now)
        self.risk.on_order_done(cmd.cid)
        self.flattening.discard(cmd.cid)
        self.desk.counters["journal_unavailable_refused"] += 1
        self._rec("command_ack", now, {"ref": cmd.ref, "cid": cmd.cid, "status": "refused",
                                       "reason": "journal_unavailable"},
                  cmd.instrument, cmd.cid)  # fmt: skip
        self._rec_state(now)

    # ---- connection and reconciliation ---------------------------------------------------
    def connected(self, now: int, report: bool, require_report: bool) -> list[OrderCommand]:
        """A (re)connect: the gate closes until NinjaTrader's report arrives; a client that
        will send none opens it at once unless ``require_report``."""
        awaiting = report or require_report
        self._rec("connection", now, {"up": True, "report": report,
                                      "awaiting_report": awaiting})  # fmt: skip
        self.desk.connection_lost()
        self._risk_events(self.risk.on_connection(True, now), now)
        self._rec_state(now)
        self.awaiting_report = awaiting
        if not self.awaiting_report:
            self.desk.orders.reconciled = True
            self.desk.orders.counters["reconcile_skipped"] += 1
            if self.flatten_after_report:  # no report will come: flatten our own picture
                self.flatten_after_report = False
                self._flatten(now)
        return self.take()

    def disconnected(self, now: int) -> list[OrderCommand]:
        self._rec("connection", now, {"up": False})
        self.desk.connection_lost()
        self._risk_events(self.risk.on_connection(False, now), now)
        self._rec_state(now)
        return self.take()

    def broker_report(self, now: int, broker: BrokerReport) -> list[OrderCommand]:
        """NinjaTrader's positions and working orders after a (re)connect: the truth. The
        desk reconciles with it, the risk manager takes its positions and working orders;
        :attr:`last_reconcile` says what changed."""
        positions = broker.positions
        self._rec("reconcile", now, report_payload(broker))
        rec = self.desk.reconcile(broker, now)
        for account, instrument, _, qty in rec.position_changes:  # for the journal's replay
            avg = next((bp.avg_price_ticks for bp in positions if bp.instrument == instrument
                        and qty), Fraction(0))  # fmt: skip
            self._rec("position_adopted", broker.t, {"quantity": qty, "avg_price_ticks": avg},
                      instrument, account=account)  # fmt: skip
        for bp in positions:
            self.risk.set_position(bp.instrument, bp.quantity)
        for acct_inst, pos in self.desk.positions.positions.items():
            if not any(bp.instrument == acct_inst[1] for bp in positions):
                self.risk.set_position(acct_inst[1], pos.quantity)
        for cid in rec.missing_orders:  # ended Unknown: no longer working
            self.risk.on_order_done(cid)
        for cid in rec.adopted_orders:  # NinjaTrader's working orders count for the limits
            order = self.desk.orders.orders.get(cid)
            if order is not None and not order.terminal and order.action is not None:
                side = 1 if order.action.is_buy else -1
                self.risk.state.pending.setdefault(cid, PendingOrder(
                    order.instrument, side, order.remaining, order.oco or None, False))  # fmt: skip
        self.awaiting_report = False
        self.reconciliations += 1
        self.last_reconcile = {
            "t": now, "behavior": str(rec.behavior), "blocked": rec.blocked,
            "adopted_orders": rec.adopted_orders, "missing_orders": rec.missing_orders,
            "updated_orders": rec.updated_orders,
            "position_changes": [list(c) for c in rec.position_changes],
        }  # fmt: skip
        for cmd in rec.commands:
            self._issue(cmd, now)
        if self.flatten_after_report or self.risk.flatten_requested:
            self.flatten_after_report = False
            self._flatten(now)
        self._rec_state(now)
        return self.take()

    # ---- NinjaTrader's reports -----------------------------------------------------------
    def reports(
        self,
        now: int,
        key: str,
        orders: Sequence[OrderEvent] = (),
        fills: Sequence[Fill] = (),
        positions: Sequence[BrokerPosition] = (),
        batch: tuple[int, str] | None = None,
    ) -> list[OrderCommand]:
        """A batch of reports of instrument ``key``, in the server's order: the order
        updates, the executions, the positions; then the orders that ended stop counting for
        risk. ``batch``: (seq, instrument name) of the bridge's batch, journalled last."""
        desk, risk = self.desk, self.risk
        done: list[tuple[str, int]] = []
        host = self.host_of(key)
        for ev in orders:
            self._rec("order_update", now, ev, key, ev.cid)
            if host is not None:  # the strategy's instrument: its host applies it
                mark = self._host_mark(host)
                got = (host.on_order_update(now, ev) if key == host.key
                       else host.on_order_update(now, ev, key))  # the micro's  # fmt: skip
                self._host_out(host, got, mark, now)
                if ev.state in TERMINAL:
                    self.flattening.discard(ev.cid)
                continue
            _, cmds = desk.apply_update(now, ev, key)
            self._rec_brackets()
            if ev.state in TERMINAL:
                done.append((ev.cid, ev.filled))
                self.flattening.discard(ev.cid)
            for cmd in cmds:
                self._issue(cmd, now)
        for fill in fills:
            self._rec("execution", now, fill, fill.instrument or key, fill.cid)
            if host is not None:  # the host follows the fill for the risk manager too
                mark = self._host_mark(host)
                self._host_out(host, host.on_fill(now, fill), mark, now)
                continue
            pos = desk.positions.position(desk.orders.account, key)
            before = pos.net_realized
            res = desk.apply_fill(now, fill)
            if not res.new:
                continue
            if fill.cid in risk.state.pending:
                risk.on_fill(fill.cid, fill.quantity)
            risk.set_position(key, pos.quantity)  # NinjaTrader's executions are the truth
            # the fill moves realised and open P&L together (the rest of the position is
            # marked at its price): both are in before the limits are evaluated, once
            risk.roll_day(now)
            risk.state.unrealised = self.open_pnl()
            events = risk.on_realised(float(pos.net_realized - before), now, bool(res.closed))
            self._risk_events(events, now)
            for cmd in res.commands:
                self._issue(cmd, now)
        for p in positions:
            self._rec("position", now, {"account": p.account, "quantity": p.quantity,
                                        "avg_price_ticks": p.avg_price_ticks}, key)  # fmt: skip
            desk.apply_position(p.account, key, p.quantity, p.avg_price_ticks)
        # NinjaTrader reports Filled before the execution: an order ends for risk after the
        # batch's executions, and one reported filled is never an unfilled entry (which would
        # give its trade back to max_trades_per_day) even if its execution comes later
        for cid, filled in done:
            pending = risk.state.pending.get(cid)
            if pending is not None and filled > pending.filled:
                pending.filled = filled
            risk.on_order_done(cid)
        if batch is not None and batch[0]:
            self._rec("batch", now, {"seq": batch[0], "instrument": batch[1]})
        self._rec_state(now)
        return self.take()

    def order_update(self, now: int, ev: OrderEvent, key: str) -> list[OrderCommand]:
        """One order update (a batch of one)."""
        return self.reports(now, key, (ev,))

    def fill(self, now: int, fill: Fill, key: str) -> list[OrderCommand]:
        """One execution (a batch of one)."""
        return self.reports(now, key, (), (fill,))

    def acknowledge(self, ref: int, status: str, reason: str, now: int,
                    command_seq: int = 0) -> list[OrderCommand]:  # fmt: skip
        """The bridge's answer to command ``ref`` (a refused submit ends the order Rejected,
        and an order that ended stops counting for risk)."""
        cid = self._cid_of(ref) or ""
        self._rec("command_ack", now, {"ref": ref, "cid": cid, "status": status,
                                       "reason": reason, "command_seq": command_seq},
                  cid=cid)  # fmt: skip
        self.desk.orders.acknowledge(ref, status, reason, now)
        order = self.desk.orders.orders.get(cid)
        if order is not None and order.terminal:
            self.risk.on_order_done(order.cid)
            self._rec_state(now)
        return self.take()

    def _cid_of(self, ref: int) -> str | None:
        for order in self.desk.orders.orders.values():
            if any(pc.command.ref == ref for pc in order.commands):
                return order.cid
        return None

    # ---- the clock and the marks ---------------------------------------------------------
    def expire(self, now: int) -> None:
        """Commands unanswered past the desk's timeout end as the desk's rules say."""
        self.desk.expire(now)

    def on_clock(self, now: int, sessions_known: bool) -> list[RiskEvent]:
        """The wall clock's rules: the bridge away past the grace, or a book without a
        trustworthy update for ``book_stale_ms``, trips the kill even when nothing else runs
        (the book rule once ``sessions_known``: the maintenance break and weekends are no
        staleness). The risk events; their commands come from :meth:`take`."""
        events = self.risk.on_clock(now) if sessions_known else self.risk.on_time(now)
        if events:
            self._risk_events(events, now)
        return events

    def mark(self, key: str, last_ticks: int, now: int) -> list[OrderCommand]:
        """The last print's price marks the position in ``key`` (open P&L, its limits)."""
        host = self.host_of(key)
        for k in (key,) if host is None or key != host.key else host.keys:
            self.desk.mark(k, last_ticks)  # the micro a host trades moves with its standard
        if any(p.quantity for p in self.desk.positions.positions.values()):
            self._risk_events(self.risk.on_unrealised(self.open_pnl(), now), now)
        return self.take()

    def book(self, now: int, crossed: bool) -> list[OrderCommand]:
        """A book update at ``now``; ``crossed`` outside the pre-open (the staleness and
        crossed-book rules)."""
        self._risk_events(self.risk.on_book(now, crossed), now)
        return self.take()

    def open_pnl(self) -> float:
        return float(sum((p.unrealized() for p in self.desk.positions.positions.values()),
                         Decimal(0)))  # fmt: skip

    # ---- kill switch and flatten ---------------------------------------------------------
    def kill(self, reason: str, now: int) -> list[OrderCommand]:
        self._risk_events([self.risk.kill(reason, now)], now)
        return self.take()

    def hold(self, reason: str, detail: str, at: int, now: int) -> bool:
        """Engage the kill switch for ``reason`` at ``at`` (journalled with its state; a
        flatten it causes at ``now``); False when it is already held for that reason."""
        if self.risk.state.kill and self.risk.state.kill_reason == reason:
            return False
        self._rec("note", at, {"action": "hold_kill", "reason": reason, "detail": detail})
        self._risk_events([self.risk.kill(reason, at)], now)
        return True

    def reset_kill(self, now: int) -> list[OrderCommand]:
        self._rec("note", now, {"action": "reset_kill", "was": self.risk.state.kill_reason})
        self.risk.reset_kill()
        self._rec_state(now)
        return self.take()

    def _risk_events(self, events: list[RiskEvent], now: int) -> None:
        if not events:  # nearly every book update: nothing to record, nothing to flatten
            return
        self._rec_risk_events(events)
        self._rec_state(events[-1].ts_ns)
        if any(ev.flatten for ev in events) or (events and self.risk.flatten_requested):
            if self.desk.orders.reconciled:
                self._flatten(now)
            else:  # disconnected or before the report: flatten what the report says is open
                self.flatten_after_report = True

    def flatten(self, now: int) -> list[OrderCommand]:
        """Cancel our working entries and close every open position at market (one flatten
        order per position at a time)."""
        self._flatten(now)
        return self.take()

    def close_entries(self, now: int, reason: str) -> list[OrderCommand]:
        """Close the strategy's live entries (working orders cancelled, what each holds
        flattened at market once nothing of it can fill), e.g. at the end of the data."""
        for host in self.hosts.values():
            mark = self._host_mark(host)
            self._host_out(host, host.flatten(now, reason), mark, now)
        return self.take()

    def _flatten(self, now: int) -> None:
        desk = self.desk
        for host in self.hosts.values():  # the strategy's entries close themselves
            mark = self._host_mark(host)
            self._host_out(host, host.flatten(now, "risk_flatten"), mark, now)
        for b in list(desk.brackets.brackets.values()):  # brackets posted to the API
            if b.status not in ("done", "flattening") and self.host_of(b.instrument) is None:
                cmds = desk.brackets.close(now, b.id, "risk_flatten")
                self._rec_brackets()
                for cmd in cmds:
                    self._issue(cmd, now)
        for order in desk.orders.working():
            if desk.brackets.owns(order.cid):
                continue  # a bracket's orders are its own to cancel or flatten
            if order.ours and order.cid not in self.flattening and not order.cancel_requested:
                try:
                    got = desk.orders.cancel(now, order.cid)
                except CommandError:
                    continue
                if got is not None:
                    self._issue(got, now, origin="flatten")
        for (_, key), pos in list(desk.positions.positions.items()):
            if not pos.quantity or any(
                desk.orders.orders[c].instrument == key for c in self.flattening
            ):
                continue
            if any(b.status != "done" and b.instrument == key
                   for b in desk.brackets.brackets.values()):  # fmt: skip
                continue  # a live bracket is flattening it (closed above)
            action = OrderAction.SELL if pos.quantity > 0 else OrderAction.BUY_TO_COVER
            cid = desk.orders.new_cid(".flat")
            intent = OrderIntent.from_action(cid, key, action, abs(pos.quantity), now)
            self._rec_decision(intent, self.risk.check(intent), "flatten")
            cmd = desk.orders.submit(now, key, action, OrderType.MARKET, abs(pos.quantity),
                                     cid=cid, internal=True)  # fmt: skip
            self.flattening.add(cid)
            self._issue(cmd, now, origin="flatten", registered=True)
