"""``POST /l2_update``, ``/bar_update``, ``/order_update``: a batch from the bridge (depth and
ticks, bars, or NinjaTrader's order reports), answered with its ack."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from orderflow.core.errors import (
    InstrumentOwnedError,
    OrderflowError,
    RateLimitedError,
    RecordingError,
    RequestError,
)
from orderflow.protocol import Ack, Batch, decode_batch, encode
from orderflow.server.errors import error_response
from orderflow.server.feeds import rest_client
from orderflow.server.limits import DECODE_BYTES_PER_EVENT
from orderflow.server.schemas import body
from orderflow.server.state import Authorised, ServerState, read_body

__all__ = ["router"]

router = APIRouter(tags=["ingest"])
_DOC = body(Batch, Ack, "400", "401", "409", "413", "429", "503")


async def post_batch(state: ServerState, request: Request) -> Response:
    """Decode, rate-limit and apply one batch; every refusal is counted in the metrics."""
    mon, sched = state.monitor, state.scheduler
    try:
        raw = await read_body(request)
        peer = request.client
        key = ("rest", peer.host, peer.port) if peer else "rest"
        t0 = time.perf_counter()
        async with sched.turn(key, len(raw) // DECODE_BYTES_PER_EVENT):
            batch = decode_batch(raw)
        mon.stage.labels("decode").observe(time.perf_counter() - t0)
        limiter = state.rest_limits.get((peer.host, peer.port) if peer else ("", 0))
        events = batch.n_depth + len(batch.ticks)
        wait = limiter.peek(events)
        if wait > 0:
            mon.errors.labels("rate_limited").inc()
            exc = RateLimitedError(f"rate: over the connection's rate limit; retry in {wait:.3f} s",
                                   field="rate")  # fmt: skip
            return error_response(exc, {"Retry-After": str(max(1, round(wait + 0.5)))})
        limiter.take(events)
        async with sched.turn(key, events):
            ack, _request = state.hub.apply(batch, feeder=rest_client(peer.host if peer else None))
            state.drain()
    except RecordingError as exc:  # nothing kept, nothing applied: send it again later
        mon.errors.labels(exc.code).inc()
        return error_response(exc, {"Retry-After": str(exc.details.pop("retry_after_s", 1))})
    except RequestError as exc:
        owned = isinstance(exc, InstrumentOwnedError)  # another client feeds it
        mon.errors.labels("instrument_owned" if owned else "bad_request").inc()
        return error_response(exc)
    except OrderflowError as exc:
        mon.errors.labels("unprocessable").inc()
        return error_response(exc)
    state.observe("rest", ack)
    return Response(encode(ack), media_type="application/json")


@router.post("/l2_update", openapi_extra=_DOC)
async def l2_update(state: Authorised, request: Request) -> Response:
    """A batch of NinjaTrader depth events (and ticks); answers with the ack: book,
    metrics and the signals the batch produced. Body: a protocol ``batch`` (JSON)."""
    return await post_batch(state, request)


@router.post("/bar_update", openapi_extra=_DOC)
async def bar_update(state: Authorised, request: Request) -> Response:
    """A batch with bars of data series (BarsInProgress); same answer as /l2_update."""
    return await post_batch(state, request)


@router.post("/order_update", openapi_extra=_DOC)
async def order_update(state: Authorised, request: Request) -> Response:
    """A batch with NinjaTrader's order updates, executions and position updates of one
    instrument (``orders``, ``executions``, ``positions``); same answer as /l2_update."""
    return await post_batch(state, request)
