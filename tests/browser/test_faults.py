"""The page when the server goes away and comes back: it says it lost the stream, keeps what
it showed, and once a server answers on the same address again it reconnects by itself and
shows that server's market (a fresh snapshot replaces everything), with no console errors
other than the failed connection attempts themselves."""

from __future__ import annotations

from typing import Any

from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.browser.conftest import Page, esh4_batches, feed


def ladder(server: ThreadedServer) -> dict[str, list[list[float]]]:
    import httpx

    b = httpx.get(f"{server.http}/api/book/ESH4?levels=20", timeout=10).json()
    return {side: [[lv["price"], lv["size"]] for lv in b[key]]
            for side, key in (("bids", "bid"), ("asks", "ask"))}  # fmt: skip


def test_the_page_reconnects_to_a_restarted_server(browser: Any) -> None:
    batches = esh4_batches()
    first = ThreadedServer(create_app())
    port = first.port
    page = None
    try:
        feed(first.ws, batches[:60])
        early = ladder(first)
        page = Page(browser, f"{first.http}/")
        assert page.until(lambda: page.js("window.orderflowDash.ladderText()") == early)
        first.stop()
        conn = "document.getElementById('conn').textContent"
        assert page.until(lambda: page.js(conn) != "connected")
        assert page.js("window.orderflowDash.ladderText()") == early  # what it showed stays
        second = ThreadedServer(create_app(), port=port)
        try:
            feed(second.ws, batches)
            late = ladder(second)
            assert late != early
            assert page.until(lambda: page.js("window.orderflowDash.ladderText()") == late,
                              timeout_s=30)  # fmt: skip
            assert page.js(conn) == "connected"
            # only the refused connections while no server listened
            assert [
                e for e in page.errors if "ws/view" not in e and "ERR_CONNECTION" not in e
            ] == []
        finally:
            second.stop()
    finally:
        if page is not None:
            page.close()
        first.stop()
