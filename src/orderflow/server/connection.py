"""One WebSocket client's outbound side: a bounded queue and the task that writes it.

Everything the server says to a client (acks, snapshot requests, errors, commands,
heartbeats) goes through :meth:`Connection.push`, which never waits: the engine is never held
up by a client that reads slowly. A client whose queue overflows is a slow consumer: it is
disconnected (close code 1013, "try again later") and may reconnect and resume from its last
acknowledged batch; nothing it sent is lost, and no other client notices.

A session's answers skip the hop to the writer when they can (:meth:`Connection.answer`):
written at once from the session's own task while nothing is queued or being written and the
transport holds less than :data:`DIRECT_BUFFER` bytes the kernel has not taken. A client that
stops reading fills its socket's buffers, then the transport's beyond that bound, and from
then on its answers queue as before: it still overflows its queue and is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket

from orderflow.protocol import Ack, Encoding, Heartbeat, encode
from orderflow.server import stages
from orderflow.server.stages import ENCODED, SENT, WRITTEN_IN, mark
from orderflow.server.watchdog import WS_WRITER_KEY, takes_write_now

__all__ = ["DIRECT_BUFFER", "HEARTBEAT_S", "Connection"]

log = logging.getLogger("orderflow.server")

#: the server sends a heartbeat after this many seconds without sending anything
HEARTBEAT_S = 5.0
CLOSE_TIMEOUT_S = 1.0
#: an answer is written from the session's task only while the transport holds fewer bytes
#: than this not yet taken by the kernel (well under the 64 KiB at which it pauses writing)
DIRECT_BUFFER = 16 * 1024


#: what the heartbeat timer queues: the writer sends a heartbeat of the time it is written
_BEAT = object()


class Connection:
    """The outbound queue of one WebSocket, written by its own task (so that a client that
    reads slowly holds up nothing but its own queue, and is dropped when that overflows)."""

    def __init__(self, socket: WebSocket, max_queue: int, heartbeat_s: float | None = None,
                 on_ack: Callable[[], None] | None = None):  # fmt: skip
        self.socket = socket
        self.on_ack = on_ack  # called once an ack has been written
        self.encoding: Encoding = "json"
        self.queue: asyncio.Queue[Any] = asyncio.Queue(max_queue)
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.open = True
        self.slow = False
        self.sent = 0
        self.direct = 0  # of them written from the session's task (:meth:`answer`)
        self.lone = 0  # batches its session's reader applied itself (no hop to its loop)
        self._writer: asyncio.Task[None] | None = None
        self._writing = 0  # sends under way
        self._last_write = 0.0  # loop time of the last write (the heartbeat's clock)
        self._beat: asyncio.TimerHandle | None = None
        # uvicorn's transport and its "writable" event (absent under another server: then
        # every message goes through the queue)
        self._direct: tuple[Any, asyncio.Event] | None = socket.scope.get(WS_WRITER_KEY)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write_loop())
        self._last_write = loop.time()
        self._beat = loop.call_later(self.heartbeat_s, self._heartbeat)

    def push(self, msg: Any) -> None:
        """Queue a message for the client; never waits. An overflowing queue disconnects the
        client as a slow consumer."""
        if not self.open:
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.slow = True
            log.warning("slow consumer: %d messages waiting; disconnecting", self.queue.qsize())
            self.close(1013, "slow consumer: messages were not read")

    def _may_write_now(self) -> bool:
        """Nothing queued or being written (so nothing is overtaken), and the transport takes
        a write without pausing and holds little (a client that reads keeps it near 0)."""
        direct = self._direct
        if direct is None or not self.open or self._writing or not self.queue.empty():
            return False
        return takes_write_now(direct, DIRECT_BUFFER)

    async def answer(self, msgs: list[Any]) -> None:
        """Send ``msgs`` in order: each written at once from the caller's task while
        :meth:`_may_write_now` holds (no hop to the writer task), else queued as by
        :meth:`push` (and so is everything after it)."""
        for msg in msgs:
            if not self._may_write_now():
                self.push(msg)
                continue
            mark(WRITTEN_IN)
            self.direct += 1
            try:
                await self._write(msg)
            except Exception as exc:  # the client went away: the reader sees it and ends
                log.debug("direct write failed: %s", exc)
                self.open = False
                return

    async def send_now(self, msg: Any) -> None:
        """Write one message directly (before the writer runs: refusals of a hello)."""
        data = encode(msg, self.encoding)
        mark(ENCODED)
        if self.encoding == "msgpack":
            await self.socket.send_bytes(data)
        else:
            await self.socket.send_text(data.decode())

    def close(self, code: int, reason: str) -> None:
        """Stop sending and close the socket (in the background: a client that does not read
        may never take the close frame, so it is given a second, then dropped)."""
        if not self.open:
            return
        self.open = False
        self._stop_beat()
        if self._writer is not None:
            self._writer.cancel()

        async def closing() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(code, reason), CLOSE_TIMEOUT_S)

        asyncio.get_running_loop().create_task(closing())

    async def flush(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Wait (briefly) until everything queued is written."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)

    async def stop(self) -> None:
        self.open = False
        self._stop_beat()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    def _stop_beat(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None

    def _heartbeat(self) -> None:
        """``heartbeat_s`` after the last write: tell the client we are alive (one timer per
        connection, moved along by the writes, instead of a timeout per message)."""
        if not self.open:
            return
        loop = asyncio.get_running_loop()
        due = self._last_write + self.heartbeat_s
        if loop.time() >= due and not self._writing and self.queue.empty():
            self.push(_BEAT)
            due = loop.time() + self.heartbeat_s
        self._beat = loop.call_at(due, self._heartbeat)

    async def _write(self, msg: Any) -> None:
        self._writing += 1
        try:
            if msg is _BEAT:
                await self.send_now(Heartbeat(time.time_ns()))
                return
            await self.send_now(msg)
            self.sent += 1
            if isinstance(msg, Ack):
                if stages.PROBE is not None:
                    stages.PROBE.mark(SENT)
                    stages.PROBE.keep()
                if self.on_ack is not None:
                    self.on_ack()
        finally:
            self._writing -= 1
            self._last_write = asyncio.get_running_loop().time()

    async def _write_loop(self) -> None:
        q = self.queue
        try:
            while True:
                msg = await q.get()
                mark(WRITTEN_IN)
                try:
                    await self._write(msg)
                finally:
                    q.task_done()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client went away: the reader sees it and ends
            log.debug("writer stopped: %s", exc)
            self.open = False
