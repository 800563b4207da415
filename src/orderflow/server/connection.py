"""One WebSocket client's outbound side: a bounded queue and the task that writes it.

Everything the server says to a client (acks, snapshot requests, errors, commands,
heartbeats) goes through :meth:`Connection.push`, which never waits: the engine is never held
up by a client that reads slowly. A client whose queue overflows is a slow consumer: it is
disconnected (close code 1013, "try again later") and may reconnect and resume from its last
acknowledged batch; nothing it sent is lost, and no other client notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import WebSocket

from orderflow.protocol import Ack, Heartbeat, encode
from orderflow.server import stages
from orderflow.server.stages import ENCODED, SENT, WRITTEN_IN, mark

__all__ = ["HEARTBEAT_S", "Connection"]

log = logging.getLogger("orderflow.server")

#: the server sends a heartbeat after this many seconds without sending anything
HEARTBEAT_S = 5.0
CLOSE_TIMEOUT_S = 1.0


class Connection:
    """The outbound queue of one WebSocket, written by its own task."""

    def __init__(self, socket: WebSocket, max_queue: int, heartbeat_s: float = HEARTBEAT_S):
        self.socket = socket
        self.encoding = "json"
        self.queue: asyncio.Queue[Any] = asyncio.Queue(max_queue)
        self.heartbeat_s = heartbeat_s
        self.open = True
        self.slow = False
        self.sent = 0
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

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
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    async def _write_loop(self) -> None:
        q = self.queue
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), self.heartbeat_s)
                except TimeoutError:  # silence: tell the client we are alive
                    await self.send_now(Heartbeat(time.time_ns()))
                    continue
                mark(WRITTEN_IN)
                try:
                    await self.send_now(msg)
                    self.sent += 1
                    if stages.PROBE is not None and isinstance(msg, Ack):
                        stages.PROBE.mark(SENT)
                        stages.PROBE.keep()
                finally:
                    q.task_done()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client went away: the reader sees it and ends
            log.debug("writer stopped: %s", exc)
            self.open = False
