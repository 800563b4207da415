"""``orderflow view RESULT_DIR`` on a real backtest of ESH4 (the real CLI both times): the
dashboard's address first; ``/api/results/NAME`` answers the folder's stats as stats.json has
them, every trade of trades.csv with numbers as numbers, the equity curve as ``[ts_ns, equity,
drawdown]`` ending on the net P&L, and the data file's footprint bars; an unknown name is 404."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderflow.server.threaded import free_port
from tests.commands import Shared
from tests.conftest import ES_MBO
from tests.integration.test_backtest_cli import esh4_backtest
from tests.serving import PYTHONPATH

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env["PYTHONPATH"] = PYTHONPATH
    return env


def test_a_backtest_result_in_the_dashboard(tmp_path: Path, shared: Shared) -> None:
    if not ES_MBO.exists():
        pytest.skip("no ESH4 recording")
    # the backtest's run (default settings) that tests/integration/test_backtest_cli.py reads
    # too, once per test run: its report's folder, esh4-run
    _, out = esh4_backtest(shared)
    assert out.name == "esh4-run"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderflow.cli.main", "view", str(out), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == (
            f"dashboard http://127.0.0.1:{port}/?result=esh4-run"
        )
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                r = http.get("/api/results/esh4-run")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200
        body: dict[str, Any] = r.json()
        stats = json.loads((out / "stats.json").read_text())
        assert body["stats"] == stats["stats"]
        with (out / "trades.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(body["trades"]) == len(rows) == body["stats"]["trades"]
        for got, want in zip(body["trades"], rows, strict=True):
            assert got["number"] == int(want["number"])
            assert got["net"] == pytest.approx(float(want["net"]))
            assert isinstance(got["opened_t"], int) and got["opened_t"] == int(want["opened_t"])
        eq = body["equity"]
        assert all(isinstance(p[0], int) for p in eq[1:])
        assert eq[-1][1] == pytest.approx(sum(float(t["net"]) for t in rows), abs=0.01)
        assert all(p[2] <= 0 for p in eq)
        bars = body["bars"]
        assert bars and bars[-1]["start_ts"] >= bars[0]["start_ts"]
        # footprint cells hold every contract of the bar (MBO prints carry their aggressor)
        assert all(sum(c[1] + c[2] for c in b["cells"]) <= b["volume"] for b in bars)
        assert sum(sum(c[1] + c[2] for c in b["cells"]) for b in bars) > 0.99 * sum(
            b["volume"] for b in bars)  # fmt: skip
        assert http.get("/api/results").json() == {"results": ["esh4-run"]}
        missing = http.get("/api/results/nope")
        assert (
            missing.status_code == 404 and missing.json()["error"]["details"]["field"] == "result"
        )
        http.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
