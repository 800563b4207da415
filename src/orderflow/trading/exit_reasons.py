"""Why each trade ended, read back from the journal: the exit code (``trading.exits.exit_code``)
of the order whose execution closed it, for ``orderflow journal trades`` and
``GET /api/journal/trades`` (a backtest reads its brackets directly).

A bracket's orders are named after it (``of-1`` the entry, ``of-1.stop``, ``of-1.tgt`` or
``of-1.tgt2``, ``of-1.flat1``): a stop's execution is ``stop``, a target's ``target``, a
flatten's the reason of the bracket's first journalled ``close`` (the strategy's exit:
``opposite_signal``, ``absorption_against``, ``risk_flatten``, ...) or ``flatten`` when the
bracket flattened itself (a failed leg, an overfill). Orders of no bracket (the API's, a
reconciliation's) give no reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orderflow.trading.exits import exit_code
from orderflow.trading.journal import Journal

__all__ = ["journal_exit_reasons", "order_exit_code", "with_reasons"]


def order_exit_code(cid: str, brackets: set[str] | frozenset[str],
                    closes: Mapping[str, str]) -> str:  # fmt: skip
    """The exit code of an execution of order ``cid``, "" when it is no bracket's exit."""
    base, _, leg = cid.partition(".")
    if base not in brackets or not leg:
        return ""
    if leg == "stop":
        return "stop"
    if leg.startswith("tgt"):
        return "target"
    if leg.startswith("flat"):
        return exit_code(closes[base]) if base in closes else "flatten"
    return ""


def journal_exit_reasons(journal: Journal, client: str | None = None) -> dict[str, str]:
    """Execution id -> exit code, for every execution of a bracket's exit in the journal (of
    ``client``). O(bracket and execution records)."""
    brackets: set[str] = set()
    closes: dict[str, str] = {}
    for ev in journal.events(kinds=("bracket",), client=client):
        bid = str(ev.payload["bracket"])
        brackets.add(bid)
        if ev.payload.get("op") == "close":
            closes.setdefault(bid, str(ev.payload.get("reason", "")))
    out: dict[str, str] = {}
    for ev in journal.events(kinds=("execution",), client=client):
        code = order_exit_code(str(ev.payload["cid"]), brackets, closes)
        if code:
            out[str(ev.payload["execution_id"])] = code
    return out


def with_reasons(
    rows: Iterable[dict[str, Any]], reasons: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Trade rows (``journal.trade_rows``) with ``reason``: the code of the execution that
    closed each (a trade reconciliation closed: ``reconcile``; none known: "")."""
    out = []
    for r in rows:
        ex = r.get("executions") or []
        r = {**r, "reason": reasons.get(ex[-1], "") if ex else ""}
        if not r["reason"] and r.get("closed_by"):
            r["reason"] = r["closed_by"]
        out.append(r)
    return out
