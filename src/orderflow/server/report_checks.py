"""NinjaTrader's order reports checked against the instrument and the settings: the one place
where the wire's order updates, executions, position updates and ``report`` become the trading
engine's values, refused whole before anything of them is applied, recorded or journalled.

The protocol's structs already bound every number (:mod:`orderflow.protocol`: a NaN or
an infinity fails a bound, times lie between 2000 and 2100); here:

- a limit, stop or fill price lies on the instrument's tick grid (an average price, which is
  not on it, only within the bounds) and, once the instrument has a last price, no further from
  it than the depth and prints are allowed to be (``max(|last| / 2, 1000 ticks)``);
- an execution's commission is at most ``trading.risk.max_commission_per_contract`` per
  contract (a corrupt or hostile number would otherwise book as P&L: -1e6 once booked +$2M);
- a ``report``'s instruments are known ones.

A refusal is a :class:`RequestError` naming the field (``executions[0].commission``).
"""

from __future__ import annotations

from orderflow.core.errors import OrderflowError, RequestError
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Batch, Report

__all__ = ["MIN_TIME_NS", "check_batch_reports", "check_report"]

#: 2000-01-01 UTC: no order report is older
MIN_TIME_NS = 946_684_800_000_000_000


def _ticks(inst: Instrument, price: float, field: str, ref_ticks: int | None) -> int:
    try:
        ticks = inst.to_ticks(price)
    except (OrderflowError, ValueError, ArithmeticError):
        raise RequestError(f"{field}: {price} is not on the {inst.tick_size} grid of "
                           f"{inst.contract or inst.symbol}", field=field) from None  # fmt: skip
    if ref_ticks is not None and abs(ticks - ref_ticks) > max(abs(ref_ticks) // 2, 1000):
        raise RequestError(
            f"{field}: {price} is implausibly far from the last price {inst.to_price(ref_ticks)}",
            field=field,
        )
    return ticks


def _average(inst: Instrument, price: float, field: str, ref_ticks: int | None) -> None:
    """An average price (not on the grid): positive when a position is open, plausible."""
    if price <= 0 and inst.symbol not in ("CL", "MCL"):  # crude has traded below zero
        raise RequestError(f"{field}: {price} is not a price of an open position", field=field)
    if ref_ticks is not None:
        ticks = float(price) / float(inst.tick_size)
        if abs(ticks - ref_ticks) > max(abs(ref_ticks) // 2, 1000):
            raise RequestError(f"{field}: {price} is implausibly far from the last price "
                               f"{inst.to_price(ref_ticks)}", field=field)  # fmt: skip


def check_batch_reports(
    inst: Instrument, batch: Batch, max_commission_per_contract: float,
    ref_ticks: int | None = None,
) -> None:  # fmt: skip
    """Every order update, execution and position update of ``batch`` (of ``inst``) is one the
    engine can take, or :class:`RequestError` naming the first that is not."""
    for i, u in enumerate(batch.orders):
        for name in ("limit_price", "stop_price"):
            price = getattr(u, name)
            if price:
                _ticks(inst, price, f"orders[{i}].{name}", ref_ticks)
    for i, e in enumerate(batch.executions):
        _ticks(inst, e.price, f"executions[{i}].price", ref_ticks)
        bound = max_commission_per_contract * e.quantity
        if e.commission > bound:
            raise RequestError(
                f"executions[{i}].commission: {e.commission} is more than "
                f"{max_commission_per_contract:g} per contract x {e.quantity} "
                "(trading.risk.max_commission_per_contract)",
                field=f"executions[{i}].commission",
            )
    for i, p in enumerate(batch.positions):
        if p.market_position != "Flat" and p.quantity:
            _average(inst, p.average_price, f"positions[{i}].average_price", ref_ticks)


def check_report(report: Report) -> None:
    """NinjaTrader's ``report`` names known instruments, prices on their grids, a plausible
    time; or :class:`RequestError` naming the field."""
    if report.t and report.t < MIN_TIME_NS:
        raise RequestError(f"t: {report.t} is not a plausible time (ns UTC)", field="t")
    for i, pos in enumerate(report.positions):
        inst = _instrument(pos.instrument, f"positions[{i}].instrument")
        if pos.market_position != "Flat" and pos.quantity:
            _average(inst, pos.average_price, f"positions[{i}].average_price", None)
    for i, order in enumerate(report.orders):
        inst = _instrument(order.instrument, f"orders[{i}].instrument")
        for name in ("limit_price", "stop_price"):
            price = getattr(order, name)
            if price:
                _ticks(inst, price, f"orders[{i}].{name}", None)


def _instrument(name: str, field: str) -> Instrument:
    try:
        return get_instrument(name)
    except (OrderflowError, ValueError, KeyError):
        raise RequestError(f"{field}: {name!r} is not a known instrument", field=field) from None
