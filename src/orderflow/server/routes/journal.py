"""``GET /api/journal/trades|pnl|stats|events``: the trading journal through the API, read by
the functions ``orderflow journal`` prints, on a connection of their own (WAL: a read never
waits on the engine's commits, and runs in a worker thread off the event loop)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderflow.core.errors import JournalError, NotFoundError, RequestError
from orderflow.server.errors import error_response
from orderflow.server.state import Authorised, ServerState
from orderflow.trading.exit_reasons import journal_exit_reasons, with_reasons
from orderflow.trading.journal import KINDS, Journal, performance, plain, pnl_by_day, trade_rows

__all__ = ["journal_answer", "router"]

router = APIRouter(tags=["journal"])


def journal_answer(j: Journal, q: dict[str, Any], what: str) -> dict[str, Any]:
    """What ``GET /api/journal/{what}`` answers: the functions ``orderflow journal`` prints."""
    if what == "events":
        rows = [e.to_dict() for e in j.events(since=q["since"], kinds=q["kinds"], day=q["day"],
                                              client=q["client"], limit=q["limit"])]  # fmt: skip
        return {"events": rows, "last_seq": j.last_seq()}
    trades = j.trades(q["day"], q["client"])
    if what == "trades":
        rows = with_reasons(trade_rows(trades), journal_exit_reasons(j, q["client"]))
        return {"trades": rows[-q["limit"] :], "count": len(rows)}
    if what == "pnl":
        return {"days": plain(pnl_by_day(trades))[-q["limit"] :]}
    return {"stats": plain(performance(trades)), "day": q["day"], "client": q["client"]}


def journal_query(state: ServerState, request: Request) -> tuple[Journal, dict[str, Any]]:
    """The reading connection and the checked query (day, client, limit, since, kind); 404
    without a journal."""
    if state.journal is None:
        raise NotFoundError("journal: no journal is configured (trading.journal)",
                            field="journal")  # fmt: skip
    q = request.query_params
    day = q.get("day")
    if day is not None:
        try:
            day = date.fromisoformat(day).isoformat()
        except ValueError:
            raise RequestError(f"day: {day!r} is not YYYY-MM-DD", field="day") from None
    out: dict[str, Any] = {"day": day, "client": q.get("client") or None}
    for name, default, top in (("limit", 1000, 100_000), ("since", 0, None)):
        text = q.get(name)
        value = default
        if text is not None:
            if not text.isdigit() or (name == "limit" and int(text) < 1):
                kind = "positive" if name == "limit" else "non-negative"
                raise RequestError(f"{name}: a {kind} integer is expected", field=name)
            value = int(text)
        out[name] = min(value, top) if top else value
    kinds = q.getlist("kind")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise RequestError(f"kind: {unknown[0]!r} is not one of {', '.join(sorted(KINDS))}",
                           field="kind")  # fmt: skip
    out["kinds"] = kinds or None
    if state.journal_reader is None:  # a second connection: reads never wait on the writer
        state.journal_reader = Journal(state.journal.path)
    return state.journal_reader, out


async def journal_read(state: ServerState, request: Request, what: str) -> Response:
    j, q = journal_query(state, request)
    try:
        return JSONResponse(await asyncio.to_thread(journal_answer, j, q, what))
    except JournalError as exc:  # a record that does not restore: say which, never a 500
        return error_response(exc)


@router.get("/api/journal/trades")
async def journal_trades(state: Authorised, request: Request) -> Response:
    """Closed round trips replayed from the journal's executions (``day``: the CME
    trading day they closed; ``client``; ``limit``: the latest that many): prices in the
    exchange's units, P&L in ticks and currency net of commission and fees, MAE/MFE."""
    return await journal_read(state, request, "trades")


@router.get("/api/journal/pnl")
async def journal_pnl(state: Authorised, request: Request) -> Response:
    """P&L by CME trading day (``client``, ``day``): trades, wins, losses, gross,
    commission, fees, net."""
    return await journal_read(state, request, "pnl")


@router.get("/api/journal/stats")
async def journal_stats(state: Authorised, request: Request) -> Response:
    """Performance of the closed trades (``day``, ``client``): win rate, average win and
    loss, expectancy, profit factor, maximum drawdown, net."""
    return await journal_read(state, request, "stats")


@router.get("/api/journal/events")
async def journal_events(state: Authorised, request: Request) -> Response:
    """The journal's records in order, as written (``since``: after that sequence number;
    ``kind`` (repeatable), ``day``, ``client``, ``limit``); ``last_seq`` is the journal's
    newest record."""
    return await journal_read(state, request, "events")
