"""``orderflow journal check`` and ``orderflow journal repair``: what is wrong with the trading
journal, and a repaired copy (``orderflow.trading.journal_check``). Registered on the
``journal`` command group by :mod:`orderflow.cli.journal`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderflow.cli.context import JsonOpt, settings
from orderflow.cli.output import console, print_json

__all__ = ["register"]

PathOpt = Annotated[
    Path | None,
    typer.Option("--journal", help="Journal file (else trading.journal)."),
]


def _path(path: Path | None) -> Path:
    return Path(path or settings().trading.journal).absolute()


def check(journal: PathOpt = None, json: JsonOpt = False) -> None:
    """Check the journal: SQLite's integrity_check and every record against what a restore
    needs (finite, plausible prices, quantities and amounts). Lists the records that do not
    restore by seq. Exit code 0 when it is sound, 1 when it is not."""
    from orderflow.trading.journal_check import check_journal

    got = check_journal(_path(journal))
    if json:
        print_json(got.to_dict())
    else:
        console.print(got.summary(), highlight=False, soft_wrap=True)
        for line in got.integrity:
            console.print(f"  integrity: {line}", highlight=False, soft_wrap=True)
        for b in got.bad:
            console.print(f"  seq {b.seq} {b.kind} client={b.client or '-'}: {b.reason}",
                          highlight=False, soft_wrap=True)  # fmt: skip
        if not got.ok and got.exists:
            fix = "orderflow journal repair (keeps every record that restores, moves it aside)"
            console.print(f"  fix: {fix}", highlight=False, soft_wrap=True)
    if not got.ok:
        raise typer.Exit(1)


def repair(journal: PathOpt = None, json: JsonOpt = False) -> None:
    """Repair the journal (stop the server first): the records that read and restore are
    copied, with their seq, into a new file that takes its place; the damaged file is moved
    aside (never deleted). On its next start the server holds each client's kill switch
    (journal_repaired) until it is reset with POST /api/kill/reset."""
    from orderflow.trading.journal_check import repair_journal

    out = repair_journal(_path(journal))
    if json:
        print_json(out)
    else:
        console.print(out["summary"], highlight=False, soft_wrap=True)


def register(group: typer.Typer) -> None:
    group.command("check")(check)
    group.command("repair")(repair)
