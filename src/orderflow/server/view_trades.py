"""The dashboard account's round trips with why each ended: the trading node's closed trades
(``journal.trade_rows``, as ``GET /api/journal/trades`` shows them) with the exit reason of the
execution that closed each (:mod:`orderflow.trading.exit_reasons`, read from the desk's orders
and brackets in memory: the same codes the journal gives, without reading it on the event loop).

Rebuilt only when a node's trades, orders or closed brackets changed (O(orders + trades)
then; O(trades) otherwise)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from orderflow.trading.exit_reasons import order_exit_code, with_reasons
from orderflow.trading.journal import trade_rows

if TYPE_CHECKING:
    from orderflow.server.hub import Hub

__all__ = ["ACCOUNT_TRADES", "AccountTrades", "account_trades"]

#: round trips an ACCOUNT carries (the latest)
ACCOUNT_TRADES = 50


_OF_HUB: WeakKeyDictionary[Any, AccountTrades] = WeakKeyDictionary()


def account_trades(hub: Hub) -> AccountTrades:
    """The hub's cache (one per hub)."""
    got = _OF_HUB.get(hub)
    if got is None:
        got = _OF_HUB[hub] = AccountTrades()
    return got


class AccountTrades:
    """The latest round trips of every trading node, by instrument, cached between changes."""

    def __init__(self) -> None:
        self._key: tuple[int, ...] | None = None
        self._rows: list[dict[str, Any]] = []
        #: execution id -> exit code, for every execution of a bracket's exit
        self.reasons: dict[str, str] = {}

    def rows(self, hub: Hub) -> list[dict[str, Any]]:
        """Every node's closed trades (oldest first) with ``reason``."""
        nodes = list(hub.trading.clients.values())
        key = tuple(
            n for node in nodes
            for n in (len(node.desk.positions.trades),
                      sum(1 for t in node.desk.positions.trades if not t.open),
                      len(node.desk.brackets.close_reasons), len(node.desk.orders.orders))
        )  # fmt: skip
        if key != self._key:
            rows: list[dict[str, Any]] = []
            self.reasons = {}
            for node in nodes:
                desk = node.desk
                cid_of = {f.execution_id: o.cid for o in desk.orders.orders.values()
                          for f in o.fills}  # fmt: skip
                brackets = set(desk.brackets.brackets)
                closes = desk.brackets.close_reasons
                reasons = {eid: code for eid, cid in cid_of.items()
                           if (code := order_exit_code(cid, brackets, closes))}  # fmt: skip
                self.reasons.update(reasons)
                rows += with_reasons(trade_rows(desk.positions.closed_trades()), reasons)
            rows.sort(key=lambda r: (r["closed_t"] or 0, r["number"]))
            self._key, self._rows = key, rows
        return self._rows

    def of(self, hub: Hub, same: Any) -> list[dict[str, Any]]:
        """TRADE rows of the wire for the instrument ``same(instrument)`` accepts: the latest
        :data:`ACCOUNT_TRADES`."""
        out = [
            {"number": r["number"], "entry_ts": r["opened_t"], "exit_ts": r["closed_t"],
             "side": r["direction"], "qty": r["max_quantity"], "entry": r["avg_entry"],
             "exit": r["avg_exit"], "pnl_ticks": r["pnl_ticks"], "pnl": r["net"],
             "reason": r["reason"], "executions": r["executions"]}
            for r in self.rows(hub) if same(r["instrument"])
        ]  # fmt: skip
        return out[-ACCOUNT_TRADES:]
