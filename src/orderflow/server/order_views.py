"""What ``/api/orders`` and ``/api/positions`` answer: one view each, from the trading engine.

An order is the desk's record (:meth:`orderflow.trading.orders.Order.to_dict`: NinjaTrader's
latest state, the fills counted once by ``execution_id``, overfill, anomalies), with the
client it belongs to and the transport status of its commands from the outbox (``command``:
the latest command's ``pending``, ``done``, ``refused``, ``timed_out`` or ``expired``;
``commands``: each command as sent, with its ``ref`` on the desk). A position is the desk's,
built from the executions (with realised and open P&L); NinjaTrader's own position updates
are compared with it (a difference is counted as ``position_mismatch`` in ``/api/risk``), not
shown.
"""

from __future__ import annotations

from typing import Any

from orderflow.model.instruments import Instrument, get_instrument
from orderflow.server.outbox import Outbox
from orderflow.server.trading import ServerTrading
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import Order

__all__ = ["order_list", "order_of", "position_list"]


def order_list(trading: ServerTrading, outbox: Outbox) -> list[dict[str, Any]]:
    """Every order of every client's desk, oldest first per client."""
    outbox.expire()
    return [
        _order(trading, ct, order, outbox)
        for ct in trading.clients.values()
        for order in ct.desk.orders.orders.values()
    ]


def order_of(trading: ServerTrading, outbox: Outbox, cid: str) -> dict[str, Any] | None:
    """Order ``cid`` (of the first client whose desk has it); None: no such order."""
    outbox.expire()
    for ct in trading.clients.values():
        order = ct.desk.orders.orders.get(cid)
        if order is not None:
            return _order(trading, ct, order, outbox)
    return None


def position_list(trading: ServerTrading) -> list[dict[str, Any]]:
    """Every client's positions per account and instrument, from the executions."""
    return trading.positions()


def _instrument(name: str) -> Instrument | None:
    try:
        return get_instrument(name)
    except Exception:  # an order reported without a known instrument: prices in ticks
        return None


def _order(trading: ServerTrading, ct: TradingNode, order: Order, outbox: Outbox) -> dict[str, Any]:
    out = order.to_dict(_instrument(order.instrument))
    for name in ("limit_price", "stop_price"):  # 0: unused, as in NinjaScript and the wire
        if out[name] is None:
            out[name] = 0.0
    seq_of = {ref: seq for seq, ref in trading.refs.get(ct.client, {}).items()}
    commands = []
    for pc in order.commands:
        seq = seq_of.get(pc.command.ref)
        rec = outbox.record(ct.client, seq) if seq is not None else None
        if rec is not None:
            commands.append({"ref": pc.command.ref, **rec.to_dict()})
        else:  # never sent: refused before the wire, or restored from the journal
            commands.append({"ref": pc.command.ref, "command_seq": None, "op": pc.command.op,
                             "cid": order.cid, "status": pc.status,
                             "reason": pc.reason})  # fmt: skip
    out["client"] = ct.client
    out["commands"] = commands
    out["command"] = commands[-1]["status"] if commands else None
    return out
