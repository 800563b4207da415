"""Golden: book metrics and momentum on the real ESH4 2023-12-25 MBO replay.

The L3 book records its top 10 at all 47,022 boundaries; trades are the MBO TRADE records. At the
boundaries nearest 23:15, 23:30 and 23:45 UTC and at the end, every metric must equal an
independent plain-Python computation from the recorded levels and the trades (never from the
implementation); the final values were also checked by hand once and are written out. The whole
stream is replayed through the incremental path too, which must agree with the batch everywhere.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from orderflow.analytics.book_metrics import NO_TS, BookMetrics, book_metrics_batch
from orderflow.analytics.momentum import Momentum, MomentumParams, momentum_batch
from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Action, Side
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

SEC = 1_000_000_000
OFI_WINDOW = 10 * SEC  # the defaults
MOMENTUM = MomentumParams()
DEPTH_TICKS = 4
WALL_MULTIPLE = 3.0


def _utc_ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * SEC


@cache
def replay(path: Path):
    events, inst = read_mbo(path)
    depth = OrderBook(inst).apply_mbo(events, record_depth=10).depth
    index = np.flatnonzero(events["action"] == Action.TRADE)
    trades = events[index]
    rec = book_metrics_batch(depth, trades, index, per_level=True)
    mom = momentum_batch(rec.ts_event, rec.mid, rec.imbalance, trades, rec.trade_offsets)
    # the trades of each group, found independently: event index in (index[r-1], index[r]]
    groups: list[list[tuple[int, int, int]]] = [[] for _ in range(len(depth))]
    b = 0
    cols = (trades["price"].tolist(), trades["size"].tolist(), trades["side"].tolist())
    prints = zip(*cols, strict=True)
    for i, t in zip(index.tolist(), prints, strict=True):
        while depth.index[b] < i:
            b += 1
        groups[b].append(t)  # price, size, aggressor side
    return depth, trades, rec, mom, groups


@pytest.fixture(scope="module")
def es():
    return replay(need(ES_MBO))


def rows_at(es) -> list[int]:
    depth = es[0]
    times = [_utc_ns(f"2023-12-25T{t}") for t in ("23:15:00", "23:30:00", "23:45:00")]
    return [int(np.searchsorted(depth.ts_event, t)) for t in times] + [len(depth) - 1]


# ---- the independent computations -----------------------------------------------------------
def side_levels(depth, r: int, side: int) -> list[tuple[int, int]]:
    px = (depth.bid_price if side == 0 else depth.ask_price)[r].tolist()
    sz = (depth.bid_size if side == 0 else depth.ask_size)[r].tolist()
    return [(p, s) for p, s in zip(px, sz, strict=True) if p != NO_PRICE]


def top(depth, r):
    (b, qb), (a, qa) = side_levels(depth, r, 0)[0], side_levels(depth, r, 1)[0]
    return b, qb, a, qa


def imbalance(depth, r) -> float:
    bsum = sum(s for _, s in side_levels(depth, r, 0))
    asum = sum(s for _, s in side_levels(depth, r, 1))
    return (bsum - asum) / (bsum + asum)


def ofi(depth, r) -> int:
    if r == 0:
        return 0
    b0, qb0, a0, qa0 = top(depth, r - 1)
    b1, qb1, a1, qa1 = top(depth, r)
    e = (qb1 if b1 >= b0 else 0) - (qb0 if b1 <= b0 else 0)
    return e - (qa1 if a1 <= a0 else 0) + (qa0 if a1 >= a0 else 0)


def pull_stack(depth, groups, r: int, side: int) -> tuple[int, int, int, dict]:
    """(pulled, stacked, traded, {price: (change, traded)}) from the two boundaries' levels."""
    if r == 0:
        return 0, 0, 0, {}
    old, new = side_levels(depth, r - 1, side), side_levels(depth, r, side)
    bid = side == 0

    def known(p, levels):
        return len(levels) < 10 or (p >= levels[-1][0] if bid else p <= levels[-1][0])

    bids0, asks0 = side_levels(depth, r - 1, 0), side_levels(depth, r - 1, 1)
    b0 = bids0[0][0] if bids0 else None
    a0 = asks0[0][0] if asks0 else None
    old_d, new_d = dict(old), dict(new)
    pulled = stacked = traded = 0
    cells = {}
    for p in old_d.keys() | new_d.keys():
        if not (known(p, old) and known(p, new)):
            continue
        tr = 0
        for tp, ts, ag in groups[r]:
            rest = {Side.BID: 1, Side.ASK: 0}.get(ag)
            if ag == Side.NONE:
                if b0 is not None and tp <= b0:
                    rest = 0
                elif a0 is not None and tp >= a0:
                    rest = 1
            tr += ts if rest == side and tp == p else 0
        change = new_d.get(p, 0) - old_d.get(p, 0)
        if change or tr:
            cells[p] = (change, tr)
            net = change + tr
            pulled, stacked, traded = pulled + max(-net, 0), stacked + max(net, 0), traded + tr
    return pulled, stacked, traded, cells


def walls_at(depth, r: int, side: int) -> dict[int, float]:
    levels = side_levels(depth, r, side)
    ref = statistics.median(s for _, s in levels)
    return {p: s / ref for p, s in levels if s >= WALL_MULTIPLE * ref}


def wall_since(depth, r: int, side: int, price: int) -> int:
    while r > 0 and price in walls_at(depth, r - 1, side):
        r -= 1
    return int(depth.ts_event[r])


# ---- the tests ------------------------------------------------------------------------------
def test_final_values_checked_by_hand(es):
    depth, _, rec, _, _ = es
    r = len(depth) - 1
    # best 4810.00 x 22 / 4810.25 x 28 (ticks 19240 / 19241); top-10 sums 579 / 547
    assert top(depth, r) == (19240, 22, 19241, 28)
    assert rec.spread[r] == 1 and rec.mid[r] == 19240.5
    assert rec.microprice[r] == (19240 * 28 + 19241 * 22) / 50 == 19240.44  # 4810.11
    assert (rec.bid_weighted[r], rec.ask_weighted[r]) == (579, 547)
    assert rec.imbalance[r] == 32 / 1126 and rec.size_ratio[r] == 579 / 547
    # within 4 ticks of 4810.125: bids 4810.00..4809.25, asks 4810.25..4811.00
    assert (rec.depth_bid[r], rec.depth_ask[r]) == (22 + 47 + 50 + 60, 28 + 40 + 41 + 60)
    # medians (56 + 57) / 2 (bids) and (55 + 60) / 2 (asks): nothing reaches 3x
    assert rec.wall_reference[r].tolist() == [56.5, 57.5]
    assert (rec.wall_since[r] == NO_TS).all()


@pytest.mark.parametrize("k", range(4))
def test_book_metrics_equal_an_independent_computation(es, k):
    depth, _, rec, _, groups = es
    r = rows_at(es)[k]
    b, qb, a, qa = top(depth, r)
    assert rec.spread[r] == a - b and rec.mid[r] == (a + b) / 2
    assert rec.microprice[r] == (b * qa + a * qb) / (qb + qa)
    assert rec.imbalance[r] == imbalance(depth, r)
    assert rec.ofi[r] == ofi(depth, r)
    now = int(depth.ts_event[r])
    window = [j for j in range(r, -1, -1) if depth.ts_event[j] > now - OFI_WINDOW]
    assert rec.ofi_sum[r] == sum(ofi(depth, j) for j in window)
    mid2 = a + b
    assert rec.depth_bid[r] == sum(s for p, s in side_levels(depth, r, 0) if 2 * p >= mid2 - 8)
    assert rec.depth_ask[r] == sum(s for p, s in side_levels(depth, r, 1) if 2 * p <= mid2 + 8)
    for side in (0, 1):
        pulled, stacked, traded, cells = pull_stack(depth, groups, r, side)
        assert tuple(x[r] for x in rec.pull_stack(Side(side))) == (pulled, stacked, traded)
        n = rec.level_count[r, side]
        change, traded = rec.level_change[r, side, :n], rec.level_traded[r, side, :n]
        got = zip(change.tolist(), traded.tolist(), strict=True)
        assert dict(zip(rec.level_price[r, side, :n].tolist(), got, strict=True)) == cells
        walls = walls_at(depth, r, side)
        px = (depth.bid_price if side == 0 else depth.ask_price)[r]
        marked = {int(px[i]): int(t) for i, t in enumerate(rec.wall_since[r, side]) if t != NO_TS}
        assert marked == {p: wall_since(depth, r, side, p) for p in walls}


def test_pull_stack_running_totals_equal_an_independent_pass(es):
    depth, _, rec, _, groups = es
    at = set(rows_at(es))
    totals = [[0, 0, 0], [0, 0, 0]]
    for r in range(len(depth)):
        for side in (0, 1):
            for c, v in enumerate(pull_stack(depth, groups, r, side)[:3]):
                totals[side][c] += v
            if r in at:
                assert [x[r] for x in rec.pull_stack_totals(Side(side))] == totals[side]
    # every traded contract at a visible level is counted once, on the side it hit
    assert totals[0][2] + totals[1][2] <= 9_892


@pytest.mark.parametrize("k", range(4))
def test_momentum_equals_an_independent_computation(es, k):
    depth, _, _, mom, groups = es
    r = rows_at(es)[k]
    now, win = int(depth.ts_event[r]), MOMENTUM.window_ns
    inside = [j for j in range(r, -1, -1) if depth.ts_event[j] > now - win]
    before = inside[-1] - 1  # the last boundary at or before now - window (books are 2-sided)
    dmid = (sum(top(depth, r)[::2]) - sum(top(depth, before)[::2])) / 2
    buy = sum(s for j in inside for _, s, sd in groups[j] if sd == Side.BID)
    sell = sum(s for j in inside for _, s, sd in groups[j] if sd == Side.ASK)
    total = sum(s for j in inside for _, s, _ in groups[j])
    flow = (buy - sell) / total if total else 0.0
    imb = sum(imbalance(depth, j) for j in inside) / len(inside)
    assert mom.mid_change[r] == dmid and mom.flow[r] == flow
    assert mom.mean_imbalance[r] == pytest.approx(imb, abs=1e-12)
    w = MOMENTUM.weights
    score = (
        w[0] * math.tanh(dmid / MOMENTUM.tick_scale)
        + w[1] * math.tanh(flow / MOMENTUM.flow_scale)
        + w[2] * math.tanh(imb / MOMENTUM.imbalance_scale)
    )
    assert mom.score[r] == pytest.approx(score, abs=1e-12)


def test_incremental_equals_batch_at_every_boundary(es):
    depth, trades, rec, mom, _ = es
    bm, mo = BookMetrics(), Momentum()
    off = rec.trade_offsets
    for r in range(len(depth)):
        tr = trades[off[r] : off[r + 1]]
        ts = int(depth.ts_event[r])
        bm.update(
            ts, depth.bid_price[r], depth.bid_size[r], depth.ask_price[r], depth.ask_size[r], tr
        )
        assert bm.ofi_sum == rec.ofi_sum[r] and bm.imbalance == rec.imbalance[r]
        assert mo.update(int(depth.ts_event[r]), bm.mid, bm.imbalance, tr) == mom.score[r] or (
            math.isnan(mom.score[r])
        )
        if r % 97 == 0 or r == len(depth) - 1:
            assert bm.pull_stack_totals(Side.ASK) == tuple(
                int(x[r]) for x in rec.pull_stack_totals(Side.ASK)
            )
            n = rec.level_count[r, 0]
            assert list(bm.pull_stack_levels(Side.BID)["price"]) == list(rec.level_price[r, 0, :n])
            assert [w.since_ns for w in bm.walls()] == [
                int(t) for s in (0, 1) for t in rec.wall_since[r, s] if t != NO_TS
            ]
    assert (bm.spread, bm.mid, bm.microprice) == (1, 19240.5, 19240.44)


@pytest.mark.parametrize("chunk", [1, 777, 10_000])
def test_update_many_in_chunks_equals_the_batch(es, chunk):
    """A running stream fed in replay chunks (``update_many``, as the pipeline does) gives the
    batch's numbers at every boundary, and the same final reads as one group at a time."""
    from orderflow.book.common import DepthRecord

    depth, trades, rec, mom, _ = es
    off = rec.trade_offsets
    bm, mo = BookMetrics(), Momentum()
    ints, floats, since, scores = [], [], [], []
    for a in range(0, len(depth), chunk):
        b = min(a + chunk, len(depth))
        part = DepthRecord(*(x[a:b] for x in (depth.index, depth.ts_event, depth.bid_price,
                           depth.bid_size, depth.bid_count, depth.ask_price, depth.ask_size,
                           depth.ask_count)))  # fmt: skip
        got = bm.update_many(part, trades[off[a] : off[b]], off[a : b + 1] - off[a])
        m = mo.update_many(part.ts_event, got.mid, got.imbalance, trades[off[a] : off[b]],
                           off[a : b + 1] - off[a])  # fmt: skip
        ints.append(got.ints)
        floats.append(got.floats)
        since.append(got.wall_since)
        scores.append(m.score)
    assert np.array_equal(np.concatenate(ints), rec.ints)
    assert np.array_equal(np.concatenate(floats), rec.floats, equal_nan=True)
    assert np.array_equal(np.concatenate(since), rec.wall_since)
    assert np.array_equal(np.concatenate(scores), mom.score, equal_nan=True)
    n = rec.level_count[-1, 1]
    assert list(bm.pull_stack_levels(Side.ASK)["price"]) == list(rec.level_price[-1, 1, :n])
    assert (bm.spread, bm.mid, bm.microprice) == (1, 19240.5, 19240.44)
