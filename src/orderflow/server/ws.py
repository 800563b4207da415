"""The sequenced WebSocket (``/ws``): hello and welcome, then batches in, acks, commands and
snapshot requests out, one connection per client name.

A reader task decodes and rate-limits frames into a bounded inbox (full: it stops reading and
TCP pushes back on the sender); the session's loop applies what has arrived, taking every batch
already waiting together (see :meth:`Hub.apply_many`). A lone batch (a request/response
client's: nothing behind it in uvicorn's queue or the inbox, the loop idle and not gathering a
pipelining client's frames) is applied by the reader itself, without the hop to the loop; the
same engine turn, admission and rate limit. An engine turn writes its answers before it ends,
and the counters (with ``server.work_after_ack`` also the dashboard's view and the alert
checks; :mod:`.after_ack`) are done after they are written, before anything else is applied. A bad
frame gets an ``error`` frame naming the field and the reason; anything unexpected closes the
socket (1011) without details.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from orderflow import __version__
from orderflow.core.errors import (
    InstrumentOwnedError,
    OrderflowError,
    RecordingError,
    RequestError,
)
from orderflow.protocol import (
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
    Batch,
    Bye,
    CommandAck,
    Error,
    Heartbeat,
    Hello,
    Report,
    StateRequest,
    Welcome,
    decode_client,
)
from orderflow.server.auth import AUTH_KEY
from orderflow.server.connection import Connection
from orderflow.server.frames import decode_frame
from orderflow.server.limits import DECODE_BYTES_PER_EVENT, MAX_BODY, RateLimiter
from orderflow.server.scheduler import OverloadedError
from orderflow.server.stages import DECODED, FRAME, PUSHED, QUEUED, TAKEN, mark
from orderflow.server.state import ServerState, server_of
from orderflow.server.watchdog import WS_INBOUND_KEY

__all__ = ["router"]

log = logging.getLogger("orderflow.server")

HELLO_TIMEOUT_S = 10.0
#: decoded messages waiting to be applied, per connection (full: the server stops reading)
INBOX = 256
#: batches already waiting are applied together up to this many depth events
MAX_COALESCE_EVENTS = 20_000
COALESCE_SPIN_LIMIT = 64
COALESCE_PATIENCE = 3  # event-loop turns without a new frame before applying
IDLE_TIMEOUT_S = 30.0

router = APIRouter()


def queued_cost(b: Batch) -> int:
    """What a decoded batch counts against the engine's queue budget: its items, of any kind
    (so a batch of bars or executions is bounded too, not only depth)."""
    return b.n_depth + len(b.ticks) + _reports(b)


def _reports(b: Batch) -> int:
    """A batch's items that are neither depth nor prints."""
    return len(b.bars) + len(b.orders) + len(b.executions) + len(b.positions)


@router.websocket("/ws")
async def ws(socket: WebSocket) -> None:
    """One client's connection, from its hello to its bye (or its disconnect)."""
    await socket.accept()
    await Session(server_of(socket), socket).run()


class Session:
    """One WebSocket connection of one client."""

    def __init__(self, state: ServerState, socket: WebSocket) -> None:
        self.state = state
        self.hub = state.hub
        self.mon = state.monitor
        self.sched = state.scheduler
        self.limits = state.limits
        self.socket = socket
        self.conn = Connection(socket, state.limits.send_queue, on_ack=state.hub.view.after_ack)
        self.limiter = RateLimiter(state.limits)
        self.client: str | None = None
        self.connected = False
        self._loop = asyncio.get_running_loop()
        self._waiting_since: float | None = None  # loop time the reader began to wait
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_out = False  # the reader was stopped by the idle timeout
        #: uvicorn's queue of frames received and not yet taken (None under another server:
        #: then every batch goes through the inbox)
        self._inbound: asyncio.Queue[Any] | None = socket.scope.get(WS_INBOUND_KEY)
        self._idle = False  # the loop waits for its inbox and holds nothing
        self._streaming = False  # the loop's last run took several batches (a pipelining client)

    async def receive(self) -> bytes | str:
        """The next frame, within the idle timeout (the hello)."""
        async with asyncio.timeout(IDLE_TIMEOUT_S):  # no extra task per frame
            msg = await self.socket.receive()
        return self._frame_of(msg)

    async def next_frame(self) -> bytes | str:
        """The next frame, however long it takes: one timer per connection
        (:meth:`_idle_check`) ends a connection silent for ``IDLE_TIMEOUT_S``, instead of a
        timeout armed and disarmed around every frame."""
        self._waiting_since = self._loop.time()
        try:
            msg = await self.socket.receive()
        finally:
            self._waiting_since = None
        return self._frame_of(msg)

    def _idle_check(self, reader: asyncio.Task[None]) -> None:
        """The reader has waited ``IDLE_TIMEOUT_S`` for a frame: it is stopped and the session
        ends as on a timeout; else look again when it would have."""
        since, now = self._waiting_since, self._loop.time()
        if since is not None and now - since >= IDLE_TIMEOUT_S:
            self._idle_out = True
            reader.cancel()
            return
        due = (since if since is not None else now) + IDLE_TIMEOUT_S
        self._idle_timer = self._loop.call_at(due, self._idle_check, reader)

    def _frame_of(self, msg: Any) -> bytes | str:
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        data = msg.get("text") if msg.get("text") is not None else msg.get("bytes")
        if data is None:
            raise RequestError("message: empty frame", field="message")
        if len(data) > MAX_BODY:
            raise RequestError(f"message: larger than {MAX_BODY} bytes", field="message")
        return data  # type: ignore[no-any-return]

    async def read_frames(self, inbox: asyncio.Queue[Any]) -> None:
        """Frames to messages (or the Error a bad one gets), at the connection's rate. A lone
        batch (:meth:`_lone`) that the rate limit and the queue budget let through at once,
        while no other client waits for the engine, is applied in its decoding's engine turn
        (one turn instead of two; the turn's CPU time is charged for all of it)."""
        conn, sched, mon, limits = self.conn, self.sched, self.mon, self.limits
        try:
            while True:
                try:
                    frame = await self.next_frame()
                    mark(FRAME)
                    # decoding is the client's work too: a turn of its own, costed by size
                    turn = sched.turn(conn, len(frame) // DECODE_BYTES_PER_EVENT)
                    await turn.__aenter__()
                    try:
                        msg: Any = decode_frame(frame)
                    except BaseException:
                        await turn.__aexit__(None, None, None)
                        raise
                    mark(DECODED)
                except OverloadedError as exc:
                    await inbox.put(Error("engine", exc.message, code="overloaded"))
                    return
                except RequestError as exc:
                    mon.errors.labels("bad_request").inc()
                    await inbox.put(Error(str(exc.details.get("field", "message")),
                                          exc.message))  # fmt: skip
                    continue
                held, admitted = True, False  # the decoding's turn is still held
                try:
                    is_batch = isinstance(msg, Batch)
                    depth = msg.n_depth if is_batch else 0
                    n = depth + len(msg.ticks) if is_batch else 0
                    wait = self.limiter.take(n)
                    if is_batch and not wait and not sched.contended:
                        cost = n + _reports(msg)  # queued_cost(msg)
                        admitted = not cost or sched.admit_now(conn, cost)
                        if admitted and self._lone(inbox):
                            mark(QUEUED)
                            mark(TAKEN)  # applied here: no hop to the loop, no second turn
                            conn.lone += 1
                            turn.add_events(depth)
                            try:
                                await self.answer_run([msg])
                            finally:
                                held = False
                                await turn.__aexit__(None, None, None)
                                sched.applied(conn, cost)
                            self.state.ask_snapshots()  # a ladder it made stale asks at once
                            continue
                finally:
                    if held:
                        await turn.__aexit__(None, None, None)
                if wait > limits.max_wait_s:
                    mon.errors.labels("rate_limited").inc()
                    await inbox.put(Error("message", "over the connection's rate limit "
                        f"({limits.messages_per_s:g} messages/s, {limits.events_per_s:g} "
                        "events/s)", code="rate_limited"))  # fmt: skip
                    return
                if wait > 0:
                    mon.throttled.inc()
                    await asyncio.sleep(wait)  # stop reading: TCP pushes back on the sender
                if (is_batch and not admitted and (cost := queued_cost(msg))
                        and not sched.admit_now(conn, cost)):  # fmt: skip
                    try:  # the client's fair share of the engine's queue (else: stop reading)
                        await sched.admit(conn, cost)
                    except OverloadedError as exc:
                        await inbox.put(Error("engine", exc.message, code="overloaded"))
                        return
                mark(QUEUED)
                if is_batch and self._lone(inbox):
                    mark(TAKEN)  # applied here: no hop to the loop
                    conn.lone += 1
                    try:
                        await self.apply_run([msg], msg.n_depth)
                    except OverloadedError as exc:  # the loop tells the client and closes
                        await inbox.put(Error("engine", exc.message, code="overloaded"))
                        return
                    continue
                if inbox.full():  # the loop is behind: wait for room (TCP pushes back)
                    await inbox.put(msg)
                else:
                    inbox.put_nowait(msg)  # no coroutine for a put that cannot wait
        except asyncio.CancelledError:
            if not self._idle_out:
                raise
            await inbox.put(TimeoutError())  # silent too long: the session ends
        except BaseException as exc:  # disconnect: the handler ends with it
            await inbox.put(exc)

    def _lone(self, inbox: asyncio.Queue[Any]) -> bool:
        """Whether the batch just read may be applied by the reader itself: nothing waits
        behind it (in uvicorn's queue or the inbox), the loop is idle (so nothing of this
        client is being applied or answered) and not gathering a pipelining client's frames
        (those stay coalesced), and the connection is open."""
        inbound = self._inbound
        return (inbound is not None and self._idle and not self._streaming and inbox.empty()
                and inbound.empty() and self.conn.open)  # fmt: skip

    async def apply_run(self, run: list[Batch], events: int) -> None:
        """A run of batches in one engine turn: applied, answered (the answers written before
        the turn ends), then what the answers do not wait for (:mod:`.after_ack`) done.
        OverloadedError: no turn within the scheduler's maximum wait (nothing applied)."""
        conn, sched = self.conn, self.sched
        try:
            async with sched.turn(conn, events):
                await self.answer_run(run)
        finally:
            sched.applied(conn, sum(queued_cost(b) for b in run))
        self.state.ask_snapshots()  # a ladder they made stale asks at once

    async def answer_run(self, run: list[Batch]) -> None:
        """Inside an engine turn: the run applied, its answers written, then what they do not
        wait for done."""
        hub = self.hub
        try:
            out = self.apply_batches(run)
            # from this task when the writer is idle (no hop to it; it never waits)
            await self.conn.answer(out)
        finally:
            hub.after_ack.settle()
            hub.view.after_ack()  # fold the view now, while the client reads

    def apply_batches(self, run: list[Batch]) -> list[Any]:
        """A run of batches applied, all within the engine turn (no await): their answers,
        in order (the commands they caused already queued). The Hub holds what the answers
        do not wait for (:mod:`.after_ack`) until :meth:`apply_run` has written them."""
        client, mon, state, later = self.client, self.mon, self.state, self.hub.after_ack
        assert client is not None
        out: list[Any] = []
        later.deferring = later.enabled  # server.work_after_ack
        hub, view = self.hub, self.hub.view
        view.acking = True  # answer_run asks for the view's folding once they are written
        # answers to this connection only: their book and metrics as its encoding's bytes
        hub.acks_as = self.conn.encoding
        try:
            outcomes = hub.apply_many(run, client)
        finally:
            later.deferring = view.acking = False
            hub.acks_as = None
        for batch, ack, request, error in outcomes:
            if isinstance(error, InstrumentOwnedError):  # another client feeds it
                mon.errors.labels("instrument_owned").inc()
                out.append(Error("instrument", error.message, seq=batch.seq,
                                 code=error.code, status=error.status_code))  # fmt: skip
                continue
            if error is not None:
                # a recording that failed: retryable, the batch was neither kept nor applied
                code = error.code if isinstance(error, RecordingError) else "bad_request"
                mon.errors.labels(code).inc()
                field = str(error.details.get("field", "batch"))
                out.append(Error(field, error.message, seq=batch.seq, code=code))
                continue
            assert ack is not None
            later.hold(state.observe, "websocket", ack)  # the counters: after the answer
            out.append(ack)
            if request is not None:
                if request.reason == "gap":
                    mon.gaps.inc()
                out.append(state.named(client, request))
        # the commands the batches made the engine issue go out before their acks: a
        # client that has the ack of a batch has every command that batch caused
        state.drain()
        mark(PUSHED)
        return out

    async def refuse(self, error: Error) -> None:
        await self.conn.send_now(error)
        await self.socket.close(1008)

    async def hello(self) -> bool:
        """The first message: a hello of this protocol with the token (or refused); then
        the welcome, the commands still unanswered, and the trading engine told."""
        hub, state, conn = self.hub, self.state, self.conn
        first = decode_client(await asyncio.wait_for(self.receive(), HELLO_TIMEOUT_S))
        if not isinstance(first, Hello):
            await self.refuse(Error("type", "the first message must be hello"))
            return False
        conn.encoding = first.encoding
        if first.protocol not in SUPPORTED_PROTOCOLS:
            speaks = " and ".join(str(v) for v in SUPPORTED_PROTOCOLS)
            await self.refuse(Error("protocol", f"this server speaks protocol {speaks}"))
            return False
        if not (self.socket.scope.get(AUTH_KEY) or state.authorised(first.token)):
            await self.refuse(Error("token", "missing or wrong", code="unauthorised"))
            return False
        client = self.client = first.client
        old = state.conns.get(client)
        if old is not None:  # one connection per client name: sequences stay in order
            old.close(1008, "replaced by a new connection of the same client")
        state.conns[client] = conn
        hub.feeds.connect(client)
        hub.answers.forget(client)  # its first answers carry clusters and profile in full
        hub.answers.set_granularity(client, first.cluster_granularity)  # its cluster bands
        self.mon.connections.inc()
        self.connected = True
        conn.start()
        conn.push(Welcome(PROTOCOL_VERSION, f"orderflow {__version__}", hub.session,
                          hub.last_seq.get(client, 0), hub.flags))  # fmt: skip
        for command in hub.outbox.pending(client):  # unanswered before: send again
            conn.push(command)
        hub.trading.connected(client, first.report)  # the gate shut until NinjaTrader's report
        state.drain()
        return True

    async def run(self) -> None:
        try:
            if not await self.hello():
                return
            inbox: asyncio.Queue[Any] = asyncio.Queue(INBOX)
            reader = self._loop.create_task(self.read_frames(inbox))
            self._idle_timer = self._loop.call_later(IDLE_TIMEOUT_S, self._idle_check, reader)
            try:
                await self.loop(inbox)
            finally:
                reader.cancel()
                if self._idle_timer is not None:
                    self._idle_timer.cancel()
        except (TimeoutError, WebSocketDisconnect):
            return
        except RequestError as exc:
            with contextlib.suppress(Exception):
                await self.refuse(Error(str(exc.details.get("field", "message")), exc.message))
        except Exception:  # never a traceback to the client; the log has it
            log.exception("websocket handler failed")
            with contextlib.suppress(Exception):
                await self.socket.close(1011)
        finally:
            await self.end()

    async def loop(self, inbox: asyncio.Queue[Any]) -> None:
        """Apply what arrives until the connection closes."""
        conn, sched, socket = self.conn, self.sched, self.socket
        while conn.open:
            self._idle = True  # the reader may apply a lone batch itself meanwhile
            msg = await inbox.get()
            self._idle = False
            mark(TAKEN)
            if isinstance(msg, Batch):
                # uvicorn hands over one frame per turn of the event loop: give the
                # reader turns while frames keep coming (a pipelining client), so what
                # is already on the socket is applied together; a request/response
                # client (whose batches always come one at a time) costs nothing
                idle = 0 if self._streaming else COALESCE_PATIENCE
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
                    await self.apply_run(run, events)
                except OverloadedError as exc:
                    conn.push(Error("engine", exc.message, code="overloaded"))
                    await conn.flush()
                    await socket.close(1013)
                    return
                self._streaming = len(run) > 1  # batches are arriving faster than applied
                if held is None:
                    continue
                msg = held
            if isinstance(msg, BaseException):
                raise msg
            if not await self.other(msg):
                return

    async def other(self, msg: Any) -> bool:
        """A message that is not a batch; False: the connection is closed."""
        hub, conn, client, state = self.hub, self.conn, self.client, self.state
        assert client is not None
        if isinstance(msg, Error):  # a frame that did not decode, or the limit
            conn.push(msg)
            if msg.code in ("rate_limited", "overloaded"):
                await conn.flush()
                await self.socket.close(1013 if msg.code == "overloaded" else 1008)
                return False
        elif isinstance(msg, CommandAck):
            if not hub.outbox.acknowledge(client, msg):
                conn.push(Error("command_seq", f"no command {msg.command_seq} for "
                                f"{msg.cid!r} to this client"))  # fmt: skip
            else:
                hub.trading.acknowledge(client, msg.command_seq, msg.status,
                                        msg.reason)  # fmt: skip
        elif isinstance(msg, Report):
            try:
                hub.trading.report(client, msg)
            except (OrderflowError, ValueError) as exc:
                field = getattr(exc, "details", {}).get("field", "report")
                conn.push(Error(str(field), str(exc)))
            state.drain()
        elif isinstance(msg, StateRequest):
            try:
                conn.push(hub.state_answer(msg.instrument, client))
            except OrderflowError as exc:
                conn.push(Error("instrument", exc.message, code=exc.code,
                                status=exc.status_code))  # fmt: skip
        elif isinstance(msg, Heartbeat):
            conn.push(Heartbeat(msg.t))
        elif isinstance(msg, Bye):
            await conn.flush()
            await self.socket.close(1000)
            return False
        else:
            conn.push(Error("type", "hello was already received"))
        return True

    async def end(self) -> None:
        """The connection is over: its queue and turns given back, its name released."""
        state, conn, client, mon = self.state, self.conn, self.client, self.mon
        self.sched.forget(conn)
        await conn.stop()
        if conn.slow:
            mon.errors.labels("slow_consumer").inc()
        if self.connected:
            mon.connections.dec()
            if state.conns.get(client or "") is conn:
                del state.conns[client or ""]
                self.hub.feeds.disconnect(client or "")
                if client is not None:
                    self.hub.trading.disconnected(client)
                    state.drain()
                with contextlib.suppress(KeyError):
                    mon.queue.remove(client or "")
