"""Clusters as the original design meant them: price buckets of heavy resting or traded volume.

Prices (ticks) are grouped into buckets of ``granularity`` ticks: bucket ``b = floor(p / g)``
covers ``[b*g, b*g + g - 1]``. Per bucket we sum either the resting size of the book's levels
(**liquidity clusters**, per side) or the traded size (**volume clusters**, with the buy/sell
split by aggressor). Over the ``n`` non-empty buckets (of one side, for liquidity) with total
``S`` and mean ``mu = S / n``, a bucket of volume ``v`` *qualifies* when

    v >= min_volume   and   v >= min_ratio * mu

(either test is switched off by setting it to 0; the ratio test is done exactly in integers,
``v * n * den >= num * S`` with ``min_ratio = num/den`` as printed). A qualifying bucket is a
cluster with:

- ``low``/``high``: its price range in ticks;
- ``volume`` (``size`` and ``orders`` for liquidity; ``buy``, ``sell`` for volume);
- ``side``: for liquidity the book side (``Side.BID``/``Side.ASK``); for volume the dominant
  aggressor, following TRADE_DTYPE: ``Side.BID`` when buy > sell (buyers lifted), ``Side.ASK``
  when sell > buy, ``Side.NONE`` when equal;
- ``first_ns``/``age_ns``: when it began to qualify without interruption, and ``now - first_ns``
  with ``now`` the time of the latest update (a bucket that stops qualifying loses its age);
- ``strength = v / T`` with the threshold ``T = max(min_volume, min_ratio * mu)`` (so >= 1 for a
  cluster; when both tests are off, ``T = mu``), and ``zscore = (v - mu) / sigma`` with sigma
  the population standard deviation over the non-empty buckets (0 when sigma is 0).

When qualification is judged: liquidity clusters at every book state handed in (each
``update`` call, or each boundary row of a ``DepthRecord``); volume clusters after every trade
(inside the jitted loop, over the traded bucket range), so the result never depends on how the
trades were chunked and batch equals incremental exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba import njit

from orderflow.analytics import _cluster_read_kernels as _rk
from orderflow.analytics.params import ClusterParams as ClusterParams
from orderflow.analytics.profile import ratio
from orderflow.analytics.vwap import PeriodClock, ResetInterval
from orderflow.book.common import DepthRecord
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Side
from orderflow.model.instruments import Instrument

__all__ = [
    "ClusterIds",
    "ClusterParams",
    "LiquidityCluster",
    "LiquidityClusterTracker",
    "VolumeCluster",
    "VolumeClusterTracker",
    "liquidity_clusters",
    "volume_clusters",
]


class LiquidityCluster(NamedTuple):
    side: Side
    low: int
    high: int
    size: int
    orders: int
    first_ns: int
    age_ns: int
    strength: float
    zscore: float


class VolumeCluster(NamedTuple):
    low: int
    high: int
    volume: int
    buy: int
    sell: int
    side: Side
    first_ns: int
    age_ns: int
    strength: float
    zscore: float


def _window(base: int, cap: int, bmin: int, bmax: int) -> tuple[int, int, int] | None:
    """A bucket window ``[base, base + cap)`` that must hold ``[bmin, bmax]``: None when it
    does, else the new (base, width, offset of the old window in the new), with half the span
    (at least 16 buckets) of margin on each side so growth is amortised."""
    if cap and base <= bmin and bmax < base + cap:
        return None
    lo, hi = bmin, bmax
    if cap:
        lo, hi = min(lo, base), max(hi, base + cap - 1)
    margin = max(16, (hi - lo) // 2)
    new_base = lo - margin
    return new_base, hi - lo + 1 + 2 * margin, base - new_base


@lru_cache(maxsize=64)
def _exact(min_ratio: float) -> Fraction:
    """``min_ratio`` as its exact fraction, made once per value (every read needs it)."""
    return ratio(min_ratio, "min_ratio")


def _judge(v: list[int], params: ClusterParams) -> list[tuple[int, float, float]]:
    """(index, strength, zscore) of the qualifying ones among the non-empty bucket volumes
    ``v``. Plain Python: a read judges tens of buckets, fewer than numpy's per-call cost pays
    for. O(buckets)."""
    n, s = len(v), sum(v)
    r, amin = _exact(params.min_ratio), params.min_volume
    num, den = r.numerator, r.denominator
    mu = s / n
    thr = max(float(amin), float(r) * mu) or mu
    sigma = math.sqrt(sum((x - mu) ** 2 for x in v) / n)
    return [
        (k, x / thr, (x - mu) / sigma if sigma > 0 else 0.0)
        for k, x in enumerate(v)
        if x >= amin and x * n * den >= num * s
    ]


@njit(cache=True)
def _step(x, n, s, amin, num, den, steps):  # type: ignore[no-untyped-def]
    """The strength step of a qualifying bucket of volume ``x`` among ``n`` non-empty ones
    summing to ``s``: ``floor(steps * (1 - T / x))`` in ``[0, steps - 1]`` (the threshold
    ``T`` as :func:`_judge` has it)."""
    mu = s / n
    thr = max(float(amin), num * mu / den)
    if thr == 0.0:
        thr = mu
    lv = int(steps * (1.0 - thr / x))
    return min(max(lv, 0), steps - 1)


# ---------------------------------------------------------------------------------------------
# volume clusters


_LO, _HI, _N, _S, _NOW, _COUNT = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def _vol_add(tr, i0, end, g, amin, num, den, base, vol, first, meta, level, steps, mat):  # type: ignore[no-untyped-def]
    """Add trades from ``i0`` into buckets; after each, re-judge every bucket in the range.

    Stops at the first trade stamped at or after ``end`` (a new period) or whose bucket lies
    outside the allocated ones (the caller grows them) and returns its index, else ``len(tr)``.
    O(trades x bucket range). ``first[k]`` is the ns a bucket began to qualify, -1 if not;
    ``level[k]`` its strength step x 3 + its dominant aggressor (0 buy, 1 sell, 2 even), -1
    if not; ``mat[0]`` counts every change of either (a material change).
    """
    cap = vol.shape[1]
    for i in range(i0, len(tr)):
        ts = tr[i]["ts_event"]
        if ts >= end:
            return i
        v = tr[i]["size"]
        if v <= 0:
            continue
        k = tr[i]["price"] // g - base
        if k < 0 or k >= cap:
            return i
        if vol[0, k] == 0:
            meta[_N] += 1
        vol[0, k] += v
        sd = tr[i]["side"]
        if sd == 0:
            vol[1, k] += v
        elif sd == 1:
            vol[2, k] += v
        meta[_S] += v
        if meta[_COUNT] == 0 or k < meta[_LO]:
            meta[_LO] = k
        if meta[_COUNT] == 0 or k > meta[_HI]:
            meta[_HI] = k
        meta[_COUNT] += 1
        meta[_NOW] = ts
        n, s = meta[_N], meta[_S]
        for b in range(meta[_LO], meta[_HI] + 1):
            x = vol[0, b]
            if x > 0 and x >= amin and x * n * den >= num * s:
                if first[b] < 0:
                    first[b] = ts
                buy, sell = vol[1, b], vol[2, b]
                code = 3 * _step(x, n, s, amin, num, den, steps) + (
                    0 if buy > sell else 1 if sell > buy else 2
                )
                if level[b] != code:
                    level[b] = code
                    mat[0] += 1
            else:
                first[b] = -1
                if level[b] >= 0:
                    level[b] = -1
                    mat[0] += 1
    return len(tr)


class VolumeClusterTracker:
    """Volume clusters from trades, with age kept across updates.

    Accumulates since creation, or per reset period when ``reset`` is given (with the
    instrument for its sessions). ``update`` is O(trades x bucket range); ``clusters()`` is
    O(buckets).
    """

    def __init__(
        self,
        params: ClusterParams | None = None,
        instrument: Instrument | None = None,
        reset: ResetInterval = ResetInterval.NONE,
    ) -> None:
        self.params = params or ClusterParams()
        self._r = ratio(self.params.min_ratio, "min_ratio")
        self._clock = PeriodClock(instrument, reset)
        #: how many updates brought prints (a reader compares it to know whether to read again)
        self.changes = 0
        self._mat = np.zeros(1, dtype=np.int64)
        self._clear()

    @property
    def material(self) -> int:
        """How many material changes so far: a cluster began or ended, its dominant aggressor
        or its strength step (``params.strength_steps``) changed, a period began. A reader
        that saw the same count saw the same clusters, sides and strength steps."""
        return int(self._mat[0])

    def _clear(self) -> None:
        self._base = 0
        self._vol = np.zeros((3, 0), dtype=np.int64)
        self._first = np.zeros(0, dtype=np.int64)
        self._level = np.zeros(0, dtype=np.int64)
        self._meta = np.zeros(6, dtype=np.int64)
        self._mat[0] += 1

    def _cover(self, bmin: int, bmax: int) -> None:
        cap = len(self._first)
        grown = _window(self._base, cap, bmin, bmax)
        if grown is None:
            return
        base, width, off = grown
        vol = np.zeros((3, width), dtype=np.int64)
        first = np.full(width, -1, dtype=np.int64)
        level = np.full(width, -1, dtype=np.int64)
        if cap:
            vol[:, off : off + cap] = self._vol
            first[off : off + cap] = self._first
            level[off : off + cap] = self._level
            if self._meta[_COUNT]:
                self._meta[_LO] += off
                self._meta[_HI] += off
        self._base, self._vol, self._first, self._level = base, vol, first, level

    def update(self, trades: np.ndarray) -> None:
        """Add trades (TRADE_DTYPE, time order)."""
        n, i, g, clock = len(trades), 0, self.params.granularity, self._clock
        self.changes += n > 0
        num, den, amin = self._r.numerator, self._r.denominator, self.params.min_volume
        while True:
            i = _vol_add(
                trades, i, clock.end, g, amin, num, den, self._base, self._vol, self._first,
                self._meta, self._level, self.params.strength_steps, self._mat,
            )  # fmt: skip
            if i >= n:
                return
            ts = int(trades[i]["ts_event"])
            if ts >= clock.end:
                clock.open_at(ts)
                self._clear()
            else:
                b = int(trades[i]["price"]) // g
                self._cover(b, b)

    @property
    def now_ns(self) -> int:
        """Time of the latest counted trade (0 before any)."""
        return int(self._meta[_NOW])

    @property
    def total(self) -> int:
        return int(self._meta[_S])

    def buckets(self) -> dict[str, np.ndarray]:
        """Non-empty buckets: ``low`` (ticks), ``volume``, ``buy``, ``sell``, ``first_ns``."""
        if self._meta[_COUNT] == 0:
            e = np.zeros(0, dtype=np.int64)
            return {"low": e, "volume": e, "buy": e, "sell": e, "first_ns": e}
        lo, hi = int(self._meta[_LO]), int(self._meta[_HI])
        v = self._vol[:, lo : hi + 1]
        idx = np.flatnonzero(v[0])
        return {
            "low": (idx + lo + self._base) * self.params.granularity,
            "volume": v[0, idx].copy(),
            "buy": v[1, idx].copy(),
            "sell": v[2, idx].copy(),
            "first_ns": self._first[lo + idx].copy(),
        }

    def read(self) -> tuple[list[list[int]], list[float]]:
        """What :meth:`clusters` lists, as columns from one compiled pass: a row ``[low,
        volume, buy, sell, first_ns]`` per cluster (ascending in price) and each one's
        ``strength``, the same values bit for bit. O(buckets)."""
        if self._meta[_COUNT] == 0:
            return [], []
        r = self._r
        ints, floats = _rk.volume_read(
            self._vol, self._first, int(self._meta[_LO]), int(self._meta[_HI]), self._base,
            self.params.granularity, self.params.min_volume, r.numerator, r.denominator,
        )  # fmt: skip
        return ints.tolist(), floats.tolist()

    def read_ids(self, ids: ClusterIds) -> tuple[list[list[int]], list[float]]:
        """What :meth:`read` lists with each cluster's id from ``ids`` (keyed by low and
        ``first_ns``), in one compiled call: a row ``[id, low,
        volume, first_ns, aggressor, buy, sell]`` per cluster (ascending in price; aggressor 0
        buy, 1 sell, 2 even) and each one's ``strength``. O(buckets)."""
        if self._meta[_COUNT] == 0:
            ids.keys = ids.keys[:0]  # every cluster of the last read ended
            return [], []
        r = self._r
        ints, floats, ids.next = _rk.volume_answer(
            self._vol, self._first, int(self._meta[_LO]), int(self._meta[_HI]), self._base,
            self.params.granularity, self.params.min_volume, r.numerator, r.denominator,
            ids.keys, ids.next,
        )  # fmt: skip
        ids.keys = ints
        return ints.tolist(), floats.tolist()

    def clusters(self) -> list[VolumeCluster]:
        """The qualifying buckets, ascending in price. O(buckets)."""
        b = self.buckets()
        if len(b["volume"]) == 0:
            return []
        vol, buys, sells = b["volume"].tolist(), b["buy"].tolist(), b["sell"].tolist()
        lows, firsts = b["low"].tolist(), b["first_ns"].tolist()
        g, now, out = self.params.granularity, self.now_ns, []
        for k, strength, z in _judge(vol, self.params):
            buy, sell, first, low = buys[k], sells[k], firsts[k], lows[k]
            side = Side.BID if buy > sell else Side.ASK if sell > buy else Side.NONE
            vc = VolumeCluster(low, low + g - 1, vol[k], buy, sell, side, first, now - first,
                               strength, z)  # fmt: skip
            out.append(vc)
        return out


def volume_clusters(
    trades: np.ndarray,
    params: ClusterParams | None = None,
    instrument: Instrument | None = None,
    reset: ResetInterval = ResetInterval.NONE,
) -> list[VolumeCluster]:
    """Batch: the volume clusters after all ``trades`` (ages as the tracker would give)."""
    t = VolumeClusterTracker(params, instrument, reset)
    t.update(trades)
    return t.clusters()


# ---------------------------------------------------------------------------------------------
# liquidity clusters


_MAX_INT = np.iinfo(np.int64).max


@njit(cache=True, inline="always")
def _same_row(price, size, r):  # type: ignore[no-untyped-def]
    """Row ``r`` of the levels (prices and sizes) equals row ``r - 1``."""
    for j in range(price.shape[1]):
        if price[r, j] != price[r - 1, j] or size[r, j] != size[r - 1, j]:
            return False
    return True


@njit(cache=True)
def _liq_rows(  # type: ignore[no-untyped-def]
    price, size, ts, g, amin, num, den, base, first, acc, touched, qual, nq, level, steps, mat
):
    """Judge one side's buckets at each row (book state) of ``price``/``size`` (rows, levels).

    ``qual[:nq[0]]`` lists the buckets qualified at the previous state; ``acc`` is zero on
    entry and exit; ``level[k]`` is a qualifying bucket's strength step (-1 if it does not
    qualify) and ``mat[0]`` counts every change of it (a material change). O(rows x levels).

    Two shortcuts, both exact: a row equal to the one before it (prices and sizes) is not
    judged again, since the same buckets with the same sums would qualify again with the same
    steps and their starts stand (starts are only set again when below 0, hence the row before
    must be at a time >= 0); and a level in the bucket of the level before it, or in the
    bucket next to that one, takes it without a division.
    """
    rows, nlev = price.shape
    for r in range(rows):
        if r > 0 and ts[r - 1] >= 0 and _same_row(price, size, r):
            continue  # judged at row r - 1 from the same levels: nothing would change
        nt, s = 0, 0
        lo_p, k, known = 0, 0, False  # the previous level's bucket k: prices lo_p..lo_p + g - 1
        for j in range(nlev):
            p, v = price[r, j], size[r, j]
            if v <= 0 or p == NO_PRICE:
                continue
            if not (known and p >= lo_p and p - lo_p < g):  # another bucket
                if known and p < lo_p and lo_p - p <= g:  # the one below (bids): no division
                    lo_p -= g
                    k -= 1
                elif known and p >= lo_p + g and p - lo_p < 2 * g:  # the one above (asks)
                    lo_p += g
                    k += 1
                else:  # one division
                    known = True
                    q = p // g
                    lo_p, k = q * g, q - base
            if acc[k] == 0:
                touched[nt] = k
                nt += 1
            acc[k] += v
            s += v
        for q in range(nq[0]):
            if acc[qual[q]] == 0:
                first[qual[q]] = -1
                level[qual[q]] = -1
                mat[0] += 1
        m = 0
        for t in range(nt):
            k = touched[t]
            x = acc[k]
            if x >= amin and x * nt * den >= num * s:
                if first[k] < 0:
                    first[k] = ts[r]
                lv = _step(x, nt, s, amin, num, den, steps)
                if level[k] != lv:
                    level[k] = lv
                    mat[0] += 1
                qual[m] = k
                m += 1
            else:
                first[k] = -1
                if level[k] >= 0:
                    level[k] = -1
                    mat[0] += 1
        nq[0] = m
        for t in range(nt):
            acc[touched[t]] = 0


@njit(cache=True, inline="always")
def _span(side, lo, hi):  # type: ignore[no-untyped-def]
    """``lo``/``hi`` lowered/raised to the least non-NO_PRICE and the greatest price of
    ``side`` (rows, levels). Four rows at a time into four pairs of running extremes, joined
    at the end: one pair made each step wait for the step before (min and max are exact in
    any order; ~15 ns a group less on ESH4)."""
    rows, nlev = side.shape
    lo1, hi1, lo2, hi2, lo3, hi3 = lo, hi, lo, hi, lo, hi
    r = 0
    while r + 4 <= rows:
        for j in range(nlev):
            p0, p1, p2, p3 = side[r, j], side[r + 1, j], side[r + 2, j], side[r + 3, j]
            lo, hi = min(lo, p0 if p0 != NO_PRICE else _MAX_INT), max(hi, p0)
            lo1, hi1 = min(lo1, p1 if p1 != NO_PRICE else _MAX_INT), max(hi1, p1)
            lo2, hi2 = min(lo2, p2 if p2 != NO_PRICE else _MAX_INT), max(hi2, p2)
            lo3, hi3 = min(lo3, p3 if p3 != NO_PRICE else _MAX_INT), max(hi3, p3)
        r += 4
    for i in range(r, rows):
        for j in range(nlev):
            p = side[i, j]
            lo, hi = min(lo, p if p != NO_PRICE else _MAX_INT), max(hi, p)
    return min(min(lo, lo1), min(lo2, lo3)), max(max(hi, hi1), max(hi2, hi3))


@njit(cache=True)
def _liq_depth(  # type: ignore[no-untyped-def]
    bp, bs, ap, asz, ts, g, amin, num, den, base, first, acc, qual, nq, span, level, steps, mat
):
    """Both sides of every row: :func:`_liq_rows` on bids then asks. First checks that the
    buckets ``[base, base + width)`` hold every price (NO_PRICE aside); when not, writes the
    lowest and highest price to ``span`` and returns 1 without changing anything, else 0."""
    # the lowest and highest price, without branches: NO_PRICE (the least int64) never wins a
    # max, and is left out of the min; no price at all leaves the max at NO_PRICE
    lo, hi = _span(bp, _MAX_INT, NO_PRICE)
    lo, hi = _span(ap, lo, hi)
    if hi != NO_PRICE:
        width = first.shape[1]
        if width == 0 or lo // g < base or hi // g >= base + width:
            span[0] = lo
            span[1] = hi
            return 1
    touched = np.empty(max(bp.shape[1], ap.shape[1], 1), dtype=np.int64)
    _liq_rows(bp, bs, ts, g, amin, num, den, base, first[0], acc[0], touched, qual[0], nq[0],
              level[0], steps, mat)  # fmt: skip
    _liq_rows(ap, asz, ts, g, amin, num, den, base, first[1], acc[1], touched, qual[1], nq[1],
              level[1], steps, mat)  # fmt: skip
    return 0


def _as_levels(levels: np.ndarray) -> np.ndarray:
    """Levels as an int64 (rows, 3) array: price, size, count (count 0 when not given)."""
    lv = np.asarray(levels, dtype=np.int64)
    if lv.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    lv = lv.reshape(-1, lv.shape[-1])
    if lv.shape[1] == 2:
        lv = np.concatenate([lv, np.zeros((len(lv), 1), dtype=np.int64)], axis=1)
    return lv


class LiquidityClusterTracker:
    """Liquidity clusters from book states, with age kept across updates.

    Feed it a whole book state per event group, ``update(ts_ns, bids, asks)`` with a book's
    ``levels(side)`` arrays (rows price, size[, count]), or a batch of boundaries with
    ``update_depth(depth_record)``. ``update`` is O(levels); ``clusters()`` is O(levels).
    """

    def __init__(self, params: ClusterParams | None = None) -> None:
        self.params = params or ClusterParams()
        self._r = ratio(self.params.min_ratio, "min_ratio")
        self._base = 0
        self._first = np.zeros((2, 0), dtype=np.int64)
        self._level = np.zeros((2, 0), dtype=np.int64)
        self._mat = np.zeros(1, dtype=np.int64)
        self._acc = np.zeros((2, 0), dtype=np.int64)
        self._qual = np.zeros((2, 0), dtype=np.int64)
        self._nq = np.zeros((2, 1), dtype=np.int64)
        self._now = 0
        self._span = np.zeros(2, dtype=np.int64)
        empty = np.zeros((0, 3), dtype=np.int64)
        self._last_rows: tuple[np.ndarray, np.ndarray] = (empty, empty)
        self._last_depth: DepthRecord | None = None
        #: the latest state's columns (bid prices, sizes, counts, then the ask side's) as
        #: :meth:`read` copied them from ``_last_depth``; None once ``_last_rows`` is current
        self._last_cols: tuple[np.ndarray, ...] | None = None
        #: how many updates brought book states (a reader compares it to know whether to read
        #: again)
        self.changes = 0

    def _cover(self, pmin: int, pmax: int) -> None:
        g, cap = self.params.granularity, self._first.shape[1]
        grown = _window(self._base, cap, pmin // g, pmax // g)
        if grown is None:
            return
        base, width, off = grown
        first = np.full((2, width), -1, dtype=np.int64)
        level = np.full((2, width), -1, dtype=np.int64)
        qual = np.zeros((2, width), dtype=np.int64)
        if cap:
            first[:, off : off + cap] = self._first
            level[:, off : off + cap] = self._level
            for sd in (0, 1):
                nq = int(self._nq[sd, 0])
                qual[sd, :nq] = self._qual[sd, :nq] + off
        self._base, self._first, self._qual, self._level = base, first, qual, level
        self._acc = np.zeros((2, width), dtype=np.int64)

    def _run(self, ts: np.ndarray, bp: np.ndarray, bs: np.ndarray, ap: np.ndarray,
             asz: np.ndarray) -> None:  # fmt: skip
        """Judge both sides at every row: one compiled call (which first checks that the
        allocated buckets hold every price; when not, they grow and it runs again)."""
        g, r, span = self.params.granularity, self._r, self._span
        while _liq_depth(
            bp, bs, ap, asz, ts, g, self.params.min_volume, r.numerator, r.denominator,
            self._base, self._first, self._acc, self._qual, self._nq, span, self._level,
            self.params.strength_steps, self._mat,
        ):  # fmt: skip
            self._cover(int(span[0]), int(span[1]))

    def update(self, ts_ns: int, bids: np.ndarray, asks: np.ndarray) -> None:
        """One book state at ``ts_ns``: each side's levels as rows (price, size[, count])."""
        bids, asks = _as_levels(bids), _as_levels(asks)
        ts = np.array([ts_ns], dtype=np.int64)
        c = np.ascontiguousarray
        self._run(ts, c(bids[None, :, 0]), c(bids[None, :, 1]), c(asks[None, :, 0]),
                  c(asks[None, :, 1]))  # fmt: skip
        self._now, self._last, self._last_depth = int(ts_ns), (bids.copy(), asks.copy()), None
        self._last_cols = None
        self.changes += 1

    def update_depth(self, depth: DepthRecord) -> None:
        """Every boundary of a batch's ``DepthRecord`` in turn (batch path). O(rows x levels).
        The latest state (what :meth:`clusters` reads) is taken from the record when read."""
        if len(depth) == 0:
            return
        ts = depth.ts_event
        self._run(ts, depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size)
        self._now, self._last_depth = int(ts[-1]), depth
        self.changes += 1

    def took_depth(self, depth: DepthRecord, now: int) -> None:
        """What :meth:`update_depth` notes after its kernel ran, for a caller that ran that
        very kernel on this tracker's arrays itself (the pipeline's fused step): ``depth``
        has rows, ``now`` is its last row's event time. O(1)."""
        self._now, self._last_depth = now, depth
        self.changes += 1

    @property
    def _last(self) -> tuple[np.ndarray, np.ndarray]:
        """Each side's levels (rows price, size, count) at the latest state."""
        d = self._last_depth
        if d is not None:
            self._last_rows = tuple(  # type: ignore[assignment]
                np.stack([p[-1], s[-1], c[-1]], axis=1).astype(np.int64)
                for p, s, c in ((d.bid_price, d.bid_size, d.bid_count),
                                (d.ask_price, d.ask_size, d.ask_count))
            )  # fmt: skip
            self._last_depth = None
        elif self._last_cols is not None:
            bp, bs, bc, ap, as_, ac = self._last_cols
            self._last_rows = (np.stack([bp, bs, bc], axis=1).astype(np.int64),
                               np.stack([ap, as_, ac], axis=1).astype(np.int64))  # fmt: skip
        self._last_cols = None
        return self._last_rows

    @_last.setter
    def _last(self, rows: tuple[np.ndarray, np.ndarray]) -> None:
        self._last_rows = rows

    @property
    def now_ns(self) -> int:
        return self._now

    @property
    def material(self) -> int:
        """How many material changes so far: a cluster began or ended on either side, or its
        strength step (``params.strength_steps``) changed. A reader that saw the same count
        saw the same clusters and strength steps (sizes may have moved within a step)."""
        return int(self._mat[0])

    def read(self) -> tuple[list[list[int]], list[float]]:
        """What :meth:`clusters` lists, as columns from one compiled pass: a row ``[side,
        low, size, orders, first_ns]`` per cluster (bids then asks, each ascending in price)
        and each one's ``strength``, the same values bit for bit. O(levels log levels)."""
        rows, strengths = self.read_ids(ClusterIds())
        return [r[: _rk.LQ_ID] for r in rows], strengths

    def read_ids(self, ids: ClusterIds) -> tuple[list[list[int]], list[float]]:
        """What :meth:`read` lists, each row with the cluster's id from ``ids`` last (keyed
        by side, low and ``first_ns``), in one compiled call. O(levels log levels)."""
        d = self._last_depth
        if d is not None:  # the latest state's rows, kept as the lazy ``_last`` would keep them
            sides = (d.bid_price, d.bid_size, d.bid_count, d.ask_price, d.ask_size, d.ask_count)
            self._last_cols = tuple(a[-1].copy() for a in sides)
            self._last_depth = None
        cols = self._last_cols
        if cols is None:
            b, a = self._last_rows
            cols = (b[:, 0], b[:, 1], b[:, 2], a[:, 0], a[:, 1], a[:, 2])
        bp, bs, bc, ap, as_, ac = cols
        r = self._r
        ints, floats, ok, nxt = _rk.liquidity_read(
            bp, bs, bc, ap, as_, ac, self.params.granularity, self.params.min_volume,
            r.numerator, r.denominator, self._base, self._first, ids.keys, ids.next,
        )  # fmt: skip
        if not ok:  # a price outside the buckets' window: read as clusters() does
            found = self.clusters()
            ints = np.array([[int(c.side), c.low, c.size, c.orders, c.first_ns, 0]
                             for c in found], dtype=np.int64).reshape(-1, 6)  # fmt: skip
            nxt = _rk.assign_ids(ids.keys, ids.next, ints, _LQ_KEY)
            floats = np.array([c.strength for c in found], dtype=np.float64)
        ids.keys, ids.next = ints, nxt
        return ints.tolist(), floats.tolist()

    def clusters(self) -> list[LiquidityCluster]:
        """Clusters of the latest state: bids then asks, each ascending in price."""
        return _liquidity(self._last, self.params, self._now, self._first_of)

    def _first_of(self, side: int, bucket: int) -> int:
        k = bucket - self._base
        return int(self._first[side, k])


def _liquidity(
    last: tuple[np.ndarray, np.ndarray],
    params: ClusterParams,
    now: int,
    first_of: Callable[[int, int], int],
) -> list[LiquidityCluster]:
    """The qualifying buckets of one book state, per side. Plain Python over the levels (a
    book state has tens of them: cheaper than numpy's per-call cost; the same formulas as
    :func:`_judge`). O(levels)."""
    g, out = params.granularity, []
    for sd in (0, 1):
        acc: dict[int, list[int]] = {}
        for p, q, c in _as_levels(last[sd]).tolist():
            if q > 0 and p != NO_PRICE:
                a = acc.get(p // g)
                if a is None:
                    acc[p // g] = [q, c]
                else:
                    a[0] += q
                    a[1] += c
        if not acc:
            continue
        buckets = sorted(acc)
        for k, strength, z in _judge([acc[b][0] for b in buckets], params):
            b = buckets[k]
            v, orders = acc[b]
            first = first_of(sd, b)
            out.append(LiquidityCluster(Side(sd), b * g, b * g + g - 1, v, orders, first,
                                        now - first, strength, z))  # fmt: skip
    return out


#: the columns of a liquidity read (``_rk.LQ_*``) that name its cluster, then its id's
_LQ_KEY = np.array([_rk.LQ_SIDE, _rk.LQ_LOW, _rk.LQ_FIRST, _rk.LQ_ID], dtype=np.int64)


class ClusterIds:
    """Ids that name a cluster for its whole life, across reads of a tracker.

    A cluster is the same from one read to the next while its bucket keeps qualifying without
    interruption: the same key (for liquidity the side and the bucket's low price, for volume
    the low; the bands' kind, side and band) and the same ``first_ns``. Buckets lie on a fixed
    grid, so the same bucket is the same price range. A bucket that stops qualifying ends its
    cluster (its id is not given again); qualifying later, it is a new cluster with a new id.
    Ids count from 1 per ``ClusterIds``. The rule is the compiled
    :func:`~orderflow.analytics._cluster_read_kernels.assign_ids`', which the trackers' reads
    apply inside their own call (:meth:`VolumeClusterTracker.read_ids`,
    :meth:`LiquidityClusterTracker.read_ids`): ``keys`` holds the last read's rows with their
    ids, ``next`` the next id to give. O(clusters) per read of clusters in one order from read
    to read.
    """

    __slots__ = ("keys", "next")

    def __init__(self) -> None:
        self.keys = np.zeros((0, 1), dtype=np.int64)
        self.next = 1

    def assign(self, keys: list[tuple[int, ...]]) -> list[int]:
        """The id of each cluster of one read (``keys``: a tuple of ints per cluster, its
        identity); clusters absent from this read are forgotten."""
        w = len(keys[0]) if keys else 0
        rows = np.zeros((len(keys), w + 1), dtype=np.int64)
        if keys:
            rows[:, :w] = keys
        self.next = _rk.assign_ids(self.keys, self.next, rows, np.arange(w + 1, dtype=np.int64))
        self.keys = rows
        return rows[:, w].tolist()  # type: ignore[no-any-return]


def liquidity_clusters(
    bids: np.ndarray, asks: np.ndarray, params: ClusterParams | None = None, ts_ns: int = 0
) -> list[LiquidityCluster]:
    """Stateless: the liquidity clusters of one book state (age 0, first_ns = ``ts_ns``)."""
    p = params or ClusterParams()
    last = (_as_levels(bids), _as_levels(asks))
    return _liquidity(last, p, ts_ns, lambda sd, b: ts_ns)
