"""The SIMULATED day's path, on ten minutes of it: the backtest reads the generated chunks as
they are made (never more than two chunks alive, each bounded by the chunk size), and its
result equals the backtest of the same records generated in one piece; the CLI runs it and
labels it SIMULATED."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from orderflow.backtest.options import BacktestOptions
from orderflow.backtest.run import run_sources
from orderflow.io import queue_reactive
from orderflow.io.queue_reactive import QRParams
from orderflow.io.simulated import DAY_ACTIVITY, simulate_mbo, simulated_source
from orderflow.io.stream import Chunk, Opened
from orderflow.research.sweep import TIMING_KEYS
from tests.commands import Command, in_one_process
from tests.conftest import PROJECT_ROOT

HOURS = 10 / 60
CHUNK = 8192


def _stats(result: object) -> dict[str, object]:
    return {k: v for k, v in result.stats.items() if k not in TIMING_KEYS}  # type: ignore[attr-defined]


def test_ten_minutes_backtest_from_chunks_bounded_and_equal_to_one_piece() -> None:
    label, opened = simulated_source(HOURS, CHUNK)
    alive: set[int] = set()
    most = [0]
    sizes: list[int] = []

    def watched(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        for k, c in enumerate(chunks):
            alive.add(k)
            weakref.finalize(c.records, alive.discard, k)
            most[0] = max(most[0], len(alive))
            sizes.append(len(c.records))
            yield c
            del c

    opts = BacktestOptions(chunk_records=CHUNK)
    src = (label, Opened(opened.instrument, opened.kind, watched(opened.chunks)))
    chunked = run_sources([src], options=opts)
    whole = simulate_mbo(10**8, QRParams(activity=DAY_ACTIVITY), seconds=HOURS * 3600)
    one = run_sources(
        [("whole", Opened(opened.instrument, "mbo", iter([Chunk(whole)])))], options=opts
    )
    # the generated stream: the same records, read in bounded chunks, at most two alive
    assert sum(sizes) == len(whole) > 150_000
    assert len(sizes) > 15 and max(sizes) <= CHUNK + queue_reactive._SLACK
    assert most[0] <= 2
    # the backtest on it: every stat and every fill as on the one-piece stream
    assert chunked.files[0]["events"] == len(whole)
    assert _stats(chunked) == _stats(one)
    assert chunked.stats["trades"] >= 1
    assert chunked.fills == one.fills and chunked.commands == one.commands
    assert np.array_equal(whole[:3]["order_id"], np.array([1, 2, 3], dtype=np.uint64))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "orderflow.cli.main", "backtest", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)


def test_the_cli_backtests_the_simulated_market_labelled(tmp_path: Path) -> None:
    proc = _cli("--simulated-hours", "0.05", "--out", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    (f,) = res["files"]
    assert f["path"].startswith("SIMULATED market 0.05 h") and f["instrument"] == "ESH4"
    want = simulate_mbo(10**8, QRParams(activity=DAY_ACTIVITY), seconds=180)
    assert f["events"] == len(want)
    assert f["first_ts"] == "2023-12-25T23:00:00.000000000Z"
    assert "SIMULATED" in (tmp_path / "out" / "report.html").read_text()


def test_the_cli_refuses_data_and_simulated_together_and_neither(tmp_path: Path) -> None:
    # the two refusals in turn in one process (tests/commands.py); the labelled run above is
    # the command's own process
    both, neither = in_one_process([
        Command(("backtest", "--simulated-hours", "1", "--data", "x.dbn", "--out",
                 str(tmp_path / "a"))),
        Command(("backtest", "--out", str(tmp_path / "b"))),
    ])  # fmt: skip
    assert both.returncode != 0 and "--simulated-hours replaces --data" in both.stdout + both.stderr
    assert neither.returncode != 0 and "--simulated-hours" in neither.stdout + neither.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
