"""LevelBook: price-level L2 book from absolute-size deltas and snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.book.levels import LevelBook
from orderflow.core.errors import BadSideError, CapacityError, InvalidSizeError
from orderflow.model.dtypes import LEVEL_DTYPE, NO_PRICE
from orderflow.model.enums import Flags, LevelAction, Side


def state(book: LevelBook) -> tuple:
    return book.levels(Side.BID), book.levels(Side.ASK), book.top()


def deltas(*rows: tuple) -> np.ndarray:
    """(side, price, size[, action, flags, sequence]) rows as a LEVEL_DTYPE array."""
    out = np.zeros(len(rows), dtype=LEVEL_DTYPE)
    for i, row in enumerate(rows):
        side, price, size, *rest = row
        action = rest[0] if rest else LevelAction.SET
        flags = rest[1] if len(rest) > 1 else Flags.LAST
        out[i] = (i * 10, i * 10 + 1, i + 1, price, size, action, side, flags, 0)
    return out


@pytest.fixture
def book() -> LevelBook:
    b = LevelBook()
    b.set(Side.BID, 100, 5)
    b.set(Side.BID, 99, 7)
    b.set(Side.BID, 97, 1)
    b.set(Side.ASK, 101, 3)
    b.set(Side.ASK, 103, 4)
    return b


def test_empty_book_has_no_best_levels():
    b = LevelBook()
    assert b.best_bid() is None and b.best_ask() is None
    assert b.top().bid_price is None and not b.crossed and not b.locked
    b.check_integrity()


def test_set_tracks_best_levels(book):
    assert book.best_bid() == (100, 5)
    assert book.best_ask() == (101, 3)
    assert book.levels(Side.BID) == [(100, 5), (99, 7), (97, 1)]
    assert book.levels(Side.ASK) == [(101, 3), (103, 4)]
    book.check_integrity()


def test_size_zero_deletes_level_and_best_moves_to_next(book):
    book.set(Side.BID, 100, 0)
    assert book.best_bid() == (99, 7)
    book.set(Side.BID, 99, 0)
    assert book.best_bid() == (97, 1)
    book.set(Side.ASK, 101, 0)
    assert book.best_ask() == (103, 4)
    book.check_integrity()


def test_deleting_absent_level_is_a_no_op(book):
    before = state(book)
    book.set(Side.BID, 50, 0)
    book.set(Side.BID, 10**9, 0)
    assert state(book) == before


def test_depth_pads_with_no_price_and_zero(book):
    d = book.depth(4)
    assert d["bid_price"].tolist() == [100, 99, 97, NO_PRICE]
    assert d["bid_size"].tolist() == [5, 7, 1, 0]
    assert d["ask_price"].tolist() == [101, 103, NO_PRICE, NO_PRICE]
    assert d["ask_size"].tolist() == [3, 4, 0, 0]


def test_cumulative_depth_is_running_sum(book):
    c = book.cumulative_depth(3)
    assert c["bid_cum_size"].tolist() == [5, 12, 13]
    assert c["ask_cum_size"].tolist() == [3, 7, 7]


def test_to_arrays_holds_every_level(book):
    a = book.to_arrays()
    assert a["bid_price"].tolist() == [100, 99, 97]
    assert a["ask_size"].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("args", "error", "reason"),
    [
        ((Side.BID, 100, -1), InvalidSizeError, "invalid_size"),
        ((2, 100, 1), BadSideError, "bad_side"),
        ((7, 100, 1), BadSideError, "bad_side"),
        ((Side.ASK, 10**12, 1), CapacityError, "capacity"),
    ],
)
def test_invalid_update_raises_counts_and_leaves_book_unchanged(book, args, error, reason):
    before = state(book)
    with pytest.raises(error):
        book.set(*args)
    assert state(book) == before
    assert book.rejected == {reason: 1}
    book.check_integrity()


def test_far_price_grows_and_rebases_keeping_levels(book):
    book.set(Side.ASK, 100_000, 2)
    book.set(Side.BID, -50_000, 9)
    assert book.levels(Side.ASK) == [(101, 3), (103, 4), (100_000, 2)]
    assert book.levels(Side.BID)[-1] == (-50_000, 9)
    assert book.best_bid() == (100, 5)
    book.check_integrity()


def test_empty_book_rebases_on_first_price():
    b = LevelBook(initial_levels=8)
    b.set(Side.BID, 1_000_000_000, 1)
    assert b.best_bid() == (1_000_000_000, 1)
    b.check_integrity()


def test_crossed_and_locked(book):
    book.set(Side.BID, 101, 1)
    assert book.locked and not book.crossed
    book.set(Side.BID, 102, 1)
    assert book.crossed


def test_clear_one_side_and_both(book):
    book.clear(Side.BID)
    assert book.levels(Side.BID) == [] and book.best_ask() == (101, 3)
    book.clear()
    assert book.best_ask() is None
    book.check_integrity()
    with pytest.raises(BadSideError):
        book.clear(9)


def test_truncate_keeps_best_levels(book):
    assert book.truncate(1) == 3
    assert book.levels(Side.BID) == [(100, 5)] and book.levels(Side.ASK) == [(101, 3)]
    book.check_integrity()


def test_snapshot_replaces_book(book):
    book.apply_snapshot([(50, 1), (49, 2)], [(52, 3), (60, 0)], ts_event=5, sequence=9)
    assert book.levels(Side.BID) == [(50, 1), (49, 2)]
    assert book.levels(Side.ASK) == [(52, 3)]
    assert book.last_sequence == 9 and book.last_ts_event == 5
    book.check_integrity()


def test_bad_snapshot_leaves_book_unchanged(book):
    before = state(book)
    with pytest.raises(InvalidSizeError):
        book.apply_snapshot([(50, 1)], [(52, -3)])
    with pytest.raises(CapacityError):
        book.apply_snapshot([(0, 1)], [(10**8, 1)])
    assert state(book) == before


def test_sequence_and_timestamps_follow_last_applied_update(book):
    book.set(Side.BID, 98, 1, ts_event=123, sequence=77)
    assert (book.last_sequence, book.last_ts_event) == (77, 123)


def test_apply_deltas_matches_per_event_and_records_depth():
    ev = deltas(
        (Side.BID, 100, 5, LevelAction.SET, 0),
        (Side.ASK, 102, 3),
        (Side.BID, 101, 2),
        (Side.BID, 101, 0),
        (Side.ASK, 100, 1),  # locks
    )
    book = LevelBook()
    res = book.apply_deltas(ev, record_depth=2)
    assert res.applied == 5 and res.rejected == {} and res.boundaries == 4
    assert res.locked_boundaries == 1 and res.crossed_boundaries == 0
    rec = res.depth
    assert rec is not None and len(rec) == 4
    assert rec.index.tolist() == [1, 2, 3, 4]
    assert rec.bid_price[1].tolist() == [101, 100]
    assert rec.ask_price[3].tolist() == [100, 102]
    assert rec.ts_event.tolist() == [10, 20, 30, 40]
    assert (book.last_sequence, book.last_ts_recv) == (5, 41)


def test_apply_deltas_counts_rejects_and_goes_on():
    ev = deltas(
        (Side.BID, 100, 5),
        (Side.BID, 99, -1),
        (5, 99, 1),
        (Side.BID, 99, 1, 9),
        (Side.ASK, 10**13, 1),
        (Side.ASK, 101, 1),
    )
    book = LevelBook()
    res = book.apply_deltas(ev)
    assert res.applied == 2
    assert res.rejected == {"invalid_size": 1, "bad_side": 1, "bad_action": 1, "capacity": 1}
    assert res.first_reject_index == 1 and res.boundaries == 6
    assert book.levels(Side.BID) == [(100, 5)] and book.levels(Side.ASK) == [(101, 1)]
    book.check_integrity()


def test_apply_deltas_grows_mid_batch():
    ev = deltas(*[(Side.BID, p, 1) for p in range(0, 100_000, 997)])
    book = LevelBook(initial_levels=16)
    res = book.apply_deltas(ev)
    assert res.applied == len(ev)
    assert book.level_count(Side.BID) == len(ev)
    assert book.best_bid() == (int(ev["price"].max()), 1)
    book.check_integrity()


def test_apply_deltas_clear_action():
    ev = deltas((Side.BID, 100, 5), (Side.ASK, 101, 5), (Side.NONE, 0, 0, LevelAction.CLEAR))
    book = LevelBook()
    res = book.apply_deltas(ev)
    assert res.applied == 3 and book.best_bid() is None and book.best_ask() is None


def test_apply_deltas_rejects_wrong_dtype():
    with pytest.raises(TypeError):
        LevelBook().apply_deltas(np.zeros(3, dtype=np.int64))
