"""The pipeline's fused step: one compiled call per :meth:`Pipeline.process` call. Private: use
:mod:`orderflow.engine.fused`.

The step runs, over the complete event groups of the call, the very kernels the separate path
calls one by one from Python, on the very state arrays their classes own, in stages:

0. the book: the L3 book's ``apply_record`` and ``depth_into`` record by record (the body of
   ``k_batch``, reading the MBO records themselves; each ``T`` record is also written out as a
   print with its group, and with the L3 detectors each record's book slot word, see
   ``_l3_detect_kernels``, into ``tcol[4]``), or the NinjaTrader ladder's ``ld_batch``;
1. the prints' groups (NinjaTrader depth: ``offsets_in_order`` by event time) and their
   columns;
2. book metrics: one group through ``group_step`` (what ``BookMetrics.update`` runs), more
   through the batch kernel ``run`` (what ``BookMetrics.update_many`` runs), as the separate
   path chooses;
3. momentum (``_run`` of :mod:`orderflow.analytics.momentum`) over every group;
4. liquidity clusters (``_liq_depth``) over every group;
5. the L3 detectors (``k_run``, each record's order found through its book slot word),
   6. the L2 detectors (``run``), 7. pulling/stacking (``run``);
8. the print analytics (:mod:`orderflow.engine._fused_prints`: bars with footprint cells,
   cumulative delta, VWAP, session profile, volume clusters, the time bars' close), once the
   stages above are done; it never asks to resume (what it cannot do, its wrapper finishes).

A stage that runs out of room returns a ``R_*`` code before it changes anything (or, for the
book and the detectors, with its own resume position kept, as their wrappers rely on): the
Python wrapper grows that state, rebuilds the argument tuple and calls again; ``fs[FS_STAGE]``
makes the call resume at that stage, so no stage runs twice. Success resets the control array
for the next call and returns ``OK``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.analytics._book_metrics_kernels import (
    F_IMB,
    F_MID,
    NF,
    NI,
    NP,
    P_MEM,
    P_O_LV,
    P_O_OF,
    P_O_OFI,
    P_O_SINCE,
    P_OFI_L,
    P_PS_L,
    P_WALL_L,
    P_WIN_EV,
    group_step,
    offsets_in_order,
)
from orderflow.analytics._book_metrics_kernels import S_COUNT as BM_COUNT
from orderflow.analytics._book_metrics_kernels import run_two_rows as metrics_two_rows
from orderflow.analytics.clusters import _liq_depth
from orderflow.analytics.momentum import S_COUNT as MOM_COUNT
from orderflow.analytics.momentum import _run as momentum_run
from orderflow.book import _l2_kernels as L2
from orderflow.book import _l3_kernels as L3
from orderflow.engine import _fused_cache
from orderflow.engine._fused_prints import P0, kept_stage, prints_stage
from orderflow.engine._fused_table import _f1, _f2, _i1, _i2, _i3
from orderflow.model.enums import Flags
from orderflow.signals._l2_detect_kernels import run as l2_run
from orderflow.signals._l3_detect_kernels import H_NOUT as L3D_NOUT
from orderflow.signals._l3_detect_kernels import k_run as l3_run
from orderflow.signals._pull_detect_kernels import run as pull_run

# ---- the control array ``fs`` ------------------------------------------------------------------
FS_STAGE = 0  # the stage to (re)start at
FS_STARTED = 1  # 1 while a call is under way (its book state and outputs are kept)
FS_POS = 2  # resume position inside a stage (record for the ladder, group for metrics)
FS_NB = 3  # event groups (boundaries) of the call
FS_NT = 4  # prints in those groups
FS_BID, FS_ASK = 5, 6  # best bid / ask before the first group (L3 detectors)
FS_DET = 7  # detectors to run: DET_L3 | DET_L2 | DET_PULL
FS_CODE = 8  # a detector's own NEED code, with R_L3 / R_L2 / R_PULL
FS_OFF = 9  # 1: the wrapper wrote the prints' offsets (NinjaTrader depth out of order)
FS_FORCE = 10  # a RejectReason the book must give the record at its resume position
FS_COVERED = 11  # 1: the ladder was sized for the call's prices (or could not be)
FS_LO, FS_HI = 12, 13  # the call's price range when it asks R_COVER
FS_REJ = 14  # records refused in the call
FS_L3N, FS_L2N, FS_PULLN = 15, 16, 17  # signal rows each detector left in its ``out``
FS_CUT = 18  # records up to the call's last event boundary (the rest wait for their group)
FS_BATCH = 19  # 1: NinjaTrader depth as one event group (Pipeline.process_batch), LAST ignored
FS_SIZE = 24
DET_L3, DET_L2, DET_PULL = 1, 2, 4

# ---- stages and return codes -------------------------------------------------------------------
S_BOOK, S_PRINTS, S_METRICS, S_MOMENTUM, S_LIQUIDITY, S_L3, S_L2, S_PULL = range(8)
OK = 0
R_SLOTS, R_LADDER, R_COVER, R_ROWS, R_OFFSETS = 1, 2, 3, 4, 5
R_BM_RING, R_MOM_RING, R_LIQ, R_L3, R_L2, R_PULL = 6, 7, 8, 9, 10, 11

_NO_PRICE = np.iinfo(np.int64).min
_MBO_LAST = L3.F_LAST
_NT_LAST = int(Flags.LAST)
_MBO_SNAP = L3.F_SNAPSHOT


@njit(cache=True)
def _groups_in(rec: np.ndarray) -> tuple[int, int]:
    """Event groups (LAST records outside a snapshot) of ``rec``, and the records up to the
    last of them."""
    nb = cut = 0
    for i in range(rec.shape[0]):
        if (int(np.int64(rec[i].flags)) & (_MBO_LAST | _MBO_SNAP)) == _MBO_LAST:
            nb += 1
            cut = i + 1
    return nb, cut


@njit(cache=True)
def _one_group(ev: np.ndarray) -> np.ndarray:
    """A copy of the records whose only LAST flag is on the last one (how
    :meth:`Pipeline.process_batch` marks a batch: one event group)."""
    out = ev.copy()
    n = out.shape[0]
    for i in range(n):
        f = np.int64(out[i].flags) & ~np.int64(_NT_LAST)
        if i == n - 1:
            f |= _NT_LAST
        out[i].flags = np.uint8(f)
    return out


@njit(cache=True)
def _start(fs: np.ndarray, bstate: np.ndarray, off: np.ndarray, nb: int) -> None:
    """A new call: the book's batch state and the call's outputs from zero."""
    bstate[:] = 0
    off[: nb + 1] = 0
    fs[FS_POS] = 0
    fs[FS_NT] = 0
    fs[FS_REJ] = 0
    fs[FS_L3N] = 0
    fs[FS_L2N] = 0
    fs[FS_PULLN] = 0
    fs[FS_STARTED] = 1


@njit(cache=True)
def _print_columns(prints: np.ndarray, tcol: np.ndarray) -> None:
    """The prints' time, price, size and side into the columns the analytics read."""
    for k in range(prints.shape[0]):
        tcol[0, k] = prints[k].ts_event
        tcol[1, k] = prints[k].price
        tcol[2, k] = prints[k].size
        tcol[3, k] = prints[k].side


@njit(cache=True)
def _book_mbo(
    st: np.ndarray,
    rec: np.ndarray,
    fs: np.ndarray,
    bstate: np.ndarray,
    d_index: np.ndarray,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
    trades: np.ndarray,
    tcol: np.ndarray,
    off: np.ndarray,
) -> int:
    """``k_batch`` of the L3 book over the records (same inner kernels, same order), each
    ``T`` record also written to ``trades``/``tcol`` and counted in its group's ``off``; with
    the L3 detectors, each record's book slot word (``L3.M_SLOT``, an F's slot looked up here)
    into ``tcol[4]`` for them."""
    meta, orders, htab, levels = L3.views(st)
    depth_n = d_levels.shape[2]
    nb = fs[FS_NB]
    start = bstate[L3.B_POS]
    force = fs[FS_FORCE]
    fs[FS_FORCE] = 0
    words = fs[FS_DET] & DET_L3
    n = rec.shape[0]
    for i in range(start, n):
        r = rec[i]
        f = int(np.int64(r.flags))
        act = int(np.int64(r.action))
        oid = int(np.int64(r.order_id))
        if i == start and force:
            rc = force
            meta[L3.M_REJ + rc] += 1
            meta[L3.M_SLOT] = 0
            if L3.A_ADD <= act <= L3.A_MODIFY or act == L3.A_FILL:  # (the book as it was)
                meta[L3.M_SLOT] = L3.find(meta, htab, oid) + 1
        else:
            rc = L3.apply_record(
                meta, orders, htab, levels, act, int(np.int64(r.side)), r.price, r.size, oid, f,
                r.ts_event, r.ts_recv, r.sequence,
            )  # fmt: skip
        if rc >= L3.NEED_SLOTS:
            bstate[L3.B_POS] = i
            # (a snapshot's first record emptied the book before it stopped: said on its retry)
            bstate[L3.B_CLEARED] |= meta[L3.M_SLOT] & L3.S_CLEARED
            return R_SLOTS if rc == L3.NEED_SLOTS else R_LADDER
        if words:
            w = meta[L3.M_SLOT] | bstate[L3.B_CLEARED]
            bstate[L3.B_CLEARED] = 0
            if act == L3.A_FILL:
                w |= L3.find(meta, htab, oid) + 1
            tcol[4, i] = w
        if rc:
            bstate[L3.B_REJ + rc] += 1
            fs[FS_REJ] += 1
            if bstate[L3.B_FIRST_REJ] < 0:
                bstate[L3.B_FIRST_REJ] = i
        else:
            bstate[L3.B_APPLIED] += 1
        b = bstate[L3.B_BOUNDS]
        if act == L3.A_TRADE:  # a print of group b (trades_from_mbo, trade_offsets)
            k = fs[FS_NT]
            t = trades[k]
            t.ts_event, t.ts_recv, t.sequence = r.ts_event, r.ts_recv, r.sequence
            t.price, t.size, t.side, t.flags = r.price, r.size, r.side, r.flags
            tcol[0, k], tcol[1, k], tcol[2, k], tcol[3, k] = r.ts_event, r.price, r.size, r.side
            fs[FS_NT] = k + 1
            if b < nb:
                off[b + 1] += 1
        if (f & _MBO_LAST) and not (f & _MBO_SNAP):
            bb, ba = meta[L3.M_BEST], meta[L3.M_BEST + 1]
            if bb >= 0 and ba >= 0:
                if bb > ba:
                    bstate[L3.B_CROSSED] += 1
                elif bb == ba:
                    bstate[L3.B_LOCKED] += 1
            d_index[b] = i
            d_ts[b] = r.ts_event
            L3.depth_into(meta, levels, depth_n, d_levels, b)
            bstate[L3.B_BOUNDS] = b + 1
    bstate[L3.B_POS] = n
    return OK


@njit(cache=True)
def _cover_range(st: np.ndarray, rec: np.ndarray, fs: np.ndarray) -> int:
    """``OrderBook._cover``: R_COVER with the price range of the call's adds and modifies when
    the ladder does not hold it (the wrapper re-bases once), else OK."""
    lo = hi = 0
    seen = False
    for i in range(rec.shape[0]):
        a = int(np.int64(rec[i].action))
        if a == L3.A_ADD or a == L3.A_MODIFY:
            p = rec[i].price
            if not seen or p < lo:
                lo = p
            if not seen or p > hi:
                hi = p
            seen = True
    fs[FS_COVERED] = 1
    if not seen:
        return OK
    base, nlev = st[L3.M_BASE], st[L3.M_NLEV]
    if nlev == 0 or lo < base or hi >= base + nlev:
        fs[FS_LO], fs[FS_HI] = lo, hi
        return R_COVER
    return OK


@njit(cache=True)
def _metrics_many(
    nb: int,
    ts: np.ndarray,
    bp: np.ndarray,
    bs: np.ndarray,
    ap: np.ndarray,
    asz: np.ndarray,
    off: np.ndarray,
    tb: np.ndarray,
    pi: np.ndarray,
    ring: np.ndarray,
    pf: np.ndarray,
    mi: np.ndarray,
) -> None:
    """``BookMetrics.update_many``: the batch kernel over the call's groups (``run_two_rows``:
    ``run``'s steps, each group's mid and imbalance into ``mi``, the rows in two alternating
    rows, row 0's "previous" from the live buffers), then the last group's rows into the live
    buffers, as the class does it."""
    lo, lw, lp = pi[P_OFI_L], pi[P_WALL_L], 4 * pi[P_PS_L]
    m, o, sn, v, f = pi[P_MEM], pi[P_O_OFI], pi[P_O_SINCE], pi[P_O_LV], pi[P_O_OF]
    oi = np.empty((2, NI), dtype=np.int64)
    ofl = np.empty((2, NF))
    ofi = np.empty((2, lo), dtype=np.int64)
    ofs = np.empty((2, lo), dtype=np.int64)
    since = np.empty((2, 2 * lw), dtype=np.int64)
    lv = np.zeros((3, 1, lp), dtype=np.int64)
    ofl[0, :] = pf[f : f + NF]
    since[0, :] = pi[sn : sn + 2 * lw]
    metrics_two_rows(ts, bp, bs, ap, asz, off[: nb + 1], tb, pi, pf, ring, oi, ofl, ofi, ofs,
                     since, lv[0], lv[1], lv[2], mi)  # fmt: skip
    last = (nb - 1) & 1
    pi[m] = ts[nb - 1]
    pi[m + 1 : m + 1 + NI] = oi[last]
    pf[f : f + NF] = ofl[last]
    pi[o : o + lo] = ofi[last]
    pi[o + lo : o + 2 * lo] = ofs[last]
    pi[sn : sn + 2 * lw] = since[last]
    for k in range(3):
        pi[v + k * lp : v + (k + 1) * lp] = lv[k, 0]


@njit(cache=True)
def _analytics(
    fs: np.ndarray,
    nb: int,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
    tcol: np.ndarray,
    off: np.ndarray,
    mi: np.ndarray,
    bm: tuple[np.ndarray, np.ndarray, np.ndarray],
    mom: tuple[np.ndarray, ...],
    liq: tuple[np.ndarray, ...],
) -> int:
    """Stages 2-4: book metrics group by group, momentum, liquidity clusters, over the first
    ``nb`` rows of the call's buffers."""
    tb = tcol[1:4]
    ts = d_ts[:nb]
    bp, bs, ap, asz = d_levels[0, :nb], d_levels[1, :nb], d_levels[3, :nb], d_levels[4, :nb]
    if fs[FS_STAGE] == S_METRICS:
        pi, ring, pf = bm
        if pi[P_WIN_EV] <= 0 and pi[NP + BM_COUNT] + nb + 1 > ring.shape[0]:
            return R_BM_RING  # a time window may hold every group of the call
        of = pi[P_O_OF]
        if nb == 1:  # BookMetrics.update: the per-group kernel on the live buffers
            if group_step(ts[0], bp[0], bs[0], ap[0], asz[0], tb, off[0], off[1], pi, ring, pf):
                return R_BM_RING
            mi[0, 0] = pf[of + F_MID]
            mi[1, 0] = pf[of + F_IMB]
        else:
            _metrics_many(nb, ts, bp, bs, ap, asz, off, tb, pi, ring, pf, mi)
        fs[FS_STAGE] = S_MOMENTUM
    if fs[FS_STAGE] == S_MOMENTUM:
        mpf, mst, msf, rts, rmid, rimb, rvol, last = mom
        if rts.shape[0] < mst[MOM_COUNT] + nb + 1:
            return R_MOM_RING
        # (one output row, the class's own: each group's values written over the one before's)
        momentum_run(ts, mi[0, :nb], mi[1, :nb], off[: nb + 1], tcol[2], tcol[3], mpf, mst, msf,
                     rts, rmid, rimb, rvol, last)  # fmt: skip
        fs[FS_STAGE] = S_LIQUIDITY
    if fs[FS_STAGE] == S_LIQUIDITY:
        li, first, acc, qual, nq, span, level, mat = liq
        if _liq_depth(bp, bs, ap, asz, ts, li[0], li[1], li[2], li[3], li[4], first, acc, qual,
                      nq, span, level, li[5], mat):  # fmt: skip
            return R_LIQ
        fs[FS_STAGE] = S_L3
    return OK


@njit(cache=True)
def _l2_pull(
    fs: np.ndarray,
    nb: int,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
    tcol: np.ndarray,
    off: np.ndarray,
    l2: tuple[np.ndarray, ...],
    pull: tuple[np.ndarray, ...],
) -> int:
    """Stages 6-7: the L2 detectors and pulling/stacking, on the flattened top-N rows."""
    w = d_levels.shape[2]
    ts = d_ts[:nb]
    bp = d_levels[0, :nb].reshape(nb * w)
    bs = d_levels[1, :nb].reshape(nb * w)
    ap = d_levels[3, :nb].reshape(nb * w)
    asz = d_levels[4, :nb].reshape(nb * w)
    of = off[: nb + 1]
    if fs[FS_STAGE] == S_L2:
        if fs[FS_DET] & DET_L2:
            pf, st, prev, ep, pool, sw, win, out, extra = l2
            r = l2_run(ts, bp, bs, ap, asz, w, of, tcol[1], tcol[2], tcol[3], pf, st, prev, ep,
                       pool, sw, win, out, extra)  # fmt: skip
            if r < 0:
                fs[FS_CODE] = -r
                return R_L2
            fs[FS_L2N] = r
        fs[FS_STAGE] = S_PULL
    if fs[FS_STAGE] == S_PULL and fs[FS_DET] & DET_PULL:
        st, prev, ring, out = pull
        r = pull_run(ts, bp, bs, ap, asz, w, of, tcol[1], tcol[2], tcol[3], st, prev, ring,
                     out)  # fmt: skip
        if r < 0:
            fs[FS_CODE] = -r
            return R_PULL
        fs[FS_PULLN] = r
    fs[FS_STAGE] = S_BOOK
    fs[FS_STARTED] = 0
    return OK


@njit(cache=True)
def _mbo(
    st: np.ndarray,
    rec: np.ndarray,
    fs: np.ndarray,
    bstate: np.ndarray,
    d_index: np.ndarray,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
    trades: np.ndarray,
    tcol: np.ndarray,
    off: np.ndarray,
    mi: np.ndarray,
    bm: tuple[np.ndarray, np.ndarray, np.ndarray],
    mom: tuple[np.ndarray, ...],
    liq: tuple[np.ndarray, ...],
    l3: tuple[np.ndarray, np.ndarray, np.ndarray],
    l2: tuple[np.ndarray, ...],
    pull: tuple[np.ndarray, ...],
) -> int:
    """MBO records (complete event groups) through the L3 book, every analytic and every
    detector; see the module docstring."""
    if fs[FS_STARTED] == 0:
        nb, cut = _groups_in(rec)
        fs[FS_NB], fs[FS_CUT] = nb, cut
        if nb == 0:
            return OK
        _start(fs, bstate, off, nb)
        bstate[L3.B_FIRST_REJ] = -1
        fs[FS_COVERED] = 0
        fs[FS_STAGE] = S_BOOK
        bb, ba = st[L3.M_BEST], st[L3.M_BEST + 1]  # the best prices before the first group
        fs[FS_BID] = st[L3.M_BASE] + bb if bb >= 0 else _NO_PRICE
        fs[FS_ASK] = st[L3.M_BASE] + ba if ba >= 0 else _NO_PRICE
    nb = fs[FS_NB]
    recs = rec[: fs[FS_CUT]]
    if fs[FS_STAGE] == S_BOOK:
        if fs[FS_COVERED] == 0:
            rc = _cover_range(st, recs, fs)
            if rc:
                return rc
        rc = _book_mbo(st, recs, fs, bstate, d_index, d_ts, d_levels, trades, tcol, off)
        if rc:
            return rc
        for g in range(nb):
            off[g + 1] += off[g]
        fs[FS_STAGE] = S_METRICS
    rc = _analytics(fs, nb, d_ts, d_levels, tcol, off, mi, bm, mom, liq)
    if rc:
        return rc
    if fs[FS_STAGE] == S_L3:
        if fs[FS_DET] & DET_L3:
            ends = np.empty(nb, dtype=np.int64)
            bid = np.empty(nb, dtype=np.int64)
            ask = np.empty(nb, dtype=np.int64)
            for g in range(nb):
                ends[g] = d_index[g] + 1
                bid[g] = fs[FS_BID] if g == 0 else d_levels[0, g - 1, 0]
                ask[g] = fs[FS_ASK] if g == 0 else d_levels[3, g - 1, 0]
            lst, lout, share = l3
            rc = l3_run(lst, recs, ends, bid, ask, lout, share[0], tcol[4], st[L3.M_EPOCH])
            if rc:
                fs[FS_CODE] = rc
                return R_L3
            fs[FS_L3N] = lst[L3D_NOUT]
        fs[FS_STAGE] = S_L2
    return _l2_pull(fs, nb, d_ts, d_levels, tcol, off, l2, pull)


@njit(cache=True)
def _nt(
    buf: np.ndarray,
    ev: np.ndarray,
    prints: np.ndarray,
    fs: np.ndarray,
    bstate: np.ndarray,
    d_index: np.ndarray,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
    tcol: np.ndarray,
    off: np.ndarray,
    mi: np.ndarray,
    bm: tuple[np.ndarray, np.ndarray, np.ndarray],
    mom: tuple[np.ndarray, ...],
    liq: tuple[np.ndarray, ...],
    l2: tuple[np.ndarray, ...],
    pull: tuple[np.ndarray, ...],
) -> int:
    """NinjaTrader depth events (complete event groups) and the prints that came with them
    through the ladder, every analytic and the L2 detectors; see the module docstring."""
    if fs[FS_BATCH]:  # (a resumed call makes the same copy again)
        ev = _one_group(ev)
    if fs[FS_STARTED] == 0:
        nb, cut = _groups_in(ev)
        fs[FS_NB], fs[FS_CUT] = nb, cut
        if nb == 0:
            return OK
        _start(fs, bstate, off, ev.shape[0])
        for j in range(L2.N_REASONS):  # the ladder's reject counters before the call
            bstate[16 + j] = buf[L2.LD_REJ + j]
        bstate[L2.P_FIRST_REJECT] = -1
        fs[FS_STAGE] = S_BOOK
    evs = ev[: fs[FS_CUT]]
    if fs[FS_STAGE] == S_BOOK:
        stop = L2.ld_batch(
            buf, evs["side"], evs["operation"], evs["position"], evs["price"], evs["size"],
            evs["flags"], evs["sequence"], evs["ts_event"], evs["ts_recv"], fs[FS_POS], bstate,
            d_index, d_ts, d_levels[0], d_levels[1], d_levels[3], d_levels[4],
        )  # fmt: skip
        if stop < evs.shape[0]:
            fs[FS_POS] = stop
            return R_ROWS
        fs[FS_POS] = 0
        rej = 0
        for j in range(L2.N_REASONS):
            bstate[16 + j] = buf[L2.LD_REJ + j] - bstate[16 + j]
            rej += bstate[16 + j]
        fs[FS_REJ] = rej
        fs[FS_NB] = bstate[L2.P_RECORDS]  # (every LAST record; the same unless snapshots)
        _print_columns(prints, tcol)
        fs[FS_STAGE] = S_PRINTS
    nb = fs[FS_NB]
    if fs[FS_STAGE] == S_PRINTS:
        npr = prints.shape[0]
        if fs[FS_OFF] == 0 and npr and not offsets_in_order(d_ts[:nb], tcol[0, :npr],
                                                             off[: nb + 1]):  # fmt: skip
            return R_OFFSETS
        fs[FS_OFF] = 0
        fs[FS_NT] = off[nb]
        fs[FS_STAGE] = S_METRICS
    rc = _analytics(fs, nb, d_ts, d_levels, tcol, off, mi, bm, mom, liq)
    if rc:
        return rc
    if fs[FS_STAGE] == S_L3:  # no L3 detectors without order ids
        fs[FS_STAGE] = S_L2
    return _l2_pull(fs, nb, d_ts, d_levels, tcol, off, l2, pull)


@njit(cache=True)
def _levels(
    prints: np.ndarray,
    fs: np.ndarray,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
    tcol: np.ndarray,
    off: np.ndarray,
    mi: np.ndarray,
    bm: tuple[np.ndarray, np.ndarray, np.ndarray],
    mom: tuple[np.ndarray, ...],
    liq: tuple[np.ndarray, ...],
    l2: tuple[np.ndarray, ...],
    pull: tuple[np.ndarray, ...],
) -> int:
    """Prints over recorded book rows (the book as it stands, no records to apply): every
    analytic and the L2 detectors, from stage 2 on; ``off`` given."""
    nb = d_ts.shape[0]
    if fs[FS_STARTED] == 0:
        fs[FS_NB] = nb
        fs[FS_POS] = 0
        fs[FS_L3N] = 0
        fs[FS_L2N] = 0
        fs[FS_PULLN] = 0
        fs[FS_STARTED] = 1
        _print_columns(prints, tcol)
        fs[FS_STAGE] = S_METRICS
    rc = _analytics(fs, nb, d_ts, d_levels, tcol, off, mi, bm, mom, liq)
    if rc:
        return rc
    if fs[FS_STAGE] == S_L3:  # no L3 detectors without order ids
        fs[FS_STAGE] = S_L2
    return _l2_pull(fs, nb, d_ts, d_levels, tcol, off, l2, pull)


@njit(cache=True)
def _prints(fs: np.ndarray, trades: np.ndarray, tcol: np.ndarray, off: np.ndarray,
            d_ts: np.ndarray, mi: np.ndarray, tab: np.ndarray) -> int:  # fmt: skip
    """The last stage of a call with event groups: its prints into the print analytics, then
    the pipeline's kept prints and imbalances (:mod:`._fused_prints`; it asks for nothing, so
    the call ends here)."""
    nb = fs[FS_NB]
    if nb:
        prints_stage(trades, tcol, off[nb], d_ts[nb - 1], tab)
        kept_stage(tcol, off[nb], d_ts, mi[1], nb, tab, _KEPT)
    return OK


# ---- the entry points: state arrays by address ---------------------------------------------------
# Numba unboxes every array argument of a call (~100 ns each, a tuple's members alike): the
# ~45 state and output arrays of a step would cost several microseconds a call, more than the
# work of a live event group. So the entry points take ONE table of (address, shape) rows,
# built by the wrapper when the arrays are (re)allocated, and view each array in place. The
# wrapper keeps every tabled array alive (it holds them) and rebuilds the table whenever one of
# them is replaced; the views have exactly the types the arrays have, so the components'
# kernels are the same compiled functions.

(T_BSTATE, T_D_INDEX, T_D_TS, T_D_LEVELS, T_TCOL, T_OFF, T_MI,
 T_BM_PI, T_BM_RING, T_BM_PF,
 T_MO_PF, T_MO_ST, T_MO_SF, T_MO_RTS, T_MO_RMID, T_MO_RIMB, T_MO_RVOL, T_MO_LAST,
 T_LQ_LI, T_LQ_FIRST, T_LQ_ACC, T_LQ_QUAL, T_LQ_NQ, T_LQ_SPAN, T_LQ_LEVEL, T_LQ_MAT,
 T_L3_ST, T_L3_OUT, T_L3_SHARE,
 T_L2_PF, T_L2_ST, T_L2_PREV, T_L2_EP, T_L2_POOL, T_L2_SW, T_L2_WIN, T_L2_OUT, T_L2_EXTRA,
 T_PU_ST, T_PU_PREV, T_PU_RING, T_PU_OUT,
 T_KP_TS, T_KP_PX, T_KP_N, T_KI_TS, T_KI_IMB, T_KI_N) = range(48)  # fmt: skip
T_ROWS = 48
assert T_ROWS == P0  # the print analytics' rows follow
#: the dtype ("i8"/"f8") and number of dimensions of each row's array
T_KINDS = (
    ("i8", 1), ("i8", 1), ("i8", 1), ("i8", 3), ("i8", 2), ("i8", 1), ("f8", 2),
    ("i8", 1), ("i8", 2), ("f8", 1),
    ("f8", 1), ("i8", 1), ("f8", 1), ("i8", 1), ("f8", 1), ("f8", 1), ("i8", 2), ("f8", 2),
    ("i8", 1), ("i8", 2), ("i8", 2), ("i8", 2), ("i8", 2), ("i8", 1), ("i8", 2), ("i8", 1),
    ("i8", 1), ("i8", 2), ("f8", 1),
    ("f8", 1), ("i8", 1), ("i8", 2), ("i8", 3), ("i8", 2), ("i8", 3), ("i8", 2), ("i8", 2),
    ("i8", 1),
    ("i8", 1), ("i8", 2), ("i8", 3), ("i8", 2),
    ("i8", 1), ("i8", 1), ("i8", 1), ("i8", 1), ("f8", 1), ("i8", 1),
)  # fmt: skip
#: the kept prints' and imbalances' rows (:func:`._fused_prints.kept_stage`)
_KEPT = (T_KP_TS, T_KP_PX, T_KP_N, T_KI_TS, T_KI_IMB, T_KI_N)


@njit(cache=True, inline="always")
def _states(tab: np.ndarray) -> tuple:  # type: ignore[type-arg]
    """The components' state tuples viewed from the table."""
    bm = (_i1(tab, T_BM_PI), _i2(tab, T_BM_RING), _f1(tab, T_BM_PF))
    mom = (
        _f1(tab, T_MO_PF),
        _i1(tab, T_MO_ST),
        _f1(tab, T_MO_SF),
        _i1(tab, T_MO_RTS),
        _f1(tab, T_MO_RMID),
        _f1(tab, T_MO_RIMB),
        _i2(tab, T_MO_RVOL),
        _f2(tab, T_MO_LAST),
    )
    liq = (
        _i1(tab, T_LQ_LI),
        _i2(tab, T_LQ_FIRST),
        _i2(tab, T_LQ_ACC),
        _i2(tab, T_LQ_QUAL),
        _i2(tab, T_LQ_NQ),
        _i1(tab, T_LQ_SPAN),
        _i2(tab, T_LQ_LEVEL),
        _i1(tab, T_LQ_MAT),
    )
    l3 = (_i1(tab, T_L3_ST), _i2(tab, T_L3_OUT), _f1(tab, T_L3_SHARE))
    l2 = (
        _f1(tab, T_L2_PF),
        _i1(tab, T_L2_ST),
        _i2(tab, T_L2_PREV),
        _i3(tab, T_L2_EP),
        _i2(tab, T_L2_POOL),
        _i3(tab, T_L2_SW),
        _i2(tab, T_L2_WIN),
        _i2(tab, T_L2_OUT),
        _i1(tab, T_L2_EXTRA),
    )
    pull = (_i1(tab, T_PU_ST), _i2(tab, T_PU_PREV), _i3(tab, T_PU_RING), _i2(tab, T_PU_OUT))
    return bm, mom, liq, l3, l2, pull  # fmt: skip


@njit(cache=True)
def fused_mbo(st: np.ndarray, rec: np.ndarray, fs: np.ndarray, trades: np.ndarray,
              tab: np.ndarray) -> int:  # fmt: skip
    """MBO records (complete event groups) through the L3 book, every analytic and every
    detector; ``st`` the book's buffer, the rest of the state in ``tab``."""
    bm, mom, liq, l3, l2, pull = _states(tab)
    d_ts, tcol, off = _i1(tab, T_D_TS), _i2(tab, T_TCOL), _i1(tab, T_OFF)
    rc = _mbo(
        st, rec, fs, _i1(tab, T_BSTATE), _i1(tab, T_D_INDEX), d_ts,
        _i3(tab, T_D_LEVELS), trades, tcol, off, _f2(tab, T_MI), bm, mom, liq, l3, l2, pull,
    )  # fmt: skip
    return rc if rc else _prints(fs, trades, tcol, off, d_ts, _f2(tab, T_MI), tab)


@njit(cache=True)
def fused_nt(buf: np.ndarray, ev: np.ndarray, prints: np.ndarray, fs: np.ndarray,
             tab: np.ndarray) -> int:  # fmt: skip
    """NinjaTrader depth events and their prints through the ladder, every analytic and the
    L2 detectors; ``buf`` the ladder's buffer, the rest of the state in ``tab``."""
    bm, mom, liq, _l3, l2, pull = _states(tab)
    d_ts, tcol, off = _i1(tab, T_D_TS), _i2(tab, T_TCOL), _i1(tab, T_OFF)
    rc = _nt(
        buf, ev, prints, fs, _i1(tab, T_BSTATE), _i1(tab, T_D_INDEX), d_ts,
        _i3(tab, T_D_LEVELS), tcol, off, _f2(tab, T_MI), bm, mom, liq, l2, pull,
    )  # fmt: skip
    return rc if rc else _prints(fs, prints, tcol, off, d_ts, _f2(tab, T_MI), tab)


@njit(cache=True)
def fused_levels(prints: np.ndarray, fs: np.ndarray, d_ts: np.ndarray, d_levels: np.ndarray,
                 tcol: np.ndarray, off: np.ndarray, mi: np.ndarray,
                 tab: np.ndarray) -> int:  # fmt: skip
    """Prints over given book rows (the book as it stands), every analytic and the L2
    detectors; the components' state in ``tab``."""
    bm, mom, liq, _l3, l2, pull = _states(tab)
    rc = _levels(prints, fs, d_ts, d_levels, tcol, off, mi, bm, mom, liq, l2, pull)
    return rc if rc else _prints(fs, prints, tcol, off, d_ts, mi, tab)


# numba keys the cache on this file's stamp alone: drop the fused kernels' cached code when any
# module they compile in has changed, before anything is loaded (_fused_cache's docstring)
_fused_cache.guard(fused_mbo)
