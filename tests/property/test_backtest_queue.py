"""The venue's exact L3 queue position against the book's own FIFO, on random sequences.

The reference is a second ``OrderBook`` holding a phantom order of ours, added at the back of
its level when our limit reaches the venue: the book's ``queue_position`` of the phantom is
the size ahead by construction (adds behind it, cancels and shrinking modifies keep places,
a modify to another price or a larger size sends the order to the back). Random adds,
cancels, modifies and sell prints at our price (each print followed by the C records of the
front orders it filled, as Databento sends them) are fed to the venue and the reference.
After every event: the venue's size ahead equals the phantom's queue position, and its fills
equal what the print had beyond that position.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.backtest import SimVenue
from orderflow.book.l3 import OrderBook
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags, Side
from orderflow.model.instruments import get_instrument
from orderflow.trading.orders import Fill, OrderAction, OrderCommand, OrderType

ES = get_instrument("ES")
OURS = 10**9
PRICE = 100
LAST = int(Flags.LAST)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from([PRICE, PRICE, 99]), st.integers(1, 5)),
        st.tuples(st.just("cancel"), st.integers(0, 50), st.integers(1, 5)),
        st.tuples(
            st.just("modify"), st.integers(0, 50), st.sampled_from([PRICE, 99]), st.integers(1, 6)
        ),
        st.tuples(st.just("trade"), st.integers(1, 9)),
    ),
    max_size=40,
)


def records(rows: list[tuple], ts: int) -> np.ndarray:
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, (act, side, price, size, oid) in enumerate(rows):
        r = out[i]
        r["ts_event"], r["ts_recv"], r["action"], r["side"] = ts, ts, act, side
        r["price"], r["size"], r["order_id"] = price, size, oid
    out["flags"][-1] = LAST
    return out


@settings(max_examples=150, deadline=None)
@given(start=st.lists(st.integers(1, 5), min_size=0, max_size=5), qty=st.integers(1, 8), seq=ops)
def test_size_ahead_is_the_books_own_fifo_position_and_prints_fill_beyond_it(start, qty, seq):
    venue, ref, mkt = SimVenue(ES), OrderBook(ES), OrderBook(ES)
    next_id = 1
    rows = []
    for size in start:
        rows.append((Action.ADD, Side.BID, PRICE, size, next_id))
        next_id += 1
    rows.append((Action.ADD, Side.ASK, PRICE + 2, 50, 999))
    first = records(rows, 1)
    venue.on_market(first)
    mkt.apply_mbo(first)
    ref.apply_mbo(first)
    venue.send(OrderCommand(1, "submit", "b", "ES", 5, OrderAction.BUY, OrderType.LIMIT, qty,
                            PRICE))  # fmt: skip
    venue.advance(5)
    ref.add(OURS, Side.BID, PRICE, qty)
    filled = 0
    for step, op in enumerate(seq):
        ts = 10 + step
        live = [int(x) for x in mkt.level_orders(Side.BID, PRICE)]
        live += [int(x) for x in mkt.level_orders(Side.BID, 99)]
        expect_fill = 0
        if op[0] == "add":
            rows = [(Action.ADD, Side.BID, op[1], op[2], next_id)]
            next_id += 1
        elif op[0] in ("cancel", "modify"):
            if not live:
                continue
            oid = live[op[1] % len(live)]
            view = mkt.order(oid)
            assert view is not None
            if op[0] == "cancel":
                rows = [(Action.CANCEL, Side.BID, view.price, min(op[2], view.size), oid)]
            else:
                rows = [(Action.MODIFY, Side.BID, op[2], op[3], oid)]
        else:  # a seller prints at our price, then the front orders it filled shrink
            front = [(int(x), mkt.order(int(x)).size) for x in mkt.level_orders(Side.BID, PRICE)]
            volume = min(op[1], sum(s for _, s in front))
            if volume == 0:
                continue
            rows = [(Action.TRADE, Side.ASK, PRICE, volume, 0)]
            left = volume
            for oid, size in front:
                take = min(size, left)
                if take:
                    rows.append((Action.CANCEL, Side.BID, PRICE, take, oid))
                left -= take
            ahead = ref.queue_position(OURS)
            if ahead is not None:
                expect_fill = max(0, min(qty - filled, volume - ahead))
        recs = records(rows, ts)
        mkt.apply_mbo(recs)
        ref.apply_mbo(recs)
        out = venue.on_market(recs)
        got = sum(d.report.quantity for d in out if isinstance(d.report, Fill))
        assert got == expect_fill
        if expect_fill:
            filled += expect_fill
            if filled == qty:
                ref.cancel(OURS)
            else:
                ref.cancel(OURS, expect_fill)  # our fill keeps our place
        if filled < qty:
            assert venue.queue_ahead("b") == ref.queue_position(OURS)
        else:
            assert venue.orders["b"].state == "Filled" and OURS not in ref
