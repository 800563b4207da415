"""Golden: VWAP, volume profile and clusters on the real ESH4 2023-12-25 MBO file.

Every expected value is computed here directly from the raw trade records (plain numpy and
Python loops), never through the implementation: VWAP and bands at fixed times, POC and value
area of the session, volume clusters (with their ages) at the end, and liquidity clusters of the
final L3 book and along the recorded top-10 depth.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from orderflow.analytics.clusters import (
    ClusterParams,
    LiquidityClusterTracker,
    VolumeClusterTracker,
    liquidity_clusters,
)
from orderflow.analytics.profile import ProfileParams, SessionProfiles, VolumeProfile
from orderflow.analytics.vwap import VwapTracker, vwap_series
from orderflow.book.l3 import OrderBook
from orderflow.core.time import parse_time
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

TRADES, CONTRACTS = 2_973, 9_892
SESSION_OPEN = parse_time("2023-12-25T23:00:00Z")  # 18:00 New York, the Dec 26 trading day


@cache
def _data():
    events, inst = read_mbo(need(ES_MBO))
    rows = events[events["action"] == Action.TRADE]
    trades = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for f in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
        trades[f] = rows[f]
    return events, inst, trades


def test_profile_total_is_the_traded_volume():
    _, inst, tr = _data()
    assert len(tr) == TRADES and int(tr["size"].sum()) == CONTRACTS
    sp = SessionProfiles(inst)
    sp.update(tr)
    assert list(sp.sessions) == [SESSION_OPEN]
    p = sp.current
    assert p is not None
    assert (p.total, p.trades) == (CONTRACTS, TRADES)
    unknown = int(tr["size"][tr["side"] == 2].sum())
    assert p.buy_total == int(tr["size"][tr["side"] == 0].sum())
    assert p.sell_total == int(tr["size"][tr["side"] == 1].sum())
    assert p.buy_total + p.sell_total + unknown == CONTRACTS
    assert int(p.arrays()["total"].sum()) == CONTRACTS


def _direct_vwap(tr: np.ndarray, until_ns: int) -> tuple[float, float]:
    sel = tr[tr["ts_event"] <= until_ns]
    p = sel["price"].astype(np.float64)
    v = sel["size"].astype(np.float64)
    vw = float(np.sum(p * v) / np.sum(v))
    return vw, float(np.sqrt(np.sum(v * (p - vw) ** 2) / np.sum(v)))


@pytest.mark.parametrize("at", ["23:15:00", "23:30:00", "23:45:00", "end"])
def test_vwap_and_bands_equal_a_direct_computation(at):
    _, inst, tr = _data()
    until = int(tr["ts_event"][-1]) if at == "end" else parse_time(f"2023-12-25T{at}Z")
    vw, sd = _direct_vwap(tr, until)
    n = int(np.searchsorted(tr["ts_event"], until, side="right"))
    series = vwap_series(tr, inst)
    t = VwapTracker(inst)
    for a in range(0, n, 97):  # incremental, in uneven chunks
        t.update(tr[a : min(a + 97, n)])
    for got_vw, got_sd, up, lo in (
        (series.vwap[n - 1], series.std[n - 1], series.upper[n - 1], series.lower[n - 1]),
        (t.vwap, t.std, t.value().upper, t.value().lower),
    ):
        assert got_vw == pytest.approx(vw, rel=1e-13)
        assert got_sd == pytest.approx(sd, rel=1e-9)
        for k, m in enumerate((1, 2, 3)):
            assert up[k] == pytest.approx(vw + m * sd, rel=1e-12)
            assert lo[k] == pytest.approx(vw - m * sd, rel=1e-12)
    assert 19201 <= vw <= 19247


def _direct_value_area(tr: np.ndarray, pct: float = 0.70) -> tuple[int, int, int]:
    vol: dict[int, int] = {}
    for p, s in zip(tr["price"].tolist(), tr["size"].tolist(), strict=True):
        vol[p] = vol.get(p, 0) + s
    lo, hi = min(vol), max(vol)
    total = sum(vol.values())
    best = max(vol.values())
    tied = [p for p in range(lo, hi + 1) if vol.get(p, 0) == best]
    poc = min(tied, key=lambda p: (abs(2 * p - lo - hi), p))
    a = b = poc
    acc = vol[poc]
    while acc < pct * total:
        up = [p for p in (b + 1, b + 2) if p <= hi]
        dn = [p for p in (a - 1, a - 2) if p >= lo]
        su, sd = sum(vol.get(p, 0) for p in up), sum(vol.get(p, 0) for p in dn)
        if up and (not dn or su >= sd):
            b, acc = max(up), acc + su
        else:
            a, acc = min(dn), acc + sd
    return poc, a, b


def test_session_poc_and_value_area_equal_a_direct_computation():
    _, _, tr = _data()
    poc, val, vah = _direct_value_area(tr)
    va = VolumeProfile.from_trades(tr).value_area()
    assert va is not None
    assert (va.poc, va.val, va.vah) == (poc, val, vah)
    assert va.volume >= 0.7 * CONTRACTS
    # a time range: the first half hour after the open
    first = tr[tr["ts_event"] < parse_time("2023-12-25T23:30:00Z")]
    part = VolumeProfile.from_trades(tr, end_ns=parse_time("2023-12-25T23:30:00Z"))
    pva = part.value_area()
    assert pva is not None and (pva.poc, pva.val, pva.vah) == _direct_value_area(first)


def test_session_nodes_equal_a_direct_smoothing():
    _, _, tr = _data()
    params = ProfileParams()
    p = VolumeProfile.from_trades(tr, params=params)
    lo, hi = int(tr["price"].min()), int(tr["price"].max())
    vol = np.bincount(tr["price"] - lo, weights=tr["size"], minlength=hi - lo + 1)
    s = np.convolve(vol, np.ones(5) / 5, mode="same")
    mean = s.mean()
    hvn, lvn = [], []
    for i in range(len(s)):  # this profile has no plateaus: strict neighbours suffice
        left = s[i - 1] if i > 0 else -1.0
        right = s[i + 1] if i + 1 < len(s) else -1.0
        if s[i] > left and s[i] > right and s[i] >= 1.5 * mean:
            hvn.append(lo + i)
        if 0 < i < len(s) - 1 and s[i] < left and s[i] < right and s[i] <= 0.5 * mean:
            lvn.append(lo + i)
    nodes = p.nodes()
    assert [n.price for n in nodes.hvn] == hvn and hvn
    assert [n.price for n in nodes.lvn] == lvn


def test_volume_clusters_at_the_end_equal_a_direct_bucket_computation():
    _, _, tr = _data()
    params = ClusterParams(granularity=4, min_ratio=1.5)
    # direct: buckets re-judged after every trade, ages from the trade that made them qualify
    vol: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    cols = (tr[f].tolist() for f in ("ts_event", "price", "size", "side"))
    for ts, p, s, side in zip(*cols, strict=True):
        b = vol.setdefault(p // 4, [0, 0, 0])
        b[0] += s
        if side in (0, 1):
            b[1 + side] += s
        total, n = sum(x[0] for x in vol.values()), len(vol)
        for k, x in vol.items():
            if x[0] * n >= 1.5 * total:
                first.setdefault(k, ts)
            else:
                first.pop(k, None)
    now = int(tr["ts_event"][-1])
    expected = [
        (k * 4, k * 4 + 3, vol[k][0], vol[k][1], vol[k][2], first[k], now - first[k])
        for k in sorted(first)
    ]
    t = VolumeClusterTracker(params)
    for a in range(0, len(tr), 211):
        t.update(tr[a : a + 211])
    got = [(c.low, c.high, c.volume, c.buy, c.sell, c.first_ns, c.age_ns) for c in t.clusters()]
    assert got == expected and len(expected) >= 2
    for c in t.clusters():
        assert c.side == (0 if c.buy > c.sell else 1 if c.sell > c.buy else 2)


def _direct_liquidity(levels: np.ndarray, g: int, ratio: float) -> list[tuple[int, int, int]]:
    buckets: dict[int, list[int]] = {}
    for price, size, count in levels.tolist():
        if price == NO_PRICE or size <= 0:
            continue
        b = buckets.setdefault(price // g, [0, 0])
        b[0] += size
        b[1] += count
    if not buckets:
        return []
    mean = sum(b[0] for b in buckets.values()) / len(buckets)
    return [(k * g, v[0], v[1]) for k, v in sorted(buckets.items()) if v[0] >= ratio * mean]


def test_liquidity_clusters_of_the_final_l3_book_equal_a_direct_computation():
    events, inst, _ = _data()
    book = OrderBook(inst)
    book.apply_mbo(events)
    params = ClusterParams(granularity=8, min_ratio=3.0)
    bids, asks = book.levels(0), book.levels(1)
    got = liquidity_clusters(bids, asks, params, ts_ns=book.last_ts_event)
    expected = [(0, *x) for x in _direct_liquidity(bids, 8, 3.0)]
    expected += [(1, *x) for x in _direct_liquidity(asks, 8, 3.0)]
    assert [(int(c.side), c.low, c.size, c.orders) for c in got] == expected
    assert expected


def test_liquidity_clusters_along_the_recorded_depth_keep_their_age():
    events, inst, _ = _data()
    res = OrderBook(inst).apply_mbo(events, record_depth=10)
    depth = res.depth
    assert depth is not None
    params = ClusterParams(granularity=2, min_ratio=1.5)
    t = LiquidityClusterTracker(params)
    t.update_depth(depth)
    # direct: judge both sides at every boundary, remembering when each bucket began to qualify
    first: dict[tuple[int, int], int] = {}
    for r in range(len(depth)):
        ts = int(depth.ts_event[r])
        for sd, (px, sz, ct) in enumerate(
            (
                (depth.bid_price, depth.bid_size, depth.bid_count),
                (depth.ask_price, depth.ask_size, depth.ask_count),
            )
        ):
            rows = np.stack([px[r], sz[r], ct[r]], axis=1)
            now = {(sd, low) for low, _, _ in _direct_liquidity(rows, 2, 1.5)}
            for key in [k for k in first if k[0] == sd and k not in now]:
                del first[key]
            for key in now:
                first.setdefault(key, ts)
    end = int(depth.ts_event[-1])
    got = [(int(c.side), c.low, c.first_ns, c.age_ns) for c in t.clusters()]
    assert got == [(sd, low, first[sd, low], end - first[sd, low]) for sd, low in sorted(first)]
    assert got
