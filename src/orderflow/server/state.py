"""What the routes and the WebSocket share: one typed object, ``app.state.server``.

The routers (:mod:`orderflow.server.routes`) and the WebSocket loop (:mod:`.ws`) get it from
the request (``Server`` as a dependency, ``server_of`` elsewhere) instead of closing over
variables of the function that builds the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import msgspec
from fastapi import Depends, Request
from fastapi.requests import HTTPConnection

from orderflow.core.errors import TooLargeError, UnauthorisedError
from orderflow.protocol import Ack, SnapshotRequest
from orderflow.server.auth import AUTH_KEY, token_matches
from orderflow.server.connection import Connection
from orderflow.server.hub import Hub
from orderflow.server.limits import MAX_BODY, Limits, RestLimiters
from orderflow.server.machine import Machine
from orderflow.server.monitor import Monitor
from orderflow.server.scheduler import FairScheduler
from orderflow.trading.journal import Journal

__all__ = ["Authorised", "Server", "ServerState", "authorised", "read_body", "server_of"]


@dataclass(eq=False)
class ServerState:
    """The engine (``hub``), the metrics, the machine monitor, the engine's scheduler, the
    limits, the connected WebSocket clients by name, the token and the journal."""

    hub: Hub
    monitor: Monitor
    machine: Machine
    scheduler: FairScheduler
    limits: Limits
    rest_limits: RestLimiters
    token: str | None = None
    journal: Journal | None = None
    #: connected WebSocket clients by name (one connection per name)
    conns: dict[str, Connection] = field(default_factory=dict)
    #: the journal's reading connection, opened at the first read (WAL: never waits)
    journal_reader: Journal | None = None

    def drain(self) -> None:
        """Push the commands the trading engine issued by itself (flatten, bracket legs,
        reconciliation); one for a client not connected stays pending in the outbox and goes
        out when it reconnects."""
        hub = self.hub
        if not hub.trading.outbox:
            return
        out, hub.trading.outbox = hub.trading.outbox, []
        for name, command in out:
            conn = self.conns.get(name)
            if conn is not None:
                conn.push(command)

    def ask_snapshots(self) -> None:
        """Send the snapshot requests that are due (a stale ladder asks its feeder again with
        back-off) to their clients; a REST feeder cannot be called: its acks say ``stale``."""
        for name, request in self.hub.feeds.due():
            conn = self.conns.get(name) if name is not None else None
            if conn is not None and name is not None:
                conn.push(self.named(name, request))

    def named(self, client: str, request: SnapshotRequest) -> SnapshotRequest:
        """The request naming the instrument the way ``client`` does in its batches."""
        wire = self.hub.names.get((client, request.instrument), request.instrument)
        return request if wire == request.instrument else msgspec.structs.replace(
            request, instrument=wire)  # fmt: skip

    def authorised(self, given: str | None) -> bool:
        """True when no token is set or ``given`` is it."""
        return self.token is None or token_matches(self.token, given)

    def observe(self, transport: str, ack: Ack) -> None:
        """An applied batch in the metrics."""
        mon = self.monitor
        child = mon.child
        child(mon.batches, transport).inc()
        for kind, n in ack.applied.items():
            if n:
                child(mon.updates, kind).inc(n)
        for kind, n in ack.rejected.items():
            child(mon.errors, kind).inc(n)
        if ack.duplicate:
            mon.duplicates.inc()
        child(mon.stage, "engine").observe(ack.processing_us / 1e6)
        child(mon.stale, ack.instrument).set(1 if ack.stale else 0)

    def close(self) -> None:
        """At shutdown: the journal's connections."""
        if self.journal_reader is not None:
            self.journal_reader.close()
            self.journal_reader = None
        if self.journal is not None:
            self.journal.close()


def server_of(conn: HTTPConnection) -> ServerState:
    """The server's state behind a request or a WebSocket."""
    state: ServerState = conn.app.state.server
    return state


def authorised(request: Request) -> ServerState:
    """The state, for a route that needs the token: :class:`UnauthorisedError` (401) for a
    request without it (the gate, :mod:`orderflow.server.auth`, has already refused such
    requests: this holds should a route ever be opened there)."""
    state = server_of(request)
    if state.token is not None and not request.scope.get(AUTH_KEY):
        raise UnauthorisedError("token: missing or wrong", field="token")
    return state


async def read_body(request: Request) -> bytes:
    """The request's body, at most :data:`MAX_BODY` bytes (else 413, before reading it when
    its ``Content-Length`` says so)."""
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BODY:
        raise TooLargeError(f"body: larger than {MAX_BODY} bytes", field="body")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise TooLargeError(f"body: larger than {MAX_BODY} bytes", field="body")
    return body


#: a route's dependency: the server's state
Server = Annotated[ServerState, Depends(server_of)]
#: the same, for a route that needs the token (401 without it)
Authorised = Annotated[ServerState, Depends(authorised)]
