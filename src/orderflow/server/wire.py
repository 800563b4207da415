"""Wire -> domain conversion: what NinjaTrader and the API send, as the trading layer's structs.

Every function here is pure: it takes the wire message (``orderflow.protocol``) or a request
body and gives the domain values (prices in ticks, enums, the broker profile's costs), or
raises :class:`RequestError` naming the field.
"""

from __future__ import annotations

# ---- NinjaTrader's reports and API commands ---------------------------------------------
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from orderflow.core.errors import OrderflowError, RequestError
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Batch, Report
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.money import price_to_ticks_exact
from orderflow.trading.node import BracketLegs
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderEvent,
    OrderState,
    OrderType,
    fill_event,
    order_event,
)
from orderflow.trading.reconcile import BrokerOrder, BrokerPosition, BrokerReport
from orderflow.trading.strategy import split_targets

__all__ = [
    "MAX_ABS_TICKS",
    "BatchReports",
    "batch_reports",
    "body_enum",
    "body_int",
    "body_ticks",
    "bracket_legs",
    "broker_report",
]


@dataclass(slots=True)
class BatchReports:
    """A batch's order reports as domain structs; ``unmapped``: those that did not map."""

    orders: list[OrderEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[BrokerPosition] = field(default_factory=list)
    unmapped: int = 0
    #: the broker profile has no costs for the executions' instrument: the order updates
    #: apply, then this is raised (nothing after them is converted)
    error: OrderflowError | None = None


def batch_reports(inst: Instrument, batch: Batch, broker: BrokerProfile,
                  account: str) -> BatchReports:  # fmt: skip
    """NinjaTrader's order updates, executions and positions of ``batch`` (instrument
    ``inst``): fees from the broker profile, the commission from the execution or, when
    NinjaTrader reports none, the profile's; a position's average price exact in ticks."""
    out = BatchReports()
    for u in batch.orders:
        try:
            out.orders.append(order_event(inst, u.cid, u.state, u.t, u.quantity, u.filled,
                                          u.limit_price, u.stop_price, u.order_id, u.error,
                                          u.comment))  # fmt: skip
        except (OrderflowError, ValueError):
            out.unmapped += 1
    if batch.executions:
        try:
            costs = broker.costs_for(inst.symbol)
        except OrderflowError as exc:
            out.error = exc
            return out
        fees_per = Decimal(str(costs.exchange_fee_per_side + costs.clearing_fee_per_side
                               + costs.nfa_fee_per_side))  # fmt: skip
        commission_per = Decimal(str(costs.commission_per_side))
        for e in batch.executions:
            commission = (Decimal(str(e.commission)) if e.commission
                          else commission_per * e.quantity)  # fmt: skip
            try:
                out.fills.append(fill_event(inst, e.execution_id, e.cid, e.t, e.price,
                                            e.quantity, e.market_position, commission,
                                            fees_per * e.quantity, account))  # fmt: skip
            except (OrderflowError, ValueError):
                out.unmapped += 1
    key = inst.contract or inst.symbol
    for p in batch.positions:
        qty = -p.quantity if p.market_position == "Short" else p.quantity
        qty = 0 if p.market_position == "Flat" else qty
        try:
            avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
        except (OrderflowError, ValueError):
            out.unmapped += 1
            continue
        out.positions.append(BrokerPosition(p.account, key, qty, avg))
    return out


def broker_report(msg: Report, account: str, now: int) -> BrokerReport:
    """NinjaTrader's report after a (re)connect (already checked) as the desk reconciles
    with it; a position without an account is ``account``'s; no time: ``now``."""
    positions = []
    for p in msg.positions:
        inst = get_instrument(p.instrument)
        qty = -p.quantity if p.market_position == "Short" else p.quantity
        if p.market_position == "Flat":
            qty = 0
        avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
        key = inst.contract or inst.symbol
        positions.append(BrokerPosition(p.account or account, key, qty, avg))
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
    return BrokerReport(msg.t or now, positions, orders)


def bracket_legs(body: dict[str, Any], action: OrderAction, qty: int) -> BracketLegs:
    """A bracket's legs from the request: ``stop_ticks`` and ``target_ticks``, or
    ``targets_ticks`` with ``target_sizes`` (shares; a scale-out), distances in ticks from
    the entry's first fill."""
    if action not in (OrderAction.BUY, OrderAction.SELL_SHORT):
        raise RequestError("action: a bracket enters with Buy or SellShort", field="action")
    stop_ticks = body_int(body, "stop_ticks")
    targets = body.get("targets_ticks")
    if targets is None:
        return stop_ticks, ((body_int(body, "target_ticks"), qty),)
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


def body_enum(kind: Any, body: dict[str, Any], name: str) -> Any:
    try:
        return kind(body.get(name))
    except ValueError:
        raise RequestError(f"{name}: required to submit, one of {[str(k) for k in kind]}",
                           field=name) from None  # fmt: skip


def body_int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RequestError(f"{name}: a positive integer is required", field=name)
    return value


def body_ticks(inst: Instrument, body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if not value:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RequestError(f"{name}: a number is expected", field=name)
    try:
        ticks = inst.to_ticks(float(value))
    except (OrderflowError, ValueError) as exc:
        raise RequestError(f"{name}: {exc}", field=name) from None
    if abs(ticks) > MAX_ABS_TICKS:  # no market is there; nor can the journal store it
        raise RequestError(f"{name}: {value} is not a price of {inst.symbol}", field=name)
    return ticks


#: no order price beyond this many ticks from zero (the hub's bound on market prices)
MAX_ABS_TICKS = 1 << 40
