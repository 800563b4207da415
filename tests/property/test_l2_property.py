"""Random operation sequences on both L2 books against the naive references in reference_l2.

After every step: same state as the reference, ``check_integrity()`` passes, reject counters
agree, and a refused operation left the book exactly as it was. The batch paths are compared
with the same references event by event, including the top-N recorded at every boundary.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.book.ladder import LadderBook
from orderflow.book.levels import LevelBook
from orderflow.core.errors import BookUpdateError
from orderflow.model.dtypes import LEVEL_DTYPE, NT_DEPTH_DTYPE
from orderflow.model.enums import Flags
from tests.golden.reference_l2 import RefLadder, RefLevelBook

SETTINGS = settings(max_examples=200, deadline=None)
MAX_LEVELS = 64
DEPTH = 3
STALE = {"reset": "reset", "price_order": "needs snapshot: price order broken", None: None}

sides = st.sampled_from([0, 0, 0, 1, 1, 1, 2, 9])
level_prices = st.integers(-40, 120)  # a span above MAX_LEVELS: some sets hit capacity
level_sizes = st.one_of(st.integers(0, 9), st.just(0), st.just(-1))

set_ops = st.tuples(st.just("set"), sides, level_prices, level_sizes)
clear_ops = st.tuples(st.just("clear"), st.sampled_from([None, 0, 1, 7]))
truncate_ops = st.tuples(st.just("truncate"), st.integers(0, 4))
snapshot_side = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 9)), max_size=6)
snapshot_ops = st.tuples(st.just("snapshot"), snapshot_side, snapshot_side)
level_ops = st.one_of(set_ops, set_ops, set_ops, set_ops, clear_ops, truncate_ops, snapshot_ops)


def level_state(book: LevelBook) -> tuple:
    return book.levels(0), book.levels(1), book.top(), book.last_sequence


def assert_level_book_equals(book: LevelBook, ref: RefLevelBook) -> None:
    book.check_integrity()
    assert book.levels(0) == ref.levels(0)
    assert book.levels(1) == ref.levels(1)
    assert book.best_bid() == ref.best(0) and book.best_ask() == ref.best(1)
    assert book.rejected == dict(ref.rejected)
    d = book.depth(DEPTH)
    assert {key: v.tolist() for key, v in d.items()} == ref.depth(DEPTH)


@SETTINGS
@given(st.lists(level_ops, max_size=60))
def test_level_book_matches_reference(ops):
    book = LevelBook(initial_levels=4, max_levels=MAX_LEVELS)
    ref = RefLevelBook(max_levels=MAX_LEVELS)
    for op in ops:
        before = level_state(book)
        if op[0] == "set":
            _, side, price, size = op
            reason = ref.set(side, price, size)
            if reason is None:
                book.set(side, price, size)
            else:
                with pytest.raises(BookUpdateError) as info:
                    book.set(side, price, size)
                assert info.value.code == reason
                assert level_state(book) == before
        elif op[0] == "clear":
            reason = ref.clear(op[1])
            if reason is None:
                book.clear(op[1])
            else:
                with pytest.raises(BookUpdateError):
                    book.clear(op[1])
                assert level_state(book) == before
        elif op[0] == "truncate":
            for side in (0, 1):
                ref.sides[side] = dict(ref.levels(side)[: op[1]])
            book.truncate(op[1])
        else:
            ref.snapshot(op[1], op[2])
            book.apply_snapshot(op[1], op[2])
        assert_level_book_equals(book, ref)


level_events = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 0, 0, 0, 0, 1, 4]),  # action: SET mostly, CLEAR, bad
        sides,
        level_prices,
        level_sizes,
        st.booleans(),  # LAST
    ),
    max_size=80,
)


@SETTINGS
@given(level_events)
def test_level_batch_matches_reference(rows):
    events = np.zeros(len(rows), dtype=LEVEL_DTYPE)
    for i, (action, side, price, size, last) in enumerate(rows):
        events[i] = (i, i, i + 1, price, size, action, side, Flags.LAST if last else 0, 0)
    book = LevelBook(initial_levels=4, max_levels=MAX_LEVELS)
    res = book.apply_deltas(events, record_depth=DEPTH)
    ref = RefLevelBook(max_levels=MAX_LEVELS)
    applied, boundaries = 0, []
    for action, side, price, size, last in rows:
        if action == 0:
            reason = ref.set(side, price, size)
        elif action == 1:
            reason = ref.clear(side)
        else:
            ref.rejected["bad_action"] += 1
            reason = "bad_action"
        applied += reason is None
        if last:
            boundaries.append(ref.depth(DEPTH))
    assert res.applied == applied and res.boundaries == len(boundaries)
    assert res.rejected == dict(ref.rejected)
    rec = res.depth
    assert rec is not None and len(rec) == len(boundaries)
    for r, want in enumerate(boundaries):
        assert rec.bid_price[r].tolist() == want["bid_price"]
        assert rec.bid_size[r].tolist() == want["bid_size"]
        assert rec.ask_price[r].tolist() == want["ask_price"]
        assert rec.ask_size[r].tolist() == want["ask_size"]
    assert_level_book_equals(book, ref)


# ----------------------------------------------------------------------------- ladder

ladder_sides = st.sampled_from([0, 0, 0, 1, 1, 1, 2])
ladder_apply = st.tuples(
    st.just("apply"),
    ladder_sides,
    st.sampled_from([0, 0, 0, 1, 1, 2, 2, 5]),  # Add, Update, Remove, bad
    st.integers(-1, 8),  # position
    st.integers(90, 110),  # price: narrow, so order violations happen often
    st.sampled_from([0, 1, 5, 9, -1]),
    st.sampled_from([False] * 15 + [True]),  # reset
)
ladder_snapshot = st.tuples(
    st.just("snapshot"),
    st.lists(st.integers(0, 9), max_size=8, unique=True).map(sorted),
    st.lists(st.integers(0, 9), max_size=8, unique=True).map(sorted),
)
ladder_ops = st.one_of(ladder_apply, ladder_apply, ladder_apply, ladder_apply, ladder_snapshot)


def ladder_state(book: LadderBook) -> tuple:
    return book.rows(0), book.rows(1)


def assert_ladder_equals(book: LadderBook, ref: RefLadder) -> None:
    book.check_integrity()
    assert book.rows(0) == ref.as_tuples(0)
    assert book.rows(1) == ref.as_tuples(1)
    assert book.stale_reason == STALE[ref.stale]
    assert book.rejected == dict(ref.rejected)
    assert {key: v.tolist() for key, v in book.depth(DEPTH).items()} == ref.depth(DEPTH)


@SETTINGS
@given(st.lists(ladder_ops, max_size=80))
def test_ladder_matches_reference(ops):
    book = LadderBook(max_rows=2)
    ref = RefLadder()
    for op in ops:
        if op[0] == "snapshot":
            bids = [(100 - d, d + 1) for d in op[1]]
            asks = [(101 + d, d + 1) for d in op[2]]
            ref.snapshot(bids, asks)
            book.apply_snapshot(bids, asks)
        else:
            _, side, operation, pos, price, vol, reset = op
            before = ladder_state(book)
            reason = ref.apply(side, operation, pos, price, vol, reset)
            if reason is None:
                book.apply(side, operation, pos, price, vol, reset=reset)
            else:
                with pytest.raises(BookUpdateError) as info:
                    book.apply(side, operation, pos, price, vol, reset=reset)
                assert info.value.code == reason
                assert ladder_state(book) == before
        assert_ladder_equals(book, ref)


def test_ladder_semantics_insert_shifts_down_remove_pulls_up_update_in_place():
    book, ref = LadderBook(), RefLadder()
    script = [
        (1, 0, 0, 105, 1),
        (1, 0, 1, 107, 2),
        (1, 0, 1, 106, 3),  # insert between: 107 moves to position 2
        (1, 1, 1, 106, 9),  # update in place
        (1, 2, 0, 0, 0),  # remove inside: rows pull up
    ]
    expected = [
        [(105, 1)],
        [(105, 1), (107, 2)],
        [(105, 1), (106, 3), (107, 2)],
        [(105, 1), (106, 9), (107, 2)],
        [(106, 9), (107, 2)],
    ]
    for (side, op, pos, price, vol), want in zip(script, expected, strict=True):
        book.apply(side, op, pos, price, vol)
        assert ref.apply(side, op, pos, price, vol) is None
        assert book.rows(1) == ref.as_tuples(1) == want


ladder_events = st.lists(
    st.tuples(
        ladder_sides,
        st.sampled_from([0, 0, 0, 1, 1, 2, 2, 5]),
        st.integers(-1, 8),
        st.integers(90, 110),
        st.sampled_from([0, 1, 5, 9, -1]),
        st.sampled_from([0] * 6 + [int(Flags.LAST)] * 3 + [int(Flags.LAST | Flags.RESET)]),
    ),
    max_size=100,
)


@SETTINGS
@given(ladder_events)
def test_ladder_batch_matches_reference(rows):
    events = np.zeros(len(rows), dtype=NT_DEPTH_DTYPE)
    for i, (side, op, pos, price, vol, flags) in enumerate(rows):
        events[i] = (i, i, i + 1, price, vol, pos, op, side, flags, 0)
    book = LadderBook(max_rows=2)
    res = book.apply_events(events, record_depth=DEPTH)
    ref = RefLadder()
    applied, boundaries = 0, []
    for side, op, pos, price, vol, flags in rows:
        applied += ref.apply(side, op, pos, price, vol, bool(flags & Flags.RESET)) is None
        if flags & Flags.LAST:
            boundaries.append(ref.depth(DEPTH))
    assert res.applied == applied and res.rejected == dict(ref.rejected)
    rec = res.depth
    assert rec is not None and len(rec) == len(boundaries) == res.boundaries
    for r, want in enumerate(boundaries):
        assert rec.bid_price[r].tolist() == want["bid_price"]
        assert rec.ask_size[r].tolist() == want["ask_size"]
        assert rec.ask_price[r].tolist() == want["ask_price"]
        assert rec.bid_size[r].tolist() == want["bid_size"]
    assert_ladder_equals(book, ref)
