"""The trading engine wired into the server: one :class:`OrderDesk` and one
:class:`RiskManager` per bridge client, fed from the same sequenced batches as the ledger.

Transport-free (the Hub owns it; the app only pushes the commands it returns):

- NinjaTrader's order updates, executions and positions of a batch are mapped onto the desk's
  structs (``order_event`` / ``fill_event``; fees from the broker profile, the commission from
  the execution or, when NinjaTrader reports none, the profile's); a new fill moves the risk
  manager's position and its realised P&L (net of commission and fees, per fill), prints mark
  the positions and give the open P&L;
- a command posted to the API goes through the desk (cid, prices, the reconciliation gate)
  and :meth:`RiskManager.check` before it is issued on the wire ledger; a refused one raises
  :class:`RequestError` (HTTP 422, ``field: "risk"`` and ``reason``: the risk code) and is
  never sent;
- a risk event that asks to flatten, the kill switch, and the desk's own commands (bracket
  legs, reconciliation) come back as wire commands for the app to push.

The risk manager is fed the server's wall clock (its day, rate and staleness rules are about
now), never NinjaTrader's event times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from orderflow.core.errors import OrderflowError, RequestError
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.server.orders import OrderLedger
from orderflow.server.protocol import Batch, Command, Report
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.desk import OrderDesk
from orderflow.trading.money import price_to_ticks_exact
from orderflow.trading.orders import (
    CommandError,
    OrderAction,
    OrderCommand,
    OrderState,
    OrderType,
    fill_event,
    order_event,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.reconcile import BrokerOrder, BrokerPosition, BrokerReport, StartBehavior
from orderflow.trading.risk import OrderIntent, RiskEvent, RiskManager
from orderflow.trading.sessions import TradingSessions

__all__ = ["ClientTrading", "ServerTrading", "ServerTradingParams"]

_TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED,
                       OrderState.UNKNOWN})  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServerTradingParams:
    """``trading.server`` in the settings."""

    enabled: bool = True  # orderflow serve wires the engine in (create_app: pass it)
    account: str = "Sim101"  # NinjaTrader's account the desk's positions are kept under
    #: what reconciliation does with NinjaTrader's report (adopt, flatten, wait_until_flat)
    start_behavior: str = "adopt"
    #: a client that does not declare ``report: true`` in its hello: False trusts the desk's
    #: own picture (its gate opens at once); True keeps its gate shut (no report will come)
    require_report: bool = False
    use_sessions: bool = True  # the risk manager applies the CME session calendar

    def __post_init__(self) -> None:
        if self.start_behavior not in [str(b) for b in StartBehavior]:
            raise ValueError("start_behavior must be adopt, flatten or wait_until_flat")


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

    def status(self) -> dict[str, Any]:
        return {
            "reconciled": self.desk.orders.reconciled,
            "awaiting_report": self.awaiting_report,
            "reconciliations": self.reconciliations,
            "last_reconcile": self.last_reconcile,
            "risk": self.risk.status(),
            "events": list(self.events[-20:]),
            "desk": dict(self.desk.orders.counters + self.desk.counters),
        }


class ServerTrading:
    """Every client's :class:`ClientTrading`, and the mapping between them and the wire."""

    def __init__(
        self,
        ledger: OrderLedger,
        params: TradingParams | None = None,
        server: ServerTradingParams | None = None,
    ) -> None:
        self.ledger = ledger
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

    # ---- per client ----------------------------------------------------------------------
    def of(self, client: str) -> ClientTrading:
        ct = self.clients.get(client)
        if ct is None:
            desk = OrderDesk(self.server.account,
                             start_behavior=StartBehavior(self.server.start_behavior))  # fmt: skip
            risk = RiskManager(self.params.risk, broker=self.broker)
            ct = self.clients[client] = ClientTrading(client, desk, risk)
        return ct

    def _calendar(self, ct: ClientTrading, inst: Instrument) -> None:
        """The session calendar of the instrument's product, built once (it takes a while)."""
        if not self.server.use_sessions or inst.symbol in ct.risk.sessions:
            return
        cal = self._sessions.get(inst.symbol)
        if cal is None:
            cal = self._sessions[inst.symbol] = TradingSessions(inst, self.params.sessions)
        ct.risk.sessions[inst.symbol] = cal

    # ---- connection and reconciliation ---------------------------------------------------
    def connected(self, client: str, report: bool) -> None:
        """A (re)connect after welcome: the gate closes until NinjaTrader's report arrives;
        a client that will send none opens it at once unless ``require_report``."""
        ct = self.of(client)
        ct.desk.connection_lost()
        self._risk_events(ct, ct.risk.on_connection(True, time.time_ns()))
        ct.awaiting_report = report or self.server.require_report
        if not ct.awaiting_report:
            ct.desk.orders.reconciled = True
            ct.desk.orders.counters["reconcile_skipped"] += 1
            if ct.flatten_after_report:  # no report will come: flatten our own picture
                ct.flatten_after_report = False
                self.flatten(ct)

    def disconnected(self, client: str) -> None:
        ct = self.clients.get(client)
        if ct is None:
            return
        ct.desk.connection_lost()
        self._risk_events(ct, ct.risk.on_connection(False, time.time_ns()))

    def report(self, client: str, msg: Report) -> dict[str, Any]:
        """NinjaTrader's positions and working orders after a (re)connect: the truth."""
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
        now = time.time_ns()
        rec = ct.desk.reconcile(BrokerReport(msg.t or now, positions, orders), now)
        for bp in positions:
            ct.risk.set_position(bp.instrument, bp.quantity)
        for acct_inst, pos in ct.desk.positions.positions.items():
            if not any(bp.instrument == acct_inst[1] for bp in positions):
                ct.risk.set_position(acct_inst[1], pos.quantity)
        for cid in rec.missing_orders:  # ended Unknown: no longer working
            ct.risk.on_order_done(cid)
        ct.awaiting_report = False
        ct.reconciliations += 1
        ct.last_reconcile = {
            "t": now, "behavior": str(rec.behavior), "blocked": rec.blocked,
            "adopted_orders": rec.adopted_orders, "missing_orders": rec.missing_orders,
            "updated_orders": rec.updated_orders,
            "position_changes": [list(c) for c in rec.position_changes],
        }  # fmt: skip
        for cmd in rec.commands:
            self._issue(ct, cmd, internal=True)
        if ct.flatten_after_report or ct.risk.flatten_requested:
            ct.flatten_after_report = False
            self.flatten(ct)
        return ct.last_reconcile

    # ---- what NinjaTrader reports in a batch ---------------------------------------------
    def apply_batch(self, client: str | None, inst: Instrument, batch: Batch) -> None:
        if client is None or not (batch.orders or batch.executions or batch.positions):
            return
        ct = self.of(client)
        desk, risk = ct.desk, ct.risk
        key = inst.contract or inst.symbol
        now = time.time_ns()
        for u in batch.orders:
            try:
                ev = order_event(inst, u.cid, u.state, u.t, u.quantity, u.filled, u.limit_price,
                                 u.stop_price, u.order_id, u.error, u.comment)  # fmt: skip
            except (OrderflowError, ValueError):
                desk.counters["reports_unmapped"] += 1
                continue
            _, cmds = desk.apply_update(now, ev, key)
            if ev.state in _TERMINAL:
                risk.on_order_done(u.cid)
                ct.flattening.discard(u.cid)
            for cmd in cmds:
                self._issue(ct, cmd, internal=True)
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
                self._issue(ct, cmd, internal=True)
        for p in batch.positions:
            qty = -p.quantity if p.market_position == "Short" else p.quantity
            qty = 0 if p.market_position == "Flat" else qty
            try:
                avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
            except (OrderflowError, ValueError):
                desk.counters["reports_unmapped"] += 1
                continue
            desk.apply_position(p.account, key, qty, avg)

    def prints(self, client: str | None, inst: Instrument, last_ticks: int) -> None:
        """The last print's price marks every client's position in the instrument."""
        now = time.time_ns()
        for ct in self.clients.values():
            ct.desk.mark(inst.contract or inst.symbol, last_ticks)
            if any(p.quantity for p in ct.desk.positions.positions.values()):
                self._risk_events(ct, ct.risk.on_unrealised(self._open_pnl(ct), now))

    def book(self, crossed: bool) -> None:
        """A book update (server's receive time); ``crossed`` outside the pre-open."""
        now = time.time_ns()
        for ct in self.clients.values():
            self._risk_events(ct, ct.risk.on_book(now, crossed))

    @staticmethod
    def _open_pnl(ct: ClientTrading) -> float:
        return float(sum((p.unrealized() for p in ct.desk.positions.positions.values()),
                         Decimal(0)))  # fmt: skip

    # ---- commands ------------------------------------------------------------------------
    def command(self, client: str, inst: Instrument, wire: str, body: dict[str, Any]) -> Command:
        """A command posted to the API: through the desk and the risk check, then issued on
        the ledger. RequestError (nothing sent) when the desk or the risk manager refuses."""
        ct = self.of(client)
        desk, risk = ct.desk, ct.risk
        key = inst.contract or inst.symbol
        now = time.time_ns()
        op, cid = body.get("op"), body.get("cid")
        if not isinstance(cid, str):
            raise RequestError("cid: required", field="cid")
        try:
            if op == "submit":
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
                self._calendar(ct, inst)
                decision = risk.check(
                    OrderIntent.from_action(
                        cid, key, action, qty, now, order_type=kind, oco=oco or None
                    )
                )
                if not decision:
                    desk.counters[f"risk_refused_{decision.reason}"] += 1
                    raise _wire(f"risk: {decision.code}", decision.code)
                try:
                    cmd = desk.orders.submit(now, key, action, kind, qty, limit, stop, oco=oco,
                                             cid=cid)  # fmt: skip
                except CommandError:
                    risk.on_order_done(cid)
                    raise
            elif op == "change":
                cmd = desk.orders.change(now, cid, _int(body, "quantity"),
                                         _ticks(inst, body, "limit_price"),
                                         _ticks(inst, body, "stop_price"))  # fmt: skip
            elif op == "cancel":
                got = desk.orders.cancel(now, cid)
                if got is None:
                    raise RequestError(f"cid: a cancel of {cid!r} is already pending",
                                       field="cid")  # fmt: skip
                cmd = got
            else:
                raise RequestError("op: submit, change or cancel", field="op")
        except CommandError as exc:
            field = {"missing_price": "limit_price", "bad_quantity": "quantity"}.get(
                exc.reason, "cid"
            )
            raise RequestError(f"{field}: {exc.reason}: {exc.message}", field=field,
                               reason=exc.reason) from None  # fmt: skip
        return self._send(ct, cmd, inst, wire, {"series": body.get("series", 0)})

    def _send(
        self, ct: ClientTrading, cmd: OrderCommand, inst: Instrument, wire: str,
        extra: dict[str, Any] | None = None,
    ) -> Command:  # fmt: skip
        fields = {**cmd.fields(inst), **(extra or {})}
        try:
            command = self.ledger.issue(ct.client, inst.contract or inst.symbol, fields, wire)
        except RequestError:
            ct.desk.orders.acknowledge(cmd.ref, "refused", "not issued", time.time_ns())
            ct.risk.on_order_done(cmd.cid)
            raise
        ct.refs[command.command_seq] = cmd.ref
        return command

    def _issue(self, ct: ClientTrading, cmd: OrderCommand, internal: bool = False) -> None:
        """A command of the engine itself (bracket leg, reconciliation, flatten) to the
        outbox; refused on the wire ledger it is counted and dropped."""
        inst = get_instrument(cmd.instrument)
        wire = self.ledger_name(ct.client, inst)
        try:
            command = self._send(ct, cmd, inst, wire)
        except RequestError:
            ct.desk.counters["engine_commands_refused"] += 1
            return
        self.outbox.append((ct.client, command))

    def ledger_name(self, client: str, inst: Instrument) -> str:
        key = inst.contract or inst.symbol
        return self.names.get((client, key), key)

    def acknowledge(self, client: str, command_seq: int, status: str, reason: str) -> None:
        ct = self.clients.get(client)
        ref = ct.refs.get(command_seq) if ct is not None else None
        if ct is not None and ref is not None:
            ct.desk.orders.acknowledge(ref, status, reason, time.time_ns())
            order = ct.desk.orders.orders.get(self._cid_of(ct, ref) or "")
            if order is not None and order.terminal:
                ct.risk.on_order_done(order.cid)

    @staticmethod
    def _cid_of(ct: ClientTrading, ref: int) -> str | None:
        for order in ct.desk.orders.orders.values():
            if any(pc.command.ref == ref for pc in order.commands):
                return order.cid
        return None

    def expire(self, now: int | None = None) -> None:
        now = now if now is not None else time.time_ns()
        for ct in self.clients.values():
            ct.desk.expire(now)

    # ---- kill switch and flatten ---------------------------------------------------------
    def kill(self, client: str | None = None, reason: str = "manual") -> list[str]:
        now = time.time_ns()
        names = [client] if client else list(self.clients)
        for name in names:
            ct = self.of(name)
            self._risk_events(ct, [ct.risk.kill(reason, now)])
        return names

    def reset_kill(self, client: str | None = None) -> list[str]:
        names = [client] if client else list(self.clients)
        for name in names:
            self.of(name).risk.reset_kill()
        return names

    def _risk_events(self, ct: ClientTrading, events: list[RiskEvent]) -> None:
        for ev in events:
            ct.events.append({"reason": str(ev.reason), "flatten": ev.flatten,
                              "t": ev.ts_ns, "detail": ev.detail})  # fmt: skip
        if any(ev.flatten for ev in events) or (events and ct.risk.flatten_requested):
            if ct.desk.orders.reconciled:
                self.flatten(ct)
            else:  # disconnected or before the report: flatten what the report says is open
                ct.flatten_after_report = True

    def flatten(self, ct: ClientTrading) -> None:
        """Cancel our working entries and close every open position at market (one flatten
        order per position at a time)."""
        now = time.time_ns()
        desk = ct.desk
        for order in desk.orders.working():
            if order.ours and order.cid not in ct.flattening and not order.cancel_requested:
                try:
                    cmd = desk.orders.cancel(now, order.cid)
                except CommandError:
                    continue
                if cmd is not None:
                    self._issue(ct, cmd)
        for (_, key), pos in list(desk.positions.positions.items()):
            if not pos.quantity or any(
                desk.orders.orders[c].instrument == key for c in ct.flattening
            ):
                continue
            action = OrderAction.SELL if pos.quantity > 0 else OrderAction.BUY_TO_COVER
            cid = desk.orders.new_cid(".flat")
            ct.risk.check(OrderIntent.from_action(cid, key, action, abs(pos.quantity), now))
            cmd = desk.orders.submit(now, key, action, OrderType.MARKET, abs(pos.quantity),
                                     cid=cid, internal=True)  # fmt: skip
            ct.flattening.add(cid)
            self._issue(ct, cmd)

    def status(self) -> dict[str, Any]:
        return {name: ct.status() for name, ct in self.clients.items()}

    def positions(self) -> list[dict[str, Any]]:
        out = []
        for name, ct in self.clients.items():
            for pos in ct.desk.positions.positions.values():
                out.append({"client": name, **pos.to_dict()})
        return out

    def order_view(self, client: str | None, cid: str) -> dict[str, Any] | None:
        ct = self.clients.get(client or "")
        order = ct.desk.orders.orders.get(cid) if ct is not None else None
        if order is None:
            return None
        inst = get_instrument(order.instrument)
        return order.to_dict(inst)


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
        return inst.to_ticks(float(value))
    except (OrderflowError, ValueError) as exc:
        raise RequestError(f"{name}: {exc}", field=name) from None
