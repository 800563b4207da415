"""Evaluation on a hand-built mid path with known forward returns and hit rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orderflow.book.common import DepthRecord
from orderflow.model.dtypes import NO_PRICE
from orderflow.signals.evaluate import (
    evaluate,
    format_table,
    forward_returns,
    mid_path,
    t_quantile_975,
)
from orderflow.signals.model import Signal

S = 1_000_000_000


def depth(ts: list[int], bid: list[int], ask: list[int]) -> DepthRecord:
    n = len(ts)
    col = np.zeros((n, 1), dtype=np.int64)
    return DepthRecord(
        np.arange(n),
        np.array(ts, dtype=np.int64),
        np.array(bid, dtype=np.int64)[:, None],
        col,
        col,
        np.array(ask, dtype=np.int64)[:, None],
        col,
        col,
    )


def sig(ts: int, direction: int, detector: str = "x") -> Signal:
    return Signal(
        instrument="T", ts_event=ts, direction=direction, score=1.0, detector=detector, price=0
    )


# mids: t=0 100.5, 1 s 101.5, 2 s crossed (dropped), 3 s 99.5, 4 s one-sided (dropped), 5 s 100.5
D = depth(
    [0, S, 2 * S, 3 * S, 4 * S, 5 * S],
    [100, 101, 105, 99, NO_PRICE, 100],
    [101, 102, 104, 100, 101, 101],
)


def test_mid_path_keeps_valid_two_sided_boundaries() -> None:
    ts, mid = mid_path(D)
    assert ts.tolist() == [0, S, 3 * S, 5 * S]
    assert mid.tolist() == [100.5, 101.5, 99.5, 100.5]


def test_forward_returns_use_the_last_mid_at_or_before_each_time() -> None:
    ts, mid = mid_path(D)
    sigs = [sig(0, 1), sig(S, -1), sig(2 * S + 1, 1), sig(-1, 1)]
    fwd = forward_returns(sigs, ts, mid, [S, 2 * S, 5 * S])
    assert fwd[0].tolist() == [1.0, 1.0, 0.0]  # 101.5 at 1 s, 101.5 at 2 s, 100.5 at 5 s
    assert fwd[1, :2].tolist() == [0.0, 2.0]  # short from 101.5: 101.5 at 2 s, 99.5 at 3 s
    assert math.isnan(fwd[1, 2])  # 6 s is past the last boundary
    assert fwd[2, 0].tolist() == -2.0  # mid(2 s + 1) = 101.5 (the crossed 2 s is not a mid)
    assert np.isnan(fwd[3]).all()  # before any mid


def test_hit_rate_ties_and_intervals_per_detector() -> None:
    ts, mid = mid_path(D)
    sigs = [sig(0, 1, "a"), sig(S, -1, "a"), sig(3 * S, 1, "a"), sig(0, -1, "b")]
    rows = evaluate(sigs, ts, mid, horizons_s=(1, 2), detectors=["a", "b", "never"])
    by = {(r["detector"], r["horizon_s"]): r for r in rows}
    a1 = by[("a", 1)]  # +1 (0 s), 0 (1 s: 101.5 -> 101.5), 0 (3 s -> 4 s: 99.5 -> 99.5)
    assert (a1["n"], a1["hits"], a1["misses"], a1["ties"]) == (3, 1, 0, 2)
    assert a1["hit_rate"] == 1.0
    assert a1["mean_ticks"] == pytest.approx(1 / 3)
    half = 4.303 * np.std([1.0, 0.0, 0.0], ddof=1) / math.sqrt(3)
    assert (a1["mean_lo"], a1["mean_hi"]) == (
        pytest.approx(1 / 3 - half),
        pytest.approx(1 / 3 + half),
    )
    assert a1["hit_rate_lo"] == pytest.approx(0.2065, abs=1e-4)  # Wilson, 1 of 1
    a2 = by[("a", 2)]  # +1, +2, +1 (3 s -> 5 s: 99.5 -> 100.5)
    assert (a2["n"], a2["hits"], a2["mean_ticks"]) == (3, 3, pytest.approx(4 / 3))
    b1 = by[("b", 1)]
    assert (b1["n"], b1["misses"], b1["hit_rate"], b1["mean_lo"]) == (1, 1, 0.0, None)
    assert by[("never", 1)]["n"] == 0 and by[("never", 1)]["hit_rate"] is None
    text = format_table(rows)
    assert "never" in text and "33.3" not in text and "100.0" in text


def test_t_quantiles() -> None:
    assert t_quantile_975(1) == 12.706
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-4)
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=1e-4)
