"""``orderflow``: the command line. Every command has ``--help``; results also as ``--json``."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from orderflow import __version__
from orderflow.cli.logs import setup_logging, stage
from orderflow.cli.output import console, err_console, ladder_table, print_json
from orderflow.core.errors import OrderflowError
from orderflow.core.time import parse_time
from orderflow.settings import Settings, load_settings

app = typer.Typer(
    name="orderflow",
    help="Order-flow engine for NinjaTrader 8 futures: books, analytics, signals, replay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
book_app = typer.Typer(
    help="Order books: replay a file and look at the book.", no_args_is_help=True
)
app.add_typer(book_app, name="book")


class State:
    debug = False
    settings: Settings | None = None


STATE = State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def settings() -> Settings:
    if STATE.settings is None:
        STATE.settings = load_settings()
    return STATE.settings


@app.callback()
def _main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings YAML (else ORDERFLOW_CONFIG).")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="DebugMode: detail logs, per-stage timings, tracebacks.")
    ] = False,
) -> None:
    STATE.debug = debug
    STATE.settings = load_settings(config)
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
    from rich.table import Table

    from orderflow.model.instruments import all_instruments

    rows = [i.to_dict() for i in all_instruments()]
    if json:
        print_json(rows)
        return
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


InstrumentOpt = Annotated[
    str | None,
    typer.Option(
        "--instrument", "-i", help="Instrument when the file does not name it (ESH4, ES)."
    ),
]


def _instrument(symbol: str | None) -> Any:
    from orderflow.model.instruments import get_instrument

    return get_instrument(symbol) if symbol else None


def _with_progress(label: str, work: Any, quiet: bool) -> dict[str, Any]:
    """Run ``work(progress)`` with a progress bar on stderr (none with --json)."""
    if quiet:
        with stage("replay"):
            return work(None).to_dict()  # type: ignore[no-any-return]
    with Progress(
        TextColumn("[bold]replay[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with stage("replay"):
            return work(progress).to_dict()  # type: ignore[no-any-return]


def _progress_replay(
    path: Path, depth: int, at_ns: int | None, quiet: bool, instrument: str | None = None
) -> dict[str, Any]:
    from orderflow.io.replay import replay_file

    inst = _instrument(instrument)
    return _with_progress(
        path.name,
        lambda progress: replay_file(
            path, depth=depth, at_ns=at_ns, instrument=inst, progress=progress
        ),
        quiet,
    )


def _print_summary(s: dict[str, Any]) -> None:
    decimals = max(0, -Decimal(str(s["tick_size"])).normalize().as_tuple().exponent)  # type: ignore[operator]

    def px(value: float) -> str:
        return f"{value:.{decimals}f}"

    console.print(ladder_table(s, title=f"{s['instrument']} at {s['ts_event']}"))
    rejected = sum(s["rejected"].values())
    console.print(
        f"[bold]{s['events']:,}[/] events ({s['format']}) from {s['first_ts_event']} to "
        f"{s['ts_event']}: {s['applied']:,} applied, {rejected:,} rejected"
    )
    console.print(
        f"{s['boundaries']:,} event boundaries, {s['crossed_boundaries']:,} crossed, "
        f"{s['locked_boundaries']:,} locked"
        + (f"; {s['orders']:,} resting orders" if s["orders"] is not None else "")
        + (
            f"; {s['trades']:,} trades, {s['traded_volume']:,} contracts"
            if s.get("trades") is not None
            else ""
        )
    )
    if s["best_bid"] is not None and s["best_ask"] is not None:
        console.print(
            f"best bid [bold green]{px(s['best_bid'])} x {s['bids'][0]['size']}[/], "
            f"best ask [bold red]{px(s['best_ask'])} x {s['asks'][0]['size']}[/], "
            f"spread {px(s['spread'])}" + ("  [bold red]CROSSED[/]" if s["crossed"] else "")
        )
    if rejected:
        console.print(f"[yellow]rejected by reason: {s['rejected']}[/]")
    if s["stale"]:
        console.print("[bold yellow]book is stale: it needs a snapshot[/]")


@book_app.command("replay")
def book_replay(
    file: Annotated[Path, typer.Argument(help="DBN, LOBSTER, NinjaTrader dump or recording.")],
    depth: Annotated[int, typer.Option("--depth", "-d", min=1, help="Levels to show.")] = 10,
    at: Annotated[
        str | None, typer.Option("--at", help="Show the book at this time (ISO 8601 UTC or ns).")
    ] = None,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replay FILE into the right book and show it at the end (or at --at)."""
    at_ns = parse_time(at) if at else None
    summary = _progress_replay(file, depth, at_ns, quiet=json, instrument=instrument)
    if json:
        print_json(summary)
    else:
        _print_summary(summary)


@app.command()
def convert(
    file: Annotated[
        Path, typer.Argument(help="Order-by-order or price-level file (e.g. DBN MBO).")
    ],
    out: Annotated[Path, typer.Argument(help="Where to write the NinjaTrader depth dump.")],
    to: Annotated[str, typer.Option("--to", help="Target format: nt8-depth.")] = "nt8-depth",
    levels: Annotated[int, typer.Option("--levels", "-n", min=1, help="Top N levels.")] = 10,
    tz: Annotated[str, typer.Option("--tz", help="Time zone of the dump's timestamps.")] = "UTC",
    json: JsonOpt = False,
) -> None:
    """Convert FILE to the depth events NinjaTrader would send for the top N levels."""
    from orderflow.core.errors import RequestError
    from orderflow.io.nt_convert import convert_file

    if to != "nt8-depth":
        raise RequestError(f"--to {to!r} is not supported; use nt8-depth", field="to")
    with stage("convert"):
        result = convert_file(file, out, levels=levels, tz=tz)
    if json:
        print_json(result)
    else:
        console.print(
            f"wrote {result['events']:,} NinjaTrader depth events "
            f"({result['boundaries']:,} boundaries, top {levels} levels) to {out}"
        )


@app.command()
def run(
    file: Annotated[
        Path | None,
        typer.Argument(help="Data file to replay (default: the ES MBO recording in shared/data)."),
    ] = None,
    depth: Annotated[int, typer.Option("--depth", "-d", min=1, help="Levels to show.")] = 10,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """The main job: replay recorded ES market-by-order data and show the book and a summary.

    With no FILE it replays the ES recording in shared/data; where that is absent it replays a
    built-in simulated market and says so.
    """
    s = settings()
    path = file
    if path is None:
        default = Path(s.data.dir) / s.data.default_file
        if default.exists():
            path = default
    if path is None:
        from orderflow.io.replay import replay_events
        from orderflow.io.simulated import SIMULATED_LABEL, simulate_mbo
        from orderflow.model.instruments import get_instrument

        if not json:
            console.print(f"[bold yellow]{SIMULATED_LABEL}[/]: no recorded data here")
        events = simulate_mbo()
        inst = get_instrument(instrument or s.instrument)
        summary = _with_progress(
            "simulated",
            lambda progress: replay_events(
                "mbo",
                events,
                inst,
                source_format="simulated",
                path=Path("<simulated>"),
                depth=depth,
                progress=progress,
            ),
            json,
        )
        summary["simulated"] = True
    else:
        if not json:
            console.print(f"[bold]orderflow[/] {__version__}: replaying [cyan]{path}[/]")
        summary = _progress_replay(path, depth, None, quiet=json, instrument=instrument)
        summary["simulated"] = False
    if json:
        print_json(summary)
    else:
        _print_summary(summary)
        if summary["simulated"]:
            console.print("[bold yellow]SIMULATED data: not a real market[/]")


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
