"""``orderflow backtest``: the strategy over recorded data against the simulated venue.

The settings file (``--config``) gives the pipeline's and the trading engine's parameters
(strategy, risk, sizing, sessions, broker); the options here give the venue's. Registered on
the app in ``cli/main.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderflow.cli.context import TzOpt, settings
from orderflow.cli.output import console, print_json
from orderflow.cli.progress import run_with_progress


def _decide(text: str) -> str | int:
    if text in ("group", "chunk"):
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        from orderflow.core.errors import RequestError

        raise RequestError(f"--decide-every {text!r}: group, chunk or a number of records >= 1",
                           field="decide_every")  # fmt: skip
    return n


def _bar_period(text: str) -> int:
    """``--bar-period``: a time period (``30s``, ``1m``, ``5m``, ``1h``) in seconds."""
    from orderflow.analytics.bars import BarKind
    from orderflow.core.errors import ConfigError, RequestError
    from orderflow.settings import parse_bar_spec

    try:
        spec = parse_bar_spec(text)
    except ConfigError:
        spec = None
    if spec is None or spec.kind != BarKind.TIME or not 1 <= spec.size <= 86_400:
        raise RequestError(f"--bar-period {text!r}: a time period from 1s to 24h (30s, 1m, 5m, "
                           "1h)", field="bar_period")  # fmt: skip
    return int(spec.size)


def backtest(
    out: Annotated[Path, typer.Option("--out", help="Results folder (created).")],
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            help="Data file (several: --data A B C or --data A --data B, in time order): DBN, "
            "LOBSTER, NinjaTrader export or depth dump, CME bar CSV, a Parquet store, the "
            "server's recordings folder.",
        ),
    ] = None,
    decide_every: Annotated[
        str,
        typer.Option(
            "--decide-every",
            help="When the strategy decides: group (every exchange "
            "event, exact, slow), chunk (every chunk read, coarse) or N records "
            "(live: one NinjaTrader batch, about 100).",
        ),
    ] = "100",
    order_latency_us: Annotated[
        float, typer.Option("--order-latency-us", min=0, help="Command to venue, microseconds.")
    ] = 0.0,
    md_latency_us: Annotated[
        float, typer.Option("--md-latency-us", min=0, help="Venue to strategy, microseconds.")
    ] = 0.0,
    queue_power: Annotated[
        float, typer.Option("--queue-power", min=0.01, help="L2 queue model exponent.")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Latency draws' seed.")] = 0,
    chunk_records: Annotated[
        int, typer.Option("--chunk-records", min=1, help="Records read per chunk.")
    ] = 65_536,
    instrument: Annotated[
        str | None, typer.Option("--instrument", "-i", help="When a file does not name it.")
    ] = None,
    view: Annotated[
        str,
        typer.Option(
            "--view",
            help="What the strategy sees of an MBO file: native (every record, L3) or "
            "ninjatrader (what the live server sees: NinjaTrader depth in the bridge's batches; "
            "the same orders and fills as the live path).",
        ),
    ] = "native",
    more: Annotated[
        list[Path] | None,
        typer.Argument(
            help="More data files after --data's first (--data A B C).", show_default=False
        ),
    ] = None,
    tz: TzOpt = None,
    json: Annotated[bool, typer.Option("--json", help="Print stats and paths as JSON.")] = False,
    simulated_hours: Annotated[
        float | None,
        typer.Option(
            "--simulated-hours",
            min=0.001,
            max=168,
            help="Instead of --data: this many hours of the SIMULATED market (the queue-reactive "
            "model fitted to ES; not exchange data), generated chunk by chunk as the backtest "
            "reads it (memory stays one chunk): 23 is a Globex trading day.",
        ),
    ] = None,
    simulated_activity: Annotated[
        float,
        typer.Option(
            "--simulated-activity",
            min=0.01,
            max=1000,
            help="The simulated market's intensities times this (25: about 28 million records "
            "in 23 hours, an active ES day; 1: the fitted quiet hour).",
        ),
    ] = 25.0,
    bar_period: Annotated[
        str,
        typer.Option(
            "--bar-period",
            help="A file of ticks only (NinjaTrader .ncd/.ntd ticks, a tick export) has no book: "
            "it is backtested on time bars of this period built from its ticks (30s, 1m, 5m).",
        ),
    ] = "1m",
) -> None:
    """Backtest the strategy of the settings (the reference strategy and default settings
    without --config) over the --data files, on the data's clock, against the simulated venue
    with the broker profile's costs; write trades.csv, daily.csv, equity.csv, stats.json,
    equity.png, drawdown.png and report.html to --out and print a summary."""
    import orderflow.cli.recordings  # noqa: F401  (the server's recordings as --data)
    from orderflow.backtest.run import BacktestOptions, run_backtest
    from orderflow.model.instruments import get_instrument
    from orderflow.settings import pipeline_params, trading_params

    s = settings()
    if view not in ("native", "ninjatrader"):
        from orderflow.core.errors import RequestError

        raise RequestError(f"--view {view!r}: native or ninjatrader", field="view")
    opts = BacktestOptions(
        order_latency_ns=round(order_latency_us * 1000), md_latency_ns=round(md_latency_us * 1000),
        queue_power=queue_power, seed=seed, chunk_records=chunk_records,
        decide_every=_decide(decide_every),
        instrument=get_instrument(instrument) if instrument else None, view=view, tz=tz,
        tick_bar_s=_bar_period(bar_period),
    )  # fmt: skip
    files = [*(data or []), *(more or [])]
    if simulated_hours is not None:
        if files:
            from orderflow.core.errors import RequestError

            raise RequestError("--simulated-hours replaces --data: give one or the other",
                               field="simulated_hours")  # fmt: skip
        from orderflow.backtest.run import run_sources
        from orderflow.io.simulated import simulated_source

        source = simulated_source(simulated_hours, chunk_records, simulated_activity)
        names = source[0]
        result = run_with_progress(
            "backtest", names, lambda progress: run_sources([source], pipeline_params(s),
                                                            trading_params(s), opts, progress),
            json, unit="records",
        )  # fmt: skip
    else:
        if not files:
            from orderflow.core.errors import RequestError

            raise RequestError("give --data (files) or --simulated-hours", field="data")
        names = ", ".join(p.name for p in files)
        result = run_with_progress(
            "backtest", names, lambda progress: run_backtest(files, pipeline_params(s),
                                                             trading_params(s), opts, progress),
            json, unit="records",
        )  # fmt: skip
    paths = result.write(out)
    if json:
        print_json({"stats": result.stats, "signals": result.signals, "files": result.files,
                    "paths": {k: str(v) for k, v in paths.items()}})  # fmt: skip
        return
    console.print(f"[bold]backtest[/] {names}", highlight=False)
    for line in result.summary().splitlines():
        console.print("  " + line, highlight=False, soft_wrap=True)
    for w in result.stats.get("warnings", []):
        console.print(f"  [yellow]{w}[/]", highlight=False, soft_wrap=True)
    console.print(f"  report: {paths['html']} (and {len(paths) - 1} more files in {out})",
                  highlight=False, soft_wrap=True)  # fmt: skip
