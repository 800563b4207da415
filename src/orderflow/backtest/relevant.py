"""Which L3 records of a piece of market data can touch one of our orders: one jitted pass.

:meth:`~orderflow.backtest.matching.Matching._pass_l3` runs only these records in Python,
against the queue model. Relevant are: a record of an order queued ahead of one of ours; a
clear (while an order of ours rests); a print through a resting price of ours or at or
through a trigger; a print at a resting price that could reach the order, i.e. whose event
volume so far (at its price and aggressor side) exceeds a lower bound of what is ahead then
(ahead now less the most the records of the orders ahead could remove before it: a cancel
its size, a modify at most the order).

A backtest deciding every 100 records asks this once per piece of about 100 records: the
vectorised form (a score of small numpy calls) cost more than the records themselves, so it
is one loop over the piece here, O(records x our orders) with a binary search in the ids
ahead. The same answer as that form, record for record
(``tests/unit/backtest/test_relevant.py`` holds it as the reference).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.backtest.model import ASK, BID, CLEAR, FILL, MODIFY, NONE, STOPS, TRADE, SimOrder
from orderflow.backtest.queues import sorted_ahead

__all__ = ["OrderArrays", "order_arrays", "relevant_l3"]

_NO_IDS = np.zeros(0, dtype=np.uint64)
_NO_VALS = np.zeros(0, dtype=np.int64)

#: our orders as the kernel reads them: waiting triggers (price, fires upward), resting
#: limits (price, buy, size ahead, the slice of ``ids``/``vals`` of the orders ahead)
OrderArrays = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray,
]  # fmt: skip


def order_arrays(waiting: list[SimOrder], resting: list[SimOrder]) -> OrderArrays:
    """The orders for :func:`relevant_l3`: each waiting stop or MIT's trigger price and
    direction (a buy stop and a sell MIT fire on prints at or above it), each resting
    limit's price, side, size ahead and the ids (sorted) and sizes of the orders ahead."""
    w_stop = np.empty(len(waiting), dtype=np.int64)
    w_up = np.empty(len(waiting), dtype=np.bool_)
    for i, o in enumerate(waiting):
        assert o.stop_ticks is not None
        w_stop[i] = o.stop_ticks
        w_up[i] = o.is_buy if o.order_type in STOPS else not o.is_buy
    n = len(resting)
    r_lim = np.empty(n, dtype=np.int64)
    r_buy = np.empty(n, dtype=np.bool_)
    r_ahead = np.empty(n, dtype=np.float64)
    r_off = np.zeros(n + 1, dtype=np.int64)
    ids: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for i, o in enumerate(resting):
        assert o.limit_ticks is not None
        q = o.queue
        r_lim[i], r_buy[i], r_ahead[i] = o.limit_ticks, o.is_buy, q.ahead
        if q.ahead_ids:
            keys = sorted_ahead(q)
            ids.append(keys)
            vals.append(np.fromiter((q.ahead_ids[k] for k in keys.tolist()), np.int64, len(keys)))
        r_off[i + 1] = r_off[i] + (len(ids[-1]) if q.ahead_ids else 0)
    if len(ids) == 1:
        r_ids, r_vals = ids[0], vals[0]
    elif ids:
        r_ids, r_vals = np.concatenate(ids), np.concatenate(vals)
    else:
        r_ids, r_vals = _NO_IDS, _NO_VALS
    return w_stop, w_up, r_lim, r_buy, r_ahead, r_off, r_ids, r_vals


@njit(cache=True)
def relevant_l3(act, price, size, side, oid, lasts, fills_print,  # type: ignore[no-untyped-def]
                w_stop, w_up, r_lim, r_buy, r_ahead, r_off, r_ids, r_vals):  # fmt: skip
    """The relevant records of a piece (module docstring), in order, and for each the
    volume its event printed so far at its price and aggressor side (0 for a record that
    is not a print). ``lasts``: the indices of the records that end an event. ``fills_print``:
    the prints are the F records of resting orders (LOBSTER) and T, the aggressor of an F
    being the other side. The order arrays are :func:`order_arrays`'."""
    n = len(act)
    nr = len(r_lim)
    nw = len(w_stop)
    mark = np.zeros(n, dtype=np.bool_)
    cum_of = np.zeros(n, dtype=np.int64)
    is_print = np.zeros(n, dtype=np.bool_)
    # the prints' aggressor side, fill rights and running volume per (event, price, side)
    ev_prev, p_prev, s_prev, run = -1, np.int64(0), np.int64(0), np.int64(0)
    first = True
    tside = np.zeros(n, dtype=np.int64)
    can_fill = np.zeros(n, dtype=np.bool_)
    e = 0  # searchsorted(lasts, j), left, as j grows
    nl = len(lasts)
    for j in range(n):
        a = act[j]
        if not (a == TRADE or (fills_print and a == FILL)):
            continue
        is_print[j] = True
        sd = np.int64(side[j])
        cf = True
        if fills_print:
            is_f = a == FILL
            if is_f and sd != NONE:
                sd = 1 - sd
            cf = is_f
        tside[j], can_fill[j] = sd, cf
        while e < nl and lasts[e] < j:
            e += 1
        p = np.int64(price[j])
        if first or e != ev_prev or p != p_prev or sd != s_prev:
            run = np.int64(0)
            first = False
        run += np.int64(size[j])
        cum_of[j] = run
        ev_prev, p_prev, s_prev = e, p, sd
    if nr:
        for j in range(n):
            if act[j] == CLEAR:
                mark[j] = True
    for j in range(n):
        if not is_print[j]:
            continue
        p = np.int64(price[j])
        for k in range(nw):
            if (p >= w_stop[k]) if w_up[k] else (p <= w_stop[k]):
                mark[j] = True
        if can_fill[j]:
            for k in range(nr):
                if (p < r_lim[k]) if r_buy[k] else (p > r_lim[k]):
                    mark[j] = True
    for k in range(nr):
        lo, hi = r_off[k], r_off[k + 1]
        keys = r_ids[lo:hi]
        lim, buy, ahead = r_lim[k], r_buy[k], r_ahead[k]
        want = ASK if buy else BID
        before = np.int64(0)  # the most the records ahead before this one could remove
        for j in range(n):
            if is_print[j] and can_fill[j] and np.int64(price[j]) == lim:
                sd = tside[j]
                if (sd == want or sd == NONE) and cum_of[j] > ahead - before:  # noqa: SIM109
                    mark[j] = True
            if hi > lo:
                x = oid[j]
                at = np.searchsorted(keys, x)
                if at < hi - lo and keys[at] == x:
                    mark[j] = True
                    if act[j] == MODIFY:
                        before += r_vals[lo + at]
                    else:
                        before += np.int64(size[j])
    rel = np.flatnonzero(mark).astype(np.int64)
    rel_cum = np.zeros(len(rel), dtype=np.int64)
    for i in range(len(rel)):
        if is_print[rel[i]]:
            rel_cum[i] = cum_of[rel[i]]
    return rel, rel_cum
