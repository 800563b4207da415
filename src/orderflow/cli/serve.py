"""``orderflow serve``: the token resolved, the port opened at once, the application built in
a worker thread (:mod:`orderflow.server.starting`) and served by uvicorn.

Kernels missing from numba's cache are compiled first in a child process (``python -m
orderflow.cli.warmup``, same cache): a compile holds the interpreter's lock for tens of
seconds, and in a thread of the server it would delay every ``/health`` answer meanwhile
(measured: p99 0.7 s on a loaded 2-core machine). The worker thread then only loads them. If
the child fails, the thread compiles them itself: slower answers while warming, same result."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow import __version__
from orderflow.cli.context import settings
from orderflow.core.errors import ConfigError
from orderflow.settings import Settings

__all__ = ["LOOPBACK", "run_server", "serve", "trading_args"]

log = logging.getLogger("orderflow.server")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


#: the kernel modules whose compile dominates a cold start (the L3 book's compile at import)
_HEAVY = ("book/_l3_kernels.py", "book/_l2_kernels.py", "signals/_l2_detect_kernels.py")


def _cache_looks_warm() -> bool:
    """Whether numba's cache holds the heavy kernel modules, newer than their sources (a cheap
    look at the index files, without importing them; a wrong guess only costs time)."""
    import orderflow
    from orderflow.core.files import numba_cache_dir

    root = Path(orderflow.__file__).parent
    for rel in _HEAVY:
        src = root / rel
        where = numba_cache_dir(src.parent)
        try:
            stamps = [p.stat().st_mtime for p in where.rglob(f"{src.stem}.*.nbi")]
            if not stamps or max(stamps) < src.stat().st_mtime:
                return False
        except OSError:
            return False
    return True


def _warm_in_child(children: list[subprocess.Popen[bytes]]) -> None:
    """Compile the kernels into numba's cache in a child process (its own interpreter lock);
    ``children`` holds it so a server stopped meanwhile can end it."""
    child = subprocess.Popen([sys.executable, "-m", "orderflow.cli.warmup"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    children.append(child)
    _, err = child.communicate()
    if child.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["killed"]
        log.warning("warm-up in a child process failed (%s); compiling here", tail[0])


def _build(
    s: Settings, token: str | None, trading_args: Any, children: list[subprocess.Popen[bytes]]
) -> Any:
    """The application, kernels warmed first: what the worker thread runs (the trading
    engine's modules load the compiled kernels too, so they are imported here)."""
    if not _cache_looks_warm():
        _warm_in_child(children)  # before any import loads (and compiles) a kernel here
    from orderflow.cli.output import console
    from orderflow.cli.warmup import warm_kernels
    from orderflow.server.app import create_app
    from orderflow.server.limits import Limits
    from orderflow.server.machine import MachineParams
    from orderflow.server.view import ViewParams
    from orderflow.settings import pipeline_params

    params = pipeline_params(s)
    trading = trading_args(s)
    warm_kernels(params)
    # the engine journals to trading.journal and restores its state from it at start (when
    # switched off it runs no strategy and keeps no journal)
    journal = s.trading.journal if s.trading.server.enabled else None
    if journal:
        console.print(f"journal {journal}")
    return create_app(
        params,
        token=token,
        record_dir=s.server.record_dir,
        limits=Limits.from_settings(s),
        flags=s.flags.model_dump(),
        command_timeout_s=s.server.command_timeout_s,
        command_max_age_s=s.server.command_max_age_s,
        journal=journal,
        rest_owner_silence_s=s.server.rest_owner_silence_s,
        record_max_open=s.server.record_max_open_files,
        machine=MachineParams.from_settings(s.server),
        cluster_refresh_ms=s.server.cluster_refresh_ms,
        view=ViewParams.from_settings(s.server.view),
        work_after_ack=s.server.work_after_ack,
        **trading,
    )


def run_server(
    s: Settings,
    host: str | None,
    port: int | None,
    token: str | None,
    token_file: Path | None,
    trading_args: Any,
) -> None:
    """Serve until interrupted; a failed start raises its error (after the port closed)."""
    import uvicorn

    from orderflow.cli.output import console
    from orderflow.server.auth import TokenGate, resolve_token
    from orderflow.server.starting import StartingApp
    from orderflow.server.watchdog import ConnectionLimits, uvicorn_config

    host = host or s.server.host
    port = port or s.server.port
    token = resolve_token(token, token_file, s.server.token, s.server.token_file)
    if host not in LOOPBACK and not token:
        raise ConfigError(
            f"server.token: binding to {host} needs a token (--token-file, server.token_file "
            "or ORDERFLOW_SERVER__TOKEN)",
            field="server.token",
        )
    children: list[subprocess.Popen[bytes]] = []
    starting = StartingApp(lambda: _build(s, token, trading_args, children))
    # the guarded HTTP protocol: header and idle timeouts, the connection cap
    config = uvicorn_config(TokenGate(starting, token), host, port,
                            ConnectionLimits.from_settings(s), ws_per_message_deflate=True,
                            lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    starting.on_failure = lambda _exc: setattr(server, "should_exit", True)
    console.print(
        f"[bold]orderflow[/] {__version__} serving on http://{host}:{port} "
        f"(WebSocket ws://{host}:{port}/ws, API docs http://{host}:{port}/docs, "
        f"health http://{host}:{port}/health; warming up)"
        + (f"; recording to {s.server.record_dir}/" if s.server.record_dir else "")
        + ("; token required" if token else "")
    )
    console.print(f"dashboard http://{host}:{port}/", highlight=False)
    log.info("dashboard http://%s:%d/", host, port)
    try:
        server.run()
    finally:
        for child in children:  # stopped while warming: the compile is not needed any more
            if child.poll() is None:
                child.kill()
    if starting.error is not None:
        raise starting.error


def trading_args(s: Settings) -> dict[str, Any]:
    """The trading engine's parameters for ``create_app`` from ``trading``: the engine always
    runs (its desk is the record of orders, its risk checks every API order); with
    ``trading.server.enabled`` off it runs no strategy and keeps no journal."""
    from orderflow.settings import trading_params

    return {"trading": trading_params(s), "trading_server": s.trading.server}


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Bind address (127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="TCP port (8765).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Shared secret (visible in ps: prefer --token-file)."),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the token (chmod 600).")
    ] = None,
) -> None:
    """Run the server for NinjaTrader: REST (/health, /l2_update, /bar_update, /api/...) and
    the sequenced WebSocket (/ws); API documentation at /docs. The port answers at once;
    /health says "warming" until the kernels are loaded and the state restored."""
    run_server(settings(), host, port, token, token_file, trading_args)
