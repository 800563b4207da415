"""The account's round trips and why each ended, on the page: ``orderflow run`` of the ESH4
file WITH the simulated account, as fast as it goes, then held (``--hold`` keeps serving after
the data ends, trading or not). The page's trade rows (newest first: exit time, side, size,
entry, exit, net P&L, reason) are ``GET /api/journal/trades``'s, and the fills' markers on the
candles name the exits' reasons. No console errors; a screenshot kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Page, until
from tests.browser.test_replay import Run
from tests.serving import http


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    r = Run(tmp_path_factory.mktemp("trades"), speed=None, trade=True)
    yield r
    r.stop()


def hhmmss(ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%H:%M:%S")


def test_the_trades_listed_are_the_journals_with_their_exit_reasons(browser: Any, run: Run) -> None:
    def finished() -> bool:
        r = http().get(f"{run.http}/api/replay", timeout=10)  # 404 until the feed starts
        return r.status_code == 200 and bool(r.json()["finished"])

    assert until(finished, timeout_s=90)
    assert run.proc.poll() is None  # --hold holds with trading too
    got = http().get(f"{run.http}/api/journal/trades", timeout=10).json()
    trades = got["trades"]
    assert got["count"] == len(trades) >= 2
    assert all(t["reason"] for t in trades)  # each exit names why
    want = [
        {"number": t["number"],
         "cells": [hhmmss(t["closed_t"]), t["direction"], str(t["max_quantity"]),
                   f"{t['avg_entry']:.2f}", f"{t['avg_exit']:.2f}", f"{t['net']:.2f}",
                   t["reason"]]}
        for t in reversed(trades[-50:])
    ]  # fmt: skip
    page = Page(browser, f"{run.http}/")
    try:
        shown = page.until(lambda: (r := page.js("window.orderflowDash.accountTrades()"))
                           == want and r, timeout_s=30)  # fmt: skip
        assert shown == want, page.js("window.orderflowDash.accountTrades()")
        # the exits' fills on the candles say why they ended
        texts = [m["text"] for m in page.js("window.orderflowDash.fillMarkers()")]
        for t in trades:
            assert any(x.endswith(" " + t["reason"]) for x in texts), (t["reason"], texts)
        page.screenshot("dashboard-trades")
        assert page.errors == []
    finally:
        page.close()
    assert run.proc.poll() is None  # still serving
