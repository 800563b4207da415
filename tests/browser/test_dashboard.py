"""The dashboard in a real browser against a real server fed ESH4 as NinjaTrader sends it.

One page is open while the data arrives (it gets the first snapshot, then merged deltas), a
second one opens after (a snapshot of the whole state). Each must show what the API says:
the ladder's text is ``/api/book``; the footprint cells drawn are ``/api/view/ESH4/bars``'s
for the same bars; the profile's POC, the VWAP and the cumulative delta are
``/api/analytics``'; the signals listed are the ones sent; the heatmap is drawn and its
brightest rows are the prices with the most resting size; no console errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.browser.conftest import Page, esh4_batches, feed


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    s = ThreadedServer(create_app())
    yield s
    s.stop()


def api(server: ThreadedServer, path: str) -> Any:
    r = httpx.get(f"{server.http}{path}", timeout=10)
    assert r.status_code == 200, (path, r.text[:300])
    return r.json()


def book(server: ThreadedServer) -> dict[str, list[list[float]]]:
    b = api(server, "/api/book/ESH4?levels=20")
    return {side: [[lv["price"], lv["size"]] for lv in b[key]]
            for side, key in (("bids", "bid"), ("asks", "ask"))}  # fmt: skip


@pytest.fixture(scope="module")
def pages(browser: Any, server: ThreadedServer) -> Iterator[dict[str, Page]]:
    live = Page(browser, f"{server.http}/")  # before any data: waits for the instrument
    acks = feed(server.ws, esh4_batches())
    assert all(a["type"] == "ack" and not a["rejected"] for a in acks)
    want = book(server)
    live.until(lambda: live.js("window.orderflowDash.ladderText()") == want)
    late = Page(browser, f"{server.http}/?instrument=ESH4")
    late.until(lambda: late.js("window.orderflowDash.ladderText()") == want)
    out = {"live": live, "late": late}
    yield out
    for p in out.values():
        p.close()


@pytest.fixture(params=["live", "late"])
def page(request: pytest.FixtureRequest, pages: dict[str, Page]) -> Page:
    return pages[request.param]


def test_the_ladder_shows_the_book(page: Page, server: ThreadedServer) -> None:
    want = book(server)
    assert len(want["bids"]) == len(want["asks"]) == 10
    assert page.js("window.orderflowDash.ladderText()") == want
    # best bid and ask rows are marked, the last traded price too
    best = page.js("Array.from(document.querySelectorAll('.lrow.best')).map(r => r.dataset.price)")
    assert sorted(float(p) for p in best) == [want["bids"][0][0], want["asks"][0][0]]


def test_the_footprint_cells_are_the_apis(page: Page, server: ThreadedServer) -> None:
    bars = {b["start_ts"]: b for b in api(server, "/api/view/ESH4/bars?limit=500")["bars"]}
    view = page.until(lambda: page.js("window.orderflowDash.footprintView()"))
    drawn = page.js("window.orderflowDash.footprintCells()")
    assert len(view["bars"]) >= 4 and drawn
    want = []
    for start in view["bars"]:
        bar = bars[int(start)]
        want += [[start, p, b, a] for p, b, a in bar["cells"]
                 if view["bottom"] - 1e-9 <= p <= view["top"] + 1e-9]  # fmt: skip
    assert sorted(map(tuple, drawn)) == sorted(map(tuple, want))
    # the newest bar drawn is the API's newest
    assert int(view["bars"][-1]) == max(bars)


def test_profile_vwap_and_delta_are_the_analytics(page: Page, server: ThreadedServer) -> None:
    a = api(server, "/api/analytics/ESH4")
    text = page.until(lambda: "VWAP" in page.js("window.orderflowDash.levelsText()") and
                      page.js("window.orderflowDash.levelsText()"))  # fmt: skip
    parts = dict(zip(text.split()[::2], text.split()[1::2], strict=True))
    prof = a["profile"]
    assert parts["POC"] == f"{prof['poc']:.2f}"
    assert parts["VAH"] == f"{prof['vah']:.2f}" and parts["VAL"] == f"{prof['val']:.2f}"
    assert parts["VWAP"] == f"{a['vwap']['price']:.2f}"
    assert int(parts["\u03a3\u0394"]) == a["cumulative_delta"]["final"] == 840


def test_the_signals_listed_are_the_ones_sent(page: Page, server: ThreadedServer) -> None:
    sent = api(server, "/api/view/ESH4/signals")["signals"]
    assert len(sent) == api(server, "/api/analytics/ESH4")["signals"]["total"] > 0
    listed = page.js("window.orderflowDash.signalIds()")
    want = [{"id": s["id"], "kind": s.get("kind", s.get("detector")), "price": f"{s['price']:.2f}"}
            for s in sorted(sent, key=lambda s: -s["id"])][:200]  # fmt: skip
    assert listed == want


def test_the_heatmap_is_drawn_and_brightest_where_most_size_rests(
    page: Page, server: ThreadedServer
) -> None:
    page.js(
        "(d => { d.setDots(false); d.setMarks(false); d.setLines(false); d.setClusters(false); })"
        "(window.orderflowDash)"
    )
    page.page.wait_for_timeout(200)  # a frame or more
    got = page.js(
        """() => {
        const h = window.orderflowDash.heatmap;
        const c = h.canvas, ctx = c.getContext('2d');
        const img = ctx.getImageData(0, 0, h.plotWidth(), c.height).data;
        const bg = [14, 18, 26];
        let lit = 0;
        for (let i = 0; i < img.length; i += 4) {
          const d = Math.abs(img[i] - bg[0]) + Math.abs(img[i + 1] - bg[1])
            + Math.abs(img[i + 2] - bg[2]);
          if (d > 30) lit++;
        }
        const x = h.plotWidth() - 1;  // the newest column
        const rows = [];
        for (let r = 0; r < h.visibleRows(); r++) {
          const y = r * h.rowPx + Math.floor(h.rowPx / 2);
          const p = ctx.getImageData(x, y, 1, 1).data;
          rows.push([h.priceAtY(y), 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]]);
        }
        return { lit, total: img.length / 4, rows, hi: h.hi, lo: h.lo };
    }"""
    )
    page.js("(d => { d.setDots(true); d.setMarks(true); d.setLines(true); d.setClusters(true); })"
            "(window.orderflowDash)")  # fmt: skip
    assert got["lit"] > 0.02 * got["total"], "the heatmap is (nearly) blank"
    col = api(server, "/api/view/ESH4/heat?limit=1")["columns"][-1]
    size_at = {round(col["p0"] + i * col["step"], 6): s for i, s in enumerate(col["sizes"])}
    shown = {round(p, 6): luma for p, luma in got["rows"]}
    top = max(shown.values())
    brightest = {p for p, luma in shown.items() if luma >= top - 0.5}
    most = max(s for p, s in size_at.items() if p in shown)
    assert most > 0
    # the prices with the most resting size are the brightest; nothing dimmer is as bright
    assert {p for p, s in size_at.items() if s == most and p in shown} <= brightest
    assert all(size_at.get(p, 0) >= min(most, got["hi"]) for p in brightest), (brightest, got)
    # brightness rises with size across the rows shown (the colour table is monotonic)
    ranked = sorted((size_at.get(p, 0), luma) for p, luma in shown.items())
    for (s0, l0), (s1, l1) in itertools.pairwise(ranked):
        if s1 > s0:
            assert l1 >= l0 - 0.5, (s0, l0, s1, l1)


def test_the_clusters_are_bands_on_the_heatmap_at_their_prices(
    page: Page, server: ThreadedServer
) -> None:
    """Every liquidity and volume cluster of the server's state within the prices shown is a
    translucent band from its high row's top to its low row's bottom, stronger more opaque,
    and the band is on the canvas (its pixels are tinted). Clusters are matched by kind, side
    and prices (each reader numbers them itself)."""
    items = api(server, "/api/state/ESH4")["clusters"]
    items = items["items"] if isinstance(items, dict) else items
    assert items, "ESH4 has clusters at its end"
    strength = {(c["kind"], c["side"], c["low"], c["high"]): c["strength"] for c in items}

    def shown() -> set[tuple[str, float, float]]:
        top, n, tick = page.js(
            "(h => [h.topPrice(), h.visibleRows(), h.tick])(window.orderflowDash.heatmap)"
        )
        bottom = top - (n - 1) * tick
        return {(k, lo, hi) for k, _, lo, hi in strength if hi >= bottom and lo <= top}

    def drawn() -> Any:
        got = page.js("window.orderflowDash.clustersDrawn()")
        return got if {(g["kind"], g["low"], g["high"]) for g in got} == shown() else None

    assert shown(), "no cluster within the prices shown"
    got = page.until(drawn)
    assert got, (page.js("window.orderflowDash.clustersDrawn()"), strength)
    geo = page.js(
        "(h => ({top: h.topPrice(), row: h.rowPx, tick: h.tick}))(window.orderflowDash.heatmap)"
    )
    for g in got:
        assert g["y0"] == pytest.approx((geo["top"] - g["high"]) / geo["tick"] * geo["row"])
        assert g["y1"] - g["y0"] == pytest.approx(
            ((g["high"] - g["low"]) / geo["tick"] + 1) * geo["row"]
        )
    by_prices = {(k, lo, hi): s for (k, _, lo, hi), s in strength.items()}
    ranked = sorted((by_prices[(g["kind"], g["low"], g["high"])], g["alpha"]) for g in got)
    assert all(a0 <= a1 for (_, a0), (_, a1) in itertools.pairwise(ranked))
    # the band tints the canvas: inside it differs from the same pixel with bands off
    g = got[0]
    pw = page.js("window.orderflowDash.heatmap.plotWidth()")
    x, y = int((g["x0"] + pw) / 2), int((g["y0"] + g["y1"]) / 2)
    probe = f"Array.from(window.orderflowDash.heatmap.ctx.getImageData({x}, {y}, 1, 1).data)"
    with_band = page.js(probe)
    page.js("window.orderflowDash.setClusters(false)")
    page.page.wait_for_timeout(200)
    without = page.js(probe)
    page.js("window.orderflowDash.setClusters(true)")
    assert with_band != without


def test_no_console_errors_and_a_screenshot(pages: dict[str, Page]) -> None:
    for name, p in pages.items():
        path = p.screenshot(f"dashboard-esh4-{name}")
        assert path.stat().st_size > 50_000  # a drawn page, not a blank one
        assert p.errors == [], (name, p.errors)


def test_older_heat_columns_go_before_the_ones_held(browser: Any, server: ThreadedServer) -> None:
    """The heatmap's backfill path (a view wider than the snapshot's columns): columns older
    than the first held are put before them, in order, none twice, and drawn."""
    cols = api(server, "/api/view/ESH4/heat?limit=2400")["columns"]
    assert len(cols) > 300
    page = Page(browser, f"{server.http}/")
    try:
        # the page has its snapshot's columns (it backfills only what its width shows, so it
        # never holds all of these); the steps below run in one synchronous call, so nothing
        # the stream brings can come between them
        assert page.until(lambda: page.js("window.orderflowDash.heatmap.raw.length") > 0)
        held = page.js(
            """cols => {
            const h = window.orderflowDash.heatmap;
            h.reset(h.tick);
            h.add(cols.slice(200));   // what a snapshot would have held
            h.prepend(cols.slice(0, 250));  // a backfill overlapping it by 50
            h.paint([], []);
            return h.raw.map(c => c.ts);
        }""",
            cols,
        )
        assert [int(t) for t in held] == [c["ts"] for c in cols]
        assert page.errors == []
    finally:
        page.close()
