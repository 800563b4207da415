"""Jitted kernel of the pulling/stacking detector. Private: use
:mod:`orderflow.signals.detectors_pull`.

:func:`run` feeds event groups ``st[S_POS]..`` through the rule documented in
:mod:`~orderflow.signals.detectors_pull`. The live path passes one group, the batch path all
of a :class:`~orderflow.book.common.DepthRecord`; both keep their state in the same arrays:

* ``st`` (int64, :data:`ST_SIZE`): header counters, parameters, and per episode ring
  ``r = 2 * side + kind`` (kind 0 pulled, 1 stacked) its head, count and running sum;
* ``prev`` ``(4, Wp)``: bid price/size, ask price/size after the previous group;
* ``ring`` ``(4, cap, RCOLS)``: the groups of each open episode (ts, size, lowest and highest
  price where it was pulled or stacked), circular from the ring's head.

Before a group changes anything the kernel checks there is room for its worst case (one more
entry per ring, :data:`ROWS_PER_GROUP` output rows); if not it stores the group in
``st[S_POS]`` and returns ``-NEED_*``: the wrapper grows that array (doubling) and calls again.
"""

from __future__ import annotations

import numpy as np

from orderflow.book._jit import inline_kernel, kernel

NO_PRICE = np.iinfo(np.int64).min
BUYER, SELLER = 0, 1  # aggressor sides (model.enums.Side); anything else: unknown

OK = 0
NEED_RING, NEED_OUT = 1, 2

# ---- st ---------------------------------------------------------------------------------------
S_POS = 0  # group to resume at after a NEED_* return
S_PRIMED = 1  # prev holds a group
S_NOUT = 2  # rows used in out
S_PW = 3  # how many levels per side the previous group recorded
S_RING = 4  # + RING_N * r: head, count, sum
R_HEAD, R_COUNT, R_SUM = range(3)
RING_N = 3
P_NEAR = 16
P_WIN = 17
P_MIN = 18
ST_SIZE = 20

# ---- ring columns and out rows ------------------------------------------------------------------
C_TS, C_SIZE, C_LO, C_HI = range(4)
RCOLS = 4
K_PULLED, K_STACKED = 0, 1
O_KIND, O_TS, O_SIDE, O_PRICE, O_SIZE, O_GROUPS, O_FIRST, O_LO, O_HI = range(9)
OCOLS = 9
#: most rows one group can write: pulled and stacked on both sides
ROWS_PER_GROUP = 4


@inline_kernel
def _seen(px: np.ndarray, sz: np.ndarray, base: int, w: int, sd: int, p: int) -> int:
    """Size at price ``p`` in levels ``base..base + w`` of side ``sd``: its size when shown, 0
    when it would be shown (the side has fewer than ``w`` levels, or ``p`` is better than the
    deepest one), -1 when it is out of sight."""
    n = 0
    for i in range(w):
        q = px[base + i]
        if q == NO_PRICE:
            break
        if q == p:
            return int(sz[base + i])
        n += 1
    if n < w:
        return 0
    deepest = px[base + n - 1]
    if (p > deepest) if sd == 0 else (p < deepest):
        return 0
    return -1


@inline_kernel
def _hits(sd: int, agg: int, price: int, best_bid: int, best_ask: int) -> bool:
    """A print by aggressor ``agg`` at ``price`` traded against side ``sd`` (an unknown
    aggressor: against the bid at or below the best bid, against the ask at or above the best
    ask, as the book metrics count it)."""
    if agg == SELLER:
        return sd == 0
    if agg == BUYER:
        return sd == 1
    if sd == 0:
        return best_bid != NO_PRICE and price <= best_bid
    return best_ask != NO_PRICE and price >= best_ask


@inline_kernel
def _episode(
    st: np.ndarray,
    ring: np.ndarray,
    out: np.ndarray,
    r: int,
    ts: int,
    size: int,
    lo: int,
    hi: int,
    sd: int,
    touch: int,
) -> None:
    """One group's pulled (or stacked) ``size`` into ring ``r``: entries older than the window
    leave, this one joins; at ``min_size`` the episode fires and ends."""
    b = S_RING + RING_N * r
    cap = ring.shape[1]
    head, count = st[b + R_HEAD], st[b + R_COUNT]
    horizon = ts - st[P_WIN]
    while count > 0 and ring[r, head, C_TS] < horizon:
        st[b + R_SUM] -= ring[r, head, C_SIZE]
        head = (head + 1) % cap
        count -= 1
    if count == 0:
        head = 0
    j = (head + count) % cap
    ring[r, j, C_TS], ring[r, j, C_SIZE] = ts, size
    ring[r, j, C_LO], ring[r, j, C_HI] = lo, hi
    count += 1
    st[b + R_SUM] += size
    if st[b + R_SUM] >= st[P_MIN]:
        o = st[S_NOUT]
        st[S_NOUT] = o + 1
        low, high = lo, hi
        for k in range(count):
            e = (head + k) % cap
            low = min(low, ring[r, e, C_LO])
            high = max(high, ring[r, e, C_HI])
        out[o, O_KIND] = r % 2
        out[o, O_TS] = ts
        out[o, O_SIDE] = sd
        out[o, O_PRICE] = touch
        out[o, O_SIZE] = st[b + R_SUM]
        out[o, O_GROUPS] = count
        out[o, O_FIRST] = ring[r, head, C_TS]
        out[o, O_LO] = low
        out[o, O_HI] = high
        head, count = 0, 0
        st[b + R_SUM] = 0
    st[b + R_HEAD], st[b + R_COUNT] = head, count


@kernel
def run(
    ts_: np.ndarray,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    w: int,
    off: np.ndarray,
    tpx: np.ndarray,
    tsz: np.ndarray,
    tsd: np.ndarray,
    st: np.ndarray,
    prev: np.ndarray,
    ring: np.ndarray,
    out: np.ndarray,
) -> int:
    """Groups ``st[S_POS]..len(ts_)``: group ``g`` has the top-``w`` levels
    ``bp[g * w : (g + 1) * w]`` (etc.) after it and the prints ``off[g]:off[g + 1]``. Returns
    the rows used in ``out`` with ``st[S_POS]`` back at 0, or ``-NEED_*`` with ``st[S_POS]``
    the group that found no room (nothing of it done yet). O(prints + near x (N + prints))
    per group."""
    nb = ts_.shape[0]
    wp = prev.shape[1]
    near = st[P_NEAR]
    for g in range(st[S_POS], nb):
        if st[S_NOUT] + ROWS_PER_GROUP > out.shape[0]:
            st[S_POS] = g
            return -NEED_OUT
        for r in range(4):
            if st[S_RING + RING_N * r + R_COUNT] + 1 > ring.shape[1]:
                st[S_POS] = g
                return -NEED_RING
        ts = ts_[g]
        base = g * w
        t0, t1 = off[g], off[g + 1]
        if st[S_PRIMED] != 0:
            best_bid, best_ask = prev[0, 0], prev[2, 0]
            pw = st[S_PW]
            for sd in range(2):
                touch = prev[2 * sd, 0]
                if touch == NO_PRICE:
                    continue
                px, sz = (bp, bs) if sd == 0 else (ap, asz)
                d = -1 if sd == 0 else 1  # deeper prices: lower bids, higher asks
                pulled = stacked = 0
                p_lo = p_hi = s_lo = s_hi = NO_PRICE
                for k in range(near + 1):
                    p = touch + d * k
                    before = _seen(prev[2 * sd], prev[2 * sd + 1], 0, pw, sd, p)
                    after = _seen(px, sz, base, w, sd, p)
                    if before < 0 or after < 0:
                        continue
                    traded = 0
                    for t in range(t0, t1):
                        if tpx[t] == p and _hits(sd, tsd[t], p, best_bid, best_ask):
                            traded += tsz[t]
                    net = after - before + traded
                    if net < 0:
                        pulled -= net
                        p_lo = p if p_lo == NO_PRICE else min(p_lo, p)
                        p_hi = p if p_hi == NO_PRICE else max(p_hi, p)
                    elif net > 0:
                        stacked += net
                        s_lo = p if s_lo == NO_PRICE else min(s_lo, p)
                        s_hi = p if s_hi == NO_PRICE else max(s_hi, p)
                if pulled > 0:
                    _episode(st, ring, out, 2 * sd, ts, pulled, p_lo, p_hi, sd, touch)
                if stacked > 0:
                    _episode(st, ring, out, 2 * sd + 1, ts, stacked, s_lo, s_hi, sd, touch)
        for i in range(w):
            prev[0, i], prev[1, i] = bp[base + i], bs[base + i]
            prev[2, i], prev[3, i] = ap[base + i], asz[base + i]
        for i in range(w, wp):
            prev[0, i], prev[1, i], prev[2, i], prev[3, i] = NO_PRICE, 0, NO_PRICE, 0
        st[S_PRIMED] = 1
        st[S_PW] = w
    st[S_POS] = 0
    return int(st[S_NOUT])
