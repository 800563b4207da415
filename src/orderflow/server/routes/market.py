"""Market data of an instrument: ``GET /api/book/{instrument}`` (the ladder),
``/api/analytics/{instrument}`` (the session summary), ``/api/state/{instrument}`` (what a
``state_request`` answers: metrics, clusters and profile in full) and ``/api/bars/{instrument}``
(NinjaTrader's own series: bar metrics and a bar-range volume profile)."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderflow.core.errors import NotFoundError, RequestError
from orderflow.protocol import encode
from orderflow.server.feeds import rest_client
from orderflow.server.hub import InstrumentState
from orderflow.server.state import Server, ServerState

__all__ = ["router"]

router = APIRouter(tags=["market data"])


def _instrument(state: ServerState, instrument: str) -> InstrumentState:
    st = state.hub.find(instrument)
    if st is None:
        raise NotFoundError(f"instrument: no data for {instrument!r}", field="instrument")
    return st


@router.get("/api/book/{instrument}")
async def book(instrument: str, state: Server, levels: int = 10) -> Response:
    """The instrument's ladder: top ``levels`` rows per side, prices in exchange units."""
    st = _instrument(state, instrument)
    view = st.pipeline.book.depth(max(1, min(levels, 500)))
    px = st.instrument.to_price
    rows = {
        side: [
            {"price": px(int(p)), "size": int(q)}
            for p, q in zip(view[f"{side}_price"], view[f"{side}_size"], strict=True)
            if q > 0
        ]
        for side in ("bid", "ask")
    }
    return JSONResponse({"instrument": instrument, "stale": st.stale, **rows})


@router.get("/api/analytics/{instrument}")
async def analytics(instrument: str, state: Server) -> Response:
    """Session summary of the instrument so far (as ``orderflow analyze`` prints it)."""
    from orderflow.engine.runner import summarize

    st = _instrument(state, instrument)
    # msgspec writes an undefined number (the mid of a one-sided book: NaN) as null
    return Response(msgspec.json.encode(summarize(st.pipeline)), media_type="application/json")


@router.get("/api/state/{instrument}")
async def instrument_state(instrument: str, state: Server, request: Request) -> Response:
    """The instrument's whole state now, as the WebSocket's ``state`` answer: metrics, clusters
    and profile in full (prices in exchange units); the next REST ack of it to this host
    carries clusters and profile in full again."""
    peer = request.client
    body = state.hub.state_answer(instrument, rest_client(peer.host if peer else None))
    return Response(encode(body), media_type="application/json")


@router.get("/api/bars/{instrument}")
async def bars(
    instrument: str, state: Server, series: int = 0, bars: int = 30, source: str = "auto"
) -> Response:
    """NinjaTrader's series of the instrument: the latest bar metrics of every series, and the
    volume profile (POC, value area, HVN/LVN) over the last ``bars`` bars of ``series``, from
    the prints in those bars (``source=prints``), the bars' volume spread over their range
    (``bars``), or prints when they cover the bars (``auto``); null without bars."""
    if source not in ("auto", "prints", "bars"):
        raise RequestError("source: auto, prints or bars", field="source")
    if not 1 <= bars <= 100_000:
        raise RequestError("bars: 1 to 100000", field="bars")
    st = _instrument(state, instrument)
    body = {
        "instrument": st.instrument.contract or st.instrument.symbol,
        "bar_metrics": st.bars.latest(),
        "profile": st.bars.profile(series, bars, source),
    }
    return Response(msgspec.json.encode(body), media_type="application/json")
