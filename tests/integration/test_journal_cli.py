"""`orderflow journal ...`, the real command, on a journal written by the trading layer: trades,
P&L by day and the performance figures as --json values (the commands whose answers are read run
in turn in one process; the one-line errors each in a process of its own)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orderflow.trading.journal import Journal
from orderflow.trading.orders import Fill, Side
from tests.commands import Command, Ran, Shared, in_one_process_by_name, run_cli

T0 = 1_709_650_800_000_000_000  # 2024-03-05 15:00 UTC, 09:00 CT
MINUTE, DAY = 60_000_000_000, 86_400_000_000_000
SUBS = ("trades", "pnl", "stats", "events")


def _write_journal(path: Path) -> None:
    """Six long ES round trips, $1.00 commission a side: +8, -4, -12, +20 ticks on
    2024-03-05, -2, +6 ticks on 2024-03-06 (nets 98, -52, -152, 248 | -27, 73)."""
    with Journal(path) as j:
        for i, ticks in enumerate([8, -4, -12, 20, -2, 6]):
            t = T0 + i * MINUTE + (DAY if i >= 4 else 0)
            one = Decimal(1)
            j.execution(Fill(f"A{i}", f"of-{i}a", t, 20000, 1, Side.BUY, one, Decimal(0), "ESH4",
                             "Sim101"))  # fmt: skip
            j.execution(Fill(f"B{i}", f"of-{i}b", t + 1, 20000 + ticks, 1, Side.SELL, one,
                             Decimal(0), "ESH4", "Sim101"))  # fmt: skip


def _answers(folder: Path) -> dict[str, Any]:
    """The journal written in ``folder``, then every command the tests read the answer of in
    one process (tests/commands.py; a process each paid the interpreter's start and the
    imports 10 times), once per test run: each command's exit status, stdout and stderr by its
    name. The one-line errors run as processes of their own in their test."""
    journal = folder / "orderflow.sqlite"
    _write_journal(journal)
    cfg = folder / "c.yaml"
    cfg.write_text(f"trading:\n  journal: {journal}\n")
    j = ("--journal", str(journal))
    cmds = {
        "stats": ("journal", "stats", *j, "--json"),
        "stats day 2": ("journal", "stats", "--day", "2024-03-06", *j, "--json"),
        "pnl": ("journal", "pnl", *j, "--json"),
        "trades day 2": ("journal", "trades", "--day", "2024-03-06", *j, "--json"),
        "trades table": ("journal", "trades", *j),
        "events": ("-c", str(cfg), "journal", "events", "--since", "10", "--json"),
    } | {f"help {sub}": ("journal", sub, "--help") for sub in SUBS}
    ran = in_one_process_by_name({name: Command(args) for name, args in cmds.items()})
    return {"journal": str(journal), "ran": ran}


@pytest.fixture
def journal(shared: Shared) -> Path:
    return Path(shared.get("journal answers", _answers)["journal"])


def run(shared: Shared, name: str, check: bool = True) -> Ran:
    """What the command ``name`` of :func:`_answers` did."""
    got = Ran(*shared.get("journal answers", _answers)["ran"][name])
    if check:
        assert got.returncode == 0, got.stderr
    return got


def test_stats_json(shared: Shared) -> None:
    out = json.loads(run(shared, "stats").stdout)
    assert out == {
        "trades": 6, "wins": 3, "losses": 3, "scratches": 0, "net": 188.0, "gross": 200.0,
        "commission": 12.0, "fees": 0.0, "win_rate": 0.5, "avg_win": 139.67, "avg_loss": -77.0,
        "expectancy": 31.33, "profit_factor": 1.8139, "max_drawdown": 204.0,
        "largest_win": 248.0, "largest_loss": -152.0,
    }  # fmt: skip
    day2 = json.loads(run(shared, "stats day 2").stdout)
    assert (day2["trades"], day2["net"], day2["max_drawdown"], day2["profit_factor"]) == (
        2,
        46.0,
        27.0,
        2.7037,  # 73 / 27
    )


def test_pnl_by_day_json(shared: Shared) -> None:
    out = json.loads(run(shared, "pnl").stdout)
    assert out == [
        {"day": "2024-03-05", "trades": 4, "wins": 2, "losses": 2, "gross": 150.0,
         "commission": 8.0, "fees": 0.0, "net": 142.0},
        {"day": "2024-03-06", "trades": 2, "wins": 1, "losses": 1, "gross": 50.0,
         "commission": 4.0, "fees": 0.0, "net": 46.0},
    ]  # fmt: skip


def test_trades_json_in_exchange_units(shared: Shared) -> None:
    out = json.loads(run(shared, "trades day 2").stdout)
    assert [t["number"] for t in out] == [5, 6]
    first = out[0]
    assert (first["day"], first["instrument"], first["direction"]) == ("2024-03-06", "ESH4", "long")
    assert (first["avg_entry"], first["avg_exit"], first["pnl_ticks"]) == (5000.0, 4999.5, -2.0)
    assert (first["gross"], first["commission"], first["net"], first["mae"]) == (
        -25.0,
        2.0,
        -27.0,
        25.0,
    )
    assert first["executions"] == ["A4", "B4"]
    table = run(shared, "trades table").stdout
    assert "Trades" in table and "5002" in table


def test_events_and_the_settings_path(shared: Shared) -> None:
    # the journal named by trading.journal in a settings file (-c)
    out = json.loads(run(shared, "events").stdout)
    assert [(e["seq"], e["kind"], e["cid"]) for e in out] == [
        (11, "execution", "of-5a"), (12, "execution", "of-5b")
    ]  # fmt: skip
    assert out[1]["payload"]["price_ticks"] == 20006 and out[1]["payload"]["commission"] == "1"


def test_missing_journal_and_bad_day_are_one_line_errors(
    tmp_path: Path, journal: Path, shared: Shared
) -> None:
    proc = run_cli("journal", "stats", "--journal", str(tmp_path / "none.sqlite"), check=False)
    assert proc.returncode == 2 and "no journal at" in proc.stderr
    assert not (tmp_path / "none.sqlite").exists()  # reading never creates one
    proc = run_cli("journal", "trades", "--day", "05/03/2024", "--journal", str(journal),
                   check=False)  # fmt: skip
    assert proc.returncode == 2 and "YYYY-MM-DD" in proc.stderr
    # the four commands' --help
    for sub in SUBS:
        got = run(shared, f"help {sub}", check=False)
        assert got.returncode == 0 and "--json" in got.stdout, got.stdout
