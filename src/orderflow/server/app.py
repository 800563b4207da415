"""The HTTP and WebSocket server (FastAPI on uvicorn): the original REST contract
(``/health``, ``/l2_update``, ``/bar_update``), a read API, and the sequenced WebSocket.

Errors never carry a stack trace to a client: a bad request is a 400 (or a WebSocket ``error``
frame) naming the field and the reason; anything unexpected is logged here and answered 500
without details. One client's bad message changes nothing for anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from orderflow import __version__
from orderflow.core.errors import (
    ConfigError,
    InstrumentOwnedError,
    OrderflowError,
    RecordingError,
    RequestError,
)
from orderflow.engine.pipeline import PipelineParams
from orderflow.protocol import (
    PROTOCOL_VERSION,
    Batch,
    Bye,
    CommandAck,
    Error,
    Heartbeat,
    Hello,
    Report,
    SnapshotRequest,
    Welcome,
    decode_batch,
    decode_client,
    decode_object,
    encode,
)
from orderflow.server.auth import AUTH_KEY, TokenGate, check_token, token_matches
from orderflow.server.bounds import register_bounds
from orderflow.server.connection import Connection
from orderflow.server.feeds import rest_client
from orderflow.server.hub import Hub
from orderflow.server.journal_api import add_journal_routes
from orderflow.server.journal_start import hold_if_missing, open_journal
from orderflow.server.limits import MAX_BODY as LIMITS_MAX_BODY
from orderflow.server.limits import Limits, RateLimiter, RestLimiters
from orderflow.server.machine import Machine, MachineParams, machine_volumes
from orderflow.server.monitor import Monitor
from orderflow.server.order_views import order_list, order_of, position_list
from orderflow.server.outbox import COMMAND_MAX_AGE_NS
from orderflow.server.recording import Recorder, RecordingCollector, recording_files
from orderflow.server.scheduler import FairScheduler, OverloadedError
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.journal import Journal
from orderflow.trading.orders import COMMAND_TIMEOUT_NS
from orderflow.trading.params import TradingParams

__all__ = ["MAX_BODY", "create_app"]

log = logging.getLogger("orderflow.server")

MAX_BODY = LIMITS_MAX_BODY  # largest request body or WebSocket message accepted (bytes)
HELLO_TIMEOUT_S = 10.0
#: decoded messages waiting to be applied, per connection (full: the server stops reading)
INBOX = 256
#: batches already waiting are applied together up to this many depth events
MAX_COALESCE_EVENTS = 20_000
COALESCE_SPIN_LIMIT = 64
COALESCE_PATIENCE = 3  # event-loop turns without a new frame before applying
IDLE_TIMEOUT_S = 30.0
#: a frame is estimated to cost as much to decode as this many bytes per event (then measured)
DECODE_BYTES_PER_EVENT = 64


def _queued_cost(b: Batch) -> int:
    """What a decoded batch counts against the engine's queue budget: its items, of any kind
    (so a batch of bars or executions is bounded too, not only depth)."""
    return (b.n_depth + len(b.ticks) + len(b.bars) + len(b.orders) + len(b.executions)
            + len(b.positions))  # fmt: skip


def _open_file_limit() -> int | None:
    """The process's soft limit of open files (None: unlimited, or no such limit: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def _error(status: int, exc: OrderflowError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=status)


def create_app(
    params: PipelineParams | None = None,
    token: str | None = None,
    hub: Hub | None = None,
    record_dir: str | Path | None = None,
    *,
    limits: Limits | None = None,
    flags: dict[str, bool] | None = None,
    command_timeout_s: float = COMMAND_TIMEOUT_NS / 1e9,
    command_max_age_s: float = COMMAND_MAX_AGE_NS / 1e9,
    trading: TradingParams | None = None,
    trading_server: ServerTradingParams | None = None,
    journal: str | Path | Journal | None = None,
    rest_owner_silence_s: float | None = None,
    record_max_open: int = 256,
    machine: MachineParams | None = None,
) -> FastAPI:
    """The application. ``token``: required from every client when set (always set it when
    the server binds to anything but 127.0.0.1). ``record_dir``: record every inbound batch
    there (see :mod:`orderflow.server.recording`). ``limits``: rate limits and queue sizes.
    ``flags``: the feature flags (``historical_only`` refuses every order command); they are
    told to each client in its welcome. ``trading`` / ``trading_server``: the trading
    engine's parameters (an order desk and risk manager per client, always: every command
    checked, fills and P&L tracked, reconciliation on connect); neither: the engine switched
    off (no strategy; the defaults for the rest).
    ``journal``: the trading journal (a SQLite file, or an open :class:`Journal`): the engine
    journals every order, report and risk decision there and restores its state from it at
    start; ``/api/journal/...`` read it. ``rest_owner_silence_s``: a REST client that fed an
    instrument owns it until it has been silent this long (``server.rest_owner_silence_s``).
    ``record_max_open``: recording files kept open at once (the least recently written is
    closed first)."""
    limits = limits or Limits()
    flags = dict(flags or {})
    journal_missing = False  # a journal missing at start holds the kill switch (journal_start)
    if token is not None:
        check_token(token)
    if journal is not None and not isinstance(journal, Journal):
        journal, journal_missing = open_journal(journal)  # JournalError: one line, no start

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def expire() -> None:  # commands nobody answered become visible as timed out
            assert hub is not None
            while True:
                await asyncio.sleep(0.25)
                hub.outbox.expire()
                if hub.trading is not None:
                    hub.trading.expire()
                    drain()
                ask_snapshots()
                for name, conn in list(conns.items()):
                    mon.queue.labels(name).set(conn.queue.qsize())

        task = asyncio.get_running_loop().create_task(expire())
        watch = asyncio.get_running_loop().create_task(app.state.machine.run())
        yield
        task.cancel()
        watch.cancel()
        close_journal_reader()
        if isinstance(journal, Journal):
            journal.close()

    app = FastAPI(
        title="orderflow",
        version=__version__,
        description="Order-flow engine for NinjaTrader 8: books, analytics, signals, orders.",
        lifespan=lifespan,
    )
    nofile = _open_file_limit()
    if record_dir is not None and nofile is not None and record_max_open > nofile // 2:
        raise ConfigError(
            f"server.record_max_open_files: {record_max_open} is more than half this process's "
            f"open-file limit ({nofile}); lower it, or raise the limit (ulimit -n)",
            field="server.record_max_open_files",
        )
    app.add_middleware(TokenGate, token=token)  # every route but /health needs the token
    recorder = Recorder(record_dir, record_max_open) if record_dir is not None else None
    if hub is None:
        hub = Hub(params, recorder, command_timeout_s=command_timeout_s,
                  historical_only=flags.get("historical_only", False),
                  command_max_age_s=command_max_age_s, trading=trading,
                  trading_server=trading_server, journal=journal)  # fmt: skip
        hub.flags = flags
        if recorder is not None:  # a restart picks up where the recording of today ends
            alerts = hub.alerts
            recorder.on_torn = lambda path, n: alerts.raise_(
                "recording_torn_tail", path.parent.name,
                f"{path}: a torn last frame ({n} bytes) was cut off")  # fmt: skip
            today = recorder.path_for("x", time.time_ns()).name
            files = [f for f in recording_files(recorder.root) if f.name == today]
            records = recorder.recover(files)
            hub.recover(records)
            if journal_missing and isinstance(journal, Journal):
                hold_if_missing(hub.trading, journal.path, files,
                                {r.client for r in records if r.client})  # fmt: skip
    app.state.hub = hub
    if rest_owner_silence_s is not None:
        hub.feeds.rest_silence_s = rest_owner_silence_s
    app.state.monitor = mon = Monitor()
    if hub.recorder is not None:
        mon.registry.register(RecordingCollector(hub.recorder))
    # the machine under the server: CPU, memory, files, loop lag, free disk (server.machine)
    volumes = machine_volumes(record_dir, journal.path if isinstance(journal, Journal) else None)
    app.state.machine = Machine(replace(machine or MachineParams(), volumes=volumes),
                                mon.registry, hub.alerts)  # fmt: skip

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

    # one slice at a time into the engine, whatever the transport, shared fairly by clients
    sched = app.state.scheduler = FairScheduler(limits.engine_slice_ms, limits.queue_events,
                                                limits.engine_max_wait_s)  # fmt: skip
    conns: dict[str, Connection] = {}  # connected WebSocket clients by name
    rest_limits = RestLimiters(limits)
    register_bounds(mon.registry, sched, conns, rest_limits, hub)

    def drain() -> None:
        """Push the commands the trading engine issued by itself (flatten, bracket legs,
        reconciliation); one for a client not connected stays pending in the ledger and goes
        out when it reconnects."""
        if hub.trading is None or not hub.trading.outbox:
            return
        out, hub.trading.outbox = hub.trading.outbox, []
        for name, command in out:
            conn = conns.get(name)
            if conn is not None:
                conn.push(command)

    def ask_snapshots() -> None:
        """Send the snapshot requests that are due (a stale ladder asks its feeder again with
        back-off) to their clients; a REST feeder cannot be called: its acks say ``stale``."""
        for name, request in hub.feeds.due():
            conn = conns.get(name) if name is not None else None
            if conn is not None and name is not None:
                conn.push(named(name, request))

    def named(client: str, request: SnapshotRequest) -> SnapshotRequest:
        """The request naming the instrument the way ``client`` does in its batches."""
        wire = hub.names.get((client, request.instrument), request.instrument)
        return request if wire == request.instrument else msgspec.structs.replace(
            request, instrument=wire)  # fmt: skip

    def authorised(given: str | None) -> bool:
        return token is None or token_matches(token, given)

    def unauthorised(request: Request) -> JSONResponse | None:
        """The 401 for a REST request without the right token (None: it may go on); the
        gate (:mod:`orderflow.server.auth`) has already refused such requests."""
        if token is None or request.scope.get(AUTH_KEY):
            return None
        return _error(401, RequestError("token: missing or wrong", field="token"))

    async def read_body(request: Request) -> bytes:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_BODY:
            raise RequestError(f"body: larger than {MAX_BODY} bytes", field="body", status=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise RequestError(f"body: larger than {MAX_BODY} bytes", field="body", status=413)
        return body

    async def post_batch(request: Request) -> Response:
        if (refused := unauthorised(request)) is not None:
            return refused
        try:
            body = await read_body(request)
            peer = request.client
            t0 = time.perf_counter()
            async with sched.turn(("rest", peer.host, peer.port) if peer else "rest",
                                  len(body) // DECODE_BYTES_PER_EVENT):  # fmt: skip
                batch = decode_batch(body)
            mon.stage.labels("decode").observe(time.perf_counter() - t0)
            limiter = rest_limits.get((peer.host, peer.port) if peer else ("", 0))
            events = batch.n_depth + len(batch.ticks)
            wait = limiter.peek(events)
            if wait > 0:
                mon.errors.labels("rate_limited").inc()
                exc = RequestError(f"rate: over the connection's rate limit; retry in {wait:.3f} s",
                                   field="rate")  # fmt: skip
                retry = {"Retry-After": str(max(1, round(wait + 0.5)))}
                return JSONResponse(exc.to_dict(), status_code=429, headers=retry)
            limiter.take(events)
            async with sched.turn(("rest", peer.host, peer.port) if peer else "rest", events):
                ack, _request = hub.apply(batch, feeder=rest_client(peer.host if peer else None))
                drain()
        except RecordingError as exc:  # nothing kept, nothing applied: send it again later
            mon.errors.labels(exc.code).inc()
            retry = {"Retry-After": str(exc.details.pop("retry_after_s", 1))}
            return JSONResponse(exc.to_dict(), status_code=503, headers=retry)
        except RequestError as exc:
            owned = isinstance(exc, InstrumentOwnedError)  # another client feeds it
            mon.errors.labels("instrument_owned" if owned else "bad_request").inc()
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
    async def health(request: Request) -> dict[str, Any]:
        """Status, version, uptime, per instrument the book's staleness and counters, and the
        connected WebSocket clients with their send queues. With a token set, a caller without
        it gets the status only (liveness)."""
        if token is not None and not request.scope.get(AUTH_KEY):
            return {"status": hub.health()["status"]}
        clients = {name: {"queued": c.queue.qsize(), "sent": c.sent} for name, c in conns.items()}
        out = {**hub.health(), "clients": clients}
        if hub.trading is not None and hub.trading.writer is not None:
            out["journal"] = hub.trading.journal_status()
        out["machine"] = app.state.machine.status()
        return out

    @app.post("/l2_update")
    async def l2_update(request: Request) -> Response:
        """A batch of NinjaTrader depth events (and ticks); answers with the ack: book,
        metrics and the signals the batch produced. Body: a protocol ``batch`` (JSON)."""
        return await post_batch(request)

    @app.post("/bar_update")
    async def bar_update(request: Request) -> Response:
        """A batch with bars of data series (BarsInProgress); same answer as /l2_update."""
        return await post_batch(request)

    @app.post("/order_update")
    async def order_update(request: Request) -> Response:
        """A batch with NinjaTrader's order updates, executions and position updates of one
        instrument (``orders``, ``executions``, ``positions``); same answer as /l2_update."""
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
        # msgspec writes an undefined number (the mid of a one-sided book: NaN) as null
        return Response(msgspec.json.encode(summarize(st.pipeline)), media_type="application/json")

    @app.get("/api/orders")
    async def orders() -> Response:
        """Every order of the trading engine's desks, by client id: its state machine's
        record (NinjaTrader's latest state, fills counted once by execution, overfill) and the
        transport status of its commands (pending, done, refused, timed_out, expired)."""
        return JSONResponse({"orders": order_list(hub.trading, hub.outbox)})

    @app.get("/api/orders/{cid}")
    async def order(cid: str) -> Response:
        """One order by client id."""
        out = order_of(hub.trading, hub.outbox, cid)
        if out is None:
            return _error(404, RequestError(f"cid: no order {cid!r}", field="cid"))
        return JSONResponse(out)

    @app.get("/api/positions")
    async def positions() -> Response:
        """The positions per client, account and instrument, built from the executions (each
        counted once), with realised and open P&L."""
        return JSONResponse({"positions": position_list(hub.trading)})

    @app.get("/api/risk")
    async def risk() -> Response:
        """The trading engine's state per client: reconciliation, risk (day P&L, limits
        reached, kill switch, positions, working orders) and the latest risk events."""
        if hub.trading is None:
            return _error(404, RequestError("trading: the trading engine is off", field="trading"))
        return JSONResponse({"clients": hub.trading.status()})

    async def kill_or_reset(request: Request, reset: bool) -> Response:
        if (refused := unauthorised(request)) is not None:
            return refused
        if hub.trading is None:
            return _error(404, RequestError("trading: the trading engine is off", field="trading"))
        try:
            data = decode_object(await read_body(request))
        except RequestError as exc:
            return _error(int(exc.details.pop("status", 400)), exc)
        client, reason = data.get("client"), data.get("reason") or "manual"
        if client is not None and not (isinstance(client, str) and 0 < len(client) <= 64):
            return _error(400, RequestError("client: a client name (1 to 64 characters)",
                                            field="client"))  # fmt: skip
        if not (isinstance(reason, str) and len(reason) <= 200):
            return _error(400, RequestError("reason: a text of at most 200 characters",
                                            field="reason"))  # fmt: skip
        if reset:
            names = hub.trading.reset_kill(client)
        else:
            names = hub.trading.kill(client, reason)
            drain()
        return JSONResponse({"clients": {n: hub.trading.of(n).risk.status() for n in names}})

    @app.post("/api/kill")
    async def kill(request: Request) -> Response:
        """Engage the kill switch (body ``{"client": ...}`` for one client, else all): new
        entries are refused with ``kill_switch:manual`` and, with ``flatten_on_kill``, working
        orders are cancelled and positions flattened at market."""
        return await kill_or_reset(request, False)

    @app.post("/api/kill/reset")
    async def kill_reset(request: Request) -> Response:
        """Release the kill switch (one client or all)."""
        return await kill_or_reset(request, True)

    close_journal_reader = add_journal_routes(
        app, journal if isinstance(journal, Journal) else None, unauthorised
    )

    @app.post("/api/commands")
    async def commands(request: Request) -> Response:
        """Queue an unmanaged order command (submit, change, cancel) for a connected bridge.
        Body: ``client`` (the bridge's client name) and the fields of a protocol ``command``
        except ``command_seq`` (the server numbers it). Answers with the command as sent; its
        fate is then in ``GET /api/orders/{cid}``."""
        if (refused := unauthorised(request)) is not None:
            return refused
        try:
            body = decode_object(await read_body(request))
            client = body.pop("client", None)
            if not isinstance(client, str) or not client:
                raise RequestError("client: the name of a connected bridge is required",
                                   field="client")  # fmt: skip
            conn = conns.get(client)
            if conn is None:
                raise RequestError(f"client: {client!r} is not connected", field="client",
                                   status=409)  # fmt: skip
            instrument = body.pop("instrument", None)
            st = hub.find(instrument) if isinstance(instrument, str) else None
            if st is None:
                raise RequestError(f"instrument: no data for {instrument!r}", field="instrument")
            key = st.instrument.contract or st.instrument.symbol
            wire = hub.names.get((client, key), str(instrument))  # as the bridge names it
            # through the desk and the risk check, then numbered by the outbox
            command = hub.trading.command(client, st.instrument, wire, body)
        except msgspec.DecodeError as exc:
            return _error(400, RequestError(f"body: {exc}", field="body"))
        except RequestError as exc:
            mon.errors.labels("bad_command").inc()
            status = int(exc.details.pop("status", 400))
            return _error(status, exc)
        conn.push(command)
        drain()
        return JSONResponse({"command": msgspec.to_builtins(command), "status": "pending"})

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        conn = Connection(socket, limits.send_queue)
        limiter = RateLimiter(limits)
        client: str | None = None
        connected = False

        async def receive() -> bytes | str:
            async with asyncio.timeout(IDLE_TIMEOUT_S):  # no extra task per frame
                msg = await socket.receive()
            if msg["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(msg.get("code", 1000))
            data = msg.get("text") if msg.get("text") is not None else msg.get("bytes")
            if data is None:
                raise RequestError("message: empty frame", field="message")
            if len(data) > MAX_BODY:
                raise RequestError(f"message: larger than {MAX_BODY} bytes", field="message")
            return data  # type: ignore[no-any-return]

        async def read_frames(inbox: asyncio.Queue[Any]) -> None:
            """Frames to messages (or the Error a bad one gets), at the connection's rate."""
            try:
                while True:
                    try:
                        frame = await receive()
                        # decoding is the client's work too: a turn of its own, costed by size
                        async with sched.turn(conn, len(frame) // DECODE_BYTES_PER_EVENT):
                            msg: Any = decode_client(frame)
                    except OverloadedError as exc:
                        await inbox.put(Error("engine", exc.message, code="overloaded"))
                        return
                    except RequestError as exc:
                        mon.errors.labels("bad_request").inc()
                        await inbox.put(Error(str(exc.details.get("field", "message")),
                                              exc.message))  # fmt: skip
                        continue
                    n = msg.n_depth + len(msg.ticks) if isinstance(msg, Batch) else 0
                    wait = limiter.take(n)
                    if wait > limits.max_wait_s:
                        mon.errors.labels("rate_limited").inc()
                        await inbox.put(Error("message", "over the connection's rate limit "
                            f"({limits.messages_per_s:g} messages/s, {limits.events_per_s:g} "
                            "events/s)", code="rate_limited"))  # fmt: skip
                        return
                    if wait > 0:
                        mon.throttled.inc()
                        await asyncio.sleep(wait)  # stop reading: TCP pushes back on the sender
                    if isinstance(msg, Batch) and (cost := _queued_cost(msg)):
                        try:  # the client's fair share of the engine's queue (else: stop reading)
                            await sched.admit(conn, cost)
                        except OverloadedError as exc:
                            await inbox.put(Error("engine", exc.message, code="overloaded"))
                            return
                    await inbox.put(msg)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # disconnect, timeout: the handler ends with it
                await inbox.put(exc)

        async def apply_batches(run: list[Batch]) -> None:
            assert client is not None
            out: list[Any] = []
            for batch, ack, request, error in hub.apply_many(run, client):
                if isinstance(error, InstrumentOwnedError):  # another client feeds it
                    mon.errors.labels("instrument_owned").inc()
                    out.append(Error("instrument", error.message, seq=batch.seq,
                                     code=error.code, status=409))  # fmt: skip
                    continue
                if error is not None:
                    # a recording that failed: retryable, the batch was neither kept nor applied
                    code = error.code if isinstance(error, RecordingError) else "bad_request"
                    mon.errors.labels(code).inc()
                    field = str(error.details.get("field", "batch"))
                    out.append(Error(field, error.message, seq=batch.seq, code=code))
                    continue
                assert ack is not None
                observe("websocket", ack)
                out.append(ack)
                if request is not None:
                    if request.reason == "gap":
                        mon.gaps.inc()
                    out.append(named(client, request))
            # the commands the batches made the engine issue go out before their acks: a
            # client that has the ack of a batch has every command that batch caused
            drain()
            for msg in out:
                conn.push(msg)
            ask_snapshots()  # a ladder these batches made stale asks at once

        async def refuse(error: Error) -> None:
            await conn.send_now(error)
            await socket.close(1008)

        try:
            first = decode_client(await asyncio.wait_for(receive(), HELLO_TIMEOUT_S))
            if not isinstance(first, Hello):
                return await refuse(Error("type", "the first message must be hello"))
            conn.encoding = first.encoding
            if first.protocol != PROTOCOL_VERSION:
                return await refuse(
                    Error("protocol", f"this server speaks protocol {PROTOCOL_VERSION}")
                )
            if not (socket.scope.get(AUTH_KEY) or authorised(first.token)):
                return await refuse(Error("token", "missing or wrong", code="unauthorised"))
            client = first.client
            old = conns.get(client)
            if old is not None:  # one connection per client name: sequences stay in order
                old.close(1008, "replaced by a new connection of the same client")
            conns[client] = conn
            hub.feeds.connect(client)
            mon.connections.inc()
            connected = True
            conn.start()
            conn.push(Welcome(PROTOCOL_VERSION, f"orderflow {__version__}", hub.session,
                              hub.last_seq.get(client, 0), hub.flags))  # fmt: skip
            for command in hub.outbox.pending(client):  # unanswered before: send again
                conn.push(command)
            if hub.trading is not None:  # the gate stays shut until NinjaTrader's report
                hub.trading.connected(client, first.report)
                drain()
            # a reader task decodes and rate-limits frames into a bounded inbox (full: it
            # stops reading and TCP pushes back); this loop applies what has arrived, taking
            # every batch already waiting together (see Hub.apply_many)
            inbox: asyncio.Queue[Any] = asyncio.Queue(INBOX)
            reader = asyncio.get_running_loop().create_task(read_frames(inbox))
            streaming = False
            try:
                while conn.open:
                    msg = await inbox.get()
                    if isinstance(msg, Batch):
                        # uvicorn hands over one frame per turn of the event loop: give the
                        # reader turns while frames keep coming (a pipelining client), so what
                        # is already on the socket is applied together; a request/response
                        # client (whose batches always come one at a time) costs nothing
                        idle = 0 if streaming else COALESCE_PATIENCE
                        while idle < COALESCE_PATIENCE and inbox.qsize() < COALESCE_SPIN_LIMIT:
                            n = inbox.qsize()
                            await asyncio.sleep(0)
                            idle = idle + 1 if inbox.qsize() == n else 0
                        run, held = [msg], None
                        events = msg.n_depth
                        limit = sched.slice_events(conn, MAX_COALESCE_EVENTS)
                        while not inbox.empty() and events < limit:
                            nxt = inbox.get_nowait()
                            if not isinstance(nxt, Batch):
                                held = nxt
                                break
                            run.append(nxt)
                            events += nxt.n_depth
                        try:
                            async with sched.turn(conn, events):
                                await apply_batches(run)
                        except OverloadedError as exc:
                            conn.push(Error("engine", exc.message, code="overloaded"))
                            await conn.flush()
                            await socket.close(1013)
                            return
                        finally:
                            sched.applied(conn, sum(_queued_cost(b) for b in run))
                        streaming = len(run) > 1  # batches are arriving faster than applied
                        if held is None:
                            continue
                        msg = held
                    if isinstance(msg, BaseException):
                        raise msg
                    if isinstance(msg, Error):  # a frame that did not decode, or the limit
                        conn.push(msg)
                        if msg.code in ("rate_limited", "overloaded"):
                            await conn.flush()
                            await socket.close(1013 if msg.code == "overloaded" else 1008)
                            return
                    elif isinstance(msg, CommandAck):
                        if not hub.outbox.acknowledge(client, msg):
                            conn.push(Error("command_seq", f"no command {msg.command_seq} for "
                                            f"{msg.cid!r} to this client"))  # fmt: skip
                        else:
                            hub.trading.acknowledge(client, msg.command_seq, msg.status,
                                                    msg.reason)  # fmt: skip
                    elif isinstance(msg, Report):
                        if hub.trading is None:
                            hub.counters["reports_ignored"] += 1
                        else:
                            try:
                                hub.trading.report(client, msg)
                            except (OrderflowError, ValueError) as exc:
                                field = getattr(exc, "details", {}).get("field", "report")
                                conn.push(Error(str(field), str(exc)))
                            drain()
                    elif isinstance(msg, Heartbeat):
                        conn.push(Heartbeat(msg.t))
                    elif isinstance(msg, Bye):
                        await conn.flush()
                        await socket.close(1000)
                        return
                    else:
                        conn.push(Error("type", "hello was already received"))
            finally:
                reader.cancel()
        except (TimeoutError, WebSocketDisconnect):
            return
        except RequestError as exc:
            with contextlib.suppress(Exception):
                await refuse(Error(str(exc.details.get("field", "message")), exc.message))
        except Exception:  # never a traceback to the client; the log has it
            log.exception("websocket handler failed")
            with contextlib.suppress(Exception):
                await socket.close(1011)
        finally:
            sched.forget(conn)
            await conn.stop()
            if conn.slow:
                mon.errors.labels("slow_consumer").inc()
            if connected:
                mon.connections.dec()
                if conns.get(client or "") is conn:
                    del conns[client or ""]
                    hub.feeds.disconnect(client or "")
                    if hub.trading is not None and client is not None:
                        hub.trading.disconnected(client)
                        drain()
                    with contextlib.suppress(KeyError):
                        mon.queue.remove(client or "")

    return app
