"""The trackers' compiled ``read()`` lists what their ``clusters()`` list, value for value
(strengths bit for bit), whatever the states, the parameters and the order of reads: random
streams of book states and prints, negative prices, empty levels, a window that grows, a
record whose buffers are written again after a read."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.clusters import (
    ClusterIds,
    ClusterParams,
    LiquidityClusterTracker,
    VolumeClusterTracker,
)
from orderflow.book.common import DepthRecord
from orderflow.model.dtypes import NO_PRICE
from tests.conftest import make_trades

PARAMS = st.builds(
    ClusterParams,
    granularity=st.integers(1, 5),
    min_volume=st.integers(0, 15),
    min_ratio=st.sampled_from([0.0, 0.7, 1.0, 1.5, 2.0, 3.3]),
)
LEVELS = st.lists(st.tuples(st.integers(-30, 60), st.integers(0, 40), st.integers(0, 5)),
                  max_size=12)  # fmt: skip


def liq_columns(t: LiquidityClusterTracker) -> tuple[list[list[int]], list[float]]:
    cs = t.clusters()
    return [[int(c.side), c.low, c.size, c.orders, c.first_ns] for c in cs], [
        c.strength for c in cs
    ]


def vol_columns(t: VolumeClusterTracker) -> tuple[list[list[int]], list[float]]:
    cs = t.clusters()
    return [[c.low, c.volume, c.buy, c.sell, c.first_ns] for c in cs], [c.strength for c in cs]


def levels(rows: list[tuple[int, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def record(states: list[tuple[int, np.ndarray, np.ndarray]], n: int = 12) -> DepthRecord:
    """Book states as a DepthRecord, each side padded to ``n`` rows (NO_PRICE, 0)."""

    def pad(lv: np.ndarray) -> np.ndarray:
        out = np.zeros((n, 3), dtype=np.int64)
        out[:, 0] = NO_PRICE
        out[: len(lv)] = lv
        return out

    b = np.stack([pad(s[1]) for s in states])
    a = np.stack([pad(s[2]) for s in states])
    ts = np.array([s[0] for s in states], dtype=np.int64)
    return DepthRecord(np.arange(len(states)), ts, b[..., 0], b[..., 1], b[..., 2], a[..., 0],
                       a[..., 1], a[..., 2])  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(PARAMS, st.lists(st.tuples(LEVELS, LEVELS, st.booleans(), st.booleans()), min_size=1,
                        max_size=8))  # fmt: skip
def test_a_liquidity_read_lists_what_clusters_lists(params, steps):
    t = LiquidityClusterTracker(params)
    ids, plain = ClusterIds(), ClusterIds()  # read_ids' ids, and those of clusters()
    for k, (bids, asks, as_record, read_twice) in enumerate(steps):
        b, a = levels(bids), levels(asks)
        if as_record:
            t.update_depth(record([(10 * k, b, a)]))
        else:
            t.update(10 * k, b, a)
        want, strengths = liq_columns(t)
        got, got_strengths = t.read_ids(ids)
        assert [r[:5] for r in got] == want and got_strengths == strengths
        assert [r[5] for r in got] == plain.assign([(r[0], r[1], r[4]) for r in want])
        assert t.read() == liq_columns(t)
        if read_twice:  # a second read of the same state, after clusters() took its rows
            assert t.read() == liq_columns(t)


def test_a_read_keeps_the_state_it_read_when_the_record_s_buffers_are_written_again():
    params = ClusterParams(granularity=2, min_ratio=1.5)
    t, ref = LiquidityClusterTracker(params), LiquidityClusterTracker(params)  # read(), clusters()
    asks = levels([(101, 3, 1), (104, 25, 2)])
    states = [levels([(100, 30, 3), (99, 2, 1), (96, 4, 1)]), levels([(100, 1, 1), (96, 40, 4)]),
              levels([(100, 30, 3), (98, 33, 2)])]  # fmt: skip
    reads = []
    for k, bids in enumerate(states):
        rec = record([(5 + k, bids, asks)])
        t.update_depth(rec)
        ref.update_depth(record([(5 + k, bids, asks)]))
        reads.append(t.read())
        assert reads[-1] == liq_columns(ref) and reads[-1][0]
        rec.bid_size[-1] = 1  # the buffers reused by a later call: the state read stands
        assert t.read() == reads[-1] == liq_columns(ref)
    assert reads[0] != reads[1] != reads[2]


@settings(max_examples=80, deadline=None)
@given(
    PARAMS,
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-20, 40), st.integers(0, 20), st.integers(0, 2)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(0, 60), max_size=5),
)
def test_a_volume_read_lists_what_clusters_lists(params, rows, cuts):
    ts = np.cumsum([dt for dt, *_ in rows])
    tr = make_trades([(int(t), p, s, d) for t, (_, p, s, d) in zip(ts, rows, strict=True)])
    t = VolumeClusterTracker(params)
    ids, plain = ClusterIds(), ClusterIds()  # read_ids' ids, and those of clusters()
    assert t.read() == ([], []) == t.read_ids(ids)
    cuts = sorted(c for c in cuts if c <= len(tr))
    for a, b in zip([0, *cuts], [*cuts, len(tr)], strict=True):
        t.update(tr[a:b])
        want, strengths = vol_columns(t)
        assert t.read() == (want, strengths)
        got, got_strengths = t.read_ids(ids)
        assert got_strengths == strengths
        assert [r[1:4] for r in got] == [[low, v, first] for low, v, _, _, first in want]
        assert [r[5:] for r in got] == [[buy, sell] for _, _, buy, sell, _ in want]
        assert [r[4] for r in got] == [int(c.side) for c in t.clusters()]  # BID 0, ASK 1, 2
        assert [r[0] for r in got] == plain.assign([(r[0], r[4]) for r in want])


def test_a_cluster_that_ended_and_began_again_between_two_reads_gets_a_new_id():
    """The same bucket, qualifying at both reads but not without interruption (it ended and
    began again between them): a new cluster, a new id; one that qualified throughout keeps
    its id; a read that finds none forgets them all. The volume read's and the liquidity
    read's ids, both :func:`assign_ids`'."""
    t, ids = VolumeClusterTracker(ClusterParams(granularity=1, min_ratio=1.0)), ClusterIds()
    t.update(make_trades([(1, 10, 10, 0), (2, 20, 5, 0)]))
    assert [r[:2] for r in t.read_ids(ids)[0]] == [[1, 10]]
    t.update(make_trades([(3, 11, 30, 1), (4, 10, 30, 0)]))  # 10 ends at 3, begins again at 4
    got = t.read_ids(ids)[0]
    assert [(r[0], r[1], r[3]) for r in got] == [(2, 10, 4), (3, 11, 3)]
    t.update(make_trades([(5, 10, 1, 1)]))  # still qualifying: the same clusters, the same ids
    assert [(r[0], r[1], r[3]) for r in t.read_ids(ids)[0]] == [(2, 10, 4), (3, 11, 3)]
    t.update(make_trades([(6, 20, 200, 0)]))  # 10 and 11 end; an id is never given again
    assert t.read_ids(ids)[0] == [[4, 20, 205, 6, 0, 205, 0]]
    # the liquidity read's ids, the same rule keyed by side, low and first_ns
    liq, ids = LiquidityClusterTracker(ClusterParams(granularity=1, min_ratio=1.5)), ClusterIds()
    asks = levels([(103, 1, 1), (104, 1, 1)])
    liq.update(1, levels([(100, 30, 3), (99, 2, 1), (98, 2, 1)]), asks)
    assert [(r[5], r[1], r[4]) for r in liq.read_ids(ids)[0]] == [(1, 100, 1)]
    liq.update(2, levels([(100, 2, 1), (99, 2, 1), (98, 2, 1)]), asks)  # 100 ends at 2
    liq.update(3, levels([(100, 30, 3), (99, 30, 1), (98, 1, 1), (97, 1, 1)]), asks)  # again
    got = liq.read_ids(ids)[0]
    assert [(r[5], r[1], r[4]) for r in got] == [(2, 99, 3), (3, 100, 3)]
    liq.update(4, levels([(100, 31, 3), (99, 30, 1), (98, 1, 1), (97, 1, 1)]), asks)
    assert [(r[5], r[1], r[4]) for r in liq.read_ids(ids)[0]] == [(2, 99, 3), (3, 100, 3)]
