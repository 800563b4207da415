"""Jitted reads of the cluster trackers. Private: use ``LiquidityClusterTracker.read`` and
``VolumeClusterTracker.read`` in :mod:`orderflow.analytics.clusters`.

Each kernel gives, in one call, what the tracker's ``clusters()`` lists (the same buckets in the
same order, the same integers, the same strength), as one int64 array (a row per cluster) and
one float64 array (its strength), for a reader that only needs the columns (an answer's
clusters). The judgement is :func:`~orderflow.analytics.clusters._judge`'s, operation for
operation in IEEE doubles (``mu = s / n``, ``T = max(min_volume, (num / den) * mu)``, ``T = mu``
when both tests are off, ``strength = v / T``), so the floats are bit for bit the same; the
integer test ``v * n * den >= num * s`` is the trackers' own kernels' (int64).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.model.dtypes import NO_PRICE

__all__ = ["assign_ids", "liquidity_read", "volume_answer", "volume_read"]

#: the int columns of a liquidity read: book side, bucket low (ticks), size, orders, first_ns,
#: and the cluster's id
LQ_SIDE, LQ_LOW, LQ_SIZE, LQ_ORDERS, LQ_FIRST, LQ_ID = range(6)
#: the int columns of a volume read: bucket low (ticks), volume, buy, sell, first_ns
VL_LOW, VL_VOLUME, VL_BUY, VL_SELL, VL_FIRST = range(5)
#: the int columns of a volume answer: id, bucket low (ticks), volume, first_ns, dominant
#: aggressor (0 buy, 1 sell, 2 even), buy, sell
VA_ID, VA_LOW, VA_VOLUME, VA_FIRST, VA_SIDE, VA_BUY, VA_SELL = range(7)


@njit(cache=True)
def assign_ids(last, nxt, rows, cols):  # type: ignore[no-untyped-def]
    """The ids of one read's clusters, the only statement of the rule: each written in its
    row's column ``cols[-1]``; returns the next id to give after them.

    A cluster is its key, the columns ``cols[:-1]`` of its row of ``rows`` (the kind, side or
    bucket that name it, then the time it began to qualify without interruption), distinct
    within one read. ``last``: the last read's rows, their ids written in; ``nxt``: the next
    id to give. A cluster of the last read (the same key) keeps its id, any other gets the
    next one, so a bucket that ended and began again (a new first time) is a new cluster;
    clusters absent from this read are forgotten (``rows`` is the next read's ``last``) and
    no id is given twice. O(clusters x last clusters) at worst; about O(clusters + last
    clusters) when both list them in the same order (each search starts after the last
    match)."""
    m, w, idc = rows.shape[0], cols.shape[0] - 1, cols[-1]
    p = last.shape[0] if last.shape[1] == rows.shape[1] else 0  # rows of another shape: none
    at = 0  # where the last match was: the search starts after it
    for i in range(m):
        n = -1
        for t in range(p):
            j = at + t if at + t < p else at + t - p
            same = True
            for c in range(w):
                if last[j, cols[c]] != rows[i, cols[c]]:
                    same = False
                    break
            if same:
                n = last[j, idc]
                at = j + 1
                break
        if n < 0:
            n = nxt
            nxt += 1
        rows[i, idc] = n
    return nxt


@njit(cache=True, inline="always")
def _threshold(n, s, amin, num, den):  # type: ignore[no-untyped-def]
    """``_judge``'s threshold ``T`` over ``n`` non-empty buckets summing to ``s``."""
    mu = s / n
    thr = max(float(amin), (num / den) * mu)
    if thr == 0.0:
        thr = mu
    return thr


@njit(cache=True)
def _liq_side(prices, sizes, counts, sd, g, amin, num, den, base, first, ints, floats, m):  # type: ignore[no-untyped-def]
    """One side's qualifying buckets appended to ``ints``/``floats`` from row ``m``; returns
    the new row count, or -1 when a bucket lies outside the tracker's window (the caller
    reads the Python way then). O(levels log levels)."""
    nlev = len(prices)
    b = np.empty(nlev, dtype=np.int64)
    q = np.empty(nlev, dtype=np.int64)
    c = np.empty(nlev, dtype=np.int64)
    k = 0
    for j in range(nlev):
        if sizes[j] > 0 and prices[j] != NO_PRICE:
            b[k] = prices[j] // g
            q[k] = sizes[j]
            c[k] = counts[j]
            k += 1
    if k == 0:
        return m
    order = np.argsort(b[:k], kind="mergesort")
    # the distinct buckets ascending, with their summed size and orders
    ub = np.empty(k, dtype=np.int64)
    uq = np.zeros(k, dtype=np.int64)
    uc = np.zeros(k, dtype=np.int64)
    n = -1
    s = 0
    for t in range(k):
        i = order[t]
        if n < 0 or b[i] != ub[n]:
            n += 1
            ub[n] = b[i]
        uq[n] += q[i]
        uc[n] += c[i]
        s += q[i]
    n += 1
    thr = _threshold(n, s, amin, num, den)
    width = first.shape[0]
    for t in range(n):
        x = uq[t]
        if x >= amin and x * n * den >= num * s:
            kk = ub[t] - base
            if kk < 0 or kk >= width:
                return -1
            ints[m, 0] = sd
            ints[m, 1] = ub[t] * g
            ints[m, 2] = x
            ints[m, 3] = uc[t]
            ints[m, 4] = first[kk]
            floats[m] = x / thr
            m += 1
    return m


@njit(cache=True)
def liquidity_read(bp, bs, bc, ap, asz, ac, g, amin, num, den, base, first, last, nxt):  # type: ignore[no-untyped-def]
    """The liquidity clusters of one book state (each side's levels: prices, sizes, order
    counts), bids then asks, each ascending, each with its id: ``(ints, floats, ok, nxt)``,
    a row of ints per cluster (``LQ_*``), its strength, and the next id to give. The ids are
    :func:`assign_ids`' (``last``: the last read's rows; ``nxt``: the next id to give), a
    cluster keyed by its side, low and first_ns. ``ok`` False, no id given, when a bucket lies
    outside the tracker's window (``first``: its (2, width) starts)."""
    ints = np.empty((len(bp) + len(ap), 6), dtype=np.int64)
    floats = np.empty(len(bp) + len(ap), dtype=np.float64)
    m = _liq_side(bp, bs, bc, 0, g, amin, num, den, base, first[0], ints, floats, 0)
    if m < 0:
        return ints[:0], floats[:0], False, nxt
    m = _liq_side(ap, asz, ac, 1, g, amin, num, den, base, first[1], ints, floats, m)
    if m < 0:
        return ints[:0], floats[:0], False, nxt
    cols = np.empty(4, dtype=np.int64)
    cols[0], cols[1], cols[2], cols[3] = LQ_SIDE, LQ_LOW, LQ_FIRST, LQ_ID
    nxt = assign_ids(last, nxt, ints[:m], cols)
    return ints[:m], floats[:m], True, nxt


@njit(cache=True)
def volume_read(vol, first, lo, hi, base, g, amin, num, den):  # type: ignore[no-untyped-def]
    """The volume clusters of the buckets ``[lo, hi]`` of ``vol`` (rows volume, buy, sell),
    ascending: ``(ints, floats)``. O(buckets)."""
    n = 0
    s = 0
    for k in range(lo, hi + 1):
        if vol[0, k] != 0:
            n += 1
            s += vol[0, k]
    ints = np.empty((n, 5), dtype=np.int64)
    floats = np.empty(n, dtype=np.float64)
    if n == 0:
        return ints, floats
    thr = _threshold(n, s, amin, num, den)
    m = 0
    for k in range(lo, hi + 1):
        x = vol[0, k]
        if x != 0 and x >= amin and x * n * den >= num * s:
            ints[m, 0] = (k + base) * g
            ints[m, 1] = x
            ints[m, 2] = vol[1, k]
            ints[m, 3] = vol[2, k]
            ints[m, 4] = first[k]
            floats[m] = x / thr
            m += 1
    return ints[:m], floats[:m]


@njit(cache=True)
def volume_answer(vol, first, lo, hi, base, g, amin, num, den, last, nxt):  # type: ignore[no-untyped-def]
    """:func:`volume_read` with each cluster's id, in one call: ``(ints, floats, nxt)``, a row
    of ints per cluster (``VA_*``: its id, low, volume, first_ns, dominant aggressor, buy,
    sell), its strength, and the next id to give. The ids are :func:`assign_ids`' (``last``:
    the last read's rows; ``nxt``: the next id to give), a cluster keyed by its low and
    first_ns. O(buckets + clusters)."""
    got, strengths = volume_read(vol, first, lo, hi, base, g, amin, num, den)
    m = got.shape[0]
    ints = np.empty((m, 7), dtype=np.int64)
    for i in range(m):
        buy, sell = got[i, VL_BUY], got[i, VL_SELL]
        ints[i, VA_LOW] = got[i, VL_LOW]
        ints[i, VA_VOLUME] = got[i, VL_VOLUME]
        ints[i, VA_FIRST] = got[i, VL_FIRST]
        ints[i, VA_SIDE] = 0 if buy > sell else 1 if sell > buy else 2
        ints[i, VA_BUY] = buy
        ints[i, VA_SELL] = sell
    cols = np.empty(3, dtype=np.int64)
    cols[0], cols[1], cols[2] = VA_LOW, VA_FIRST, VA_ID
    nxt = assign_ids(last, nxt, ints, cols)
    return ints, strengths, nxt
