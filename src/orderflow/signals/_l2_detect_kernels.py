"""Jitted kernel of the L2 detectors. Private: use :mod:`orderflow.signals.detectors_l2`.

One kernel, :func:`run`, feeds event groups ``st[S_POS]..`` of its inputs through absorption,
iceberg, sweep and exhaustion, in the order and with the arithmetic of the rules documented in
:mod:`~orderflow.signals.detectors_l2`. The live path passes one group, the batch path all of a
:class:`~orderflow.book.common.DepthRecord`; both keep their state in the same arrays:

* ``st`` (int64, :data:`ST_SIZE`): header counters, parameters, the per-side iceberg episodes
  with their last :data:`ICE_KEEP` refill sizes, the per-side sweep headers, the two
  exhaustion candidates and the extremes that already fired.
* ``prev`` ``(4, Wp)``: bid price/size, ask price/size after the previous group (``NO_PRICE``/0
  past the levels it had).
* ``ep`` ``(2, cap, EPN)``: the absorption episodes per resting side (unordered; the reference's
  dict order never reaches an output). Each episode's prints window is a FIFO linked list of
  nodes in ``pool`` ``(cap, 3)`` (ts, size, next) whose free nodes chain from ``st[S_FREE]``.
* ``sw`` ``(2, cap, 2)``: (price, size) per distinct price of the open sweep per aggressor.
* ``win`` ``(4, cap)``: the exhaustion prints window, rows ts, price, size, side, columns
  ``st[S_WHEAD]`` on; it slides back to column 0 when it reaches the end, and is kept at most
  half full, so sliding costs O(1) per print.

Before a group changes anything the kernel checks there is room for the worst case of that
group; if not it stores the group in ``st[S_POS]`` and returns ``-NEED_*``, the wrapper grows
that array (doubling) and calls again. Fired signals go to ``out`` (one row of ints per signal,
:data:`OCOLS` columns; a finished call returns how many rows are used) and ``extra``
(variable-length lists: refill sizes, sweep price/size pairs); the wrapper turns them into
:class:`~orderflow.signals.model.Signal` and resets both counts. Every
float of a score or evidence is computed there from these ints with the reference's formulas, so
they are bit-identical; the kernel's own float comparisons (absorption ratio, exhaustion dry
rate) multiply in the same order as the reference.
"""

from __future__ import annotations

import numpy as np

from orderflow.book._jit import inline_kernel, kernel

# The helpers are inlined into ``run`` (numba IR inlining): called, each pays for passing its
# arrays, which took half of the batch time on ESH4 (4.5 ms against 2.3 ms inlined).

NO_PRICE = np.iinfo(np.int64).min
BUYER, SELLER = 0, 1  # aggressor sides (model.enums.Side)

# ---- return codes --------------------------------------------------------------------------
OK = 0
NEED_EPISODES, NEED_POOL, NEED_SWEEP, NEED_WINDOW, NEED_OUT = 1, 2, 3, 4, 5

# ---- st: header ----------------------------------------------------------------------------
S_POS = 0  # group to resume at after a NEED_* return (0 otherwise)
S_PRIMED = 1  # prev holds a group
S_NOUT, S_NEXTRA = 2, 3  # rows used in out, cells used in extra
S_FREE, S_NFREE = 4, 5  # pool free-list head, free nodes
S_NEP = 6  # + side: absorption episodes
S_WHEAD, S_WCOUNT = 8, 9  # exhaustion prints window: its start and length in win
S_ICE = 10  # + ICE_N * side
I_ACT, I_PRICE, I_FIRST, I_SHOWN, I_TRADED, I_REFILL, I_REFILLS, I_ADDED, I_CANC = range(9)
ICE_N = 9
S_SW = 28  # + SW_N * aggressor
W_ACT, W_FIRST, W_FIRED, W_N = range(4)
SW_N = 4
S_EX = 36  # + EX_N * k (k 0: up-run high, 1: down-run low)
X_VALID, X_PRICE, X_TS, X_RUN, X_START, X_VOL, X_SPAN, X_AFTER = range(8)
EX_N = 8
S_FX = 52  # + 3 * k: fired extreme (valid, price, ts)
# ---- st: parameters (ints; the two ratios are in the float array pf) --------------------------
P_ABS_MIN_VOL = 64
P_ABS_WIN = 65
P_SW_MIN = 66
P_SW_WIN = 67
P_EX_TICKS = 68
P_EX_WIN = 69
P_EX_MIN_VOL = 70
P_EX_QUIET = 71
P_ICE_MIN_REFILLS = 72
P_ICE_MIN_HIDDEN = 73
F_ABS_RATIO, F_EX_DRY = 0, 1
# ---- st: the last refill sizes of each side's iceberg episode (a ring of ICE_KEEP) ----------
ICE_KEEP = 20
S_IRING = 80  # + ICE_KEEP * side
ST_SIZE = S_IRING + 2 * ICE_KEEP

# ---- absorption episode columns and pool node columns ------------------------------------------
E_PRICE, E_FIRST, E_SHOWN, E_VOL, E_FIRED, E_HEAD, E_TAIL, E_COUNT = range(8)
EPN = 8
N_TS, N_SIZE, N_NEXT = range(3)

# ---- out rows --------------------------------------------------------------------------------
K_ABSORPTION, K_ICEBERG, K_SWEEP, K_EXHAUSTION = range(4)
O_KIND, O_TS, O_SIDE, O_PRICE, O_A, O_B, O_C, O_D, O_E, O_F, O_G, O_H, O_XOFF, O_XLEN = range(14)
OCOLS = 14
#: most rows one group can write: absorption, iceberg, sweep and exhaustion, two of each
ROWS_PER_GROUP = 8


@inline_kernel
def _room(
    st: np.ndarray,
    ep: np.ndarray,
    pool: np.ndarray,
    sw: np.ndarray,
    win: np.ndarray,
    out: np.ndarray,
    extra: np.ndarray,
    n: int,
) -> int:
    """OK when every array can take the worst case of a group with ``n`` prints, else the
    ``NEED_*`` code of the first one that cannot."""
    cap = ep.shape[1]
    if st[S_NEP] >= cap or st[S_NEP + 1] >= cap:
        return NEED_EPISODES
    if st[S_NFREE] < 2:
        return NEED_POOL
    n0, n1 = st[S_SW + W_N], st[S_SW + SW_N + W_N]
    if max(n0, n1) + n > sw.shape[1]:
        return NEED_SWEEP
    if 2 * (st[S_WCOUNT] + n) > win.shape[1]:  # at most half full: sliding stays O(1)
        return NEED_WINDOW
    if (
        st[S_NOUT] + ROWS_PER_GROUP > out.shape[0]
        or st[S_NEXTRA] + 2 * (n0 + n1 + n) + 2 * ICE_KEEP > extra.shape[0]
    ):
        return NEED_OUT
    return OK


@inline_kernel
def _row(st: np.ndarray, out: np.ndarray, kind: int, ts: int, side: int, price: int) -> int:
    """A new output row with its common columns; returns its index."""
    r = st[S_NOUT]
    st[S_NOUT] = r + 1
    for c in range(OCOLS):
        out[r, c] = 0
    out[r, O_KIND] = kind
    out[r, O_TS] = ts
    out[r, O_SIDE] = side
    out[r, O_PRICE] = price
    out[r, O_XOFF] = st[S_NEXTRA]
    return int(r)


# ---- absorption ------------------------------------------------------------------------------
@inline_kernel
def _free_prints(st: np.ndarray, ep: np.ndarray, pool: np.ndarray, sd: int, i: int) -> None:
    """Return every node of episode ``i`` to the free list. O(1)."""
    c = ep[sd, i, E_COUNT]
    if c > 0:
        pool[ep[sd, i, E_TAIL], N_NEXT] = st[S_FREE]
        st[S_FREE] = ep[sd, i, E_HEAD]
        st[S_NFREE] += c


@inline_kernel
def _new_episode(ep: np.ndarray, sd: int, i: int, price: int, ts: int, shown: int) -> None:
    ep[sd, i, E_PRICE] = price
    ep[sd, i, E_FIRST] = ts
    ep[sd, i, E_SHOWN] = shown
    ep[sd, i, E_VOL] = 0
    ep[sd, i, E_FIRED] = 0
    ep[sd, i, E_HEAD] = -1
    ep[sd, i, E_TAIL] = -1
    ep[sd, i, E_COUNT] = 0


@inline_kernel
def _absorption(
    st: np.ndarray,
    pf: np.ndarray,
    ep: np.ndarray,
    pool: np.ndarray,
    out: np.ndarray,
    ts: int,
    sd: int,
    price: int,
    traded: int,
    shown_before: int,
    holds: bool,
    gave_way: bool,
) -> None:
    nep = st[S_NEP + sd]
    if gave_way and price != NO_PRICE:
        # every episode at or beyond the old best is broken
        i = 0
        while i < nep:
            k = ep[sd, i, E_PRICE]
            if (k >= price) if sd == 0 else (k <= price):
                _free_prints(st, ep, pool, sd, i)
                nep -= 1
                for c in range(EPN):
                    ep[sd, i, c] = ep[sd, nep, c]
            else:
                i += 1
        st[S_NEP + sd] = nep
    if traded <= 0:
        return
    i = -1
    for j in range(nep):
        if ep[sd, j, E_PRICE] == price:
            i = j
            break
    horizon = ts - st[P_ABS_WIN]
    if i >= 0:
        while ep[sd, i, E_COUNT] > 0 and pool[ep[sd, i, E_HEAD], N_TS] < horizon:
            h = ep[sd, i, E_HEAD]
            ep[sd, i, E_VOL] -= pool[h, N_SIZE]
            ep[sd, i, E_HEAD] = pool[h, N_NEXT]
            pool[h, N_NEXT] = st[S_FREE]
            st[S_FREE] = h
            st[S_NFREE] += 1
            ep[sd, i, E_COUNT] -= 1
        if ep[sd, i, E_COUNT] == 0:  # every print expired: a new episode
            if gave_way:
                return
            _new_episode(ep, sd, i, price, ts, shown_before)
    elif gave_way:
        return
    else:
        i = nep
        st[S_NEP + sd] = nep + 1
        _new_episode(ep, sd, i, price, ts, shown_before)
    node = st[S_FREE]
    st[S_FREE] = pool[node, N_NEXT]
    st[S_NFREE] -= 1
    pool[node, N_TS] = ts
    pool[node, N_SIZE] = traded
    pool[node, N_NEXT] = -1
    if ep[sd, i, E_COUNT] == 0:
        ep[sd, i, E_HEAD] = node
    else:
        pool[ep[sd, i, E_TAIL], N_NEXT] = node
    ep[sd, i, E_TAIL] = node
    ep[sd, i, E_COUNT] += 1
    ep[sd, i, E_VOL] += traded
    vol = ep[sd, i, E_VOL]
    if (
        holds
        and ep[sd, i, E_FIRED] == 0
        and vol >= st[P_ABS_MIN_VOL]
        and vol >= pf[F_ABS_RATIO] * ep[sd, i, E_SHOWN]
    ):
        ep[sd, i, E_FIRED] = 1
        r = _row(st, out, K_ABSORPTION, ts, sd, price)
        out[r, O_A] = vol
        out[r, O_B] = ep[sd, i, E_COUNT]
        out[r, O_C] = ep[sd, i, E_SHOWN]
        out[r, O_D] = ep[sd, i, E_FIRST]


# ---- iceberg ---------------------------------------------------------------------------------
@inline_kernel
def _iceberg(
    st: np.ndarray,
    out: np.ndarray,
    extra: np.ndarray,
    ts: int,
    sd: int,
    price: int,
    traded: int,
    shown_before: int,
    shown_after: int,
    holds: bool,
) -> None:
    b = S_ICE + ICE_N * sd
    if st[b + I_ACT] != 0 and st[b + I_PRICE] != price:
        st[b + I_ACT] = 0
    if traded > 0:
        if st[b + I_ACT] == 0:
            st[b + I_ACT] = 1
            st[b + I_PRICE] = price
            st[b + I_FIRST] = ts
            st[b + I_SHOWN] = shown_before
            for c in (I_TRADED, I_REFILL, I_REFILLS, I_ADDED, I_CANC):
                st[b + c] = 0
        st[b + I_TRADED] += traded
        reappeared = traded + shown_after - shown_before
        refilled = reappeared > 0
        if refilled:
            st[b + I_REFILL] += reappeared
            st[S_IRING + ICE_KEEP * sd + st[b + I_REFILLS] % ICE_KEEP] = reappeared
            st[b + I_REFILLS] += 1
    elif st[b + I_ACT] != 0:
        change = shown_after - shown_before
        if change > 0:
            st[b + I_ADDED] += change
        else:
            st[b + I_CANC] -= change
        refilled = False
    else:
        return
    if not holds:
        st[b + I_ACT] = 0
    refills = st[b + I_REFILLS]
    if not (
        refilled
        and refills >= st[P_ICE_MIN_REFILLS]
        and st[b + I_REFILL] >= st[P_ICE_MIN_HIDDEN]
        and st[b + I_TRADED] > st[b + I_SHOWN]
    ):
        return
    r = _row(st, out, K_ICEBERG, ts, sd, price)
    out[r, O_A] = st[b + I_TRADED]
    out[r, O_B] = st[b + I_SHOWN]
    out[r, O_C] = refills
    out[r, O_D] = st[b + I_ADDED]
    out[r, O_E] = st[b + I_CANC]
    out[r, O_F] = st[b + I_REFILL]
    out[r, O_G] = 1 if holds else 0
    out[r, O_H] = st[b + I_FIRST]
    x = st[S_NEXTRA]
    for j in range(max(0, refills - ICE_KEEP), refills):
        extra[x] = st[S_IRING + ICE_KEEP * sd + j % ICE_KEEP]
        x += 1
    out[r, O_XLEN] = x - st[S_NEXTRA]
    st[S_NEXTRA] = x


# ---- per resting side: absorption and iceberg ---------------------------------------------------
@inline_kernel
def _levels(
    st: np.ndarray,
    pf: np.ndarray,
    ep: np.ndarray,
    pool: np.ndarray,
    out: np.ndarray,
    extra: np.ndarray,
    prev: np.ndarray,
    px: np.ndarray,
    sz: np.ndarray,
    base: int,
    w: int,
    ts: int,
    sd: int,
    tpx: np.ndarray,
    tsz: np.ndarray,
    tsd: np.ndarray,
    t0: int,
    t1: int,
) -> None:
    best_before = prev[2 * sd, 0]
    best_after = px[base] if w > 0 else NO_PRICE
    aggressor = SELLER if sd == 0 else BUYER
    traded = 0
    shown_before = 0
    shown_after = 0
    if best_before != NO_PRICE:
        for t in range(t0, t1):
            if tsd[t] == aggressor and tpx[t] == best_before:
                traded += tsz[t]
        shown_before = prev[2 * sd + 1, 0]
        for i in range(w):
            if px[base + i] == best_before:
                shown_after = sz[base + i]
                break
    holds = best_before != NO_PRICE and best_after == best_before
    gave_way = best_after == NO_PRICE or (
        best_before != NO_PRICE
        and ((best_after < best_before) if sd == 0 else (best_after > best_before))
    )
    _absorption(st, pf, ep, pool, out, ts, sd, best_before, traded, shown_before, holds, gave_way)
    _iceberg(st, out, extra, ts, sd, best_before, traded, shown_before, shown_after, holds)


# ---- sweeps ----------------------------------------------------------------------------------
@inline_kernel
def _sweeps(
    st: np.ndarray,
    sw: np.ndarray,
    out: np.ndarray,
    extra: np.ndarray,
    prev: np.ndarray,
    ap: np.ndarray,
    bp: np.ndarray,
    base: int,
    w: int,
    ts: int,
    tpx: np.ndarray,
    tsz: np.ndarray,
    tsd: np.ndarray,
    t0: int,
    t1: int,
) -> None:
    for agg in (BUYER, SELLER):
        mine = False
        for t in range(t0, t1):
            if tsd[t] == agg:
                mine = True
                break
        if not mine:
            continue
        b = S_SW + SW_N * agg
        if st[b + W_ACT] == 0 or ts - st[b + W_FIRST] > st[P_SW_WIN]:
            st[b + W_ACT] = 1
            st[b + W_FIRST] = ts
            st[b + W_FIRED] = 0
            st[b + W_N] = 0
        n = st[b + W_N]
        for t in range(t0, t1):
            if tsd[t] != agg:
                continue
            px = tpx[t]
            j = 0
            while j < n and sw[agg, j, 0] != px:
                j += 1
            if j == n:
                sw[agg, j, 0] = px
                sw[agg, j, 1] = 0
                n += 1
            sw[agg, j, 1] += tsz[t]
        st[b + W_N] = n
        if st[b + W_FIRED] != 0 or n < st[P_SW_MIN]:
            continue
        st[b + W_FIRED] = 1
        rest = 1 if agg == BUYER else 0  # the side that was eaten (asks for buyers)
        before = prev[2 * rest, 0] if st[S_PRIMED] != 0 else NO_PRICE
        after = NO_PRICE
        if w > 0:
            after = ap[base] if rest == 1 else bp[base]
        r = _row(st, out, K_SWEEP, ts, agg, NO_PRICE)
        out[r, O_A] = n
        out[r, O_B] = st[b + W_FIRST]
        out[r, O_C] = before
        out[r, O_D] = after
        x = st[S_NEXTRA]
        for j in range(n):  # first-seen order; the wrapper sorts
            extra[x] = sw[agg, j, 0]
            extra[x + 1] = sw[agg, j, 1]
            x += 2
        out[r, O_XLEN] = x - st[S_NEXTRA]
        st[S_NEXTRA] = x


# ---- exhaustion ------------------------------------------------------------------------------
@inline_kernel
def _run(
    st: np.ndarray,
    win: np.ndarray,
    ts: int,
    tpx: np.ndarray,
    tsz: np.ndarray,
    tsd: np.ndarray,
    t0: int,
    t1: int,
) -> None:
    """New prints: re-derive the candidate extremes of both directions. O(window)."""
    head, count = st[S_WHEAD], st[S_WCOUNT]
    if head + count + (t1 - t0) > win.shape[1]:  # slide the window to the front
        for c in range(4):
            for j in range(count):
                win[c, j] = win[c, head + j]
        head = 0
    end = head + count
    for t in range(t0, t1):
        win[0, end], win[1, end], win[2, end], win[3, end] = ts, tpx[t], tsz[t], tsd[t]
        end += 1
    horizon = ts - st[P_EX_WIN]
    while head < end and win[0, head] < horizon:
        head += 1
    st[S_WHEAD], st[S_WCOUNT] = head, end - head
    if head == end:  # only with a negative window (the reference raises there)
        return
    # One pass for both directions. Up (u): the extreme is the first index of the highest price,
    # the run's start the last index of the lowest price up to it; down (d) the same with the
    # sides swapped. The aggressive volumes come from running sums per aggressor side.
    wts, wpx, wsz, wsd = win[0], win[1], win[2], win[3]
    p0 = wpx[head]
    hi_u, lo_u, e_u, s_u, sc_u = p0, p0, head, head, head
    lo_d, hi_d, e_d, s_d, sc_d = p0, p0, head, head, head
    base_u = run_u = cum_eu = 0  # buyer volume before the lowest so far / before s_u / to e_u
    base_d = run_d = cum_ed = 0  # seller volume, the same for the down run
    cum_b = cum_s = 0
    for j in range(head, end):
        px = wpx[j]
        if px <= lo_u:
            lo_u, sc_u, base_u = px, j, cum_b
        if px > hi_u:
            hi_u, e_u, s_u, run_u = px, j, sc_u, base_u
        if px >= hi_d:
            hi_d, sc_d, base_d = px, j, cum_s
        if px < lo_d:
            lo_d, e_d, s_d, run_d = px, j, sc_d, base_d
        sd = wsd[j]
        if sd == BUYER:
            cum_b += wsz[j]
        elif sd == SELLER:
            cum_s += wsz[j]
        if e_u == j:
            cum_eu = cum_b
        if e_d == j:
            cum_ed = cum_s
    _extreme(st, 0, wpx[e_u], wts[e_u], wpx[e_u] - wpx[s_u], wpx[s_u], wts[s_u],
             cum_eu - run_u, cum_b - cum_eu)  # fmt: skip
    _extreme(st, 1, wpx[e_d], wts[e_d], wpx[s_d] - wpx[e_d], wpx[s_d], wts[s_d],
             cum_ed - run_d, cum_s - cum_ed)  # fmt: skip


@inline_kernel
def _extreme(
    st: np.ndarray,
    k: int,
    price: int,
    ts: int,
    run: int,
    start_price: int,
    start_ts: int,
    run_vol: int,
    after: int,
) -> None:
    b = S_EX + EX_N * k
    st[b + X_VALID] = 1
    st[b + X_PRICE] = price
    st[b + X_TS] = ts
    st[b + X_RUN] = run
    st[b + X_START] = start_price
    st[b + X_VOL] = run_vol
    st[b + X_SPAN] = max(ts - start_ts, st[P_EX_QUIET])
    st[b + X_AFTER] = after


@inline_kernel
def _exhaustion(st: np.ndarray, pf: np.ndarray, out: np.ndarray, ts: int) -> None:
    for k in range(2):
        b = S_EX + EX_N * k
        f = S_FX + 3 * k
        if st[b + X_VALID] == 0:
            continue
        if st[f] != 0 and st[f + 1] == st[b + X_PRICE] and st[f + 2] == st[b + X_TS]:
            continue
        quiet = ts - st[b + X_TS]
        if (
            st[b + X_RUN] < st[P_EX_TICKS]
            or st[b + X_VOL] < st[P_EX_MIN_VOL]
            or quiet < st[P_EX_QUIET]
            or st[b + X_AFTER] > pf[F_EX_DRY] * (st[b + X_VOL] / st[b + X_SPAN]) * quiet
        ):
            continue
        st[f], st[f + 1], st[f + 2] = 1, st[b + X_PRICE], st[b + X_TS]
        r = _row(st, out, K_EXHAUSTION, ts, k, st[b + X_PRICE])
        out[r, O_A] = st[b + X_TS]
        out[r, O_B] = st[b + X_START]
        out[r, O_C] = st[b + X_RUN]
        out[r, O_D] = st[b + X_VOL]
        out[r, O_E] = st[b + X_AFTER]
        out[r, O_F] = quiet
        out[r, O_G] = st[b + X_SPAN]


@inline_kernel
def _prev_rows(
    prev: np.ndarray,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    base: int,
    w: int,
) -> None:
    """``prev`` as the group whose levels start at ``base`` left the book (``NO_PRICE``/0 past
    its ``w`` levels)."""
    for i in range(w):
        prev[0, i], prev[1, i] = bp[base + i], bs[base + i]
        prev[2, i], prev[3, i] = ap[base + i], asz[base + i]
    for i in range(w, prev.shape[1]):
        prev[0, i], prev[1, i], prev[2, i], prev[3, i] = NO_PRICE, 0, NO_PRICE, 0


# ---- the kernel of both paths ----------------------------------------------------------------
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
    pf: np.ndarray,
    st: np.ndarray,
    prev: np.ndarray,
    ep: np.ndarray,
    pool: np.ndarray,
    sw: np.ndarray,
    win: np.ndarray,
    out: np.ndarray,
    extra: np.ndarray,
) -> int:
    """Groups ``st[S_POS]..len(ts_)``: group ``g`` has the top-``w`` levels
    ``bp[g * w : (g + 1) * w]`` (etc.) after it and the prints ``off[g]:off[g + 1]``. Returns
    the number of rows in ``out`` with ``st[S_POS]`` back at 0, or ``-NEED_*`` with
    ``st[S_POS]`` the group that found no room (nothing of it done yet): grow, call again."""
    nb = ts_.shape[0]
    wp = prev.shape[1]
    g0 = st[S_POS]
    for g in range(g0, nb):
        t0, t1 = off[g], off[g + 1]
        code = _room(st, ep, pool, sw, win, out, extra, t1 - t0)
        if code != OK:
            if g > g0:
                _prev_rows(prev, bp, bs, ap, asz, (g - 1) * w, w)
            st[S_POS] = g
            return int(-code)
        ts = ts_[g]
        base = g * w
        if st[S_PRIMED] != 0:
            for sd in range(2):
                # nothing to track on a side without prints, episodes or an iceberg episode
                if t1 > t0 or st[S_NEP + sd] > 0 or st[S_ICE + ICE_N * sd + I_ACT] != 0:
                    px, sz = (bp, bs) if sd == 0 else (ap, asz)
                    _levels(
                        st, pf, ep, pool, out, extra, prev, px, sz, base, w, ts, sd, tpx, tsz,
                        tsd, t0, t1,
                    )  # fmt: skip
        if t1 > t0:
            _sweeps(st, sw, out, extra, prev, ap, bp, base, w, ts, tpx, tsz, tsd, t0, t1)
            _run(st, win, ts, tpx, tsz, tsd, t0, t1)
        _exhaustion(st, pf, out, ts)
        # the next group reads only the best level of this one: the whole rows are written
        # once, for the last group the call took (below and before a NEED_* return)
        if w > 0:
            prev[0, 0], prev[1, 0] = bp[base], bs[base]
            prev[2, 0], prev[3, 0] = ap[base], asz[base]
        elif wp > 0:
            prev[0, 0], prev[1, 0], prev[2, 0], prev[3, 0] = NO_PRICE, 0, NO_PRICE, 0
        st[S_PRIMED] = 1
    if nb > g0:
        _prev_rows(prev, bp, bs, ap, asz, (nb - 1) * w, w)
    st[S_POS] = 0
    return int(st[S_NOUT])


@kernel
def group_offsets(grp: np.ndarray, off: np.ndarray) -> None:
    """``off[g]`` = how many entries of the sorted ``grp`` are below ``g`` (what
    ``np.searchsorted(grp, g, side="left")`` gives), for every ``g`` at once. O(len(grp) +
    len(off))."""
    n = grp.shape[0]
    i = 0
    for g in range(off.shape[0]):
        while i < n and grp[i] < g:
            i += 1
        off[g] = i
