"""A bar's imbalances and stacked zones found in a loop over its cells' lists
(``view_frames.flags_of``, ``runs_of``: what ``bar_dict`` uses for a bar of up to
``FEW_CELLS`` cells) are the compiled kernel's (``footprint.imbalances``) and
``stacked_imbalances``' own, flag for flag and zone for zone: on random bars with gaps in
their prices, empty sides, sizes at the ratio's and the minimum gap's very edges, volumes
past 2**53 (where the ratio's product rounds), and ratios that are not whole; ESH4's bars are
compared in ``tests/integration/test_view_stream.py``."""

from __future__ import annotations

import numpy as np

from orderflow.analytics.bars import CELL_DTYPE
from orderflow.analytics.footprint import FootprintParams, imbalances, stacked_imbalances
from orderflow.server.view_frames import flags_of, runs_of


def _cells(price: list[int], bid: list[int], ask: list[int]) -> np.ndarray:
    cells = np.zeros(len(price), dtype=CELL_DTYPE)
    cells["price"], cells["bid"], cells["ask"] = price, bid, ask
    return cells


def _same(cells: np.ndarray, fp: FootprintParams) -> None:
    price, bid, ask = cells["price"].tolist(), cells["bid"].tolist(), cells["ask"].tolist()
    buys, sells = flags_of(price, bid, ask, float(fp.imbalance_ratio), int(fp.min_delta))
    buy, sell = imbalances(cells, fp)
    assert (buys, sells) == (buy.tolist(), sell.tolist())
    zones = stacked_imbalances(cells, fp).tolist()
    for side, flags in ((0, buys), (1, sells)):
        want = [(lo, hi) for s, lo, hi, _ in zones if s == side]
        assert runs_of(price, flags, fp.stacked_count) == want


def test_edges_of_the_ratio_and_the_gap() -> None:
    fp = FootprintParams()  # ratio 1.5, min delta 10, 3 stacked
    ratio, gap = float(fp.imbalance_ratio), int(fp.min_delta)
    assert (ratio, gap) == (1.5, 10)
    # ask 30 against bid 20 below (exactly 1.5x, gap 10), then just under each edge
    for a, b in ((30, 20), (29, 20), (30, 21), (19, 9), (20, 10), (10, 0), (9, 0), (0, 0)):
        _same(_cells([100, 101], [b, 0], [0, a]), fp)
        _same(_cells([100, 101], [a, 0], [0, b]), fp)
    # a run of 3 and of 4 buy imbalances, a gap in the prices breaking a run, both sides
    _same(_cells([1, 2, 3, 4, 6, 7, 8], [1, 1, 1, 1, 1, 1, 1], [0, 50, 50, 50, 50, 50, 50]), fp)
    _same(_cells([5, 6, 7, 8, 9], [40, 40, 40, 40, 0], [0, 1, 1, 1, 1]), fp)
    _same(_cells([], [], []), fp)
    _same(_cells([7], [15], [12]), fp)
    # volumes past 2**53: the product and the comparison in float64 as the kernel makes them
    big = 2**53 + 1
    _same(_cells([1, 2], [big, 0], [0, big + 1]), FootprintParams(imbalance_ratio=1.0))
    # ask 2**53 + 3 against bid 2**52 + 2 below at ratio 2: under the product (2**53 + 4)
    # exactly, but a float64 of it rounds up to the product: the kernel flags it
    cells = _cells([1, 2], [2**52 + 2, 0], [0, 2**53 + 3])
    assert imbalances(cells, FootprintParams(imbalance_ratio=2.0))[0].tolist() == [False, True]
    _same(cells, FootprintParams(imbalance_ratio=2.0))


def test_random_bars_and_ratios() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(1, 40))
        price = np.sort(rng.choice(np.arange(1000, 1000 + 2 * n + 3), n, replace=False))
        scale = int(rng.choice([3, 30, 300]))
        bid = rng.integers(0, scale, n) * (rng.random(n) < 0.8)
        ask = rng.integers(0, scale, n) * (rng.random(n) < 0.8)
        fp = FootprintParams(imbalance_ratio=float(rng.choice([1.0, 1.5, 2.5, 3.3, 4.0])),
                             min_delta=int(rng.integers(0, 12)),
                             stacked_count=int(rng.integers(2, 5)))  # fmt: skip
        _same(_cells(price.tolist(), bid.tolist(), ask.tolist()), fp)
