"""NinjaTrader's unmanaged orders, mirrored: the order model and its state machine.

An :class:`Order` carries our client id (``cid``, NinjaTrader's signalName), NinjaTrader's
action, type, time in force and OCO group, and prices as exact integer ticks. The
:class:`OrderManager` issues the commands (:class:`OrderCommand`: submit, change, cancel, the
fields of the protocol's ``command``) and is driven by what the bridge reports, mapped by the
server onto two transport-free structs: :class:`OrderEvent` (``OnOrderUpdate``'s by-value
parameters) and :class:`Fill` (``OnExecutionUpdate``).

The rules (``shared/docs/ninjatrader-api.md`` section 3, ``docs/trading.md``):

- NinjaTrader publishes a lifecycle, not a transition table, and skips states (Submitted ->
  Working, Working -> Filled): :data:`TRANSITIONS` allows every forward skip.
- Terminal states (Filled, Cancelled, Rejected, Unknown, ``Order.IsTerminalState``) end the
  order: a different state reported afterwards is refused and counted (``after_terminal``).
- By-value updates may arrive late or twice. An update identical to one already applied is a
  ``duplicate``; one older than the latest applied (earlier time, or fewer contracts filled)
  is ``stale``; neither changes anything. A transition the table does not allow that goes back
  in the lifecycle at the same time is ``stale`` too; any other is ``impossible``: counted,
  written to the order's anomalies, and the state is left as it was.
- Fills count only from executions, once per ``execution_id``. An order update's ``filled``
  (or a Filled state) is never a fill; a command acknowledgement even less.
- Overfill, as NinjaTrader defines it (``IgnoreOverfill``): a fill of an order after it was
  marked for cancellation (our cancel, or a Cancel* state reported), or fills beyond its
  quantity. Sticky, and found whatever order the fill and the cancel arrive in.
- A change while a cancel is pending is refused (``cancel_pending``), as is any command on a
  terminal order; a cancel already requested is not sent twice.
- A command is answered by the bridge's acknowledgement or by an order update that shows its
  effect; one left unanswered past ``timeout_ns`` of the clock passed in is marked
  ``timed_out`` by :meth:`OrderManager.expire` (a late answer is still taken).

No wall clock is read here: every call takes ``now`` in ns (UTC).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import msgspec

from orderflow.core.errors import OrderflowError, TradingInputError
from orderflow.model.instruments import Instrument
from orderflow.trading.checks import money_value, quantity_value

__all__ = [
    "CANCELLING",
    "CHANGING",
    "COMMAND_TIMEOUT_NS",
    "TERMINAL",
    "TRANSITIONS",
    "CommandError",
    "Fill",
    "Order",
    "OrderAction",
    "OrderCommand",
    "OrderEvent",
    "OrderManager",
    "OrderState",
    "OrderType",
    "Outcome",
    "PendingCommand",
    "Side",
    "TimeInForce",
    "fill_event",
    "order_event",
]

#: a command unanswered this long is ``timed_out`` (the default of ``server.command_timeout_s``,
#: which the server's desks and its outbox share)
COMMAND_TIMEOUT_NS = 5_000_000_000
_CID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,50}$")
#: the longest reason a command carries to NinjaTrader (the protocol's limit)
MAX_REASON = 200


class OrderAction(StrEnum):
    """NinjaTrader's ``OrderAction`` names."""

    BUY = "Buy"
    SELL = "Sell"
    SELL_SHORT = "SellShort"
    BUY_TO_COVER = "BuyToCover"

    @property
    def is_buy(self) -> bool:
        return self in (OrderAction.BUY, OrderAction.BUY_TO_COVER)


class OrderType(StrEnum):
    """NinjaTrader's ``OrderType`` names."""

    MARKET = "Market"
    LIMIT = "Limit"
    STOP_MARKET = "StopMarket"
    STOP_LIMIT = "StopLimit"
    MIT = "MIT"


class TimeInForce(StrEnum):
    """NinjaTrader's ``TimeInForce`` (a strategy-wide property in NinjaScript, kept per order
    here so a journal shows what each order was live under)."""

    DAY = "Day"
    GTC = "Gtc"
    IOC = "Ioc"
    OPG = "Opg"
    GTD = "Gtd"


class OrderState(StrEnum):
    """NinjaTrader's ``OrderState`` names."""

    INITIALIZED = "Initialized"
    SUBMITTED = "Submitted"
    ACCEPTED = "Accepted"
    WORKING = "Working"
    PART_FILLED = "PartFilled"
    FILLED = "Filled"
    CANCEL_PENDING = "CancelPending"
    CANCEL_SUBMITTED = "CancelSubmitted"
    CANCELLED = "Cancelled"
    CHANGE_PENDING = "ChangePending"
    CHANGE_SUBMITTED = "ChangeSubmitted"
    REJECTED = "Rejected"
    TRIGGER_PENDING = "TriggerPending"
    SUSPENDED = "Suspended"
    ACCEPTED_BY_RISK = "AcceptedByRisk"
    UNKNOWN = "Unknown"


class Side(StrEnum):
    """The side of a fill: NinjaTrader's execution ``MarketPosition`` Long = bought (Buy,
    BuyToCover), Short = sold (Sell, SellShort)."""

    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


S = OrderState
#: ``Order.IsTerminalState``
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.UNKNOWN})
CANCELLING = frozenset({S.CANCEL_PENDING, S.CANCEL_SUBMITTED})
CHANGING = frozenset({S.CHANGE_PENDING, S.CHANGE_SUBMITTED})
#: held by NinjaTrader, the broker or the exchange, fillable
_RESTING = frozenset({S.ACCEPTED, S.ACCEPTED_BY_RISK, S.TRIGGER_PENDING, S.SUSPENDED, S.WORKING})
_LIVE = _RESTING | {S.PART_FILLED}
_ENDS = frozenset({S.PART_FILLED, S.FILLED, S.REJECTED, S.UNKNOWN}) | CANCELLING | {S.CANCELLED}

#: NinjaTrader's documented lifecycle with every forward skip allowed:
#: Initialized -> Submitted -> Accepted -> Working -> PartFilled* -> Filled; change:
#: ChangePending -> ChangeSubmitted -> back to a live state; cancel: CancelPending ->
#: CancelSubmitted -> Cancelled (or a fill that raced it, or back to live when NinjaTrader
#: could not cancel); Rejected from anywhere before the end; Unknown from anywhere.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.INITIALIZED: frozenset({S.SUBMITTED} | _RESTING | _ENDS | CHANGING),
    S.SUBMITTED: frozenset(_RESTING | _ENDS | CHANGING),
    S.ACCEPTED: frozenset(_RESTING - {S.ACCEPTED} | _ENDS | CHANGING),
    S.ACCEPTED_BY_RISK: frozenset(_RESTING - {S.ACCEPTED_BY_RISK} | _ENDS | CHANGING),
    S.TRIGGER_PENDING: frozenset(_RESTING - {S.TRIGGER_PENDING} | _ENDS | CHANGING),
    S.SUSPENDED: frozenset(_RESTING - {S.SUSPENDED} | _ENDS | CHANGING),
    S.WORKING: frozenset({S.SUSPENDED, S.TRIGGER_PENDING} | _ENDS | CHANGING),
    S.PART_FILLED: frozenset(_ENDS | CHANGING),
    S.CHANGE_PENDING: frozenset({S.CHANGE_SUBMITTED} | _LIVE | _ENDS),
    S.CHANGE_SUBMITTED: frozenset({S.CHANGE_PENDING} | _LIVE | _ENDS),
    S.CANCEL_PENDING: frozenset({S.CANCEL_SUBMITTED} | _LIVE | _ENDS - {S.CANCEL_PENDING}),
    S.CANCEL_SUBMITTED: frozenset({S.CANCELLED} | _LIVE | _ENDS - CANCELLING),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.UNKNOWN: frozenset(),
}  # fmt: skip

#: position in the lifecycle, to tell a late report (going back) from an impossible one
_RANK: dict[OrderState, int] = {
    S.INITIALIZED: 0, S.SUBMITTED: 1, S.ACCEPTED: 2, S.ACCEPTED_BY_RISK: 2,
    S.TRIGGER_PENDING: 2, S.SUSPENDED: 2, S.WORKING: 3, S.CHANGE_PENDING: 3,
    S.CHANGE_SUBMITTED: 3, S.PART_FILLED: 4, S.CANCEL_PENDING: 5, S.CANCEL_SUBMITTED: 6,
    S.FILLED: 7, S.CANCELLED: 7, S.REJECTED: 7, S.UNKNOWN: 7,
}  # fmt: skip

_NEEDS_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_STOP = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.MIT})

Op = Literal["submit", "change", "cancel"]
Outcome = Literal["applied", "duplicate", "stale", "after_terminal", "impossible"]


class CommandError(OrderflowError):
    """A command that must not be sent; ``reason`` is a code the trader sees
    (unknown_order, terminal, cancel_pending, cid_reused, oco_reused, bad_quantity,
    missing_price, not_reconciled, bad_cid, nothing_to_change)."""

    code = "order_refused"

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class OrderEvent(msgspec.Struct, frozen=True):
    """One ``OnOrderUpdate``, by value (prices in ticks; None: not set, NinjaScript's 0)."""

    cid: str
    state: OrderState
    t: int
    quantity: int
    filled: int = 0
    limit_ticks: int | None = None
    stop_ticks: int | None = None
    order_id: str = ""
    error: str = "NoError"
    comment: str = ""


class Fill(msgspec.Struct, frozen=True):
    """One ``OnExecutionUpdate``: ``execution_id`` is the exchange's id, counted once.
    ``commission`` and ``fees`` (exchange, clearing, NFA) in the account currency."""

    execution_id: str
    cid: str
    t: int
    price_ticks: int
    quantity: int
    side: Side
    commission: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    instrument: str = ""
    account: str = ""


def order_event(
    instrument: Instrument,
    cid: str,
    state: str,
    t: int,
    quantity: int,
    filled: int = 0,
    limit_price: float = 0.0,
    stop_price: float = 0.0,
    order_id: str = "",
    error: str = "NoError",
    comment: str = "",
) -> OrderEvent:
    """An ``OnOrderUpdate`` as the bridge forwards it (the protocol ``OrderUpdate``'s fields,
    prices in the exchange's units, 0 = unused) to an :class:`OrderEvent` in ticks. A price
    off the instrument's grid raises ``OffTickError``."""
    return OrderEvent(
        cid, OrderState(state), t, quantity, filled,
        instrument.to_ticks(limit_price) if limit_price else None,
        instrument.to_ticks(stop_price) if stop_price else None,
        order_id, error, comment,
    )  # fmt: skip


def fill_event(
    instrument: Instrument,
    execution_id: str,
    cid: str,
    t: int,
    price: float,
    quantity: int,
    market_position: str,
    commission: Decimal | float = 0.0,
    fees: Decimal | float = 0.0,
    account: str = "",
) -> Fill:
    """An ``OnExecutionUpdate`` (the protocol ``Execution``'s fields: ``market_position``
    Long = bought, Short = sold) to a :class:`Fill` in ticks; ``fees`` come from the broker
    profile (NinjaTrader's execution carries only the commission)."""
    if market_position not in ("Long", "Short"):
        raise TradingInputError(
            f"market_position of a fill: Long or Short, not {market_position!r}"
        )
    side = Side.BUY if market_position == "Long" else Side.SELL
    return Fill(
        execution_id, cid, t, instrument.to_ticks(price), quantity_value(quantity, "quantity"),
        side, money_value(commission, "commission"), money_value(fees, "fees"),
        instrument.contract or instrument.symbol, account,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OrderCommand:
    """A command for the bridge: the protocol ``command``'s fields (the server adds
    ``command_seq``). ``ref`` numbers the engine's commands; acknowledge by it."""

    ref: int
    op: Op
    cid: str
    instrument: str
    t: int
    action: OrderAction | None = None
    order_type: OrderType | None = None
    quantity: int = 0
    limit_ticks: int | None = None
    stop_ticks: int | None = None
    tif: TimeInForce | None = None
    oco: str = ""
    #: why the engine sends it (an exit's reason, e.g. ``absorption_against ...``), or ""
    reason: str = ""

    def fields(self, instrument: Instrument) -> dict[str, Any]:
        """The fields of the protocol's ``command`` (prices in the exchange's units, 0 when
        unused as in NinjaScript), ready for the server's ledger."""
        out: dict[str, Any] = {"op": self.op, "cid": self.cid}
        if self.reason:
            out["reason"] = self.reason[:MAX_REASON]
        if self.op == "cancel":
            return out
        out["quantity"] = self.quantity
        out["limit_price"] = (
            0.0 if self.limit_ticks is None else instrument.to_price(self.limit_ticks)
        )
        out["stop_price"] = 0.0 if self.stop_ticks is None else instrument.to_price(self.stop_ticks)
        if self.op == "submit":
            assert self.action is not None and self.order_type is not None
            out.update(action=str(self.action), order_type=str(self.order_type), oco=self.oco)
        return out  # fmt: skip


@dataclass(slots=True)
class PendingCommand:
    command: OrderCommand
    #: pending; seen (a report showed its effect); done / refused (the bridge's answer);
    #: timed_out (neither within the timeout; a later answer is still taken)
    status: str = "pending"
    reason: str = ""
    answered_t: int = 0

    @property
    def open(self) -> bool:
        return self.status in ("pending", "timed_out")


@dataclass(slots=True)
class Order:
    """One order by our client id: what we asked, what NinjaTrader said, what filled."""

    cid: str
    instrument: str
    action: OrderAction | None
    order_type: OrderType | None
    quantity: int  # NinjaTrader's latest (our submitted quantity until it reports)
    limit_ticks: int | None = None
    stop_ticks: int | None = None
    tif: TimeInForce = TimeInForce.GTC
    oco: str = ""
    account: str = ""
    ours: bool = True  # False: reported by NinjaTrader without a command of ours
    created_t: int = 0
    state: OrderState = OrderState.INITIALIZED
    requested_quantity: int = 0  # our latest submit/change
    reported_filled: int = 0  # NinjaTrader's by-value filled (never counted as a fill)
    order_id: str = ""
    error: str = "NoError"
    comment: str = ""
    last_t: int = -1  # time of the latest applied update
    seen_updates: set[tuple[Any, ...]] = field(default_factory=set)
    updates: int = 0
    filled: int = 0  # from executions, each once
    fill_cost_ticks: int = 0  # sum of price_ticks x quantity
    fills: list[Fill] = field(default_factory=list)
    cancel_marks: set[int] = field(default_factory=set)  # our cancels, Cancel* reports
    cancel_clears: set[int] = field(default_factory=set)  # cancels refused / not possible
    overfill: bool = False
    overfill_reasons: set[str] = field(default_factory=set)
    overfill_alerted: set[str] = field(default_factory=set)
    anomalies: list[str] = field(default_factory=list)
    commands: list[PendingCommand] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def remaining(self) -> int:
        return max(0, self.quantity - self.filled)

    @property
    def cancel_t(self) -> int | None:
        """When the order was marked for cancellation (our cancel or a Cancel* report) and
        not un-marked since (a refused cancel, NinjaTrader's UnableToCancelOrder). Computed
        from every such time seen, so the order they arrive in does not matter."""
        if not self.cancel_marks:  # never marked (most orders)
            return None
        after = max(self.cancel_clears, default=-1)
        return min((t for t in self.cancel_marks if t > after), default=None)

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_t is not None

    @property
    def avg_fill_ticks(self) -> float | None:
        return self.fill_cost_ticks / self.filled if self.filled else None

    def pending(self, op: Op | None = None) -> list[PendingCommand]:
        return [c for c in self.commands if c.open and (op is None or c.command.op == op)]

    def to_dict(self, instrument: Instrument | None = None) -> dict[str, Any]:
        def price(ticks: int | None) -> float | int | None:
            if ticks is None or instrument is None:
                return ticks
            return instrument.to_price(ticks)

        avg = self.avg_fill_ticks
        return {
            "cid": self.cid, "instrument": self.instrument, "account": self.account,
            "ours": self.ours, "action": self.action, "order_type": self.order_type,
            "tif": self.tif, "oco": self.oco, "state": self.state, "terminal": self.terminal,
            "quantity": self.quantity, "requested_quantity": self.requested_quantity,
            "limit_price": price(self.limit_ticks), "stop_price": price(self.stop_ticks),
            "filled": self.filled, "reported_filled": self.reported_filled,
            "avg_fill_price": (avg if instrument is None or avg is None
                               else avg * instrument.tick_fixed / 1e9),
            "overfill": self.overfill, "overfill_reasons": sorted(self.overfill_reasons),
            "anomalies": list(self.anomalies), "order_id": self.order_id, "updates": self.updates,
            "error": self.error, "comment": self.comment,
            "executions": [f.execution_id for f in self.fills],
            "commands": [{"ref": c.command.ref, "op": c.command.op, "status": c.status,
                          "reason": c.reason} for c in self.commands],
        }  # fmt: skip


class OrderManager:
    """Every order by cid, the commands for them, and NinjaTrader's reports applied to them."""

    def __init__(
        self, timeout_ns: int = COMMAND_TIMEOUT_NS, cid_prefix: str = "of-", account: str = ""
    ) -> None:
        self.timeout_ns = timeout_ns
        self.cid_prefix = cid_prefix
        self.account = account
        self.orders: dict[str, Order] = {}
        self.oco_groups: dict[str, set[str]] = {}
        self.counters: Counter[str] = Counter()
        self.alerts: list[tuple[str, str, str]] = []  # (kind, cid, text), oldest first
        self.reconciled = True  # False after a (re)connect until reconcile() has run
        self._seen_exec: set[str] = set()
        self._next_cid = 0
        self._next_ref = 0
        self._by_ref: dict[int, tuple[Order, PendingCommand]] = {}

    # ---- commands ------------------------------------------------------------------------
    def new_cid(self, suffix: str = "") -> str:
        self._next_cid += 1
        return f"{self.cid_prefix}{self._next_cid}{suffix}"

    def note_cid(self, cid: str) -> None:
        """A cid drawn by :meth:`new_cid` elsewhere (a journal's replay): the counter moves
        past it, so the next cid drawn here is the one the original drew next."""
        if cid.startswith(self.cid_prefix):
            digits = cid[len(self.cid_prefix) :].split(".", 1)[0]
            if digits.isdigit():
                self._next_cid = max(self._next_cid, int(digits))

    def _command(self, order: Order, op: Op, now: int, **kw: Any) -> OrderCommand:
        self._next_ref += 1
        cmd = OrderCommand(self._next_ref, op, order.cid, order.instrument, now, **kw)
        pc = PendingCommand(cmd)
        order.commands.append(pc)
        self._by_ref[cmd.ref] = (order, pc)
        self.counters[f"commands_{op}"] += 1
        return cmd

    def _refuse(self, reason: str, message: str, **details: Any) -> CommandError:
        self.counters[f"refused_{reason}"] += 1
        return CommandError(reason, message, **details)

    def submit(
        self,
        now: int,
        instrument: str,
        action: OrderAction,
        order_type: OrderType,
        quantity: int,
        limit_ticks: int | None = None,
        stop_ticks: int | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        oco: str = "",
        cid: str | None = None,
        account: str | None = None,
        internal: bool = False,
        reason: str = "",
    ) -> OrderCommand:
        """A new order; CommandError (counted) when it must not be sent. ``internal``: a
        command of reconciliation itself, allowed before reconciliation is done. ``reason``:
        why it is sent (an exit's), carried by its command to NinjaTrader."""
        if not self.reconciled and not internal:
            raise self._refuse("not_reconciled", "not reconciled with NinjaTrader yet")
        cid = cid or self.new_cid()
        if not _CID_RE.match(cid):
            raise self._refuse("bad_cid", f"cid {cid!r}: 1-50 of A-Z a-z 0-9 _ . : -")
        if cid in self.orders:
            raise self._refuse("cid_reused", f"cid {cid!r} is already used", cid=cid)
        if quantity <= 0:
            raise self._refuse("bad_quantity", f"quantity {quantity}: must be positive", cid=cid)
        if order_type in _NEEDS_LIMIT and limit_ticks is None:
            raise self._refuse("missing_price", f"{order_type} needs a limit price", cid=cid,
                               field="limit_price")  # fmt: skip
        if order_type in _NEEDS_STOP and stop_ticks is None:
            raise self._refuse("missing_price", f"{order_type} needs a stop price", cid=cid,
                               field="stop_price")  # fmt: skip
        if oco:
            group = self.oco_groups.get(oco)
            if group and all(self.orders[c].terminal for c in group):
                raise self._refuse("oco_reused", f"OCO group {oco!r} has ended; never reuse one")
        order = Order(
            cid, instrument, action, order_type, quantity, limit_ticks, stop_ticks, tif, oco,
            self.account if account is None else account, created_t=now,
            requested_quantity=quantity,
        )  # fmt: skip
        self.orders[cid] = order
        if oco:
            self.oco_groups.setdefault(oco, set()).add(cid)
        return self._command(
            order, "submit", now, action=action, order_type=order_type, quantity=quantity,
            limit_ticks=limit_ticks, stop_ticks=stop_ticks, tif=tif, oco=oco, reason=reason,
        )  # fmt: skip

    def change(
        self,
        now: int,
        cid: str,
        quantity: int | None = None,
        limit_ticks: int | None = None,
        stop_ticks: int | None = None,
    ) -> OrderCommand:
        """NinjaScript's ChangeOrder: the new total quantity and prices (None: unchanged)."""
        order = self._live(cid, "change")
        if order.cancel_requested or order.state in CANCELLING:
            raise self._refuse("cancel_pending", f"{cid}: a cancel is pending", cid=cid)
        qty = order.requested_quantity if quantity is None else quantity
        if qty <= order.filled:
            raise self._refuse("bad_quantity",
                               f"{cid}: quantity {qty} must exceed the {order.filled} filled",
                               cid=cid)  # fmt: skip
        limit = order.limit_ticks if limit_ticks is None else limit_ticks
        stop = order.stop_ticks if stop_ticks is None else stop_ticks
        if (qty, limit, stop) == (order.requested_quantity, order.limit_ticks, order.stop_ticks):
            raise self._refuse("nothing_to_change", f"{cid}: nothing to change", cid=cid)
        order.requested_quantity = qty
        order.limit_ticks, order.stop_ticks = limit, stop
        return self._command(order, "change", now, quantity=qty, limit_ticks=limit,
                             stop_ticks=stop)  # fmt: skip

    def cancel(self, now: int, cid: str) -> OrderCommand | None:
        """NinjaScript's CancelOrder (a request: the order may still fill). None when a cancel
        is already pending: it is never sent twice."""
        order = self._live(cid, "cancel")
        if order.cancel_requested:
            self.counters["cancel_already_pending"] += 1
            return None
        order.cancel_marks.add(now)
        return self._command(order, "cancel", now)

    def _live(self, cid: str, op: str) -> Order:
        order = self.orders.get(cid)
        if order is None:
            raise self._refuse("unknown_order", f"{op}: no order {cid!r}", cid=cid)
        if order.terminal:
            raise self._refuse("terminal", f"{op}: {cid} is {order.state}", cid=cid)
        return order

    def acknowledge(self, ref: int, status: str, reason: str, now: int) -> bool:
        """The bridge's answer to command ``ref``: ``done`` (the NinjaScript call was made; not
        a fill) or ``refused``. A refused submit ends the order Rejected; a refused cancel
        un-marks it; a refused change keeps NinjaTrader's quantity. False: no such command."""
        found = self._by_ref.get(ref)
        if found is None:
            self.counters["acks_unknown"] += 1
            return False
        order, pc = found
        if pc.status in ("done", "refused"):
            self.counters["acks_repeated"] += 1
            return True
        if pc.status == "timed_out":
            self.counters["acks_late"] += 1
        pc.status, pc.reason, pc.answered_t = status, reason, now
        self.counters[f"acks_{status}"] += 1
        if status == "refused":
            self._refused(order, pc, reason)
        return True

    def _refused(self, order: Order, pc: PendingCommand, reason: str) -> None:
        op = pc.command.op
        self.alerts.append(("command_refused", order.cid, f"{op} refused: {reason}"))
        if op == "submit" and not order.terminal:
            order.state, order.error, order.comment = S.REJECTED, "Refused", reason
        elif op == "cancel":
            order.cancel_clears.add(pc.command.t)
        elif op == "change":
            order.requested_quantity = order.quantity

    def expire(self, now: int) -> list[PendingCommand]:
        """Commands with no answer after ``timeout_ns``: marked ``timed_out`` (still open, an
        answer is taken later), counted and alerted once; returned."""
        out = []
        for order in self.orders.values():
            for pc in order.commands:
                if pc.status == "pending" and now - pc.command.t > self.timeout_ns:
                    pc.status = "timed_out"
                    out.append(pc)
                    self.counters["commands_timed_out"] += 1
                    c = pc.command
                    self.alerts.append(("command_timeout", c.cid,
                                        f"{c.op} {c.cid} (ref {c.ref}) unanswered after "
                                        f"{self.timeout_ns / 1e9:g} s"))  # fmt: skip
        return out

    def _answered(self, order: Order, ev: OrderEvent) -> None:
        """An update that shows a command's effect answers it."""
        for pc in order.commands:
            if not pc.open:
                continue
            op = pc.command.op
            c = pc.command
            if (
                order.terminal
                or op == "submit"
                or (op == "cancel" and ev.state in CANCELLING)
                or (op == "change" and (ev.state in CHANGING or ev.error == "UnableToChangeOrder"))
                or (
                    op == "change"
                    and (ev.quantity, ev.limit_ticks, ev.stop_ticks)
                    == (c.quantity, c.limit_ticks, c.stop_ticks)
                )
            ):
                if pc.status == "timed_out":
                    self.counters["acks_late"] += 1
                pc.status, pc.answered_t = "seen", ev.t

    # ---- what NinjaTrader reports --------------------------------------------------------
    def _foreign(self, cid: str, instrument: str, account: str) -> Order:
        order = self.orders.get(cid)
        if order is None:
            order = self.orders[cid] = Order(cid, instrument, None, None, 0, ours=False,
                                             account=account or self.account)  # fmt: skip
            self.counters["orders_foreign"] += 1
        return order

    def apply_update(self, ev: OrderEvent, instrument: str = "") -> Outcome:
        """Apply one by-value order update; what it was (see the module's rules)."""
        order = self._foreign(ev.cid, instrument, "")
        key = (ev.state, ev.t, ev.quantity, ev.filled, ev.limit_ticks, ev.stop_ticks, ev.error)
        if key in order.seen_updates:
            return self._count("duplicate")
        order.seen_updates.add(key)
        if ev.t < order.last_t or ev.filled < order.reported_filled:
            return self._stale(order, ev)
        cur = order.state
        if cur in TERMINAL and order.last_t >= 0:
            if ev.state == cur:
                return self._count("duplicate")
            if ev.t == order.last_t and _RANK[ev.state] < _RANK[cur]:
                return self._stale(order, ev)
            return self._anomaly(order, "after_terminal", f"{ev.state} after {cur}")
        if ev.state != cur and ev.state not in TRANSITIONS[cur] and order.last_t >= 0:
            if ev.t == order.last_t and _RANK[ev.state] < _RANK[cur]:
                return self._stale(order, ev)
            return self._anomaly(order, "impossible", f"{cur} -> {ev.state}")
        self._cancel_marks(order, ev)
        order.state = ev.state
        order.last_t = ev.t
        order.updates += 1
        order.reported_filled = max(order.reported_filled, ev.filled)
        if ev.quantity:
            order.quantity = ev.quantity
            # our latest change stands until NinjaTrader says it could not make it
            for c in order.commands:
                if c.command.op == "change" and ev.error != "UnableToChangeOrder":
                    break
            else:
                order.requested_quantity = ev.quantity
        if ev.limit_ticks is not None:
            order.limit_ticks = ev.limit_ticks
        if ev.stop_ticks is not None:
            order.stop_ticks = ev.stop_ticks
        order.order_id = ev.order_id or order.order_id
        order.error, order.comment = ev.error, ev.comment
        if ev.state == S.REJECTED:
            self.alerts.append(("order_rejected", order.cid, f"{ev.error} {ev.comment}".strip()))
        self._answered(order, ev)
        self._check_overfill(order)
        return self._count("applied")

    def _stale(self, order: Order, ev: OrderEvent) -> Outcome:
        """A late report changes no state, but still tells when the order was marked for
        cancellation (so a fill after that is an overfill, whatever the arrival order)."""
        self._cancel_marks(order, ev)
        self._check_overfill(order)
        return self._count("stale")

    @staticmethod
    def _cancel_marks(order: Order, ev: OrderEvent) -> None:
        if ev.state in CANCELLING or ev.state == S.CANCELLED:
            order.cancel_marks.add(ev.t)
        elif ev.error == "UnableToCancelOrder" and ev.state in _LIVE:
            order.cancel_clears.add(ev.t)  # NinjaTrader could not cancel: still working

    def apply_fill(self, fill: Fill) -> bool:
        """Count one execution; False for a duplicate (same ``execution_id``)."""
        if fill.execution_id in self._seen_exec:
            self.counters["executions_duplicate"] += 1
            return False
        self._seen_exec.add(fill.execution_id)
        order = self._foreign(fill.cid, fill.instrument, fill.account)
        order.fills.append(fill)
        order.filled += fill.quantity
        order.fill_cost_ticks += fill.price_ticks * fill.quantity
        self.counters["executions"] += 1
        self._check_overfill(order)
        return True

    def _check_overfill(self, order: Order) -> None:
        """Overfill reasons from the order's current truth (so a fill that arrives before the
        update raising the quantity is not one); each reason is alerted once."""
        reasons = set()
        if order.ours and order.quantity and order.filled > order.quantity:
            reasons.add("beyond_quantity")
        cancel_t = order.cancel_t
        if cancel_t is not None and any(f.t > cancel_t for f in order.fills):
            reasons.add("after_cancel")
        for r in sorted(reasons - order.overfill_reasons) if reasons else ():
            if r not in order.overfill_alerted:
                order.overfill_alerted.add(r)
                self.counters[f"overfill_{r}"] += 1
                self.alerts.append(("overfill", order.cid,
                                    f"{r}: filled {order.filled} of {order.quantity}"))  # fmt: skip
        order.overfill_reasons = reasons
        order.overfill = bool(reasons)

    def _count(self, outcome: Outcome) -> Outcome:
        self.counters[f"updates_{outcome}"] += 1
        return outcome

    def _anomaly(self, order: Order, outcome: Outcome, text: str) -> Outcome:
        order.anomalies.append(text)
        self.alerts.append((outcome, order.cid, text))
        return self._count(outcome)

    # ---- views ---------------------------------------------------------------------------
    def working(self, instrument: str | None = None) -> list[Order]:
        """Orders not in a terminal state (optionally of one instrument)."""
        return [
            o
            for o in self.orders.values()
            if not o.terminal and (instrument is None or o.instrument == instrument)
        ]

    def snapshot(self) -> dict[str, tuple[Any, ...]]:
        """Each order's observable state, for comparing two runs."""
        return {
            cid: (o.state, o.quantity, o.requested_quantity, o.reported_filled, o.filled,
                  o.fill_cost_ticks, o.overfill, tuple(sorted(o.overfill_reasons)),
                  o.limit_ticks, o.stop_ticks, o.cancel_t)
            for cid, o in self.orders.items()
        }  # fmt: skip
