"""Momentum score: exact values on a hand-built stream, a naive reference, batch == incremental."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.momentum import Momentum, MomentumParams, momentum_batch
from orderflow.core.errors import ConfigError
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.model.enums import Side

BUY, SELL, UNKNOWN = Side.BID, Side.ASK, Side.NONE
P = MomentumParams(
    window_ns=10, tick_scale=2.0, flow_scale=0.5, imbalance_scale=0.5, weights=(0.5, 0.25, 0.25)
)


def run_both(groups, params=P):
    """groups: (ts, mid, imbalance, trades[(size, aggressor)]). Batch and incremental must give
    identical values at every group; returns the batch record."""
    ts = np.array([g[0] for g in groups], dtype=np.int64)
    mid = np.array([g[1] for g in groups], dtype=float)
    imb = np.array([g[2] for g in groups], dtype=float)
    rows, off = [], [0]
    for t, _, _, trs in groups:
        rows += [(t, t, 0, 100, size, side, 0, 0) for size, side in trs]
        off.append(len(rows))
    trades = np.array(rows, dtype=TRADE_DTYPE)
    offsets = np.array(off, dtype=np.int64)
    rec = momentum_batch(ts, mid, imb, trades, offsets, params)
    m = Momentum(params)
    for r, (t, mi, im, _) in enumerate(groups):
        score = m.update(t, mi, im, trades[off[r] : off[r + 1]])
        assert score == rec.score[r] == m.score
        for name in ("price_term", "flow_term", "book_term", "mid_change", "flow"):
            assert getattr(m, name) == getattr(rec, name)[r], name
        assert m.mean_imbalance == rec.mean_imbalance[r]
    return rec


def expected(dmid, flow, imb, p=P):
    w = p.weights
    return (
        w[0] * math.tanh(dmid / p.tick_scale)
        + w[1] * math.tanh(flow / p.flow_scale)
        + w[2] * math.tanh(imb / p.imbalance_scale)
    )


STREAM = [
    (0, 100.0, 0.0, []),
    (5, 101.0, 0.5, [(3, BUY), (1, SELL)]),
    (12, 102.0, -0.2, [(2, SELL), (4, UNKNOWN)]),
    (13, math.nan, 0.0, []),
]


def test_momentum_by_hand():
    rec = run_both(STREAM)
    assert rec.score[0] == 0.0
    # t=5: nothing left the window yet, the first mid stands for mid(now - window)
    assert (rec.mid_change[1], rec.flow[1], rec.mean_imbalance[1]) == (1.0, 0.5, 0.25)
    assert rec.score[1] == expected(1.0, 0.5, 0.25)
    # t=12: the window is (2, 12]; the group at 0 left it, so mid(2) = 100
    assert (rec.mid_change[2], rec.flow[2]) == (2.0, 0.0)
    assert rec.mean_imbalance[2] == pytest.approx(0.15)
    assert rec.score[2] == pytest.approx(expected(2.0, 0.0, 0.15))
    # t=13: no mid (one side empty): the last mid carries forward
    assert rec.mid_change[3] == 2.0
    assert rec.mean_imbalance[3] == pytest.approx(0.1)


def test_score_saturates_within_bounds():
    groups = [(i, 100.0 + 10 * i, 1.0, [(50, BUY)]) for i in range(5)]
    rec = run_both(groups)
    assert 0.98 < rec.score[-1] <= 1.0
    groups = [(i, 100.0 - 10 * i, -1.0, [(50, SELL)]) for i in range(5)]
    assert -1.0 <= run_both(groups).score[-1] < -0.98


def test_no_mid_yet_means_no_price_term():
    rec = run_both([(0, math.nan, 0.0, []), (1, math.nan, 0.4, [])])
    assert rec.price_term[-1] == 0.0 and rec.book_term[-1] == math.tanh(0.2 / 0.5)


def test_default_parameters_match_the_docstring_example():
    p = MomentumParams()
    assert p.weights[0] * math.tanh(4 / p.tick_scale) == pytest.approx(0.3046, abs=1e-4)
    groups = [(0, 100.0, 1 / 3, []), (1, 104.0, 1 / 3, [(5, BUY)])]
    rec = run_both(groups, p)
    assert rec.score[-1] == pytest.approx(0.7687, abs=1e-4)


def test_window_ring_grows_past_its_first_capacity():
    groups = [(i, 100.0 + (i % 3), 0.1, [(1, BUY)]) for i in range(200)]
    rec = run_both(groups, MomentumParams(window_ns=150))
    assert rec.flow[-1] == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"window_ns": 0}, {"tick_scale": 0}, {"weights": (0.5, 0.5, 0.5)}, {"weights": (2, -1, 0)}],
)
def test_bad_parameters_fail_at_start(kwargs):
    with pytest.raises(ConfigError):
        MomentumParams(**kwargs)


def test_trades_without_offsets_are_refused():
    trades = np.zeros(1, dtype=TRADE_DTYPE)
    with pytest.raises(ValueError):
        momentum_batch(np.zeros(1, np.int64), np.zeros(1), np.zeros(1), trades)


# ---- against a naive reference --------------------------------------------------------------
@st.composite
def streams(draw):
    out, ts = [], 0
    for _ in range(draw(st.integers(1, 30))):
        ts += draw(st.integers(0, 6))
        mid = draw(st.one_of(st.just(math.nan), st.integers(190, 210).map(lambda x: x / 2)))
        imb = draw(st.floats(-1, 1))
        trs = draw(st.lists(st.tuples(st.integers(1, 9), st.sampled_from([BUY, SELL, UNKNOWN])),
                            max_size=3))  # fmt: skip
        out.append((ts, mid, imb, trs))
    return out


def naive(groups, r, window):
    now = groups[r][0]
    ffill, last = [], math.nan
    for g in groups[: r + 1]:
        last = g[1] if not math.isnan(g[1]) else last
        ffill.append(last)
    inside = [j for j in range(r + 1) if groups[j][0] > now - window]
    before = [ffill[j] for j in range(r + 1) if j not in inside and not math.isnan(ffill[j])]
    valid = [m for m in ffill if not math.isnan(m)]
    ref = before[-1] if before else (valid[0] if valid else math.nan)
    dmid = 0.0 if math.isnan(ffill[r]) else ffill[r] - ref
    buy = sum(s for j in inside for s, sd in groups[j][3] if sd == BUY)
    sell = sum(s for j in inside for s, sd in groups[j][3] if sd == SELL)
    tot = sum(s for j in inside for s, _ in groups[j][3])
    flow = (buy - sell) / tot if tot else 0.0
    imb = sum(groups[j][2] for j in inside) / len(inside)
    return dmid, flow, imb


@settings(max_examples=60, deadline=None)
@given(streams(), st.integers(1, 25))
def test_momentum_equals_a_naive_window_and_stays_in_bounds(groups, window):
    p = MomentumParams(window_ns=window, tick_scale=3.0, flow_scale=0.7, imbalance_scale=0.4,
                       weights=(0.2, 0.5, 0.3))  # fmt: skip
    rec = run_both(groups, p)
    assert np.all(np.abs(rec.score) <= 1.0)
    for r in range(len(groups)):
        dmid, flow, imb = naive(groups, r, window)
        assert rec.mid_change[r] == dmid and rec.flow[r] == flow
        assert rec.mean_imbalance[r] == pytest.approx(imb, abs=1e-9)
        assert rec.score[r] == pytest.approx(expected(dmid, flow, imb, p), abs=1e-9)
