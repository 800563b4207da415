"""Random fills of a scale-out bracket (one stop, several targets, anchored on the fill):
after every report the stop covers exactly what is open, the targets never hold more than is
open nor more than their share, and once the position is closed nothing of it can fill."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.trading.brackets import BracketManager
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderEvent,
    OrderManager,
    OrderState,
    Side,
)
from tests.property.ninjatrader import confirm

S = OrderState
P = 19240


@settings(max_examples=300, deadline=None)
@given(
    st.data(),
    st.lists(st.integers(1, 3), min_size=2, max_size=4),
    st.sampled_from([OrderAction.BUY, OrderAction.SELL_SHORT]),
)
def test_scale_out_legs_always_cover_what_is_open(data, shares, action) -> None:  # type: ignore[no-untyped-def]
    bm = BracketManager(OrderManager())
    d = 1 if action is OrderAction.BUY else -1
    qty = sum(shares)
    plan = tuple((4 * (i + 1), q) for i, q in enumerate(shares))
    b, _ = bm.submit(0, "ESH4", action, qty, stop_loss_ticks=8, scale_out=plan, relative=True)
    om = bm.orders.orders
    bm.apply_update(0, OrderEvent(b.entry, S.WORKING, 0, qty))
    entry_side, exit_side = (Side.BUY, Side.SELL) if d > 0 else (Side.SELL, Side.BUY)
    t = 0

    def live(cid: str | None) -> bool:
        return cid is not None and not om[cid].terminal and not om[cid].cancel_requested

    for _ in range(data.draw(st.integers(1, 15))):
        t += 1
        entry = om[b.entry]
        open_qty = bm.net(b) * d
        choices = [c for c in [b.entry] if entry.filled < qty and not entry.cancel_requested]
        if open_qty > 0:
            choices += [c for c in (b.stop, *b.targets) if live(c)]  # type: ignore[misc]
        if not choices:
            break
        cid = data.draw(st.sampled_from(choices))
        o = om[cid]
        room = o.requested_quantity - o.filled
        k = data.draw(st.integers(1, room if cid == b.entry else min(room, open_qty)))
        side = entry_side if cid == b.entry else exit_side
        price = P if cid == b.entry else (o.limit_ticks or o.stop_ticks or P)
        if o.filled + k >= o.requested_quantity:  # NinjaTrader: the update, then the execution
            confirm(bm, bm.apply_update(t, OrderEvent(cid, S.FILLED, t, o.requested_quantity,
                                                  o.filled + k))[1], t)  # fmt: skip
        confirm(bm, bm.apply_fill(t, Fill(f"x{t}", cid, t, price, k, side))[1], t)
        # the invariants, after every report
        entry, open_qty = om[b.entry], bm.net(b) * d
        assert open_qty >= 0
        assert (b.stop is not None) == (entry.filled > 0)
        if b.stop is None:
            continue
        assert om[b.stop].stop_ticks == P - 8 * d  # anchored on the first fill
        if open_qty > 0:
            assert live(b.stop) and om[b.stop].requested_quantity == om[b.stop].filled + open_qty
        working = 0
        for (price, share), tc in zip(b.plan, b.targets, strict=True):
            if tc is None:
                continue
            leg = om[tc]
            assert leg.limit_ticks == price and (price - P) * d > 0
            assert leg.requested_quantity <= share
            if live(tc):
                working += leg.requested_quantity - leg.filled
        assert working <= open_qty
        if open_qty == 0:  # closed: nothing of the bracket may still fill
            for c in b.cids():
                assert om[c].terminal or om[c].cancel_requested or om[c].filled >= om[c].quantity
    assert not any(o.overfill for o in om.values())
