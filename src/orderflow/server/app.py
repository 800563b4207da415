"""The HTTP and WebSocket server (FastAPI on uvicorn): the original REST contract
(``/health``, ``/l2_update``, ``/bar_update``), a read API, and the sequenced WebSocket.

Errors never carry a stack trace to a client: a bad request is a 400 (or a WebSocket ``error``
frame) naming the field and the reason; anything unexpected is logged here and answered 500
without details. One client's bad message changes nothing for anyone else.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from orderflow import __version__
from orderflow.core.errors import OrderflowError, RequestError
from orderflow.engine.pipeline import PipelineParams
from orderflow.server.hub import Hub
from orderflow.server.monitor import Monitor
from orderflow.server.protocol import (
    PROTOCOL_VERSION,
    Batch,
    Bye,
    Error,
    Heartbeat,
    Hello,
    Welcome,
    decode_batch,
    decode_client,
    encode,
)
from orderflow.server.recording import Recorder, recording_files, replay_records

__all__ = ["MAX_BODY", "create_app"]

log = logging.getLogger("orderflow.server")

#: largest request body or WebSocket message accepted (bytes)
MAX_BODY = 8 * 1024 * 1024
HELLO_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0


def _error(status: int, exc: OrderflowError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=status)


def create_app(
    params: PipelineParams | None = None,
    token: str | None = None,
    hub: Hub | None = None,
    record_dir: str | Path | None = None,
) -> FastAPI:
    """The application. ``token``: required from every client when set (always set it when
    the server binds to anything but 127.0.0.1). ``record_dir``: record every inbound batch
    there (see :mod:`orderflow.server.recording`)."""
    app = FastAPI(
        title="orderflow",
        version=__version__,
        description="Order-flow engine for NinjaTrader 8: books, analytics, signals.",
    )
    recorder = Recorder(record_dir) if record_dir is not None else None
    if hub is None:
        hub = Hub(params, recorder)
        if recorder is not None:  # a restart picks up where the recording of today ends
            today = recorder.path_for("x", time.time_ns()).name
            files = [f for f in recording_files(recorder.root) if f.name == today]
            hub.recover(list(replay_records(files)))
    app.state.hub = hub
    app.state.monitor = mon = Monitor()

    def observe(transport: str, ack: Any) -> None:
        mon.batches.labels(transport).inc()
        for kind, n in ack.applied.items():
            if n:
                mon.updates.labels(kind).inc(n)
        for kind, n in ack.rejected.items():
            mon.errors.labels(kind).inc(n)
        if ack.duplicate:
            mon.duplicates.inc()
        mon.stage.labels("engine").observe(ack.processing_us / 1e6)
        mon.stale.labels(ack.instrument).set(1 if ack.stale else 0)

    lock = asyncio.Lock()  # one batch at a time into the engine, whatever the transport

    def authorised(given: str | None) -> bool:
        return token is None or (given is not None and hmac.compare_digest(given, token))

    async def read_body(request: Request) -> bytes:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_BODY:
            raise RequestError(f"body: larger than {MAX_BODY} bytes", field="body", status=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise RequestError(f"body: larger than {MAX_BODY} bytes", field="body", status=413)
        return body

    async def post_batch(request: Request) -> Response:
        if not authorised(request.headers.get("x-orderflow-token")):
            return _error(401, RequestError("token: missing or wrong", field="token"))
        try:
            t0 = time.perf_counter()
            batch = decode_batch(await read_body(request))
            mon.stage.labels("decode").observe(time.perf_counter() - t0)
            async with lock:
                ack, _request = hub.apply(batch)
        except RequestError as exc:
            mon.errors.labels("bad_request").inc()
            status = int(exc.details.pop("status", 400))
            return _error(status, exc)
        except OrderflowError as exc:
            mon.errors.labels("unprocessable").inc()
            return _error(422, exc)
        observe("rest", ack)
        return Response(encode(ack), media_type="application/json")

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(mon.render(), media_type="text/plain; version=0.0.4")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Status, version, uptime, and per instrument the book's staleness and counters."""
        return hub.health()

    @app.post("/l2_update")
    async def l2_update(request: Request) -> Response:
        """A batch of NinjaTrader depth events (and ticks); answers with the ack: book,
        metrics and the signals the batch produced. Body: a protocol ``batch`` (JSON)."""
        return await post_batch(request)

    @app.post("/bar_update")
    async def bar_update(request: Request) -> Response:
        """A batch with bars of data series (BarsInProgress); same answer as /l2_update."""
        return await post_batch(request)

    @app.get("/api/book/{instrument}")
    async def book(instrument: str, levels: int = 10) -> Response:
        """The instrument's ladder: top ``levels`` rows per side, prices in exchange units."""
        st = hub.find(instrument)
        if st is None:
            return _error(404, RequestError(f"instrument: no data for {instrument!r}",
                                            field="instrument"))  # fmt: skip
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

    @app.get("/api/analytics/{instrument}")
    async def analytics(instrument: str) -> Response:
        """Session summary of the instrument so far (as ``orderflow analyze`` prints it)."""
        from orderflow.engine.runner import summarize

        st = hub.find(instrument)
        if st is None:
            return _error(404, RequestError(f"instrument: no data for {instrument!r}",
                                            field="instrument"))  # fmt: skip
        return JSONResponse(summarize(st.pipeline))

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        encoding = "json"

        async def send(msg: Any) -> None:
            data = encode(msg, encoding)
            if encoding == "msgpack":
                await socket.send_bytes(data)
            else:
                await socket.send_text(data.decode())

        async def receive() -> bytes | str:
            msg = await asyncio.wait_for(socket.receive(), IDLE_TIMEOUT_S)
            if msg["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(msg.get("code", 1000))
            data = msg.get("text") if msg.get("text") is not None else msg.get("bytes")
            if data is None:
                raise RequestError("message: empty frame", field="message")
            if len(data) > MAX_BODY:
                raise RequestError(f"message: larger than {MAX_BODY} bytes", field="message")
            return data  # type: ignore[no-any-return]

        connected = False
        try:
            first = decode_client(await asyncio.wait_for(receive(), HELLO_TIMEOUT_S))
            if not isinstance(first, Hello):
                await send(Error("type", "the first message must be hello"))
                await socket.close(1008)
                return
            encoding = first.encoding
            if first.protocol != PROTOCOL_VERSION:
                await send(Error("protocol", f"this server speaks protocol {PROTOCOL_VERSION}"))
                await socket.close(1008)
                return
            if not authorised(first.token):
                await send(Error("token", "missing or wrong", code="unauthorised"))
                await socket.close(1008)
                return
            client = first.client
            mon.connections.inc()
            connected = True
            await send(Welcome(PROTOCOL_VERSION, f"orderflow {__version__}", hub.session,
                               hub.last_seq.get(client, 0)))  # fmt: skip
            while True:
                try:
                    msg = decode_client(await receive())
                except RequestError as exc:
                    mon.errors.labels("bad_request").inc()
                    await send(Error(str(exc.details.get("field", "message")), exc.message))
                    continue
                if isinstance(msg, Batch):
                    try:
                        async with lock:
                            ack, request = hub.apply(msg, client)
                    except OrderflowError as exc:
                        mon.errors.labels("bad_request").inc()
                        field = str(exc.details.get("field", "batch"))
                        await send(Error(field, exc.message, seq=msg.seq))
                        continue
                    observe("websocket", ack)
                    await send(ack)
                    if request is not None:
                        if request.reason == "gap":
                            mon.gaps.inc()
                        await send(request)
                elif isinstance(msg, Heartbeat):
                    await send(Heartbeat(msg.t))
                elif isinstance(msg, Bye):
                    await socket.close(1000)
                    return
                else:
                    await send(Error("type", "hello was already received"))
        except (TimeoutError, WebSocketDisconnect):
            return
        except RequestError as exc:
            await send(Error(str(exc.details.get("field", "message")), exc.message))
            await socket.close(1008)
        except Exception:  # never a traceback to the client; the log has it
            log.exception("websocket handler failed")
            await socket.close(1011)
        finally:
            if connected:
                mon.connections.dec()

    return app
