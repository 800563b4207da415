"""LadderBook: NinjaTrader OnMarketDepth semantics (position-indexed rows)."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.book.ladder import LadderBook
from orderflow.core.errors import (
    BadActionError,
    BadSideError,
    InvalidSizeError,
    PositionOutOfRangeError,
    PriceOrderError,
)
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side

ADD, UPDATE, REMOVE = NtOperation.ADD, NtOperation.UPDATE, NtOperation.REMOVE


def state(book: LadderBook) -> tuple:
    return book.rows(Side.BID), book.rows(Side.ASK)


def events(*rows: tuple) -> np.ndarray:
    """(side, op, position, price, volume[, flags]) rows as an NT_DEPTH_DTYPE array."""
    out = np.zeros(len(rows), dtype=NT_DEPTH_DTYPE)
    for i, (side, op, pos, price, vol, *rest) in enumerate(rows):
        flags = rest[0] if rest else Flags.LAST
        out[i] = (i * 10, i * 10 + 1, i + 1, price, vol, pos, op, side, flags, 0)
    return out


@pytest.fixture
def book() -> LadderBook:
    b = LadderBook()
    b.apply_snapshot([(100, 5), (99, 6), (98, 7)], [(101, 1), (102, 2)])
    return b


def test_add_inserts_and_pushes_deeper_rows_down():
    b = LadderBook()
    b.apply(Side.BID, ADD, 0, 100, 5)
    b.apply(Side.BID, ADD, 1, 98, 1)
    b.apply(Side.BID, ADD, 1, 99, 2)
    b.apply(Side.BID, ADD, 0, 101, 3)
    assert b.rows(Side.BID) == [(101, 3), (100, 5), (99, 2), (98, 1)]
    b.check_integrity()


def test_remove_pulls_deeper_rows_up(book):
    book.apply(Side.BID, REMOVE, 0, 0, 0)
    assert book.rows(Side.BID) == [(99, 6), (98, 7)]
    book.apply(Side.BID, REMOVE, 1, 0, 0)
    assert book.rows(Side.BID) == [(99, 6)]


def test_update_overwrites_in_place_including_price(book):
    book.apply(Side.ASK, UPDATE, 1, 103, 9)
    assert book.rows(Side.ASK) == [(101, 1), (103, 9)]
    book.apply(Side.BID, UPDATE, 0, 100, 50)
    assert book.rows(Side.BID)[0] == (100, 50)


def test_update_at_row_count_appends_like_sample_level2_book(book):
    book.apply(Side.ASK, UPDATE, 2, 104, 4)
    assert book.rows(Side.ASK) == [(101, 1), (102, 2), (104, 4)]


def test_add_at_row_count_appends(book):
    book.apply(Side.BID, ADD, 3, 90, 1)
    assert book.rows(Side.BID)[-1] == (90, 1)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((Side.BID, ADD, 4, 90, 1), PositionOutOfRangeError),
        ((Side.BID, UPDATE, 4, 90, 1), PositionOutOfRangeError),
        ((Side.BID, REMOVE, 3, 0, 0), PositionOutOfRangeError),
        ((Side.BID, ADD, -1, 90, 1), PositionOutOfRangeError),
        ((Side.BID, ADD, 0, 100, -1), InvalidSizeError),
        ((Side.NONE, ADD, 0, 100, 1), BadSideError),
        ((Side.BID, 7, 0, 100, 1), BadActionError),
    ],
)
def test_invalid_event_raises_counts_and_leaves_book_unchanged(book, args, error):
    before = state(book)
    with pytest.raises(error):
        book.apply(*args)
    assert state(book) == before
    assert book.rejected == {error.code: 1}
    assert not book.stale


@pytest.mark.parametrize(
    "args",
    [
        (Side.BID, ADD, 1, 100, 1),  # equal to the row above
        (Side.BID, ADD, 3, 99, 1),  # appended above a lower row
        (Side.ASK, ADD, 0, 102, 1),  # inside ask above the next
        (Side.BID, UPDATE, 1, 97, 1),  # update past the next row
        (Side.ASK, UPDATE, 2, 101, 1),  # appending update below the last
    ],
)
def test_out_of_order_update_is_rejected_and_marks_stale(book, args):
    before = state(book)
    with pytest.raises(PriceOrderError):
        book.apply(*args)
    assert state(book) == before
    assert book.stale and book.stale_reason == "needs snapshot: price order broken"
    book.check_integrity()
    book.apply_snapshot([(10, 1)], [(11, 1)])
    assert not book.stale


def test_reset_clears_side_and_marks_stale_until_snapshot(book):
    book.reset(Side.BID)
    assert book.rows(Side.BID) == [] and book.rows(Side.ASK) == [(101, 1), (102, 2)]
    assert book.stale and book.stale_reason == "reset"
    book.apply(Side.BID, ADD, 0, 100, 1)  # a stale book keeps applying
    assert book.stale
    book.apply_snapshot([(100, 1)], [(101, 1)])
    assert not book.stale and book.stale_reason is None


def test_reset_flag_on_apply(book):
    book.apply(Side.ASK, ADD, 0, 0, 0, reset=True)
    assert book.rows(Side.ASK) == [] and book.stale


def test_bad_snapshot_is_rejected_and_book_unchanged(book):
    before = state(book)
    with pytest.raises(PriceOrderError):
        book.apply_snapshot([(100, 1), (100, 1)], [])
    with pytest.raises(InvalidSizeError):
        book.apply_snapshot([(100, -1)], [])
    assert state(book) == before


def test_grows_beyond_max_rows():
    b = LadderBook(max_rows=2)
    for pos in range(10):
        b.apply(Side.ASK, ADD, pos, 100 + pos, 1)
    assert b.max_rows >= 10 and len(b.rows(Side.ASK)) == 10
    b.check_integrity()


def test_views(book):
    assert book.best_bid() == (100, 5) and book.best_ask() == (101, 1)
    d = book.depth(3)
    assert d["ask_price"].tolist() == [101, 102, NO_PRICE]
    assert d["bid_size"].tolist() == [5, 6, 7]
    assert not book.crossed and not book.locked
    book.apply(Side.BID, ADD, 0, 101, 1)
    assert book.locked
    book.apply(Side.BID, UPDATE, 0, 103, 1)
    assert book.crossed


def test_sequence_and_timestamps(book):
    book.apply(Side.BID, UPDATE, 0, 100, 1, ts_event=5, sequence=42)
    assert (book.last_sequence, book.last_ts_event) == (42, 5)


def test_apply_events_batch():
    ev = events(
        (Side.BID, ADD, 0, 100, 5, 0),
        (Side.ASK, ADD, 0, 102, 3),
        (Side.BID, ADD, 0, 101, 2),
        (Side.BID, ADD, 5, 90, 2),  # out of range
        (Side.ASK, UPDATE, 0, 101, 4),  # locked
        (Side.BID, ADD, 2, 100, 1, Flags.LAST | Flags.RESET),
    )
    book = LadderBook()
    res = book.apply_events(ev, record_depth=2)
    assert res.applied == 5 and res.rejected == {"position_out_of_range": 1}
    assert res.boundaries == 5 and res.locked_boundaries == 1
    assert res.first_reject_index == 3
    rec = res.depth
    assert rec is not None
    assert rec.bid_price[1].tolist() == [101, 100]
    assert rec.ask_size[3].tolist() == [4, 0]
    assert rec.bid_price[4].tolist() == [NO_PRICE, NO_PRICE]
    assert book.rows(Side.BID) == [] and book.stale_reason == "reset"
    assert (book.last_sequence, book.last_ts_recv) == (6, 51)


def test_apply_events_grows_and_rejects_order_in_batch():
    ev = events(*[(Side.ASK, ADD, p, 100 + p, 1) for p in range(100)], (Side.ASK, ADD, 0, 500, 1))
    book = LadderBook(max_rows=4)
    res = book.apply_events(ev)
    assert res.applied == 100 and res.rejected == {"price_order": 1}
    assert book.stale and len(book.rows(Side.ASK)) == 100
    book.check_integrity()
