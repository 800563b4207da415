"""A backtest's result in the dashboard: a real backtest of ESH4, served as ``orderflow view``
serves it, opened at ``/?result=NAME``: every trade of trades.csv is listed with its
net P&L, each has an entry and an exit marker on the candles, the equity curve ends on the
result's net P&L, the footprint's cells are the data file's bars; no console errors."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Page
from tests.conftest import ES_MBO, need


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real backtest of ESH4 written to its result folder, served as ``orderflow view``
    serves one (the CLI itself: tests/integration/test_view_results.py)."""
    from orderflow.backtest.run import run_backtest
    from orderflow.server.app import create_app
    from orderflow.server.results import ResultFolders
    from orderflow.server.threaded import ThreadedServer

    out = tmp_path_factory.mktemp("result") / "esh4-run"
    run_backtest([need(ES_MBO)]).write(out)
    app = create_app()
    app.state.results = ResultFolders([out])
    server = ThreadedServer(app)
    try:
        yield f"{server.http}/?result=esh4-run", out
    finally:
        server.stop()


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
