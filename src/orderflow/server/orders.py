"""Order commands to the bridge and what NinjaTrader says back about them.

The server issues unmanaged order commands (submit, change, cancel) to a client by name, each
with our client id (``cid``, NinjaTrader's signalName) and a per-client ``command_seq``. A
command is *pending* until the bridge answers with ``command_ack`` (*done*: the NinjaScript
call was made; *refused*: with the reason), or *timed_out* when no answer comes within
``timeout_s``; a command still unanswered when its client reconnects is sent again (unless
older than ``max_age_s``: then it is *expired*), and the bridge acknowledges a resent command
without executing it twice.

The bridge's ``OnOrderUpdate``, ``OnExecutionUpdate`` and ``OnPositionUpdate`` arrive in
sequenced batches (so a resend is applied once). This ledger keeps, per cid, the latest
by-value order state, and counts each execution once by its ``execution_id``; a fill beyond
the order's quantity is flagged as an overfill. It is a record of what the broker said, not a
trading engine: the order-state machine, positions and risk belong to the trading engine.
An acknowledgement is never taken for a fill.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from orderflow.core.errors import RequestError
from orderflow.protocol import Command, CommandAck, Execution, OrderUpdate, PositionUpdate

__all__ = ["COMMAND_TIMEOUT_S", "OrderLedger", "OrderRecord"]

COMMAND_TIMEOUT_S = 5.0
#: an unanswered command older than this is not sent again after a reconnect
COMMAND_MAX_AGE_S = 30.0
#: NinjaTrader's terminal states (Order.IsTerminalState)
TERMINAL = frozenset({"Filled", "Cancelled", "Rejected", "Unknown"})
_NEEDS_LIMIT = frozenset({"Limit", "StopLimit"})
_NEEDS_STOP = frozenset({"StopMarket", "StopLimit", "MIT"})


@dataclass(slots=True)
class CommandRecord:
    command: Command
    client: str
    issued_ns: int
    status: str = "pending"  # pending, done, refused, timed_out, expired
    reason: str = ""
    answered_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**msgspec.structs.asdict(self.command), "status": self.status,
                "reason": self.reason, "issued_ns": self.issued_ns,
                "answered_ns": self.answered_ns}  # fmt: skip


@dataclass(slots=True)
class OrderRecord:
    """One order by our client id: its commands, its latest NinjaTrader state, its fills."""

    cid: str
    instrument: str
    client: str | None
    commands: list[CommandRecord] = field(default_factory=list)
    state: str | None = None  # the latest NinjaTrader OrderState reported
    quantity: int = 0
    limit_price: float = 0.0
    stop_price: float = 0.0
    order_id: str = ""
    error: str = "NoError"
    comment: str = ""
    updates: int = 0
    filled: int = 0  # from executions, each counted once
    fill_value: float = 0.0
    executions: list[str] = field(default_factory=list)
    overfill: bool = False
    ours: bool = True  # False: NinjaTrader reported it without a command of ours

    @property
    def avg_fill_price(self) -> float | None:
        return self.fill_value / self.filled if self.filled else None

    def to_dict(self) -> dict[str, Any]:
        last = self.commands[-1] if self.commands else None
        return {
            "cid": self.cid,
            "instrument": self.instrument,
            "client": self.client,
            "ours": self.ours,
            "state": self.state,
            "terminal": self.state in TERMINAL,
            "quantity": self.quantity,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "filled": self.filled,
            "avg_fill_price": self.avg_fill_price,
            "overfill": self.overfill,
            "order_id": self.order_id,
            "error": self.error,
            "comment": self.comment,
            "updates": self.updates,
            "executions": list(self.executions),
            "command": None if last is None else last.status,
            "commands": [c.to_dict() for c in self.commands],
        }


class OrderLedger:
    """Commands issued per client, and the orders, fills and positions NinjaTrader reports."""

    def __init__(
        self,
        timeout_s: float = COMMAND_TIMEOUT_S,
        historical_only: bool = False,
        on_alert: Callable[[str, str, str], None] | None = None,
        max_age_s: float = COMMAND_MAX_AGE_S,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_age_s = max_age_s
        self.historical_only = historical_only
        self.on_alert = on_alert
        self.orders: dict[str, OrderRecord] = {}
        self.positions: dict[tuple[str, str], dict[str, Any]] = {}
        self.next_command: Counter[str] = Counter()  # client -> last command_seq issued
        self.outbox: dict[str, OrderedDict[int, CommandRecord]] = {}  # client -> unanswered
        self._seen_exec: set[str] = set()
        self.counters: Counter[str] = Counter()

    # ---- commands ------------------------------------------------------------------------
    def issue(
        self, client: str, instrument: str, fields: dict[str, Any], wire_name: str | None = None
    ) -> Command:
        """Check a command and queue it for ``client``; the Command to send. ``instrument`` is
        the server's key (``ESH4``), ``wire_name`` the instrument as the client names it
        (``ES 03-24``, what the command carries). A command that cannot be valid (unknown cid
        for change/cancel, a reused cid, a missing price) is a RequestError naming the field,
        and nothing is queued."""
        if self.historical_only:
            raise RequestError(
                "flags.historical_only: this server never sends live orders",
                field="flags.historical_only",
            )
        op = fields.get("op")
        cid = fields.get("cid")
        if not isinstance(cid, str):
            raise RequestError("cid: required", field="cid")
        known = self.orders.get(cid)
        if op == "submit":
            if known is not None:
                raise RequestError(f"cid: {cid!r} is already used (cids are never reused)",
                                   field="cid")  # fmt: skip
            for name in ("action", "order_type"):
                if not fields.get(name):
                    raise RequestError(f"{name}: required to submit", field=name)
            if int(fields.get("quantity") or 0) <= 0:
                raise RequestError("quantity: must be positive to submit", field="quantity")
            kind = fields["order_type"]
            if kind in _NEEDS_LIMIT and not fields.get("limit_price"):
                raise RequestError(f"limit_price: required for {kind}", field="limit_price")
            if kind in _NEEDS_STOP and not fields.get("stop_price"):
                raise RequestError(f"stop_price: required for {kind}", field="stop_price")
        elif op in ("change", "cancel"):
            if known is None:
                raise RequestError(f"cid: no order {cid!r}", field="cid")
            if known.state in TERMINAL:
                raise RequestError(f"cid: order {cid!r} is {known.state}", field="cid")
            if op == "change" and int(fields.get("quantity") or 0) <= 0:
                raise RequestError("quantity: must be positive to change", field="quantity")
        seq = self.next_command[client] + 1
        now = time.time_ns()
        try:
            command = msgspec.convert(
                {**fields, "command_seq": seq, "instrument": wire_name or instrument,
                 "t": now, "type": "command"}, Command)  # fmt: skip
        except msgspec.ValidationError as exc:
            text = str(exc)
            name = text.rsplit("$.", 1)[-1].rstrip("`") if "$." in text else "command"
            raise RequestError(f"{name}: {text.split(' - at ')[0]}", field=name) from None
        self.next_command[client] = seq
        rec = CommandRecord(command, client, now)
        if op == "submit":
            self.orders[cid] = OrderRecord(cid, instrument, client, quantity=command.quantity,
                                           limit_price=command.limit_price,
                                           stop_price=command.stop_price)  # fmt: skip
        self.orders[cid].commands.append(rec)
        self.outbox.setdefault(client, OrderedDict())[seq] = rec
        self.counters[f"commands_{op}"] += 1
        return command

    def pending(self, client: str, now_ns: int | None = None) -> list[Command]:
        """Commands of ``client`` not yet answered, in order, to send again after a reconnect.
        One older than ``max_age_s`` is not sent again (a market order minutes late is worse
        than none): it is marked ``expired`` and leaves the outbox; should the bridge have
        executed it after all, its order reports still arrive under its cid."""
        box = self.outbox.get(client)
        if not box:
            return []
        now = now_ns if now_ns is not None else time.time_ns()
        limit = int(self.max_age_s * 1e9)
        for seq, rec in list(box.items()):
            if now - rec.issued_ns > limit:
                del box[seq]
                rec.status, rec.reason = "expired", f"unanswered for over {self.max_age_s:g} s"
                self.counters["commands_expired"] += 1
        return [r.command for r in box.values()]

    def acknowledge(self, client: str, ack: CommandAck) -> bool:
        """The bridge's answer; False (and counted) when it matches no command of this
        client. A second answer to the same command changes nothing."""
        box = self.outbox.get(client)
        rec = box.pop(ack.command_seq, None) if box else None
        if rec is None:  # answered before, expired, or unknown
            order = self.orders.get(ack.cid)
            seq = ack.command_seq
            mine = order.commands if order else []
            earlier = [c for c in mine if c.command.command_seq == seq and c.client == client]
            if not earlier:
                self.counters["command_acks_unknown"] += 1
                return False
            rec = earlier[0]
            if rec.status != "expired":
                self.counters["command_acks_repeated"] += 1
                return True
            box = None  # an expired command answered after all: take the answer
        if rec.command.cid != ack.cid:
            if box is not None:
                box[ack.command_seq] = rec
            self.counters["command_acks_unknown"] += 1
            return False
        late = rec.status in ("timed_out", "expired")
        rec.status, rec.reason, rec.answered_ns = ack.status, ack.reason, time.time_ns()
        self.counters[f"commands_{ack.status}"] += 1
        if late:
            self.counters["commands_answered_late"] += 1
        return True

    def expire(self, now_ns: int | None = None) -> list[CommandRecord]:
        """Mark commands that got no answer within the timeout as timed out (they stay in the
        outbox: a late answer is still taken, and a reconnect sends them again)."""
        now = now_ns if now_ns is not None else time.time_ns()
        limit = int(self.timeout_s * 1e9)
        out = []
        for box in self.outbox.values():
            for rec in box.values():
                if rec.status == "pending" and now - rec.issued_ns > limit:
                    rec.status = "timed_out"
                    out.append(rec)
                    self.counters["commands_timed_out"] += 1
                    if self.on_alert is not None:
                        c = rec.command
                        self.on_alert("command_timeout", c.instrument,
                                      f"{c.op} {c.cid} (command {c.command_seq} to {rec.client}) "
                                      f"unanswered after {self.timeout_s:g} s")  # fmt: skip
        return out

    # ---- what NinjaTrader reports --------------------------------------------------------
    def apply(
        self,
        instrument: str,
        client: str | None,
        orders: list[OrderUpdate],
        executions: list[Execution],
        positions: list[PositionUpdate],
    ) -> dict[str, int]:
        """Record one batch's order updates, executions and position updates; how many of
        each were new."""
        new = {"orders": 0, "executions": 0, "positions": 0}
        for u in orders:
            rec = self._order(u.cid, instrument, client)
            rec.state, rec.quantity, rec.order_id = u.state, u.quantity, u.order_id
            rec.limit_price, rec.stop_price = u.limit_price, u.stop_price
            rec.error, rec.comment = u.error, u.comment
            rec.updates += 1
            new["orders"] += 1
            if u.state == "Rejected" and self.on_alert is not None:
                self.on_alert("order_rejected", instrument, f"{u.cid}: {u.error} {u.comment}")
        for e in executions:
            if e.execution_id in self._seen_exec:
                self.counters["executions_duplicate"] += 1
                continue
            self._seen_exec.add(e.execution_id)
            rec = self._order(e.cid, instrument, client)
            rec.filled += e.quantity
            rec.fill_value += e.price * e.quantity
            rec.executions.append(e.execution_id)
            if rec.quantity and rec.filled > rec.quantity and not rec.overfill:
                rec.overfill = True
                self.counters["overfills"] += 1
                if self.on_alert is not None:
                    self.on_alert("overfill", instrument,
                                  f"{e.cid}: filled {rec.filled} of {rec.quantity}")  # fmt: skip
            new["executions"] += 1
        for p in positions:
            self.positions[(instrument, p.account)] = {
                "instrument": instrument,
                "account": p.account,
                "market_position": p.market_position,
                "quantity": p.quantity,
                "signed_quantity": -p.quantity if p.market_position == "Short" else p.quantity,
                "average_price": p.average_price,
                "t": p.t,
            }
            new["positions"] += 1
        return new

    def adopt(
        self, cid: str, instrument: str, client: str, state: str, quantity: int, filled: int,
        limit_price: float = 0.0, stop_price: float = 0.0, ours: bool = True,
    ) -> OrderRecord:  # fmt: skip
        """An order the trading engine knows and this ledger does not (restored from the
        journal after a restart, or adopted from NinjaTrader's report), so that a change or
        cancel of it can be issued. No effect when the ledger has it already."""
        rec = self.orders.get(cid)
        if rec is None:
            rec = self.orders[cid] = OrderRecord(
                cid, instrument, client, state=state, quantity=quantity,
                limit_price=limit_price, stop_price=stop_price, filled=filled, ours=ours,
            )  # fmt: skip
            self.counters["orders_adopted"] += 1
        return rec

    def _order(self, cid: str, instrument: str, client: str | None) -> OrderRecord:
        rec = self.orders.get(cid)
        if rec is None:  # NinjaTrader reports an order we never sent (manual, restarted ...)
            rec = self.orders[cid] = OrderRecord(cid, instrument, client, ours=False)
            self.counters["orders_foreign"] += 1
        return rec

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.orders.values()]
