"""Heatmap columns: the largest size per price per bucket of data time, over a window fixed at
the bucket's first mid; a column closes when a later bucket starts; the ring keeps the latest;
reads by number and by time; a random sequence against a naive model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.analytics.heatmap import HeatColumns
from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import NO_PRICE


def rows(*pairs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p for p, _ in pairs], dtype=np.int64),
            np.array([q for _, q in pairs], dtype=np.int64))  # fmt: skip


def test_largest_size_per_price_and_window_at_the_first_mid() -> None:
    h = HeatColumns(bucket_ns=100, half_width=3, capacity=10)
    h.update(5, *rows((100, 4), (99, 9)), *rows((102, 1), (103, 7)), last=101)
    h.update(50, *rows((101, 6), (100, 2)), *rows((104, 8), (110, 50)))  # mid moved: window not
    assert h.closed == 0  # the bucket is still open
    h.update(120, *rows((100, 1)), *rows((101, 1)))
    assert h.closed == 1
    c = h.column(0)
    assert c.ts == 0
    assert c.p0 == (100 + 102) // 2 - 3 == 98
    assert c.sizes.tolist() == [0, 9, 4, 6, 1, 7, 8]  # 98..104; 110 is outside
    assert (c.bid, c.ask, c.last) == (101, 104, 101)


def test_one_sided_book_and_empty_book() -> None:
    h = HeatColumns(10, 2, 4)
    empty = np.zeros(0, dtype=np.int64)
    h.update(0, empty, empty, empty, empty)  # nothing: no column starts
    h.update(3, *rows((50, 5)), empty, empty)
    h.update(15, empty, empty, *rows((60, 1)))
    c = h.column(0)
    assert (c.ts, c.p0, c.sizes.tolist(), c.ask) == (0, 48, [0, 0, 5, 0, 0], NO_PRICE)


def test_the_ring_keeps_the_latest_and_reads_by_time() -> None:
    h = HeatColumns(10, 1, 3)
    for t in range(0, 100, 10):
        h.update(t, *rows((t, t + 1)), *rows((t + 1, 1)))
    assert h.closed == 9 and h.kept == 3
    assert [c.ts for c in h.since(0, 100)] == [60, 70, 80]
    assert [c.ts for c in h.since(8, 100)] == [80]
    assert [c.ts for c in h.between(65, 80, 100)] == [70, 80]
    assert [c.ts for c in h.between(0, 1000, 2)] == [70, 80]
    with pytest.raises(IndexError):
        h.column(2)


def test_bad_parameters() -> None:
    with pytest.raises(ParameterError):
        HeatColumns(0, 1, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.lists(st.tuples(st.integers(90, 110),
       st.integers(1, 99)), min_size=1, max_size=6)), min_size=1, max_size=40))  # fmt: skip
def test_against_a_naive_model(steps: list[tuple[int, list[tuple[int, int]]]]) -> None:
    h = HeatColumns(bucket_ns=10, half_width=5, capacity=1000)
    model: dict[int, dict[str, object]] = {}
    t = 0
    for dt, levels in steps:
        t += dt
        bids = sorted({p: q for p, q in levels if p <= 100}.items(), reverse=True)
        asks = sorted({p: q for p, q in levels if p > 100}.items())
        if not bids and not asks:
            continue
        h.update(t, *rows(*bids) if bids else (np.zeros(0, np.int64),) * 2,
                 *rows(*asks) if asks else (np.zeros(0, np.int64),) * 2)  # fmt: skip
        b = t - t % 10
        if b not in model:
            bb, aa = (bids[0][0] if bids else None), (asks[0][0] if asks else None)
            mid = (bb + aa) // 2 if bb is not None and aa is not None else (bb or aa)
            model[b] = {"p0": mid - 5, "sizes": {}}
        col = model[b]
        for p, q in bids + asks:
            if 0 <= p - col["p0"] <= 10:  # type: ignore[operator]
                s = col["sizes"]
                s[p] = max(s.get(p, 0), q)  # type: ignore[union-attr]
    closed = sorted(model)[:-1]
    assert [c.ts for c in h.since(0, 1000)] == closed
    for c in h.since(0, 1000):
        got = {c.p0 + i: int(v) for i, v in enumerate(c.sizes) if v}
        assert (c.p0, got) == (model[c.ts]["p0"], model[c.ts]["sizes"])
