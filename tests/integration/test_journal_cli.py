"""`orderflow journal ...`, the real command as a subprocess, on a journal written by the
trading layer: trades, P&L by day and the performance figures as --json values."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from orderflow.trading.journal import Journal
from orderflow.trading.orders import Fill, Side
from tests.conftest import PROJECT_ROOT
from tests.integration.test_cli import HELP_PROBE

ORDERFLOW = [sys.executable, "-m", "orderflow.cli.main"]
T0 = 1_709_650_800_000_000_000  # 2024-03-05 15:00 UTC, 09:00 CT
MINUTE, DAY = 60_000_000_000, 86_400_000_000_000


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*ORDERFLOW, *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=120)  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six long ES round trips, $1.00 commission a side: +8, -4, -12, +20 ticks on
    2024-03-05, -2, +6 ticks on 2024-03-06 (nets 98, -52, -152, 248 | -27, 73)."""
    path = tmp_path_factory.mktemp("journal") / "orderflow.sqlite"
    with Journal(path) as j:
        for i, ticks in enumerate([8, -4, -12, 20, -2, 6]):
            t = T0 + i * MINUTE + (DAY if i >= 4 else 0)
            one = Decimal(1)
            j.execution(Fill(f"A{i}", f"of-{i}a", t, 20000, 1, Side.BUY, one, Decimal(0), "ESH4",
                             "Sim101"))  # fmt: skip
            j.execution(Fill(f"B{i}", f"of-{i}b", t + 1, 20000 + ticks, 1, Side.SELL, one,
                             Decimal(0), "ESH4", "Sim101"))  # fmt: skip
    return path


def test_stats_json(journal: Path) -> None:
    out = json.loads(run("journal", "stats", "--journal", str(journal), "--json").stdout)
    assert out == {
        "trades": 6, "wins": 3, "losses": 3, "scratches": 0, "net": 188.0, "gross": 200.0,
        "commission": 12.0, "fees": 0.0, "win_rate": 0.5, "avg_win": 139.67, "avg_loss": -77.0,
        "expectancy": 31.33, "profit_factor": 1.8139, "max_drawdown": 204.0,
        "largest_win": 248.0, "largest_loss": -152.0,
    }  # fmt: skip
    day2 = json.loads(
        run("journal", "stats", "--day", "2024-03-06", "--journal", str(journal), "--json").stdout
    )
    assert (day2["trades"], day2["net"], day2["max_drawdown"], day2["profit_factor"]) == (
        2,
        46.0,
        27.0,
        2.7037,  # 73 / 27
    )


def test_pnl_by_day_json(journal: Path) -> None:
    out = json.loads(run("journal", "pnl", "--journal", str(journal), "--json").stdout)
    assert out == [
        {"day": "2024-03-05", "trades": 4, "wins": 2, "losses": 2, "gross": 150.0,
         "commission": 8.0, "fees": 0.0, "net": 142.0},
        {"day": "2024-03-06", "trades": 2, "wins": 1, "losses": 1, "gross": 50.0,
         "commission": 4.0, "fees": 0.0, "net": 46.0},
    ]  # fmt: skip


def test_trades_json_in_exchange_units(journal: Path) -> None:
    out = json.loads(
        run("journal", "trades", "--day", "2024-03-06", "--journal", str(journal), "--json").stdout
    )
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
    table = run("journal", "trades", "--journal", str(journal)).stdout
    assert "Trades" in table and "5002" in table


def test_events_and_the_settings_path(journal: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"trading:\n  journal: {journal}\n")
    out = json.loads(run("-c", str(cfg), "journal", "events", "--since", "10", "--json").stdout)
    assert [(e["seq"], e["kind"], e["cid"]) for e in out] == [
        (11, "execution", "of-5a"), (12, "execution", "of-5b")
    ]  # fmt: skip
    assert out[1]["payload"]["price_ticks"] == 20006 and out[1]["payload"]["commission"] == "1"


def test_missing_journal_and_bad_day_are_one_line_errors(tmp_path: Path, journal: Path) -> None:
    proc = run("journal", "stats", "--journal", str(tmp_path / "none.sqlite"), check=False)
    assert proc.returncode == 2 and "no journal at" in proc.stderr
    assert not (tmp_path / "none.sqlite").exists()  # reading never creates one
    proc = run("journal", "trades", "--day", "05/03/2024", "--journal", str(journal), check=False)
    assert proc.returncode == 2 and "YYYY-MM-DD" in proc.stderr
    # the four commands' --help in one process (test_cli.py's probe), not an interpreter each
    subs = ("trades", "pnl", "stats", "events")
    proc = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, json.dumps([["journal", sub] for sub in subs])],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    helps = json.loads(proc.stdout)
    for sub in subs:
        code, text = helps[f"journal {sub}"]
        assert code == 0 and "--json" in text, text
