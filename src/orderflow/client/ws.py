"""A Python client of the orderflow server that does what the NinjaTrader bridge does.

It queues depth, tick and bar events, batches them (by count or after a few milliseconds),
sends them over WebSocket (JSON or MessagePack) or REST, reconnects with capped exponential
backoff, resends what was not acknowledged, and hands back acks (book, metrics, signals),
snapshot requests and errors, through callbacks or an async iterator.

Sequencing follows ``docs/protocol.md``: batches are numbered from 1 per client name and the
numbers are kept across reconnections. Every batch stays in a bounded buffer until its ack
arrives; after a reconnect the server's ``welcome.last_seq`` says what it already applied,
and the client resends only what follows. A full buffer makes :meth:`OrderflowClient.send_batch`
wait (back-pressure), so nothing is ever dropped silently.

Example::

    async with OrderflowClient("ws://127.0.0.1:8765/ws", client="py-ES") as c:
        await c.send_batch(Batch(instrument="ES 03-24", depth=[...]))
        await c.drain()
        print(c.last_ack.metrics)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from orderflow.core.errors import ClientError, ParameterError
from orderflow.protocol import (
    MAX_CLUSTER_GRANULARITY,
    PROTOCOL_VERSION,
    Ack,
    Bar,
    Batch,
    Bye,
    Command,
    CommandAck,
    Depth,
    Encoding,
    Error,
    Execution,
    Heartbeat,
    Hello,
    OrderUpdate,
    PositionUpdate,
    Report,
    ServerMessage,
    SnapshotRequest,
    State,
    StateRequest,
    Tick,
    Welcome,
    columnar,
    packed,
)
from orderflow.server.auth import resolve_token

__all__ = [
    "ClientError",
    "ClientStats",
    "DepthForm",
    "Encoding",
    "OrderflowClient",
    "RestClient",
    "ServerEvent",
]

log = logging.getLogger("orderflow.client")

#: how a batch carries its depth events: ``packed`` columns (little-endian arrays the server
#: reads in place, the default), ``columns`` (lists), or ``rows`` (one object per event)
DepthForm = Literal["packed", "columns", "rows"]
#: what the client hands back: an ack, a snapshot request, an error or an order command
ServerEvent = Ack | SnapshotRequest | Error | Command | State
#: executes an order command; returns ("done", "") or ("refused", reason)
CommandHandler = Callable[[Command], tuple[str, str]]
#: NinjaTrader's positions and working orders now (sent after every welcome)
ReportSource = Callable[[], Report]
#: commands remembered as executed (a resent command is acknowledged again, not re-executed)
EXECUTED_KEEP = 10_000
#: how long :meth:`OrderflowClient.connect` waits for a server that answers 503 (warming up)
WARMING_WAIT_S = 300.0

_JSON_SERVER = msgspec.json.Decoder(ServerMessage)
_MSGPACK_SERVER = msgspec.msgpack.Decoder(ServerMessage)
_JSON_ACK = msgspec.json.Decoder(Ack)
_JSON = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()


@dataclass(slots=True)
class ClientStats:
    """Counters of one client object (all connections)."""

    sent: int = 0  # batch frames written, resends included
    resent: int = 0  # batches written again after a reconnect
    acks: int = 0  # batches acknowledged (an ack may cover several)
    ack_messages: int = 0
    duplicates: int = 0  # acks saying the server had applied the batch already
    skipped: int = 0  # buffered batches the welcome said were applied (ack lost): not resent
    signals: int = 0
    errors: int = 0
    snapshot_requests: int = 0
    connects: int = 0
    heartbeats: int = 0
    commands: int = 0  # commands executed (or refused) here
    commands_repeated: int = 0  # resent commands acknowledged again without executing


def _encode(msg: Any, encoding: Encoding) -> bytes | str:
    """A client message as a WebSocket frame: text for JSON, binary for MessagePack."""
    if encoding == "msgpack":
        return _MSGPACK.encode(msg)
    return _JSON.encode(msg).decode()


def _decode(frame: bytes | str) -> Any:
    if isinstance(frame, str):
        return _JSON_SERVER.decode(frame)
    return _MSGPACK_SERVER.decode(frame)


def _depth_form(columns: bool | str) -> DepthForm:
    if columns is True or columns == "columns":
        return "columns"
    if columns is False or columns == "rows":
        return "rows"
    if columns == "packed":
        return "packed"
    raise ParameterError(
        f"columns must be packed, columns or rows, got {columns!r}", field="columns"
    )


class OrderflowClient:
    """An asyncio WebSocket client speaking protocol v1 (see the module docstring).

    ``client``: the name sequence numbers are kept under on the server. ``batch_events`` and
    ``batch_delay``: queued events (:meth:`add`) go out as a batch when that many are queued
    or the oldest has waited that long (seconds). ``max_unacked``: the resend buffer's size, in
    batches. ``backoff``: first and largest reconnection delay (seconds; doubled each attempt,
    with jitter). ``heartbeat``: seconds of silence before a heartbeat. ``resume``: when the
    first welcome says the server already applied batches of this client name and nothing was
    sent yet, number on from there (a restarted bridge) instead of from 1. ``report``: as the
    bridge, say ``report: true`` in the hello and send what it returns (NinjaTrader's positions
    and working orders) after every welcome, once the unacknowledged batches are resent.
    ``columns``: how depth goes out (:data:`DepthForm`; True: ``columns``, False: ``rows``;
    ``rows`` sends each batch as it is given).
    """

    def __init__(
        self,
        url: str,
        client: str = "orderflow-py",
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        encoding: Encoding = "json",
        batch_events: int = 100,
        batch_delay: float = 0.005,
        max_unacked: int = 1000,
        backoff: tuple[float, float] = (0.05, 5.0),
        heartbeat: float = 5.0,
        resume: bool = True,
        on_ack: Callable[[Ack], None] | None = None,
        on_snapshot_request: Callable[[SnapshotRequest], None] | None = None,
        on_error: Callable[[Error], None] | None = None,
        on_command: CommandHandler | None = None,
        max_size: int | None = 16 * 1024 * 1024,
        columns: bool | DepthForm = "packed",
        report: ReportSource | None = None,
        cluster_granularity: int | None = None,
    ) -> None:
        if encoding not in ("json", "msgpack"):
            raise ParameterError(
                f"encoding must be json or msgpack, got {encoding!r}", field="encoding"
            )
        if cluster_granularity is not None and (
            isinstance(cluster_granularity, bool)
            or not isinstance(cluster_granularity, int)
            or not 1 <= cluster_granularity <= MAX_CLUSTER_GRANULARITY
        ):
            raise ParameterError(
                f"cluster_granularity must be an integer from 1 to {MAX_CLUSTER_GRANULARITY} "
                f"ticks, got {cluster_granularity!r}",
                field="cluster_granularity",
            )
        self.url = url
        self.client = client
        self.token = resolve_token(token, token_file)
        self.encoding: Encoding = encoding
        self.batch_events = batch_events
        self.batch_delay = batch_delay
        self.max_unacked = max_unacked
        self.backoff = backoff
        self.heartbeat = heartbeat
        self.resume = resume
        self.on_ack = on_ack
        self.on_snapshot_request = on_snapshot_request
        self.on_error = on_error
        self.on_command = on_command
        self.max_size = max_size
        self.depth_form: DepthForm = _depth_form(columns)
        self.report = report
        #: the hello's cluster_granularity: the answers' clusters in bands this wide (ticks)
        self.cluster_granularity = cluster_granularity

        self.stats = ClientStats()
        self.welcome: Welcome | None = None
        self.last_ack: Ack | None = None  # the latest ack of a batch the server applied
        #: the latest ``state`` answer per instrument (see :meth:`request_state`)
        self.states: dict[str, State] = {}
        self.next_seq = 1
        self._unacked: OrderedDict[int, Batch] = OrderedDict()
        self._space = asyncio.Condition()  # notified when acks free the buffer
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()  # connected, welcomed and resent: new batches may go
        self._send_lock = asyncio.Lock()  # one writer at a time, in sequence order
        self._closing = False
        self._failure: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_sent = time.monotonic()
        self._subscribers: list[asyncio.Queue[ServerEvent | None]] = []
        self._pending: dict[str, _Pending] = {}
        # (server session, command_seq) -> our answer: commands are numbered per session
        self._executed: OrderedDict[tuple[str, int], CommandAck] = OrderedDict()

    # ---- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> OrderflowClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> Welcome:
        """Connect, say hello, read the welcome, and start the background tasks (reader and
        reconnection, heartbeats, the batching timer). A refused hello raises ClientError. A
        server still warming up (503) is asked again as its Retry-After says, for up to
        ``WARMING_WAIT_S``."""
        if self._tasks:
            raise ClientError("already connected")
        deadline = time.monotonic() + WARMING_WAIT_S
        while True:
            try:
                await self._open()
                break
            except InvalidStatus as exc:
                if exc.response.status_code != 503 or time.monotonic() > deadline:
                    raise
                retry = exc.response.headers.get("Retry-After", "1")
                await asyncio.sleep(float(retry) if retry.isdigit() else 1.0)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="orderflow-client-reader"),
            loop.create_task(self._heartbeats(), name="orderflow-client-heartbeat"),
            loop.create_task(self._flusher(), name="orderflow-client-flusher"),
        ]
        assert self.welcome is not None
        return self.welcome

    async def close(self, reason: str = "done") -> None:
        """Flush queued events, send ``bye`` and close; pending acks are not waited for
        (call :meth:`drain` first for that)."""
        if self._closing:
            return
        with contextlib.suppress(ClientError, ConnectionClosed, OSError):
            await self.flush()
        self._closing = True
        self._ready.set()  # wake senders waiting for a connection: they raise ClientError
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await ws.send(_encode(Bye(reason), self.encoding))
            with contextlib.suppress(ConnectionClosed, OSError):
                await ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for q in self._subscribers:
            q.put_nowait(None)
        async with self._space:
            self._space.notify_all()

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and not self._closing

    @property
    def connection(self) -> ClientConnection | None:
        """The current WebSocket (None while reconnecting); tests abort it to simulate a fault."""
        return self._ws

    @property
    def unacked(self) -> int:
        """Batches sent (or waiting to be resent) whose ack has not come back."""
        return len(self._unacked)

    # ---- sending -------------------------------------------------------------------------
    async def send_batch(self, batch: Batch) -> int:
        """Number the batch (its own ``seq`` is replaced), buffer it until acknowledged and
        send it; returns its sequence number. Waits while the buffer is full or the client is
        reconnecting."""
        self._check()
        async with self._space:
            await self._space.wait_for(
                lambda: len(self._unacked) < self.max_unacked or self._closing
            )
        self._check()
        while True:
            await self._ready.wait()  # never inside the lock: a reconnection needs it
            self._check()
            async with self._send_lock:
                if not self._ready.is_set():
                    continue
                seq = self.next_seq
                self.next_seq += 1
                batch = msgspec.structs.replace(batch, seq=seq)
                if self.depth_form == "packed":
                    batch = packed(batch)
                elif self.depth_form == "columns":
                    batch = columnar(batch)
                self._unacked[seq] = batch  # resent after a reconnect until acknowledged
                await self._write(batch)
                return seq

    async def add(
        self,
        instrument: str,
        depth: Sequence[Depth] = (),
        ticks: Sequence[Tick] = (),
        bars: Sequence[Bar] = (),
        *,
        orders: Sequence[OrderUpdate] = (),
        executions: Sequence[Execution] = (),
        positions: Sequence[PositionUpdate] = (),
        boundary: bool = True,
    ) -> None:
        """Queue events of one instrument (as NinjaTrader's ``OnMarketDepth``,
        ``OnMarketData``, ``OnBarUpdate``, ``OnOrderUpdate``, ``OnExecutionUpdate`` and
        ``OnPositionUpdate`` deliver them). At an event boundary (``boundary``) the queue goes
        out when it holds ``batch_events`` events; otherwise the timer sends it
        ``batch_delay`` seconds after its first event."""
        p = self._pending.setdefault(instrument, _Pending())
        if not p.count:
            p.since = time.monotonic()
        p.depth.extend(depth)
        p.ticks.extend(ticks)
        p.bars.extend(bars)
        p.orders.extend(orders)
        p.executions.extend(executions)
        p.positions.extend(positions)
        if boundary and p.count >= self.batch_events:
            await self._flush_one(instrument)

    async def flush(self) -> None:
        """Send every queued event now."""
        for instrument in list(self._pending):
            await self._flush_one(instrument)

    async def drain(self, timeout: float | None = None) -> None:
        """Flush and wait until every batch sent is acknowledged (or refused)."""
        await self.flush()

        async def wait() -> None:
            async with self._space:
                await self._space.wait_for(lambda: not self._unacked or self._closing)

        await asyncio.wait_for(wait(), timeout)
        self._check()

    # ---- receiving -----------------------------------------------------------------------
    async def messages(self) -> AsyncIterator[ServerEvent]:
        """Acks, snapshot requests and errors as they arrive, until the client closes."""
        q: asyncio.Queue[ServerEvent | None] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            while (item := await q.get()) is not None:
                yield item
        finally:
            self._subscribers.remove(q)

    # ---- internals -----------------------------------------------------------------------
    def _check(self) -> None:
        if self._failure is not None:
            raise ClientError(str(self._failure)) from self._failure
        if self._closing:
            raise ClientError("the client is closed")

    async def _flush_one(self, instrument: str) -> None:
        p = self._pending.pop(instrument, None)
        if p is not None and p.count:
            await self.send_batch(
                Batch(instrument=instrument, depth=p.depth, ticks=p.ticks, bars=p.bars,
                      orders=p.orders, executions=p.executions, positions=p.positions)
            )  # fmt: skip

    async def request_state(self, instrument: str) -> None:
        """Ask for the instrument's whole state (protocol 2): the ``state`` answer lands in
        :attr:`states` (and the subscribers); the next ack carries clusters and profile in
        full."""
        async with self._send_lock:
            await self._write(StateRequest(instrument))

    async def _write(self, msg: Batch | Heartbeat | CommandAck | Report | StateRequest) -> None:
        """Write one message to the current connection; a broken connection is left to the
        reader, which reconnects and resends whatever is unacknowledged."""
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(_encode(msg, self.encoding))
        except (ConnectionClosed, OSError):
            self._ready.clear()
            return
        self._last_sent = time.monotonic()
        if isinstance(msg, Batch):
            self.stats.sent += 1

    async def _open(self) -> None:
        """One connection: hello, welcome, then resend what the server has not applied."""
        ws = await connect(self.url, max_size=self.max_size, open_timeout=10)
        try:
            hello = Hello(PROTOCOL_VERSION, self.client, self.token, self.encoding,
                          report=self.report is not None,
                          cluster_granularity=self.cluster_granularity)  # fmt: skip
            await ws.send(_encode(hello, self.encoding))
            first = _decode(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(first, Error):
                raise ClientError(f"server refused hello: {first.field}: {first.reason}")
            if not isinstance(first, Welcome):
                raise ClientError(f"expected welcome, got {type(first).__name__}")
        except BaseException:
            await ws.close()
            raise
        self.welcome = first
        self.stats.connects += 1
        async with self._send_lock:
            if self.resume and self.stats.connects == 1 and self.next_seq == 1:
                self.next_seq = first.last_seq + 1
            await self._acked_through(first.last_seq, skipped=True)
            self._ws = ws
            for batch in list(self._unacked.values()):
                await self._write(batch)
                self.stats.resent += 1 if self.stats.connects > 1 else 0
            if self.report is not None:
                await self._write(self.report())
            self._ready.set()
        log.info("connected to %s as %s (last_seq %d, resent %d)", self.url, self.client,
                 first.last_seq, len(self._unacked))  # fmt: skip

    async def _acked_through(self, seq: int, skipped: bool = False) -> None:
        """Drop buffered batches up to ``seq`` (acks come in order) and wake waiting senders."""
        async with self._space:
            while self._unacked and next(iter(self._unacked)) <= seq:
                self._unacked.popitem(last=False)
                if skipped:
                    self.stats.skipped += 1
            self._space.notify_all()

    async def _run(self) -> None:
        """Read the server's messages; on a lost connection reconnect with backoff."""
        attempt = 0
        while not self._closing:
            ws = self._ws
            if ws is not None:
                try:
                    async for frame in ws:
                        await self._handle(_decode(frame))
                except (ConnectionClosed, OSError) as exc:
                    log.warning("connection lost: %s", exc)
                except msgspec.DecodeError as exc:  # a server we do not understand
                    log.error("undecodable server message: %s", exc)
                    await ws.close()
                self._ready.clear()
                self._ws = None
                if self._closing:
                    return
            delay = min(self.backoff[0] * 2**attempt, self.backoff[1])
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                await self._open()
                attempt = 0
            except ClientError as exc:  # refused: retrying will not help
                self._failure = exc
                self._closing = True
                self._ready.set()  # wake waiting senders: they raise ClientError
                async with self._space:
                    self._space.notify_all()
                for q in self._subscribers:
                    q.put_nowait(None)
                return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                attempt += 1
                log.info("reconnect attempt %d failed: %s", attempt, exc)

    async def _handle(self, msg: Any) -> None:
        if isinstance(msg, Ack):
            # one ack may answer several batches (first_seq .. seq) the server applied together
            self.stats.acks += 1 if msg.duplicate else msg.seq - (msg.first_seq or msg.seq) + 1
            self.stats.ack_messages += 1
            if msg.duplicate:
                self.stats.duplicates += 1
            else:
                self.last_ack = msg
            self.stats.signals += len(msg.signals)
            await self._acked_through(msg.seq)
            if self.on_ack is not None:
                self.on_ack(msg)
        elif isinstance(msg, SnapshotRequest):
            self.stats.snapshot_requests += 1
            if self.on_snapshot_request is not None:
                self.on_snapshot_request(msg)
        elif isinstance(msg, Error):
            self.stats.errors += 1
            if msg.seq is not None:  # that batch was refused whole: resending will not help
                await self._acked_through(msg.seq)
            if self.on_error is not None:
                self.on_error(msg)
        elif isinstance(msg, Command):
            await self._command(msg)
        elif isinstance(msg, State):
            self.states[msg.instrument] = msg
        elif isinstance(msg, Heartbeat):
            return
        else:
            return
        for q in self._subscribers:
            q.put_nowait(msg)

    async def _command(self, cmd: Command) -> None:
        """Execute a command once (through ``on_command``) and acknowledge it; a command seen
        before in this server session is acknowledged again with the same answer."""
        key = (self.welcome.session if self.welcome else "", cmd.command_seq)
        ack = self._executed.get(key)
        if ack is not None:
            self.stats.commands_repeated += 1
        else:
            status, reason = "refused", "this client executes no orders"
            if self.on_command is not None:
                try:
                    status, reason = self.on_command(cmd)
                except Exception as exc:  # the executor failed: say so, do not die
                    status, reason = "refused", f"executor failed: {exc}"
            ack = CommandAck(cmd.cid, cmd.command_seq, status, reason)  # type: ignore[arg-type]
            self._executed[key] = ack
            if len(self._executed) > EXECUTED_KEEP:
                self._executed.popitem(last=False)
            self.stats.commands += 1
        async with self._send_lock:
            await self._write(ack)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.heartbeat / 2))
            if self._ready.is_set() and time.monotonic() - self._last_sent >= self.heartbeat:
                async with self._send_lock:
                    await self._write(Heartbeat(time.time_ns()))
                self.stats.heartbeats += 1
                self._last_sent = time.monotonic()

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.batch_delay)
            now = time.monotonic()
            for instrument, p in list(self._pending.items()):
                if p.count and now - p.since >= self.batch_delay:
                    await self._flush_one(instrument)


@dataclass(slots=True)
class _Pending:
    depth: list[Depth]
    ticks: list[Tick]
    bars: list[Bar]
    orders: list[OrderUpdate]
    executions: list[Execution]
    positions: list[PositionUpdate]
    since: float

    def __init__(self) -> None:
        self.depth, self.ticks, self.bars, self.since = [], [], [], time.monotonic()
        self.orders, self.executions, self.positions = [], [], []

    @property
    def count(self) -> int:
        return (len(self.depth) + len(self.ticks) + len(self.bars) + len(self.orders)
                + len(self.executions) + len(self.positions))  # fmt: skip


class RestClient:
    """The synchronous REST transport: ``POST /l2_update`` (``/bar_update`` for bars-only
    batches) with one batch; the answer is the ack. Connection failures are retried with
    capped exponential backoff; a refused batch raises :class:`httpx.HTTPStatusError` carrying
    the server's error (field and reason)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        retries: int = 5,
        backoff: tuple[float, float] = (0.05, 2.0),
        timeout: float = 10.0,
    ) -> None:
        headers = {"content-type": "application/json"}
        token = resolve_token(token, token_file)
        if token is not None:
            headers["x-orderflow-token"] = token
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.retries = retries
        self.backoff = backoff

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def post_batch(self, batch: Batch) -> Ack:
        path = "/bar_update" if batch.bars and not batch.depth and not batch.ticks else "/l2_update"
        body = _JSON.encode(batch)
        for attempt in range(self.retries + 1):
            try:
                r = self.http.post(path, content=body)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                time.sleep(min(self.backoff[0] * 2**attempt, self.backoff[1]))
                continue
            if r.status_code not in (429, 503) or attempt == self.retries:
                break
            # over the rate limit, or the server still warming up: nothing was applied; wait
            # as told and send it again
            time.sleep(float(r.headers.get("retry-after", "1")))
        r.raise_for_status()
        return _JSON_ACK.decode(r.content)
