"""Book metrics per event group: spread, mid, microprice, imbalance, OFI, depth, pulling and
stacking, walls. One jitted kernel, two paths: :func:`book_metrics_batch` over a
:class:`~orderflow.book.common.DepthRecord` and :class:`BookMetrics`, updated per event group and
readable at any time. Both run the very same ``_run`` kernel, so their numbers are identical.

Inputs are the top ``W`` levels per side at an event boundary (prices in ticks, best first, empty
levels ``NO_PRICE`` / 0) and the trades since the previous boundary (``price``, ``size``,
aggressor ``side`` as in :data:`~orderflow.model.dtypes.TRADE_DTYPE`). Formulas, with ``b``/``a``
the best bid/ask, ``qb``/``qa`` their sizes, ``l = 0`` the best level:

- **spread** ``a - b`` ticks; **mid** ``(a + b) / 2`` ticks (float, exact in half ticks);
  **microprice** ``(b * qa + a * qb) / (qb + qa)``: the mid leaned toward the thinner side.
- **imbalance** ``(B - A) / (B + A)`` in [-1, 1] and **size ratio** ``B / A``, where
  ``B = sum_l w_l * bid_size_l`` over the top N levels, ``w_l = weights[l] * decay ** l``
  (decay < 1 gives far levels less say, as Bookmap does); 0 for an empty book.
- **OFI** (Cont, Kukanov & Stoikov 2014) between consecutive boundaries at level m:
  ``e = [b' >= b] qb' - [b' <= b] qb - [a' <= a] qa' + [a' >= a] qa`` (primes: now), an empty
  bid being -inf and an empty ask +inf; multi-level OFI (Xu, Gould & Howison 2019) applies it to
  the m-th levels. Its rolling sum covers the last ``window_events`` groups or the groups with
  ``ts > now - window_ns``.
- **depth within K ticks**, per side: size at prices within K ticks of the mid (``2p >= 2mid -
  2K`` for bids) or of the side's own best (``p >= b - K``), over the recorded levels.
- **pulling / stacking** per price seen in the top N before or after: ``net = size' - size +
  traded`` where ``traded`` is the volume printed against that side at that price in between;
  ``net > 0`` is stacked, ``net < 0`` pulled. So ``size' - size = stacked - pulled - traded``
  (a level that shrank by 10 with 4 traded there has 6 pulled). A price whose size before or
  after is out of sight (beyond a full window of recorded levels) is left out.
- **walls**: levels of the top N with ``size >= multiple * ref`` and ``size >= min_size``, ref
  the median (or mean) size of that side's non-empty top-N levels; a wall's ``since`` is the
  event time it became one, kept while the price stays a wall at every boundary.

The first group after construction (or :meth:`BookMetrics.reset`) only primes the state: its OFI
and pulling/stacking are 0, since a replay's first boundary follows a snapshot, not a change.
Trades printed by the aggressor ``BID`` (a buyer) hit the ask side; ``ASK`` the bid side; an
unknown aggressor (``NONE``) hits the bid when at or below the previous best bid, the ask when
at or above the previous best ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from numba import njit

from orderflow.book._jit import KERNEL
from orderflow.book.common import DepthRecord
from orderflow.core.errors import ConfigError
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Side

__all__ = [
    "NO_TS",
    "BookMetrics",
    "BookMetricsParams",
    "BookMetricsRecord",
    "DepthParams",
    "ImbalanceParams",
    "OfiParams",
    "PullStackParams",
    "Wall",
    "WallParams",
    "book_metrics_batch",
    "trade_offsets",
]

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
# int params
P_OFI_L, P_WIN_EV, P_WIN_NS, P_DEPTH_K, P_ANCHOR_MID, P_PS_L, P_WALL_L, P_MEDIAN, P_MIN = range(9)
# int state
S_PRIMED, S_HEAD, S_COUNT, S_NWALL = 0, 1, 2, 3  # S_NWALL + side
NS = 5


# ---- parameters ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ImbalanceParams:
    """Size ratio and imbalance over the top ``levels``: level l weighs ``weights[l] * decay**l``
    (``weights`` default all 1; decay 1 = plain sums, 0.8 = each level 20% less than the last)."""

    levels: int = 10
    decay: float = 1.0
    weights: tuple[float, ...] | None = None

    def level_weights(self) -> np.ndarray:
        base = np.ones(self.levels) if self.weights is None else np.asarray(self.weights, float)
        return base * self.decay ** np.arange(self.levels)

    def __post_init__(self) -> None:
        _positive("imbalance.levels", self.levels)
        if not 0.0 < self.decay <= 1.0:
            raise ConfigError(f"imbalance.decay must be in (0, 1], got {self.decay}")
        if self.weights is not None and (len(self.weights) != self.levels or min(self.weights) < 0):
            raise ConfigError("imbalance.weights needs one non-negative weight per level")


@dataclass(frozen=True, slots=True)
class OfiParams:
    """OFI at the top ``levels`` (1 = best level only), summed over the last ``window_events``
    event groups when that is > 0, else over the groups of the last ``window_ns`` (10 s, the
    interval Cont, Kukanov & Stoikov fit on)."""

    levels: int = 1
    window_ns: int = 10_000_000_000
    window_events: int = 0

    def __post_init__(self) -> None:
        _positive("ofi.levels", self.levels)
        if self.window_events < 0 or (self.window_events == 0 and self.window_ns <= 0):
            raise ConfigError("ofi needs window_events > 0 or window_ns > 0")


@dataclass(frozen=True, slots=True)
class DepthParams:
    """Resting size within ``ticks`` of the mid (``anchor="mid"``) or of each side's best; with
    one side empty the mid anchor falls back to the other side's best."""

    ticks: int = 4
    anchor: Literal["mid", "best"] = "mid"

    def __post_init__(self) -> None:
        if self.ticks < 0 or self.anchor not in ("mid", "best"):
            raise ConfigError("depth needs ticks >= 0 and anchor 'mid' or 'best'")


@dataclass(frozen=True, slots=True)
class PullStackParams:
    """Pulling and stacking at the prices of the top ``levels`` (before or after)."""

    levels: int = 10

    def __post_init__(self) -> None:
        _positive("pull_stack.levels", self.levels)


@dataclass(frozen=True, slots=True)
class WallParams:
    """Walls: size >= ``multiple`` x the median (or mean) size of the side's top ``levels`` and
    >= ``min_size`` (1: no floor; set it per instrument, e.g. 100 for ES)."""

    levels: int = 10
    multiple: float = 3.0
    reference: Literal["median", "mean"] = "median"
    min_size: int = 1

    def __post_init__(self) -> None:
        _positive("walls.levels", self.levels)
        if self.multiple <= 0 or self.min_size < 1 or self.reference not in ("median", "mean"):
            raise ConfigError("walls need multiple > 0, min_size >= 1, reference median|mean")


@dataclass(frozen=True, slots=True)
class BookMetricsParams:
    """Every book metric's parameters (the settings file maps onto these)."""

    imbalance: ImbalanceParams = field(default_factory=ImbalanceParams)
    ofi: OfiParams = field(default_factory=OfiParams)
    depth: DepthParams = field(default_factory=DepthParams)
    pull_stack: PullStackParams = field(default_factory=PullStackParams)
    walls: WallParams = field(default_factory=WallParams)


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")


class _Packed(NamedTuple):
    width: int
    ofi_levels: int
    ps_levels: int
    wall_levels: int
    ints: np.ndarray
    floats: np.ndarray
    weights: np.ndarray


def _pack(p: BookMetricsParams, width: int) -> _Packed:
    """Parameters as the kernel's arrays, every level count capped at the recorded width."""
    if width < 1:
        raise ConfigError(f"book metrics need at least one level, got {width}")
    lo, lp, lw = (min(x, width) for x in (p.ofi.levels, p.pull_stack.levels, p.walls.levels))
    ints = np.array(
        [
            lo,
            p.ofi.window_events,
            p.ofi.window_ns,
            p.depth.ticks,
            p.depth.anchor == "mid",
            lp,
            lw,
            p.walls.reference == "median",
            p.walls.min_size,
        ],
        dtype=np.int64,
    )
    floats = np.array([p.walls.multiple], dtype=np.float64)
    weights = p.imbalance.level_weights()[:width].copy()
    return _Packed(width, lo, lp, lw, ints, floats, weights)


# ---- kernels ---------------------------------------------------------------------------------
@njit(**KERNEL)
def _size_at(px: np.ndarray, sz: np.ndarray, price: int, bid: bool) -> int:
    """Size at ``price`` in a best-first level array: 0 when absent, -1 when out of sight."""
    for i in range(px.shape[0]):
        p = px[i]
        if p == NO_PRICE or (bid and p < price) or (not bid and p > price):
            return 0
        if p == price:
            return sz[i]
    return -1


@njit(**KERNEL)
def _n_levels(px: np.ndarray, n: int) -> int:
    k = 0
    while k < n and px[k] != NO_PRICE:
        k += 1
    return k


@njit(**KERNEL)
def _ofi(prev: np.ndarray, bp, bs, ap, asz, m: int) -> int:
    """Cont-Kukanov-Stoikov OFI at level ``m`` (empty bid = -inf, empty ask = +inf)."""
    pb, qb, pa, qa = prev[0, m], prev[1, m], prev[2, m], prev[3, m]
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


@njit(**KERNEL)
def _traded_at(p, sd, tpx, tsz, trest, t0, t1):
    tr = 0
    for t in range(t0, t1):
        if trest[t] == sd and tpx[t] == p:
            tr += tsz[t]
    return tr


@njit(**KERNEL)
def _pull_stack(
    sd, old_px, old_sz, px, sz, n, aligned, tpx, tsz, trest, t0, t1, r, lpx, ldelta, ltr, oi
):
    """Per-price pulling/stacking of one side (merge of old and new top ``n``): writes the prices
    that changed or traded to row ``r`` of the per-level arrays (their count to ``oi``) and
    returns (pulled, stacked, traded). ``aligned``: same prices at the same positions."""
    bid = sd == 0
    ni, nj = _n_levels(old_px, n), _n_levels(px, n)
    i = j = k = 0
    pulled = stacked = traded = 0
    while i < ni or j < nj:
        if aligned:
            p, old, new = px[j], old_sz[i], sz[j]
            i += 1
            j += 1
        elif j >= nj or (i < ni and ((old_px[i] > px[j]) if bid else (old_px[i] < px[j]))):
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
        tr = _traded_at(p, sd, tpx, tsz, trest, t0, t1) if t1 > t0 else 0
        if new == old and tr == 0:
            continue
        net = new - old + tr
        if net > 0:
            stacked += net
        else:
            pulled -= net
        traded += tr
        lpx[r, sd, k], ldelta[r, sd, k], ltr[r, sd, k] = p, new - old, tr
        k += 1
    oi[C_NLV + sd] = k
    return pulled, stacked, traded


@njit(**KERNEL)
def _walls(sd, ts, px, sz, n, median, multiple, min_size, st, wpx, wsince, scratch, r, since):
    """Marks the walls of one side in ``since[r, sd]`` (their start time, else NO_TS), keeping a
    wall's start while it stays one; returns the reference size (median or mean, NaN if empty)."""
    k = _n_levels(px, n)
    ref = np.nan
    if k > 0:
        if median:
            for i in range(k):  # insertion sort: k <= levels, usually 10
                v, j = sz[i], i
                while j > 0 and scratch[j - 1] > v:
                    scratch[j] = scratch[j - 1]
                    j -= 1
                scratch[j] = v
            ref = (scratch[(k - 1) // 2] + scratch[k // 2]) / 2.0
        else:
            tot = 0
            for i in range(k):
                tot += sz[i]
            ref = tot / k
    nw_old = st[S_NWALL + sd]
    nw = 0
    for i in range(n):
        since[r, sd, i] = NO_TS
        if i < k and sz[i] >= min_size and sz[i] >= multiple * ref:
            s = ts
            for w in range(nw_old):
                if wpx[sd, w] == px[i]:
                    s = wsince[sd, w]
            since[r, sd, i] = s
    for i in range(k):  # the old walls were read above; now replace them
        if since[r, sd, i] != NO_TS:
            wpx[sd, nw], wsince[sd, nw] = px[i], since[r, sd, i]
            nw += 1
    st[S_NWALL + sd] = nw
    return ref


@njit(**KERNEL)
def _run(
    ts_,
    bp_,
    bs_,
    ap_,
    asz_,
    off,
    tpx,
    tsz,
    tsd,
    pi,
    pf,
    wts,
    st,
    prev,
    acc,
    rts,
    rofi,
    wpx,
    wsince,
    scratch,
    trest,
    oi,
    of,
    ofi,
    ofi_sum,
    since,
    per_level,
    lpx,
    ldelta,
    ltr,
):
    """Every metric for every group (row) of the inputs, from the state in ``st``..``scratch``:
    the one kernel of both paths (the incremental one passes a single row). Per-level rows go
    to row ``r`` when ``per_level``, else to row 0; ``rp`` is the previous group's row."""
    for r in range(ts_.shape[0]):
        ts, bp, bs, ap, asz = ts_[r], bp_[r], bs_[r], ap_[r], asz_[r]
        t0, t1 = off[r], off[r + 1]
        lr = r if per_level else 0
        rp = r - 1 if r > 0 else 0
        w = bp.shape[0]
        b, a = bp[0], ap[0]
        both = b != NO_PRICE and a != NO_PRICE
        oi[r, C_SPREAD] = a - b if both else NO_PRICE
        of[r, F_MID] = (a + b) / 2.0 if both else np.nan
        of[r, F_MICRO] = (b * asz[0] + a * bs[0]) / (bs[0] + asz[0]) if both else np.nan
        bw = aw = 0.0
        for i in range(min(w, wts.shape[0])):
            bw += wts[i] * bs[i]
            aw += wts[i] * asz[i]
        of[r, F_BID_W], of[r, F_ASK_W] = bw, aw
        of[r, F_RATIO] = bw / aw if aw > 0 else (np.inf if bw > 0 else np.nan)
        of[r, F_IMB] = (bw - aw) / (bw + aw) if bw + aw > 0 else 0.0
        # depth within K ticks (in half ticks so the mid stays an integer)
        k2 = 2 * pi[P_DEPTH_K]
        lim_b = (a + b - k2) if both and pi[P_ANCHOR_MID] else 2 * b - k2
        lim_a = (a + b + k2) if both and pi[P_ANCHOR_MID] else 2 * a + k2
        db = da = 0
        for i in range(w):
            if bp[i] != NO_PRICE and 2 * bp[i] >= lim_b:
                db += bs[i]
            if ap[i] != NO_PRICE and 2 * ap[i] <= lim_a:
                da += asz[i]
        oi[r, C_DEPTH_BID], oi[r, C_DEPTH_ASK] = db, da
        # OFI and its rolling sum (ring of the groups in the window)
        primed = st[S_PRIMED] != 0
        nl = ofi.shape[1]
        cap = rts.shape[0]
        pos = (st[S_HEAD] + st[S_COUNT]) % cap
        rts[pos] = ts
        for m in range(nl):
            e = _ofi(prev, bp, bs, ap, asz, m) if primed else 0
            ofi[r, m] = e
            rofi[pos, m] = e
            acc[m] += e
        st[S_COUNT] += 1
        while st[S_COUNT] > 0 and (
            (pi[P_WIN_EV] > 0 and st[S_COUNT] > pi[P_WIN_EV])
            or (pi[P_WIN_EV] == 0 and rts[st[S_HEAD]] <= ts - pi[P_WIN_NS])
        ):
            h = st[S_HEAD]
            for m in range(nl):
                acc[m] -= rofi[h, m]
            st[S_HEAD] = (h + 1) % cap
            st[S_COUNT] -= 1
        for m in range(nl):
            ofi_sum[r, m] = acc[m]
        # pulling and stacking against the trades of the group
        pb, pa = prev[0, 0], prev[2, 0]
        for t in range(t0, t1):
            s = tsd[t]
            if s == Side.BID:
                trest[t] = Side.ASK
            elif s == Side.ASK or (pb != NO_PRICE and tpx[t] <= pb):
                trest[t] = Side.BID
            elif pa != NO_PRICE and tpx[t] >= pa:
                trest[t] = Side.ASK
            else:
                trest[t] = -1
        for sd in range(2):
            px, sz = (bp, bs) if sd == 0 else (ap, asz)
            pl = stk = trd = 0
            old_px, old_sz = prev[2 * sd], prev[2 * sd + 1]
            aligned = same = True
            for i in range(w):
                if px[i] != old_px[i]:
                    aligned = same = False
                    break
                if sz[i] != old_sz[i]:
                    same = False
            oi[r, C_NLV + sd] = 0
            if primed and not (same and t1 == t0):
                pl, stk, trd = _pull_stack(
                    sd,
                    old_px,
                    old_sz,
                    px,
                    sz,
                    pi[P_PS_L],
                    aligned,
                    tpx,
                    tsz,
                    trest,
                    t0,
                    t1,
                    lr,
                    lpx,
                    ldelta,
                    ltr,
                    oi[r],
                )
            for c, v in ((0, pl), (1, stk), (2, trd)):
                oi[r, C_PS + 3 * sd + c] = v
                st[NS + 3 * sd + c] += v
                oi[r, C_CUM + 3 * sd + c] = st[NS + 3 * sd + c]
            if primed and same:  # the walls stand as they were (the batch copies its last row)
                of[r, F_REF + sd] = of[rp, F_REF + sd]
                for i in range(since.shape[2]):
                    since[r, sd, i] = since[rp, sd, i]
            else:
                of[r, F_REF + sd] = _walls(
                    sd,
                    ts,
                    px,
                    sz,
                    pi[P_WALL_L],
                    pi[P_MEDIAN] != 0,
                    pf[0],
                    pi[P_MIN],
                    st,
                    wpx,
                    wsince,
                    scratch,
                    r,
                    since,
                )
        for i in range(w):
            prev[0, i], prev[1, i], prev[2, i], prev[3, i] = bp[i], bs[i], ap[i], asz[i]
        st[S_PRIMED] = 1


# ---- state shared by both paths --------------------------------------------------------------
class _State:
    """The kernel's mutable state for one stream (previous top-N, OFI ring, walls, totals)."""

    def __init__(self, pk: _Packed, ring: int) -> None:
        self.st = np.zeros(NS + 6, dtype=np.int64)
        self.prev = np.zeros((4, pk.width), dtype=np.int64)
        self.prev[0::2] = NO_PRICE
        self.acc = np.zeros(pk.ofi_levels, dtype=np.int64)
        self.rts = np.zeros(ring, dtype=np.int64)
        self.rofi = np.zeros((ring, pk.ofi_levels), dtype=np.int64)
        self.wpx = np.zeros((2, pk.wall_levels), dtype=np.int64)
        self.wsince = np.zeros((2, pk.wall_levels), dtype=np.int64)
        self.scratch = np.zeros(pk.wall_levels, dtype=np.int64)

    def grow_ring(self) -> None:
        """Doubles the OFI ring, oldest group first. O(ring)."""
        head, count = int(self.st[S_HEAD]), int(self.st[S_COUNT])
        order = (head + np.arange(count)) % len(self.rts)
        n = 2 * len(self.rts)
        rts, rofi = np.zeros(n, dtype=np.int64), np.zeros((n, self.rofi.shape[1]), np.int64)
        rts[:count], rofi[:count] = self.rts[order], self.rofi[order]
        self.rts, self.rofi = rts, rofi
        self.st[S_HEAD] = 0


def _columns(trades: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if trades is None or len(trades) == 0:
        return _NO_TRADES
    return (
        np.ascontiguousarray(trades["price"], dtype=np.int64),
        np.ascontiguousarray(trades["size"], dtype=np.int64),
        np.ascontiguousarray(trades["side"], dtype=np.int64),
    )


_NO_TRADES = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


def _row(a: np.ndarray) -> np.ndarray:
    """A 1-D level array as the one-row 2-D int64 array the kernel takes (no copy if it can)."""
    return np.ascontiguousarray(a, dtype=np.int64).reshape(1, -1)


# ---- batch -----------------------------------------------------------------------------------
def trade_offsets(
    depth: DepthRecord, trades: np.ndarray | None, trade_index: np.ndarray | None = None
) -> np.ndarray:
    """``off`` with trades ``off[r]:off[r+1]`` printed in group ``r`` (after boundary r-1, up to
    boundary r). Groups by event index in the batch when ``trade_index`` is given (exact), else
    by ``ts_event`` (a trade goes to the first boundary at or after it). Trades after the last
    boundary are left out. Trades must be in stream order. O(trades + log boundaries)."""
    b = len(depth)
    if trades is None or len(trades) == 0:
        return np.zeros(b + 1, dtype=np.int64)
    if trade_index is not None:
        group = np.searchsorted(depth.index, trade_index, side="left")
    else:
        group = np.searchsorted(depth.ts_event, trades["ts_event"], side="left")
    return np.searchsorted(group, np.arange(b + 1), side="left").astype(np.int64)


def book_metrics_batch(
    depth: DepthRecord,
    trades: np.ndarray | None = None,
    trade_index: np.ndarray | None = None,
    params: BookMetricsParams | None = None,
    per_level: bool = False,
) -> BookMetricsRecord:
    """Every book metric at every boundary of ``depth``, from a fresh state (the first boundary
    primes it). ``trades``: any structured array with ``ts_event``, ``price``, ``size`` and
    ``side`` (TRADE_DTYPE, or the TRADE rows of an MBO array with their indices as
    ``trade_index``). ``per_level`` also keeps the per-price pulling/stacking of every group
    (``boundaries x 2 x 2N`` cells; off by default, the totals are always kept). O(boundaries x
    levels + trades x levels)."""
    params = params or BookMetricsParams()
    b, w = depth.bid_price.shape
    pk = _pack(params, w)
    win = params.ofi.window_events
    state = _State(pk, (win if win > 0 else b) + 1)
    off = trade_offsets(depth, trades, trade_index)
    tpx, tsz, tsd = _columns(trades)
    rec = BookMetricsRecord.empty(depth.ts_event.copy(), pk, per_level, off)
    _run(
        depth.ts_event,
        depth.bid_price,
        depth.bid_size,
        depth.ask_price,
        depth.ask_size,
        off,
        tpx,
        tsz,
        tsd,
        pk.ints,
        pk.floats,
        pk.weights,
        state.st,
        state.prev,
        state.acc,
        state.rts,
        state.rofi,
        state.wpx,
        state.wsince,
        state.scratch,
        np.zeros_like(tsd),
        rec.ints,
        rec.floats,
        rec.ofi_levels,
        rec.ofi_sum_levels,
        rec.wall_since,
        per_level,
        rec.level_price,
        rec.level_change,
        rec.level_traded,
    )
    return rec


@dataclass(slots=True)
class BookMetricsRecord:
    """Book metrics at every boundary (rows match the DepthRecord's). Prices in ticks.

    ``ints``/``floats`` hold the scalar metrics as columns (use the properties);
    ``ofi_levels``/``ofi_sum_levels`` ``(B, L)``; ``wall_since`` ``(B, 2, N)`` the start time of
    the wall at each level, ``NO_TS`` if none; the per-level pulling/stacking ``(B, 2, 2N)``
    when recorded (else one row): the first ``level_count[:, side]`` cells of a row are the
    prices that changed size or traded, best first.
    """

    ts_event: np.ndarray
    ints: np.ndarray
    floats: np.ndarray
    ofi_levels: np.ndarray
    ofi_sum_levels: np.ndarray
    wall_since: np.ndarray
    level_price: np.ndarray
    level_change: np.ndarray
    level_traded: np.ndarray
    trade_offsets: np.ndarray

    @classmethod
    def empty(cls, ts: np.ndarray, pk: _Packed, per_level: bool, off: Any) -> BookMetricsRecord:
        b = len(ts)
        lv = (b if per_level else 1, 2, 2 * pk.ps_levels)
        return cls(
            ts,
            np.zeros((b, NI), np.int64),
            np.zeros((b, NF)),
            np.zeros((b, pk.ofi_levels), np.int64),
            np.zeros((b, pk.ofi_levels), np.int64),
            np.zeros((b, 2, pk.wall_levels), np.int64),
            np.zeros(lv, np.int64),
            np.zeros(lv, np.int64),
            np.zeros(lv, np.int64),
            off,
        )

    def __len__(self) -> int:
        return len(self.ts_event)

    spread = property(lambda s: s.ints[:, C_SPREAD])  # NO_PRICE when a side is empty
    mid = property(lambda s: s.floats[:, F_MID])  # NaN when a side is empty
    microprice = property(lambda s: s.floats[:, F_MICRO])
    bid_weighted = property(lambda s: s.floats[:, F_BID_W])
    ask_weighted = property(lambda s: s.floats[:, F_ASK_W])
    size_ratio = property(lambda s: s.floats[:, F_RATIO])
    imbalance = property(lambda s: s.floats[:, F_IMB])
    ofi = property(lambda s: s.ofi_levels.sum(axis=1))  # summed over the OFI levels
    ofi_sum = property(lambda s: s.ofi_sum_levels.sum(axis=1))
    depth_bid = property(lambda s: s.ints[:, C_DEPTH_BID])
    depth_ask = property(lambda s: s.ints[:, C_DEPTH_ASK])
    wall_reference = property(lambda s: s.floats[:, F_REF : F_REF + 2])  # (B, side)
    level_count = property(lambda s: s.ints[:, C_NLV : C_NLV + 2])  # (B, side)

    def pull_stack(self, side: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pulled, stacked, traded) of ``side`` per group."""
        c = C_PS + 3 * int(side)
        return self.ints[:, c], self.ints[:, c + 1], self.ints[:, c + 2]

    def pull_stack_totals(self, side: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Running (pulled, stacked, traded) of ``side`` after each group."""
        c = C_CUM + 3 * int(side)
        return self.ints[:, c], self.ints[:, c + 1], self.ints[:, c + 2]


# ---- incremental -----------------------------------------------------------------------------
class Wall(NamedTuple):
    """A large resting order level. ``multiple`` = size / reference size of its side."""

    side: Side
    price: int
    size: int
    multiple: float
    since_ns: int
    age_ns: int


class BookMetrics:
    """Book metrics of one stream, updated per event group, readable at any time in O(1) (top
    of book, imbalance, OFI) or O(levels) (per-level arrays, walls).

    ``update`` costs O(levels x (1 + trades of the group)) plus amortised O(1) for the OFI
    window; it runs the batch's kernel, so a stream fed here gives the batch's numbers.
    """

    def __init__(self, params: BookMetricsParams | None = None, width: int = 10) -> None:
        self.params = params or BookMetricsParams()
        self._pk = _pack(self.params, width)
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a book reset or snapshot); the next group primes again."""
        pk = self._pk
        win = self.params.ofi.window_events
        self._s = _State(pk, win + 1 if win > 0 else 64)
        self._r = BookMetricsRecord.empty(np.zeros(1, np.int64), pk, False, None)
        self._off = np.zeros(2, dtype=np.int64)
        self._trest = np.zeros(16, dtype=np.int64)

    def update(
        self,
        ts_event: int,
        bid_price: np.ndarray,
        bid_size: np.ndarray,
        ask_price: np.ndarray,
        ask_size: np.ndarray,
        trades: np.ndarray | None = None,
    ) -> None:
        """Takes the top-N arrays at a boundary (length ``width``, best first) and the trades
        printed since the previous one."""
        s, r, pk = self._s, self._r, self._pk
        if len(bid_price) != pk.width or len(ask_price) != pk.width:
            raise ValueError(f"top-of-book arrays must hold {pk.width} levels")
        if s.st[S_COUNT] == len(s.rts):
            s.grow_ring()
        tpx, tsz, tsd = _columns(trades)
        if len(tsd) > len(self._trest):
            self._trest = np.zeros(2 * len(tsd), dtype=np.int64)
        r.ts_event[0] = ts_event
        self._off[1] = len(tsd)
        _run(
            r.ts_event,
            _row(bid_price),
            _row(bid_size),
            _row(ask_price),
            _row(ask_size),
            self._off,
            tpx,
            tsz,
            tsd,
            pk.ints,
            pk.floats,
            pk.weights,
            s.st,
            s.prev,
            s.acc,
            s.rts,
            s.rofi,
            s.wpx,
            s.wsince,
            s.scratch,
            self._trest,
            r.ints,
            r.floats,
            r.ofi_levels,
            r.ofi_sum_levels,
            r.wall_since,
            False,
            r.level_price,
            r.level_change,
            r.level_traded,
        )

    # ---- reads: O(1) ----
    @property
    def ts_event(self) -> int:
        return int(self._r.ts_event[0])

    def _f(self, c: int) -> float:
        return float(self._r.floats[0, c])

    spread = property(
        lambda s: None if s._r.ints[0, C_SPREAD] == NO_PRICE else int(s._r.ints[0, C_SPREAD])
    )
    mid = property(lambda s: s._f(F_MID))
    microprice = property(lambda s: s._f(F_MICRO))
    bid_weighted = property(lambda s: s._f(F_BID_W))
    ask_weighted = property(lambda s: s._f(F_ASK_W))
    size_ratio = property(lambda s: s._f(F_RATIO))
    imbalance = property(lambda s: s._f(F_IMB))
    ofi = property(lambda s: int(s._r.ofi_levels[0].sum()))
    ofi_sum = property(lambda s: int(s._r.ofi_sum_levels[0].sum()))
    ofi_levels = property(lambda s: s._r.ofi_levels[0].copy())
    ofi_sum_levels = property(lambda s: s._r.ofi_sum_levels[0].copy())
    depth_within = property(
        lambda s: (int(s._r.ints[0, C_DEPTH_BID]), int(s._r.ints[0, C_DEPTH_ASK]))
    )

    def pull_stack(self, side: Side) -> tuple[int, int, int]:
        """(pulled, stacked, traded) of ``side`` in the latest group."""
        c = C_PS + 3 * int(side)
        return tuple(int(x) for x in self._r.ints[0, c : c + 3])  # type: ignore[return-value]

    def pull_stack_totals(self, side: Side) -> tuple[int, int, int]:
        """Running (pulled, stacked, traded) of ``side`` since construction or reset."""
        c = C_CUM + 3 * int(side)
        return tuple(int(x) for x in self._r.ints[0, c : c + 3])  # type: ignore[return-value]

    # ---- reads: O(levels) ----
    def pull_stack_levels(self, side: Side) -> dict[str, np.ndarray]:
        """The latest group's prices of ``side`` that changed size or traded (best first):
        ``price``, ``change`` (new - old size), ``traded``, ``pulled``, ``stacked``. O(levels)."""
        r, sd = self._r, int(side)
        n = int(r.ints[0, C_NLV + sd])
        change, traded = r.level_change[0, sd, :n].copy(), r.level_traded[0, sd, :n].copy()
        net = change + traded
        return {
            "price": r.level_price[0, sd, :n].copy(),
            "change": change,
            "traded": traded,
            "pulled": np.maximum(-net, 0),
            "stacked": np.maximum(net, 0),
        }

    def walls(self) -> list[Wall]:
        """The walls at the latest boundary, bids then asks, best first. O(levels)."""
        out, ts, prev = [], self.ts_event, self._s.prev
        for sd in (0, 1):
            ref = self._f(F_REF + sd)
            for i, since in enumerate(self._r.wall_since[0, sd]):
                if since != NO_TS:
                    size = int(prev[2 * sd + 1, i])
                    out.append(
                        Wall(
                            Side(sd),
                            int(prev[2 * sd, i]),
                            size,
                            size / ref,
                            int(since),
                            ts - int(since),
                        )
                    )
        return out
