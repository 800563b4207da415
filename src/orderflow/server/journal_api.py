"""``GET /api/journal/trades|pnl|stats|events``: the trading journal through the API, read by
the functions ``orderflow journal`` prints, on a connection of their own (WAL: a read never
waits on the engine's commits, and runs in a worker thread off the event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from orderflow.core.errors import JournalError, RequestError
from orderflow.trading.journal import KINDS, Journal, performance, plain, pnl_by_day, trade_rows

__all__ = ["add_journal_routes", "journal_answer"]


def _error(status: int, exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=status)


def journal_answer(j: Journal, q: dict[str, Any], what: str) -> dict[str, Any]:
    """What ``GET /api/journal/{what}`` answers: the functions ``orderflow journal`` prints."""
    if what == "events":
        rows = [e.to_dict() for e in j.events(since=q["since"], kinds=q["kinds"], day=q["day"],
                                              client=q["client"], limit=q["limit"])]  # fmt: skip
        return {"events": rows, "last_seq": j.last_seq()}
    trades = j.trades(q["day"], q["client"])
    if what == "trades":
        rows = trade_rows(trades)
        return {"trades": rows[-q["limit"] :], "count": len(rows)}
    if what == "pnl":
        return {"days": plain(pnl_by_day(trades))[-q["limit"] :]}
    return {"stats": plain(performance(trades)), "day": q["day"], "client": q["client"]}


def add_journal_routes(
    app: FastAPI,
    journal: Journal | None,
    unauthorised: Callable[[Request], JSONResponse | None],
) -> Callable[[], None]:
    """The four routes on ``app`` (404 without a journal; the REST token checked like the
    other routes); returns what closes the reading connection at shutdown."""
    reader: dict[str, Journal] = {}  # a second connection: reads never wait on the writer

    def journal_query(request: Request) -> tuple[Journal, dict[str, Any]]:
        """The reading connection and the checked query (day, client, limit, since, kind)."""
        if journal is None:
            raise RequestError("journal: no journal is configured (trading.journal)",
                               field="journal", status=404)  # fmt: skip
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
        j = reader.get("journal")
        if j is None:
            assert isinstance(journal, Journal)
            j = reader["journal"] = Journal(journal.path)
        return j, out

    async def journal_read(request: Request, what: str) -> Response:
        if (refused := unauthorised(request)) is not None:
            return refused
        try:
            j, q = journal_query(request)
        except RequestError as exc:
            status = int(exc.details.pop("status", 400))
            return _error(status, exc)
        try:
            return JSONResponse(await asyncio.to_thread(journal_answer, j, q, what))
        except JournalError as exc:  # a record that does not restore: say which, never a 500
            return JSONResponse(exc.to_dict(), status_code=409)

    @app.get("/api/journal/trades")
    async def journal_trades(request: Request) -> Response:
        """Closed round trips replayed from the journal's executions (``day``: the CME
        trading day they closed; ``client``; ``limit``: the latest that many): prices in the
        exchange's units, P&L in ticks and currency net of commission and fees, MAE/MFE."""
        return await journal_read(request, "trades")

    @app.get("/api/journal/pnl")
    async def journal_pnl(request: Request) -> Response:
        """P&L by CME trading day (``client``, ``day``): trades, wins, losses, gross,
        commission, fees, net."""
        return await journal_read(request, "pnl")

    @app.get("/api/journal/stats")
    async def journal_stats(request: Request) -> Response:
        """Performance of the closed trades (``day``, ``client``): win rate, average win and
        loss, expectancy, profit factor, maximum drawdown, net."""
        return await journal_read(request, "stats")

    @app.get("/api/journal/events")
    async def journal_events(request: Request) -> Response:
        """The journal's records in order, as written (``since``: after that sequence number;
        ``kind`` (repeatable), ``day``, ``client``, ``limit``); ``last_seq`` is the journal's
        newest record."""
        return await journal_read(request, "events")

    def close() -> None:
        if "journal" in reader:
            reader.pop("journal").close()

    return close
