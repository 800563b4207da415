"""``orderflow analyze`` (a file's session summary, charts and tables) and ``orderflow signals``
(the detectors measured on recorded data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderflow.cli.context import InstrumentOpt, JsonOpt, TzOpt, settings
from orderflow.cli.logs import stage
from orderflow.cli.output import console, print_analysis, print_json, px
from orderflow.cli.progress import run_pipeline

__all__ = ["analyze", "signals_app"]

signals_app = typer.Typer(
    help="Signals: measure the detectors on recorded data.", no_args_is_help=True
)


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
    tz: TzOpt = None,
    json: JsonOpt = False,
) -> None:
    """Session summary of FILE: volume, VWAP, profile (POC, value area), cumulative delta,
    bars, top clusters, signal counts; optionally charts (PNG) and tables (CSV/Parquet)."""
    from orderflow.engine.runner import BarsOnly, bars_summary, summarize

    tables = csv is not None or parquet is not None  # a table of every signal
    result, fmt = run_pipeline(file, instrument, quiet=json, keep_mid_path=False, tz=tz,
                               keep_signals=tables)  # fmt: skip
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
                f"O {px(sm['open'])} H {px(sm['high'])} L {px(sm['low'])} "
                f"C {px(sm['close'])}, volume {sm['volume']:,}, ATR(14) {sm['atr']:.4g}"
            )
            console.print(
                f"last bar {last['ts_open']}: O {px(last['open'])} H {px(last['high'])} "
                f"L {px(last['low'])} C {px(last['close'])} vol {last['volume']:,}"
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
    print_analysis(summary)
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
    pipe, fmt = run_pipeline(file, instrument, quiet=json, keep_mid_path=True, measure=True,
                             keep_signals=True)  # fmt: skip
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
