"""``orderflow journal``: the trading journal's trades, P&L by day, performance and records
(``check`` and ``repair``: :mod:`orderflow.cli.journal_tools`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow.cli import journal_tools
from orderflow.cli.context import JsonOpt, settings
from orderflow.cli.output import console, print_json
from orderflow.core.time import ns_to_iso

__all__ = ["journal_app"]

journal_app = typer.Typer(
    help="The trading journal: trades, P&L by day, performance (trading.journal).",
    no_args_is_help=True,
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

    from orderflow.trading.exit_reasons import journal_exit_reasons, with_reasons
    from orderflow.trading.journal import trade_rows

    rows = trade_rows(_journal_trades(journal, day, client))
    with _open_journal(journal) as j:
        rows = with_reasons(rows, journal_exit_reasons(j, client))
    if json:
        print_json(rows)
        return
    table = Table(title="Trades", header_style="bold")
    for col in ("#", "day", "instrument", "side", "qty", "entry", "exit", "ticks", "net",
                "MAE", "MFE", "reason"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["number"]), r["day"], r["instrument"], r["direction"], str(r["max_quantity"]),
            f"{r['avg_entry']:g}", f"{r['avg_exit']:g}", f"{r['pnl_ticks']:g}",
            f"{r['net']:,.2f}", f"{r['mae']:,.2f}", f"{r['mfe']:,.2f}", r["reason"],
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


journal_tools.register(journal_app)
