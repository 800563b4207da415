"""``orderflow``: the command line. Every command has ``--help``; results also as ``--json``."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from orderflow import __version__
from orderflow.cli.config import config_app
from orderflow.cli.logs import setup_logging, stage
from orderflow.cli.output import console, err_console, ladder_table, print_json
from orderflow.core.errors import OrderflowError
from orderflow.core.time import ns_to_iso, parse_time
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
signals_app = typer.Typer(
    help="Signals: measure the detectors on recorded data.", no_args_is_help=True
)
app.add_typer(signals_app, name="signals")
journal_app = typer.Typer(
    help="The trading journal: trades, P&L by day, performance (trading.journal).",
    no_args_is_help=True,
)
app.add_typer(journal_app, name="journal")
app.add_typer(config_app, name="config")


class State:
    debug = False
    settings: Settings | None = None
    config_path: Path | None = None


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


def _progress(stage_name: str, label: str, work: Any, quiet: bool, unit: str = "events") -> Any:
    """Run ``work(progress)`` inside the logged stage ``stage_name`` with its progress on
    stderr: a bar on a terminal, a plain line every few seconds otherwise (CI, a pipe, a log
    file), nothing with --json (``work(None)``)."""
    if quiet:
        with stage(stage_name):
            return work(None)
    if not err_console.is_terminal:
        from orderflow.cli.live import PLAIN_EVERY_S

        t0 = time.perf_counter()
        nxt = [t0 + PLAIN_EVERY_S]

        def plain(done: int, total: int) -> None:
            now = time.perf_counter()
            if now >= nxt[0]:
                err_console.print(f"{stage_name} {label}: {done:,} of about {total:,} {unit}, "
                                  f"{now - t0:.0f} s", highlight=False, soft_wrap=True)  # fmt: skip
                nxt[0] = now + PLAIN_EVERY_S

        with stage(stage_name):
            return work(plain)
    with Progress(
        TextColumn(f"[bold]{stage_name}[/] {{task.description}}"),
        BarColumn(),
        TextColumn(f"{{task.completed:,}}/{{task.total:,}} {unit}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with stage(stage_name):
            return work(progress)


def _with_progress(label: str, work: Any, quiet: bool) -> dict[str, Any]:
    """A book replay with progress; its summary as a plain dict."""
    return _progress("replay", label, work, quiet).to_dict()  # type: ignore[no-any-return]


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
    files: Annotated[
        list[Path],
        typer.Argument(
            help="FILE OUT (to a NinjaTrader depth dump), or FILE... with --parquet (any data "
            "file, or a folder of server recordings)."
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="Target format: nt8-depth.")] = "nt8-depth",
    levels: Annotated[int, typer.Option("--levels", "-n", min=1, help="Top N levels.")] = 10,
    tz: Annotated[str, typer.Option("--tz", help="Time zone of the dump's timestamps.")] = "UTC",
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet", help="Write FILE... into this Parquet store (by instrument and day)."
        ),
    ] = None,
    chunk_records: Annotated[
        int, typer.Option("--chunk-records", min=1, help="Records per chunk (--parquet).")
    ] = 262_144,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """Convert FILE to the depth events NinjaTrader would send for the top N levels (FILE
    OUT), or store FILE... as Parquet partitioned by instrument and trading day (--parquet)."""
    from orderflow.core.errors import RequestError

    if parquet is not None:
        from orderflow.cli.research import convert_parquet

        with stage("convert"):
            results = convert_parquet(files, parquet, _instrument(instrument), chunk_records)
        if json:
            print_json(results)
        for r in [] if json else results:
            console.print(
                f"{Path(r['file']).name}: {r['rows']:,} {r['kind']} records"
                + (f" and {r['trades']:,} prints" if r["trades"] else "")
                + f" of {r['instrument']} for {', '.join(r['days'])} in {r['files']} file(s), "
                f"{r['bytes'] / 1e6:.1f} MB under {parquet}"
            )
        return
    from orderflow.io.nt_convert import convert_file

    if len(files) != 2:
        raise RequestError("give FILE OUT (or FILE... --parquet DIR)", field="files")
    file, out = files
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


#: ``orderflow run``'s default replay speed: the ES recording's trading hour in a minute
RUN_SPEED = 60.0
#: the simulated market ``orderflow run`` feeds without data: an hour of it (a minute at 60x)
SIM_SECONDS = 3600.0
SIM_MAX_RECORDS = 1_000_000


@app.command()
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
    """
    s = settings()
    path = file
    if path is None:
        default = Path(s.data.dir) / s.data.default_file
        if default.exists():
            path = default
    if serve:
        _run_served(path, instrument, None if fast else speed, json, depth, trade)
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
        with stage("pipeline"):
            pipe: Any = run_stream("mbo", events, inst, pipeline_params(s))
    else:
        if not json:
            console.print(f"[bold]orderflow[/] {__version__}: replaying [cyan]{path}[/]")
        summary = _progress_replay(path, depth, None, quiet=json, instrument=instrument)
        summary["simulated"] = False
        pipe, _fmt = _run_pipeline(path, instrument, quiet=json, keep_mid_path=False)
    from orderflow.engine.runner import BarsOnly, bars_summary, summarize

    summary["analysis"] = bars_summary(pipe) if isinstance(pipe, BarsOnly) else summarize(pipe)
    if json:
        print_json(summary)
    else:
        _print_summary(summary)
        if not isinstance(pipe, BarsOnly):
            console.print()
            _print_analysis(summary["analysis"])
        if summary["simulated"]:
            console.print("[bold yellow]SIMULATED data: not a real market[/]")


def _run_served(
    path: Path | None,
    instrument: str | None,
    speed: float | None,
    quiet: bool,
    depth: int = 10,
    trade: bool = True,
) -> None:
    """``run`` (served): the server, the feed and the live view (cli.live), then the summary."""
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
        stream = load_stream(path, instrument=_instrument(instrument))
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
        use_sessions=s.trading.server.use_sessions,
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
        _print_analysis(out["analysis"])
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


def _run_pipeline(file: Path, instrument: str | None, quiet: bool, keep_mid_path: bool) -> Any:
    """Replay FILE through the whole pipeline (book, analytics, signals) with a progress bar."""
    from orderflow.engine.runner import run_file
    from orderflow.settings import pipeline_params

    params = pipeline_params(settings(), keep_mid_path=keep_mid_path)
    inst = _instrument(instrument)
    rule = settings().analytics.aggressor
    return _progress(
        "analyze",
        file.name,
        lambda progress: run_file(file, params, inst, progress=progress, aggressor=rule),
        quiet,
    )


def _px(x: float | None) -> str:
    """A price in exchange units as the exchange writes it: no float noise, no lost digits."""
    if x is None:
        return "-"
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _print_analysis(s: dict[str, Any]) -> None:
    from rich.table import Table

    def num(x: Any) -> str:
        if x is None:
            return "-"
        if isinstance(x, float):
            return f"{x:,.4f}".rstrip("0").rstrip(".")
        return f"{x:,}"

    console.print(
        f"[bold]{s['instrument']}[/] ({s['kind']}, {s['events']:,} events, "
        f"{s['event_groups']:,} event groups) {s['first_ts_event']} to {s['last_ts_event']}"
    )
    console.print(
        f"{s['trades']:,} trades, [bold]{s['volume']:,}[/] contracts "
        f"(aggressor {s['aggressor']}); session from {s['session']['start']}: "
        f"buy {s['session']['buy_volume']:,} / sell {s['session']['sell_volume']:,}"
    )
    v = s["vwap"]
    if v["price"] is not None:
        bands = ", ".join(f"{b['k']:g}sd {b['lower']:.2f}-{b['upper']:.2f}" for b in v["bands"])
        console.print(f"VWAP [bold]{v['price']:.2f}[/] (sd {v['std']:.2f}; {bands})")
    p = s["profile"]
    if p is not None:
        console.print(
            f"profile POC [bold]{_px(p['poc'])}[/], value area {_px(p['val'])}-{_px(p['vah'])} "
            f"({p['value_area_volume']:,} of {p['total']:,}, {p['value_area_share']:.0%}); "
            f"HVN {p['hvn']}, LVN {p['lvn']}"
        )
    d = s["cumulative_delta"]
    console.print(
        f"cumulative delta [bold]{d['final']:+,}[/] (low {d['low']:+,}, high {d['high']:+,})"
        + (f"; momentum {s['momentum']:+.3f}" if s["momentum"] is not None else "")
    )
    for b in s["bars"]:
        last = b["last"]
        tail = (
            (
                f", last {last['ts_open']} O {_px(last['open'])} H {_px(last['high'])} "
                f"L {_px(last['low'])} C {_px(last['close'])} vol {last['volume']:,} "
                f"delta {last['delta']:+,}"
            )
            if last
            else ""
        )
        console.print(f"bars[{b['series']}] {b['bars']}: {b['closed']:,} closed{tail}")
    if s["book"] is not None:
        bk = s["book"]
        console.print(
            f"book now: spread {num(bk['spread'])}, mid {num(bk['mid'])}, microprice "
            f"{num(bk['microprice'])}, imbalance {bk['imbalance']:+.3f}, OFI(window) "
            f"{bk['ofi_window']:+,}, walls {len(bk['walls'])}"
        )
    for title, rows, cols in (
        ("volume clusters", s["volume_clusters"], ("low", "high", "volume", "aggressor", "strength",
                                                   "age_s")),
        ("liquidity clusters", s["liquidity_clusters"], ("side", "low", "high", "size", "orders",
                                                         "strength", "age_s")),
    ):  # fmt: skip
        if rows:
            t = Table(title=title, header_style="bold")
            for c in cols:
                t.add_column(c, justify="right")
            for r in rows:
                t.add_row(*(num(r[c]) if not isinstance(r[c], str) else r[c] for c in cols))
            console.print(t)
    if s["orders"] is not None:
        ctr = s["orders"]["cancel_to_trade"]
        life = s["orders"]["lifetimes"]
        console.print(
            f"orders: cancel-to-trade bid {num(ctr['bid'])}, ask {num(ctr['ask'])} (last "
            f"window); lifetimes cancelled {life['cancelled']}, filled {life['filled']}"
        )
    sg = s["signals"]
    counts = ", ".join(f"{k} {v}" for k, v in sg["counts"].items()) or "none"
    console.print(
        f"signals: {sg['total']:,} ({counts}); accumulated {sg['accumulated']} "
        f"({sg['accumulated_long']} long, {sg['accumulated_short']} short); filtered "
        f"{sg['filtered']}"
    )


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(help="Any supported file: MBO, levels, trades, bars.")],
    instrument: InstrumentOpt = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Write profile.png and footprint.png here.")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write bars, footprint, profile, signals CSVs.")
    ] = None,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="Write the same tables as Parquet.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Session summary of FILE: volume, VWAP, profile (POC, value area), cumulative delta,
    bars, top clusters, signal counts; optionally charts (PNG) and tables (CSV/Parquet)."""
    from orderflow.engine.runner import BarsOnly, bars_summary, summarize

    result, fmt = _run_pipeline(file, instrument, quiet=json, keep_mid_path=False)
    if isinstance(result, BarsOnly):
        summary = bars_summary(result)
        summary.update({"file": str(file), "format": fmt})
        if json:
            print_json(summary)
        elif summary["bars"]:
            last, sm = summary["last"], summary
            console.print(
                f"[bold]{sm['instrument']}[/]: {sm['bars']:,} ready-made {sm['bar_seconds']} s "
                f"bars from {sm['first_ts_event']} to {sm['last_ts_event']}; "
                f"O {_px(sm['open'])} H {_px(sm['high'])} L {_px(sm['low'])} "
                f"C {_px(sm['close'])}, volume {sm['volume']:,}, ATR(14) {sm['atr']:.4g}"
            )
            console.print(
                f"last bar {last['ts_open']}: O {_px(last['open'])} H {_px(last['high'])} "
                f"L {_px(last['low'])} C {_px(last['close'])} vol {last['volume']:,}"
            )
            console.print(f"[yellow]{summary['note']}[/]")
        else:
            console.print(f"{summary['instrument']}: no bars in {file.name}")
        return
    summary = {"file": str(file), "format": fmt, **summarize(result)}
    written: list[str] = []
    if png is not None or csv is not None or parquet is not None:
        from orderflow.engine.export import draw_charts, write_tables

        with stage("export"):
            if png is not None:
                written += [str(x) for x in draw_charts(result, png)]
            if csv is not None:
                written += [str(x) for x in write_tables(result, csv, "csv")]
            if parquet is not None:
                written += [str(x) for x in write_tables(result, parquet, "parquet")]
    summary["written"] = written
    if json:
        print_json(summary)
        return
    _print_analysis(summary)
    for w in written:
        console.print(f"wrote {w}")


@signals_app.command("evaluate")
def signals_evaluate(
    file: Annotated[Path, typer.Argument(help="Book data: DBN MBO or MBP-10, NT depth dump.")],
    instrument: InstrumentOpt = None,
    horizons: Annotated[
        str | None, typer.Option("--horizons", help="Seconds, comma separated (1,5,30,60).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Replay FILE through the pipeline and measure every detector: count, hit rate and mean
    forward mid move in ticks at each horizon, with 95% confidence intervals."""
    from orderflow.core.errors import RequestError
    from orderflow.engine.runner import BarsOnly
    from orderflow.signals.evaluate import DETECTORS, evaluate, format_table

    hs = settings().signals.horizons_s
    if horizons:
        try:
            hs = [float(h) for h in horizons.split(",")]
        except ValueError as exc:
            raise RequestError(f"--horizons: {horizons!r} is not a list of seconds",
                               field="horizons") from exc  # fmt: skip
    pipe, fmt = _run_pipeline(file, instrument, quiet=json, keep_mid_path=True)
    if isinstance(pipe, BarsOnly) or pipe.book is None:
        raise RequestError(
            f"{file.name}: signal quality is measured against the book's mid; "
            "this file has no book data",
            field="file",
        )
    ts, mid = pipe.mid_path()
    names = sorted(pipe.params.detectors or DETECTORS)
    rows = evaluate(pipe.signals, ts, mid, hs, names)
    out = {
        "file": str(file),
        "format": fmt,
        "instrument": pipe.name,
        "events": pipe.events,
        "event_groups": pipe.groups,
        "horizons_s": hs,
        "counts": {n: pipe.signal_counts.get(n, 0) for n in names},
        "rows": rows,
    }
    if json:
        print_json(out)
        return
    console.print(
        f"[bold]{pipe.name}[/]: {pipe.events:,} events, {pipe.groups:,} event groups, "
        f"{len(pipe.signals):,} signals; forward mid moves in ticks, signed by direction"
    )
    console.print(format_table(rows), soft_wrap=True, highlight=False)


def _trading_args(s: Settings) -> dict[str, Any]:
    """The trading engine's parameters for ``create_app`` from ``trading`` (none when
    ``trading.server.enabled`` is off: the wire-level order ledger only)."""
    from orderflow.settings import trading_params

    server = s.trading.server
    if not server.enabled:
        return {}
    return {"trading": trading_params(s), "trading_server": server}


@app.command()
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
    from orderflow.cli.serve import run_server

    run_server(settings(), host, port, token, token_file, _trading_args)


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="A recording file or a folder of them.")],
    json: JsonOpt = False,
) -> None:
    """Play a server recording back through the same engine, in the order it was received,
    and print each instrument's session summary and what the batches did."""
    from orderflow.core.errors import RequestError
    from orderflow.engine.runner import summarize
    from orderflow.server.hub import Hub
    from orderflow.server.recording import read_recording, recording_files
    from orderflow.settings import pipeline_params

    files = recording_files(path)
    if not files:
        raise RequestError(f"{path}: no recordings (*.ofrec) there", field="path")
    hub = Hub(pipeline_params(settings()))
    records, torn, refused = [], 0, 0
    for f in files:
        got = read_recording(f)
        records += got.records
        torn += got.torn_bytes
    records.sort(key=lambda r: r.recv_ns)
    with stage("replay"):
        for r in records:
            try:
                refused += not hub.replay(r)  # refused live too: the same answer again
            except OrderflowError:
                refused += 1
    out = {
        "files": [str(f) for f in files],
        "batches": len(records),
        "refused": refused,
        "torn_bytes": torn,
        "counters": dict(hub.counters),
        "instruments": {k: summarize(st.pipeline) for k, st in hub.instruments.items()},
    }
    if json:
        print_json(out)
        return
    console.print(
        f"replayed {len(records):,} batches from {len(files)} file(s); {refused} refused, "
        f"{torn} torn bytes at the end skipped; {dict(hub.counters)}"
    )
    for summary in out["instruments"].values():
        console.print()
        _print_analysis(summary)


@app.command()
def feed(
    file: Annotated[Path, typer.Argument(help="DBN MBO file or NinjaTrader depth dump.")],
    url: Annotated[str, typer.Option("--url", help="Server WebSocket URL.")] = (
        "ws://127.0.0.1:8765/ws"
    ),
    speed: Annotated[
        float, typer.Option("--speed", help="Event time per real time (1 = as recorded).")
    ] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="As fast as possible, no pacing.")] = False,
    transport: Annotated[str, typer.Option("--transport", help="ws or rest.")] = "ws",
    encoding: Annotated[str, typer.Option("--encoding", help="json or msgpack.")] = "msgpack",
    levels: Annotated[int, typer.Option("--levels", min=1, help="Depth levels sent.")] = 10,
    token: Annotated[str | None, typer.Option("--token", help="The server's token.")] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the server's token.")
    ] = None,
    columns: Annotated[
        bool, typer.Option("--columns", help="Send depth as columns (WebSocket; faster).")
    ] = False,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
) -> None:
    """Play FILE into a running server the way NinjaTrader's market replay would: its book as
    NinjaTrader depth events with the prints, batched at event boundaries, at --speed."""
    from orderflow.client.feed import feed_file
    from orderflow.core.errors import RequestError
    from orderflow.server.auth import resolve_token

    sv = settings().server
    token = resolve_token(token, token_file, sv.token, sv.token_file)

    if transport not in ("ws", "rest") or encoding not in ("json", "msgpack"):
        raise RequestError("--transport is ws or rest, --encoding json or msgpack",
                           field="transport")  # fmt: skip
    result = _progress(
        "feed",
        file.name,
        lambda progress: feed_file(
            file, url, None if fast else speed, levels, transport=transport,  # type: ignore[arg-type]
            encoding=encoding, progress=progress, token=token,  # type: ignore[arg-type]
            instrument=instrument, columns=columns,
        ),
        json,
    )  # fmt: skip
    out = {
        "file": str(file), "url": url, "batches": result.batches, "events": result.events,
        "acks": result.acks, "signals": result.signals, "duplicates": result.duplicates,
        "errors": result.errors, "snapshot_requests": result.snapshot_requests,
        "elapsed_s": round(result.elapsed_s, 3), "events_per_s": round(result.events_per_s),
        "book": result.book, "metrics": result.metrics,
    }  # fmt: skip
    if json:
        print_json(out)
        return
    bid, ask = result.top
    console.print(
        f"fed {result.batches:,} batches ({result.events:,} events) in {result.elapsed_s:.2f} s "
        f"({result.events_per_s:,.0f} events/s): {result.acks:,} acks, {result.signals} signals, "
        f"{result.duplicates} duplicates, {result.errors} errors; last book {bid} / {ask}"
    )


JournalOpt = Annotated[
    Path | None,
    typer.Option(
        "--journal", help="Journal file (else trading.journal, journal/orderflow.sqlite)."
    ),
]
ClientOpt = Annotated[
    str | None, typer.Option("--client", help="Only this bridge client's records.")
]
DayOpt = Annotated[
    str | None, typer.Option("--day", help="CME trading day, YYYY-MM-DD (17:00 CT opens the next).")
]


def _open_journal(path: Path | None) -> Any:
    from orderflow.core.errors import RequestError
    from orderflow.trading.journal import Journal

    path = path or settings().trading.journal
    if not Path(path).is_file():
        raise RequestError(f"no journal at {path}", field="trading.journal")
    return Journal(path)


def _journal_trades(path: Path | None, day: str | None, client: str | None = None) -> list[Any]:
    from datetime import date

    from orderflow.core.errors import RequestError

    if day is not None:
        try:
            day = date.fromisoformat(day).isoformat()
        except ValueError:
            raise RequestError(f"--day {day!r}: YYYY-MM-DD", field="day") from None
    with _open_journal(path) as j:
        return list(j.trades(day, client))


@journal_app.command("trades")
def journal_trades(
    day: DayOpt = None, client: ClientOpt = None, journal: JournalOpt = None, json: JsonOpt = False
) -> None:
    """Closed round trips, replayed from the journal's executions: prices in the exchange's
    units, P&L in ticks and in currency (net of commission and fees), MAE/MFE."""
    from rich.table import Table

    from orderflow.trading.journal import trade_rows

    rows = trade_rows(_journal_trades(journal, day, client))
    if json:
        print_json(rows)
        return
    table = Table(title="Trades", header_style="bold")
    for col in ("#", "day", "instrument", "side", "qty", "entry", "exit", "ticks", "net",
                "MAE", "MFE"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["number"]), r["day"], r["instrument"], r["direction"], str(r["max_quantity"]),
            f"{r['avg_entry']:g}", f"{r['avg_exit']:g}", f"{r['pnl_ticks']:g}",
            f"{r['net']:,.2f}", f"{r['mae']:,.2f}", f"{r['mfe']:,.2f}",
        )  # fmt: skip
    console.print(table)


@journal_app.command("pnl")
def journal_pnl(
    client: ClientOpt = None, journal: JournalOpt = None, json: JsonOpt = False
) -> None:
    """P&L by CME trading day (the day a trade closed): trades, wins, losses, gross,
    commission, fees and net, in currency."""
    from rich.table import Table

    from orderflow.trading.journal import plain, pnl_by_day

    rows = plain(pnl_by_day(_journal_trades(journal, None, client)))
    if json:
        print_json(rows)
        return
    table = Table(title="P&L by day", header_style="bold")
    for col in ("day", "trades", "wins", "losses", "gross", "commission", "fees", "net"):
        table.add_column(col, justify="right")
    for r in rows:
        counts = [str(r[k]) for k in ("trades", "wins", "losses")]
        amounts = [f"{r[k]:,.2f}" for k in ("gross", "commission", "fees", "net")]
        table.add_row(r["day"], *counts, *amounts)
    console.print(table)


@journal_app.command("stats")
def journal_stats(
    day: DayOpt = None, client: ClientOpt = None, journal: JournalOpt = None, json: JsonOpt = False
) -> None:
    """Performance of the closed trades (of --day, else all), net of costs: win rate, average
    win and loss, expectancy, profit factor, maximum drawdown of the closed-trade equity."""
    from orderflow.trading.journal import performance, plain

    out = plain(performance(_journal_trades(journal, day, client)))
    if json:
        print_json(out)
        return
    for key, value in out.items():
        if value is None:
            text = "-"
        elif key in ("win_rate", "profit_factor"):
            text = f"{value:.4f}"
        else:
            text = f"{value:,.2f}" if isinstance(value, float) else str(value)
        console.print(f"{key.replace('_', ' '):>14}  {text}")


@journal_app.command("events")
def journal_events(
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only this kind (repeatable).")
    ] = None,
    since: Annotated[int, typer.Option("--since", help="After this sequence number.")] = 0,
    day: DayOpt = None,
    client: ClientOpt = None,
    journal: JournalOpt = None,
    json: JsonOpt = False,
) -> None:
    """The journal's records in order: commands, order updates, executions, risk decisions
    and risk states, as written."""
    import orjson

    with _open_journal(journal) as j:
        rows = [e.to_dict() for e in j.events(since=since, kinds=kind or None, day=day,
                                              client=client)]  # fmt: skip
    if json:
        print_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['seq']:>6} {ns_to_iso(r['ts_ns'])} {r['kind']:<16} {r['instrument']:<6} "
            f"{r['cid']:<12} {orjson.dumps(r['payload']).decode()}", highlight=False,
            soft_wrap=True,
        )  # fmt: skip


from orderflow.cli import research as _research  # noqa: E402 - registers on app above
from orderflow.cli.journal_tools import register as _journal_tools  # noqa: E402

_journal_tools(journal_app)  # orderflow journal check | repair

app.command(epilog=_research._EPILOG)(_research.sweep)


# ---- backtest: the command lives in cli/backtest.py ----------------------------------------
from orderflow.cli.backtest import backtest as _backtest  # noqa: E402 - registers on app above

app.command("backtest")(_backtest)

from orderflow.cli.warmup import warmup as _warmup  # noqa: E402 - registers on app above

app.command("warmup")(_warmup)


from orderflow.cli.recordings_admin import recordings_app  # noqa: E402 - check, repair

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
