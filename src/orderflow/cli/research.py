"""``orderflow sweep`` and the Parquet side of ``orderflow convert`` (registered on the app
by ``cli.main``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow.cli.context import STATE
from orderflow.cli.output import console, err_console, print_json, rich_console
from orderflow.core.errors import ConfigError

EPILOG = (
    "Examples:  orderflow sweep --data ESH4.mbo.dbn.zst --grid trading.strategy.stop_loss_ticks="
    "6,8,12 --grid trading.strategy.entry_score=1,1.5 --out sweeps/a --processes 2   |   "
    "orderflow sweep --data F --random 40 --range trading.strategy.entry_score=0.5:3 "
    "--choice trading.strategy.entry_type=market,limit --seed 7 --out sweeps/b   |   "
    "orderflow sweep --file sweep.yaml --out sweeps/c --ray-address auto"
)


class _Progress:
    """A bar over jobs on a terminal (stderr), plain lines otherwise (every 5 s and at the end)."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label, self.quiet = label, quiet
        self.tty = err_console.is_terminal
        self.bar: Any = None
        self.task: Any = None
        self.last = 0.0
        self.t0 = time.perf_counter()

    def __enter__(self) -> _Progress:
        if not self.quiet and self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn(f"[bold]{self.label}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("jobs"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=rich_console(err_console),
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
            return
        now = time.perf_counter()
        if done in (0, total) or now - self.last >= 5.0:
            self.last = now
            sys.stderr.write(f"[{now - self.t0:6.1f} s] {self.label}: {done}/{total} jobs\n")
            sys.stderr.flush()


def sweep(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results and best reports.")],
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            "-d",
            help="Data file or Parquet store (--data A B or --data A --data B; in time order).",
        ),
    ] = None,
    more: Annotated[
        list[Path] | None,
        typer.Argument(
            help="More data files after --data's first (--data A B).", show_default=False
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="A sweep file (YAML); flags override it.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Base settings YAML of every job (else the global one)."),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", "-g", help="KEY=V1,V2,... (dotted setting key; repeat: product)."),
    ] = None,
    random: Annotated[
        int | None, typer.Option("--random", "-r", min=1, help="Random search: N draws.")
    ] = None,
    range_: Annotated[
        list[str] | None,
        typer.Option("--range", help="KEY=LO:HI (ints: inclusive integers; else floats)."),
    ] = None,
    choice: Annotated[
        list[str] | None, typer.Option("--choice", help="KEY=A,B,... (one drawn per job).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the random search's draws.")
    ] = None,
    backtest_seed: Annotated[
        int | None, typer.Option("--backtest-seed", help="Seed of every backtest (latency).")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="BacktestOptions field for every job: KEY=VALUE (repeat)."),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option("--processes", "-p", min=1, help="Local processes (default: the CPUs)."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Run on Ray: auto, ray://HOST:10001, or local."),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", "-k", min=0, help="Best K reports.")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="Rank by this stat.")] = None,
    ascending: Annotated[
        bool, typer.Option("--ascending", help="Smallest first (e.g. max_drawdown).")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run a parameter sweep: a grid or a random search over settings, each job a
    deterministic backtest, in parallel (local processes or Ray), ranked by a metric, with the
    best runs' full reports. Writes results.csv, results.parquet, sweep.json and best/."""
    from orderflow.research.study import (
        SweepSpec,
        config_of,
        load_spec,
        parse_range,
        parse_values,
        run_sweep,
    )

    spec = load_spec(file) if file is not None else SweepSpec(data=[])
    if data or more:
        spec.data = [str(p) for p in [*(data or []), *(more or [])]]
    if not spec.data:
        raise ConfigError("no data: give --data FILE (or data: in the sweep file)", field="data")
    cfg = config or (STATE.config_path if file is None else None)
    if cfg is not None:
        spec.config = config_of(cfg)
    if grid:
        spec.grid = dict(parse_values(g, "--grid") for g in grid)
        spec.random_n = 0
    if random is not None:
        spec.random_n, spec.grid = random, {}
    if range_:
        spec.ranges = dict(parse_range(r) for r in range_)
    if choice:
        spec.choices = dict(parse_values(c, "--choice") for c in choice)
    if seed is not None:
        spec.random_seed = seed
    if backtest_seed is not None:
        spec.seed = backtest_seed
    for o in option or []:
        key, values = parse_values(o, "--option")
        spec.options[key] = values[0]
    if top is not None:
        spec.top = top
    if metric is not None:
        spec.metric = metric
    if ascending:
        spec.ascending = True
    n = len(spec.jobs())
    where = f"Ray at {ray_address}" if ray_address else f"{processes or 'all'} process(es)"
    with _Progress(f"sweep of {n} jobs on {where}", quiet=json) as progress:
        result = run_sweep(spec, out, processes, ray_address, progress)
    if json:
        print_json(result)
        return
    _print_sweep(result, out)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.3f}"
    return str(v)


def _print_sweep(result: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    metric = result["metric"]
    keys = [c for c in result["columns"][2:] if "." in c]
    show = [metric] + [c for c in ("net_pnl", "trades", "win_rate", "profit_factor",
                                   "max_drawdown") if c != metric]  # fmt: skip
    table = Table(title=f"sweep: {result['jobs']} jobs ranked by {metric}", header_style="bold")
    for c in ["#", "job", *[k.rsplit(".", 1)[-1] for k in keys], *show, "fills"]:
        table.add_column(c, justify="right", overflow="fold")
    for row in result["rows"][:20]:
        cells = [row["rank"], row["job"], *[row.get(k) for k in keys], *[row.get(c) for c in show],
                 row.get("fills")]  # fmt: skip
        table.add_row(*(_cell(v) for v in cells))
    if console.is_terminal:
        console.print(table)
    else:  # a log or a pipe: one line a row, not the 80 columns rich assumes
        from rich.console import Console

        Console(width=160).print(table)
    if result["jobs"] > 20:
        console.print(f"(20 of {result['jobs']} shown; all in {result['tables']['csv']})")
    if result["failed"]:
        console.print(f"[bold red]{result['failed']} job(s) failed[/] (see the error column)")
    for b in result["best"]:
        same = "" if b["same_as_sweep"] else "  [bold red]NOT the sweep's result[/]"
        console.print(f"report of job {b['job']}: {b['report']}{same}")
    console.print(f"{result['jobs']} jobs in {result['wall_s']:.1f} s; tables in {out}")


def convert_parquet(
    files: list[Path], root: Path, instrument: Any, chunk_records: int
) -> list[Any]:
    """Each file (a data file, or a server recording folder/file) into the Parquet store."""
    from orderflow.cli.recordings import convert_recordings, is_recording
    from orderflow.io.parquet_store import convert_to_store

    out = []
    for f in files:
        if is_recording(f):
            out += convert_recordings(f, root, chunk_records)
        else:
            out.append(convert_to_store(f, root, chunk_records, instrument))
    return out
