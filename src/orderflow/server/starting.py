"""An honest start: the port answers at once while the application is built off the event loop.

``orderflow serve`` hands uvicorn a :class:`StartingApp`, not the application itself. At
startup it builds the real application in a worker thread (loading or compiling the numba
kernels, warming them on a throwaway hub, opening the journal, replaying today's recording)
while the event loop keeps answering:

- ``GET /health``: 503 ``{"status": "warming"}`` with ``Retry-After`` (``"failed"`` when the
  build failed and the process is on its way out);
- every other request: 503, error code ``warming``, ``Retry-After``; nothing is kept;
- a WebSocket upgrade: refused the same way (503), so the bridge reconnects with its back-off.

Once built, the application's own lifespan is run and every request goes to it; what the
start built is frozen out of the garbage collector's generations (``gc.freeze``). A build that
fails is logged, the server is told to exit, and :attr:`StartingApp.error` holds the error for
the command to report in one line.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from orderflow.core.errors import WarmingError
from orderflow.server.auth import AUTH_KEY, ASGIApp, Message, Receive, Scope, Send

__all__ = ["StartingApp"]

log = logging.getLogger("orderflow.server")

RETRY_AFTER_S = 1
SHUTDOWN_TIMEOUT_S = 30.0


class StartingApp:
    """ASGI wrapper answering ``warming`` until ``build()`` (run in a worker thread) returns
    the application. ``on_failure``: told the error when the build raises."""

    def __init__(
        self,
        build: Callable[[], ASGIApp],
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.build = build
        self.on_failure = on_failure
        self.app: ASGIApp | None = None
        self.error: BaseException | None = None
        self.status = "warming"
        self.started = time.monotonic()
        self.warm_s: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._inner: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._stopped = asyncio.Event()
        self._running = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if self.app is not None:
            return await self.app(scope, receive, send)
        await self._refuse(scope, send)

    # ---- while warming -----------------------------------------------------------------------
    async def _refuse(self, scope: Scope, send: Send) -> None:
        headers = [(b"content-type", b"application/json"),
                   (b"retry-after", str(RETRY_AFTER_S).encode())]  # fmt: skip
        if scope["type"] == "http" and scope.get("path") == "/health":
            out: dict[str, Any] = {"status": self.status}
            if scope.get(AUTH_KEY):
                out["warming_s"] = round(time.monotonic() - self.started, 3)
            body = orjson.dumps(out)
        else:
            error = WarmingError(
                f"server: {self.status}: compiling kernels and restoring state; retry in "
                f"{RETRY_AFTER_S} s",
                field="server",
                retry_after_s=RETRY_AFTER_S,
            )
            body = orjson.dumps(error.to_dict())
        headers.append((b"content-length", str(len(body)).encode()))
        status = WarmingError.status_code
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": headers})  # fmt: skip
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1013})  # try again later

    # ---- lifespan ----------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self._task = asyncio.get_running_loop().create_task(self._start())
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        built: asyncio.Future[ASGIApp] = loop.create_future()

        def work() -> None:  # a daemon thread: Ctrl-C while compiling does not wait for it
            try:
                app = self.build()
            except BaseException as exc:
                loop.call_soon_threadsafe(_settle, built, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, built, app, None)

        threading.Thread(target=work, name="orderflow-warm", daemon=True).start()
        try:
            app = await built
            await self._start_inner(app)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error, self.status = exc, "failed"
            log.error("the server could not start: %s", getattr(exc, "message", exc))
            if self.on_failure is not None:
                self.on_failure(exc)
            return
        # what the start built (modules, compiled kernels, the replayed state) lives as long
        # as the process: out of the collector's sight, a full collection walks only what
        # comes later (about 200,000 objects took it 160-180 ms, a stall in some batch's
        # ack). Done while still warming: the one collection here delays no request.
        gc.collect()
        gc.freeze()
        self.app, self.status = app, "ok"
        self.warm_s = time.monotonic() - self.started
        log.info("ready in %.1f s", self.warm_s)

    async def _start_inner(self, app: ASGIApp) -> None:
        """Run ``app``'s lifespan startup (its own background tasks) and wait for it."""
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def inner_send(msg: Message) -> None:
            kind = msg["type"]
            if kind == "lifespan.startup.complete":
                _settle(started, None, None)
            elif kind == "lifespan.startup.failed":
                _settle(started, None, RuntimeError(msg.get("message") or "startup failed"))
            elif kind.startswith("lifespan.shutdown."):
                self._stopped.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": {}}  # fmt: skip

        async def run() -> None:
            await app(scope, self._inbox.get, inner_send)

        self._inner = asyncio.get_running_loop().create_task(run())
        self._inner.add_done_callback(
            lambda _t: _settle(started, None, RuntimeError("the lifespan ended at startup"))
        )
        self._running = True
        await self._inbox.put({"type": "lifespan.startup"})
        await started

    async def _stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._running:
            await self._inbox.put({"type": "lifespan.shutdown"})
            try:
                await asyncio.wait_for(self._stopped.wait(), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                log.warning("the application did not shut down within %.0f s", SHUTDOWN_TIMEOUT_S)


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)
