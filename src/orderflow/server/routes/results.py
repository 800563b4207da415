"""A backtest's results for the dashboard: ``GET /api/results`` (the names) and
``GET /api/results/{name}`` (stats, trades, equity, bars), when the server was started on
result folders (``orderflow view RESULT_DIR``); else 404."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from orderflow.core.errors import NotFoundError
from orderflow.server.results import ResultFolders

__all__ = ["router"]

router = APIRouter(tags=["dashboard"])


def _folders(request: Request) -> ResultFolders:
    folders: ResultFolders | None = getattr(request.app.state, "results", None)
    if folders is None:
        raise NotFoundError("result: this server shows no backtest results", field="result")
    return folders


@router.get("/api/results")
async def results(request: Request) -> Response:
    """The result folders this server shows, by name."""
    return Response(orjson.dumps({"results": _folders(request).names()}),
                    media_type="application/json")  # fmt: skip


@router.get("/api/results/{name}")
async def result(name: str, request: Request) -> Response:
    """One result: ``{"name", "stats", "signals", "files", "trades": [trades.csv rows],
    "equity": [[ts_ns, equity, drawdown]...], "bars": [BAR...] | null}`` (bars from the data
    file stats.json names, computed on the first request, off the event loop)."""
    folders = _folders(request)
    folders.folder(name)  # 404 before any work
    body = await asyncio.to_thread(folders.read, name)
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")  # fmt: skip
