"""The dashboard in a real browser: Debian's ``chromium-headless-shell`` (installed by
``scripts/ensure_chromium.sh`` when missing, once per run) driven by Playwright for Python
with ``executable_path``; Playwright's own browser downloads are never used. One browser per
module; screenshots go to ``tests/artifacts/`` (ignored by git) for a person to look at."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ES_MBO, PROJECT_ROOT, need
from tests.serving import until

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
VIEWPORT = {"width": 1600, "height": 1000}


@cache
def chromium_path() -> str:
    """The headless shell's binary: ``ORDERFLOW_CHROMIUM`` when set, else the one
    ``scripts/ensure_chromium.sh`` finds (installing Debian's package when missing)."""
    given = os.environ.get("ORDERFLOW_CHROMIUM")
    if given:
        return given
    script = PROJECT_ROOT / "scripts" / "ensure_chromium.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"no browser for the dashboard tests: {out.stderr.strip()[-600:]}")
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--disable-gpu"])
        yield b
        b.close()


class Page:
    """A page of the dashboard with every console error and page error kept."""

    def __init__(self, browser: Any, url: str) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(url)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def js(self, expr: str, arg: Any = None) -> Any:
        return self.page.evaluate(expr, arg)

    def until(self, what: Callable[[], Any], timeout_s: float = 20.0, every_s: float = 0.1) -> Any:
        return until(what, timeout_s, every_s)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.page.close()


@cache
def esh4_batches() -> list[Any]:
    """ESH4 as the bridge sends it (NinjaTrader depth, top 10, batches of about 100 events)."""
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    stream = load_stream(need(ES_MBO))
    return [fb.batch for fb in build_batches(stream, 10, 100)]


def feed(ws_url: str, batches: list[Any], token: str | None = None) -> list[dict[str, Any]]:
    """Send ``batches`` over the bridge's WebSocket as NinjaTrader would, one ack each."""
    import msgspec
    from websockets.sync.client import connect

    acks = []
    hello = {"type": "hello", "protocol": 1, "client": "nt8"}
    with connect(ws_url, max_size=None) as ws:
        ws.send(json.dumps({**hello, **({"token": token} if token else {})}))
        json.loads(ws.recv())
        for b in batches:
            ws.send(msgspec.json.encode(b).decode())
            acks.append(json.loads(ws.recv()))
    return acks
