"""The real `orderflow` command on the real recorded data: a process of its own for each test
whose subject is the process (exit codes and one-line errors, serving, paced output without a
terminal) and for one run of each command; the commands whose results alone are checked run in
turn in one process (tests/commands.py), once per test run for every test that reads them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.commands import Command, Ran, Shared, in_one_process_by_name, run_cli
from tests.conftest import CME_BARS, DATA_DIR, ES_MBO, ESH1_DIR, need

TWO_INSTRUMENTS = (
    DATA_DIR / "databento" / "es_nq_bbo_ohlcv" / "2024-05-09_ESM4_NQM4"
    / "futures_ohlcv-1m_2024-05-09T09-55_2024-05-09T10-05.dbn.zst"
)  # fmt: skip
ESH1_TRADES = ESH1_DIR / "test_data.trades.dbn.zst"


def es_book_json(shared: Shared) -> str:
    """``orderflow book replay ESH4 --json``'s output (its own process), run once for the
    tests that read it."""
    need(ES_MBO)
    return shared.get(
        "book replay ESH4 --json",
        lambda _: run_cli("book", "replay", str(ES_MBO), "--json").stdout,
    )


def signals_evaluate_json(shared: Shared) -> dict[str, Any]:
    """``orderflow signals evaluate ESH4 --json`` (its own process), run once for the tests
    that read it (here and tests/integration/test_signals_pull_cli.py)."""
    need(ES_MBO)
    out: dict[str, Any] = shared.get(
        "signals evaluate ESH4 --json",
        lambda _: json.loads(run_cli("signals", "evaluate", str(ES_MBO), "--json").stdout),
    )
    return out


#: every command and command group, each asked for its --help
HELP_ARGS = [
    (),
    ("book",),
    ("book", "replay"),
    ("convert",),
    ("run",),
    ("instruments",),
    ("version",),
    ("analyze",),
    ("signals",),
    ("signals", "evaluate"),
    ("serve",),
    ("feed",),
    ("replay",),
]


def _results(folder: Path) -> dict[str, Any]:
    """The commands whose results (not their process) the tests below check, in one process
    (a process each paid the interpreter's start, the imports and the kernels' load 27 times):
    each command's exit status, stdout and stderr by its name. Its inputs are written in
    ``folder`` first (a NinjaTrader Tick Replay export of ESH4, settings files)."""
    cmds: dict[str, Command] = {f"help {' '.join(a)}": Command((*a, "--help")) for a in HELP_ARGS}
    cmds["instruments"] = Command(("instruments", "--json"))
    if ES_MBO.exists():
        depth = folder / "esh4.depth.txt"
        tick = folder / "ES 03-24.Last.txt"
        _tick_replay_from_esh4(tick)
        (folder / "tick.yaml").write_text("analytics:\n  aggressor: tick\n")
        cmds |= {
            "book at": Command(("book", "replay", str(ES_MBO), "--at", "2023-12-25T23:30:00",
                                "--json")),
            "convert": Command(("convert", str(ES_MBO), str(depth), "--json")),
            "book of the conversion": Command(("book", "replay", str(depth), "--instrument",
                                               "ESH4", "--json")),
            "run no-serve": Command(("run", "--no-serve", "--json")),
            "analyze tick replay": Command(("analyze", str(tick), "--json")),
            "analyze tick replay, tick rule": Command(
                ("--config", str(folder / "tick.yaml"), "analyze", str(tick), "--json")),
        }  # fmt: skip
    if ESH1_TRADES.exists() and CME_BARS.exists():
        cmds["analyze trades"] = Command(("analyze", str(ESH1_TRADES), "--json"))
        cmds["analyze bars"] = Command(("analyze", str(CME_BARS), "--json"))
    if TWO_INSTRUMENTS.exists():
        for name, extra in (("", ()), ("ESM4", ("-i", "ESM4", "--json")),
                            ("NQM4", ("-i", "NQM4", "--json"))):  # fmt: skip
            cmds[f"analyze two {name}"] = Command(("analyze", str(TWO_INSTRUMENTS), *extra))
    # no recorded data (a data folder that does not exist, run from an empty folder): the
    # simulated market, as JSON and as text
    empty = folder / "empty"
    empty.mkdir()
    nodata = {"ORDERFLOW_DATA__DIR": str(folder / "no-data-here")}
    for name, extra in (("run no-serve no data", ("--json",)), ("run no-serve no data text", ())):
        cmds[name] = Command(("run", "--no-serve", *extra), env=nodata, cwd=str(empty))
    return {"folder": str(folder), "ran": in_one_process_by_name(cmds)}


def result(shared: Shared, name: str, check: bool = True) -> Ran:
    """What the command ``name`` of :func:`_results` did (run once per test run)."""
    got = Ran(*shared.get("test_cli results", _results)["ran"][name])
    if check:
        assert got.returncode == 0, got.stderr
    return got


@pytest.mark.parametrize("args", HELP_ARGS)
def test_every_command_has_help(args, shared):
    got = result(shared, f"help {' '.join(args)}", check=False)
    assert got.returncode == 0 and "Usage" in got.stdout, got.stdout


def test_instruments_json_has_plain_fields(shared):
    rows = json.loads(result(shared, "instruments").stdout)
    es = next(r for r in rows if r["symbol"] == "ES")
    assert es["tick_size"] == 0.25 and es["tick_value"] == 12.5 and es["standard_of"] == "MES"
    mes = next(r for r in rows if r["symbol"] == "MES")
    assert mes["micro_of"] == "ES" and mes["micro_ratio"] == 10


def test_book_replay_json_ends_at_the_known_es_book(shared):
    out = json.loads(es_book_json(shared))
    assert out["instrument"] == "ESH4"
    assert out["orders"] == 11_217
    assert (out["best_bid"], out["bids"][0]["size"]) == (4810.0, 22)
    assert (out["best_ask"], out["asks"][0]["size"]) == (4810.25, 28)
    assert out["events"] == 68_792 and out["rejected"] == {}
    assert (out["trades"], out["traded_volume"]) == (2_973, 9_892)  # the data README's counts
    assert len(out["bids"]) == 10 and len(out["asks"]) == 10


def test_book_replay_at_a_time_in_the_preopen_is_crossed_or_earlier(shared):
    need(ES_MBO)
    out = json.loads(result(shared, "book at").stdout)
    assert out["ts_event"] <= "2023-12-25T23:30:00.000000000Z"
    assert out["ts_event"] >= "2023-12-25T23:29:00"
    assert out["best_bid"] < out["best_ask"]


def test_convert_to_nt8_depth_then_replay_gives_the_same_top_10(shared):
    need(ES_MBO)
    conv = json.loads(result(shared, "convert").stdout)
    dump = Path(shared.get("test_cli results", _results)["folder"]) / "esh4.depth.txt"
    assert conv["events"] > 0 and dump.exists()
    first = dump.read_text().splitlines()[0]
    assert first.startswith("L2;")
    direct = json.loads(es_book_json(shared))
    via_nt = json.loads(result(shared, "book of the conversion").stdout)
    strip = lambda rows: [(r["price"], r["size"]) for r in rows]  # noqa: E731
    assert strip(via_nt["bids"]) == strip(direct["bids"])
    assert strip(via_nt["asks"]) == strip(direct["asks"])


def test_missing_file_is_one_clear_line_and_exit_2(tmp_path: Path):
    proc = run_cli("book", "replay", str(tmp_path / "nope.dbn"), check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1


def test_run_no_serve_replays_the_default_recording_in_process_as_json(shared):
    need(ES_MBO)
    out = json.loads(result(shared, "run no-serve").stdout)
    assert out["orders"] == 11_217
    assert out["best_ask"] == 4810.25
    assert out["analysis"]["volume"] == 9_892
    assert out["analysis"]["signals"]["counts"]["sweep"] == 6


def test_analyze_json_summarises_the_session_and_writes_files(tmp_path):
    need(ES_MBO)
    out = json.loads(
        run_cli(
            "analyze", str(ES_MBO), "--json", "--png", str(tmp_path / "png"),
            "--csv", str(tmp_path / "csv"), "--parquet", str(tmp_path / "pq"),
        ).stdout
    )  # fmt: skip
    assert (out["trades"], out["volume"], out["instrument"]) == (2_973, 9_892, "ESH4")
    assert out["cumulative_delta"]["final"] == 796
    assert out["profile"]["poc"] == 4810.0
    assert out["signals"]["counts"]["iceberg"] == 99
    for name in ("profile.png", "footprint.png"):
        assert (tmp_path / "png" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    prof = pacsv.read_csv(tmp_path / "csv" / "profile.csv").to_pydict()
    assert sum(prof["volume"]) == out["session"]["volume"]
    fp = pq.read_table(tmp_path / "pq" / "footprint_0.parquet").to_pydict()
    bars = pq.read_table(tmp_path / "pq" / "bars_0.parquet").to_pydict()
    closed = sum(v for v in bars["volume"][:-1])  # the last row is the forming bar
    assert sum(fp["bid_volume"]) + sum(fp["ask_volume"]) + sum(fp["other_volume"]) == closed
    assert pacsv.read_csv(tmp_path / "csv" / "signals.csv").num_rows == out["signals"]["total"]


def test_signals_evaluate_json_counts_every_detector(shared):
    out = signals_evaluate_json(shared)
    assert out["counts"]["iceberg"] == 99 and out["counts"]["sweep"] == 6
    assert {r["horizon_s"] for r in out["rows"]} == {1, 5, 30, 60}
    row = next(r for r in out["rows"] if r["detector"] == "iceberg" and r["horizon_s"] == 5)
    assert row["n"] == row["hits"] + row["misses"] + row["ties"]


def test_analyze_a_trades_only_file_and_a_bars_file(shared):
    need(ESH1_TRADES), need(CME_BARS)
    out = json.loads(result(shared, "analyze trades").stdout)
    assert out["kind"] == "trades" and out["trades"] > 0
    assert out["volume"] == out["session"]["volume"] or out["session"]["volume"] <= out["volume"]
    bars = json.loads(result(shared, "analyze bars").stdout)
    assert bars["kind"] == "bars" and bars["bars"] > 1000


def test_a_bad_analytics_setting_names_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("analytics:\n  book:\n    imbalance:\n      levelz: 3\n")
    proc = run_cli("--config", str(cfg), "analyze", str(ES_MBO), check=False)
    assert proc.returncode == 2
    assert "analytics.book.imbalance.levelz" in proc.stderr


def _tick_replay_from_esh4(path: Path) -> None:
    """ESH4's prints as a NinjaTrader Tick Replay export (no aggressor in the format), each with
    the L3 book's best bid/ask before its event group, written to a temporary file."""
    import numpy as np

    from orderflow.analytics.trades import trades_from_mbo
    from orderflow.book.l3 import OrderBook
    from orderflow.io.dbn import read_mbo
    from orderflow.io.ninjatrader import write_tick_replay
    from orderflow.model.dtypes import QUOTE_DTYPE
    from orderflow.model.enums import Action

    mbo, inst = read_mbo(need(ES_MBO))
    depth = OrderBook(inst).apply_mbo(mbo, record_depth=1).depth
    trades = trades_from_mbo(mbo)
    k = np.searchsorted(depth.index, np.flatnonzero(mbo["action"] == Action.TRADE)) - 1
    keep = k >= 0
    quotes = np.zeros(int(keep.sum()), dtype=QUOTE_DTYPE)
    quotes["ts_event"] = trades["ts_event"][keep]
    quotes["bid_price"] = depth.bid_price[k[keep], 0]
    quotes["ask_price"] = depth.ask_price[k[keep], 0]
    write_tick_replay(path, trades[keep], quotes, inst)


def test_analyze_ninjatrader_tick_replay_classifies_by_the_bid_ask_rule(shared):
    need(ES_MBO)
    out = json.loads(result(shared, "analyze tick replay").stdout)
    assert out["aggressor"] == "bid/ask rule"
    assert (out["trades"], out["volume"]) == (2_973, 9_892)
    # the rule gives every print CME's own aggressor but the 44-lot opening print (no side):
    # delta 796 recorded; the opening print is within the quotes, keeping the previous side
    assert abs(out["cumulative_delta"]["final"] - 796) <= 44
    # analytics.aggressor: tick in a settings file
    ticks = json.loads(result(shared, "analyze tick replay, tick rule").stdout)
    assert ticks["aggressor"] == "tick rule" and ticks["volume"] == 9_892


def _without_data(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDERFLOW_DATA__DIR": str(tmp_path / "no-data-here")}
    return run_cli(*args, env=env, cwd=tmp_path)


def test_run_no_serve_without_recorded_data_replays_a_labelled_simulated_market(shared):
    out = json.loads(result(shared, "run no-serve no data").stdout)
    assert out["simulated"] is True and out["format"] == "simulated"
    assert out["rejected"] == {} and out["analysis"]["trades"] > 0
    text = result(shared, "run no-serve no data text").stdout
    assert text.count("SIMULATED") >= 2  # said before and after the results


def test_run_without_recorded_data_serves_the_labelled_queue_reactive_market(tmp_path):
    out = json.loads(_without_data(tmp_path, "run", "--fast", "--json").stdout)
    assert out["simulated"] is True and "queue-reactive" in out["source"]
    assert out["errors"] == 0 and out["acks"] == out["batches"] > 100
    assert out["health"]["instruments"]["ES"]["stale"] is False
    a = out["analysis"]
    assert a["trades"] > 1000 and a["rejected"] == {}
    span_s = np.datetime64(a["last_ts_event"][:-1]) - np.datetime64(a["first_ts_event"][:-1])
    assert 3500 < span_s / np.timedelta64(1, "s") <= 3600  # an hour of the simulated market
    # the strategy traded the simulated market, and its account says so
    assert "SIMULATED market" in out["trading"]["account"] and out["trading"]["orders"] > 0
    # not a terminal: no live panel, plain lines with the labels and the addresses
    proc = _without_data(tmp_path, "run", "--fast")
    assert "\x1b[" not in proc.stdout
    assert proc.stdout.count("SIMULATED") >= 3  # before, on the final book, after
    for path in ("/docs", "/health", "/metrics"):
        assert "127.0.0.1:" in proc.stdout and path in proc.stdout
    assert "SIMULATED" in proc.stderr  # the log says it too


def test_analyze_a_file_of_two_instruments_needs_one_named(shared):
    need(TWO_INSTRUMENTS)
    proc = result(shared, "analyze two ", check=False)
    assert proc.returncode == 2 and "ESM4, NQM4" in proc.stderr and "--instrument" in proc.stderr
    es = json.loads(result(shared, "analyze two ESM4").stdout)
    nq = json.loads(result(shared, "analyze two NQM4").stdout)
    assert (es["instrument"], es["bars"], es["bar_seconds"]) == ("ESM4", 10, 60)
    assert (nq["instrument"], nq["bars"]) == ("NQM4", 10)
    assert 5000 < es["low"] <= es["high"] < 5300 and nq["low"] > 17000  # never mixed


def test_backtest_of_a_recordings_folder_of_two_instruments_says_so_in_one_line(tmp_path):
    from orderflow.protocol import Batch, Depth
    from orderflow.server.recording import Recorder

    t0 = 1_703_545_200_000_000_000
    rec = Recorder(tmp_path / "rec")
    for name in ("ES 03-24", "NQ 03-24"):
        rec.append(Batch(name, 1, snapshot=True, depth=[Depth(t0, "bid", "add", 0, 4810.0, 5)]),
                   "nt", t0 + 10)  # fmt: skip
    rec.close()
    out = tmp_path / "out"
    proc = run_cli("backtest", "--data", str(tmp_path / "rec"), "--out", str(out), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        == f"error: {tmp_path / 'rec'}: recordings of 2 instruments; open one folder"
    )


def test_serve_refuses_to_bind_beyond_loopback_without_a_token():
    proc = run_cli("serve", "--host", "0.0.0.0", check=False)
    assert proc.returncode == 2 and "server.token" in proc.stderr


def test_feed_plays_the_recording_into_a_running_server():
    from tests.integration.test_server import Server

    server = Server()
    try:
        out = json.loads(
            run_cli("feed", str(need(ES_MBO)), "--url", server.ws, "--fast", "--json").stdout
        )
    finally:
        server.stop()
    assert out["errors"] == 0 and out["acks"] == out["batches"] > 400
    assert out["metrics"]["cumulative_delta"] == 840
    assert out["book"]["bids"][0] == [4810.0, 22] and out["book"]["asks"][0] == [4810.25, 28]


def test_run_serves_the_recording_through_the_real_server_by_default():
    need(ES_MBO)
    out = json.loads(run_cli("run", "--fast", "--json").stdout)
    assert out["simulated"] is False and out["errors"] == 0
    assert out["acks"] == out["batches"] > 400
    assert out["analysis"]["volume"] == 9_892
    assert out["analysis"]["cumulative_delta"]["final"] == 840  # bid/ask rule, as NinjaTrader's
    assert out["health"]["instruments"]["ESH4"]["stale"] is False
    assert {"docs", "health", "metrics", "websocket"} <= set(out["urls"])
    assert out["speed"] is None
    # the reference strategy traded on the server; a simulated account's venue filled it
    t = out["trading"]
    assert "simulated account" in t["account"] and out["report_batches"] > 0
    assert (t["entries"], t["orders"], t["fills"], t["position"]) == (3, 19, 8, 1)
    assert t["risk"]["realised_today"] == 356.81 and t["risk"]["kill"] is False
    assert sum(r["net"] for r in t["trades"]) == pytest.approx(t["stats"]["net"])


def test_run_paces_from_the_first_print_and_prints_plain_lines_without_a_terminal(tmp_path):
    """At a replay speed the pre-open (no prints) goes by at once and pacing starts at the
    first print; off a terminal the view is a progress line every few seconds."""
    need(ES_MBO)
    proc = run_cli("run", "--speed", "600")
    text = proc.stdout
    assert "\x1b[" not in text
    lines = [ln for ln in text.splitlines() if ln.startswith("[") and "fed" in ln]
    assert lines and "imbalance" in lines[-1] and "VWAP" in lines[-1]
    assert "/docs" in text and "/health" in text and "/metrics" in text
    assert "ESH4 at 2023-12-25T23:59:59.446724905Z" in text  # the final book
    fed = next(ln for ln in text.splitlines() if ln.startswith("fed "))
    seconds = float(fed.split(" in ")[1].split(" s")[0])
    assert 5.5 < seconds < 30  # the trading hour at 600x is 6 s; the pre-open is not paced
