"""The venue's per-piece scans of L3 records and the driver's per-chunk one, one jitted pass each.

A backtest deciding every 100 records hands the venue a piece of about 100 records at a
time; where each piece cost half a dozen numpy calls (masks, ``flatnonzero``,
``searchsorted``) these give the same answers in one call: how far a shared book may be fed
before the venue must look (:func:`cut_l3`, for ``Matching.next_cut``) and, for a piece that
touches none of our orders, the events it ends and its last print (:func:`tail_l3`); what
the market removed at a level we took from (:func:`cancelled_l3`, four numpy passes a level
before); per
chunk of MBO records, what the driver reads before cutting it into pieces (:func:`scan_mbo`:
its event ends, the hours it prints in, whether its times go back; five numpy passes and a
sort, about 0.8 ms a 65,536-record chunk). The numpy forms stay in
``tests/unit/backtest/test_scans.py`` as the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.backtest.model import CANCEL, FILL, LAST, STOPS, TRADE, SimOrder

__all__ = ["cancelled_l3", "cut_l3", "every_n", "scan_mbo", "tail_l3", "triggers"]

_NO_TRIGGERS = np.zeros((0, 2), dtype=np.int64)


def triggers(waiting: list[SimOrder]) -> np.ndarray:
    """Each waiting stop or MIT as ``(trigger price, fires upward)`` (a buy stop and a sell
    MIT fire on prints at or above their price)."""
    if not waiting:
        return _NO_TRIGGERS
    rows = [(o.stop_ticks, o.is_buy if o.order_type in STOPS else not o.is_buy) for o in waiting]
    return np.array(rows, dtype=np.int64).reshape(len(waiting), 2)


@njit(cache=True)
def cut_l3(seg, fills_print, pending_at, fired, w):  # type: ignore[no-untyped-def]
    """How many records of ``seg`` may go to a shared book: up to the last record at or
    before ``pending_at`` (a command's arrival; < 0: none), the end of the first event
    (``fired``: orders triggered in an event not yet finished) and the end of the event of
    the first print that fires a trigger of ``w`` (:func:`triggers`); rounded up to the end
    of an event (a LAST record), ``len(seg)`` when there is none after it. O(len)."""
    ts, flags, act, price = seg.ts_event, seg["flags"], seg.action, seg.price
    n = len(ts)
    cut = n
    if pending_at >= 0:  # searchsorted(ts, pending_at, "right")
        lo, hi = 0, n
        while lo < hi:
            m = (lo + hi) >> 1
            if ts[m] <= pending_at:
                lo = m + 1
            else:
                hi = m
        cut = lo
    if fired:
        for j in range(n):
            if flags[j] & LAST:
                if j + 1 < cut:
                    cut = j + 1
                break
    nw = w.shape[0]
    if nw:
        for j in range(cut):
            a = act[j]
            if not (a == TRADE or (fills_print and a == FILL)):
                continue
            p = np.int64(price[j])
            hit = False
            for k in range(nw):
                if (p >= w[k, 0]) if w[k, 1] else (p <= w[k, 0]):
                    hit = True
            if hit:
                cut = j + 1
                break
    if 0 < cut < n and not flags[cut - 1] & LAST:
        end = n
        for j in range(cut - 1, n):
            if flags[j] & LAST:
                end = j + 1
                break
        cut = end
    return cut


@njit(cache=True)
def tail_l3(seg, fills_print):  # type: ignore[no-untyped-def]
    """The records of ``seg`` that end an event (LAST), and the price of its last print
    (T, or with ``fills_print`` F and T) with 1, or (0, 0) without one. O(len)."""
    flags, act, price = seg["flags"], seg.action, seg.price
    n = len(flags)
    events = 0
    for j in range(n):
        if flags[j] & LAST:
            events += 1
    for j in range(n - 1, -1, -1):
        a = act[j]
        if a == TRADE or (fills_print and a == FILL):
            return events, np.int64(price[j]), 1
    return events, np.int64(0), 0


@njit(cache=True)
def cancelled_l3(seg, side, price):  # type: ignore[no-untyped-def]
    """The size the cancels (C records: L3 fills come as C records too) of ``seg`` removed at
    ``price`` on ``side``. O(len)."""
    act, sd, px, size = seg.action, seg.side, seg.price, seg["size"]
    removed = 0
    for j in range(len(act)):
        if act[j] == CANCEL and px[j] == price and sd[j] == side:
            removed += size[j]
    return removed


@njit(cache=True)
def every_n(ends, n, since):  # type: ignore[no-untyped-def]
    """The event ends (``ends``: exclusive indices, increasing) at which ``n`` or more
    records have gone by since the last decision, ``since`` records before the first record;
    and the records left over after the last of them (``since`` plus all of them when there
    is none). One pass: the first end at or past the previous one plus ``n`` is a later end
    than the previous one (``n >= 1``), so the ends before it need not be searched again."""
    out = np.empty(len(ends), dtype=np.int64)
    k = 0
    start = -since
    for e in ends:
        if e >= start + n:
            out[k] = e
            k += 1
            start = e
    total = ends[-1] if len(ends) else 0
    return out[:k], total - start


@njit(cache=True)
def scan_mbo(recs, hour):  # type: ignore[no-untyped-def]
    """A chunk of MBO records in one pass: the indices of those that end an event (LAST,
    ``np.flatnonzero(flags & LAST)``); the hour (``ts_event // hour``) of each print (T record)
    that differs from the previous print's, so the distinct hours with prints are their set;
    and the index of the first record whose event time is before the one before it
    (``len(recs)``: the times never go back). O(len)."""
    flags, act, ts = recs["flags"], recs.action, recs.ts_event
    n = len(flags)
    lasts = np.empty(n, dtype=np.int64)
    hours = np.empty(n, dtype=np.int64)
    k = m = 0
    back = n
    for j in range(n):
        if flags[j] & LAST:
            lasts[k] = j
            k += 1
        if act[j] == TRADE:
            h = ts[j] // hour
            if m == 0 or h != hours[m - 1]:
                hours[m] = h
                m += 1
        if back == n and j and ts[j] < ts[j - 1]:
            back = j
    return lasts[:k].copy(), hours[:m].copy(), back
