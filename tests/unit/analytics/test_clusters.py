"""Volume and liquidity clusters: buckets, thresholds, side, strength, age across updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.clusters import (
    ClusterParams,
    LiquidityClusterTracker,
    VolumeCluster,
    VolumeClusterTracker,
    liquidity_clusters,
    volume_clusters,
)
from orderflow.analytics.vwap import ResetInterval
from orderflow.book.common import DepthRecord
from orderflow.core.time import parse_time
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Side
from orderflow.model.instruments import get_instrument
from tests.conftest import make_trades

ES = get_instrument("ES")


def test_volume_cluster_is_a_bucket_above_twice_the_mean():
    tr = make_trades(
        [(1, 100, 10, 0), (2, 101, 5, 1), (3, 108, 1, 0), (4, 112, 2, 1), (5, 96, 2, 0)]
    )
    # buckets of 4 ticks: 24 (96..99): 2, 25 (100..103): 15, 27: 1, 28: 2 -> mean 5, threshold 10
    (c,) = volume_clusters(tr)
    assert (c.low, c.high, c.volume, c.buy, c.sell, c.side) == (100, 103, 15, 10, 5, Side.BID)
    assert c.strength == 1.5
    assert c.zscore == pytest.approx(10 / math.sqrt(33.5))
    assert (c.first_ns, c.age_ns) == (4, 1)  # qualified once the 4th trade made n=3, S=13


def test_volume_cluster_age_is_kept_across_updates_and_lost_when_it_stops_qualifying():
    t = VolumeClusterTracker()
    t.update(make_trades([(1, 100, 10, 0), (2, 108, 1, 0), (3, 112, 2, 0)]))
    assert [(c.low, c.first_ns, c.age_ns) for c in t.clusters()] == [(100, 3, 0)]
    t.update(make_trades([(10, 96, 2, 0), (11, 101, 5, 1)]))
    assert [(c.low, c.volume, c.first_ns, c.age_ns) for c in t.clusters()] == [(100, 15, 3, 8)]
    t.update(make_trades([(20, 108, 20, 1)]))  # S=40: 15*4 < 2*40, 21*4 >= 80
    assert [(c.low, c.side, c.first_ns) for c in t.clusters()] == [(108, Side.ASK, 20)]
    t.update(make_trades([(30, 100, 30, 0)]))  # the 100 bucket qualifies again: new age
    # buckets 2, 45, 21, 2: mean 17.5, threshold 35,
    # population variance (2 * 15.5^2 + 27.5^2 + 3.5^2) / 4 = 312.25
    assert t.clusters() == [
        VolumeCluster(
            100, 103, 45, 40, 5, Side.BID, 30, 0, 45 / 35, pytest.approx(27.5 / math.sqrt(312.25))
        )
    ]
    assert t.now_ns == 30 and t.total == 70


def test_absolute_threshold_only_and_balanced_side():
    p = ClusterParams(granularity=2, min_volume=10, min_ratio=0.0)
    tr = make_trades([(1, 10, 5, 0), (1, 11, 5, 1), (2, 20, 9, 1), (3, 30, 12, 1), (4, 40, 10, 2)])
    cs = volume_clusters(tr, p)
    assert [(c.low, c.high, c.volume, c.side, c.strength) for c in cs] == [
        (10, 11, 10, Side.NONE, 1.0),  # buy == sell
        (30, 31, 12, Side.ASK, 1.2),
        (40, 41, 10, Side.NONE, 1.0),  # unknown aggressor only
    ]


def test_with_both_thresholds_off_every_bucket_is_a_cluster_of_strength_volume_over_mean():
    p = ClusterParams(granularity=1, min_volume=0, min_ratio=0.0)
    cs = volume_clusters(make_trades([(1, 5, 1, 0), (2, 6, 3, 0)]), p)
    assert [(c.low, c.strength) for c in cs] == [(5, 0.5), (6, 1.5)]


def test_buckets_floor_negative_prices():
    p = ClusterParams(granularity=4, min_ratio=0.0)
    (c,) = volume_clusters(make_trades([(1, -1, 3, 0), (2, -4, 2, 0)]), p)
    assert (c.low, c.high, c.volume) == (-4, -1, 5)


def test_volume_clusters_reset_per_session():
    day1, day2 = parse_time("2024-01-02T15:00:00Z"), parse_time("2024-01-03T15:00:00Z")
    t = VolumeClusterTracker(ClusterParams(min_ratio=0.0), ES, ResetInterval.SESSION)
    t.update(make_trades([(day1, 100, 5, 0), (day2, 200, 1, 1)]))
    assert [(c.low, c.volume) for c in t.clusters()] == [(200, 1)]
    assert t.total == 1
    with pytest.raises(ValueError):
        VolumeClusterTracker(reset=ResetInterval.SESSION)


def test_cluster_params_are_validated():
    for bad in ({"granularity": 0}, {"min_volume": -1}, {"min_ratio": -0.5}):
        with pytest.raises(ValueError):
            ClusterParams(**bad)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-20, 40), st.integers(0, 20), st.integers(0, 2)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(0, 60), max_size=5),
    st.integers(1, 5),
    st.sampled_from([0.0, 1.0, 1.5, 2.0]),
    st.integers(0, 15),
)
def test_volume_clusters_batch_equals_incremental(rows, cuts, g, r, amin):
    ts = np.cumsum([dt for dt, *_ in rows])
    tr = make_trades([(int(t), p, s, d) for t, (_, p, s, d) in zip(ts, rows, strict=True)])
    params = ClusterParams(granularity=g, min_volume=amin, min_ratio=r)
    t = VolumeClusterTracker(params)
    cuts = sorted(c for c in cuts if c <= len(tr))
    for a, b in zip([0, *cuts], [*cuts, len(tr)], strict=True):
        t.update(tr[a:b])
    batch = volume_clusters(tr, params)
    assert t.clusters() == batch
    b = t.buckets()
    assert int(b["volume"].sum()) == int(tr["size"][tr["size"] > 0].sum())
    for c in batch:
        assert c.volume >= amin and c.age_ns >= 0
        assert c.strength >= 1.0 or (amin == 0 and r == 0.0)


BIDS = np.array([[100, 10, 2], [99, 50, 5], [98, 5, 1], [90, 3, 1]])
ASKS = np.array([[101, 8, 1], [102, 7, 1], [110, 40, 3]])
P12 = ClusterParams(granularity=4, min_ratio=1.2)


def test_liquidity_clusters_per_side_from_book_levels():
    cs = liquidity_clusters(BIDS, ASKS, P12, ts_ns=7)
    # bids: 96..99 = 55 (6 orders), 100..103 = 10, 88..91 = 3; mean 68/3, threshold 27.2
    # asks: 100..103 = 15, 108..111 = 40; mean 27.5, threshold 33
    assert [(c.side, c.low, c.high, c.size, c.orders, c.age_ns) for c in cs] == [
        (Side.BID, 96, 99, 55, 6, 0),
        (Side.ASK, 108, 111, 40, 3, 0),
    ]
    assert cs[0].strength == pytest.approx(55 / (1.2 * 68 / 3))
    assert cs[1].zscore == pytest.approx(1.0)


def test_liquidity_cluster_age_across_updates():
    t = LiquidityClusterTracker(P12)
    t.update(100, BIDS, ASKS)
    t.update(200, BIDS, ASKS)
    assert [(c.side, c.low, c.first_ns, c.age_ns) for c in t.clusters()] == [
        (Side.BID, 96, 100, 100),
        (Side.ASK, 108, 100, 100),
    ]
    pulled = BIDS[BIDS[:, 0] != 99]  # bids now 10 / 5 / 3: mean 6, threshold 7.2
    t.update(300, pulled, ASKS)
    assert [(c.side, c.low, c.first_ns) for c in t.clusters()] == [
        (Side.BID, 100, 300),
        (Side.ASK, 108, 100),
    ]
    t.update(400, BIDS, ASKS[:, :2])  # levels without counts are fine
    assert [(c.side, c.low, c.first_ns, c.orders) for c in t.clusters()] == [
        (Side.BID, 96, 400, 6),
        (Side.ASK, 108, 100, 0),
    ]
    t.update(500, np.vstack([BIDS, [[10_000, 1, 1]]]), np.zeros((0, 3)))  # grows the grid
    assert [(c.side, c.low, c.first_ns) for c in t.clusters()] == [(Side.BID, 96, 400)]
    assert t.now_ns == 500


def _depth(rows: list[tuple[int, np.ndarray, np.ndarray]], n: int = 4) -> DepthRecord:
    def pad(lv: np.ndarray) -> np.ndarray:
        out = np.zeros((n, 3), dtype=np.int64)
        out[:, 0] = NO_PRICE
        out[: len(lv)] = lv
        return out

    b = np.stack([pad(r[1]) for r in rows])
    a = np.stack([pad(r[2]) for r in rows])
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    return DepthRecord(
        np.arange(len(rows)), ts, b[..., 0], b[..., 1], b[..., 2], a[..., 0], a[..., 1], a[..., 2]
    )


def test_liquidity_from_a_depth_record_equals_one_update_per_boundary():
    pulled = BIDS[BIDS[:, 0] != 99]
    rows = [(100, BIDS, ASKS), (200, BIDS, ASKS), (300, pulled, ASKS), (400, BIDS, ASKS[:1])]
    batch = LiquidityClusterTracker(P12)
    batch.update_depth(_depth(rows))
    inc = LiquidityClusterTracker(P12)
    for ts, b, a in rows:
        inc.update(ts, b, a)
    assert batch.clusters() == inc.clusters()
    assert [(c.side, c.low, c.first_ns) for c in batch.clusters()] == [(Side.BID, 96, 400)]


def test_material_counts_a_cluster_beginning_or_ending_and_a_strength_step_not_a_size_within_one():
    t = LiquidityClusterTracker(ClusterParams(granularity=1, min_ratio=2.0, strength_steps=10))
    asks = np.array([[110, 5], [111, 5]])
    t.update(1, np.array([[100, 5], [99, 5], [98, 5]]), asks)
    m0 = t.material
    assert t.clusters() == []
    t.update(2, np.array([[100, 55], [99, 5], [98, 5]]), asks)  # 100 begins: T = 2 x 65 / 3
    (c,) = t.clusters()
    assert t.material > m0 and c.low == 100 and 1 - 1 / c.strength == pytest.approx(0.2121, 1e-3)
    m1 = t.material
    t.update(3, np.array([[100, 56], [99, 5], [98, 5]]), asks)  # 1 - 44/56 = 0.214: same step
    assert t.material == m1 and t.changes == 3 and t.clusters()[0].size == 56
    t.update(4, np.array([[100, 250], [99, 5], [98, 5]]), asks)  # 1 - 173.3/250 = 0.307: step 3
    assert t.material == m1 + 1
    t.update(5, np.array([[100, 5], [99, 5], [98, 5]]), asks)  # 100 ends
    assert t.material == m1 + 2 and t.clusters() == []


def test_volume_material_counts_the_dominant_aggressor_changing():
    t = VolumeClusterTracker(ClusterParams(min_ratio=2.0))
    t.update(make_trades([(1, 100, 10, 0), (2, 108, 1, 0), (3, 112, 2, 0)]))
    m = t.material
    t.update(make_trades([(4, 101, 12, 1)]))  # buy 10, sell 12: the side turns
    ((c,),) = [t.clusters()]
    assert c.side == Side.ASK and t.material > m


def test_strength_steps_are_bounded():
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="strength_steps"):
            ClusterParams(strength_steps=bad)
