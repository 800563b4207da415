"""A backtest's result in the dashboard: a real backtest of ESH4 (the CLI), served by the real
``orderflow view``, opened at ``/?result=NAME``: every trade of trades.csv is listed with its
net P&L, each has an entry and an exit marker on the candles, the equity curve ends on the
result's net P&L, the footprint's cells are the data file's bars; no console errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Page
from tests.conftest import ES_MBO, PROJECT_ROOT, need
from tests.serving import PYTHONPATH, free_port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    return {**env, "PYTHONPATH": PYTHONPATH}


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    out = tmp_path_factory.mktemp("result") / "esh4-run"
    done = subprocess.run(
        [sys.executable, "-m", "orderflow.cli.main", "backtest", "--data", str(need(ES_MBO)),
         "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderflow.cli.main", "view", str(out), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
        cwd=out.parent,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("dashboard ")
        assert url == f"http://127.0.0.1:{port}/?result=esh4-run"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/results/esh4-run").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "orderflow view did not start serving"
            time.sleep(0.1)
        yield url, out
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_backtest_result_on_the_page(browser: Any, view: tuple[str, Path]) -> None:
    url, out = view
    with (out / "trades.csv").open(newline="") as fh:
        trades = list(csv.DictReader(fh))
    assert trades
    page = Page(browser, url)
    try:
        got = page.until(lambda: (v := page.js("window.orderflowDash.resultView()"))["trades"]
                         and v)  # fmt: skip
        want = [[int(t["number"]), f"{float(t['net']):.2f}"] for t in reversed(trades)]
        assert got["trades"] == want
        # an entry and an exit marker per trade; entries point the trade's way
        assert len(got["markers"]) == 2 * len(trades)
        arrows = [m["shape"] for m in got["markers"] if m["shape"] != "circle"]
        assert sorted(arrows) == sorted("arrowUp" if t["direction"] == "long" else "arrowDown"
                                        for t in trades)  # fmt: skip
        net = sum(float(t["net"]) for t in trades)
        assert got["equity"][-1]["value"] == pytest.approx(net, abs=0.01)
        body = httpx.get(url.replace("/?result=", "/api/results/"), timeout=30).json()
        bars = {b["start_ts"]: b for b in body["bars"]}
        drawn = page.until(lambda: page.js("window.orderflowDash.footprintCells()"))
        assert drawn
        for start, price, bid, ask in drawn:
            assert [price, bid, ask] in bars[int(start)]["cells"]
        page.screenshot("dashboard-result")
        assert page.errors == []
    finally:
        page.close()
