"""Which L3 records of a piece of market data can touch one of our orders: one jitted pass.

:meth:`~orderflow.backtest.matching.Matching._pass_l3` runs only these records in Python,
against the queue model. Relevant are: a record of an order queued ahead of one of ours; a
clear (while an order of ours rests); a print through a resting price of ours or at or
through a trigger; a print at a resting price that could reach the order, i.e. whose event
volume so far (at its price and aggressor side) exceeds a lower bound of what is ahead then
(ahead now less the most the records of the orders ahead could remove before it: a cancel
its size, a modify at most the order).

:func:`clear_l3` gives how far a window of records is clear of them (its first relevant
record), so that the pieces before it need not be looked at one by one.

A backtest deciding every 100 records asks this once per piece of about 100 records: the
vectorised form (a score of small numpy calls) cost more than the records themselves, so it
is one loop over the piece here, O(records x our orders) with a binary search in the ids
ahead. The same answer as that form, record for record
(``tests/unit/backtest/test_relevant.py`` holds it as the reference).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.backtest.model import (
    ASK,
    BID,
    CLEAR,
    FILL,
    LAST,
    MODIFY,
    NONE,
    STOPS,
    TRADE,
    SimOrder,
)
from orderflow.backtest.queues import ahead_sorted
from orderflow.backtest.scans import tail_l3

__all__ = ["OrderArrays", "clear_l3", "order_arrays", "quiet_l3", "relevant_l3", "scan_l3"]

_NO_IDS = np.zeros(0, dtype=np.uint64)
_NO_VALS = np.zeros(0, dtype=np.int64)

#: our orders as the kernel reads them: waiting triggers ``(price, fires upward)`` per row;
#: resting limits ``(price, buy, first, end)`` per row, ``first:end`` their slice of the ids
#: (sorted) and sizes of the orders ahead; each resting limit's size ahead
OrderArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def order_arrays(waiting: list[SimOrder], resting: list[SimOrder]) -> OrderArrays:
    """The orders for :func:`relevant_l3`: each waiting stop or MIT's trigger price and
    direction (a buy stop and a sell MIT fire on prints at or above it), each resting
    limit's price, side, size ahead and the ids (sorted) and sizes of the orders ahead."""
    w = np.array(
        [(o.stop_ticks, o.is_buy if o.order_type in STOPS else not o.is_buy) for o in waiting],
        dtype=np.int64,
    ).reshape(len(waiting), 2)
    rows: list[tuple[int, bool, int, int]] = []
    ids: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    end = 0
    for o in resting:
        assert o.limit_ticks is not None
        q = o.queue
        first = end
        if q.ahead_ids:
            keys, sizes = ahead_sorted(q)
            ids.append(keys)
            vals.append(sizes)
            end += len(keys)
        rows.append((o.limit_ticks, o.is_buy, first, end))
    r = np.array(rows, dtype=np.int64).reshape(len(resting), 4)
    ahead = np.array([o.queue.ahead for o in resting], dtype=np.float64)
    if len(ids) == 1:
        return w, r, ahead, ids[0], vals[0]
    if ids:
        return w, r, ahead, np.concatenate(ids), np.concatenate(vals)
    return w, r, ahead, _NO_IDS, _NO_VALS


@njit(cache=True)
def relevant_l3(seg, lasts, fills_print, w, r, r_ahead, ids, vals):  # type: ignore[no-untyped-def]
    """The relevant records of the piece ``seg`` (module docstring), in order, and for each
    the volume its event printed so far at its price and aggressor side (0 for a record that
    is not a print). ``lasts``: the indices of the records that end an event. ``fills_print``:
    the prints are the F records of resting orders (LOBSTER) and T, the aggressor of an F
    being the other side. The orders are :func:`order_arrays`'."""
    mark, cum_of, n = _marks(seg, lasts, fills_print, w, r, r_ahead, ids, vals, False)
    count = 0
    for j in range(n):
        count += mark[j]
    rel = np.empty(count, dtype=np.int64)
    rel_cum = np.zeros(count, dtype=np.int64)
    i = 0
    for j in range(n):
        if mark[j]:
            rel[i] = j
            if cum_of[j] >= 0:
                rel_cum[i] = cum_of[j]
            i += 1
    return rel, rel_cum


@njit(cache=True)
def _marks(seg, lasts, fills_print, w, r, r_ahead, ids, vals, first):  # type: ignore[no-untyped-def]
    """:func:`relevant_l3`'s pass: which records are relevant (``mark``), each print's event
    volume so far (``cum_of``, -1 for other records) and how many records were looked at;
    with ``first``, no further than the first relevant record (none after it is looked at:
    the earliest is all :func:`clear_l3` needs), else all of them."""
    act, price, size, side, oid = seg.action, seg.price, seg["size"], seg.side, seg.order_id
    n = len(act)
    nr, nw = r.shape[0], w.shape[0]
    mark = np.zeros(n, dtype=np.bool_)
    cum_of = np.full(n, -1, dtype=np.int64)  # -1: not a print; else the event's volume so far
    tside = np.zeros(n, dtype=np.int64)  # a print's aggressor side
    can_fill = np.zeros(n, dtype=np.bool_)
    ev_prev, p_prev, s_prev, run = -1, np.int64(0), np.int64(0), np.int64(0)
    e = 0  # searchsorted(lasts, j), left, as j grows
    nl = len(lasts)
    for j in range(n):
        if first and j and mark[j - 1]:  # (the earliest relevant record: looked no further)
            n = j
            break
        a = act[j]
        if a == CLEAR and nr:
            mark[j] = True
        if not (a == TRADE or (fills_print and a == FILL)):
            continue
        sd = np.int64(side[j])
        cf = True
        if fills_print:
            cf = a == FILL
            if cf and sd != NONE:
                sd = 1 - sd
        tside[j], can_fill[j] = sd, cf
        while e < nl and lasts[e] < j:
            e += 1
        p = np.int64(price[j])
        if ev_prev < 0 or e != ev_prev or p != p_prev or sd != s_prev:
            run = np.int64(0)
        run += np.int64(size[j])
        cum_of[j] = run
        ev_prev, p_prev, s_prev = e, p, sd
        for k in range(nw):
            if (p >= w[k, 0]) if w[k, 1] else (p <= w[k, 0]):
                mark[j] = True
        if cf:
            for k in range(nr):
                if (p < r[k, 0]) if r[k, 1] else (p > r[k, 0]):
                    mark[j] = True
    for k in range(nr):
        lim, want, lo, hi = r[k, 0], ASK if r[k, 1] else BID, r[k, 2], r[k, 3]
        ahead = r_ahead[k]
        before = np.int64(0)  # the most the records ahead before this one could remove
        for j in range(n):
            if cum_of[j] >= 0 and can_fill[j] and np.int64(price[j]) == lim:
                sd = tside[j]
                if (sd == want or sd == NONE) and cum_of[j] > ahead - before:  # noqa: SIM109
                    mark[j] = True
                    if first:  # (the orders after this one look no further)
                        n = j + 1
                        break
            if hi > lo:
                x = oid[j]
                a_, b_ = lo, hi  # binary search of x in ids[lo:hi]
                while a_ < b_:
                    m = (a_ + b_) >> 1
                    if ids[m] < x:
                        a_ = m + 1
                    else:
                        b_ = m
                if a_ < hi and ids[a_] == x:
                    mark[j] = True
                    if first:
                        n = j + 1
                        break
                    before += vals[a_] if act[j] == MODIFY else np.int64(size[j])
    return mark, cum_of, n


@njit(cache=True)
def _lasts(flags):  # type: ignore[no-untyped-def]
    """The indices of the records that end an event (LAST set), in order."""
    n = len(flags)
    count = 0
    for j in range(n):
        if flags[j] & LAST:
            count += 1
    lasts = np.empty(count, dtype=np.int64)
    i = 0
    for j in range(n):
        if flags[j] & LAST:
            lasts[i] = j
            i += 1
    return lasts


@njit(cache=True)
def scan_l3(seg, fills_print, w, r, r_ahead, ids, vals):  # type: ignore[no-untyped-def]
    """A piece ``seg`` while orders of ours work, in one call: the indices of its records
    that end an event (LAST), :func:`relevant_l3`'s records and volumes over them, and
    :func:`~orderflow.backtest.scans.tail_l3`'s events and last print (price, 1) or (0, 0)
    of the whole piece. The same functions' answers; one call instead of four."""
    lasts = _lasts(seg["flags"])
    rel, rel_cum = relevant_l3(seg, lasts, fills_print, w, r, r_ahead, ids, vals)
    events, price, printed = tail_l3(seg, fills_print)
    return lasts, rel, rel_cum, events, price, printed


@njit(cache=True)
def quiet_l3(seg, fills_print, w, r, r_ahead, ids, vals):  # type: ignore[no-untyped-def]
    """:func:`scan_l3`'s answer as far as a piece with nothing relevant needs it: how many
    records are relevant, the piece's events and its last print (price, printed). The same
    pass; only numbers come back (numba boxes each array it returns, about 0.4 us each)."""
    _, rel, _, events, price, printed = scan_l3(seg, fills_print, w, r, r_ahead, ids, vals)
    return len(rel), events, price, printed


@njit(cache=True)
def clear_l3(seg, fills_print, w, r, r_ahead, ids, vals):  # type: ignore[no-untyped-def]
    """How many records of ``seg``, from its first, touch none of our orders: the index of its
    first relevant record (:func:`relevant_l3`'s first), ``len(seg)`` when there is none.
    ``seg`` starts at an event's start; it may end anywhere. Before the first relevant record
    no record of an order ahead has come (each is relevant), so any piece of ``seg`` from an
    event's start that ends before that record has no relevant record either."""
    lasts = _lasts(seg["flags"])
    mark, _, n = _marks(seg, lasts, fills_print, w, r, r_ahead, ids, vals, True)
    for j in range(n):
        if mark[j]:
            return j
    return len(seg)
