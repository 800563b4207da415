"""The simulated venue on hand-built books: queue positions, book walks, taken liquidity,
triggers, partial fills and OCO, latency, costs. Prices are ticks; every number is exact."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from orderflow.backtest import LatencyModel, SimVenue
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags, Side
from orderflow.model.instruments import get_instrument
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderManager,
    OrderState,
    OrderType,
)

ES = get_instrument("ES")
MES = get_instrument("MES")
A, C, M, T, F = Action.ADD, Action.CANCEL, Action.MODIFY, Action.TRADE, Action.FILL
BID, ASK, NONE = Side.BID, Side.ASK, Side.NONE
LAST = int(Flags.LAST)


def mbo(*rows: tuple) -> np.ndarray:
    """MBO records from (ts, action, side, price, size, order_id[, last]) rows."""
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, r in enumerate(rows):
        ts, act, side, price, size, oid = r[:6]
        last = r[6] if len(r) > 6 else True
        out[i]["ts_event"] = out[i]["ts_recv"] = ts
        out[i]["sequence"] = i
        out[i]["action"], out[i]["side"], out[i]["price"] = act, side, price
        out[i]["size"], out[i]["order_id"] = size, oid
        out[i]["flags"] = LAST if last else 0
    return out


_ref = iter(range(1, 1_000_000))


def cmd(t, cid, action, otype=None, qty=0, limit=None, stop=None, oco="", op="submit",
        inst="ES"):  # fmt: skip
    act = {"buy": OrderAction.BUY, "sell": OrderAction.SELL}.get(action, action)
    return OrderCommand(next(_ref), op, cid, inst, t, act, otype, qty, limit, stop, None, oco)


def fills(deliveries) -> list[tuple[str, int, int]]:
    return [(d.report.cid, d.report.price_ticks, d.report.quantity)
            for d in deliveries if isinstance(d.report, Fill)]  # fmt: skip


def states(deliveries, cid) -> list[str]:
    return [str(d.report.state) for d in deliveries
            if isinstance(d.report, OrderEvent) and d.report.cid == cid]  # fmt: skip


def book_ladder() -> np.ndarray:
    """Bids 100 x 5 (id 1), 100 x 3 (id 2), 99 x 10 (id 3); asks 101 x 2 (id 11), 102 x 3
    (id 12), 103 x 5 (id 13)."""
    return mbo(
        (1, A, BID, 100, 5, 1), (1, A, BID, 100, 3, 2), (1, A, BID, 99, 10, 3),
        (1, A, ASK, 101, 2, 11), (1, A, ASK, 102, 3, 12), (1, A, ASK, 103, 5, 13),
    )  # fmt: skip


def venue(**kw) -> SimVenue:
    v = SimVenue(ES, **kw)
    v.on_market(book_ladder())
    return v


# ---- queue position (L3, exact) -------------------------------------------------------------


def test_l3_queue_advances_by_cancels_and_trades_ahead_never_behind():
    v = venue()
    v.send(cmd(10, "b", "buy", OrderType.LIMIT, 4, limit=100))
    out = v.on_market(mbo((20, A, BID, 100, 6, 4)))  # arrives at 10: joins behind ids 1, 2
    assert states(out, "b") == ["Accepted", "Working"]
    assert v.queue_ahead("b") == 8
    v.on_market(mbo((30, C, BID, 100, 6, 4)))  # behind us: no change
    assert v.queue_ahead("b") == 8
    v.on_market(mbo((40, C, BID, 100, 2, 1)))  # ahead, partial cancel
    assert v.queue_ahead("b") == 6
    v.on_market(mbo((45, A, BID, 100, 7, 5), (46, M, BID, 100, 9, 5)))  # behind, grows
    assert v.queue_ahead("b") == 6
    v.on_market(mbo((50, M, BID, 100, 5, 1)))  # ahead, grows: loses priority, goes behind us
    assert v.queue_ahead("b") == 3
    # a sell aggressor trades 2 at 100 (id 2 filled 2): not enough to reach us
    out = v.on_market(mbo((60, T, ASK, 100, 2, 99, False), (60, F, BID, 100, 2, 2, False),
                          (60, C, BID, 100, 2, 2)))  # fmt: skip
    assert fills(out) == [] and v.queue_ahead("b") == 1
    # two prints of one aggressor in one event before the book records: 1 ahead, then us
    out = v.on_market(mbo((70, T, ASK, 100, 1, 98, False), (70, T, ASK, 100, 2, 98, False),
                          (70, F, BID, 100, 1, 2, False), (70, C, BID, 100, 1, 2, False),
                          (70, C, BID, 100, 1, 1)))  # fmt: skip
    assert fills(out) == [("b", 100, 2)]
    assert states(out, "b") == ["PartFilled"] and v.queue_ahead("b") == 0
    out = v.on_market(mbo((80, T, ASK, 100, 5, 97, False), (80, C, BID, 100, 5, 1)))
    assert fills(out) == [("b", 100, 2)] and states(out, "b") == ["Filled"]


def test_l3_a_buy_aggressor_print_at_our_bid_does_not_fill_it():
    v = venue()
    v.send(cmd(10, "b", "buy", OrderType.LIMIT, 1, limit=100))
    v.advance(10)
    # the first T buys at 100 (a buyer lifting an ask at 100 in a locked book): not our side
    out = v.on_market(mbo((20, T, BID, 100, 50, 9)))
    assert fills(out) == [] and v.queue_ahead("b") == 8


def test_l3_trade_through_our_price_fills_the_rest_at_our_price():
    v = venue()
    v.send(cmd(10, "b", "buy", OrderType.LIMIT, 3, limit=100))
    v.advance(10)
    out = v.on_market(mbo((20, T, ASK, 100, 8, 9, False), (20, T, ASK, 99, 1, 9, False),
                          (20, C, BID, 100, 5, 1, False), (20, C, BID, 100, 3, 2)))  # fmt: skip
    assert fills(out) == [("b", 100, 3)]


def test_two_of_our_limits_at_one_price_fill_in_their_order_from_distinct_size():
    v = venue()
    v.send(cmd(10, "b1", "buy", OrderType.LIMIT, 2, limit=100))
    v.send(cmd(11, "b2", "buy", OrderType.LIMIT, 2, limit=100))
    v.advance(11)
    assert v.queue_ahead("b1") == v.queue_ahead("b2") == 8  # market orders ahead: the same
    out = v.on_market(mbo((20, T, ASK, 100, 11, 9, False), (20, C, BID, 100, 5, 1, False),
                          (20, C, BID, 100, 3, 2)))  # fmt: skip
    # 8 ahead, then b1 takes 2, then b2 the 1 left: 11 in all, never 2 + 2
    assert fills(out) == [("b1", 100, 2), ("b2", 100, 1)]


# ---- market orders walk the book; taken liquidity stays taken ------------------------------


def test_market_order_average_price_equals_the_book_walk():
    v = venue()
    v.send(cmd(10, "m", "buy", OrderType.MARKET, 6))
    out = v.advance(10)
    assert fills(out) == [("m", 101, 2), ("m", 102, 3), ("m", 103, 1)]
    avg = Fraction(sum(p * q for _, p, q in fills(out)), 6)
    assert avg == Fraction(611, 6)  # 101.8333 ticks: (2 x 101 + 3 x 102 + 1 x 103) / 6
    assert states(out, "m") == ["Accepted", "Working", "PartFilled", "PartFilled", "Filled"]


def test_no_fill_from_liquidity_we_already_took():
    v = SimVenue(ES)
    v.on_market(mbo((1, A, ASK, 101, 2, 11), (1, A, ASK, 102, 1, 12), (1, A, BID, 100, 1, 1)))
    v.send(cmd(10, "m1", "buy", OrderType.MARKET, 2))
    v.send(cmd(10, "m2", "buy", OrderType.MARKET, 2))
    out = v.advance(10)
    # m1 took 101 x 2; m2 finds only 102 x 1 and the rest is cancelled (nothing left)
    assert fills(out) == [("m1", 101, 2), ("m2", 102, 1)]
    assert states(out, "m2")[-1] == "Cancelled"
    assert v.taken == {(1, 101): 2, (1, 102): 1}
    # the market removes 1 at 101 (what we took, from our point of view): 1 still taken there
    v.on_market(mbo((20, C, ASK, 101, 1, 11)))
    assert v.taken == {(1, 101): 1, (1, 102): 1}
    v.send(cmd(21, "m3", "buy", OrderType.MARKET, 1))
    out = v.advance(21)
    assert fills(out) == []  # 101 x 1 left in the book, but it is ours already
    # replenished: 3 more at 101 are new size; what we took is still counted against it
    v.on_market(mbo((30, A, ASK, 101, 3, 14)))
    v.send(cmd(31, "m4", "buy", OrderType.MARKET, 5))
    out = v.advance(31)
    assert fills(out) == [("m4", 101, 3)]


def test_marketable_limit_takes_up_to_its_price_and_rests_with_the_rest():
    v = venue()
    v.send(cmd(10, "b", "buy", OrderType.LIMIT, 7, limit=102))
    out = v.advance(10)
    assert fills(out) == [("b", 101, 2), ("b", 102, 3)]
    assert v.orders["b"].resting and v.queue_ahead("b") == 0


# ---- stops and MIT trigger on prints -------------------------------------------------------


def test_stop_triggers_on_a_trade_not_on_a_quote():
    v = venue()
    v.on_market(mbo((5, T, ASK, 100, 1, 9, False), (5, C, BID, 100, 1, 1)))  # last print 100
    v.send(cmd(10, "s", "sell", OrderType.STOP_MARKET, 2, stop=99))
    v.advance(10)
    # the bid at 100 is pulled: the best bid is now 99, but nothing printed at 99
    out = v.on_market(mbo((20, C, BID, 100, 4, 1, False), (20, C, BID, 100, 3, 2)))
    assert fills(out) == [] and v.orders["s"].state == OrderState.WORKING
    # a print at 99 triggers it; it sells into the book left after that event (99 x 9)
    out = v.on_market(mbo((30, T, ASK, 99, 1, 9, False), (30, C, BID, 99, 1, 3),
                          (40, C, BID, 99, 9, 3)))  # fmt: skip
    assert fills(out) == [("s", 99, 2)]
    assert out[-1].report.t == 30  # filled at the end of the triggering event, before t=40


def test_stops_on_the_wrong_side_are_rejected():
    v = venue()
    v.on_market(mbo((5, T, BID, 101, 1, 9, False), (5, C, ASK, 101, 1, 11)))  # last 101
    v.send(cmd(10, "bs", "buy", OrderType.STOP_MARKET, 1, stop=100))
    v.send(cmd(10, "ss", "sell", OrderType.STOP_LIMIT, 1, limit=103, stop=102))
    out = v.advance(10)
    assert states(out, "bs") == ["Rejected"] and states(out, "ss") == ["Rejected"]
    rej = [d.report for d in out if d.report.state == OrderState.REJECTED]
    assert rej[0].comment.startswith("buy stop orders can't be placed below the market")
    assert rej[1].comment.startswith("sell stop orders can't be placed above the market")


def test_stop_limit_rests_as_a_limit_after_its_trigger():
    v = venue()
    v.send(cmd(10, "sl", "buy", OrderType.STOP_LIMIT, 3, limit=102, stop=102))
    v.advance(10)
    # buyers take all of 101 and 102; the print at 102 triggers; the ask is 103 after it
    out = v.on_market(mbo((20, T, BID, 101, 2, 9, False), (20, T, BID, 102, 3, 9, False),
                          (20, C, ASK, 101, 2, 11, False), (20, C, ASK, 102, 3, 12, False),
                          (20, A, BID, 102, 4, 21)))  # fmt: skip
    assert fills(out) == []
    o = v.orders["sl"]
    assert o.triggered and o.resting and v.queue_ahead("sl") == 4  # behind the bid of 4 at 102
    out = v.on_market(mbo((30, T, ASK, 102, 6, 9, False), (30, C, BID, 102, 4, 21)))
    assert fills(out) == [("sl", 102, 2)]


def test_mit_triggers_on_a_print_at_its_price_and_becomes_a_market_order():
    v = venue()
    v.on_market(mbo((5, T, BID, 101, 1, 9, False), (5, C, ASK, 101, 1, 11)))
    v.send(cmd(10, "mit", "buy", OrderType.MIT, 2, stop=100))
    v.advance(10)
    out = v.on_market(mbo((20, A, BID, 100, 1, 7)))  # a quote at 100: nothing
    assert fills(out) == []
    out = v.on_market(mbo((30, T, ASK, 100, 1, 9, False), (30, C, BID, 100, 1, 1)))
    assert fills(out) == [("mit", 101, 1), ("mit", 102, 1)]  # asks 101 x 1, 102 x 3


# ---- partial fills and OCO -----------------------------------------------------------------


def test_partial_fills_then_oco_sibling_cancelled_when_a_leg_fills():
    v = venue()
    v.send(cmd(10, "tgt", "sell", OrderType.LIMIT, 3, limit=103, oco="g1"))
    v.send(cmd(10, "stp", "sell", OrderType.STOP_MARKET, 3, stop=98, oco="g1"))
    v.advance(10)
    assert v.queue_ahead("tgt") == 5
    out = v.on_market(mbo((20, T, BID, 103, 6, 9, False), (20, C, ASK, 103, 5, 13)))
    assert fills(out) == [("tgt", 103, 1)] and states(out, "stp") == []  # a part fill: kept
    out = v.on_market(mbo((30, T, BID, 103, 2, 9)))
    assert fills(out) == [("tgt", 103, 2)]
    assert states(out, "tgt") == ["Filled"] and states(out, "stp") == ["Cancelled"]
    assert [d.report.comment for d in out if d.report.cid == "stp"] == ["OCO g1: tgt Filled"]


def test_cancelling_one_oco_leg_cancels_the_other():
    v = venue()
    v.send(cmd(10, "a", "sell", OrderType.LIMIT, 1, limit=103, oco="g2"))
    v.send(cmd(10, "b", "sell", OrderType.STOP_MARKET, 1, stop=98, oco="g2"))
    v.send(cmd(20, "a", None, op="cancel"))
    out = v.advance(20)
    assert states(out, "a")[-1] == "Cancelled" and states(out, "b")[-1] == "Cancelled"


def test_change_to_a_new_price_loses_priority_a_smaller_size_keeps_it():
    v = venue()
    v.send(cmd(10, "b", "buy", OrderType.LIMIT, 4, limit=100))
    v.advance(10)
    v.on_market(mbo((15, A, BID, 100, 2, 4), (16, C, BID, 100, 5, 1)))
    assert v.queue_ahead("b") == 3
    v.send(OrderCommand(900, "change", "b", "ES", 20, quantity=2, limit_ticks=100))
    v.advance(20)
    assert v.queue_ahead("b") == 3 and v.orders["b"].quantity == 2
    v.send(OrderCommand(901, "change", "b", "ES", 30, quantity=2, limit_ticks=99))
    v.advance(30)
    assert v.queue_ahead("b") == 10  # behind the 10 at 99


# ---- latency -------------------------------------------------------------------------------


def test_an_order_sent_at_t_fills_against_the_book_at_t_plus_latency():
    v = venue(order_latency=500, md_latency=200)
    out = v.send(cmd(1000, "m", "buy", OrderType.MARKET, 2))
    assert [(d.at_ns, d.report.state) for d in out] == [(1000, OrderState.SUBMITTED)]
    # at 1200 the ask at 101 goes (sold out of sight); at 1600 a new one comes at 101
    out = v.on_market(mbo((1200, C, ASK, 101, 2, 11), (1600, A, ASK, 101, 5, 14)))
    assert fills(out) == [("m", 102, 2)]  # the book at 1500, not at 1000 nor 1600
    assert all(d.at_ns == d.report.t + 200 for d in out) and out[-1].report.t == 1500


def test_empirical_latency_is_seeded_and_reproducible():
    samples = np.array([100, 200, 300, 5_000])
    a = LatencyModel(samples_ns=samples, seed=7).many(1000)
    b = LatencyModel(samples_ns=samples, seed=7).many(1000)
    assert np.array_equal(a, b) and set(a.tolist()) == {100, 200, 300, 5_000}
    assert not np.array_equal(a, LatencyModel(samples_ns=samples, seed=8).many(1000))
    assert LatencyModel(250).next() == 250
    with pytest.raises(ValueError):
        LatencyModel(samples_ns=[-1])


def test_commands_keep_their_order_whatever_the_latency_draws():
    v = venue(order_latency=LatencyModel(samples_ns=[10, 1_000], seed=3))
    for i in range(20):
        v.send(cmd(100 + i, f"c{i}", "buy", OrderType.LIMIT, 1, limit=90))
    arrivals = [a for a, _ in v._pending]
    assert arrivals == sorted(arrivals)


# ---- costs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inst", "qty", "commission", "fees"),
    [(ES, 2, "2.58", "3.00"), (MES, 3, "1.05", "1.26")],  # default profile, per side
)
def test_commission_and_fees_from_the_broker_profile(inst, qty, commission, fees):
    v = SimVenue(inst)
    v.on_market(book_ladder())
    v.send(cmd(10, "m", "buy", OrderType.MARKET, qty, inst=inst.symbol))
    got = [d.report for d in v.advance(10) if isinstance(d.report, Fill)]
    assert sum(f.commission for f in got) == Decimal(commission)
    assert sum(f.fees for f in got) == Decimal(fees)
    assert [f.execution_id for f in got] == [f"SIM-{i + 1}" for i in range(len(got))]
    assert {f.instrument for f in got} == {inst.symbol}


def test_the_micro_fills_on_the_standards_book_at_its_own_costs():
    # an ESH4 venue takes MESH4 orders (the sizing's micro): the same book, the same prices
    # in ticks, the micro's commission and fees, the fill named MESH4; any other contract
    # is refused locally
    v = SimVenue(get_instrument("ESH4"))
    v.on_market(book_ladder())
    v.send(cmd(10, "m", "buy", OrderType.MARKET, 3, inst="MESH4"))
    v.send(cmd(10, "e", "buy", OrderType.MARKET, 2, inst="ESH4"))
    got = [d.report for d in v.advance(10) if isinstance(d.report, Fill)]
    micro = [f for f in got if f.cid == "m"]
    assert {f.instrument for f in micro} == {"MESH4"}
    assert sum(f.quantity for f in micro) == 3
    assert sum(f.commission for f in micro) == Decimal("1.05")  # 3 x 0.35
    assert sum(f.fees for f in micro) == Decimal("1.26")  # 3 x (0.35 + 0.05 + 0.02)
    std = [f for f in got if f.cid == "e"]
    assert {f.instrument for f in std} == {"ESH4"}
    assert sum(f.commission for f in std) == Decimal("2.58")
    # the standard's order fills after the micro's took the touch: it walks on
    assert min(f.price_ticks for f in std) >= max(f.price_ticks for f in micro)
    out = v.send(cmd(20, "n", "buy", OrderType.MARKET, 1, inst="NQH4"))
    assert states(out, "n") == ["Rejected"]


def test_local_rejections_and_the_order_desk_takes_the_reports():
    v = venue()
    out = v.send(cmd(10, "x", "buy", OrderType.LIMIT, 1))  # no limit price
    assert states(out, "x") == ["Rejected"] and out[0].at_ns == 10
    desk = OrderManager(account="Sim101")
    c = desk.submit(20, "ES", OrderAction.BUY, OrderType.MARKET, 3, cid="e1")
    out = v.send(c) + v.advance(20)
    for d in out:
        if isinstance(d.report, Fill):
            assert desk.apply_fill(d.report)
        else:
            assert desk.apply_update(d.report, "ES") == "applied"
    o = desk.orders["e1"]
    assert o.state == OrderState.FILLED and o.filled == 3 and o.avg_fill_ticks == 304 / 3


# ---- a shared book ---------------------------------------------------------------------------


def test_a_venue_on_a_shared_book_cuts_where_it_must_read_it():
    from orderflow.book.l3 import OrderBook

    book = OrderBook(ES)
    v = SimVenue(ES, book=book)
    first = book_ladder()
    book.apply_mbo(first)
    v.on_market(first)
    v.send(cmd(10, "s", "sell", OrderType.STOP_MARKET, 2, stop=99))
    v.send(cmd(10, "m", "buy", OrderType.MARKET, 1))
    later = mbo((5, C, BID, 100, 1, 1), (20, T, ASK, 99, 1, 9, False), (20, C, BID, 99, 1, 3),
                (30, C, BID, 99, 9, 3))  # fmt: skip
    assert v.next_cut(later) == 1  # the commands arrive at 10: after the first record
    book.apply_mbo(later[:1])
    out = v.on_market(later[:1]) + v.advance(19)  # due before the next record, at 20
    assert fills(out) == [("m", 101, 1)]
    assert v.next_cut(later[1:]) == 2  # the print at 99 fires the stop: to its event's end
    with pytest.raises(ValueError, match="next_cut"):
        book2 = OrderBook(ES)
        v2 = SimVenue(ES, book=book2)
        book2.apply_mbo(first)
        v2.on_market(first)
        v2.send(cmd(10, "s", "sell", OrderType.STOP_MARKET, 2, stop=99))
        v2.advance(10)
        book2.apply_mbo(later)
        v2.on_market(later)  # past the trigger's event: the book is no longer as it was
    book.apply_mbo(later[1:3])
    out = v.on_market(later[1:3])
    assert fills(out) == [("s", 100, 2)]  # the book after the event at 20: 100 x 7 bid


def test_lobster_style_stream_prints_with_its_fills():
    """LOBSTER has visible executions as F + C records and no T: with prints="fills" an F of
    a resting order is the print (its aggressor the other side), a T (a hidden execution)
    triggers stops but fills no queue; with Databento's rule the F would fill nothing."""
    got = {}
    for prints in ("fills", "trades"):
        v = venue(prints=prints)
        v.send(cmd(10, "b", "buy", OrderType.LIMIT, 4, limit=100))
        v.send(cmd(10, "st", "sell", OrderType.STOP_MARKET, 1, stop=99))
        v.advance(10)
        out = v.on_market(mbo(
            (20, F, BID, 100, 5, 1, False), (20, C, BID, 100, 5, 1),  # the front order: ahead
            (30, F, BID, 100, 3, 2, False), (30, C, BID, 100, 3, 2),  # ahead 0 now
            (40, F, BID, 100, 2, 4),  # an order behind us filled: we were in front of it
            (50, T, ASK, 100, 9, 0),  # a hidden execution at our price: no queue taken
        ))  # fmt: skip
        got[prints] = fills(out)
    assert got["fills"] == [("b", 100, 2)]
    assert got["trades"] == [("b", 100, 4)]  # Databento's rule: the T at 50 fills, not the F
    v = venue(prints="fills")
    v.on_market(mbo((5, T, ASK, 100, 1, 0, False), (5, C, BID, 100, 1, 1)))  # last print 100
    v.send(cmd(10, "st", "sell", OrderType.STOP_MARKET, 1, stop=99))
    v.advance(10)
    out = v.on_market(mbo((20, T, ASK, 99, 1, 0)))  # a hidden print at 99 still triggers
    assert fills(out) == [("st", 100, 1)]
    with pytest.raises(ValueError, match="prints"):
        SimVenue(ES, prints="quotes")


def test_a_stop_moved_to_the_wrong_side_keeps_its_old_price():
    v = venue()
    v.on_market(mbo((5, T, ASK, 100, 1, 9, False), (5, C, BID, 100, 1, 1)))  # last print 100
    v.send(cmd(10, "s", "sell", OrderType.STOP_MARKET, 2, stop=98))
    v.advance(10)
    v.send(OrderCommand(902, "change", "s", "ES", 20, quantity=2, stop_ticks=101))
    out = v.advance(20)
    (ev,) = [d.report for d in out if isinstance(d.report, OrderEvent)]
    assert ev.error == "UnableToChangeOrder" and ev.stop_ticks == 98
    assert ev.comment.startswith("sell stop orders can't be placed above the market")
    v.send(OrderCommand(903, "change", "s", "ES", 30, quantity=2, stop_ticks=99))
    v.advance(30)
    assert v.orders["s"].stop_ticks == 99 and v.orders["s"].state == OrderState.WORKING
