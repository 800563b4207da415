"""Golden: every detector over the real ESH4 2023-12-25 MBO hour, measured against the mid path.

Counts per detector are pinned (checked once by reading their evidence); the iceberg forward
returns at 5 s are re-derived here with plain Python from the book's own top of book.
"""

from __future__ import annotations

import bisect
import math
from functools import cache

import pytest

from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE
from orderflow.signals.evaluate import EvaluationReport, evaluate_stream
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

COUNTS = {
    "absorption": 10,
    "exhaustion": 5,
    "iceberg": 99,
    "iceberg_l2": 42,
    "large_lot_added": 24,
    "large_lot_removed": 22,
    "pulling": 37,
    "spoof_pull": 1,
    "stacking": 67,
    "sweep": 6,
}


@cache
def data():  # type: ignore[no-untyped-def]
    return read_mbo(need(ES_MBO))


@cache
def report() -> EvaluationReport:
    events, es = data()
    return evaluate_stream(events, es)


def test_signal_counts_per_detector() -> None:
    assert report().counts == COUNTS
    assert report().events == 68_792
    assert report().boundaries == 47_022


def test_two_runs_are_identical() -> None:
    events, es = data()
    again = evaluate_stream(events, es)
    assert again.signals == report().signals
    assert again.rows == report().rows


def test_every_signal_explains_itself() -> None:
    for s in report().signals:
        assert s.direction in (1, -1)
        assert 0.0 <= s.score <= 1.0
        assert s.instrument == "ESH4"
        assert s.evidence


def test_iceberg_forward_returns_at_5s_match_an_independent_computation() -> None:
    events, es = data()
    depth = OrderBook(es).apply_mbo(events, record_depth=1).depth
    assert depth is not None
    times, mids = [], []
    for t, b, a in zip(
        depth.ts_event.tolist(),
        depth.bid_price[:, 0].tolist(),
        depth.ask_price[:, 0].tolist(),
        strict=True,
    ):
        if b != NO_PRICE and a != NO_PRICE and b < a:
            times.append(t)
            mids.append((b + a) / 2)
    moves = []
    for s in report().signals:
        if s.detector != "iceberg" or s.ts_event + 5_000_000_000 > times[-1]:
            continue
        i0 = bisect.bisect_right(times, s.ts_event) - 1
        i1 = bisect.bisect_right(times, s.ts_event + 5_000_000_000) - 1
        if i0 >= 0:
            moves.append(s.direction * (mids[i1] - mids[i0]))
    row = next(r for r in report().rows if r["detector"] == "iceberg" and r["horizon_s"] == 5)
    assert row["n"] == len(moves)
    assert row["hits"] == sum(m > 0 for m in moves)
    assert row["misses"] == sum(m < 0 for m in moves)
    assert row["mean_ticks"] == pytest.approx(sum(moves) / len(moves), abs=1e-12)
    mean = sum(moves) / len(moves)
    sd = math.sqrt(sum((m - mean) ** 2 for m in moves) / (len(moves) - 1))
    assert row["mean_hi"] - row["mean_lo"] == pytest.approx(
        2 * 1.9845 * sd / math.sqrt(len(moves)), rel=1e-3
    )
