"""``orderflow``: the command line. Every command has ``--help``; results also as ``--json``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from orderflow import __version__
from orderflow.cli import analyze, data, research, run, serve
from orderflow.cli.backtest import backtest
from orderflow.cli.config import config_app
from orderflow.cli.context import STATE, JsonOpt
from orderflow.cli.journal import journal_app
from orderflow.cli.logs import setup_logging
from orderflow.cli.output import console, print_json
from orderflow.cli.recordings_admin import recordings_app
from orderflow.cli.view import view
from orderflow.cli.warmup import warmup
from orderflow.core.errors import OrderflowError
from orderflow.settings import load_settings

app = typer.Typer(
    name="orderflow",
    help="Order-flow engine for NinjaTrader 8 futures: books, analytics, signals, replay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings YAML (else ORDERFLOW_CONFIG).")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="DebugMode: detail logs, per-stage timings, tracebacks.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE: a setting (dotted key) over env and file."),
    ] = None,
) -> None:
    from orderflow.settings_rules import parse_overrides

    STATE.debug = debug
    STATE.config_path = config
    STATE.settings = load_settings(config, **parse_overrides(set_ or []))
    setup_logging(STATE.settings, debug)


@app.command()
def version(json: JsonOpt = False) -> None:
    """Print the orderflow version."""
    if json:
        print_json({"version": __version__})
    else:
        console.print(f"orderflow {__version__}")


@app.command()
def instruments(json: JsonOpt = False) -> None:
    """List the instrument registry: tick size, tick value, point value, hours, micro links."""
    from orderflow.model.instruments import all_instruments

    rows = [i.to_dict() for i in all_instruments()]
    if json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title="Instruments", header_style="bold")
    for col in ("symbol", "exchange", "tick", "tick value", "point value", "session (ET)", "micro"):
        table.add_column(col)
    for r in rows:
        link = (
            f"1/{r['micro_ratio']} of {r['micro_of']}"
            if r["micro_of"]
            else (r["standard_of"] or "")
        )
        table.add_row(
            r["symbol"],
            r["exchange"],
            f"{r['tick_size']:g}",
            f"${r['tick_value']:,.2f}",
            f"${r['point_value']:,.2f}",
            f"{r['session_open']}-{r['session_close']}",
            link,
        )
    console.print(table)


# the commands in the order ``orderflow --help`` lists them, then the command groups
app.command()(data.convert)
app.command()(run.run)
app.command()(analyze.analyze)
app.command()(serve.serve)
app.command()(data.replay)
app.command()(data.feed)
app.command(epilog=research.EPILOG)(research.sweep)
app.command("backtest")(backtest)
app.command("warmup")(warmup)
app.command("view")(view)
app.add_typer(data.book_app, name="book")
app.add_typer(analyze.signals_app, name="signals")
app.add_typer(journal_app, name="journal")
app.add_typer(config_app, name="config")
app.add_typer(recordings_app, name="recordings")


def main() -> None:
    """Console entry point: one clear line and a non-zero exit on error (traceback: --debug)."""
    try:
        app()
    except OrderflowError as exc:
        if STATE.debug:
            raise
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(2)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if STATE.debug:
            raise
        sys.stderr.write(f"error: {exc.strerror}: {exc.filename}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
