"""The fused step's top-N record takes a side's row from the boundary before only when the group
changed no level inside that side's top N: every row equals the L3 book's own record
(``OrderBook.apply_mbo(record_depth=N)``), on groups built to catch a wrong shortcut and on the
recorded ESH4 day."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from orderflow.book.common import DepthRecord
from orderflow.book.l3 import OrderBook
from orderflow.engine import Pipeline, PipelineParams
from orderflow.engine import _fused_kernels as F
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags, Side
from tests.conftest import ES_MBO, need
from tests.unit.engine.test_fused_property import INST, T0

N = 3
_FIELDS = [f.name for f in dataclasses.fields(DepthRecord)]
A, C, M, R = Action.ADD, Action.CANCEL, Action.MODIFY, Action.CLEAR
T, FL = Action.TRADE, Action.FILL
B, S = Side.BID, Side.ASK


def _stream(groups: list[list[tuple[int, int, int, int, int]]]) -> np.ndarray:
    """Records (action, side, price, size, order id), each group's last one flagged LAST."""
    rows = [(r, k == len(g) - 1) for g in groups for k, r in enumerate(g)]
    ev = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, ((act, side, price, size, oid), last) in enumerate(rows):
        ev[i] = (T0 + i * 1000, T0 + i * 1000, i + 1, oid, price, size, act, side,
                 int(Flags.LAST) if last else 0, 0)  # fmt: skip
    return ev


# a book with 6 bid levels (100 best .. 95) and 6 ask levels (101 best .. 106), one order each
# (bid at price p: id p; ask at price p: id 1000 + p), then one group per case
BOOK = [(A, B, p, 10, p) for p in range(95, 101)]
BOOK += [(A, S, p, 10, 1000 + p) for p in range(101, 107)]
CASES = [
    [(A, B, 96, 5, 1)],  # a level behind the N-th (98): the row before stands
    [(C, B, 97, 10, 97)],  # level N + 1 emptied: stands
    [(A, B, 97, 4, 2)],  # level N + 1 again: stands
    [(C, B, 98, 10, 98)],  # the N-th level emptied: 97 moves into the top N
    [(M, B, 99, 10, 95)],  # an order from behind into the top N (its old price is behind)
    [(M, B, 94, 10, 100)],  # the best order out of the top N (the new price behind)
    [(C, S, 90, 10, 1101)],  # the record's price lies: the book cancels the order at 101
    [(A, S, 106, 3, 3)],  # ask behind its N-th: stands
    [(FL, B, 99, 10, 99), (T, S, 99, 10, 0)],  # a fill and a print change no level
    [(C, B, 1, 10, 123456)],  # an unknown order: nothing changes
    [(A, B, 96, 1, 4)],  # at the N-th bid (96 now): its size changes
    [(C, B, 99, 4, 95)],  # a partial cancel at the best
    [(R, B, 0, 0, 0)],  # a clear: both sides empty
    [(A, B, 50, 1, 5), (A, S, 60, 1, 6)],  # rows not full: every change counts
    [(A, B, 49, 1, 7), (A, B, 48, 1, 8), (A, S, 61, 1, 9), (A, S, 62, 1, 10)],
    [(A, B, 40, 1, 11), (A, S, 70, 1, 12)],  # full rows, changes behind: both stand
    [(M, B, 55, 1, 11)],  # from behind to the best
]


def _copy(d: DepthRecord, at: int) -> list[np.ndarray]:
    """A call's rows (views of the step's buffers) copied, record indices from ``at``."""
    return [d.index + at, *(np.array(getattr(d, f)) for f in _FIELDS[1:])]


def _fused_rows(ev: np.ndarray, cuts: list[int], small: bool) -> tuple[DepthRecord, int]:
    """The fused step's rows over ``ev`` in calls cut at ``cuts`` (``small``: a book that
    grows mid-call, so calls resume), and how many sides it copied."""
    p = Pipeline(INST, "mbo", PipelineParams(depth_levels=N, fused=True))
    if small:
        p.book = OrderBook(INST, capacity=2)
        p._apply = p.book.apply_mbo
    step = p._fused
    assert step is not None
    parts, copied = [], 0
    for a, b in itertools.pairwise(cuts):
        fg, cut = step.mbo(p.book, ev[a:b])
        assert fg is not None and cut == b - a
        copied += int(step.bstate[F.B_COPIED])
        parts.append(_copy(fg.depth, a))
    return DepthRecord(*(np.concatenate(c) for c in zip(*parts, strict=True))), copied


def _assert_rows(got: DepthRecord, want: DepthRecord) -> None:
    for name in _FIELDS:
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


@pytest.mark.parametrize("small", [False, True])
def test_top_n_shortcut_only_where_exact(small: bool) -> None:
    ev = _stream([BOOK, *CASES])
    want = OrderBook(INST).apply_mbo(ev, record_depth=N).depth
    assert want is not None and len(want) == 1 + len(CASES)
    got, copied = _fused_rows(ev, [0, len(ev)], small)
    _assert_rows(got, want)
    # sides that stood (bid, ask per case): taken from the row before, the rest from the book
    stood = [(1, 1), (1, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 0), (1, 1), (1, 1), (1, 1),
             (0, 1), (0, 1), (0, 0), (0, 0), (0, 0), (1, 1), (0, 1)]  # fmt: skip
    assert copied == sum(b + a for b, a in stood)
    for g, (b, a) in enumerate(stood, start=1):  # (the reference agrees the rows stood)
        same_b = all(np.array_equal(x[g], x[g - 1]) for x in (want.bid_price, want.bid_size,
                                                              want.bid_count))  # fmt: skip
        same_a = all(np.array_equal(x[g], x[g - 1]) for x in (want.ask_price, want.ask_size,
                                                              want.ask_count))  # fmt: skip
        assert same_b >= b and same_a >= a, g


def test_top_n_one_group_per_call() -> None:
    """A call's first boundary is always read from the book (the row before is another
    call's)."""
    ev = _stream([BOOK, *CASES])
    want = OrderBook(INST).apply_mbo(ev, record_depth=N).depth
    assert want is not None
    ends = np.flatnonzero(ev["flags"] & Flags.LAST) + 1
    got, copied = _fused_rows(ev, [0, *ends.tolist()], False)
    _assert_rows(got, want)
    assert copied == 0


@pytest.mark.slow
def test_top_n_esh4() -> None:
    """ESH4 in replay chunks: all 47,022 rows equal the book's own record, most sides copied."""
    from orderflow.io.formats import load_stream

    s = load_stream(need(ES_MBO))
    ev = s.array
    want = OrderBook(s.instrument).apply_mbo(ev, record_depth=10).depth
    assert want is not None
    p = Pipeline(s.instrument, "mbo", PipelineParams(depth_levels=10, fused=True))
    step = p._fused
    assert step is not None
    parts, copied, at = [], 0, 0
    for a in range(0, len(ev), 65_536):
        chunk = ev[at : a + 65_536]
        fg, cut = step.mbo(p.book, chunk)
        assert fg is not None
        copied += int(step.bstate[F.B_COPIED])
        parts.append(_copy(fg.depth, at))
        at += cut
    got = DepthRecord(*(np.concatenate(c) for c in zip(*parts, strict=True)))
    assert len(got) == len(want) == 47_022
    _assert_rows(got, want)
    assert copied > 0.3 * 2 * len(want)
