"""The transport of order commands to the bridge: numbering, acknowledgement, resend, expiry.

The trading engine's order desk (:class:`~orderflow.trading.desk.OrderDesk`) is the one record
of orders and fills; it decides what may be sent. This outbox only carries a command the desk
issued to a client by name:

- each command gets the client's next ``command_seq`` (1, 2, ...; a refused one takes none);
- it is *pending* until the bridge answers with ``command_ack`` (*done*: the NinjaScript call
  was made, never a fill; *refused*: with the reason), or *timed_out* when no answer comes
  within ``timeout_ns`` (alerted once; a late answer is still taken);
- a command still unanswered when its client reconnects is sent again, unless it is older than
  ``max_age_ns``: then it is *expired* and not sent (a market order minutes late is worse than
  none); the bridge acknowledges a resent command without executing it twice.

The last line of the wire contract is checked here too, whatever the desk did: the fields must
make a protocol ``command`` (a submit names its action and order type with a positive quantity,
a Limit or StopLimit its limit price, a StopMarket, StopLimit or MIT its stop price), and with
``flags.historical_only`` nothing is sent. No order state, no fill: those are the desk's.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from orderflow.core.errors import RequestError
from orderflow.protocol import Command, CommandAck
from orderflow.trading.orders import COMMAND_TIMEOUT_NS

__all__ = ["COMMAND_MAX_AGE_NS", "CommandRecord", "Outbox"]

#: an unanswered command older than this is not sent again after a reconnect
COMMAND_MAX_AGE_NS = 30_000_000_000
_NEEDS_LIMIT = frozenset({"Limit", "StopLimit"})
_NEEDS_STOP = frozenset({"StopMarket", "StopLimit", "MIT"})


@dataclass(slots=True)
class CommandRecord:
    """One command sent (or to send) to ``client`` and what became of it."""

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


class Outbox:
    """Per client: the commands issued, numbered, and those not yet answered."""

    def __init__(
        self,
        timeout_ns: int = COMMAND_TIMEOUT_NS,
        historical_only: bool = False,
        on_alert: Callable[[str, str, str], None] | None = None,
        max_age_ns: int = COMMAND_MAX_AGE_NS,
    ) -> None:
        self.timeout_ns = timeout_ns
        self.max_age_ns = max_age_ns
        self.historical_only = historical_only
        self.on_alert = on_alert
        self.next_command: Counter[str] = Counter()  # client -> last command_seq issued
        self.unanswered: dict[str, OrderedDict[int, CommandRecord]] = {}  # client -> by seq
        self.sent: dict[tuple[str, int], CommandRecord] = {}  # (client, seq) -> every command
        self.by_cid: dict[tuple[str, str], list[CommandRecord]] = {}  # (client, cid) -> ...
        self.counters: Counter[str] = Counter()

    def issue(self, client: str, fields: dict[str, Any], instrument: str) -> Command:
        """Number a command for ``client`` and keep it until answered; the Command to send.
        ``instrument`` as the client names it (``ES 03-24``). Fields that make no valid
        command are a RequestError naming the field, and nothing is numbered or kept."""
        if self.historical_only:
            raise RequestError(
                "flags.historical_only: this server never sends live orders",
                field="flags.historical_only",
            )
        op = fields.get("op")
        if not isinstance(fields.get("cid"), str):
            raise RequestError("cid: required", field="cid")
        if op == "submit":
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
        elif op == "change" and int(fields.get("quantity") or 0) <= 0:
            raise RequestError("quantity: must be positive to change", field="quantity")
        seq = self.next_command[client] + 1
        now = time.time_ns()
        try:
            command = msgspec.convert(
                {**fields, "command_seq": seq, "instrument": instrument, "t": now,
                 "type": "command"}, Command)  # fmt: skip
        except msgspec.ValidationError as exc:
            text = str(exc)
            name = text.rsplit("$.", 1)[-1].rstrip("`") if "$." in text else "command"
            raise RequestError(f"{name}: {text.split(' - at ')[0]}", field=name) from None
        self.next_command[client] = seq
        rec = CommandRecord(command, client, now)
        self.unanswered.setdefault(client, OrderedDict())[seq] = rec
        self.sent[(client, seq)] = rec
        self.by_cid.setdefault((client, command.cid), []).append(rec)
        self.counters[f"commands_{op}"] += 1
        return command

    def pending(self, client: str, now_ns: int | None = None) -> list[Command]:
        """Commands of ``client`` not yet answered, in order, to send again after a reconnect.
        One older than ``max_age_ns`` is not sent again: it is marked ``expired`` and leaves
        the outbox; should the bridge have executed it after all, its order reports still
        arrive under its cid, and a late answer is still taken."""
        box = self.unanswered.get(client)
        if not box:
            return []
        now = now_ns if now_ns is not None else time.time_ns()
        for seq, rec in list(box.items()):
            if now - rec.issued_ns > self.max_age_ns:
                del box[seq]
                rec.status = "expired"
                rec.reason = f"unanswered for over {self.max_age_ns / 1e9:g} s"
                self.counters["commands_expired"] += 1
        return [r.command for r in box.values()]

    def acknowledge(self, client: str, ack: CommandAck) -> bool:
        """The bridge's answer; False (and counted) when it matches no command of this client
        (another number, another cid). A second answer to the same command changes nothing."""
        rec = self.sent.get((client, ack.command_seq))
        if rec is None or rec.command.cid != ack.cid:
            self.counters["command_acks_unknown"] += 1
            return False
        if rec.status in ("done", "refused"):
            self.counters["command_acks_repeated"] += 1
            return True
        box = self.unanswered.get(client)
        if box is not None:
            box.pop(ack.command_seq, None)
        if rec.status in ("timed_out", "expired"):
            self.counters["commands_answered_late"] += 1
        rec.status, rec.reason, rec.answered_ns = ack.status, ack.reason, time.time_ns()
        self.counters[f"commands_{ack.status}"] += 1
        return True

    def expire(self, now_ns: int | None = None) -> list[CommandRecord]:
        """Mark commands that got no answer within the timeout as timed out (alerted once;
        they stay in the outbox: a late answer is still taken, a reconnect sends them again)."""
        now = now_ns if now_ns is not None else time.time_ns()
        out = []
        for box in self.unanswered.values():
            for rec in box.values():
                if rec.status == "pending" and now - rec.issued_ns > self.timeout_ns:
                    rec.status = "timed_out"
                    out.append(rec)
                    self.counters["commands_timed_out"] += 1
                    if self.on_alert is not None:
                        c = rec.command
                        self.on_alert("command_timeout", c.instrument,
                                      f"{c.op} {c.cid} (command {c.command_seq} to {rec.client}) "
                                      f"unanswered after {self.timeout_ns / 1e9:g} s")  # fmt: skip
        return out

    def commands_of(self, client: str, cid: str) -> list[CommandRecord]:
        """The commands sent to ``client`` for order ``cid``, oldest first."""
        return self.by_cid.get((client, cid), [])

    def record(self, client: str, command_seq: int) -> CommandRecord | None:
        return self.sent.get((client, command_seq))
