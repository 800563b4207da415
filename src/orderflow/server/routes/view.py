"""The dashboard's data: ``WS /ws/view`` (the viewer stream, :mod:`orderflow.server.view_stream`),
``GET /api/view/instruments`` and the backfill of bars, heatmap columns, prints and signals over
a time range. All read-only; with a token set, the token as for every route (a browser's
WebSocket may give it as ``?token=``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.requests import HTTPConnection
from fastapi.responses import Response

from orderflow.core.errors import NotFoundError, QueryValueError, RequestError
from orderflow.protocol import decode_object
from orderflow.server import view_frames as vf
from orderflow.server.auth import AUTH_KEY
from orderflow.server.hub import InstrumentState
from orderflow.server.replay import Playback
from orderflow.server.state import Authorised, Server, ServerState, read_body, server_of
from orderflow.server.view import heat_rows, print_rows
from orderflow.server.view_stream import FORMATS, Viewer, ViewStream

__all__ = ["router", "stream_of"]

log = logging.getLogger("orderflow.server")

router = APIRouter(tags=["dashboard"])

#: book rows a viewer may ask for
MAX_LEVELS = 200
#: the largest time a query may name (ns; year 2262)
MAX_TS = 2**63 - 1


def stream_of(conn: HTTPConnection) -> ViewStream:
    """The server's viewer stream (made on first use)."""
    app_state = conn.app.state
    stream: ViewStream | None = getattr(app_state, "view_stream", None)
    if stream is None:
        stream = app_state.view_stream = ViewStream(server_of(conn))
    stream.playback = playback_of(conn)
    return stream


def playback_of(conn: HTTPConnection) -> Playback | None:
    """The replay this server plays, if any (``orderflow run`` / ``orderflow replay``)."""
    pb: Playback | None = getattr(conn.app.state, "playback", None)
    return pb


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")  # fmt: skip


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    """A query value: an integer in ``[lo, hi]`` (else RequestError naming it: 422)."""
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise QueryValueError(f"{name}: an integer, not {value[:40]!r}", field=name) from None
    if not lo <= n <= hi:
        raise QueryValueError(f"{name}: {lo} to {hi}", field=name)
    return n


def _range(request: Request, limit_default: int, limit_max: int) -> tuple[int, int, int]:
    q = request.query_params
    from_ts = _int(q.get("from_ts"), "from_ts", 0, 0, MAX_TS)
    to_ts = _int(q.get("to_ts"), "to_ts", MAX_TS, 0, MAX_TS)
    if to_ts < from_ts:
        raise QueryValueError("to_ts: not before from_ts", field="to_ts")
    limit = _int(q.get("limit"), "limit", limit_default, 1, limit_max)
    return from_ts, to_ts, limit


def _instrument(state: ServerState, instrument: str) -> InstrumentState:
    st = state.hub.find(instrument)
    if st is None:
        raise NotFoundError(f"instrument: no data for {instrument!r}", field="instrument")
    return st


@router.get("/api/view/instruments")
async def instruments(state: Server, request: Request) -> Response:
    """The instruments the server has data for, and the replay (null when none)."""
    out = []
    for key, st in state.hub.instruments.items():
        inst = st.instrument
        out.append({"instrument": key, "symbol": inst.symbol, "tick_size": float(inst.tick_size),
                    "point_value": float(inst.point_value), "first_ts": st.pipeline.first_ts,
                    "last_ts": st.pipeline.last_ts,
                    "simulated": state.hub.view.simulated_market})  # fmt: skip
    pb = playback_of(request)
    return _json({"instruments": out, "replay": pb.state() if pb is not None else None})


@router.get("/api/view/{instrument}/bars")
async def bars(instrument: str, state: Server, request: Request) -> Response:
    """Footprint bars (the pipeline's first bar series) starting in ``[from_ts, to_ts]``:
    cells, imbalances, POC, the session VWAP at the bar; at most ``limit`` (the latest)."""
    from_ts, to_ts, limit = _range(request, 500, 100_000)
    st = _instrument(state, instrument)
    vwaps = state.hub.view.read(st.pipeline.name).bar_vwaps
    return _json({"bars": vf.bars_between(st, from_ts, to_ts, limit, vwaps)})


@router.get("/api/view/{instrument}/heat")
async def heat(instrument: str, state: Server, request: Request) -> Response:
    """Heatmap columns (closed buckets) starting in ``[from_ts, to_ts]``, at most ``limit``."""
    from_ts, to_ts, limit = _range(request, 2400, 20_000)
    st = _instrument(state, instrument)
    iv = state.hub.view.read(st.pipeline.name)
    return _json(
        {"columns": heat_rows(iv.heat.block_between(from_ts, to_ts, limit), st.instrument)}
    )


@router.get("/api/view/{instrument}/prints")
async def prints(instrument: str, state: Server, request: Request) -> Response:
    """Prints ``[ts, price, size, side]`` in ``[from_ts, to_ts]``, at most ``limit``."""
    from_ts, to_ts, limit = _range(request, 5000, 200_000)
    st = _instrument(state, instrument)
    iv = state.hub.view.read(st.pipeline.name)
    rows = iv.prints_between(from_ts, to_ts, limit)
    return _json({"prints": print_rows(rows, st.instrument.to_price)})


@router.get("/api/view/{instrument}/signals")
async def signals(instrument: str, state: Server, request: Request) -> Response:
    """Signals (with their ids) whose time is in ``[from_ts, to_ts]``, at most ``limit``."""
    from_ts, to_ts, limit = _range(request, 10_000, 1_000_000)
    st = _instrument(state, instrument)
    iv = state.hub.view.get(st.pipeline.name)
    iv.sync_signals(st)
    out = [s for s in iv.signals if from_ts <= int(s.get("ts_event", 0)) <= to_ts]
    return _json({"signals": out[-limit:]})


@router.websocket("/ws/view")
async def view(socket: WebSocket) -> None:
    """The viewer stream of ``?instrument=`` (``&levels=`` book rows, 1 to 200, default 40;
    ``&format=msgpack``: MessagePack binary frames, else JSON text)."""
    state = server_of(socket)
    q = socket.query_params
    proved = socket.scope.get(AUTH_KEY) or state.authorised(q.get("token"))
    if state.token is not None and not proved:
        await socket.close(1008, "token: missing or wrong")
        return
    try:
        levels = _int(q.get("levels"), "levels", 40, 1, MAX_LEVELS)
        form = q.get("format") or "json"
        if form not in FORMATS:
            raise QueryValueError(f"format: one of {', '.join(FORMATS)}", field="format")
        name = q.get("instrument") or next(iter(state.hub.instruments), "")
        st = state.hub.find(name) if name else None
        if st is None:
            raise NotFoundError(f"instrument: no data for {name!r}", field="instrument")
    except (RequestError, NotFoundError) as exc:
        await socket.close(1008, exc.message[:120])
        return
    await socket.accept()
    stream = stream_of(socket)
    p = stream.params
    viewer = Viewer(
        socket, st.pipeline.name, levels, p.queue_frames, p.send_timeout_s, binary=form == "msgpack"
    )
    if not stream.add(viewer):
        await socket.close(1013, f"more than {p.max_viewers} viewers")
        return
    closed = asyncio.ensure_future(viewer.closed.wait())
    try:
        while True:
            receive = asyncio.ensure_future(socket.receive())
            await asyncio.wait((receive, closed), return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():  # closed by the server (too slow): stop waiting for it
                receive.cancel()
                break
            msg = receive.result()
            if msg["type"] == "websocket.disconnect":
                break
            text = msg.get("text")
            if text and len(text) < 1000 and '"ping"' in text:
                with contextlib.suppress(orjson.JSONDecodeError):
                    if orjson.loads(text).get("type") == "ping":
                        viewer.offer('{"type":"pong"}')
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        closed.cancel()
        stream.remove(viewer)
        await viewer.stop()


@router.get("/api/replay")
async def replay_state(request: Request) -> Response:
    """The replay's state: playing, speed, position and range (404: nothing is replaying)."""
    pb = playback_of(request)
    if pb is None:
        raise NotFoundError("replay: this server plays no replay", field="replay")
    return _json(pb.state())


@router.post("/api/replay")
async def replay_control(state: Authorised, request: Request) -> Response:
    """Play, pause, set the speed (0.25 to 600) or seek (``ts`` ns of data time): body
    ``{"action", "speed", "ts"}``; the state after it. A seek back in a replay that trades:
    409. Needs the token as ``POST /api/kill`` does."""
    pb = playback_of(request)
    if pb is None:
        raise NotFoundError("replay: this server plays no replay", field="replay")
    data = decode_object(await read_body(request))
    out = _json(pb.act(data.get("action"), data.get("speed"), data.get("ts")))
    stream: ViewStream | None = getattr(request.app.state, "view_stream", None)
    if stream is not None:  # the viewers see it with the next frame, paused or not
        stream.poke()
    return out
