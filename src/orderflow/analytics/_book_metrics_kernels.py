"""Jitted kernels of the book metrics. Private: use :mod:`orderflow.analytics.book_metrics`.

One per-group kernel, ``_step``, inlined into the two entry points: :func:`run` (the batch, every
row of a :class:`~orderflow.book.common.DepthRecord`) and ``_update_py`` (one group, compiled for
int64 arrays by :func:`update_kernel`), so both paths give identical numbers. The formulas and the
layout of the int and float buffers are documented in :mod:`~orderflow.analytics.book_metrics`
(and its ``_pack``); the constants below name the columns and offsets of those buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any, cast

import numpy as np
from numba import njit, types
from numba.cpython.unsafe import numbers as _unsafe_numbers

from orderflow.book._jit import KERNEL, inline_kernel, kernel
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Side

# Bit counts of an int64, for jitted code only. numba's stub types an @intrinsic as called with
# its typing context first (and returning Never); jitted code passes the integer alone.
trailing_zeros = cast("Callable[[int], int]", _unsafe_numbers.trailing_zeros)
leading_zeros = cast("Callable[[int], int]", _unsafe_numbers.leading_zeros)

#: "no time": a level that is not a wall has this ``since``.
NO_TS = -1

# int outputs (per group): spread, depth within K, pulled/stacked/traded per side and totals
C_SPREAD, C_DEPTH_BID, C_DEPTH_ASK = 0, 1, 2
C_PS = 3  # + 3 * side + (0 pulled, 1 stacked, 2 traded) this group
C_CUM = 9  # + 3 * side + (0 pulled, 1 stacked, 2 traded) running totals
C_NLV = 15  # + side: prices in the group's per-level pulling/stacking rows
NI = 17
# float outputs
F_MID, F_MICRO, F_BID_W, F_ASK_W, F_RATIO, F_IMB, F_REF = 0, 1, 2, 3, 4, 5, 6  # F_REF + side
NF = 8
# int params (P_UNIT: all imbalance weights are 1, P_NWT: their count), then the layout of the
# flat int buffer they head (see _pack) and of the float one
P_OFI_L, P_WIN_EV, P_WIN_NS, P_DEPTH_K, P_ANCHOR_MID, P_PS_L, P_WALL_L, P_MEDIAN, P_MIN = range(9)
P_UNIT, P_NWT, P_WIDTH, P_O_PREV, P_O_ACC, P_O_WALL, P_MEM = 9, 10, 11, 12, 13, 14, 15
P_O_OFI, P_O_OFS, P_O_SINCE, P_O_LV, P_OUT, P_O_OF = 16, 17, 18, 19, 20, 21
NP = 22
# int state: scalars, then running pulled/stacked/traded at NS + 3 * side + (0, 1, 2)
S_PRIMED, S_HEAD, S_COUNT, S_NWALL, S_NLEV = 0, 1, 2, 3, 5  # S_NWALL, S_NLEV + side
NS = 7
NST = NS + 6
# aggressor sides as plain ints for the kernels; the highest price
_BID, _ASK = int(Side.BID), int(Side.ASK)
MAX_PRICE = np.iinfo(np.int64).max


# ---- kernels ---------------------------------------------------------------------------------
# All of them are inlined into the two entry points (run, _update_py): a call between numba
# functions passes every array as a struct and costs more than most of these bodies. Output rows
# are 1-D (a row of the batch's arrays, or a slice of the incremental path's flat buffer), so
# the incremental path needs no reshape.
@inline_kernel
def _size_at(px: np.ndarray, sz: np.ndarray, price: int, bid: bool) -> int:
    """Size at ``price`` in a best-first level array: 0 when absent, -1 when out of sight."""
    for i in range(px.shape[0]):
        p = px[i]
        if p == NO_PRICE or (bid and p < price) or (not bid and p > price):
            return 0
        if p == price:
            return int(sz[i])
    return -1


@inline_kernel
def _n_levels(px: np.ndarray, n: int) -> int:
    """Levels before the first empty one, at most ``n``."""
    k = 0
    while k < n and px[k] != NO_PRICE:
        k += 1
    return k


@inline_kernel
def _ofi(
    pbp: np.ndarray,
    pbs: np.ndarray,
    pap: np.ndarray,
    pas: np.ndarray,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    m: int,
) -> int:
    """Cont-Kukanov-Stoikov OFI at level ``m`` (empty bid = -inf, empty ask = +inf)."""
    pb, qb, pa, qa = pbp[m], pbs[m], pap[m], pas[m]
    e = 0
    if bp[m] != NO_PRICE and (pb == NO_PRICE or bp[m] >= pb):
        e += bs[m]
    if pb != NO_PRICE and (bp[m] == NO_PRICE or bp[m] <= pb):
        e -= qb
    if ap[m] != NO_PRICE and (pa == NO_PRICE or ap[m] <= pa):
        e -= asz[m]
    if pa != NO_PRICE and (ap[m] == NO_PRICE or ap[m] >= pa):
        e += qa
    return e


@inline_kernel
def _rest(s: int, p: int, pb: int, pa: int) -> int:
    """The side a trade at ``p`` with aggressor ``s`` printed against (-1: neither): a buyer
    hits the ask, a seller the bid, an unknown aggressor the side whose previous best
    (``pb``/``pa``) the price reached."""
    if s == _BID:
        return _ASK
    if s == _ASK or (pb != NO_PRICE and p <= pb):
        return _BID
    if pa != NO_PRICE and p >= pa:
        return _ASK
    return -1


@inline_kernel
def _traded_at(p: int, sd: int, tb: np.ndarray, pb: int, pa: int, t0: int, t1: int) -> int:
    """Volume printed against side ``sd`` at price ``p`` (trades ``t0:t1`` of ``tb``)."""
    tr = 0
    for t in range(t0, t1):
        if tb[0, t] == p and _rest(tb[2, t], p, pb, pa) == sd:
            tr += tb[1, t]
    return tr


@inline_kernel
def _record_level(
    p: int,
    old: int,
    new: int,
    tr: int,
    at: int,
    lpx: np.ndarray,
    ldelta: np.ndarray,
    ltr: np.ndarray,
) -> tuple[int, int]:
    """One level that changed or traded: its row ``at`` of the per-level arrays, and its
    (pulled, stacked) contribution: the size change net of what traded there."""
    net = new - old + tr
    lpx[at], ldelta[at], ltr[at] = p, new - old, tr
    return max(-net, 0), max(net, 0)


@inline_kernel
def _pull_stack(
    sd: int,
    old_px: np.ndarray,
    old_sz: np.ndarray,
    px: np.ndarray,
    sz: np.ndarray,
    ni: int,
    nj: int,
    tb: np.ndarray,
    pb: int,
    pa: int,
    t0: int,
    t1: int,
    lpx: np.ndarray,
    ldelta: np.ndarray,
    ltr: np.ndarray,
    oi: np.ndarray,
) -> tuple[int, int, int]:
    """Per-price pulling/stacking of one side whose prices moved: a merge of the old and new
    top levels (``ni`` and ``nj`` of them). Writes the prices that changed or traded to the
    per-level rows (their count to ``oi``) and returns (pulled, stacked, traded)."""
    bid = sd == 0
    o = sd * (lpx.shape[0] // 2)
    i = j = k = 0
    pulled = stacked = traded = 0
    while i < ni or j < nj:
        if j >= nj or (i < ni and ((old_px[i] > px[j]) if bid else (old_px[i] < px[j]))):
            p, old, new = old_px[i], old_sz[i], _size_at(px, sz, old_px[i], bid)
            i += 1
        elif i >= ni or old_px[i] != px[j]:
            p, old, new = px[j], _size_at(old_px, old_sz, px[j], bid), sz[j]
            j += 1
        else:
            p, old, new = px[j], old_sz[i], sz[j]
            i += 1
            j += 1
        if old < 0 or new < 0:
            continue
        tr = _traded_at(p, sd, tb, pb, pa, t0, t1) if t1 > t0 else 0
        if new == old and tr == 0:
            continue
        pl, st = _record_level(p, old, new, tr, o + k, lpx, ldelta, ltr)
        pulled, stacked, traded, k = pulled + pl, stacked + st, traded + tr, k + 1
    oi[C_NLV + sd] = k
    return pulled, stacked, traded


@inline_kernel
def _pull_stack_aligned(
    sd: int,
    px: np.ndarray,
    old_sz: np.ndarray,
    sz: np.ndarray,
    m: int,
    d0: int,
    d1: int,
    tb: np.ndarray,
    pb: int,
    pa: int,
    t0: int,
    t1: int,
    lpx: np.ndarray,
    ldelta: np.ndarray,
    ltr: np.ndarray,
    oi: np.ndarray,
) -> tuple[int, int, int]:
    """``_pull_stack`` when the prices did not move (the usual case): only the levels in
    ``d0..d1`` changed size, and only those in the price range traded against this side can
    have traded volume, so no other level needs a look. Same outputs, same order."""
    o = sd * (lpx.shape[0] // 2)
    tlo, thi = MAX_PRICE, NO_PRICE
    for t in range(t0, t1):
        if _rest(tb[2, t], tb[0, t], pb, pa) == sd:
            tlo, thi = min(tlo, tb[0, t]), max(thi, tb[0, t])
    lo, hi = (0, m) if tlo <= thi else (min(d0, m), min(d1 + 1, m))
    k = 0
    pulled = stacked = traded = 0
    for i in range(lo, hi):
        p, old, new = px[i], old_sz[i], sz[i]
        if old < 0 or new < 0:
            continue
        tr = _traded_at(p, sd, tb, pb, pa, t0, t1) if tlo <= p <= thi else 0
        if new == old and tr == 0:
            continue
        pl, st = _record_level(p, old, new, tr, o + k, lpx, ldelta, ltr)
        pulled, stacked, traded, k = pulled + pl, stacked + st, traded + tr, k + 1
    oi[C_NLV + sd] = k
    return pulled, stacked, traded


@inline_kernel
def _resort(srt: np.ndarray, k: int, old: int, new: int) -> bool:
    """Replaces one ``old`` by ``new`` in the sorted ``srt[:k]``; False if ``old`` is absent."""
    p = 0
    while p < k and srt[p] != old:
        p += 1
    if p == k:
        return False
    if new > old:
        while p + 1 < k and srt[p + 1] < new:
            srt[p] = srt[p + 1]
            p += 1
    else:
        while p > 0 and srt[p - 1] > new:
            srt[p] = srt[p - 1]
            p -= 1
    srt[p] = new
    return True


@inline_kernel
def _walls(
    sd: int,
    ts: int,
    px: np.ndarray,
    sz: np.ndarray,
    old_sz: np.ndarray,
    k: int,
    aligned: bool,
    d0: int,
    d1: int,
    pi: np.ndarray,
    multiple: float,
    st: np.ndarray,
    walls: np.ndarray,
    since: np.ndarray,
) -> float:
    """Marks the walls of one side in its half of the ``since`` row (their start time, else
    NO_TS), keeping a wall's start while it stays one; returns the reference size (median or
    mean, NaN if empty). ``k``: the side's levels in the top ``P_WALL_L``. ``walls`` holds the
    wall prices and starts (``2 x n`` each) and the sorted sizes of each side's levels: when
    the prices are ``aligned`` with the previous boundary's, only the sizes that changed (in
    ``d0..d1``) are moved (measured faster than sorting again)."""
    n = pi[P_WALL_L]
    ref = np.nan
    if k > 0:
        if pi[P_MEDIAN] != 0:
            s = walls[(4 + sd) * n : (5 + sd) * n]
            ok = aligned
            if aligned:
                for i in range(d0, min(d1 + 1, k)):
                    if sz[i] != old_sz[i] and not _resort(s, k, old_sz[i], sz[i]):
                        ok = False
                        break
            if not ok:
                for i in range(k):  # insertion sort: k <= levels, usually 10
                    v, j = sz[i], i
                    while j > 0 and s[j - 1] > v:
                        s[j] = s[j - 1]
                        j -= 1
                    s[j] = v
            ref = (s[(k - 1) // 2] + s[k // 2]) / 2.0
        else:
            tot = 0
            for i in range(k):
                tot += sz[i]
            ref = tot / k
    wp, ws, o = sd * n, (2 + sd) * n, sd * n  # wall prices, wall starts, since row
    nw_old = st[S_NWALL + sd]
    nw = 0
    thr = multiple * ref
    min_size = pi[P_MIN]
    # an int size x has float(x) >= thr iff x >= ceil(thr), for |thr| < 2**52: int compares
    exact = k > 0 and abs(thr) < 2.0**52
    lim = max(min_size, math.ceil(thr)) if exact else min_size
    for i in range(k):
        x = sz[i]
        s_ = NO_TS
        if x >= lim and (exact or x >= thr):
            s_ = ts
            for w in range(nw_old):
                if walls[wp + w] == px[i]:
                    s_ = walls[ws + w]
            nw += 1
        since[o + i] = s_
    for i in range(k, n):
        since[o + i] = NO_TS
    if nw > 0:  # the old walls were read above; now replace them
        nw = 0
        for i in range(k):
            if since[o + i] != NO_TS:
                walls[wp + nw], walls[ws + nw] = px[i], since[o + i]
                nw += 1
    st[S_NWALL + sd] = nw
    return ref


@inline_kernel
def _changed(mask: int, sz: np.ndarray, old_sz: np.ndarray) -> tuple[int, int]:
    """The first and last level whose size changed (``w, -1`` if none), from ``mask``, bit i
    set if level i changed (bit 62: some level from 62 on)."""
    w = sz.shape[0]
    if mask == 0:
        return w, -1
    d0 = trailing_zeros(mask)
    d1 = 63 - leading_zeros(mask)
    if d0 == 62:  # past the bits: find them
        while sz[d0] == old_sz[d0]:
            d0 += 1
    if d1 == 62:
        d1 = w - 1
        while sz[d1] == old_sz[d1]:
            d1 -= 1
    return d0, d1


@inline_kernel
def _step(
    ts: int,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    pbp: np.ndarray,
    pbs: np.ndarray,
    pap: np.ndarray,
    pas: np.ndarray,
    tb: np.ndarray,
    t0: int,
    t1: int,
    pi: np.ndarray,
    pf: np.ndarray,
    st: np.ndarray,
    acc: np.ndarray,
    ring: np.ndarray,
    walls: np.ndarray,
    oi: np.ndarray,
    of: np.ndarray,
    ofi: np.ndarray,
    ofs: np.ndarray,
    since: np.ndarray,
    of_prev: np.ndarray,
    since_prev: np.ndarray,
    lpx: np.ndarray,
    ldelta: np.ndarray,
    ltr: np.ndarray,
) -> None:
    """Every metric of one group into the output rows ``oi``..``ltr``, from and into the state
    (``st``, ``acc``, ``ring``, ``walls``); the trades ``t0:t1`` of ``tb`` (rows price, size,
    aggressor side). ``pbp``..``pas`` are the previous boundary's levels and ``of_prev`` /
    ``since_prev`` the previous group's rows (the batch reads them from its own arrays)."""
    w = bp.shape[0]
    b, a = bp[0], ap[0]
    both = b != NO_PRICE and a != NO_PRICE
    oi[C_SPREAD] = a - b if both else NO_PRICE
    of[F_MID] = (a + b) / 2.0 if both else np.nan
    of[F_MICRO] = (b * asz[0] + a * bs[0]) / (bs[0] + asz[0]) if both else np.nan
    # one pass over the levels, without branches (vector code): the size sums of the imbalance
    # levels, the depth within K ticks (in half ticks so the mid stays an integer), and per
    # side whether the prices moved and which levels changed size
    nwt = min(w, pi[P_NWT])
    k2 = 2 * pi[P_DEPTH_K]
    lim_b = (a + b - k2) if both and pi[P_ANCHOR_MID] else 2 * b - k2
    lim_a = (a + b + k2) if both and pi[P_ANCHOR_MID] else 2 * a + k2
    sb = sa = bits = db = da = moved_b = moved_a = mask_b = mask_a = 0
    one = np.int64(1)
    for i in range(w):
        x, y, pxb, pxa = bs[i], asz[i], bp[i], ap[i]
        top = i < nwt
        sb += x if top else 0
        sa += y if top else 0
        bits |= (x | y) if top else 0
        db += x if (pxb != NO_PRICE) & (2 * pxb >= lim_b) else 0
        da += y if (pxa != NO_PRICE) & (2 * pxa <= lim_a) else 0
        moved_b |= pxb ^ pbp[i]
        moved_a |= pxa ^ pap[i]
        bit = int(one << min(i, 62))  # levels from 62 on share a bit: see _changed
        mask_b |= bit if x != pbs[i] else 0
        mask_a |= bit if y != pas[i] else 0
    oi[C_DEPTH_BID], oi[C_DEPTH_ASK] = db, da
    if pi[P_UNIT] != 0 and nwt <= 32 and bits >> 48 == 0:
        # unit weights: the float sums of sizes in [0, 2**48) are exact integers, so the int
        # sums converted once are the very same doubles
        bw, aw = float(sb), float(sa)
    else:
        bw = aw = 0.0
        for i in range(nwt):
            bw += pf[1 + i] * bs[i]
            aw += pf[1 + i] * asz[i]
    of[F_BID_W], of[F_ASK_W] = bw, aw
    of[F_RATIO] = bw / aw if aw > 0 else (np.inf if bw > 0 else np.nan)
    of[F_IMB] = (bw - aw) / (bw + aw) if bw + aw > 0 else 0.0
    # OFI and its rolling sum (ring of the groups in the window: ts, then OFI per level)
    primed = st[S_PRIMED] != 0
    nl = ofi.shape[0]
    cap = ring.shape[0]
    pos = st[S_HEAD] + st[S_COUNT]  # < 2 * cap: head < cap and count < cap (no % division)
    if pos >= cap:
        pos -= cap
    ring[pos, 0] = ts
    for m in range(nl):
        e = _ofi(pbp, pbs, pap, pas, bp, bs, ap, asz, m) if primed else 0
        ofi[m] = e
        ring[pos, 1 + m] = e
        acc[m] += e
    st[S_COUNT] += 1
    win_ev, win_ns = pi[P_WIN_EV], pi[P_WIN_NS]
    while st[S_COUNT] > 0 and (
        (win_ev > 0 and st[S_COUNT] > win_ev)
        or (win_ev == 0 and ring[st[S_HEAD], 0] <= ts - win_ns)
    ):
        h = st[S_HEAD]
        for m in range(nl):
            acc[m] -= ring[h, 1 + m]
        st[S_HEAD] = h + 1 if h + 1 < cap else 0
        st[S_COUNT] -= 1
    for m in range(nl):
        ofs[m] = acc[m]
    # per side: pulling and stacking against the trades of the group, then the walls
    pb, pa = pbp[0], pap[0]
    n_ps, n_w = pi[P_PS_L], pi[P_WALL_L]
    for sd in range(2):
        if sd == 0:
            px, sz, old_px, old_sz, mask, moved = bp, bs, pbp, pbs, mask_b, moved_b
        else:
            px, sz, old_px, old_sz, mask, moved = ap, asz, pap, pas, mask_a, moved_a
        aligned = moved == 0  # the same prices at the same positions
        d0, d1 = _changed(mask, sz, old_sz)
        same = aligned and d1 < 0
        # levels before the first empty one: kept in the state, unchanged when aligned
        old_nlev = st[S_NLEV + sd]
        nlev = old_nlev if aligned else _n_levels(px, w)
        st[S_NLEV + sd] = nlev
        oi[C_NLV + sd] = 0
        pl = stk = trd = 0
        if primed and aligned:
            pl, stk, trd = _pull_stack_aligned(
                sd, px, old_sz, sz, min(nlev, n_ps), d0, d1, tb, pb, pa, t0, t1, lpx, ldelta, ltr,
                oi
            )  # fmt: skip
        elif primed:
            pl, stk, trd = _pull_stack(
                sd, old_px, old_sz, px, sz, min(old_nlev, n_ps), min(nlev, n_ps), tb, pb, pa, t0,
                t1, lpx, ldelta, ltr, oi
            )  # fmt: skip
        c = 3 * sd
        oi[C_PS + c], oi[C_PS + c + 1], oi[C_PS + c + 2] = pl, stk, trd
        cp, cs, ct = st[NS + c] + pl, st[NS + c + 1] + stk, st[NS + c + 2] + trd
        st[NS + c], st[NS + c + 1], st[NS + c + 2] = cp, cs, ct
        oi[C_CUM + c], oi[C_CUM + c + 1], oi[C_CUM + c + 2] = cp, cs, ct
        if primed and same:  # the walls stand as they were
            of[F_REF + sd] = of_prev[F_REF + sd]
            for i in range(sd * n_w, (sd + 1) * n_w):
                since[i] = since_prev[i]
        else:
            of[F_REF + sd] = _walls(
                sd, ts, px, sz, old_sz, min(nlev, n_w), primed and aligned, d0, d1, pi, pf[0],
                st, walls, since
            )  # fmt: skip
    st[S_PRIMED] = 1


@inline_kernel
def _state(pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Views of the state in the int buffer ``pi``: scalars and totals, the previous top-N (bid
    prices, bid sizes, ask prices, ask sizes), the OFI accumulators and the walls."""
    w, o, a, wl = pi[P_WIDTH], pi[P_O_PREV], pi[P_O_ACC], pi[P_O_WALL]
    return pi[NP : NP + NST], pi[o : o + 4 * w], pi[a:wl], pi[wl : pi[P_MEM]]


@inline_kernel
def _keep(
    prev: np.ndarray, bp: np.ndarray, bs: np.ndarray, ap: np.ndarray, asz: np.ndarray
) -> None:
    """The boundary's levels as the state's previous ones."""
    w = bp.shape[0]
    for i in range(w):
        prev[i], prev[w + i], prev[2 * w + i], prev[3 * w + i] = bp[i], bs[i], ap[i], asz[i]


@kernel
def run(
    ts_: np.ndarray,
    bp_: np.ndarray,
    bs_: np.ndarray,
    ap_: np.ndarray,
    asz_: np.ndarray,
    off: np.ndarray,
    tb: np.ndarray,
    pi: np.ndarray,
    pf: np.ndarray,
    ring: np.ndarray,
    oi: np.ndarray,
    of: np.ndarray,
    ofi: np.ndarray,
    ofs: np.ndarray,
    since: np.ndarray,
    per_level: bool,
    lpx: np.ndarray,
    ldelta: np.ndarray,
    ltr: np.ndarray,
) -> None:
    """The batch: every group (row) of the inputs through ``_step``, from the state in ``pi``
    and ``ring``; ``since`` and the per-level arrays with their last two axes flattened.
    Per-level rows go to row ``r`` when ``per_level``, else to row 0."""
    st, prev, acc, walls = _state(pi)
    w = bp_.shape[1]
    for r in range(ts_.shape[0]):
        lr = r if per_level else 0
        q = r - 1 if r > 0 else 0
        if r > 0:
            pbp, pbs, pap, pas = bp_[q], bs_[q], ap_[q], asz_[q]
        else:
            pbp, pbs, pap, pas = prev[:w], prev[w : 2 * w], prev[2 * w : 3 * w], prev[3 * w :]
        _step(
            ts_[r], bp_[r], bs_[r], ap_[r], asz_[r], pbp, pbs, pap, pas, tb, off[r], off[r + 1],
            pi, pf, st, acc, ring, walls, oi[r], of[r], ofi[r], ofs[r], since[r], of[q],
            since[q], lpx[lr], ldelta[lr], ltr[lr]
        )  # fmt: skip
    if ts_.shape[0] > 0:
        _keep(prev, bp_[-1], bs_[-1], ap_[-1], asz_[-1])


@kernel
def run_two_rows(
    ts_: np.ndarray,
    bp_: np.ndarray,
    bs_: np.ndarray,
    ap_: np.ndarray,
    asz_: np.ndarray,
    off: np.ndarray,
    tb: np.ndarray,
    pi: np.ndarray,
    pf: np.ndarray,
    ring: np.ndarray,
    oi: np.ndarray,
    of: np.ndarray,
    ofi: np.ndarray,
    ofs: np.ndarray,
    since: np.ndarray,
    lpx: np.ndarray,
    ldelta: np.ndarray,
    ltr: np.ndarray,
    mi: np.ndarray,
) -> None:
    """:func:`run` (``per_level`` False) for a caller that reads, of every group, only its mid
    and imbalance (into ``mi[0, r]``, ``mi[1, r]``) and, of the rows, only the last group's
    (the pipeline's fused step): the output rows ``oi``..``since`` have two rows, group ``r``
    written to row ``r & 1`` with the group before it in the other, so a batch writes a few
    hundred bytes instead of ~0.5 KB per group. Row 0 comes in as ``run``'s row 0 does (the
    previous floats and walls' starts); the last group is in row ``(n - 1) & 1``. The same
    ``_step`` in the same order as ``run``: the same numbers, bit for bit."""
    st, prev, acc, walls = _state(pi)
    w = bp_.shape[1]
    for r in range(ts_.shape[0]):
        c = r & 1
        if r > 0:
            q = c ^ 1
            pbp, pbs, pap, pas = bp_[r - 1], bs_[r - 1], ap_[r - 1], asz_[r - 1]
        else:
            q = 0
            pbp, pbs, pap, pas = prev[:w], prev[w : 2 * w], prev[2 * w : 3 * w], prev[3 * w :]
        _step(
            ts_[r], bp_[r], bs_[r], ap_[r], asz_[r], pbp, pbs, pap, pas, tb, off[r], off[r + 1],
            pi, pf, st, acc, ring, walls, oi[c], of[c], ofi[c], ofs[c], since[c], of[q],
            since[q], lpx[0], ldelta[0], ltr[0]
        )  # fmt: skip
        mi[0, r] = of[c, F_MID]
        mi[1, r] = of[c, F_IMB]
    if ts_.shape[0] > 0:
        _keep(prev, bp_[-1], bs_[-1], ap_[-1], asz_[-1])


@inline_kernel
def group_step(
    ts: int,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    tb: np.ndarray,
    t0: int,
    t1: int,
    pi: np.ndarray,
    ring: np.ndarray,
    pf: np.ndarray,
) -> int:
    """One group through ``_step`` with the incremental path's flat buffers (``pi``: params,
    state and int outputs; ``pf``: params and float outputs) and the prints ``tb[:, t0:t1]``,
    no reshape, no allocation: returns 1 (and changes nothing) if an array is not ``width``
    long, 2 if the OFI ring is full, else 0. What :class:`BookMetrics` runs per group, and
    the pipeline's fused step with it."""
    w = pi[P_WIDTH]
    if bp.shape[0] != w or bs.shape[0] != w or ap.shape[0] != w or asz.shape[0] != w:
        return 1
    if pi[NP + S_COUNT] >= ring.shape[0]:  # (never more, but never write past it)
        return 2
    st, prev, acc, walls = _state(pi)
    nl, lw, lp, m = pi[P_OFI_L], pi[P_WALL_L], 4 * pi[P_PS_L], pi[P_MEM]
    o, s, v, f = pi[P_O_OFI], pi[P_O_SINCE], pi[P_O_LV], pi[P_O_OF]
    pi[m] = ts
    since, of = pi[s : s + 2 * lw], pf[f : f + NF]
    _step(
        ts, bp, bs, ap, asz, prev[:w], prev[w : 2 * w], prev[2 * w : 3 * w], prev[3 * w :], tb,
        t0, t1, pi, pf, st, acc, ring, walls, pi[m + 1 : m + 1 + NI], of, pi[o : o + nl],
        pi[o + nl : o + 2 * nl], since, of, since, pi[v : v + lp], pi[v + lp : v + 2 * lp],
        pi[v + 2 * lp : v + 3 * lp]
    )  # fmt: skip
    _keep(prev, bp, bs, ap, asz)
    return 0


def _update_py(
    ts: int,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    tb: np.ndarray,
    nt: int,
    pi: np.ndarray,
    ring: np.ndarray,
    pf: np.ndarray,
) -> int:
    """:func:`group_step` with the group's ``nt`` prints at the front of ``tb``."""
    return group_step(ts, bp, bs, ap, asz, tb, 0, nt, pi, ring, pf)


_I1 = types.Array(types.int64, 1, "C")
_I2 = types.Array(types.int64, 2, "C")
_UPDATE_SIG = types.int64(
    types.int64, _I1, _I1, _I1, _I1, _I2, types.int64, _I1, _I2, types.Array(types.float64, 1, "C")
)  # fmt: skip


@cache
def update_kernel() -> Any:
    """``_update_py`` compiled (on first use) for int64 arrays only: any other argument types
    fail fast with TypeError instead of compiling again, and the caller converts them."""
    return njit(_UPDATE_SIG, **KERNEL)(_update_py)


@kernel
def offsets_in_order(bounds: np.ndarray, keys: np.ndarray, off: np.ndarray) -> bool:
    """``off`` as :func:`trade_offsets` gives it when the boundaries are sorted and the keys'
    groups (first boundary at or after each key, ``searchsorted`` left) never decrease:
    returns True; False (``off`` then undefined) otherwise. Trades after the last boundary are
    left out."""
    b = bounds.shape[0]
    for r in range(1, b):
        if bounds[r] < bounds[r - 1]:  # unsorted boundaries: the general path
            return False
    g = 0
    for i in range(keys.shape[0]):
        k = keys[i]
        if g > 0 and k <= bounds[g - 1]:  # belongs to an earlier group: out of order
            return False
        while g < b and bounds[g] < k:
            g += 1
        if g < b:
            off[g + 1] += 1
    for r in range(b):
        off[r + 1] += off[r]
    return True
