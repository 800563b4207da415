"""The venue on real data: the ESH4 2023-12-25 MBO file (read in place from ../shared/data,
skipped when absent) with a strategy's worth of orders placed every five minutes of the
trading hour, their reports consumed by the real order desk.

Conservation facts checked: every maker fill is at our limit, in an event that printed at or
through it, and an order's maker fills never exceed the volume printed against it at or
through its price after it joined the queue; every taker fill is at a price the book showed
on the other side at that moment, with at least that size there, and the best price first;
no order fills beyond its quantity or after it was cancelled; the desk applies every report
(nothing impossible, nothing after a terminal state) and counts the venue's fills. The run is
deterministic and does not depend on how the records are chunked.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import numpy as np
import pytest

from orderflow.backtest import LatencyModel, SimVenue
from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.enums import Action, Side
from orderflow.trading.orders import (
    CommandError,
    Fill,
    OrderAction,
    OrderManager,
    OrderState,
    OrderType,
)
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

OPEN = 1_703_545_200_000_000_000  # 2023-12-25 23:00 UTC, the reopen
MINUTE = 60_000_000_000


@cache
def esh4():
    return read_mbo(need(ES_MBO))


def _orders(v: SimVenue, desk: OrderManager, t: int, k: int):
    """Round k of the strategy: the previous round's working orders cancelled, then a bid
    at the touch, an offer a tick above it, a market order, a sell stop, a buy MIT and a buy
    stop-limit, the two limits an OCO pair in odd rounds."""
    out = []
    for o in desk.working("ESH4"):
        try:
            c = desk.cancel(t, o.cid)
        except CommandError:
            continue
        if c is not None:
            out.append(c)
    bid, ask, last = v.market.best(0), v.market.best(1), v.last_trade
    assert bid is not None and ask is not None and last is not None
    oco = f"g{k}" if k % 2 else ""
    S, B = OrderAction.SELL_SHORT, OrderAction.BUY
    out += [
        desk.submit(t, "ESH4", B, OrderType.LIMIT, 5, bid, cid=f"b{k}", oco=oco),
        desk.submit(t, "ESH4", S, OrderType.LIMIT, 5, ask + 1, cid=f"s{k}", oco=oco),
        desk.submit(t, "ESH4", B if k % 2 == 0 else S, OrderType.MARKET, 2, cid=f"m{k}"),
        desk.submit(t, "ESH4", S, OrderType.STOP_MARKET, 1, None, last - 4, cid=f"st{k}"),
        desk.submit(t, "ESH4", B, OrderType.MIT, 1, None, bid - 2, cid=f"mit{k}"),
        desk.submit(t, "ESH4", B, OrderType.STOP_LIMIT, 2, last + 3, last + 3, cid=f"sl{k}"),
    ]
    return out


def run(chunk: int, latency: LatencyModel | int = 250_000):
    ev, inst = esh4()
    v = SimVenue(inst, order_latency=latency, md_latency=latency)
    desk = OrderManager(account="Sim101")
    ts = ev["ts_event"]
    out: list = []
    outcomes: list = []
    pos = 0

    def take(deliveries: list) -> None:  # the desk sees each report as it comes
        out.extend(deliveries)
        for d in deliveries:
            r = d.report
            ok = desk.apply_fill(r) if isinstance(r, Fill) else desk.apply_update(r, "ESH4")
            outcomes.append(ok)

    def feed(upto: int) -> None:
        nonlocal pos
        while pos < upto:
            nxt = min(pos + chunk, upto)
            take(v.on_market(ev[pos:nxt]))
            pos = nxt

    for k in range(11):
        t = OPEN + 5 * k * MINUTE + 1
        feed(int(np.searchsorted(ts, t, side="right")))
        for c in _orders(v, desk, t, k):
            take(v.send(c))
    feed(len(ev))
    return v, desk, out, outcomes


def test_real_data_fills_conserve_the_market_and_the_desk_takes_every_report():
    ev, inst = esh4()
    v, desk, out, outcomes = run(4096)
    assert len(v.fills) > 20
    kinds = {liq for *_, liq in v.fills}
    assert kinds == {"maker", "taker"}
    # every order type filled somewhere, and OCO legs were cancelled by their sibling's fill
    assert {str(v.orders[cid].order_type) for _, cid, *_ in v.fills} == {
        "Market", "Limit", "StopMarket", "StopLimit", "MIT"}  # fmt: skip
    assert any(str(d.report.comment).startswith("OCO g") for d in out
               if not isinstance(d.report, Fill))  # fmt: skip
    # the desk applied every report: nothing impossible, nothing after a terminal state
    assert "impossible" not in outcomes and "after_terminal" not in outcomes
    assert all(x is True or x == "applied" for x in outcomes), set(map(str, outcomes))
    by_cid: dict[str, int] = defaultdict(int)
    for _, cid, _, q, _ in v.fills:
        by_cid[cid] += q
    for cid, q in by_cid.items():
        assert desk.orders[cid].filled == q <= desk.orders[cid].quantity
    # no fill after the venue cancelled an order
    cancelled_at = {
        d.report.cid: d.report.t
        for d in out
        if not isinstance(d.report, Fill) and d.report.state == OrderState.CANCELLED
    }
    assert all(t <= cancelled_at.get(cid, t) for t, cid, *_ in v.fills)  # fmt: skip

    act, price, size, side, ts = (ev[f] for f in ("action", "price", "size", "side", "ts_event"))
    is_t = act == Action.TRADE
    maker: dict[str, int] = defaultdict(int)
    for t, cid, p, q, liq in v.fills:
        if liq != "maker":
            continue
        o = v.orders[cid]
        assert p == o.limit_ticks  # a resting order fills at its own price
        hit = int(Side.ASK if o.is_buy else Side.BID)
        at_or_through = (price <= p) if o.is_buy else (price >= p)
        against = is_t & ((side == hit) | (side == int(Side.NONE)) | (price != p))
        assert np.any(against & at_or_through & (ts == t))  # printed in that very event
        maker[cid] += q
        printed = int(size[against & at_or_through & (ts > o.queued_t) & (ts <= t)].sum())
        assert maker[cid] <= printed
    # taker fills: replay an independent book to each fill's time and look
    book, pos = OrderBook(inst), 0
    taken: dict[tuple[int, int, int], int] = defaultdict(int)
    for t, cid, p, q, liq in v.fills:
        if liq != "taker":
            continue
        cut = int(np.searchsorted(ts, t, side="right"))
        book.apply_mbo(ev[pos:cut])
        pos = cut
        o = v.orders[cid]
        key = "ask" if o.is_buy else "bid"
        d = book.depth(50)
        levels = dict(zip(d[f"{key}_price"].tolist(), d[f"{key}_size"].tolist(), strict=True))
        taken[(t, int(o.is_buy), p)] += q
        assert levels.get(p, 0) >= taken[(t, int(o.is_buy), p)]
        best = int(d[f"{key}_price"][0])
        assert (p >= best) if o.is_buy else (p <= best)


def test_real_data_run_is_deterministic_and_independent_of_the_chunking():
    a = run(4096)[0].fills
    b = run(65_536)[0].fills
    c = run(512)[0].fills
    assert a == b == c


def test_real_data_with_a_measured_latency_distribution_is_reproducible():
    samples = np.array([120_000, 180_000, 250_000, 400_000, 2_500_000])
    a = run(8192, LatencyModel(samples_ns=samples, seed=11))[0].fills
    b = run(8192, LatencyModel(samples_ns=samples, seed=11))[0].fills
    assert a == b and len(a) > 20


def run_shared(chunk: int):
    """The same rounds with the venue reading a book the driver applies (as the pipeline's
    would be), the stream cut where :meth:`SimVenue.next_cut` says."""
    ev, inst = esh4()
    book = OrderBook(inst)
    v = SimVenue(inst, order_latency=250_000, md_latency=250_000, book=book)
    desk = OrderManager(account="Sim101")
    ts = ev["ts_event"]
    lasts = np.flatnonzero(ev["flags"] & 0x80)
    pos = 0

    def feed(upto: int) -> None:
        nonlocal pos
        while pos < upto:
            v.advance(int(ts[pos]) - 1)
            end = min(pos + chunk, upto)
            e = int(np.searchsorted(lasts, end - 1))  # whole events only
            end = min(int(lasts[e]) + 1 if e < len(lasts) else upto, upto)
            cut = pos + v.next_cut(ev[pos:end])
            book.apply_mbo(ev[pos:cut])
            for d in v.on_market(ev[pos:cut]):
                r = d.report
                desk.apply_fill(r) if isinstance(r, Fill) else desk.apply_update(r, "ESH4")
            pos = cut

    for k in range(11):
        t = OPEN + 5 * k * MINUTE + 1
        feed(int(np.searchsorted(ts, t, side="right")))
        v.advance(t)
        for c in _orders(v, desk, t, k):
            for d in v.send(c):
                r = d.report
                desk.apply_fill(r) if isinstance(r, Fill) else desk.apply_update(r, "ESH4")
    feed(len(ev))
    return v


def test_real_data_a_venue_sharing_the_drivers_book_fills_the_same():
    own = run(4096)[0].fills
    assert run_shared(4096).fills == own
    assert run_shared(65_536).fills == own
