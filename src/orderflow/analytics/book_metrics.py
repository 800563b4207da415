"""Book metrics per event group: spread, mid, microprice, imbalance, OFI, depth, pulling and
stacking, walls. One jitted kernel, two paths: :func:`book_metrics_batch` over a
:class:`~orderflow.book.common.DepthRecord` and :class:`BookMetrics`, updated per event group and
readable at any time. Both run the very same per-group kernel (``_step``, inlined into the
batch loop ``_run`` and the one-group ``_update_py``), so their numbers are identical.

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

Speed: on the ESH4 replay (47,022 boundaries, top 10) the batch costs under 100 ns a boundary
and ``update`` under 1 us a call, most of it numba's dispatch. The kernel never allocates: a
stream's parameters, state and (incremental) outputs live in one int and one float buffer, the
batch reads the previous boundary's levels from its own input, sizes are summed as int64 when
every imbalance weight is 1 (the very same doubles), one branch-free pass over the levels finds
which sizes changed, and when the prices did not move only those levels (and the traded ones)
are visited for pulling and stacking and the sorted sizes behind the median are only updated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, NamedTuple

import numpy as np
from numba import njit, types
from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

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


def _pack(p: BookMetricsParams, width: int) -> _Packed:
    """Parameters as the kernel's arrays, every level count capped at the recorded width.

    ``ints`` (``NP`` long) heads the flat int buffer of a stream and gives its layout: then the
    state (``NST`` scalars and totals from ``NP``, the previous top ``width`` from ``P_O_PREV``
    as bid prices, bid sizes, ask prices, ask sizes, the OFI accumulators from ``P_O_ACC``, the
    walls from ``P_O_WALL``: prices and starts of each side's walls and the sorted sizes of each
    side's levels), ending at ``P_MEM``; the incremental path's int outputs follow (``ts_event``,
    the ``NI`` ints, OFI from ``P_O_OFI``, its sum, wall starts, per-level prices, changes and
    traded volumes), ending at ``P_OUT``. ``floats`` (the wall multiple, then the imbalance
    weights) heads the float buffer, followed from ``P_O_OF`` by the incremental path's
    ``NF`` float outputs."""
    if width < 1:
        raise ConfigError(f"book metrics need at least one level, got {width}")
    lo, lp, lw = (min(x, width) for x in (p.ofi.levels, p.pull_stack.levels, p.walls.levels))
    o_prev = NP + NST
    o_acc = o_prev + 4 * width
    o_wall = o_acc + lo
    mem = o_wall + 6 * lw
    o_ofi = mem + 1 + NI
    o_ofs = o_ofi + lo
    o_since = o_ofs + lo
    o_lv = o_since + 2 * lw
    out = o_lv + 3 * 2 * 2 * lp
    weights = p.imbalance.level_weights()[:width]
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
            bool(np.all(weights == 1.0)),
            len(weights),
            width,
            o_prev,
            o_acc,
            o_wall,
            mem,
            o_ofi,
            o_ofs,
            o_since,
            o_lv,
            out,
            1 + len(weights),
        ],
        dtype=np.int64,
    )
    floats = np.concatenate(([float(p.walls.multiple)], weights)).astype(np.float64)
    return _Packed(width, lo, lp, lw, ints, floats)


# ---- kernels ---------------------------------------------------------------------------------
# All of them are inlined into the two entry points (_run, _update_py): a call between numba
# functions passes every array as a struct and costs more than most of these bodies. Output rows
# are 1-D (a row of the batch's arrays, or a slice of the incremental path's flat buffer), so
# the incremental path needs no reshape.
@njit(inline="always", **KERNEL)
def _size_at(px: np.ndarray, sz: np.ndarray, price: int, bid: bool) -> int:
    """Size at ``price`` in a best-first level array: 0 when absent, -1 when out of sight."""
    for i in range(px.shape[0]):
        p = px[i]
        if p == NO_PRICE or (bid and p < price) or (not bid and p > price):
            return 0
        if p == price:
            return sz[i]
    return -1


@njit(inline="always", **KERNEL)
def _n_levels(px: np.ndarray, n: int) -> int:
    """Levels before the first empty one, at most ``n``."""
    k = 0
    while k < n and px[k] != NO_PRICE:
        k += 1
    return k


@njit(inline="always", **KERNEL)
def _ofi(pbp, pbs, pap, pas, bp, bs, ap, asz, m: int) -> int:
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


@njit(inline="always", **KERNEL)
def _rest(s, p, pb, pa):
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


@njit(inline="always", **KERNEL)
def _traded_at(p, sd, tb, pb, pa, t0, t1):
    """Volume printed against side ``sd`` at price ``p`` (trades ``t0:t1`` of ``tb``)."""
    tr = 0
    for t in range(t0, t1):
        if tb[0, t] == p and _rest(tb[2, t], p, pb, pa) == sd:
            tr += tb[1, t]
    return tr


@njit(inline="always", **KERNEL)
def _record_level(p, old, new, tr, at, lpx, ldelta, ltr):
    """One level that changed or traded: its row ``at`` of the per-level arrays, and its
    (pulled, stacked) contribution: the size change net of what traded there."""
    net = new - old + tr
    lpx[at], ldelta[at], ltr[at] = p, new - old, tr
    return max(-net, 0), max(net, 0)


@njit(inline="always", **KERNEL)
def _pull_stack(sd, old_px, old_sz, px, sz, ni, nj, tb, pb, pa, t0, t1, lpx, ldelta, ltr, oi):
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


@njit(inline="always", **KERNEL)
def _pull_stack_aligned(sd, px, old_sz, sz, m, d0, d1, tb, pb, pa, t0, t1, lpx, ldelta, ltr, oi):
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


@njit(inline="always", **KERNEL)
def _resort(srt, k, old, new):
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


@njit(inline="always", **KERNEL)
def _walls(sd, ts, px, sz, old_sz, k, aligned, d0, d1, pi, multiple, st, walls, since):
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


@njit(inline="always", **KERNEL)
def _changed(mask, sz, old_sz):
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


@njit(inline="always", **KERNEL)
def _step(
    ts, bp, bs, ap, asz, pbp, pbs, pap, pas, tb, t0, t1, pi, pf, st, acc, ring, walls, oi, of,
    ofi, ofs, since, of_prev, since_prev, lpx, ldelta, ltr
):  # fmt: skip
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
        bit = one << min(i, 62)  # levels from 62 on share a bit: see _changed
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


@njit(inline="always", **KERNEL)
def _state(pi):
    """Views of the state in the int buffer ``pi``: scalars and totals, the previous top-N (bid
    prices, bid sizes, ask prices, ask sizes), the OFI accumulators and the walls."""
    w, o, a, wl = pi[P_WIDTH], pi[P_O_PREV], pi[P_O_ACC], pi[P_O_WALL]
    return pi[NP : NP + NST], pi[o : o + 4 * w], pi[a:wl], pi[wl : pi[P_MEM]]


@njit(inline="always", **KERNEL)
def _keep(prev, bp, bs, ap, asz):
    """The boundary's levels as the state's previous ones."""
    w = bp.shape[0]
    for i in range(w):
        prev[i], prev[w + i], prev[2 * w + i], prev[3 * w + i] = bp[i], bs[i], ap[i], asz[i]


@njit(**KERNEL)
def _run(
    ts_, bp_, bs_, ap_, asz_, off, tb, pi, pf, ring, oi, of, ofi, ofs, since, per_level, lpx,
    ldelta, ltr
):  # fmt: skip
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


def _update_py(ts, bp, bs, ap, asz, tb, nt, pi, ring, pf):
    """One group through ``_step`` with the incremental path's flat buffers (``pi``: params,
    state and int outputs; ``pf``: params and float outputs), no reshape, no allocation:
    returns 1 (and changes nothing) if an array is not ``width`` long, 2 if the OFI ring is
    full, else 0."""
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
        0, nt, pi, pf, st, acc, ring, walls, pi[m + 1 : m + 1 + NI], of, pi[o : o + nl],
        pi[o + nl : o + 2 * nl], since, of, since, pi[v : v + lp], pi[v + lp : v + 2 * lp],
        pi[v + 2 * lp : v + 3 * lp]
    )  # fmt: skip
    _keep(prev, bp, bs, ap, asz)
    return 0


_I1 = types.Array(types.int64, 1, "C")
_I2 = types.Array(types.int64, 2, "C")
_UPDATE_SIG = types.int64(
    types.int64, _I1, _I1, _I1, _I1, _I2, types.int64, _I1, _I2, types.Array(types.float64, 1, "C")
)  # fmt: skip


@cache
def _update_kernel() -> Any:
    """``_update_py`` compiled (on first use) for int64 arrays only: any other argument types
    fail fast with TypeError instead of compiling again, and the caller converts them."""
    return njit(_UPDATE_SIG, **KERNEL)(_update_py)


# ---- state shared by both paths --------------------------------------------------------------
class _State:
    """The kernel's mutable state for one stream: the int buffer ``ints`` (params, then scalars
    and totals, previous top-N, OFI accumulators, walls, then the incremental path's outputs
    when ``outputs``) and ``ring``, the OFI window (ts, then OFI per level, per group)."""

    def __init__(self, pk: _Packed, ring: int, outputs: bool = False) -> None:
        pi = pk.ints
        self.ints = np.zeros(int(pi[P_OUT] if outputs else pi[P_MEM]), dtype=np.int64)
        self.ints[:NP] = pi
        self.st = self.ints[NP : NP + NST]
        o = int(pi[P_O_PREV])
        self.prev = self.ints[o : o + 4 * pk.width].reshape(4, pk.width)
        self.prev[0::2] = NO_PRICE
        self.ring = np.zeros((ring, 1 + pk.ofi_levels), dtype=np.int64)

    def grow_ring(self) -> None:
        """Doubles the OFI ring, oldest group first. O(ring)."""
        head, count = int(self.st[S_HEAD]), int(self.st[S_COUNT])
        order = (head + np.arange(count)) % len(self.ring)
        ring = np.zeros((2 * len(self.ring), self.ring.shape[1]), np.int64)
        ring[:count] = self.ring[order]
        self.ring = ring
        self.st[S_HEAD] = 0


def _columns(trades: np.ndarray | None) -> np.ndarray:
    """The trades as the kernel's ``(3, T)`` int64 rows: price, size, aggressor side."""
    if trades is None:
        return np.empty((3, 0), dtype=np.int64)
    tb = np.empty((3, len(trades)), dtype=np.int64)
    tb[0], tb[1], tb[2] = trades["price"], trades["size"], trades["side"]
    return tb


# ---- batch -----------------------------------------------------------------------------------
@njit(**KERNEL)
def _offsets_in_order(bounds, keys, off):  # type: ignore[no-untyped-def]
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


def _i8c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def trade_offsets(
    depth: DepthRecord, trades: np.ndarray | None, trade_index: np.ndarray | None = None
) -> np.ndarray:
    """``off`` with trades ``off[r]:off[r+1]`` printed in group ``r`` (after boundary r-1, up to
    boundary r). Groups by event index in the batch when ``trade_index`` is given (exact), else
    by ``ts_event`` (a trade goes to the first boundary at or after it). Trades after the last
    boundary are left out. Trades must be in stream order. O(trades x log boundaries +
    boundaries)."""
    b = len(depth)
    if trades is None or len(trades) == 0:
        return np.zeros(b + 1, dtype=np.int64)
    off = np.zeros(b + 1, dtype=np.int64)
    keys = trades["ts_event"] if trade_index is None else trade_index
    bounds = depth.ts_event if trade_index is None else depth.index
    if _offsets_in_order(_i8c(bounds), _i8c(keys), off):  # one compiled pass, stream order
        return off
    if trade_index is not None:
        group = np.searchsorted(depth.index, trade_index, side="left")
    else:
        group = np.searchsorted(depth.ts_event, trades["ts_event"], side="left")
    if np.all(group[1:] >= group[:-1]):  # stream order: count the trades of each group
        off = np.zeros(b + 1, dtype=np.int64)
        np.cumsum(np.bincount(group, minlength=b + 1)[:b], out=off[1:])
        return off
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
    tb = _columns(trades)
    lv = np.zeros((3, b if per_level else 1, 2, 2 * pk.ps_levels), np.int64)
    rec = BookMetricsRecord.empty(depth.ts_event.copy(), pk, per_level, off, lv)
    ts, bp, bs, ap, asz = (
        np.ascontiguousarray(x, dtype=np.int64)  # no copy for a DepthRecord's arrays
        for x in (depth.ts_event, depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size)
    )
    _run(
        ts,
        bp,
        bs,
        ap,
        asz,
        off,
        tb,
        state.ints,
        pk.floats,
        state.ring,
        rec.ints,
        rec.floats,
        rec.ofi_levels,
        rec.ofi_sum_levels,
        rec.wall_since.reshape(b, 2 * pk.wall_levels),
        per_level,
        *(x.reshape(len(x), 4 * pk.ps_levels) for x in lv),
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
    def empty(
        cls, ts: np.ndarray, pk: _Packed, per_level: bool, off: Any, levels: Any = None
    ) -> BookMetricsRecord:
        """Arrays for ``len(ts)`` boundaries, for the kernel to fill: those it writes whole are
        left uninitialised. The per-level price, change and traded arrays are the three rows of
        ``levels`` (``(3, B or 1, 2, 2N)``, zeros if not given)."""
        b = len(ts)
        if levels is None:
            levels = np.zeros((3, b if per_level else 1, 2, 2 * pk.ps_levels), np.int64)
        return cls(
            ts,
            np.empty((b, NI), np.int64),
            np.empty((b, NF)),
            np.empty((b, pk.ofi_levels), np.int64),
            np.empty((b, pk.ofi_levels), np.int64),
            np.empty((b, 2, pk.wall_levels), np.int64),
            levels[0],
            levels[1],
            levels[2],
            off,
        )

    @classmethod
    def over(cls, out: np.ndarray, floats: np.ndarray, pk: _Packed) -> BookMetricsRecord:
        """A one-row record of views of the flat buffers ``out`` and ``floats`` (laid out as
        ``_pack`` says), as the incremental kernel writes them."""
        pi, lo, lw, lp2 = pk.ints, pk.ofi_levels, pk.wall_levels, 2 * pk.ps_levels
        m, o, s, lv = int(pi[P_MEM]), int(pi[P_O_OFI]), int(pi[P_O_SINCE]), int(pi[P_O_LV])
        f = int(pi[P_O_OF])
        levels = out[lv : lv + 3 * 2 * lp2].reshape(3, 1, 2, lp2)
        return cls(
            out[m : m + 1],
            out[m + 1 : m + 1 + NI].reshape(1, NI),
            floats[f : f + NF].reshape(1, NF),
            out[o : o + lo].reshape(1, lo),
            out[o + lo : o + 2 * lo].reshape(1, lo),
            out[s : s + 2 * lw].reshape(1, 2, lw),
            levels[0],
            levels[1],
            levels[2],
            None,
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
    window; it runs the batch's per-group kernel on preallocated buffers, so a stream fed here
    gives the batch's numbers.
    """

    def __init__(self, params: BookMetricsParams | None = None, width: int = 10) -> None:
        self.params = params or BookMetricsParams()
        self._pk = _pack(self.params, width)
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a book reset or snapshot); the next group primes again."""
        pk = self._pk
        win = self.params.ofi.window_events
        self._s = _State(pk, win + 1 if win > 0 else 64, outputs=True)
        self._floats = np.concatenate((pk.floats, np.zeros(NF)))
        self._r = BookMetricsRecord.over(self._s.ints, self._floats, pk)
        self._tb = np.zeros((3, 16), dtype=np.int64)  # trades of the group: price, size, side
        self._kern = _update_kernel()
        self._bind()

    def _bind(self) -> None:
        """The kernel's trailing arguments, fixed until the OFI ring grows or a reset."""
        self._args = (self._s.ints, self._s.ring, self._floats)

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
        printed since the previous one. No allocation when the arrays are C-contiguous int64
        (a DepthRecord's rows); anything else is converted first."""
        nt = 0 if trades is None else len(trades)
        tb = self._tb if trades is None or nt == 0 else self._load(trades, nt)
        try:
            rc = self._kern(ts_event, bid_price, bid_size, ask_price, ask_size, tb, nt, *self._args)
        except TypeError:  # not int64 C arrays (lists, other dtypes, strided views): convert
            levels = (bid_price, bid_size, ask_price, ask_size)
            if any(len(x) != self._pk.width for x in levels):
                rc = 1
            else:
                bp, bs, ap, asz = (np.array(x, dtype=np.int64).reshape(-1) for x in levels)
                self.update(int(ts_event), bp, bs, ap, asz, trades)
                return
        if rc == 2:  # the OFI ring is full: grow it and run the group (nothing was changed)
            self._s.grow_ring()
            self._bind()
            rc = self._kern(ts_event, bid_price, bid_size, ask_price, ask_size, tb, nt, *self._args)
        if rc == 1:
            raise ValueError(f"top-of-book arrays must hold {self._pk.width} levels")

    def update_many(
        self,
        depth: DepthRecord,
        trades: np.ndarray | None = None,
        trade_offsets: np.ndarray | None = None,
    ) -> BookMetricsRecord:
        """Many event groups at once (a replay chunk), continuing this stream's state: the
        batch kernel over the rows of ``depth`` with ``trades[off[r]:off[r + 1]]`` printed in
        group ``r``. Feeding groups here in chunks of any size or one by one through
        :meth:`update` gives the same numbers; returns the metrics of every group (per-level
        pulling/stacking only for the last, as :meth:`pull_stack_levels` reads it)."""
        b, w = depth.bid_price.shape
        if w != self._pk.width:
            raise ValueError(f"top-of-book arrays must hold {self._pk.width} levels")
        pk, s = self._pk, self._s
        off = np.zeros(b + 1, dtype=np.int64) if trade_offsets is None else trade_offsets
        if trades is not None and len(trades) and trade_offsets is None:
            raise ValueError("trades need trade_offsets (which group each trade belongs to)")
        if self.params.ofi.window_events <= 0:  # a time window may hold every group of the chunk
            while len(s.ring) < int(s.st[S_COUNT]) + b + 1:
                s.grow_ring()
            self._bind()
        lv = np.zeros((3, 1, 2, 2 * pk.ps_levels), np.int64)
        rec = BookMetricsRecord.empty(np.array(depth.ts_event, dtype=np.int64), pk, False, off, lv)
        if b == 0:
            return rec
        r = self._r
        rec.floats[0], rec.wall_since[0] = r.floats[0], r.wall_since[0]  # "previous" of row 0
        ts, bp, bs, ap, asz = (
            np.ascontiguousarray(x, dtype=np.int64)
            for x in (
                depth.ts_event,
                depth.bid_price,
                depth.bid_size,
                depth.ask_price,
                depth.ask_size,
            )
        )
        _run(
            ts, bp, bs, ap, asz, off, _columns(trades), s.ints, self._floats, s.ring, rec.ints,
            rec.floats, rec.ofi_levels, rec.ofi_sum_levels,
            rec.wall_since.reshape(b, 2 * pk.wall_levels), False,
            *(x.reshape(1, 4 * pk.ps_levels) for x in lv),
        )  # fmt: skip
        r.ts_event[0] = ts[-1]
        r.ints[0], r.floats[0] = rec.ints[-1], rec.floats[-1]
        r.ofi_levels[0], r.ofi_sum_levels[0] = rec.ofi_levels[-1], rec.ofi_sum_levels[-1]
        r.wall_since[0] = rec.wall_since[-1]
        r.level_price[0], r.level_change[0], r.level_traded[0] = lv[0][0], lv[1][0], lv[2][0]
        return rec

    def _load(self, trades: np.ndarray, nt: int) -> np.ndarray:
        """The group's trades into the reused ``(3, n)`` buffer (grown when too small)."""
        tb = self._tb
        if nt > tb.shape[1]:
            tb = self._tb = np.zeros((3, 2 * nt), dtype=np.int64)
        tb[0, :nt] = trades["price"]
        tb[1, :nt] = trades["size"]
        tb[2, :nt] = trades["side"]
        return tb

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
            if ref <= 0:  # no reference size yet (before the first group): no walls
                continue
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
