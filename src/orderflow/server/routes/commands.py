"""``POST /api/commands`` (an order command for a connected bridge) and ``GET /api/orders``,
``/api/orders/{cid}``: what became of the commands and their orders."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderflow.core.errors import ConflictError, NotFoundError, RequestError
from orderflow.protocol import decode_object
from orderflow.server.errors import error_response
from orderflow.server.order_views import order_list, order_of
from orderflow.server.schemas import CommandAnswer, CommandRequest, body
from orderflow.server.state import Authorised, Server, read_body

__all__ = ["router"]

router = APIRouter(tags=["orders"])


@router.post(
    "/api/commands",
    openapi_extra=body(CommandRequest, CommandAnswer, "400", "401", "409", "413", "422", "503"),
)
async def commands(state: Authorised, request: Request) -> Response:
    """Queue an unmanaged order command (submit, change, cancel) for a connected bridge.
    Body: ``client`` (the bridge's client name) and the fields of a protocol ``command``
    except ``command_seq`` (the server numbers it). Answers with the command as sent; its
    fate is then in ``GET /api/orders/{cid}``."""
    hub = state.hub
    try:
        body = decode_object(await read_body(request))
        client = body.pop("client", None)
        if not isinstance(client, str) or not client:
            raise RequestError("client: the name of a connected bridge is required",
                               field="client")  # fmt: skip
        conn = state.conns.get(client)
        if conn is None:
            raise ConflictError(f"client: {client!r} is not connected", field="client")
        instrument = body.pop("instrument", None)
        st = hub.find(instrument) if isinstance(instrument, str) else None
        if st is None:
            raise RequestError(f"instrument: no data for {instrument!r}", field="instrument")
        key = st.instrument.contract or st.instrument.symbol
        wire = hub.names.get((client, key), str(instrument))  # as the bridge names it
        # through the desk and the risk check, then numbered by the outbox
        command = hub.trading.command(client, st.instrument, wire, body)
    except msgspec.DecodeError as exc:
        return error_response(RequestError(f"body: {exc}", field="body"))
    except RequestError as exc:
        state.monitor.errors.labels("bad_command").inc()
        return error_response(exc)
    conn.push(command)
    state.drain()
    return JSONResponse({"command": msgspec.to_builtins(command), "status": "pending"})


@router.get("/api/orders")
async def orders(state: Server) -> Response:
    """Every order of the trading engine's desks, by client id: its state machine's record
    (NinjaTrader's latest state, fills counted once by execution, overfill) and the transport
    status of its commands (pending, done, refused, timed_out, expired)."""
    hub = state.hub
    return JSONResponse({"orders": order_list(hub.trading, hub.outbox)})


@router.get("/api/orders/{cid}")
async def order(cid: str, state: Server) -> Response:
    """One order by client id."""
    hub = state.hub
    out = order_of(hub.trading, hub.outbox, cid)
    if out is None:
        raise NotFoundError(f"cid: no order {cid!r}", field="cid")
    return JSONResponse(out)
