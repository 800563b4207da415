"""The liquidity-cluster kernel's shortcuts against a plain-Python model of the rules without
them: a row equal to the row before it is not judged again (nothing could change), and a level
in the bucket of the level before it, or in the bucket next to that one, takes its bucket
without a division. The model judges every row and divides every price; the tracker's whole
state (start time, strength step and qualification of every bucket, the material-change count)
must be the same after every call, on streams built to break each shortcut and on the recorded
ESH4 book. And the call's price span, taken four rows at a time, against one pass."""

from __future__ import annotations

import itertools
from dataclasses import fields
from functools import cache

import numpy as np
import pytest

from orderflow.analytics.clusters import _MAX_INT, ClusterParams, LiquidityClusterTracker, _span
from orderflow.book.common import DepthRecord
from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE
from tests.conftest import ES_MBO, need

NP = NO_PRICE


class Model:
    """The tracker's rules in plain Python: every row judged, every price divided."""

    def __init__(self, p: ClusterParams, num: int, den: int) -> None:
        self.p, self.num, self.den = p, num, den
        self.first: list[dict[int, int]] = [{}, {}]
        self.level: list[dict[int, int]] = [{}, {}]
        self.qual: list[list[int]] = [[], []]
        self.mat = 0

    def _step(self, x: int, n: int, s: int) -> int:
        mu = s / n
        thr = max(float(self.p.min_volume), self.num * mu / self.den)
        if thr == 0.0:
            thr = mu
        lv = int(self.p.strength_steps * (1.0 - thr / x))
        return min(max(lv, 0), self.p.strength_steps - 1)

    def row(self, sd: int, ts: int, px: list[int], sz: list[int]) -> None:
        g, first, level = self.p.granularity, self.first[sd], self.level[sd]
        acc: dict[int, int] = {}
        s = 0
        for p, v in zip(px, sz, strict=True):
            if v > 0 and p != NP:
                acc[p // g] = acc.get(p // g, 0) + v
                s += v
        for k in self.qual[sd]:
            if k not in acc:
                first[k] = level[k] = -1
                self.mat += 1
        nt, q = len(acc), []
        for k, x in acc.items():
            if x >= self.p.min_volume and x * nt * self.den >= self.num * s:
                if first.get(k, -1) < 0:
                    first[k] = ts
                lv = self._step(x, nt, s)
                if level.get(k, -1) != lv:
                    level[k] = lv
                    self.mat += 1
                q.append(k)
            else:
                first[k] = -1
                if level.get(k, -1) >= 0:
                    level[k] = -1
                    self.mat += 1
        self.qual[sd] = q

    def feed(self, d: DepthRecord) -> None:
        for r in range(len(d)):
            ts = int(d.ts_event[r])
            self.row(0, ts, d.bid_price[r].tolist(), d.bid_size[r].tolist())
            self.row(1, ts, d.ask_price[r].tolist(), d.ask_size[r].tolist())


def _same(t: LiquidityClusterTracker, m: Model) -> None:
    base = t._base
    for sd in (0, 1):
        width = t._first.shape[1]
        first = [m.first[sd].get(base + k, -1) for k in range(width)]
        level = [m.level[sd].get(base + k, -1) for k in range(width)]
        assert t._first[sd].tolist() == first
        assert t._level[sd].tolist() == level
        nq = int(t._nq[sd, 0])
        assert [base + int(k) for k in t._qual[sd, :nq]] == m.qual[sd]
    assert int(t._mat[0]) == m.mat


def _check(d: DepthRecord, p: ClusterParams, pieces: int = 1) -> LiquidityClusterTracker:
    t = LiquidityClusterTracker(p)
    m = Model(p, t._r.numerator, t._r.denominator)
    cuts = np.linspace(0, len(d), pieces + 1).astype(int)
    for a, b in itertools.pairwise(cuts.tolist()):
        part = DepthRecord(*(np.ascontiguousarray(getattr(d, f.name)[a:b]) for f in fields(d)))
        t.update_depth(part)
        m.feed(part)
        _same(t, m)
    return t


def _depth(ts: list[int], bids: list[list[tuple[int, int]]],
           asks: list[list[tuple[int, int]]]) -> DepthRecord:  # fmt: skip
    w = max(len(r) for r in (*bids, *asks))
    n = len(ts)
    px = np.full((2, n, w), NP, dtype=np.int64)
    sz = np.zeros((2, n, w), dtype=np.int64)
    for sd, rows in enumerate((bids, asks)):
        for r, lv in enumerate(rows):
            for j, (p, v) in enumerate(lv):
                px[sd, r, j], sz[sd, r, j] = p, v
    ct = (sz > 0).astype(np.int64)
    return DepthRecord(np.arange(n), np.array(ts, dtype=np.int64), px[0], sz[0], ct[0],
                       px[1], sz[1], ct[1])  # fmt: skip


G3 = ClusterParams(granularity=3, min_volume=0, min_ratio=1.5, strength_steps=10)
ASK = [(120, 5), (121, 5), (122, 5)]
BIG = [(100, 60), (99, 5), (98, 5), (97, 5), (96, 5)]


def test_a_repeated_row_after_a_negative_time_is_judged_again() -> None:
    """A bucket qualifying at a negative time has a start below 0, which the rules read as "not
    started": the same row again restarts it at the new time, so it cannot be skipped."""
    d = _depth([-5, -4, -4, 7, 7], [BIG] * 5, [ASK] * 5)
    t = _check(d, G3)
    k = 100 // 3 - t._base
    assert t._first[0, k] == 7  # restarted at -4 (row 2 skipped: same row, time -4), then 7


def test_repeats_deep_changes_and_a_return_to_the_same_top() -> None:
    deep = [*BIG[:4], (96, 9)]  # only the fifth level changes
    gone = [(100, 5), (99, 5), (98, 5), (97, 5), (96, 5)]  # the cluster goes...
    rows = [BIG, BIG, deep, deep, BIG, gone, gone, BIG, BIG, BIG]  # ...and the same top returns
    d = _depth(list(range(10, 20)), rows, [ASK] * 10)
    t = _check(d, G3)
    _check(d, G3, pieces=4)  # a call boundary between equal rows
    assert t._first[0, 100 // 3 - t._base] == 17  # it started again when it came back


def test_buckets_across_boundaries_negative_prices_unsorted_levels_and_holes() -> None:
    """The division shortcut: neighbouring levels in and out of one bucket, prices below 0
    (floor division), levels in no order, empty levels and sizes of 0 between them."""
    bids = [
        [(0, 9), (-1, 4), (-2, 4), (-3, 30), (-4, 4), (-7, 8)],
        [(5, 9), (-1, 4), (NP, 0), (-3, 30), (2, 0), (3, 8)],
        [(-3, 30), (5, 9), (-1, 4), (3, 8), (-6, 1), (4, 2)],
        [(-3, 30), (5, 9), (-1, 4), (3, 8), (-6, 1), (4, 2)],
    ]
    asks = [[(9, 3), (10, 3), (11, 40), (12, 3), (13, 3), (14, 3)]] * 4
    d = _depth([1, 2, 3, 4], bids, asks)
    for g in (1, 2, 3, 4, 7):
        _check(d, ClusterParams(granularity=g, min_volume=0, min_ratio=1.5, strength_steps=10))
        _check(d, ClusterParams(granularity=g, min_volume=10, min_ratio=2.0, strength_steps=4))


def test_random_books_with_many_repeats() -> None:
    rng = np.random.default_rng(11)
    n, w = 600, 8
    bp = np.empty((n, w), dtype=np.int64)
    bs = np.empty((n, w), dtype=np.int64)
    top = 1000
    for r in range(n):
        if r and rng.random() < 0.5:  # a repeat, as most event groups leave a side alone
            bp[r], bs[r] = bp[r - 1], bs[r - 1]
            continue
        top += int(rng.integers(-2, 3))
        bp[r] = top - np.arange(w) - (np.arange(w) >= int(rng.integers(1, w + 1)))
        bs[r] = rng.integers(0, 40, w) * (rng.random(w) < 0.9)
    asks = bp[:, ::-1] + 3 * w
    d = DepthRecord(np.arange(n), np.arange(n, dtype=np.int64) * 10, bp, bs, bs, asks,
                    bs[::-1].copy(), bs)  # fmt: skip
    for g in (1, 2, 4):
        _check(d, ClusterParams(granularity=g, min_volume=0, min_ratio=1.2), pieces=5)


@cache
def _esh4_depth() -> DepthRecord:
    ev, inst = read_mbo(need(ES_MBO))
    d = OrderBook(inst).apply_mbo(ev[:12_000], record_depth=10).depth
    assert d is not None
    return d


@pytest.mark.parametrize("g", [1, 4])
def test_esh4_book_equals_the_model(g: int) -> None:
    d = _esh4_depth()
    t = _check(d, ClusterParams(granularity=g, min_volume=0, min_ratio=2.0), pieces=3)
    assert int(t._mat[0]) > 50  # clusters came and went on the recorded book


def test_bucket_window_spans_exactly_the_prices_seen() -> None:
    """The price range each call's buckets must hold (lowest and highest price, empty levels
    left out): empty rows need none, and a window grows to the range seen, as ``_window``
    gives it from the true lowest and highest price."""
    p = ClusterParams(granularity=2, min_volume=0, min_ratio=1.5)
    empty = _depth([1, 2], [[(NP, 0)], [(NP, 0)]], [[(NP, 0)], [(NP, 0)]])
    t = _check(empty, p)
    assert t._first.shape[1] == 0  # nothing to hold yet
    far = _depth([3, 4], [[(NP, 0), (41, 3), (NP, 0)], [(7, 5), (NP, 0), (NP, 0)]],
                 [[(NP, 0), (NP, 0), (NP, 0)], [(90, 1), (NP, 0), (91, 4)]])  # fmt: skip
    m = Model(p, t._r.numerator, t._r.denominator)
    t.update_depth(far)
    m.feed(far)
    _same(t, m)
    lo, hi = 7 // 2, 91 // 2
    margin = max(16, (hi - lo) // 2)
    assert (t._base, t._first.shape[1]) == (lo - margin, hi - lo + 1 + 2 * margin)


def test_price_span_four_rows_at_a_time() -> None:
    """``_span`` (the lowest and highest price of a call's rows, four rows at a time into
    four pairs of extremes): the same as one pass, for every number of rows (the remainder
    rows too), with the lowest and the highest price in each of the four pairs in turn, with
    empty levels, all-empty rows and no price at all."""
    rng = np.random.default_rng(2)
    for rows in range(11):
        for case in range(12):
            a = rng.integers(-50, 50, (rows, 3)).astype(np.int64)
            a[rng.random((rows, 3)) < 0.3] = NP
            if rows and case < 8:  # the extremes in row r, r % 4 == case % 4
                r = min(rows - 1, case % 4 + 4 * int(rng.integers(0, 3)))
                a[r, int(rng.integers(0, 3))] = -1000 if case < 4 else 1000
            if case == 11:
                a[:] = NP
            real = a[a != NP]
            want = (int(real.min()), int(real.max())) if len(real) else (_MAX_INT, NP)
            assert _span(a, _MAX_INT, NP) == want, (rows, case)
            assert _span(a, -2000, 2000) == (-2000, 2000)  # extremes carried in stand
