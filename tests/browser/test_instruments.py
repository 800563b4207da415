"""Two instruments on one server: the page offers both in its top bar, starts on the first,
and the one chosen there is the one it then shows (its ladder is that instrument's book)."""

from __future__ import annotations

from typing import Any

import httpx

from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.browser.conftest import Page, feed


def test_the_instrument_menu(browser: Any) -> None:
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream
    from tests.conftest import ES_MBO, need

    stream = load_stream(need(ES_MBO))
    server = ThreadedServer(create_app())
    page = None
    try:
        for name, n in (("ESH4", 60), ("ESM4", 90)):  # the same data under two contracts
            feed(server.ws, [fb.batch for fb in build_batches(stream, 10, 100, name)][:n])
        listed = httpx.get(f"{server.http}/api/view/instruments", timeout=10).json()
        names = [i["instrument"] for i in listed["instruments"]]
        assert sorted(names) == ["ESH4", "ESM4"]
        b = httpx.get(f"{server.http}/api/book/ESM4?levels=20", timeout=10).json()
        want = {side: [[lv["price"], lv["size"]] for lv in b[key]]
                for side, key in (("bids", "bid"), ("asks", "ask"))}  # fmt: skip
        page = Page(browser, f"{server.http}/")
        menu = page.page.locator("select#instrument")
        menu.wait_for(timeout=20_000)
        assert sorted(menu.locator("option").all_inner_texts()) == ["ESH4", "ESM4"]
        assert menu.input_value() == names[0]
        menu.select_option("ESM4")
        page.page.wait_for_url("**/?instrument=ESM4")
        assert page.until(lambda: page.js("window.orderflowDash.ladderText()") == want)
        assert page.page.locator("select#instrument").input_value() == "ESM4"
        assert page.errors == []
    finally:
        if page is not None:
            page.close()
        server.stop()
