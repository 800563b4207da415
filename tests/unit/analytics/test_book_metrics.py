"""Book metrics on hand-built depth and trades: exact values, laws, batch == incremental."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.book_metrics import (
    NO_TS,
    BookMetrics,
    BookMetricsParams,
    DepthParams,
    ImbalanceParams,
    OfiParams,
    PullStackParams,
    WallParams,
    book_metrics_batch,
)
from orderflow.book.common import DepthRecord
from orderflow.core.errors import ConfigError
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Side

W = 5
BUY, SELL, UNKNOWN = Side.BID, Side.ASK, Side.NONE  # aggressor sides


def row(levels: list[tuple[int, int]], width: int = W) -> tuple[np.ndarray, np.ndarray]:
    px = np.full(width, NO_PRICE, dtype=np.int64)
    sz = np.zeros(width, dtype=np.int64)
    for i, (p, s) in enumerate(levels[:width]):
        px[i], sz[i] = p, s
    return px, sz


def run_both(groups, params=None, width=W):
    """groups: (ts, bids, asks, trades[(price, size, aggressor)]). Runs the batch and the
    incremental path, asserts they agree on every read at every group, returns the batch."""
    n = len(groups)
    arrays = {k: np.zeros((n, width), np.int64) for k in ("bp", "bs", "ap", "as")}
    trades, group = [], []
    for r, (ts, bids, asks, trs) in enumerate(groups):
        arrays["bp"][r], arrays["bs"][r] = row(bids, width)
        arrays["ap"][r], arrays["as"][r] = row(asks, width)
        trades += [(ts, ts, 0, p, s, side, 0, 0) for p, s, side in trs]
        group += [r] * len(trs)
    tr = np.array(trades, dtype=TRADE_DTYPE)
    ts = np.array([g[0] for g in groups], dtype=np.int64)
    cnt = np.zeros((n, width), np.int64)
    depth = DepthRecord(np.arange(n), ts, arrays["bp"], arrays["bs"], cnt, arrays["ap"],
                        arrays["as"], cnt)  # fmt: skip
    rec = book_metrics_batch(depth, tr, np.array(group, np.int64), params, per_level=True)
    bm = BookMetrics(params, width)
    off = rec.trade_offsets
    for r in range(n):
        bm.update(int(ts[r]), arrays["bp"][r], arrays["bs"][r], arrays["ap"][r],
                  arrays["as"][r], tr[off[r] : off[r + 1]])  # fmt: skip
        assert_same(bm, rec, r)
    return rec, bm


def _eq(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_same(bm: BookMetrics, rec, r: int) -> None:
    spread = rec.spread[r]
    assert bm.spread == (None if spread == NO_PRICE else spread)
    for name in ("mid", "microprice", "bid_weighted", "ask_weighted", "size_ratio", "imbalance"):
        assert _eq(getattr(bm, name), getattr(rec, name)[r]), name
    assert bm.ofi == rec.ofi[r] and bm.ofi_sum == rec.ofi_sum[r]
    assert list(bm.ofi_sum_levels) == list(rec.ofi_sum_levels[r])
    assert bm.depth_within == (rec.depth_bid[r], rec.depth_ask[r])
    for side in (Side.BID, Side.ASK):
        assert bm.pull_stack(side) == tuple(int(x[r]) for x in rec.pull_stack(side))
        assert bm.pull_stack_totals(side) == tuple(int(x[r]) for x in rec.pull_stack_totals(side))
        lv = bm.pull_stack_levels(side)
        k = rec.level_count[r, side]
        assert list(lv["price"]) == list(rec.level_price[r, side, :k])
        assert list(lv["change"]) == list(rec.level_change[r, side, :k])
        assert list(lv["traded"]) == list(rec.level_traded[r, side, :k])
    assert [(w.side, w.since_ns) for w in bm.walls()] == [
        (Side(s), int(t)) for s in (0, 1) for t in rec.wall_since[r, s] if t != NO_TS
    ]


# ---- top of book ----------------------------------------------------------------------------
def test_spread_mid_and_microprice_lean_toward_the_thin_side():
    _rec, bm = run_both([(1, [(100, 10)], [(101, 30)], [])])
    assert bm.spread == 1 and bm.mid == 100.5
    assert bm.microprice == (100 * 30 + 101 * 10) / 40 == 100.25


def test_one_sided_book_has_no_spread_mid_or_microprice():
    _rec, bm = run_both([(1, [(100, 10)], [], [])])
    assert bm.spread is None and math.isnan(bm.mid) and math.isnan(bm.microprice)
    assert bm.imbalance == 1.0 and bm.size_ratio == math.inf


def test_empty_book_is_neutral():
    _rec, bm = run_both([(1, [], [], [])])
    assert bm.imbalance == 0.0 and math.isnan(bm.size_ratio)


# ---- imbalance ------------------------------------------------------------------------------
def test_imbalance_over_top_levels_plain_sums():
    _rec, bm = run_both([(1, [(100, 10), (99, 20)], [(101, 30), (102, 40)], [])])
    assert bm.bid_weighted == 30 and bm.ask_weighted == 70
    assert bm.imbalance == (30 - 70) / 100 and bm.size_ratio == 30 / 70


def test_imbalance_decays_by_level_and_takes_weights():
    p = BookMetricsParams(imbalance=ImbalanceParams(levels=3, decay=0.5, weights=(1, 1, 4)))
    book = [(100, 10), (99, 20), (98, 8)], [(101, 30), (102, 4), (103, 1)]
    _rec, bm = run_both([(1, *book, [])], params=p)
    assert bm.bid_weighted == 10 + 20 * 0.5 + 8 * 4 * 0.25 == 28
    assert bm.ask_weighted == 30 + 4 * 0.5 + 1 * 4 * 0.25 == 33
    assert bm.imbalance == -5 / 61


def test_imbalance_levels_limit_the_depth_used():
    p = BookMetricsParams(imbalance=ImbalanceParams(levels=1))
    _rec, bm = run_both([(1, [(100, 10), (99, 90)], [(101, 30)], [])], params=p)
    assert bm.imbalance == -0.5


# ---- OFI ------------------------------------------------------------------------------------
def test_ofi_first_group_only_primes():
    _rec, bm = run_both([(1, [(100, 10)], [(101, 10)], [])])
    assert bm.ofi == 0 and bm.pull_stack(Side.BID) == (0, 0, 0)


def test_ofi_cases_of_cont_kukanov_stoikov():
    groups = [
        (1, [(100, 10)], [(101, 10)], []),
        (2, [(100, 15)], [(101, 10)], []),  # bid size up: +5
        (3, [(99, 7)], [(101, 10)], []),  # bid drops: -15
        (4, [(99, 7)], [(102, 4)], []),  # ask recedes: +10
        (5, [(100, 3)], [(101, 6)], []),  # bid improves +3, ask improves -6
        (6, [(100, 3)], [(101, 6)], []),  # nothing: 0
    ]
    p = BookMetricsParams(ofi=OfiParams(window_events=2))
    rec, _bm = run_both(groups, params=p)
    assert list(rec.ofi) == [0, 5, -15, 10, -3, 0]
    assert list(rec.ofi_sum) == [0, 5, -10, -5, 7, -3]


def test_ofi_time_window_keeps_groups_newer_than_window():
    groups = [
        (0, [(100, 10)], [(101, 10)], []),
        (10, [(100, 12)], [(101, 10)], []),  # +2
        (20, [(100, 15)], [(101, 10)], []),  # +3
        (30, [(100, 15)], [(101, 11)], []),  # -1
    ]
    p = BookMetricsParams(ofi=OfiParams(window_ns=15))
    rec, _ = run_both(groups, params=p)
    assert list(rec.ofi_sum) == [0, 2, 5, 2]  # (ts - 15, ts]


def test_multi_level_ofi_per_level():
    groups = [
        (1, [(100, 10), (99, 5)], [(101, 10), (102, 5)], []),
        (2, [(100, 10), (99, 9)], [(101, 10), (102, 1)], []),
    ]
    p = BookMetricsParams(ofi=OfiParams(levels=2))
    _rec, bm = run_both(groups, params=p)
    assert list(bm.ofi_levels) == [0, 4 + 4] and bm.ofi == 8


def test_ofi_empty_side_counts_as_infinitely_far():
    groups = [(1, [], [(101, 10)], []), (2, [(100, 6)], [], [])]
    _rec, bm = run_both(groups)
    assert bm.ofi == 6 + 10


# ---- depth within K -------------------------------------------------------------------------
BOOK4 = [(100, 1), (99, 2), (98, 3), (97, 4)], [(101, 5), (102, 6), (103, 7)]


@pytest.mark.parametrize(
    ("ticks", "anchor", "expected"),
    [(0, "mid", (0, 0)), (1, "mid", (1, 5)), (2, "mid", (3, 11)), (1, "best", (3, 11)),
     (0, "best", (1, 5)), (9, "best", (10, 18))],
)  # fmt: skip
def test_depth_within_k_ticks(ticks, anchor, expected):
    p = BookMetricsParams(depth=DepthParams(ticks=ticks, anchor=anchor))
    _rec, bm = run_both([(1, *BOOK4, [])], params=p)
    assert bm.depth_within == expected


def test_depth_mid_anchor_falls_back_to_best_on_a_one_sided_book():
    p = BookMetricsParams(depth=DepthParams(ticks=1))
    _rec, bm = run_both([(1, BOOK4[0], [], [])], params=p)
    assert bm.depth_within == (3, 0)


# ---- pulling and stacking -------------------------------------------------------------------
def test_pulled_is_the_shrink_not_explained_by_trades():
    groups = [
        (1, [(100, 20), (99, 5), (98, 3)], [(101, 8)], []),
        (2, [(100, 10), (99, 12)], [(101, 8)], [(100, 4, SELL)]),
    ]
    _rec, bm = run_both(groups)
    lv = bm.pull_stack_levels(Side.BID)
    assert list(lv["price"]) == [100, 99, 98]
    assert list(lv["change"]) == [-10, 7, -3] and list(lv["traded"]) == [4, 0, 0]
    assert list(lv["pulled"]) == [6, 0, 3] and list(lv["stacked"]) == [0, 7, 0]
    assert bm.pull_stack(Side.BID) == (9, 7, 4)
    assert bm.pull_stack(Side.ASK) == (0, 0, 0)


def test_refill_after_trades_is_stacking():
    groups = [
        (1, [(100, 10)], [(101, 10)], []),
        (2, [(100, 10)], [(101, 10)], [(101, 10, BUY)]),  # ask eaten and refilled
    ]
    _rec, bm = run_both(groups)
    assert bm.pull_stack(Side.ASK) == (0, 10, 10)


def test_level_traded_away_is_neither_pulled_nor_stacked():
    groups = [
        (1, [(100, 10)], [(101, 4), (102, 9)], []),
        (2, [(100, 10)], [(102, 9)], [(101, 4, BUY)]),
    ]
    _rec, bm = run_both(groups)
    assert bm.pull_stack(Side.ASK) == (0, 0, 4)
    assert list(bm.pull_stack_levels(Side.ASK)["price"]) == [101]


def test_unknown_aggressor_is_matched_by_price():
    groups = [
        (1, [(100, 10)], [(101, 10)], []),
        (2, [(100, 7)], [(101, 8)], [(100, 3, UNKNOWN), (101, 2, UNKNOWN)]),
    ]
    _rec, bm = run_both(groups)
    assert bm.pull_stack(Side.BID) == (0, 0, 3) and bm.pull_stack(Side.ASK) == (0, 0, 2)


def test_level_out_of_sight_is_left_out():
    groups = [
        (1, [(100, 10), (99, 5)], [(101, 1)], []),
        (2, [(101, 4), (100, 10)], [(102, 1)], []),  # 99 pushed out of a full window of 2
    ]
    _rec, bm = run_both(groups, width=2)
    lv = bm.pull_stack_levels(Side.BID)
    assert list(lv["price"]) == [101] and list(lv["stacked"]) == [4]
    assert bm.pull_stack_levels(Side.ASK)["price"].tolist() == [101, 102]
    assert bm.pull_stack(Side.ASK) == (1, 1, 0)


def test_running_totals_add_up_the_groups():
    groups = [
        (1, [(100, 10)], [(101, 10)], []),
        (2, [(100, 12)], [(101, 10)], []),
        (3, [(100, 5)], [(101, 10)], [(100, 2, SELL)]),
    ]
    _rec, bm = run_both(groups)
    assert bm.pull_stack_totals(Side.BID) == (5, 2, 2)


def test_pull_stack_levels_param_limits_prices():
    p = BookMetricsParams(pull_stack=PullStackParams(levels=1))
    groups = [(1, [(100, 10), (99, 5)], [], []), (2, [(100, 10), (99, 1)], [], [])]
    _rec, bm = run_both(groups, params=p)
    assert bm.pull_stack(Side.BID) == (0, 0, 0)


# ---- walls ----------------------------------------------------------------------------------
WALL_BIDS = [(100, 10), (99, 10), (98, 50), (97, 10), (96, 12)]


def test_wall_is_a_multiple_of_the_median_with_its_age():
    groups = [
        (100, WALL_BIDS, [(101, 10)], []),
        (105, WALL_BIDS, [(101, 11)], []),
        (130, [(100, 9), *WALL_BIDS[1:]], [(101, 11)], []),
    ]
    _rec, bm = run_both(groups)
    (wall,) = bm.walls()
    assert (wall.side, wall.price, wall.size) == (Side.BID, 98, 50)
    assert wall.multiple == 5.0 and wall.since_ns == 100 and wall.age_ns == 30


def test_wall_respects_min_size_and_mean_reference():
    p = BookMetricsParams(walls=WallParams(min_size=60))
    assert run_both([(1, WALL_BIDS, [], [])], params=p)[1].walls() == []
    p = BookMetricsParams(walls=WallParams(reference="mean", multiple=2.5))
    (wall,) = run_both([(1, WALL_BIDS, [], [])], params=p)[1].walls()
    assert wall.multiple == 50 / (92 / 5)
    p = BookMetricsParams(walls=WallParams(reference="mean"))
    assert run_both([(1, WALL_BIDS, [], [])], params=p)[1].walls() == []


def test_wall_age_restarts_when_it_stops_being_one():
    shrunk = [(100, 10), (99, 10), (98, 20), (97, 10), (96, 12)]
    groups = [(1, WALL_BIDS, [], []), (2, shrunk, [], []), (3, WALL_BIDS, [], [])]
    rec, bm = run_both(groups)
    assert [w.since_ns for w in bm.walls()] == [3]
    assert list(rec.wall_since[:, 0, 2]) == [1, NO_TS, 3]


# ---- configuration --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [lambda: ImbalanceParams(decay=0), lambda: ImbalanceParams(levels=2, weights=(1,)),
     lambda: OfiParams(window_ns=0), lambda: DepthParams(anchor="far"),
     lambda: WallParams(reference="mode"), lambda: PullStackParams(levels=0)],
)  # fmt: skip
def test_bad_parameters_fail_at_start(make):
    with pytest.raises(ConfigError):
        make()


def test_update_refuses_arrays_of_the_wrong_width():
    with pytest.raises(ValueError):
        BookMetrics(width=3).update(1, *row([], 2), *row([], 2))


# ---- properties -----------------------------------------------------------------------------
@st.composite
def books(draw):
    """A random sequence of uncrossed top-W books with trades at visible prices."""
    groups, ts = [], 0
    for _ in range(draw(st.integers(1, 12))):
        ts += draw(st.integers(0, 5))
        mid = draw(st.integers(95, 105))
        nb, na = draw(st.integers(0, W + 2)), draw(st.integers(0, W + 2))
        bids = sorted(draw(st.sets(st.integers(80, mid), min_size=nb, max_size=nb)), reverse=True)
        asks = sorted(draw(st.sets(st.integers(mid + 1, 125), min_size=na, max_size=na)))
        bids = [(p, draw(st.integers(1, 60))) for p in bids]
        asks = [(p, draw(st.integers(1, 60))) for p in asks]
        trades = []
        for _ in range(draw(st.integers(0, 3))):
            side = draw(st.sampled_from([BUY, SELL, UNKNOWN]))
            trades.append((draw(st.integers(90, 110)), draw(st.integers(1, 20)), side))
        groups.append((ts, bids, asks, trades))
    return groups


PARAMS = st.builds(
    BookMetricsParams,
    imbalance=st.builds(ImbalanceParams, levels=st.integers(1, W), decay=st.floats(0.1, 1.0)),
    ofi=st.builds(OfiParams, levels=st.integers(1, 3), window_ns=st.integers(1, 20),
                  window_events=st.integers(0, 4)),
    walls=st.builds(WallParams, multiple=st.floats(1.0, 4.0), reference=st.sampled_from(
        ["median", "mean"])),
)  # fmt: skip


def _naive_levels(prev, cur, side, width=W):
    """Per-price (change, traded) from dicts: the reference for pulling/stacking."""

    def sight(levels):
        full = len(levels) >= width
        last = levels[width - 1][0] if full else None
        return dict(levels[:width]), last

    sd = 1 if side == Side.BID else 2
    old, new, trades = prev[sd], cur[sd], cur[3]
    (od, olast), (nd, nlast) = sight(old), sight(new)
    bid = side == Side.BID
    best_b = prev[1][0][0] if prev[1] else None
    best_a = prev[2][0][0] if prev[2] else None

    def known(price, last):
        return last is None or (price >= last if bid else price <= last)

    out = {}
    for p in set(dict(old[:width])) | set(dict(new[:width])):
        if not (known(p, olast) and known(p, nlast)):
            continue
        traded = 0
        for tp, ts, ag in trades:
            rest = {BUY: Side.ASK, SELL: Side.BID}.get(ag)
            if ag == UNKNOWN:
                if best_b is not None and tp <= best_b:
                    rest = Side.BID
                elif best_a is not None and tp >= best_a:
                    rest = Side.ASK
            traded += ts if rest == side and tp == p else 0
        change = nd.get(p, 0) - od.get(p, 0)
        if change or traded:
            out[p] = (change, traded)
    return out


@settings(max_examples=60, deadline=None)
@given(books(), PARAMS)
def test_batch_equals_incremental_and_laws_hold(groups, params):
    rec, _ = run_both(groups, params=params)
    assert np.all(np.abs(rec.imbalance) <= 1.0)
    ok = ~np.isnan(rec.microprice)
    bid = rec.mid[ok] - rec.spread[ok] / 2
    assert np.all((rec.microprice[ok] >= bid) & (rec.microprice[ok] <= bid + rec.spread[ok]))
    for side in (Side.BID, Side.ASK):
        pulled, stacked, traded = rec.pull_stack(side)
        totals = rec.pull_stack_totals(side)
        assert np.array_equal(totals[0], np.cumsum(pulled))
        assert np.array_equal(totals[2], np.cumsum(traded))
        for r in range(len(groups)):
            k = rec.level_count[r, side]
            change, tr = rec.level_change[r, side, :k], rec.level_traded[r, side, :k]
            net = change + tr
            # change = stacked - pulled - traded, level by level and in total
            assert stacked[r] - pulled[r] - traded[r] == change.sum()
            assert np.maximum(net, 0).sum() == stacked[r] and tr.sum() == traded[r]
            if r == 0:
                assert k == 0
                continue
            expected = _naive_levels(groups[r - 1], groups[r], side)
            cells = zip(change.tolist(), tr.tolist(), strict=True)
            got = dict(zip(rec.level_price[r, side, :k].tolist(), cells, strict=True))
            assert got == expected


# ---- fast paths of the kernel: each must give what the plain definition gives ---------------
def test_update_converts_lists_other_dtypes_and_strided_views():
    book = [(1, [(100, 10), (99, 4)], [(101, 7)], []), (2, [(100, 12), (99, 4)], [(101, 3)], [])]
    ref, other = BookMetrics(width=W), BookMetrics(width=W)
    for ts, bids, asks, _ in book:
        (bp, bs), (ap, asz) = row(bids), row(asks)
        ref.update(ts, bp, bs, ap, asz)
        wide = np.zeros((W, 2), np.int64)
        wide[:, 0] = ap
        other.update(np.int64(ts), bp.tolist(), bs.astype(np.int32), wide[:, 0], asz.tolist())
        assert other.imbalance == ref.imbalance and other.ofi == ref.ofi
        assert other.pull_stack(Side.ASK) == ref.pull_stack(Side.ASK)
        assert other.walls() == ref.walls() and other.depth_within == ref.depth_within
    with pytest.raises(ValueError):
        other.update(3, [1, 2], [1, 2], [1, 2], [1, 2])


def test_long_window_and_many_trades_grow_the_buffers():
    groups = []
    for r in range(200):  # 200 groups in a 1000 ns window: the OFI ring grows past 64
        bid = 100 + (r % 3 == 0)
        trades = [(bid, 1, SELL)] * (40 if r % 50 == 7 else 0)  # 40 prints: past 16
        groups.append((r, [(bid, 50 + r % 7), (99, 20)], [(102, 30 + r % 5)], trades))
    rec, bm = run_both(groups, params=BookMetricsParams(ofi=OfiParams(window_ns=1000)))
    assert list(rec.ofi_sum) == list(np.cumsum(rec.ofi))
    assert bm.pull_stack_totals(Side.BID)[2] == 4 * 40


def test_levels_past_the_change_mask_bits():
    """Books wider than 62 levels: changes at and beyond level 62 are still found."""
    width = 70
    bids = [(1000 - i, 5 + i) for i in range(width)]
    asks = [(1001 + i, 5 + i) for i in range(width)]
    groups = [(1, bids, asks, [])]
    for ts, lvl in ((2, 62), (3, 69), (4, 63), (5, 61)):
        bids = [(p, s + (i in (lvl, 65))) for i, (p, s) in enumerate(bids)]
        asks = [(p, s - (i == lvl)) for i, (p, s) in enumerate(asks)]
        groups.append((ts, bids, asks, [(bids[lvl][0], 2, SELL)]))
    p = BookMetricsParams(pull_stack=PullStackParams(levels=width),
                          walls=WallParams(levels=width, multiple=1.05))  # fmt: skip
    rec, _ = run_both(groups, params=p, width=width)
    for r in range(1, len(groups)):
        for side in (Side.BID, Side.ASK):
            k = rec.level_count[r, side]
            change, traded = rec.level_change[r, side, :k], rec.level_traded[r, side, :k]
            cells = zip(change.tolist(), traded.tolist(), strict=True)
            got = dict(zip(rec.level_price[r, side, :k].tolist(), cells, strict=True))
            assert got == _naive_levels(groups[r - 1], groups[r], side, width=width)
            levels = groups[r][1 + side]  # walls: size >= 1.05 x the median, from scratch
            ref = float(np.median([s for _, s in levels]))
            walls = {p for p, s in levels if s >= 1.05 * ref}
            assert walls == {levels[i][0] for i in np.flatnonzero(rec.wall_since[r, side] != NO_TS)}


@pytest.mark.parametrize("big", [0, 2**48, 2**53 + 1])
def test_unit_weight_sums_are_the_float_sums(big):
    """Summed as ints when exact, else as floats: always the left-to-right double sum."""
    sizes = [3, big, 7, big // 3 + 1, 2**20]
    bids = [(100 - i, s) for i, s in enumerate(sizes)]
    asks = [(101 + i, s + 1) for i, s in enumerate(sizes)]
    _rec, bm = run_both([(1, bids, asks, [])])
    bw = aw = 0.0
    for s in sizes:
        bw += 1.0 * s
        aw += 1.0 * (s + 1)
    assert bm.bid_weighted == bw and bm.ask_weighted == aw
    assert bm.imbalance == (bw - aw) / (bw + aw)


@pytest.mark.parametrize("scale", [1, 2**40, 2**51, 2**60])
def test_wall_threshold_compares_as_floats(scale):
    """Integer compares against ceil(multiple x ref) where exact, float compares beyond: a size
    is a wall when float(size) >= multiple x ref, as the definition reads in doubles."""
    sizes = [scale, 3 * scale - 1, scale, 3 * scale, scale, 3 * scale + 1, scale]
    bids = [(100 - i, s) for i, s in enumerate(sizes)]
    _rec, bm = run_both([(1, bids, [], [])], width=8)
    expected = [p for p, s in bids if float(s) >= 3.0 * scale]  # the median is scale
    assert [w.price for w in bm.walls()] == expected
    assert len(expected) == (3 if scale == 2**60 else 2)  # 3 x 2**60 - 1 rounds up as a double


def test_trade_offsets_equal_a_search_per_boundary():
    from orderflow.analytics.book_metrics import trade_offsets

    n = 50
    ts = np.arange(0, 10 * n, 10, dtype=np.int64)
    z = np.zeros((n, 1), np.int64)
    depth = DepthRecord(np.arange(n), ts, z, z, z, z, z, z)
    rng = np.random.default_rng(7)
    for order in ("stream", "shuffled"):
        t = np.sort(rng.integers(-5, 10 * n + 5, 300))
        if order == "shuffled":
            rng.shuffle(t)
        tr = np.zeros(len(t), dtype=TRADE_DTYPE)
        tr["ts_event"] = t
        group = np.searchsorted(ts, t, side="left")
        expected = np.searchsorted(group, np.arange(n + 1), side="left")
        assert np.array_equal(trade_offsets(depth, tr), expected)


@pytest.mark.parametrize("per_level", [False, True])
def test_no_boundaries_give_an_empty_record(per_level):
    z = np.zeros((0, W), np.int64)
    depth = DepthRecord(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z, z, z, z, z)
    rec = book_metrics_batch(depth, np.zeros(0, TRADE_DTYPE), per_level=per_level)
    assert len(rec) == 0 and rec.wall_since.shape == (0, 2, W) and len(rec.trade_offsets) == 1


def test_a_pipeline_snapshot_before_any_event_group_has_no_walls() -> None:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import get_instrument

    snap = Pipeline(get_instrument("ESH4"), "mbo").snapshot()
    assert snap["walls"] == [] and snap["ts_event"] == 0
