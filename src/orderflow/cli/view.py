"""``orderflow view RESULT_DIR``: a backtest's result folder in the dashboard (trades on the
candles, the equity curve), served on 127.0.0.1 until interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["view"]


def view(
    result_dir: Annotated[
        list[Path], typer.Argument(help="Backtest result folder(s) (with stats.json).")
    ],
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="TCP port (a free one).")
    ] = None,
) -> None:
    """Show backtest results in the dashboard: http://127.0.0.1:PORT/?result=NAME draws the
    trades on candles (from the data file stats.json names, when it is still there) and the
    equity curve; GET /api/results/NAME answers stats, trades and equity as JSON."""
    import uvicorn

    from orderflow.cli.output import console
    from orderflow.server.app import create_app
    from orderflow.server.results import ResultFolders
    from orderflow.server.threaded import free_port
    from orderflow.server.watchdog import uvicorn_config

    folders = ResultFolders([p.resolve() for p in result_dir])
    port = port or free_port()
    app = create_app()
    app.state.results = folders
    for name in folders.names():
        console.print(f"dashboard http://127.0.0.1:{port}/?result={name}", highlight=False,
                      soft_wrap=True)  # fmt: skip
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level="warning")).run()
