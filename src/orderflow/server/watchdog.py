"""Connection limits uvicorn does not enforce by itself, and the uvicorn configuration that
``orderflow serve`` and :class:`~orderflow.server.threaded.ThreadedServer` share.

uvicorn closes a keep-alive connection idle after a response (``timeout_keep_alive``), but its
timer starts only once a response is complete: a connection that sends nothing, or the start
of a request's headers and then nothing (slowloris), or a body that stops halfway, stays open
forever. Its ``limit_concurrency`` answers 503 to a complete request and never closes a
connection. :func:`guarded` wraps uvicorn's HTTP protocol with a watchdog:

- ``header_timeout_s``: a request's headers must be complete this long after the connection
  opened (or after the first byte of the next request on a kept-alive connection);
- ``idle_timeout_s``: a kept-alive connection idle this long after a response, or a request
  body with no byte for this long, is closed;
- ``max_connections``: beyond this many open HTTP and WebSocket connections, a new connection
  is closed at once (before its request is read).

A WebSocket, once upgraded, is no longer the HTTP protocol's: its own heartbeats and the
server's hello and idle timeouts cover it. The counters are process-wide (:data:`STATS`) and
shown in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = [
    "STATS",
    "WS_INBOUND_KEY",
    "WS_WRITER_KEY",
    "ConnectionLimits",
    "WatchStats",
    "guarded",
    "takes_write_now",
    "uvicorn_config",
]

log = logging.getLogger("orderflow.server")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Timeouts and the connection cap (see the module docstring)."""

    header_timeout_s: float = 5.0
    idle_timeout_s: float = 15.0
    max_connections: int = 512

    @classmethod
    def from_settings(cls, settings: Any) -> ConnectionLimits:
        sv = settings.server
        return cls(sv.header_timeout_s, sv.idle_timeout_s, sv.max_connections)


@dataclass(slots=True)
class WatchStats:
    """Connections the watchdog closed, by reason, and the open connections it last saw."""

    header_timeouts: int = 0
    idle_timeouts: int = 0
    refused: int = 0
    open: int = 0
    refused_logged: float = float("-inf")


STATS = WatchStats()

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


def guarded(base: type[asyncio.Protocol], limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` with the watchdog of ``limits``."""
    tick = max(0.05, min(limits.header_timeout_s, limits.idle_timeout_s) / 4)

    class Guarded(base):  # type: ignore[valid-type, misc]
        _wd_handle: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            now = self.loop.time()
            self._wd_waiting_since = now  # since when a request's headers are awaited
            self._wd_first_byte: float | None = None  # of the request being read
            self._wd_last_byte = now
            STATS.open = len(self.connections)
            if len(self.connections) > limits.max_connections:
                STATS.refused += 1
                if now - STATS.refused_logged >= 10.0:  # one line per 10 s under a flood
                    STATS.refused_logged = now
                    log.warning("connection refused: %d open (server.max_connections %d); "
                                "%d refused so far", len(self.connections) - 1,
                                limits.max_connections, STATS.refused)  # fmt: skip
                transport.abort()
                return
            self._wd_handle = self.loop.call_later(tick, self._wd_check)

        def data_received(self, data: bytes) -> None:
            now = self.loop.time()
            self._wd_last_byte = now
            if self._wd_first_byte is None and self._wd_idle_between_requests():
                self._wd_first_byte = now
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._wd_waiting_since = self.loop.time()
            self._wd_first_byte = None

        def connection_lost(self, exc: Exception | None) -> None:
            if self._wd_handle is not None:
                self._wd_handle.cancel()
                self._wd_handle = None
            super().connection_lost(exc)
            STATS.open = len(self.connections)

        def _wd_idle_between_requests(self) -> bool:
            cycle = self.cycle
            return cycle is None or bool(cycle.response_complete)

        def _wd_check(self) -> None:
            self._wd_handle = None
            transport = self.transport
            if transport.is_closing() or transport.get_protocol() is not self:
                return  # closed, or upgraded to a WebSocket
            now = self.loop.time()
            if self._wd_idle_between_requests():
                if self._wd_first_byte is not None or self.cycle is None:
                    # a request is being read (or the connection's first is awaited)
                    start = self._wd_first_byte or self._wd_waiting_since
                    if now - start > limits.header_timeout_s:
                        STATS.header_timeouts += 1
                        if self._wd_first_byte is not None:
                            transport.write(_REQUEST_TIMEOUT)
                        transport.close()
                        return
                elif now - self._wd_waiting_since > limits.idle_timeout_s:
                    STATS.idle_timeouts += 1
                    transport.close()
                    return
            elif (
                self.cycle.more_body
                and not self.flow.read_paused
                and now - self._wd_last_byte > limits.idle_timeout_s
            ):  # a request body that stalls
                STATS.idle_timeouts += 1
                transport.close()
                return
            self._wd_handle = self.loop.call_later(tick, self._wd_check)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


#: WebSocket paths answered without per-message compression whatever the client offers: the
#: dashboard's frames (large, 30 a second, a zlib context per viewer) cost the event loop more
#: to compress than they save on a local link, and the bridge's acks would wait behind them
UNCOMPRESSED_WS = ("/ws/view",)
#: the scope key under which a WebSocket's protocol puts ``(transport, writable)``: its
#: transport and the event that is set while the transport takes writes without pausing
#: (what lets a session write an answer from its own task: ``server.connection``)
WS_WRITER_KEY = "orderflow.ws_writer"


def takes_write_now(direct: tuple[Any, asyncio.Event], bound: int) -> bool:
    """Whether a WebSocket's transport (its :data:`WS_WRITER_KEY` pair) takes a write without
    pausing and holds fewer than ``bound`` bytes the kernel has not taken: a write now cannot
    suspend the writer, and a peer that stops reading soon fails it (then it queues)."""
    transport, writable = direct
    return (writable.is_set() and not transport.is_closing()
            and transport.get_write_buffer_size() < bound)  # fmt: skip


#: the scope key under which a WebSocket's protocol puts its queue of frames received and not
#: yet taken by the app (what tells a session that a batch is alone: ``server.ws``)
WS_INBOUND_KEY = "orderflow.ws_inbound"


def _websockets_protocol() -> type[Any]:
    """uvicorn's WebSocket protocol, with no extension offered on :data:`UNCOMPRESSED_WS`."""
    from urllib.parse import urlsplit

    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    class Negotiating(WebSocketsSansIOProtocol):
        def handle_connect(self, event: Any) -> None:
            if urlsplit(event.path).path.startswith(UNCOMPRESSED_WS):
                self.conn.available_extensions = []
            super().handle_connect(event)
            self.scope[WS_WRITER_KEY] = (self.transport, self.writable)  # type: ignore[literal-required]
            self.scope[WS_INBOUND_KEY] = self.queue  # type: ignore[literal-required]

    return Negotiating


def uvicorn_config(app: Any, host: str, port: int, limits: ConnectionLimits | None = None,
                   **options: Any) -> uvicorn.Config:  # fmt: skip
    """The uvicorn configuration of the server: the guarded HTTP protocol, the keep-alive
    timeout and the WebSocket message size of the app."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    from orderflow.server.limits import MAX_BODY

    limits = limits or ConnectionLimits()
    base = import_from_string(HTTP_PROTOCOLS[options.pop("http", "auto")])
    return uvicorn.Config(app, host=host, port=port, log_config=None, ws_max_size=MAX_BODY,
                          timeout_keep_alive=max(1, round(limits.idle_timeout_s)),
                          http=guarded(base, limits), ws=options.pop("ws", _websockets_protocol()),
                          **options)  # fmt: skip
