"""The replay bar drives a real replay: ``orderflow run`` of the ESH4 file (no trading, so it
may seek back) serving the dashboard; the page's pause, speed and seek controls change what
``/api/replay`` reports, and after a seek back (the market state rebuilt from the start) the
page's ladder is the server's book again. No console errors; a screenshot kept."""

from __future__ import annotations

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
from tests.conftest import ES_MBO, need
from tests.serving import PYTHONPATH, free_port, http


class Run:
    """``orderflow run FILE --no-trade --hold`` on a free port, in ``folder`` (``trade``: with
    the simulated account; ``speed`` None: ``--fast``)."""

    def __init__(self, folder: Path, speed: float | None, trade: bool = False) -> None:
        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
        self.log = open(folder / "run.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orderflow.cli.main", "run", str(need(ES_MBO)),
             *([] if trade else ["--no-trade"]), "--hold", "--port", str(self.port),
             *(["--fast"] if speed is None else ["--speed", str(speed)])],
            cwd=folder, env={**env, "PYTHONPATH": PYTHONPATH},
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        # what `make run` shows a trader first: where the dashboard is
        assert first.strip() == f"dashboard http://127.0.0.1:{self.port}/", first
        deadline = time.monotonic() + 60
        while True:  # printed before the server listens: wait for it
            assert self.proc.poll() is None, (folder / "run.log").read_text()[-2000:]
            try:
                if http().get(f"{self.http}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "orderflow run did not start serving"
            time.sleep(0.1)

    def replay(self) -> dict[str, Any]:
        r = http().get(f"{self.http}/api/replay", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    r = Run(tmp_path_factory.mktemp("replay"), speed=60)
    yield r
    r.stop()


def book(run: Run) -> dict[str, list[list[float]]]:
    b = http().get(f"{run.http}/api/book/ESH4?levels=20", timeout=10).json()
    return {side: [[lv["price"], lv["size"]] for lv in b[key]]
            for side, key in (("bids", "bid"), ("asks", "ask"))}  # fmt: skip


def test_pause_speed_and_seek_from_the_page(browser: Any, run: Run) -> None:
    page = Page(browser, f"{run.http}/")
    try:
        bar = page.page.locator("#replay")
        bar.wait_for(state="visible", timeout=30_000)
        assert page.until(lambda: run.replay()["position_ts"] > run.replay()["start_ts"])
        # pause: the server stops pacing, the button offers play
        page.page.click("#play")
        assert page.until(lambda: run.replay()["playing"] is False)
        assert page.until(lambda: page.js("document.getElementById('play').dataset.playing")
                          == "false")  # fmt: skip
        at = run.replay()["position_ts"]
        page.page.wait_for_timeout(500)
        assert run.replay()["position_ts"] == at  # paused means paused
        # speed: 600x chosen on the page is the server's speed
        page.page.select_option("#speed", "600")
        assert page.until(lambda: run.replay()["speed"] == 600.0)
        # seek forward to 99% of the range, then back to 98%: the state is rebuilt
        r = run.replay()
        for share in (990, 980):
            target = r["start_ts"] + (r["end_ts"] - r["start_ts"]) * share // 1000
            page.js("v => { const s = document.getElementById('seek'); s.value = String(v);"
                    " s.dispatchEvent(new Event('change')); }", share)  # fmt: skip
            got = page.until(lambda t=target: abs(run.replay()["position_ts"] - t) < 30e9
                             and run.replay())  # fmt: skip
            assert got and abs(got["position_ts"] - target) < 30e9, (share, got)
        # the page follows the rebuilt market: its ladder is the server's book again
        want = book(run)
        assert page.until(lambda: page.js("window.orderflowDash.ladderText()") == want)
        # and its signals are the rebuilt market's, each once (a new snapshot replaced the list)
        sent = http().get(f"{run.http}/api/view/ESH4/signals", timeout=10).json()["signals"]
        ids = sorted((s["id"] for s in sent), reverse=True)[:200]
        assert page.until(lambda: [s["id"] for s in page.js("window.orderflowDash.signalIds()")]
                          == ids)  # fmt: skip
        # play again: the page offers play (its state is the server's paused one) before the
        # click, so the click asks to play; a failure shows what the page held and said
        button = lambda: page.js("document.getElementById('play').dataset.playing")  # noqa: E731
        assert page.until(lambda: button() == "false"), button()
        page.page.click("#play")
        alerts = "document.getElementById('alerts').textContent"
        assert page.until(lambda: run.replay()["playing"] is True), (
            run.replay(), button(), page.js(alerts), page.errors)  # fmt: skip
        page.page.wait_for_timeout(300)
        page.screenshot("dashboard-replay")
        assert page.errors == []
    finally:
        page.close()
