"""The liquidity heatmap's columns: the largest resting size at each price in each bucket of
data time, over a window of prices around the mid.

A column covers ``[ts, ts + bucket_ns)`` of event time and the prices ``p0 .. p0 + width - 1``
(ticks), where ``p0 = mid - half_width`` and ``mid = (best bid + best ask) // 2`` at the first
book state of the bucket (one side only: that side's best price). Each book state fed during the
bucket raises a price's size to the largest seen there, bids and asks alike; a column closes
when the first state of a later bucket arrives (an empty bucket makes no column). Fed once per
event group with the book's rows, a step costs O(rows) in one jitted kernel, whatever the
history; closed columns are kept in a bounded ring (the oldest dropped first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import NO_PRICE

__all__ = ["HeatColumn", "HeatColumns"]

_NO_PRICE = int(NO_PRICE)


@njit(cache=True)
def _raise_sizes(sizes, p0, bid_p, bid_s, ask_p, ask_s):  # type: ignore[no-untyped-def]
    w = len(sizes)
    for i in range(len(bid_p)):
        j = bid_p[i] - p0
        if 0 <= j < w and bid_s[i] > sizes[j]:
            sizes[j] = bid_s[i]
    for i in range(len(ask_p)):
        j = ask_p[i] - p0
        if 0 <= j < w and ask_s[i] > sizes[j]:
            sizes[j] = ask_s[i]


@dataclass(frozen=True, slots=True)
class HeatColumn:
    """One closed column: bucket start (ns), lowest price (ticks), sizes from ``p0`` up, and
    best bid, best ask and last price (ticks; NO_PRICE: none) at the bucket's end."""

    ts: int
    p0: int
    sizes: np.ndarray
    bid: int
    ask: int
    last: int


class HeatColumns:
    """Columns of one instrument (see the module). ``capacity``: closed columns kept."""

    def __init__(self, bucket_ns: int, half_width: int, capacity: int) -> None:
        if bucket_ns <= 0 or half_width < 1 or capacity < 1:
            raise ParameterError("heat columns need bucket_ns > 0, half_width >= 1, capacity >= 1")
        self.bucket_ns = int(bucket_ns)
        self.half_width = int(half_width)
        self.width = 2 * int(half_width) + 1
        self.capacity = int(capacity)
        #: columns closed so far (the ring holds the last ``capacity`` of them)
        self.closed = 0
        self._ts = np.zeros(0, dtype=np.int64)
        self._meta = np.zeros((0, 4), dtype=np.int64)  # p0, bid, ask, last
        self._sizes = np.zeros((0, self.width), dtype=np.int32)
        self._cur = np.zeros(self.width, dtype=np.int64)
        self._cur_ts = -1
        self._cur_p0 = 0
        self._top = (_NO_PRICE, _NO_PRICE, _NO_PRICE)

    # -- feeding ---------------------------------------------------------------------------

    def update(
        self,
        ts: int,
        bid_p: np.ndarray,
        bid_s: np.ndarray,
        ask_p: np.ndarray,
        ask_s: np.ndarray,
        last: int = _NO_PRICE,
    ) -> None:
        """The book at event time ``ts``: its rows per side (ticks, sizes; best first). A book
        with neither side changes nothing. O(rows), plus O(width) when a column closes."""
        bid = int(bid_p[0]) if len(bid_p) else _NO_PRICE
        ask = int(ask_p[0]) if len(ask_p) else _NO_PRICE
        if bid == _NO_PRICE and ask == _NO_PRICE:
            return
        bucket = ts - ts % self.bucket_ns
        if bucket != self._cur_ts:
            if bucket < self._cur_ts:  # time went back (a replay restarted): keep the column
                bucket = self._cur_ts
            else:
                self._close()
                self._cur_ts = bucket
                if bid != _NO_PRICE and ask != _NO_PRICE:
                    mid = (bid + ask) // 2
                else:
                    mid = bid if bid != _NO_PRICE else ask
                self._cur_p0 = mid - self.half_width
        _raise_sizes(self._cur, self._cur_p0, bid_p, bid_s, ask_p, ask_s)
        self._top = (bid, ask, last if last != _NO_PRICE else self._top[2])

    def _close(self) -> None:
        if self._cur_ts < 0:
            return
        n = self.closed
        if n < self.capacity and n >= len(self._ts):  # grow (doubling) up to the capacity
            size = min(self.capacity, max(64, 2 * len(self._ts)))
            self._ts = np.resize(self._ts, size)
            self._meta = np.resize(self._meta, (size, 4))
            sizes = np.zeros((size, self.width), dtype=np.int32)
            sizes[: len(self._sizes)] = self._sizes
            self._sizes = sizes
        i = n % self.capacity
        self._ts[i] = self._cur_ts
        self._meta[i] = (self._cur_p0, *self._top)
        np.minimum(self._cur, np.iinfo(np.int32).max, out=self._cur)
        self._sizes[i] = self._cur
        self._cur[:] = 0
        self.closed = n + 1

    # -- reading ---------------------------------------------------------------------------

    @property
    def kept(self) -> int:
        """Closed columns still in the ring."""
        return min(self.closed, self.capacity)

    def column(self, k: int) -> HeatColumn:
        """Closed column number ``k`` (0 = the first ever; it must still be kept). O(width)."""
        if not self.closed - self.kept <= k < self.closed:
            raise IndexError(k)
        i = k % self.capacity
        p0, bid, ask, last = (int(x) for x in self._meta[i])
        return HeatColumn(int(self._ts[i]), p0, self._sizes[i].copy(), bid, ask, last)

    def since(self, k: int, limit: int) -> list[HeatColumn]:
        """Closed columns from number ``k`` on (at most ``limit``, the latest ones)."""
        lo = max(k, self.closed - self.kept, self.closed - limit)
        return [self.column(j) for j in range(lo, self.closed)]

    def between(self, from_ts: int, to_ts: int, limit: int) -> list[HeatColumn]:
        """Kept closed columns with ``from_ts <= ts <= to_ts``, oldest first; at most
        ``limit`` (the latest ones). O(log kept + limit x width)."""
        first, n = self.closed - self.kept, self.kept
        start = first % self.capacity if n == self.capacity else 0
        ts = np.concatenate([self._ts[start:n], self._ts[:start]]) if start else self._ts[:n]
        a = int(np.searchsorted(ts, from_ts, side="left"))
        b = int(np.searchsorted(ts, to_ts, side="right"))
        a = max(a, b - limit)
        return [self.column(first + j) for j in range(a, b)]
