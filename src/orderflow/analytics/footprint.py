"""Footprint (volumetric) bars: bid and ask volume at each price of each bar, and imbalances.

A footprint series is a :class:`~orderflow.analytics.bars.BarSeries` that also keeps each bar's
cells (:data:`~orderflow.analytics.bars.CELL_DTYPE`, only prices that traded, sorted), on any
:class:`~orderflow.analytics.bars.BarSpec`. Its bar records carry the bar delta, the max and min
delta seen during the bar (NinjaTrader's MaxSeenDelta/MinSeenDelta: extremes of the running bar
delta after each trade, the first trade included, the empty start not) and the POC (the price
with the most volume; a tie goes to the **lowest** price). Memory per bar: O(prices traded in it).

Diagonal imbalances follow NinjaTrader's Order Flow Volumetric Bars: the ask (buy-aggressor)
volume at price p is compared with the bid (sell-aggressor) volume one tick below, p - 1:

- **buy imbalance at p**: ``ask(p) >= ratio * bid(p-1)`` and ``ask(p) - bid(p-1) >= min_delta``
- **sell imbalance at p**: ``bid(p) >= ratio * ask(p+1)`` and ``bid(p) - ask(p+1) >= min_delta``

A price with no volume on the compared side counts as 0 (so at the bar's low, ask volume of at
least ``min_delta`` alone is a buy imbalance), and a cell with no volume on its own side is
never imbalanced. ``min_delta`` is NinjaTrader's "imbalance min delta" (default 10), the
absolute gap that keeps thin prices from flagging. **Stacked imbalances**: ``stacked_count``
(default 3) or more imbalances of one side at consecutive ticks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.analytics.bars import CELL_DTYPE, BarParams, BarSeries, BarSpec, MultiBars
from orderflow.analytics.params import FootprintParams as FootprintParams

#: One stacked-imbalance zone of a bar: side 0 = buy (ask) imbalances, 1 = sell (bid); its
#: lowest and highest price (ticks) and the number of consecutive imbalanced prices.
STACK_DTYPE = np.dtype([("side", "i1"), ("low", "i8"), ("high", "i8"), ("count", "i8")])


_BAR_DEFAULTS = BarParams()


@njit(cache=True)
def _imbalances(price, bid, ask, ratio, min_delta, buy, sell):  # type: ignore[no-untyped-def]
    n = len(price)
    for j in range(n):
        p = price[j]
        below = bid[j - 1] if j > 0 and price[j - 1] == p - 1 else 0
        above = ask[j + 1] if j + 1 < n and price[j + 1] == p + 1 else 0
        a = ask[j]
        buy[j] = a > 0 and a >= ratio * below and a - below >= min_delta
        b = bid[j]
        sell[j] = b > 0 and b >= ratio * above and b - above >= min_delta


def imbalances(
    cells: np.ndarray, params: FootprintParams = FootprintParams()
) -> tuple[np.ndarray, np.ndarray]:
    """Buy and sell diagonal imbalance flags (bool, aligned with ``cells``) of one bar. O(cells).

    ``cells`` must be one bar's cells sorted by price (as the footprint series gives them).
    """
    buy = np.zeros(len(cells), dtype=np.bool_)
    sell = np.zeros(len(cells), dtype=np.bool_)
    _imbalances(
        np.ascontiguousarray(cells["price"]),
        np.ascontiguousarray(cells["bid"]),
        np.ascontiguousarray(cells["ask"]),
        float(params.imbalance_ratio),
        int(params.min_delta),
        buy,
        sell,
    )
    return buy, sell


def stacked_imbalances(
    cells: np.ndarray, params: FootprintParams = FootprintParams()
) -> np.ndarray:
    """Runs of ``stacked_count``+ same-side imbalances at consecutive ticks (:data:`STACK_DTYPE`),
    buy runs first, each side from low to high. O(cells)."""
    buy, sell = imbalances(cells, params)
    price = cells["price"]
    zones: list[tuple[int, int, int, int]] = []
    for side, flags in ((0, buy), (1, sell)):
        run_lo = run_n = 0
        for j in range(len(cells) + 1):
            extends = j < len(cells) and flags[j]
            if extends and run_n and price[j] == price[j - 1] + 1:
                run_n += 1
                continue
            if run_n >= params.stacked_count:
                zones.append((side, run_lo, run_lo + run_n - 1, run_n))
            run_lo, run_n = (int(price[j]), 1) if extends else (0, 0)
    return np.array(zones, dtype=STACK_DTYPE)


def poc(cells: np.ndarray) -> int:
    """Price with the most volume among ``cells`` (ties: the lowest price). O(cells)."""
    total = cells["bid"] + cells["ask"] + cells["other"]
    return int(cells["price"][int(np.argmax(total))])


class FootprintSeries(BarSeries):
    """Footprint bars on one :class:`BarSpec`, fed trades in chunks or all at once."""

    def __init__(
        self,
        spec: BarSpec,
        params: FootprintParams = FootprintParams(),
        bar_params: BarParams = _BAR_DEFAULTS,
    ) -> None:
        super().__init__(spec, bar_params, footprint=True)
        self.fp_params = params

    def imbalances(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Buy/sell imbalance flags of closed bar ``i``, aligned with ``bar_cells(i)``."""
        return imbalances(self.bar_cells(i), self.fp_params)

    def stacked(self, i: int) -> np.ndarray:
        """Stacked-imbalance zones of closed bar ``i``."""
        return stacked_imbalances(self.bar_cells(i), self.fp_params)

    def forming_imbalances(self) -> tuple[np.ndarray, np.ndarray]:
        """Imbalance flags of the forming bar, aligned with ``forming_cells()``."""
        return imbalances(self.forming_cells(), self.fp_params)

    def forming_stacked(self) -> np.ndarray:
        """Stacked-imbalance zones of the forming bar so far."""
        return stacked_imbalances(self.forming_cells(), self.fp_params)


def multi_footprint(specs: list[BarSpec], bar_params: BarParams = _BAR_DEFAULTS) -> MultiBars:
    """Several footprint series fed the same trades (BarsInProgress order)."""
    return MultiBars(specs, bar_params, footprint=True)


def build_footprint(
    trades: np.ndarray,
    spec: BarSpec,
    params: FootprintParams = FootprintParams(),
    bar_params: BarParams = _BAR_DEFAULTS,
) -> FootprintSeries:
    """Batch: a footprint series fed all of ``trades`` at once (its last bar still forming)."""
    series = FootprintSeries(spec, params, bar_params)
    series.update(trades)
    return series


__all__ = [
    "CELL_DTYPE",
    "STACK_DTYPE",
    "FootprintParams",
    "FootprintSeries",
    "build_footprint",
    "imbalances",
    "multi_footprint",
    "poc",
    "stacked_imbalances",
]
