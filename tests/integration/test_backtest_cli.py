"""`orderflow backtest` as a subprocess on the real data: the report's files exist, and its
trade list reconciles exactly (to the cent) with its equity curve, its daily P&L and its
statistics, each recomputed here from the CSVs alone."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.commands import Command, Ran, Shared, in_one_process_by_name, orderflow_env, run_cli
from tests.conftest import CME_BARS, ES_MBO, ES_MBO_SNAPSHOT, need
from tests.serving import PYTHONPATH

FILES = ("trades.csv", "daily.csv", "equity.csv", "stats.json", "equity.png", "drawdown.png",
         "report.html")  # fmt: skip

pytestmark = pytest.mark.slow


def _cents(x: float | str) -> int:
    return round(float(x) * 100)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def backtest(
    data: Path, out: Path, *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """``orderflow backtest --data DATA --out OUT --json EXTRA`` in a process of its own."""
    proc = run_cli("backtest", "--data", str(data), "--out", str(out), "--json", *extra, env=env)
    out_json: dict[str, Any] = json.loads(proc.stdout)
    return out_json


def esh4_backtest(shared: Shared) -> tuple[dict[str, Any], Path]:
    """The reference strategy's backtest of ESH4 with the default settings (no ``ORDERFLOW_``
    setting in its environment), in a process of its own, run once per test run for the tests
    that read it (here, test_backtest_exits.py and test_view_results.py): its --json result
    and its report's folder (``esh4-run``, read only)."""

    def run(folder: Path) -> dict[str, Any]:
        out = folder / "esh4-run"
        return {"result": backtest(ES_MBO, out, env=orderflow_env(PYTHONPATH=PYTHONPATH)),
                "out": str(out)}  # fmt: skip

    need(ES_MBO)
    got = shared.get("backtest ESH4 default settings", run)
    return got["result"], Path(got["out"])


def reconcile(res: dict[str, Any], out: Path) -> list[dict[str, str]]:
    """Every figure of the report against the trade list (module docstring)."""
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    assert {Path(p).name for p in res["paths"].values()} == set(FILES)
    stats = res["stats"]
    assert json.loads((out / "stats.json").read_text())["stats"] == stats
    trades = _rows(out / "trades.csv")
    equity = _rows(out / "equity.csv")
    daily = _rows(out / "daily.csv")
    nets = [_cents(t["net"]) for t in trades]
    # each trade's net is its gross less its costs, to the cent
    for t, n in zip(trades, nets, strict=True):
        assert n == _cents(t["gross"]) - _cents(t["commission"]) - _cents(t["fees"])
    # the equity curve: 0 at the start, then the cumulative net at each exit, at its time
    assert len(equity) == len(trades) + 1 and _cents(equity[0]["equity"]) == 0
    cum = 0
    for t, e, n in zip(trades, equity[1:], nets, strict=True):
        cum += n
        assert _cents(e["equity"]) == cum == _cents(t["equity"])
        assert e["ts_ns"] == t["closed_t"]
    curve = [_cents(e["equity"]) for e in equity]
    peak, dd = 0, 0
    for v in curve:
        peak = max(peak, v)
        dd = max(dd, peak - v)
        assert _cents(equity[curve.index(v)]["drawdown"]) <= 0
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    assert stats["trades"] == len(trades) and stats["wins"] == len(wins)
    assert stats["losses"] == len(losses)
    assert _cents(stats["net_pnl"]) == sum(nets) == cum
    assert _cents(stats["gross"]) == sum(_cents(t["gross"]) for t in trades)
    assert _cents(stats["commissions"]) == sum(_cents(t["commission"]) for t in trades)
    assert _cents(stats["fees"]) == sum(_cents(t["fees"]) for t in trades)
    assert _cents(stats["max_drawdown"]) == dd
    if trades:
        assert stats["win_rate"] == round(len(wins) / len(trades), 4)
        assert _cents(stats["expectancy"]) == round(sum(nets) / len(trades))
    if wins:
        assert _cents(stats["avg_win"]) == round(sum(wins) / len(wins))
    if losses:
        assert _cents(stats["avg_loss"]) == round(sum(losses) / len(losses))
        assert stats["profit_factor"] == round(sum(wins) / -sum(losses), 4)
    # daily P&L: the trades closing each day; returns over the capital; Sharpe and Sortino
    by_day: dict[str, int] = {}
    for t, n in zip(trades, nets, strict=True):
        by_day[t["day"]] = by_day.get(t["day"], 0) + n
    assert {d["day"]: _cents(d["net"]) for d in daily if int(d["trades"])} == by_day
    assert sum(_cents(d["net"]) for d in daily) == sum(nets)
    assert stats["days"] == len(daily)
    r = [_cents(d["net"]) / 100 / stats["capital"] for d in daily]
    if len(r) < 2:
        assert stats["sharpe"] is None and stats["sortino"] is None
    else:
        mean = sum(r) / len(r)
        sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
        down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
        assert stats["sharpe"] == pytest.approx(mean / sd * math.sqrt(252), rel=1e-9)
        assert stats["sortino"] == pytest.approx(mean / down * math.sqrt(252), rel=1e-9)
    # exposure: the share of the data's time with a position open
    first = min(int(t["opened_t"]) for t in trades) if trades else 0
    assert 0 <= stats["exposure"] <= 1 and (not trades or first >= 0)
    return trades


def test_the_reference_strategy_on_esh4_reports_a_reconciled_backtest(shared: Shared) -> None:
    res, out = esh4_backtest(shared)
    trades = reconcile(res, out)
    s = res["stats"]
    assert s["events"] == 68_792 and s["groups"] == 47_022
    # the figures of this run (default settings, decide every 100 records), read once and
    # checked against the trade list above: 7 round trips of 2 ES, costs of the default profile
    assert s["trades"] == 7 and len(trades) == 7
    assert s["net_pnl"] == -453.12 and s["commissions"] == 36.12 and s["fees"] == 42.0
    assert s["days"] == 1 and s["sharpe"] is None  # one trading day: no dispersion
    assert res["signals"]["total"] == 209 and res["signals"]["entries_filled"] == 7
    # every contract bought was sold: flat at the end
    assert sum(int(t["entry_quantity"]) for t in trades) == sum(
        int(t["exit_quantity"]) for t in trades
    )
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<table" in page
    assert "http" not in page.split("<body>")[1]  # self-contained: nothing fetched


def _recording_of_esh4(folder: Path) -> int:
    """ESH4 recorded in ``folder`` as the bridge's 439 batches (written by the server's
    Recorder); the depth events recorded."""
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream
    from orderflow.server.recording import Recorder

    rec = Recorder(folder)
    batches = build_batches(load_stream(ES_MBO))
    for fb in batches:
        rec.append(fb.batch, "nt8", fb.t_last + 1_000_000)
    rec.close()
    return sum(len(fb.batch.depth) for fb in batches)


def _backtests(folder: Path) -> dict[str, Any]:
    """The backtests of the tests below in turn in one process (tests/commands.py; a process
    each paid the interpreter's start, the imports and the kernels' load four times; the
    command's own process is :func:`esh4_backtest`'s), once per test run: each one's result
    by its name, its report in ``folder / name``."""
    events = _recording_of_esh4(folder / "recordings")
    data = {
        "nt": (str(ES_MBO), "--view", "ninjatrader"),
        "6e": (str(CME_BARS),),
        "two": (str(ES_MBO_SNAPSHOT), str(ES_MBO)),
        "recordings": (str(folder / "recordings"),),
    }
    cmds = {name: Command(("backtest", "--data", *d[:1], "--out", str(folder / name), "--json",
                           *d[1:])) for name, d in data.items()}  # fmt: skip
    ran = in_one_process_by_name(cmds)
    return {"folder": str(folder), "ran": ran, "recorded_events": events}


def backtested(shared: Shared, name: str) -> tuple[dict[str, Any], Path]:
    """The result of :func:`_backtests`' backtest ``name`` and its report's folder."""
    for path in (ES_MBO, ES_MBO_SNAPSHOT, CME_BARS):
        need(path)
    got = shared.get("backtest_cli backtests", _backtests)
    ran = Ran(*got["ran"][name])
    assert ran.returncode == 0, ran.stderr
    res: dict[str, Any] = json.loads(ran.stdout)
    return res, Path(got["folder"]) / name


def test_the_ninjatrader_view_backtests_what_the_live_server_sees(shared: Shared) -> None:
    """--view ninjatrader: the bridge's 439 batches of NinjaTrader depth, a decision after
    each, the L2 detectors only (NinjaTrader has no order ids); the report still reconciles.
    The live path gives the same orders and fills (tests/integration/test_parity.py)."""
    res, out = backtested(shared, "nt")
    trades = reconcile(res, out)
    s = res["stats"]
    assert s["groups"] == 439 and s["decisions"] == 439
    assert res["signals"]["total"] == 89 and set(res["signals"]["counts"]) == {
        "absorption", "exhaustion", "iceberg_l2", "sweep"}  # fmt: skip
    assert s["trades"] == len(trades) == 3 and s["net_pnl"] == 404.02


def test_a_bar_only_backtest_on_a_month_of_6e_bars_runs_and_reports(shared: Shared) -> None:
    res, out = backtested(shared, "6e")
    reconcile(res, out)
    s = res["stats"]
    assert s["events"] == 29_996 and res["files"][0]["kind"] == "bars"
    assert s["trades"] > 100 and s["days"] >= 20  # January 2024's trading days
    assert s["sharpe"] is not None and s["sortino"] is not None
    assert res["signals"]["counts"] == {"bar_breakout": res["signals"]["total"]}
    assert any("no costs for 6E" in w for w in s["warnings"])


def test_several_files_after_one_data_flag(shared: Shared) -> None:
    """--data A B (the documented form) as well as --data A --data B: both files, in order."""
    res, _ = backtested(shared, "two")
    assert [Path(f["path"]).name for f in res["files"]] == [ES_MBO_SNAPSHOT.name, ES_MBO.name]


def test_a_backtest_of_the_servers_own_recording(shared: Shared) -> None:
    """The server's recordings (what NinjaTrader sent it) backtest directly: ESH4 recorded as
    the bridge's 439 batches (written by the server's Recorder), then --data recordings/."""
    res, out = backtested(shared, "recordings")
    events = shared.get("backtest_cli backtests", _backtests)["recorded_events"]
    assert res["stats"]["events"] == events and res["files"][0]["kind"] == "nt_depth"
    assert res["signals"]["total"] > 50 and res["stats"]["trades"] >= 1
    reconcile(res, out)
