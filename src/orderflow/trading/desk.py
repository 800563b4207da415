"""One bridge connection's trading state in one place, for the server (and the backtester).

:class:`OrderDesk` holds the :class:`~orderflow.trading.orders.OrderManager`, the
:class:`~orderflow.trading.brackets.BracketManager` over it and the
:class:`~orderflow.trading.positions.PositionBook`, and routes NinjaTrader's reports to them:

- an order update goes to the brackets (which apply it to the order and react);
- an execution is counted once by the orders, and only then fed to the positions, so a
  resent execution never moves a position twice;
- NinjaTrader's ``OnPositionUpdate`` is compared with the position built from executions; a
  difference is alerted (``position_mismatch``) and counted, not taken: NinjaTrader documents
  that simultaneous fills can make it wrong, and the executions are the record. On reconnect
  :meth:`reconcile` takes NinjaTrader's report as the truth.

Every method takes the time (ns UTC) from the caller; what to send comes back as
:class:`~orderflow.trading.orders.OrderCommand` lists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from orderflow.trading.brackets import BracketManager
from orderflow.trading.orders import (
    COMMAND_TIMEOUT_NS,
    Fill,
    OrderCommand,
    OrderEvent,
    OrderManager,
    Outcome,
    PendingCommand,
)
from orderflow.trading.positions import PositionBook, Trade
from orderflow.trading.reconcile import (
    BrokerReport,
    Reconciliation,
    StartBehavior,
    connection_lost,
    reconcile,
    release_when_flat,
)

__all__ = ["FillResult", "OrderDesk"]


@dataclass(slots=True)
class FillResult:
    new: bool  # False: a repeated execution_id, nothing changed
    commands: list[OrderCommand] = field(default_factory=list)
    closed: list[Trade] = field(default_factory=list)  # round trips this fill ended


class OrderDesk:
    def __init__(
        self,
        account: str = "",
        timeout_ns: int = COMMAND_TIMEOUT_NS,
        on_leg_failure: str = "flatten",
        start_behavior: StartBehavior = StartBehavior.ADOPT,
        cid_prefix: str = "of-",
    ) -> None:
        self.orders = OrderManager(timeout_ns, cid_prefix=cid_prefix, account=account)
        self.brackets = BracketManager(self.orders, on_leg_failure=on_leg_failure)
        self.positions = PositionBook()
        self.start_behavior = StartBehavior(start_behavior)
        self.counters: Counter[str] = Counter()

    @property
    def alerts(self) -> list[tuple[str, str, str]]:
        return self.orders.alerts

    def apply_update(
        self, now: int, ev: OrderEvent, instrument: str = ""
    ) -> tuple[Outcome, list[OrderCommand]]:
        outcome, cmds = self.brackets.apply_update(now, ev, instrument)
        self._release()
        return outcome, cmds

    def apply_fill(self, now: int, fill: Fill) -> FillResult:
        new, cmds = self.brackets.apply_fill(now, fill)
        if not new:
            return FillResult(False)
        order = self.orders.orders[fill.cid]
        instrument = fill.instrument or order.instrument
        account = fill.account or order.account
        if account != fill.account:
            fill = Fill(fill.execution_id, fill.cid, fill.t, fill.price_ticks, fill.quantity,
                        fill.side, fill.commission, fill.fees, instrument, account)  # fmt: skip
        closed = self.positions.apply(fill, instrument)
        self._release()
        return FillResult(True, cmds, closed)

    def apply_position(
        self, account: str, instrument: str, quantity: int, avg_price_ticks: Fraction
    ) -> bool:
        """NinjaTrader's OnPositionUpdate (signed quantity); False (alerted, counted) when it
        differs from the position built from the executions."""
        pos = self.positions.position(account or self.orders.account, instrument)
        same = pos.quantity == quantity and (not quantity or pos.avg_price_ticks == avg_price_ticks)
        if not same:
            self.counters["position_mismatch"] += 1
            ours = f"{pos.quantity} @ {float(pos.avg_price_ticks or 0):g}"
            theirs = f"{quantity} @ {float(avg_price_ticks):g}"
            text = f"{pos.account}: NinjaTrader {theirs} ticks, executions {ours}"
            self.alerts.append(("position_mismatch", instrument, text))
        return same

    def mark(self, instrument: str, price_ticks: int) -> None:
        self.positions.mark(instrument, price_ticks)

    def expire(self, now: int) -> list[PendingCommand]:
        return self.orders.expire(now)

    def connection_lost(self) -> None:
        connection_lost(self.orders)

    def reconcile(self, report: BrokerReport, now: int | None = None) -> Reconciliation:
        return reconcile(self.orders, self.positions, report, self.start_behavior, now)

    def _release(self) -> None:
        """After a flatten or wait-until-flat reconciliation: open the gate once flat."""
        if not self.orders.reconciled:
            release_when_flat(self.orders, self.positions)
