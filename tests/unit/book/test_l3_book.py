"""Hand-built scenarios for the order-by-order book (orderflow.book.l3)."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.book import _l3_kernels as K
from orderflow.book.l3 import BookIntegrityError, OrderBook, OrderView  # re-exported
from orderflow.core.errors import (
    BadActionError,
    BadSideError,
    BookUpdateError,
    CapacityError,
    DuplicateOrderError,
    InvalidSizeError,
    UnknownOrderError,
)
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE
from orderflow.model.enums import Action, Flags, Side

BID, ASK = Side.BID, Side.ASK


def state(book: OrderBook) -> dict:
    """Everything observable about the book's contents, for before/after comparisons."""
    out: dict = {"len": len(book), "top": book.top(), "orders": {}}
    for side in (BID, ASK):
        levels = book.levels(side)
        out[int(side)] = levels.tolist()
        for price in levels[:, 0].tolist():
            ids = book.level_orders(side, price).tolist()
            out[(int(side), price)] = ids
            for oid in ids:
                out["orders"][oid] = book.order(oid)
    out["last"] = (book.last_sequence, book.last_ts_event, book.last_ts_recv)
    out["traded"] = book.traded_volume
    return out


@pytest.fixture
def book() -> OrderBook:
    b = OrderBook(capacity=4)
    b.add(1, BID, 100, 5, ts_event=10, sequence=1)
    b.add(2, BID, 100, 3, ts_event=11, sequence=2)
    b.add(3, BID, 99, 7, ts_event=12, sequence=3)
    b.add(4, ASK, 101, 4, ts_event=13, sequence=4)
    b.add(5, ASK, 103, 6, ts_event=14, sequence=5)
    b.check_integrity()
    return b


def test_empty_book_reads():
    b = OrderBook()
    assert len(b) == 0
    assert b.best_bid() is None and b.best_ask() is None
    assert b.top().bid_price is None and b.top().ask_price is None
    assert not b.crossed and not b.locked
    assert b.levels(BID).shape == (0, 3)
    d = b.depth(3)
    assert d["bid_price"].tolist() == [NO_PRICE] * 3 and d["ask_size"].tolist() == [0] * 3
    assert b.order(1) is None and b.queue_position(1) is None
    assert b.level_orders(BID, 100).tolist() == []
    assert b.rejected == {}
    b.check_integrity()


def test_add_builds_levels_fifo_and_top(book):
    assert len(book) == 5
    assert book.best_bid() == (100, 8, 2)
    assert book.best_ask() == (101, 4, 1)
    top = book.top()
    assert (top.bid_price, top.bid_size, top.bid_count) == (100, 8, 2)
    assert (top.ask_price, top.ask_size, top.ask_count) == (101, 4, 1)
    assert book.levels(BID).tolist() == [[100, 8, 2], [99, 7, 1]]
    assert book.levels(ASK).tolist() == [[101, 4, 1], [103, 6, 1]]
    assert book.level_orders(BID, 100).tolist() == [1, 2]
    assert book.order(2) == OrderView(2, BID, 100, 3, 5, 11)
    assert book.queue_position(1) == 0 and book.queue_position(2) == 5
    assert 2 in book and 42 not in book
    assert (book.last_sequence, book.last_ts_event) == (5, 14)


def test_depth_best_first_padded(book):
    d = book.depth(3)
    assert d["bid_price"].tolist() == [100, 99, NO_PRICE]
    assert d["bid_size"].tolist() == [8, 7, 0]
    assert d["bid_count"].tolist() == [2, 1, 0]
    assert d["ask_price"].tolist() == [101, 103, NO_PRICE]
    assert d["ask_size"].tolist() == [4, 6, 0]


def test_full_cancel_removes_order_and_empty_level(book):
    book.cancel(4)
    assert 4 not in book
    assert book.best_ask() == (103, 6, 1)
    assert book.levels(ASK).tolist() == [[103, 6, 1]]
    book.check_integrity()


def test_partial_cancel_keeps_priority(book):
    book.cancel(1, 2)
    assert book.level_orders(BID, 100).tolist() == [1, 2]
    assert book.order(1).size == 3
    assert book.queue_position(2) == 3
    assert book.best_bid() == (100, 6, 2)
    book.check_integrity()


def test_cancel_of_exact_size_removes_order(book):
    book.cancel(2, 3)
    assert 2 not in book
    assert book.best_bid() == (100, 5, 1)


def test_best_bid_falls_back_when_best_level_empties(book):
    book.cancel(1)
    book.cancel(2)
    assert book.best_bid() == (99, 7, 1)
    book.cancel(3)
    assert book.best_bid() is None
    book.check_integrity()


def test_modify_size_decrease_keeps_priority(book):
    book.modify(1, 100, 2, ts_event=50)
    assert book.level_orders(BID, 100).tolist() == [1, 2]
    assert book.order(1) == OrderView(1, BID, 100, 2, 0, 10)
    assert book.queue_position(2) == 2
    book.check_integrity()


def test_modify_size_increase_loses_priority(book):
    book.modify(1, 100, 6, ts_event=50)
    assert book.level_orders(BID, 100).tolist() == [2, 1]
    assert book.order(1) == OrderView(1, BID, 100, 6, 3, 50)
    assert book.best_bid() == (100, 9, 2)
    book.check_integrity()


def test_modify_price_change_moves_to_back_of_new_level(book):
    book.modify(2, 99, 3, ts_event=60)
    assert book.level_orders(BID, 99).tolist() == [3, 2]
    assert book.queue_position(2) == 7
    assert book.levels(BID).tolist() == [[100, 5, 1], [99, 10, 2]]
    book.modify(1, 99, 1)  # price change with a smaller size still loses priority
    assert book.level_orders(BID, 99).tolist() == [3, 2, 1]
    assert book.best_bid() == (99, 11, 3)
    book.check_integrity()


def test_modify_same_price_same_size_changes_nothing(book):
    before = state(book)
    book.modify(1, 100, 5)
    assert state(book)["orders"] == before["orders"]


def test_modify_to_zero_removes(book):
    book.modify(4, 101, 0)
    assert 4 not in book
    assert book.best_ask() == (103, 6, 1)


def test_modify_can_cross_the_book(book):
    book.modify(3, 102, 7)
    assert book.crossed and not book.locked
    book.modify(3, 101, 7)
    assert book.locked and not book.crossed


def test_fill_reduces_keeps_priority_and_counts_volume(book):
    book.fill(1, 2)
    assert book.order(1).size == 3 and book.level_orders(BID, 100).tolist() == [1, 2]
    book.fill(1, 3)
    assert 1 not in book
    assert book.traded_volume == 5
    assert book.best_bid() == (100, 3, 1)
    book.check_integrity()


@pytest.mark.parametrize(
    ("call", "error", "reason"),
    [
        (lambda b: b.add(1, BID, 100, 1), DuplicateOrderError, "duplicate_order"),
        (lambda b: b.add(9, Side.NONE, 100, 1), BadSideError, "bad_side"),
        (lambda b: b.add(9, BID, 100, 0), InvalidSizeError, "invalid_size"),
        (lambda b: b.add(9, ASK, 100, -3), InvalidSizeError, "invalid_size"),
        (lambda b: b.cancel(9), UnknownOrderError, "unknown_order"),
        (lambda b: b.cancel(1, 6), InvalidSizeError, "invalid_size"),
        (lambda b: b.cancel(1, 0), InvalidSizeError, "invalid_size"),
        (lambda b: b.cancel(1, -1), InvalidSizeError, "invalid_size"),
        (lambda b: b.modify(9, 100, 1), UnknownOrderError, "unknown_order"),
        (lambda b: b.modify(1, 100, -1), InvalidSizeError, "invalid_size"),
        (lambda b: b.fill(9, 1), UnknownOrderError, "unknown_order"),
        (lambda b: b.fill(1, 6), InvalidSizeError, "invalid_size"),
        (lambda b: b.fill(1, 0), InvalidSizeError, "invalid_size"),
        (lambda b: b.apply(99, BID, 100, 1, 9), BadActionError, "bad_action"),
    ],
)
def test_rejected_update_raises_typed_error_and_leaves_book_unchanged(book, call, error, reason):
    before = state(book)
    with pytest.raises(error) as info:
        call(book)
    assert isinstance(info.value, BookUpdateError)
    assert reason in str(info.value) and info.value.code == reason
    assert "order_id" in info.value.details
    assert state(book) == before
    assert book.rejected == {reason: 1}
    book.check_integrity()


def test_error_message_names_the_order(book):
    with pytest.raises(UnknownOrderError, match="order 77"):
        book.cancel(77)


def test_rejects_accumulate_by_reason(book):
    for _ in range(3):
        with pytest.raises(UnknownOrderError):
            book.cancel(99)
    with pytest.raises(DuplicateOrderError):
        book.add(1, BID, 100, 1)
    assert book.rejected == {"unknown_order": 3, "duplicate_order": 1}


def test_growth_beyond_initial_capacity():
    b = OrderBook(capacity=1)
    for i in range(1000):
        b.add(i, BID if i % 2 else ASK, 1000 + (i % 2) * -10 + i % 7, 1 + i % 5)
    assert len(b) == 1000 and b.capacity >= 1000
    b.check_integrity()
    for i in range(0, 1000, 3):
        b.cancel(i)
    b.check_integrity()
    assert len(b) == 1000 - len(range(0, 1000, 3))
    assert b.queue_position(1) == 0


def test_ladder_rebases_for_prices_far_apart():
    b = OrderBook(capacity=8)
    b.add(1, BID, 500_000, 2)
    b.add(2, BID, -300_000, 3)  # negative prices exist (calendar spreads)
    b.add(3, ASK, 900_000, 4)
    b.add(4, ASK, 500_001, 1)
    b.check_integrity()
    assert b.best_bid() == (500_000, 2, 1)
    assert b.best_ask() == (500_001, 1, 1)
    assert b.levels(BID).tolist() == [[500_000, 2, 1], [-300_000, 3, 1]]
    b.modify(2, 1_200_000, 3)
    assert b.best_bid() == (1_200_000, 3, 1) and b.crossed
    b.cancel(1)
    b.cancel(2)
    assert b.best_bid() is None
    b.check_integrity()


def test_price_span_beyond_ladder_limit_is_a_capacity_reject():
    b = OrderBook()
    b.add(1, BID, 0, 1)
    before = state(b)
    with pytest.raises(CapacityError):
        b.add(2, ASK, 10**12, 1)
    assert state(b) == before and b.rejected == {"capacity": 1}
    b.check_integrity()


def test_uint64_order_ids_round_trip():
    b = OrderBook()
    big = (1 << 64) - 5
    b.add(big, ASK, 10, 1)
    assert big in b and b.order(big).order_id == big
    assert b.level_orders(ASK, 10).tolist() == [big]
    b.cancel(big)
    assert len(b) == 0


def test_level_queue_is_the_level_front_first_with_each_orders_size(book):
    # unsigned ids past 2**63, a partial fill and a size cut keep their places, an increase
    # goes to the back; a side or price off the ladder is an empty queue
    big, bigger = (1 << 63) + 7, (1 << 64) - 1
    book.add(big, BID, 100, 2)
    book.add(bigger, BID, 100, 9)
    book.fill(1, 2)
    book.modify(bigger, 100, 4)
    book.modify(2, 100, 6)
    want = {1: 3, big: 2, bigger: 4, 2: 6}
    assert book.level_queue(BID, 100) == want
    assert list(book.level_queue(BID, 100)) == book.level_orders(BID, 100).tolist()
    assert book.level_queue(BID, 99) == {3: 7} and book.level_queue(ASK, 103) == {5: 6}
    assert book.level_queue(BID, 101) == {} and book.level_queue(BID, 10**9) == {}
    assert book.level_queue(2, 100) == {}


def test_clear_empties_and_book_is_reusable(book):
    book.clear()
    assert len(book) == 0 and book.best_bid() is None and book.best_ask() is None
    assert book.levels(BID).shape == (0, 3)
    book.check_integrity()
    book.add(1, BID, 100, 5)
    assert book.best_bid() == (100, 5, 1)
    book.check_integrity()


def test_check_integrity_detects_corruption(book):
    base = book.levels(BID)[0, 0] - int(np.flatnonzero(book._levels[:, 0, 1])[-1])
    book._levels[100 - base, BID, 0] += 1  # the level's size is no longer its orders' sum
    with pytest.raises(BookIntegrityError, match="level totals"):
        book.check_integrity()


def _mbo(rows) -> np.ndarray:
    ev = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, (action, side, price, size, oid, flags) in enumerate(rows):
        ev[i] = (1000 + i, 2000 + i, i + 1, oid, price, size, action, side, flags, 0)
    return ev


A, C, M, R, T, F = Action.ADD, Action.CANCEL, Action.MODIFY, Action.CLEAR, Action.TRADE, Action.FILL
LAST, SNAP = int(Flags.LAST), int(Flags.SNAPSHOT)


def test_apply_mbo_semantics_trade_fill_do_not_change_book():
    b = OrderBook(capacity=2)
    ev = _mbo(
        [
            (A, BID, 100, 5, 1, LAST),
            (A, ASK, 101, 5, 2, LAST),
            (T, ASK, 100, 2, 0, 0),
            (F, BID, 100, 2, 1, 0),
            (C, BID, 100, 2, 1, LAST),  # Databento C size = amount removed
            (M, ASK, 102, 3, 2, LAST),
        ]
    )
    res = b.apply_mbo(ev, record_depth=2)
    assert res.applied == 6 and res.rejected == {} and res.boundaries == 4
    assert b.best_bid() == (100, 3, 1) and b.best_ask() == (102, 3, 1)
    assert b.traded_volume == 2
    assert (b.last_sequence, b.last_ts_event, b.last_ts_recv) == (6, 1005, 2005)
    d = res.depth
    assert d.index.tolist() == [0, 1, 4, 5]
    assert d.ts_event.tolist() == [1000, 1001, 1004, 1005]
    assert d.bid_price[:, 0].tolist() == [100, 100, 100, 100]
    assert d.bid_size[:, 0].tolist() == [5, 5, 3, 3]
    assert d.ask_price.tolist() == [
        [NO_PRICE] * 2,
        [101, NO_PRICE],
        [101, NO_PRICE],
        [102, NO_PRICE],
    ]
    assert d.ask_count[:, 0].tolist() == [0, 1, 1, 1]


def test_apply_mbo_drops_bad_records_counts_them_and_goes_on():
    b = OrderBook()
    ev = _mbo(
        [
            (A, BID, 100, 5, 1, LAST),
            (C, BID, 100, 1, 9, LAST),  # unknown order
            (A, BID, 100, 5, 1, LAST),  # duplicate
            (C, BID, 100, 9, 1, LAST),  # over-cancel
            (A, Side.NONE, 100, 5, 2, LAST),  # bad side
            (77, BID, 100, 5, 3, LAST),  # bad action
            (A, ASK, 10**12, 1, 4, LAST),  # beyond the ladder limit
            (A, ASK, 102, 1, 5, LAST),
        ]
    )
    res = b.apply_mbo(ev)
    assert res.applied == 2 and res.first_reject_index == 1
    assert res.rejected == {
        "unknown_order": 1,
        "duplicate_order": 1,
        "invalid_size": 1,
        "bad_side": 1,
        "bad_action": 1,
        "capacity": 1,
    }
    assert res.rejected_total == 6 and b.rejected == res.rejected
    assert res.boundaries == 8
    assert b.best_bid() == (100, 5, 1) and b.best_ask() == (102, 1, 1)
    b.check_integrity()


def test_snapshot_after_live_records_replaces_the_book():
    b = OrderBook()
    ev = _mbo(
        [
            (A, BID, 100, 5, 1, SNAP),  # snapshot at the very start: clears (nothing) first
            (A, ASK, 101, 5, 2, SNAP),  # no LAST on the snapshot's last record
            (A, BID, 99, 1, 3, LAST),  # live: the snapshot ends here
            (A, BID, 98, 4, 10, SNAP),  # a new snapshot: the book is cleared first
            (A, ASK, 105, 4, 11, SNAP | LAST),  # snapshot records are never boundaries
            (C, ASK, 105, 4, 11, LAST),
        ]
    )
    res = b.apply_mbo(ev, record_depth=1)
    assert res.rejected == {} and res.boundaries == 2
    assert res.depth.bid_price[:, 0].tolist() == [100, 98]
    assert sorted(state(b)["orders"]) == [10]
    assert b.best_ask() is None
    b.check_integrity()


def test_clear_record_empties_book():
    b = OrderBook()
    res = b.apply_mbo(_mbo([(A, BID, 100, 5, 1, LAST), (R, Side.NONE, 0, 0, 0, LAST)]))
    assert res.rejected == {} and len(b) == 0


def test_per_event_apply_equals_batch():
    rows = [
        (A, BID, 100, 5, 1, SNAP),
        (A, ASK, 103, 5, 2, SNAP),
        (A, BID, 101, 2, 3, LAST),
        (M, BID, 102, 2, 3, 0),
        (F, BID, 102, 1, 3, 0),
        (C, BID, 102, 1, 3, LAST),
        (A, ASK, 10_000, 1, 4, LAST),
    ]
    batch, single = OrderBook(capacity=1), OrderBook(capacity=1)
    batch.apply_mbo(_mbo(rows))
    for i, rec in enumerate(_mbo(rows)):
        single.apply(
            int(rec["action"]), int(rec["side"]), int(rec["price"]), int(rec["size"]),
            int(rec["order_id"]), int(rec["flags"]), 1000 + i, 2000 + i, i + 1,
        )  # fmt: skip
    assert state(batch) == state(single)
    single.check_integrity()


def test_apply_mbo_needs_the_mbo_dtype():
    with pytest.raises(TypeError):
        OrderBook().apply_mbo(np.zeros(3, dtype=np.int64))


def _free_list(b: OrderBook) -> list[int]:
    out, s = [], int(b._meta[K.M_FREE])
    while s >= 0:
        out.append(s)
        s = int(b._orders[s, K.O_NEXT])
    return out


def _same_slots(small: OrderBook, big: OrderBook) -> None:
    """``small`` holds every order at the slot ``big`` does, and hands out the next ones in
    the same order: its slot rows and free list are the front of ``big``'s (where its list
    ends, ``big``'s goes on with slot ``small.capacity``), its ladder and its header past the
    layout (bests, counters, last_*; not the change stamp) are ``big``'s."""
    n = small.capacity
    assert n < big.capacity
    free = _free_list(small)
    assert free == _free_list(big)[: len(free)]
    rows = small._orders.copy()
    if free:
        assert rows[free[-1], K.O_NEXT] == -1 and big._orders[free[-1], K.O_NEXT] == n
        rows[free[-1], K.O_NEXT] = n
    assert np.array_equal(rows, big._orders[:n])
    assert np.array_equal(small._levels, big._levels)
    m, mb = small._meta, big._meta
    assert np.array_equal(m[K.M_NLEV : K.M_EPOCH], mb[K.M_NLEV : K.M_EPOCH])
    assert np.array_equal(m[K.M_EPOCH + 1 :], mb[K.M_EPOCH + 1 :])
    assert state(small) == state(big)
    small.check_integrity()


def test_a_book_started_small_keeps_the_slots_of_a_big_one(monkeypatch: pytest.MonkeyPatch):
    """Slots freed and then the ladder re-based with room for a batch's orders in one move (the
    new slots join the free list after the freed ones), doublings inside one batch, a snapshot
    emptying the book: a book started with one slot holds every order where a book started
    with 65,536 does, so the L3 detectors' map of the book's slots is the same either way."""
    small, big = OrderBook(capacity=1), OrderBook(capacity=1 << 16)
    grown = [0]
    grow = OrderBook._grow_slots

    def counted(self: OrderBook) -> None:
        grown[0] += 1
        grow(self)

    monkeypatch.setattr(OrderBook, "_grow_slots", counted)
    for b in (small, big):
        for i in range(5):
            b.add(i + 1, BID if i % 2 else ASK, 100 + i, 1 + i, 10 + i, i + 1)
        b.cancel(2)
        b.cancel(4)
    _same_slots(small, big)
    assert small.capacity == 8 and _free_list(small)[:3] == [3, 1, 5]
    # far prices: the ladder is re-based with room for 3 + 40 - 2 orders, the slots free now first
    far = [(A, i % 2, 50_000 + i, 1, 100 + i, LAST) for i in range(40)]
    far += [(C, 0, 50_000, 1, 100, LAST), (C, 1, 50_001, 1, 101, LAST)]
    grown[0] = 0
    for b in (small, big):
        b.apply_mbo(_mbo(far))
    assert grown[0] == 0 and small.capacity == 64  # (one move: no doubling inside the batch)
    _same_slots(small, big)
    # more orders than the guess: the batch doubles the slots twice on its way
    near = [(A, i % 2, 50_010 + i % 30, 2, 1000 + i, LAST) for i in range(150)]
    near += [(C, i % 2, 50_010 + i % 30, 2, 1000 + i, LAST) for i in range(0, 150, 4)]
    near = near[:100] + [(C, i % 2, 50_010 + i % 30, 2, 1000 + i, LAST) for i in range(150)]
    for b in (small, big):
        b.apply_mbo(_mbo(near))
    assert small.capacity == 256
    _same_slots(small, big)
    # a snapshot empties the book and rebuilds it from slot 0
    snap = [(A, i % 2, 50_020 + i % 7, 3, 5000 + i, SNAP) for i in range(300)]
    snap[-1] = (*snap[-1][:5], SNAP | LAST)
    for b in (small, big):
        b.apply_mbo(_mbo(snap))
        b.cancel(5007)
    assert small.capacity == 512 and len(small) == 299
    _same_slots(small, big)
