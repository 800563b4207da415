"""The order-state machine against NinjaTrader's documented lifecycle (ninjatrader-api.md
3.3): skipped states accepted, terminal states final, late and repeated by-value updates
ignored, fills only from executions (once each), overfills, changes while a cancel is pending,
rejections, commands that time out on the clock passed in; and brackets resized on partial
fills."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderflow.core.errors import OffTickError
from orderflow.model.instruments import get_instrument
from orderflow.trading.brackets import BracketManager
from orderflow.trading.orders import (
    TERMINAL,
    TRANSITIONS,
    CommandError,
    Fill,
    OrderAction,
    OrderEvent,
    OrderManager,
    OrderState,
    OrderType,
    Side,
    fill_event,
    order_event,
)

S = OrderState
ES = get_instrument("ESH4")
P = 19241  # 4810.25 in ES ticks
BUY, LIMIT = OrderAction.BUY, OrderType.LIMIT


def limit_buy(om: OrderManager, qty: int = 2, now: int = 1_000) -> str:
    cmd = om.submit(now, "ESH4", BUY, LIMIT, qty, limit_ticks=P)
    return cmd.cid


def ev(
    cid: str, state: OrderState, t: int, qty: int = 2, filled: int = 0, **kw: object
) -> OrderEvent:
    return OrderEvent(cid, state, t, qty, filled, limit_ticks=P, **kw)  # type: ignore[arg-type]


def fill(cid: str, eid: str, t: int, qty: int = 1, price: int = P, side: Side = Side.BUY) -> Fill:
    return Fill(eid, cid, t, price, qty, side, commission=Decimal("0.35"), instrument="ESH4")


def test_the_documented_lifecycle_with_partial_fills() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    order = om.orders[cid]
    assert order.state is S.INITIALIZED and order.requested_quantity == 2
    for i, st in enumerate([S.INITIALIZED, S.SUBMITTED, S.ACCEPTED, S.WORKING]):
        assert om.apply_update(ev(cid, st, 10 + i)) == "applied"
    assert om.apply_update(ev(cid, S.PART_FILLED, 20, filled=1)) == "applied"
    # the order update said one filled: that is not a fill until the execution comes
    assert order.filled == 0 and order.reported_filled == 1
    assert om.apply_fill(fill(cid, "E1", 20))
    assert om.apply_update(ev(cid, S.FILLED, 21, filled=2)) == "applied"
    assert order.filled == 1 and order.terminal  # Filled state, one execution still to come
    assert om.apply_fill(fill(cid, "E2", 21, price=P + 1))
    assert order.filled == 2 and order.remaining == 0 and order.avg_fill_ticks == P + 0.5
    assert not order.overfill and not order.anomalies
    assert om.counters["updates_applied"] == 6


@pytest.mark.parametrize(
    "path",
    [
        [S.SUBMITTED, S.WORKING, S.FILLED],  # Submitted -> Working (Accepted skipped)
        [S.WORKING, S.FILLED],  # Working -> Filled (PartFilled skipped)
        [S.SUBMITTED, S.FILLED],  # a market order
        [S.SUBMITTED, S.ACCEPTED, S.TRIGGER_PENDING, S.WORKING, S.CANCEL_PENDING, S.CANCELLED],
        [S.SUBMITTED, S.SUSPENDED, S.WORKING, S.PART_FILLED, S.CANCEL_PENDING,
         S.CANCEL_SUBMITTED, S.CANCELLED],  # a part-filled order ends Cancelled
        [S.SUBMITTED, S.ACCEPTED_BY_RISK, S.ACCEPTED, S.WORKING, S.FILLED],
        [S.WORKING, S.CHANGE_PENDING, S.CHANGE_SUBMITTED, S.ACCEPTED, S.WORKING, S.FILLED],
        [S.SUBMITTED, S.REJECTED],
        [S.INITIALIZED, S.REJECTED],  # rejected locally
        [S.WORKING, S.UNKNOWN],
    ],
)  # fmt: skip
def test_documented_and_skipped_paths_are_accepted(path: list[OrderState]) -> None:
    om = OrderManager()
    cid = limit_buy(om)
    filled = 0
    for i, st in enumerate(path):
        filled = 1 if st is S.PART_FILLED else filled  # by value: never less than before
        assert om.apply_update(ev(cid, st, 10 + i, filled=filled)) == "applied", st
    assert om.orders[cid].state is path[-1]
    assert not om.orders[cid].anomalies


def test_the_table_matches_ninjatraders_terminal_states() -> None:
    assert {s for s, nxt in TRANSITIONS.items() if not nxt} == set(TERMINAL)
    assert {S.FILLED, S.CANCELLED, S.REJECTED, S.UNKNOWN} == TERMINAL
    assert set(TRANSITIONS) == set(OrderState)  # all 16 states have a row
    for state in set(OrderState) - TERMINAL:  # every live state can still end
        assert {S.REJECTED, S.UNKNOWN} <= TRANSITIONS[state] or state is S.CANCEL_SUBMITTED


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_nothing_moves_a_terminal_order(terminal: OrderState) -> None:
    om = OrderManager()
    cid = limit_buy(om)
    om.apply_update(ev(cid, S.WORKING, 10))
    om.apply_update(ev(cid, terminal, 11))
    before = om.snapshot()
    for i, st in enumerate([S.WORKING, S.PART_FILLED, S.CANCEL_PENDING, S.ACCEPTED]):
        if st is terminal:
            continue
        assert om.apply_update(ev(cid, st, 20 + i, filled=2 if st is S.PART_FILLED else 0)) in (
            "after_terminal",
        )
    assert om.snapshot() == before
    assert om.counters["updates_after_terminal"] >= 3
    assert om.orders[cid].anomalies[0].endswith(f"after {terminal}")
    with pytest.raises(CommandError) as err:
        om.cancel(30, cid)
    assert err.value.reason == "terminal"


def test_an_impossible_transition_is_counted_and_changes_nothing() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    om.apply_update(ev(cid, S.WORKING, 10))
    om.apply_update(ev(cid, S.PART_FILLED, 11, filled=1))
    before = om.snapshot()
    # later in time yet back to Submitted / Initialized: not a late report, an impossible one
    assert om.apply_update(ev(cid, S.SUBMITTED, 12, filled=1)) == "impossible"
    assert om.apply_update(ev(cid, S.INITIALIZED, 13, filled=1)) == "impossible"
    assert om.snapshot() == before and om.orders[cid].state is S.PART_FILLED
    assert om.counters["updates_impossible"] == 2
    assert om.orders[cid].anomalies == ["PartFilled -> Submitted", "PartFilled -> Initialized"]
    assert ("impossible", cid, "PartFilled -> Submitted") in om.alerts


def test_duplicate_and_late_updates_never_go_backwards() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    upd = [ev(cid, S.SUBMITTED, 10), ev(cid, S.WORKING, 11), ev(cid, S.PART_FILLED, 12, filled=1)]
    for u in upd:
        om.apply_update(u)
    assert om.apply_update(upd[2]) == "duplicate"
    assert om.apply_update(upd[1]) == "duplicate"  # seen before: nothing new
    assert om.apply_update(ev(cid, S.ACCEPTED, 10)) == "stale"  # older than the latest
    # same time but fewer filled: the by-value Working that preceded PartFilled
    assert om.apply_update(ev(cid, S.WORKING, 12, filled=0)) == "stale"
    # same time, same filled, going back in the lifecycle: late, not impossible
    assert om.apply_update(ev(cid, S.ACCEPTED, 12, filled=1)) == "stale"
    assert om.orders[cid].state is S.PART_FILLED
    assert om.counters["updates_duplicate"] == 2 and om.counters["updates_stale"] == 3
    assert om.counters["updates_impossible"] == 0


def test_executions_count_once_and_an_ack_is_not_a_fill() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    ref = om.orders[cid].commands[0].command.ref
    assert om.acknowledge(ref, "done", "", 5)
    assert om.acknowledge(ref, "done", "", 6)  # repeated: changes nothing
    assert om.orders[cid].filled == 0 and om.counters["acks_repeated"] == 1
    om.apply_update(ev(cid, S.FILLED, 10, filled=2))
    assert om.orders[cid].filled == 0  # a Filled report is not a fill either
    e = fill(cid, "E-77", 10, qty=2)
    assert om.apply_fill(e) and not om.apply_fill(e) and not om.apply_fill(e)
    assert om.orders[cid].filled == 2 and om.counters["executions_duplicate"] == 2
    assert [f.execution_id for f in om.orders[cid].fills] == ["E-77"]


def test_overfill_beyond_quantity() -> None:
    om = OrderManager()
    cid = limit_buy(om, qty=2)
    om.apply_update(ev(cid, S.WORKING, 10))
    om.apply_fill(fill(cid, "E1", 11, qty=2))
    assert not om.orders[cid].overfill
    om.apply_fill(fill(cid, "E2", 12, qty=1))
    order = om.orders[cid]
    assert order.overfill and order.overfill_reasons == {"beyond_quantity"}
    assert order.filled == 3  # the fill is real: counted, and flagged
    assert om.counters["overfill_beyond_quantity"] == 1
    assert ("overfill", cid, "beyond_quantity: filled 3 of 2") in om.alerts


def test_a_fill_after_the_cancel_request_is_an_overfill_whatever_the_arrival_order() -> None:
    for order_of_arrival in ("fill_first", "cancel_first"):
        om = OrderManager()
        cid = limit_buy(om)
        om.apply_update(ev(cid, S.WORKING, 10))
        before_cancel = fill(cid, "E0", 15)  # happened before we asked to cancel: fine
        after_cancel = fill(cid, "E1", 25)  # happened after the CancelPending at 21
        reports = [ev(cid, S.CANCEL_PENDING, 21, filled=0)]
        items: list[object] = [before_cancel, after_cancel, *reports]
        if order_of_arrival == "cancel_first":
            items = [*reports, before_cancel, after_cancel]
        for item in items:
            if isinstance(item, Fill):
                om.apply_fill(item)
            else:
                om.apply_update(item)  # type: ignore[arg-type]
        order = om.orders[cid]
        assert order.cancel_t == 21 and order.filled == 2
        assert order.overfill_reasons == {"after_cancel"}, order_of_arrival


def test_our_cancel_request_marks_the_order_and_is_sent_once() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    om.apply_update(ev(cid, S.WORKING, 10))
    cmd = om.cancel(20, cid)
    assert cmd is not None and cmd.op == "cancel" and om.orders[cid].cancel_t == 20
    assert om.cancel(21, cid) is None and om.counters["cancel_already_pending"] == 1
    om.apply_fill(fill(cid, "E1", 22))  # filled while the cancel travelled: an overfill
    assert om.orders[cid].overfill_reasons == {"after_cancel"}
    # NinjaTrader could not cancel it: it is working again, later fills are normal
    om.apply_update(ev(cid, S.CANCEL_PENDING, 21))
    om.apply_update(ev(cid, S.PART_FILLED, 23, filled=1, error="UnableToCancelOrder"))
    assert om.orders[cid].cancel_t is None and not om.orders[cid].overfill


def test_a_change_while_a_cancel_is_pending_is_refused() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    om.apply_update(ev(cid, S.WORKING, 10))
    change = om.change(15, cid, quantity=3)
    assert change.quantity == 3 and om.orders[cid].requested_quantity == 3
    om.cancel(20, cid)
    with pytest.raises(CommandError) as err:
        om.change(21, cid, quantity=4)
    assert err.value.reason == "cancel_pending" and om.counters["refused_cancel_pending"] == 1
    # and NinjaTrader reporting a change cycle during its cancel is impossible
    om.apply_update(ev(cid, S.CANCEL_PENDING, 22))
    assert om.apply_update(ev(cid, S.CHANGE_PENDING, 23)) == "impossible"
    assert om.orders[cid].state is S.CANCEL_PENDING
    assert om.apply_update(ev(cid, S.CANCELLED, 24)) == "applied"


def test_change_rules_and_the_change_cycle() -> None:
    om = OrderManager()
    cid = limit_buy(om, qty=3)
    om.apply_update(ev(cid, S.WORKING, 10, qty=3))
    om.apply_fill(fill(cid, "E1", 11, qty=2))
    with pytest.raises(CommandError, match="must exceed the 2 filled"):
        om.change(12, cid, quantity=2)
    with pytest.raises(CommandError) as err:
        om.change(12, cid)
    assert err.value.reason == "nothing_to_change"
    cmd = om.change(12, cid, limit_ticks=P - 4)
    assert (cmd.quantity, cmd.limit_ticks) == (3, P - 4)
    assert cmd.fields(ES) == {"op": "change", "cid": cid, "quantity": 3, "limit_price": 4809.25,
                              "stop_price": 0.0}  # fmt: skip
    for i, st in enumerate([S.CHANGE_PENDING, S.CHANGE_SUBMITTED, S.PART_FILLED]):
        assert om.apply_update(ev(cid, st, 13 + i, qty=3, filled=2)) == "applied"
    assert om.orders[cid].pending() == []  # the change was answered by the reports


def test_rejection_and_a_refused_submit() -> None:
    om = OrderManager()
    cid = limit_buy(om)
    om.apply_update(ev(cid, S.SUBMITTED, 10))
    om.apply_update(ev(cid, S.REJECTED, 11, error="OrderRejected", comment="margin"))
    order = om.orders[cid]
    assert order.terminal and order.error == "OrderRejected"
    assert ("order_rejected", cid, "OrderRejected margin") in om.alerts
    cid2 = limit_buy(om, now=20)
    ref = om.orders[cid2].commands[0].command.ref
    assert om.acknowledge(ref, "refused", "historical", 21)
    assert om.orders[cid2].state is S.REJECTED and om.orders[cid2].comment == "historical"


def test_unanswered_commands_time_out_on_the_clock_passed_in() -> None:
    om = OrderManager(timeout_ns=5_000)
    a = limit_buy(om, now=1_000)
    b = limit_buy(om, now=2_000)
    om.apply_update(ev(b, S.SUBMITTED, 2_500))  # answered by NinjaTrader's report
    assert om.expire(5_999) == []  # not yet 5 us past 1_000
    out = om.expire(6_001)
    assert [pc.command.cid for pc in out] == [a] and out[0].status == "timed_out"
    assert om.expire(9_000) == []  # alerted once
    assert om.counters["commands_timed_out"] == 1
    assert om.alerts[-1][0] == "command_timeout" and a in om.alerts[-1][2]
    # a late answer is still taken
    assert om.acknowledge(out[0].command.ref, "done", "", 9_500)
    assert om.counters["acks_late"] == 1 and om.orders[a].pending() == []


def test_submit_validation_cids_and_oco_groups() -> None:
    om = OrderManager()
    with pytest.raises(CommandError, match="needs a limit price"):
        om.submit(1, "ESH4", BUY, LIMIT, 1)
    with pytest.raises(CommandError, match="needs a stop price"):
        om.submit(1, "ESH4", OrderAction.SELL, OrderType.STOP_MARKET, 1)
    with pytest.raises(CommandError, match="positive"):
        om.submit(1, "ESH4", BUY, OrderType.MARKET, 0)
    with pytest.raises(CommandError) as err:
        om.submit(1, "ESH4", BUY, OrderType.MARKET, 1, cid="has space")
    assert err.value.reason == "bad_cid"
    a = om.submit(1, "ESH4", OrderAction.SELL, LIMIT, 1, limit_ticks=P + 8, oco="g1").cid
    om.submit(1, "ESH4", OrderAction.SELL, OrderType.STOP_MARKET, 1, stop_ticks=P - 8, oco="g1")
    with pytest.raises(CommandError) as err:
        om.submit(1, "ESH4", BUY, OrderType.MARKET, 1, cid=a)
    assert err.value.reason == "cid_reused"
    for cid in list(om.orders):
        om.apply_update(OrderEvent(cid, S.CANCELLED, 5, 1))
    with pytest.raises(CommandError) as err:
        om.submit(6, "ESH4", BUY, LIMIT, 1, limit_ticks=P, oco="g1")
    assert err.value.reason == "oco_reused"
    cmd = om.submit(7, "ESH4", BUY, OrderType.STOP_LIMIT, 2, limit_ticks=P + 1, stop_ticks=P,
                    oco="g2")  # fmt: skip
    assert cmd.fields(ES) == {"op": "submit", "cid": cmd.cid, "quantity": 2,
                              "limit_price": 4810.5, "stop_price": 4810.25, "action": "Buy",
                              "order_type": "StopLimit", "oco": "g2"}  # fmt: skip


def test_a_report_answers_a_command_and_a_later_refusal_still_counts() -> None:
    om = OrderManager(timeout_ns=100)
    cid = limit_buy(om, now=0)
    om.apply_update(ev(cid, S.WORKING, 10))
    change = om.change(20, cid, limit_ticks=P - 1)
    om.apply_update(ev(cid, S.WORKING, 30))  # a report that does not show the change
    assert [pc.status for pc in om.orders[cid].commands] == ["seen", "pending"]
    om.apply_update(OrderEvent(cid, S.WORKING, 40, 2, limit_ticks=P - 1))  # now it does
    assert om.orders[cid].commands[1].status == "seen" and om.expire(1_000) == []
    cancel = om.cancel(50, cid)
    assert cancel is not None
    assert om.acknowledge(cancel.ref, "refused", "order not found", 55)
    assert not om.orders[cid].cancel_requested  # the cancel never happened
    assert om.acknowledge(change.ref, "done", "", 56)  # seen first, answered later: taken
    assert om.counters["acks_repeated"] == 0 and not om.acknowledge(999, "done", "", 57)


def test_protocol_fields_map_onto_events_in_ticks() -> None:
    e = order_event(ES, "of-1", "PartFilled", 5, 2, 1, limit_price=4810.25, order_id="99")
    assert e == OrderEvent("of-1", S.PART_FILLED, 5, 2, 1, P, None, "99")
    f = fill_event(ES, "E-1", "of-1", 6, 4810.25, 1, "Short", commission=0.35, fees=0.8)
    assert (f.price_ticks, f.side, f.commission, f.fees) == (P, Side.SELL, Decimal("0.35"),
                                                             Decimal("0.8"))  # fmt: skip
    assert f.instrument == "ESH4"
    with pytest.raises(ValueError, match="Long or Short"):
        fill_event(ES, "E-2", "of-1", 6, 4810.25, 1, "Flat")
    with pytest.raises(OffTickError):
        order_event(ES, "of-1", "Working", 5, 2, limit_price=4810.3)


def test_a_foreign_order_is_recorded_not_ours() -> None:
    om = OrderManager()
    assert om.apply_update(OrderEvent("manual-1", S.WORKING, 10, 1)) == "applied"
    om.apply_fill(Fill("X1", "manual-1", 11, P, 1, Side.SELL, instrument="ESH4"))
    order = om.orders["manual-1"]
    assert not order.ours and order.filled == 1 and om.counters["orders_foreign"] == 1
    assert not order.overfill  # its quantity is NinjaTrader's, not ours to judge


# ---- brackets --------------------------------------------------------------------------------
STOP, TARGET = P - 8, P + 16  # 2 points below, 4 above


def bracket(qty: int = 3, action: OrderAction = BUY, **kw: object) -> tuple[BracketManager, str]:
    bm = BracketManager(OrderManager(), **kw)  # type: ignore[arg-type]
    stop, target = (STOP, TARGET) if action is BUY else (TARGET, STOP)
    b, cmds = bm.submit(1, "ESH4", action, qty, stop_loss_ticks=stop, target_ticks=target)
    assert [c.op for c in cmds] == ["submit"] and cmds[0].order_type is OrderType.MARKET
    return bm, b.id


def ops(cmds: list) -> list[tuple[str, str, int]]:  # type: ignore[type-arg]
    return [(c.op, c.cid, c.quantity) for c in cmds]


def test_bracket_legs_follow_the_entrys_partial_fills() -> None:
    bm, bid = bracket(qty=3)
    b = bm.brackets[bid]
    _, cmds = bm.apply_update(2, OrderEvent(bid, S.WORKING, 2, 3))
    assert cmds == []  # nothing filled: no legs yet (an acknowledgement is not a fill)
    _, cmds = bm.apply_fill(3, Fill("E1", bid, 3, P, 1, Side.BUY))
    stop, tgt = f"{bid}.stop", f"{bid}.tgt"
    assert ops(cmds) == [("submit", stop, 1), ("submit", tgt, 1)]
    assert cmds[0].order_type is OrderType.STOP_MARKET and cmds[0].stop_ticks == STOP
    assert cmds[1].order_type is OrderType.LIMIT and cmds[1].limit_ticks == TARGET
    assert {c.action for c in cmds} == {OrderAction.SELL} and cmds[0].oco == cmds[1].oco == b.oco
    assert bm.apply_fill(4, Fill("E1", bid, 3, P, 1, Side.BUY)) == (False, [])  # a repeat
    _, cmds = bm.apply_fill(5, Fill("E2", bid, 5, P, 2, Side.BUY))
    assert ops(cmds) == [("change", stop, 3), ("change", tgt, 3)]  # resized to the 3 filled
    bm.apply_update(6, OrderEvent(bid, S.FILLED, 5, 3, 3))
    for leg in (stop, tgt):
        bm.apply_update(6, OrderEvent(leg, S.WORKING, 6, 3))
    # the target fills one: the stop shrinks to the two still open
    _, cmds = bm.apply_fill(7, Fill("T1", tgt, 7, TARGET, 1, Side.SELL))
    assert ops(cmds) == [("change", stop, 2)]
    _, cmds = bm.apply_fill(8, Fill("T2", tgt, 8, TARGET, 2, Side.SELL))
    assert ops(cmds) == [("cancel", stop, 0)]  # the position is closed: the sibling goes
    assert b.status == "protected"
    bm.apply_update(9, OrderEvent(tgt, S.FILLED, 8, 3, 3))
    _, cmds = bm.apply_update(9, OrderEvent(stop, S.CANCELLED, 9, 2))
    assert cmds == [] and b.status == "done" and b.reason == "closed by target"
    assert bm.net(b) == 0 and not any(o.overfill for o in bm.orders.orders.values())


def test_an_entrys_filled_report_before_its_execution_still_gets_legs() -> None:
    # NinjaTrader raises OnOrderUpdate (Filled) before OnExecutionUpdate: not an unfilled end
    bm, bid = bracket(qty=1)
    _, cmds = bm.apply_update(2, OrderEvent(bid, S.FILLED, 2, 1, 1))
    assert cmds == [] and bm.brackets[bid].status == "entry"
    _, cmds = bm.apply_fill(3, Fill("E1", bid, 2, P, 1, Side.BUY))
    assert ops(cmds) == [("submit", f"{bid}.stop", 1), ("submit", f"{bid}.tgt", 1)]


def test_a_bracket_whose_entry_is_cancelled_unfilled_sends_no_leg() -> None:
    bm, bid = bracket()
    bm.apply_update(2, OrderEvent(bid, S.WORKING, 2, 3))
    cmds = bm.cancel(3, bid)
    assert ops(cmds) == [("cancel", bid, 0)]
    _, cmds = bm.apply_update(4, OrderEvent(bid, S.CANCELLED, 4, 3))
    b = bm.brackets[bid]
    assert cmds == [] and b.status == "done" and b.stop is None and "Cancelled" in b.reason


def test_a_part_filled_entry_cancelled_keeps_its_legs_at_the_filled_quantity() -> None:
    bm, bid = bracket(qty=3)
    bm.apply_update(2, OrderEvent(bid, S.WORKING, 2, 3))
    _, cmds = bm.apply_fill(3, Fill("E1", bid, 3, P, 1, Side.BUY))
    assert len(cmds) == 2
    assert ops(bm.cancel(4, bid)) == [("cancel", bid, 0)]
    _, cmds = bm.apply_update(5, OrderEvent(bid, S.CANCELLED, 5, 3, 1))
    assert cmds == [] and bm.brackets[bid].status == "protected"
    _, cmds = bm.apply_fill(6, Fill("S1", f"{bid}.stop", 6, STOP, 1, Side.SELL))
    assert ops(cmds) == [("cancel", f"{bid}.tgt", 0)]


def test_a_rejected_stop_flattens_the_unprotected_position() -> None:
    bm, bid = bracket(qty=2)
    bm.apply_fill(2, Fill("E1", bid, 2, P, 2, Side.BUY))
    bm.apply_update(3, OrderEvent(bid, S.FILLED, 2, 2, 2))
    _, cmds = bm.apply_update(4, OrderEvent(f"{bid}.stop", S.REJECTED, 4, 2,
                                            error="OrderRejected"))  # fmt: skip
    assert ops(cmds) == [("cancel", f"{bid}.tgt", 0)]  # first make sure the target cannot fill
    assert ("bracket_unprotected", bid, "stop Rejected: 2 open") in bm.orders.alerts
    _, cmds = bm.apply_update(5, OrderEvent(f"{bid}.tgt", S.CANCELLED, 5, 2))
    assert ops(cmds) == [("submit", f"{bid}.flat1", 2)]
    assert cmds[0].order_type is OrderType.MARKET and cmds[0].action is OrderAction.SELL
    bm.apply_update(6, OrderEvent(f"{bid}.flat1", S.FILLED, 6, 2, 2))
    _, cmds = bm.apply_fill(6, Fill("F1", f"{bid}.flat1", 6, P - 1, 2, Side.SELL))
    b = bm.brackets[bid]
    assert cmds == [] and b.status == "done" and b.reason == "stop Rejected"
    assert bm.net(b) == 0


def test_ninjatraders_oco_cancel_before_the_targets_execution_is_no_failure() -> None:
    # NinjaTrader reports the target Filled and cancels the stop (OCO) before the
    # target's execution arrives: the position is being closed, not left unprotected
    bm, bid = bracket(qty=1)
    bm.apply_fill(2, Fill("E1", bid, 2, P, 1, Side.BUY))
    bm.apply_update(2, OrderEvent(bid, S.FILLED, 2, 1, 1))
    bm.apply_update(3, OrderEvent(f"{bid}.tgt", S.FILLED, 3, 1, 1))
    _, cmds = bm.apply_update(3, OrderEvent(f"{bid}.stop", S.CANCELLED, 3, 1))
    assert cmds == [] and bm.brackets[bid].status == "protected"
    _, cmds = bm.apply_fill(4, Fill("T1", f"{bid}.tgt", 3, TARGET, 1, Side.SELL))
    assert cmds == [] and bm.brackets[bid].status == "done"
    assert not [a for a in bm.orders.alerts if a[0] == "bracket_unprotected"]


def test_both_legs_filled_is_flattened_back() -> None:
    bm, bid = bracket(qty=1, action=OrderAction.SELL_SHORT)
    bm.apply_fill(2, Fill("E1", bid, 2, P, 1, Side.SELL))
    bm.apply_update(2, OrderEvent(bid, S.FILLED, 2, 1, 1))
    stop, tgt = f"{bid}.stop", f"{bid}.tgt"
    assert bm.orders.orders[stop].action is OrderAction.BUY_TO_COVER
    assert bm.orders.orders[stop].stop_ticks == TARGET  # a short's stop is above
    bm.apply_update(3, OrderEvent(tgt, S.FILLED, 3, 1, 1))
    _, cmds = bm.apply_fill(3, Fill("T1", tgt, 3, STOP, 1, Side.BUY))
    assert ops(cmds) == [("cancel", stop, 0)]
    bm.apply_update(4, OrderEvent(stop, S.CANCEL_PENDING, 4, 1))
    bm.apply_update(5, OrderEvent(stop, S.FILLED, 5, 1, 1))  # too late: it filled
    _, cmds = bm.apply_fill(5, Fill("S1", stop, 5, TARGET, 1, Side.BUY))
    assert bm.orders.orders[stop].overfill_reasons == {"after_cancel"}
    assert ops(cmds) == [("submit", f"{bid}.flat1", 1)] and cmds[0].action is OrderAction.SELL
    assert bm.brackets[bid].reason == "legs overfilled"


def test_moving_a_brackets_stop_and_target() -> None:
    bm, bid = bracket(qty=2)
    assert bm.amend(2, bid, stop_loss_ticks=STOP + 2) == []  # no leg yet: used at submit
    bm.apply_update(3, OrderEvent(bid, S.FILLED, 3, 2, 2))
    _, cmds = bm.apply_fill(3, Fill("E1", bid, 3, P, 2, Side.BUY))
    assert cmds[0].stop_ticks == STOP + 2
    cmds = bm.amend(4, bid, stop_loss_ticks=P, target_ticks=TARGET + 4)  # breakeven
    assert [(c.op, c.cid, c.stop_ticks, c.limit_ticks, c.quantity) for c in cmds] == [
        ("change", f"{bid}.stop", P, None, 2),
        ("change", f"{bid}.tgt", None, TARGET + 4, 2),
    ]
    assert bm.amend(5, bid, stop_loss_ticks=P) == []  # already there


def test_bracket_prices_must_straddle_the_entry() -> None:
    bm = BracketManager(OrderManager())
    with pytest.raises(ValueError, match="either side"):
        bm.submit(1, "ESH4", BUY, 1, order_type=LIMIT, limit_ticks=P, stop_loss_ticks=P + 4,
                  target_ticks=P + 8)  # fmt: skip
    with pytest.raises(ValueError, match="Buy or SellShort"):
        bm.submit(1, "ESH4", OrderAction.SELL, 1, stop_loss_ticks=P + 4, target_ticks=P - 8)


def test_our_change_stands_until_ninjatrader_refuses_it() -> None:
    om = OrderManager()
    cid = limit_buy(om, qty=2)
    om.apply_update(ev(cid, S.WORKING, 10))
    om.change(11, cid, quantity=4)
    om.apply_update(ev(cid, S.CHANGE_PENDING, 12, qty=2))  # by value: still the old quantity
    assert om.orders[cid].requested_quantity == 4 and om.orders[cid].quantity == 2
    om.apply_update(ev(cid, S.WORKING, 13, qty=2, error="UnableToChangeOrder"))
    assert om.orders[cid].requested_quantity == 2  # NinjaTrader could not: back to its own
