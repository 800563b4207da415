"""A simulated NinjaTrader account for the Python client: the server's order commands executed
on the backtest's simulated venue (:class:`~orderflow.backtest.venue.SimVenue`), which the
feeding client keeps in step with the market data it sends.

This is how the live path is exercised without NinjaTrader (the live/backtest parity test,
``orderflow run`` with a strategy): the client feeds the source records to the venue up to
where each batch reaches (:attr:`~orderflow.io.nt_feed.NtBatch.source_end`), sends the
venue's reports (``OnOrderUpdate`` and ``OnExecutionUpdate`` by value, prices in the
exchange's units) before the next market data, and executes each command the server sends
(``on_command``) at the venue's clock, the data's time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orderflow.backtest.venue import SimVenue
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Command, Execution, OrderUpdate
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderType,
    Side,
)

__all__ = ["SimNinjaTrader"]


class SimNinjaTrader:
    """NinjaTrader's side of one instrument: ``execute`` is the client's ``on_command``;
    ``market`` feeds the venue; ``reports`` gives what the bridge forwards since the last
    call. ``venue_kw`` go to :class:`SimVenue` (kind, latencies, broker, queue model)."""

    def __init__(self, instrument: Instrument, kind: str = "mbo", **venue_kw: Any) -> None:
        self.instrument = instrument
        self.key = instrument.contract or instrument.symbol
        self.venue = SimVenue(instrument, kind, **venue_kw)
        self.commands: list[OrderCommand] = []  # as executed, prices in ticks
        self.fills: list[Fill] = []
        self._out: list[Any] = []  # deliveries not yet reported
        self._ref = 0
        self.report_batches = 0  # batches of reports the feeding client sent

    # ---- the client's hooks --------------------------------------------------------------
    def execute(self, cmd: Command) -> tuple[str, str]:
        """The server's command, at the venue's clock (the data's time): done, or refused
        with NinjaTrader's reason when the venue cannot take it."""
        self._ref += 1
        inst = self.instrument
        key = self.key
        if cmd.instrument and cmd.instrument not in (self.key, self.instrument.symbol):
            other = get_instrument(cmd.instrument)  # the micro of the chart's standard
            inst, key = other, other.contract or other.symbol
        oc = OrderCommand(
            self._ref, cmd.op, cmd.cid, key, self.venue.now,
            OrderAction(cmd.action) if cmd.action else None,
            OrderType(cmd.order_type) if cmd.order_type else None,
            cmd.quantity,
            inst.to_ticks(cmd.limit_price) if cmd.limit_price else None,
            inst.to_ticks(cmd.stop_price) if cmd.stop_price else None,
            oco=cmd.oco, reason=cmd.reason,
        )  # fmt: skip
        try:
            self._out += self.venue.send(oc)
        except ValueError as exc:
            return "refused", str(exc)
        self.commands.append(oc)
        return "done", ""

    def market(self, records: np.ndarray, trades: np.ndarray | None = None) -> None:
        """The source's records (and prints, for an L2 source) up to where the next batch
        reaches."""
        if len(records) or (trades is not None and len(trades)):
            self._out += self.venue.on_market(records, trades)

    def reports(self) -> tuple[list[OrderUpdate], list[Execution]]:
        """The order updates and executions since the last call, in order."""
        updates: list[OrderUpdate] = []
        executions: list[Execution] = []
        for _, u, e in self.reports_by_instrument():
            updates += u
            executions += e
        return updates, executions

    def reports_by_instrument(self) -> list[tuple[str, list[OrderUpdate], list[Execution]]]:
        """The reports since the last call grouped by the contract of their order (the
        chart's, then a micro the sizing chose), as the bridge sends them: one batch per
        instrument, each in order; the groups in the order of their first report."""
        groups: dict[str, tuple[list[OrderUpdate], list[Execution]]] = {}
        px = self.instrument.to_price
        for d in self._out:
            r = d.report
            o = self.venue.orders.get(r.cid)
            key = (o.instrument if o is not None else "") or self.key
            updates, executions = groups.setdefault(key, ([], []))
            if isinstance(r, OrderEvent):
                updates.append(OrderUpdate(
                    r.t, r.cid, str(r.state), r.quantity, r.filled,  # type: ignore[arg-type]
                    limit_price=0.0 if r.limit_ticks is None else px(r.limit_ticks),
                    stop_price=0.0 if r.stop_ticks is None else px(r.stop_ticks),
                    order_id=r.order_id, error=r.error, comment=r.comment,
                ))  # fmt: skip
            elif isinstance(r, Fill):
                self.fills.append(r)
                executions.append(Execution(
                    r.t, r.cid, r.execution_id, px(r.price_ticks), r.quantity,
                    "Long" if r.side == Side.BUY else "Short", commission=float(r.commission),
                ))  # fmt: skip
        self._out = []
        return [(k, u, e) for k, (u, e) in groups.items()]
