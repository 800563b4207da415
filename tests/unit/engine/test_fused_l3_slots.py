"""The fused step's L3 detectors find each record's order through the book stage's slot (the
book's own look-up) instead of hashing its id again; orders the book does not hold where the
detectors keep them ("orphans") are found by id. Each way an order's book slot and the
detectors' order can part is fed here, fused and separate side by side, and must give the same
signals and the same detector state: unknown ids, a replaced order the book refused to replace
and then dropped, a slot freed and reused within one call, the book growing its slots mid-call,
a snapshot and a clear record emptying the book, the book changed outside the step, records the
book refuses for want of room (far prices)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from orderflow.book import _l3_kernels as L3B
from orderflow.book.l3 import OrderBook
from orderflow.engine import Pipeline, PipelineParams
from orderflow.io.formats import load_stream
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Flags
from orderflow.model.instruments import get_instrument
from orderflow.signals import _l3_detect_kernels as L3D
from orderflow.signals.detectors_l3 import L3Params
from tests.conftest import ES_MBO, need

INST = get_instrument("ES")
_LAST, _SNAP = int(Flags.LAST), int(Flags.SNAPSHOT)
_ACT = {"A": 1, "C": 2, "M": 3, "R": 4, "T": 5, "F": 6}
FAR = 19_200 + 3_000_000  # past the ladder's largest span: the book refuses it
PARAMS = PipelineParams(
    l3=L3Params(
        large_lot_min_size=5,
        large_lot_min_share=0.0,
        spoof_min_size=3,
        spoof_max_lifetime_ns=10**12,
        near_ticks=10**8,
        iceberg_refill_window_ns=10**9,
    ),
)

Row = tuple[str, int, int, int, int, int]  # action, side, price, size, order id, flags


def _records(rows: list[Row], t0: int) -> np.ndarray:
    ev = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, (a, side, price, size, oid, flags) in enumerate(rows):
        ev[i] = (t0 + i * 1_000_000, t0 + i * 1_000_000, i + 1, oid, price, size, _ACT[a],
                 side, flags, 0)  # fmt: skip
    return ev


def _state(p: Pipeline) -> Any:
    """What the L3 detectors hold and said: their signals, counters, every level's largest."""
    d = p.l3
    assert d is not None
    st = d._st
    largest = [d.largest_order(s, px) for s in (0, 1) for px in range(19_195, 19_206)]
    return ([repr(s) for s in p.signals if s.detector in _L3], d.lifetime_histogram(),
            d._ctr(0), d._ctr(1), int(st[L3D.H_NORD]), int(st[L3D.H_NLEV]), largest,
            d.largest_order(1, FAR))  # fmt: skip


_L3 = {"iceberg", "large_lot_added", "large_lot_removed", "spoof_pull"}


def _lockstep(
    calls: list[Callable[[Pipeline], Any]], capacity: int = 1 << 16
) -> tuple[Pipeline, Pipeline]:
    fused = Pipeline(INST, "mbo", dataclasses.replace(PARAMS, fused=True))
    ref = Pipeline(INST, "mbo", dataclasses.replace(PARAMS, fused=False))
    for p in (fused, ref):
        p.book = OrderBook(INST, capacity=capacity)
        p._apply = p.book.apply_mbo
    for call in calls:
        assert call(fused) == call(ref)
        assert _state(fused) == _state(ref)
    return fused, ref


T0 = 1_703_545_200_000_000_000
B, S = 0, 1
G = _LAST

# a replaced order (the book keeps the first, the detectors the second), the book drops it on a
# cancel of its own size: the detectors' order lives on as an orphan, found by id; a new order
# takes the freed slot in the same call
REPLACED: list[Row] = [
    ("A", B, 19_200, 10, 1, G), ("A", S, 19_202, 10, 2, G), ("A", B, 19_199, 20, 3, G),
    ("A", B, 19_200, 30, 1, G),  # the book refuses the same id, the detectors replace it
    ("C", B, 19_200, 10, 1, G),  # the book drops it (its size), the detectors keep 20
    ("A", B, 19_200, 6, 4, G),  # the book's freed slot, reused
    ("F", B, 19_200, 5, 1, 0), ("C", B, 19_200, 5, 1, G),  # the orphan trades
    ("M", B, 19_201, 8, 1, G),  # the orphan moves
    ("F", S, 19_202, 3, 77, G), ("C", S, 19_202, 3, 78, G), ("M", B, 19_200, 3, 79, G),
    ("C", B, 19_200, 6, 4, G),  # unknown ids above, then the slot's new order goes
    ("C", B, 19_201, 0, 1, G),  # the orphan cancelled whole (a size the book refuses)
    ("A", B, 19_200, 7, 1, G),  # the id again: the book and the detectors agree again
    ("C", B, 19_200, 7, 1, G),
]  # fmt: skip

# a snapshot empties the book: orders it does not send again become orphans, those it sends
# are the book's again; then a clear record, and slots reused after it
SNAPSHOT: list[Row] = [
    ("A", B, 19_199, 20, 3, _SNAP), ("A", S, 19_203, 8, 5, _SNAP | G),
    ("C", S, 19_202, 10, 2, G),  # order 2 was not in the snapshot: an orphan, a quick pull
    ("M", B, 19_199, 12, 3, G), ("F", B, 19_199, 12, 3, 0), ("C", B, 19_199, 12, 3, G),
    ("A", B, 19_198, 9, 6, G), ("R", 0, 0, 0, 0, G), ("A", B, 19_198, 9, 7, G),
    ("C", B, 19_198, 9, 6, G), ("C", B, 19_198, 9, 7, G), ("A", S, 19_204, 11, 8, G),
]  # fmt: skip

# records the book refuses for want of room: an add and a move to a far price
FAR_ROWS: list[Row] = [
    ("A", S, FAR, 40, 9, G), ("A", B, 19_197, 15, 10, G), ("M", B, FAR, 15, 10, G),
    ("C", S, FAR, 40, 9, G), ("C", B, FAR, 15, 10, G),
]  # fmt: skip

# a snapshot whose first record empties the book and then stops for room (its price is off the
# ladder, which the call's far price kept from being sized for the call): said on its retry
FAR_SNAPSHOT: list[Row] = [
    ("A", S, FAR, 30, 20, G), ("A", B, 24_200, 5, 21, _SNAP), ("A", S, 24_203, 8, 22, _SNAP | G),
    ("C", S, 19_204, 11, 8, G), ("C", S, 24_203, 8, 22, G),
]  # fmt: skip


def _feed(rows: list[Row], t0: int, cuts: tuple[int, ...] = ()) -> list[Callable[[Pipeline], Any]]:
    ev = _records(rows, t0)
    edges = [0, *cuts, len(ev)]
    return [lambda p, a=a, b=b: p.process(ev[a:b]) for a, b in itertools.pairwise(edges)]


def test_orphans_slots_reused_snapshots_clears_far_prices() -> None:
    calls = _feed(REPLACED, T0, (5, 9))
    calls += _feed(SNAPSHOT, T0 + 10**11, (3,))
    calls += _feed(FAR_ROWS, T0 + 2 * 10**11)
    calls += _feed(FAR_SNAPSHOT, T0 + 3 * 10**11)
    p, _ = _lockstep(calls)
    assert any(s.detector == "spoof_pull" for s in p.signals)
    assert any(s.detector == "large_lot_removed" for s in p.signals)


def test_orphans_exist_mid_stream() -> None:
    """The scenarios above do make orphans (found by id) and mirrored orders (found by slot)."""
    ev = _records(REPLACED[:6], T0)
    p = Pipeline(INST, "mbo", dataclasses.replace(PARAMS, fused=True))
    p.process(ev)
    assert p.l3 is not None
    st = p.l3._st
    assert int(st[L3D.H_NORPH]) == 1 and int(st[L3D.H_NORD]) == 4
    ev = _records([*SNAPSHOT[:2], ("C", S, 19_202, 1, 99, G)], T0 + 10**11)
    p.process(ev)
    assert int(p.l3._st[L3D.H_NORPH]) == 3  # 1, 2, 4 not sent again; 3 and 5 mirrored


def test_the_book_growing_its_slots_mid_call() -> None:
    """A book of two slots grows several times inside one call (the book stage resumes; the
    detectors then map slots past their first map)."""
    rows: list[Row] = [("A", i % 2, 19_195 + i % 9, 5 + i % 7, 100 + i, G) for i in range(40)]
    rows += [("C", i % 2, 19_195 + i % 9, 5 + i % 7, 100 + i, G) for i in range(0, 40, 3)]
    rows += [("M", i % 2, 19_196 + i % 7, 9, 100 + i, G) for i in range(1, 40, 3)]
    _lockstep(_feed(rows, T0, (17,)), capacity=2)


def test_the_book_changed_outside_the_step() -> None:
    """Orders added to and a clear of the book between calls, the same on both sides: the
    detectors' mirrored orders no longer sit where the book's slots say (its change stamp
    moved), so they are found by id until the book sends them again."""

    def outside(p: Pipeline) -> list[Any]:
        p.book.clear()
        p.book.add(11, 0, 19_199, 25, T0, 0)
        return []

    def add_more(p: Pipeline) -> list[Any]:
        p.book.add(12, 1, 19_203, 6, T0, 0)
        return []

    calls = [*_feed(REPLACED[:4], T0), outside]
    calls += _feed(
        [
            ("C", B, 19_200, 30, 1, G),
            ("C", B, 19_199, 25, 11, G),
            ("A", B, 19_200, 4, 13, G),
            ("C", S, 19_202, 10, 2, G),
        ],
        T0 + 10**10,
    )
    calls += [add_more]
    calls += _feed([("C", S, 19_203, 6, 12, G), ("C", B, 19_199, 20, 3, G)], T0 + 2 * 10**10)
    _lockstep(calls)


def test_fed_alone_after_the_step() -> None:
    """The fused step's detectors then fed alone (``on_group``: no book slots) find every order
    by its id, the mirrored ones too, as the separate path's detectors do."""
    fused, ref = _lockstep(_feed(REPLACED[:6], T0))
    more = _records([("C", S, 19_202, 10, 2, 0), ("C", B, 19_200, 20, 1, 0),
                     ("C", B, 19_199, 20, 3, G)], T0 + 10**10)  # fmt: skip
    assert fused.l3 is not None and ref.l3 is not None
    got = fused.l3.on_group(more, 19_199, 19_202)
    assert got == ref.l3.on_group(more, 19_199, 19_202) and len(got) == 5
    assert _state(fused) == _state(ref)


def _same_slots(small: Pipeline, big: Pipeline) -> None:
    """The small book holds every order at the big one's slot (its free list ends where the big
    one's goes on with its next slot), and the L3 detectors' whole state (their map of the
    book's slots included), but the last change stamp each book gave, and their signals are
    the same word for word."""
    n = small.book.capacity
    rows, big_rows = small.book._orders.copy(), big.book._orders[:n]
    ends = np.flatnonzero(rows[:, L3B.O_NEXT] != big_rows[:, L3B.O_NEXT])
    assert len(ends) <= 1  # (none: the small book's slots are all taken)
    if len(ends):
        assert rows[ends[0], L3B.O_NEXT] == -1 and big_rows[ends[0], L3B.O_NEXT] == n
        rows[ends[0], L3B.O_NEXT] = n
    assert np.array_equal(rows, big_rows)
    assert small.l3 is not None and big.l3 is not None
    st, big_st = small.l3._st.copy(), big.l3._st
    st[L3D.H_EPOCH] = big_st[L3D.H_EPOCH]
    assert np.array_equal(st, big_st)
    assert small.signal_counts == big.signal_counts
    latest = [[repr(x) for x in p.signals.latest(1000)] for p in (small, big)]
    assert latest[0] == latest[1]


def _small_and_big(
    calls: list[Callable[[Pipeline], Any]], params: PipelineParams, monkeypatch: pytest.MonkeyPatch
) -> tuple[Pipeline, list[int]]:
    """Each call on a fused pipeline whose book starts with one slot and on one whose book
    starts with 65,536, the two compared after each (:func:`_same_slots`); the small one, and
    the times its book doubled its slots in each call."""
    grown = [0]
    grow = OrderBook._grow_slots

    def counted(self: OrderBook) -> None:
        grown[0] += self.capacity < 1 << 16
        grow(self)

    monkeypatch.setattr(OrderBook, "_grow_slots", counted)
    small, big = (Pipeline(INST, "mbo", dataclasses.replace(params, fused=True)) for _ in "ab")
    for p, capacity in ((small, 1), (big, 1 << 16)):
        p.book = OrderBook(INST, capacity=capacity)
        p._apply = p.book.apply_mbo
    doubled = []
    for call in calls:
        grown[0] = 0
        assert call(small) == call(big)
        doubled.append(grown[0])
        _same_slots(small, big)
    return small, doubled


def test_a_book_started_with_one_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The book's re-base makes room for a call's orders while some of its slots are free (the
    new ones join its free list at the end), doubles inside a call, is emptied by a snapshot:
    the detectors see the slots a book started with 65,536 gives."""
    rows: list[Row] = [("A", i % 2, 19_198 + i, 5 + i, 1 + i, G) for i in range(5)]
    rows += [("C", 1, 19_199, 6, 2, G), ("C", 1, 19_201, 8, 4, G)]
    far: list[Row] = [("A", i % 2, 29_000 + i, 9, 100 + i, G) for i in range(40)]
    far += [("C", 0, 29_000, 9, 100, G), ("C", 1, 29_001, 9, 101, G)]
    near: list[Row] = [("A", i % 2, 29_010 + i % 30, 7, 1000 + i, G) for i in range(100)]
    near += [("C", i % 2, 29_010 + i % 30, 7, 1000 + i, G) for i in range(0, 100, 3)]
    snap: list[Row] = [("A", i % 2, 29_020 + i % 7, 3, 5000 + i, _SNAP) for i in range(300)]
    snap[-1] = (*snap[-1][:5], _SNAP | G)
    snap += [("C", 1, 29_027, 3, 5007, G), ("A", 0, 29_019, 8, 6000, G)]
    calls = _feed(rows, T0, (3,)) + _feed(far, T0 + 10**10) + _feed(near, T0 + 2 * 10**10)
    calls += _feed(snap, T0 + 3 * 10**10)
    small, doubled = _small_and_big(calls, PARAMS, monkeypatch)
    # the first call's re-base: room for 3 (4 slots), then 8; the far call's re-base: 64 at once;
    # 256 on the way; the snapshot empties the book and fills 300 slots
    assert doubled == [0, 1, 0, 2, 1] and small.book.capacity == 512
    assert any(s.detector == "large_lot_removed" for s in small.signals)


@pytest.mark.parametrize(("piece", "reserve"), [(65_536, True), (7_919, False)])
def test_esh4_on_a_book_started_with_one_slot(
    piece: int, reserve: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESH4 (the default settings) the same way. In replay chunks the first call's re-base
    makes room for its orders (the book never doubles); without that room, the small book
    doubles 14 times inside its calls."""
    s = load_stream(need(ES_MBO))
    ev = s.array
    if not reserve:
        monkeypatch.setattr(OrderBook, "_orders_after", lambda self, events: 0)
    calls = [lambda p, a=a: p.process(ev[a : a + piece]) for a in range(0, len(ev), piece)]
    small, doubled = _small_and_big(calls, PipelineParams(), monkeypatch)
    assert small.book.capacity == 1 << 14 and sum(doubled) == (0 if reserve else 14)
    assert small.l3 is not None and int(small.l3._st[L3D.H_NORD]) > 10_000
    assert small.signal_counts["large_lot_added"] > 0
