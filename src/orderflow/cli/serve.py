"""``orderflow serve``: the token resolved, the port opened at once, the application built in
a worker thread (:mod:`orderflow.server.starting`) and served by uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orderflow import __version__
from orderflow.core.errors import ConfigError
from orderflow.settings import Settings

__all__ = ["LOOPBACK", "run_server"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _build(s: Settings, token: str | None, trading_args: Any) -> Any:
    """The application, kernels warmed first: what the worker thread runs (the trading
    engine's modules load the compiled kernels too, so they are imported here)."""
    from orderflow.cli.output import console
    from orderflow.cli.warmup import warm_kernels
    from orderflow.server.app import create_app
    from orderflow.server.limits import Limits
    from orderflow.server.machine import MachineParams
    from orderflow.settings import pipeline_params

    params = pipeline_params(s)
    trading = trading_args(s)
    warm_kernels(params)
    # the engine journals to trading.journal and restores its state from it at start
    journal = s.trading.journal if trading else None
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
        machine=MachineParams.from_settings(s.server),
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
    from orderflow.server.limits import MAX_BODY
    from orderflow.server.starting import StartingApp

    host = host or s.server.host
    port = port or s.server.port
    token = resolve_token(token, token_file, s.server.token, s.server.token_file)
    if host not in LOOPBACK and not token:
        raise ConfigError(
            f"server.token: binding to {host} needs a token (--token-file, server.token_file "
            "or ORDERFLOW_SERVER__TOKEN)",
            field="server.token",
        )
    starting = StartingApp(lambda: _build(s, token, trading_args))
    config = uvicorn.Config(TokenGate(starting, token), host=host, port=port, log_config=None,
                            ws_max_size=MAX_BODY, ws_per_message_deflate=True,
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
    server.run()
    if starting.error is not None:
        raise starting.error
