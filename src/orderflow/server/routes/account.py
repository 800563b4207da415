"""The trading account: ``GET /api/positions``, ``/api/risk``, and the kill switch
(``POST /api/kill``, ``/api/kill/reset``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderflow.core.errors import RequestError
from orderflow.protocol import decode_object
from orderflow.server.order_views import position_list
from orderflow.server.state import Authorised, Server, ServerState, read_body

__all__ = ["router"]

router = APIRouter(tags=["account"])


@router.get("/api/positions")
async def positions(state: Server) -> Response:
    """The positions per client, account and instrument, built from the executions (each
    counted once), with realised and open P&L."""
    return JSONResponse({"positions": position_list(state.hub.trading)})


@router.get("/api/risk")
async def risk(state: Server) -> Response:
    """The trading engine's state per client: reconciliation, risk (day P&L, limits
    reached, kill switch, positions, working orders) and the latest risk events."""
    return JSONResponse({"clients": state.hub.trading.status()})


async def kill_or_reset(state: ServerState, request: Request, reset: bool) -> Response:
    hub = state.hub
    data = decode_object(await read_body(request))
    client, reason = data.get("client"), data.get("reason") or "manual"
    if client is not None and not (isinstance(client, str) and 0 < len(client) <= 64):
        raise RequestError("client: a client name (1 to 64 characters)", field="client")
    if not (isinstance(reason, str) and len(reason) <= 200):
        raise RequestError("reason: a text of at most 200 characters", field="reason")
    if reset:
        names = hub.trading.reset_kill(client)
    else:
        names = hub.trading.kill(client, reason)
        state.drain()
    return JSONResponse({"clients": {n: hub.trading.of(n).risk.status() for n in names}})


@router.post("/api/kill")
async def kill(state: Authorised, request: Request) -> Response:
    """Engage the kill switch (body ``{"client": ...}`` for one client, else all): new
    entries are refused with ``kill_switch:manual`` and, with ``flatten_on_kill``, working
    orders are cancelled and positions flattened at market."""
    return await kill_or_reset(state, request, False)


@router.post("/api/kill/reset")
async def kill_reset(state: Authorised, request: Request) -> Response:
    """Release the kill switch (one client or all)."""
    return await kill_or_reset(state, request, True)
