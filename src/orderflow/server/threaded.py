"""The server in a background thread of this process, on a free loopback port: what
``orderflow run --serve`` runs and what the integration tests start."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from orderflow.core.errors import ServerStartError
from orderflow.server.watchdog import ConnectionLimits, uvicorn_config

__all__ = ["ThreadedServer", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread; started when made. ``limits``:
    header and idle timeouts and the connection cap (see :mod:`orderflow.server.watchdog`)."""

    def __init__(self, app: Any, port: int | None = None, timeout_s: float = 30.0,
                 limits: ConnectionLimits | None = None) -> None:  # fmt: skip
        self.app = app
        self.port = port or free_port()
        config = uvicorn_config(app, "127.0.0.1", self.port, limits, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + timeout_s
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise ServerStartError(f"the server did not start on port {self.port}")
            time.sleep(0.02)
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
