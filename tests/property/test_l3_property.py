"""Random operation sequences on the L3 book against the naive reference model."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow.book.l3 import OrderBook
from orderflow.core.errors import BookUpdateError
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Side
from tests.golden.reference_l3 import ReferenceBook

IDS = st.integers(0, 7)
# mostly a narrow band (queues form), sometimes far away (ladder re-basing)
NEAR = st.integers(98, 102)
PRICES = st.one_of(NEAR, NEAR, NEAR, st.sampled_from([-3_000, 7, 5_000, 20_000]))
SIZES = st.integers(-1, 9)

ADD = st.tuples(st.just("add"), IDS, st.sampled_from([0, 1, 0, 1, 2]), PRICES, SIZES)
OPS = st.one_of(
    ADD,
    ADD,
    st.tuples(st.just("cancel"), IDS, st.one_of(st.none(), SIZES)),
    st.tuples(st.just("modify"), IDS, PRICES, SIZES),
    st.tuples(st.just("resize"), IDS, st.integers(-1, 9)),  # modify at the order's own price
    st.tuples(st.just("fill"), IDS, SIZES),
)
# a clear now and then, not every few steps
STEPS = st.lists(
    st.one_of(OPS, OPS, OPS, OPS, OPS, OPS, OPS, OPS, st.tuples(st.just("clear"))),
    min_size=20,
    max_size=80,
)


def assert_same(book: OrderBook, ref: ReferenceBook) -> None:
    book.check_integrity()
    assert len(book) == len(ref.orders)
    for side in (0, 1):
        assert book.levels(Side(side)).tolist() == [list(r) for r in ref.levels(side)]
        for price in ref.lvl[side]:
            assert book.level_orders(Side(side), price).tolist() == ref.level_orders(side, price)
    for oid, (side, price, size) in ref.orders.items():
        view = book.order(oid)
        assert (view.side, view.price, view.size) == (side, price, size)
        assert view.queue_position == ref.queue_position(oid)
    assert book.traded_volume == ref.traded


def snapshot(book: OrderBook):
    levels = [book.levels(Side(s)).tolist() for s in (0, 1)]
    orders = {}
    for s in (0, 1):
        for price, _, _ in levels[s]:
            for oid in book.level_orders(Side(s), price).tolist():
                orders[oid] = book.order(oid)
    return levels, orders, book.traded_volume, book.last_sequence


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.sampled_from([1, 2, 64]))
def test_random_operations_match_reference(ops, capacity):
    book, ref = OrderBook(capacity=capacity), ReferenceBook()
    expected_rejects: dict[str, int] = {}
    for seq, op in enumerate(ops, start=1):
        kind, args = op[0], op[1:]
        if kind == "clear":
            book.clear()
            ref.clear()
            assert_same(book, ref)
            continue
        if kind == "resize":
            oid, size = args
            kind, args = "modify", (oid, ref.orders[oid][1] if oid in ref.orders else 100, size)
        before = snapshot(book)
        why = getattr(ref, kind)(*args)
        try:
            getattr(book, kind)(*args, sequence=seq)
        except BookUpdateError as err:
            assert why is not None, f"book refused {op} ({err.code}), reference applied it"
            assert err.code == why
            assert snapshot(book) == before
            expected_rejects[why] = expected_rejects.get(why, 0) + 1
        else:
            assert why is None, f"book applied {op}, reference refused it ({why})"
            assert book.last_sequence == seq
        assert_same(book, ref)
    assert book.rejected == expected_rejects


RECORD = st.tuples(
    st.sampled_from([1, 1, 1, 2, 2, 3, 3, 5, 6, 4, 9]),  # action (4 clear, 9 bad)
    st.sampled_from([0, 1, 0, 1, 2]),
    PRICES,
    SIZES,
    IDS,
    st.sampled_from([0x80, 0x80, 0x00, 0x20, 0xA0]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(RECORD, min_size=10, max_size=120), st.sampled_from([1, 64]))
def test_batch_replay_matches_reference_and_per_event(records, capacity):
    ev = np.zeros(len(records), dtype=MBO_DTYPE)
    for i, (action, side, price, size, oid, flags) in enumerate(records):
        ev[i] = (i, i, i, oid, price, size, action, side, flags, 0)
    batch, single, ref = OrderBook(capacity=capacity), OrderBook(capacity=capacity), ReferenceBook()
    res = batch.apply_mbo(ev, record_depth=3)
    rejected = 0
    boundary = 0
    for i, (action, side, price, size, oid, flags) in enumerate(records):
        why = ref.apply(action, side, price, size, oid, flags)
        try:
            single.apply(action, side, price, size, oid, flags, i, i, i)
        except BookUpdateError as err:
            assert err.code == why
            rejected += 1
        else:
            assert why is None
        if flags & 0x80 and not flags & 0x20:
            for s, name in ((0, "bid"), (1, "ask")):
                top = ref.top(s, 3)
                got = getattr(res.depth, f"{name}_price")[boundary][: len(top)].tolist()
                assert got == [p for p, _, _ in top]
                sizes = getattr(res.depth, f"{name}_size")[boundary][: len(top)].tolist()
                assert sizes == [z for _, z, _ in top]
            boundary += 1
    assert res.boundaries == boundary
    assert res.rejected_total == rejected and res.applied == len(records) - rejected
    assert batch.rejected == single.rejected == res.rejected
    assert_same(batch, ref)
    assert_same(single, ref)
