"""Reconciliation on (re)connect: what NinjaTrader reports is the truth.

When the bridge connects (or reconnects), the server asks for, or receives, NinjaTrader's
positions and working orders (:class:`BrokerReport`) and calls :func:`reconcile` before it
sends anything new. The engine's picture is replaced by the report:

- a reported order we know takes the reported state, quantity, prices and filled count (its
  fills stay those counted from executions); one we do not know is adopted as foreign
  (``ours=False``); one of ours NinjaTrader no longer has is ended ``Unknown`` and listed as
  missing;
- a reported position that differs from ours replaces it (``Position.adopt``: our open trade
  ends ``closed_by="reconcile"``, an adopted trade starts at NinjaTrader's average price); a
  position of ours NinjaTrader does not report is flat.

Then, as configured (:class:`StartBehavior`, after NinjaTrader's own ``StartBehavior``):

- ``adopt`` (``AdoptAccountPosition``): keep them; new orders may go at once;
- ``flatten``: cancel every working order and flatten every position at market; new orders
  wait until NinjaTrader reports everything flat and nothing working;
- ``wait_until_flat`` (``WaitUntilFlat``): send nothing, and no new order until the account is
  flat with nothing working (the trader or the exits already there get it there).

The gate is ``OrderManager.reconciled``: :func:`connection_lost` closes it, :func:`reconcile`
opens it (adopt) or leaves it to :func:`release_when_flat`, which the server calls after each
report. The reconciliation's own commands pass the gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from orderflow.trading.orders import (
    TERMINAL,
    Order,
    OrderAction,
    OrderCommand,
    OrderManager,
    OrderState,
    OrderType,
)
from orderflow.trading.positions import PositionBook

__all__ = [
    "BrokerOrder",
    "BrokerPosition",
    "BrokerReport",
    "Reconciliation",
    "StartBehavior",
    "connection_lost",
    "reconcile",
    "release_when_flat",
]


class StartBehavior(StrEnum):
    ADOPT = "adopt"
    FLATTEN = "flatten"
    WAIT_UNTIL_FLAT = "wait_until_flat"


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """NinjaTrader's position: ``quantity`` signed (> 0 long), its average price in exact
    ticks (``trading.money.price_to_ticks_exact``)."""

    account: str
    instrument: str
    quantity: int
    avg_price_ticks: Fraction = Fraction(0)


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """One of NinjaTrader's orders, as it stands now."""

    cid: str
    instrument: str
    state: OrderState
    quantity: int
    filled: int = 0
    action: OrderAction | None = None
    order_type: OrderType | None = None
    limit_ticks: int | None = None
    stop_ticks: int | None = None
    oco: str = ""
    account: str = ""


@dataclass(frozen=True, slots=True)
class BrokerReport:
    t: int
    positions: list[BrokerPosition] = field(default_factory=list)
    orders: list[BrokerOrder] = field(default_factory=list)


@dataclass(slots=True)
class Reconciliation:
    behavior: StartBehavior
    commands: list[OrderCommand] = field(default_factory=list)
    updated_orders: list[str] = field(default_factory=list)  # ours, state taken from NT
    adopted_orders: list[str] = field(default_factory=list)  # NT's, unknown to us
    missing_orders: list[str] = field(default_factory=list)  # ours, NT does not have them
    #: (account, instrument, our quantity, NinjaTrader's quantity) where they differed
    position_changes: list[tuple[str, str, int, int]] = field(default_factory=list)
    blocked: bool = False  # no new order until release_when_flat()

    @property
    def in_sync(self) -> bool:
        """Nothing differed: the engine already had NinjaTrader's picture."""
        return not (self.adopted_orders or self.missing_orders or self.position_changes)


def connection_lost(orders: OrderManager) -> None:
    """The bridge went away: nothing new is sent until :func:`reconcile` has run."""
    orders.reconciled = False
    orders.counters["reconcile_needed"] += 1


def reconcile(
    orders: OrderManager,
    positions: PositionBook,
    report: BrokerReport,
    behavior: StartBehavior = StartBehavior.ADOPT,
    now: int | None = None,
) -> Reconciliation:
    """Take NinjaTrader's report as the truth and return what to send first (see module)."""
    now = report.t if now is None else now
    rec = Reconciliation(StartBehavior(behavior))
    reported = {o.cid: o for o in report.orders}
    for bo in report.orders:
        order = orders.orders.get(bo.cid)
        if order is None:
            order = Order(bo.cid, bo.instrument, bo.action, bo.order_type, bo.quantity,
                          bo.limit_ticks, bo.stop_ticks, oco=bo.oco,
                          account=bo.account or orders.account, ours=False, created_t=report.t,
                          requested_quantity=bo.quantity)  # fmt: skip
            orders.orders[bo.cid] = order
            if bo.oco:
                orders.oco_groups.setdefault(bo.oco, set()).add(bo.cid)
            rec.adopted_orders.append(bo.cid)
        else:
            rec.updated_orders.append(bo.cid)
        order.state = bo.state
        order.quantity = order.requested_quantity = bo.quantity
        order.reported_filled = bo.filled
        order.limit_ticks = bo.limit_ticks if bo.limit_ticks is not None else order.limit_ticks
        order.stop_ticks = bo.stop_ticks if bo.stop_ticks is not None else order.stop_ticks
        order.last_t = max(order.last_t, report.t)
    for order in orders.orders.values():
        if order.cid not in reported and order.state not in TERMINAL:
            order.state = OrderState.UNKNOWN
            order.anomalies.append("missing at reconciliation")
            rec.missing_orders.append(order.cid)
    orders.counters["reconcile_missing_orders"] += len(rec.missing_orders)
    orders.counters["reconcile_adopted_orders"] += len(rec.adopted_orders)

    seen: set[tuple[str, str]] = set()
    for bp in report.positions:
        pos = positions.position(bp.account or orders.account, bp.instrument)
        seen.add((pos.account, pos.instrument.contract or pos.instrument.symbol))
        avg = pos.avg_price_ticks
        if pos.quantity != bp.quantity or (bp.quantity and avg != bp.avg_price_ticks):
            rec.position_changes.append((pos.account, bp.instrument, pos.quantity, bp.quantity))
            pos.adopt(bp.quantity, bp.avg_price_ticks, report.t)
    for key, pos in positions.positions.items():
        if key not in seen and pos.quantity:
            rec.position_changes.append((pos.account, key[1], pos.quantity, 0))
            pos.adopt(0, Fraction(0), report.t)
    orders.counters["reconcile_position_changes"] += len(rec.position_changes)

    if rec.behavior is StartBehavior.FLATTEN:
        for order in orders.working():
            cmd = orders.cancel(now, order.cid)
            if cmd is not None:
                rec.commands.append(cmd)
        for pos in positions.positions.values():
            if pos.quantity:
                action = OrderAction.SELL if pos.quantity > 0 else OrderAction.BUY_TO_COVER
                name = pos.instrument.contract or pos.instrument.symbol
                rec.commands.append(orders.submit(now, name, action, OrderType.MARKET,
                                                  abs(pos.quantity), account=pos.account,
                                                  cid=orders.new_cid(".recon"),
                                                  internal=True))  # fmt: skip
    if rec.behavior is StartBehavior.ADOPT:
        orders.reconciled = True
    else:
        rec.blocked = not release_when_flat(orders, positions)
    orders.counters["reconciliations"] += 1
    return rec


def release_when_flat(orders: OrderManager, positions: PositionBook) -> bool:
    """Open the gate once every position is flat and no order works; whether it is open."""
    if (
        not orders.reconciled
        and not orders.working()
        and not any(p.quantity for p in positions.positions.values())
    ):
        orders.reconciled = True
    return orders.reconciled
