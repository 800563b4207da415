"""``orderflow run``: the recorded (or simulated) market fed to the server and shown live
while the reference strategy trades it, or replayed in process (``--no-serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow import __version__
from orderflow.cli.context import InstrumentOpt, JsonOpt, instrument_of, settings
from orderflow.cli.logs import stage
from orderflow.cli.output import console, ladder_table, print_analysis, print_json, print_summary
from orderflow.cli.progress import replay_with_progress, run_pipeline, summary_with_progress
from orderflow.core.time import ns_to_iso

__all__ = ["RUN_SPEED", "SIM_MAX_RECORDS", "SIM_SECONDS", "run"]


#: ``orderflow run``'s default replay speed: the ES recording's trading hour in a minute
RUN_SPEED = 60.0
#: the simulated market ``orderflow run`` feeds without data: an hour of it (a minute at 60x)
SIM_SECONDS = 3600.0
SIM_MAX_RECORDS = 1_000_000


def run(
    file: Annotated[
        Path | None,
        typer.Argument(help="Data file to replay (default: the ES MBO recording in shared/data)."),
    ] = None,
    depth: Annotated[int, typer.Option("--depth", "-d", min=1, help="Levels to show.")] = 10,
    instrument: InstrumentOpt = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Start the server and feed it the data as NinjaTrader would (default), or "
            "replay in process and print the summary only (--no-serve).",
        ),
    ] = True,
    speed: Annotated[
        float,
        typer.Option("--speed", min=0.001, help="Event time per real time, from the first print."),
    ] = RUN_SPEED,
    fast: Annotated[bool, typer.Option("--fast", help="No pacing: as fast as possible.")] = False,
    trade: Annotated[
        bool,
        typer.Option(
            "--trade/--no-trade",
            help="Run the reference strategy (trading.strategy) on the server with a simulated "
            "NinjaTrader account whose orders orderflow's venue fills on the recorded book "
            "(default; MBO data only), or only feed the data (--no-trade).",
        ),
    ] = True,
    json: JsonOpt = False,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="The server's port (default: a free one)."),
    ] = None,
    hold: Annotated[
        bool,
        typer.Option("--hold", help="Keep serving the dashboard after the data ends (Ctrl-C)."),
    ] = False,
) -> None:
    """The main job: the server on 127.0.0.1 fed the recorded ES data as NinjaTrader sends it,
    shown live while the reference strategy trades it on a simulated account.

    It starts the server, feeds it the recorded ES market-by-order data converted to
    NinjaTrader depth events over a real WebSocket at --speed (60: an hour of trading in a
    minute; the pre-open before the first print goes by at full speed), shows the book,
    imbalance, liquidity clusters, delta/VWAP and signals as they come with the addresses of
    the API docs, /health and /metrics, then the session summary. The server runs the trading
    engine with the reference strategy (--trade, the default): its orders go to a simulated
    NinjaTrader account (orderflow's venue fills them on the recorded book, labelled wherever
    it shows), and its round trips and P&L are shown at the end.

    FILE replays that file instead. Without FILE and without the recording it feeds a built-in
    queue-reactive simulated market (an hour of it), labelled SIMULATED wherever it shows.
    --no-serve replays in process and prints the book and the summary only.

    The dashboard's address comes first: the page shows the run live and its replay bar
    plays, pauses, changes the speed (0.25x to 600x) and seeks (back only with --no-trade).
    """
    s = settings()
    path = file
    if path is None:
        default = Path(s.data.dir) / s.data.default_file
        if default.exists():
            path = default
    if serve:
        _run_served(path, instrument, None if fast else speed, json, depth, trade, port, hold)
        return
    if path is None:
        from orderflow.engine.runner import run_stream
        from orderflow.io.replay import replay_events
        from orderflow.io.simulated import SIMULATED_LABEL, simulate_mbo
        from orderflow.model.instruments import get_instrument
        from orderflow.settings import pipeline_params

        if not json:
            console.print(f"[bold yellow]{SIMULATED_LABEL}[/]: no recorded data here")
        events = simulate_mbo(SIM_MAX_RECORDS, seconds=SIM_SECONDS)
        inst = get_instrument(instrument or s.instrument)
        summary = summary_with_progress(
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
        with stage("pipeline"):
            pipe: Any = run_stream("mbo", events, inst, pipeline_params(s))
    else:
        if not json:
            console.print(f"[bold]orderflow[/] {__version__}: replaying [cyan]{path}[/]")
        summary = replay_with_progress(path, depth, None, quiet=json, instrument=instrument)
        summary["simulated"] = False
        pipe, _fmt = run_pipeline(path, instrument, quiet=json, keep_mid_path=False)
    from orderflow.engine.runner import BarsOnly, bars_summary, summarize

    summary["analysis"] = bars_summary(pipe) if isinstance(pipe, BarsOnly) else summarize(pipe)
    if json:
        print_json(summary)
    else:
        print_summary(summary)
        if not isinstance(pipe, BarsOnly):
            console.print()
            print_analysis(summary["analysis"])
        if summary["simulated"]:
            console.print("[bold yellow]SIMULATED data: not a real market[/]")


def _run_served(
    path: Path | None,
    instrument: str | None,
    speed: float | None,
    quiet: bool,
    depth: int = 10,
    trade: bool = True,
    port: int | None = None,
    hold: bool = False,
) -> None:
    """``run`` (served): the server, the feed and the live view (cli.live), then the summary.
    The dashboard's address first."""
    from orderflow.server.threaded import free_port

    port = port or free_port()
    if not quiet:
        console.print(f"[bold]dashboard[/] http://127.0.0.1:{port}/", soft_wrap=True)
    from orderflow.cli.live import final_ladder, serve_and_feed
    from orderflow.engine.runner import summarize
    from orderflow.io.formats import LoadedStream, load_stream
    from orderflow.settings import pipeline_params

    simulated = path is None
    if path is None:
        from orderflow.io.simulated import SIMULATED_LABEL, simulate_mbo
        from orderflow.model.instruments import get_instrument

        if not quiet:
            console.print(f"[bold yellow]{SIMULATED_LABEL}[/]: no recorded data here "
                          f"(name a file: orderflow run FILE)", soft_wrap=True)  # fmt: skip
        inst = get_instrument(instrument or settings().instrument)
        events = simulate_mbo(SIM_MAX_RECORDS, seconds=SIM_SECONDS)
        stream = LoadedStream("mbo", events, inst, "simulated")
        label = SIMULATED_LABEL
    else:
        stream = load_stream(path, instrument=instrument_of(instrument))
        label = path.name
    if not quiet:
        console.print(f"[bold]orderflow[/] {__version__}: feeding {label} at "
                      + ("full speed" if speed is None else f"{speed:g}x, from the first print"),
                      soft_wrap=True)  # fmt: skip
    from orderflow.settings import trading_params

    s = settings()
    pipe, figures = serve_and_feed(
        stream, pipeline_params(s), speed, quiet, label, simulated=simulated,
        trading=trading_params(s) if trade else None,
        use_sessions=s.trading.server.use_sessions, port=port, hold=hold,
    )  # fmt: skip
    out = {**figures, "simulated": simulated, "source": label,
           "analysis": summarize(pipe) if pipe is not None else None}  # fmt: skip
    if quiet:
        print_json(out)
        return
    console.print()
    console.print(
        f"fed {figures['batches']:,} batches in {figures['elapsed_s']:.1f} s: "
        f"{figures['acks']:,} acks, {figures['errors']} errors"
    )
    if pipe is not None and pipe.groups:
        title = f"{pipe.name} at {ns_to_iso(pipe.last_ts)}" + (" (SIMULATED)" if simulated else "")
        console.print(ladder_table(final_ladder(pipe, depth), title=title))
    if out["analysis"] is not None:
        print_analysis(out["analysis"])
    if "trading" in figures:
        _print_run_trading(figures["trading"])
    if simulated:
        console.print("[bold yellow]SIMULATED data: not a real market[/]")


def _print_run_trading(t: dict[str, Any]) -> None:
    """The strategy's session in ``orderflow run``: its account, round trips and statistics."""
    s = t["stats"]
    console.print()
    console.print(f"[bold]strategy[/] (reference, trading.strategy; {t['account']}): "
                  f"{t['entries']} entries, {t['orders']} orders, {t['fills']} fills; "
                  f"{s['trades']} round trips, net {float(s['net']):+,.2f} (commission "
                  f"{float(s['commission']):,.2f}, fees {float(s['fees']):,.2f}); position "
                  f"{t['position']:+d}, open P&L {t['open_pnl']:+,.2f}",
                  soft_wrap=True)  # fmt: skip
    for r in t["trades"]:
        console.print(f"  #{r['number']} {r['direction']} {r['max_quantity']} at "
                      f"{r['avg_entry']} -> {r['avg_exit']}: {r['pnl_ticks']:+g} ticks, "
                      f"net {r['net']:+,.2f}" + (f" ({r['closed_by']})" if r["closed_by"] else ""),
                      highlight=False)  # fmt: skip
