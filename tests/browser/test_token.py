"""The dashboard on a server with a token: the page and its files load without it (a browser
cannot send a header when it navigates), the data only with it (the page's ``?token=``, sent on
to the stream and the backfill), and the kill switch acts only with the right token typed in
its prompt: a wrong one is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.browser.conftest import Page, esh4_batches, feed
from tests.serving import manual_trading

TOKEN = "dash-Token_42"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    s = ThreadedServer(create_app(token=TOKEN, **manual_trading()))
    acks = feed(s.ws, esh4_batches()[:120], token=TOKEN)
    assert all(a["type"] == "ack" for a in acks)
    yield s
    s.stop()


def get(server: ThreadedServer, path: str) -> Any:
    r = httpx.get(f"{server.http}{path}", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def killed(server: ThreadedServer) -> bool:
    return any(c["risk"]["kill"] for c in get(server, "/api/risk")["clients"].values())


def test_the_page_with_its_token_shows_the_data_and_the_kill_switch_needs_it(
    browser: Any, server: ThreadedServer
) -> None:
    assert httpx.get(f"{server.http}/api/view/instruments", timeout=10).status_code == 401
    b = get(server, "/api/book/ESH4?levels=20")
    want = {side: [[lv["price"], lv["size"]] for lv in b[key]]
            for side, key in (("bids", "bid"), ("asks", "ask"))}  # fmt: skip
    page = Page(browser, f"{server.http}/?token={TOKEN}")
    try:
        assert page.until(lambda: page.js("window.orderflowDash.ladderText()") == want)
        assert not killed(server)
        answers: list[str] = []

        def on_dialog(d: Any) -> None:  # the prompt gets the typed token, the alert is read
            answers.append(f"{d.type}: {d.message}")
            d.accept(typed[0] if d.type == "prompt" else None)

        def pumped(what: Callable[[], bool]) -> Callable[[], bool]:
            """``what`` after a pause inside Playwright: its sync API dispatches the page's
            events (the dialogs here) only during its own calls, and a dialog may open after
            the click has returned (a loaded machine)."""
            return lambda: page.page.wait_for_timeout(50) or what()

        page.page.on("dialog", on_dialog)
        page.js("sessionStorage.removeItem('orderflow.token')")  # typed, not remembered
        typed = ["wrong-token"]
        page.page.click("#kill")
        assert page.until(pumped(lambda: any(a.startswith("alert: kill refused") for a in answers)))
        assert not killed(server)
        typed = [TOKEN]
        page.page.click("#kill")
        assert page.until(pumped(lambda: killed(server)))
        assert page.until(lambda: "engaged" in page.js("document.getElementById('kill').className"))
        # a refused POST shows in the console as a failed resource load: nothing else may
        assert [e for e in page.errors if "401" not in e] == []
    finally:
        page.close()
