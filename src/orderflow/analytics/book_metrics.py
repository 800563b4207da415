"""Book metrics per event group: spread, mid, microprice, imbalance, OFI, depth, pulling and
stacking, walls. One jitted kernel, two paths: :func:`book_metrics_batch` over a
:class:`~orderflow.book.common.DepthRecord` and :class:`BookMetrics`, updated per event group and
readable at any time. Both run the very same per-group kernel (``_step``, inlined into the
batch loop ``run`` and the one-group ``_update_py``), so their numbers are identical.

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

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from orderflow.analytics import _book_metrics_kernels as k
from orderflow.analytics._book_metrics_kernels import (
    C_CUM,
    C_DEPTH_ASK,
    C_DEPTH_BID,
    C_NLV,
    C_PS,
    C_SPREAD,
    F_ASK_W,
    F_BID_W,
    F_IMB,
    F_MICRO,
    F_MID,
    F_RATIO,
    F_REF,
    NF,
    NI,
    NO_TS,
    NP,
    NST,
    P_MEM,
    P_O_LV,
    P_O_OF,
    P_O_OFI,
    P_O_PREV,
    P_O_SINCE,
    P_OUT,
    S_COUNT,
    S_HEAD,
)
from orderflow.analytics.params import BookMetricsParams as BookMetricsParams
from orderflow.analytics.params import DepthParams as DepthParams
from orderflow.analytics.params import ImbalanceParams as ImbalanceParams
from orderflow.analytics.params import OfiParams as OfiParams
from orderflow.analytics.params import PullStackParams as PullStackParams
from orderflow.analytics.params import WallParams as WallParams
from orderflow.book.common import DepthRecord
from orderflow.core.errors import ArgumentError, ConfigError
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

    def grow_ring(self, at_least: int = 0) -> None:
        """Doubles the OFI ring, oldest group first, and again until it holds ``at_least``
        groups (one copy: the size the doublings one by one would reach). O(ring)."""
        head, count = int(self.st[S_HEAD]), int(self.st[S_COUNT])
        order = (head + np.arange(count)) % len(self.ring)
        n = 2 * len(self.ring)
        while n < at_least:
            n *= 2
        ring = np.zeros((n, self.ring.shape[1]), np.int64)
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
    if k.offsets_in_order(_i8c(bounds), _i8c(keys), off):  # one compiled pass, stream order
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
    k.run(
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
    trade_offsets: np.ndarray | None  # None in the one-row views of the live path

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
        self._kern = k.update_kernel()
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
            raise ArgumentError(f"top-of-book arrays must hold {self._pk.width} levels")

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
            raise ArgumentError(f"top-of-book arrays must hold {self._pk.width} levels")
        pk, s = self._pk, self._s
        off = np.zeros(b + 1, dtype=np.int64) if trade_offsets is None else trade_offsets
        if trades is not None and len(trades) and trade_offsets is None:
            raise ArgumentError("trades need trade_offsets (which group each trade belongs to)")
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
        k.run(
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

    def headline(self) -> tuple[int | None, float, float, float, int, int]:
        """``(spread, mid, microprice, imbalance, ofi, ofi_sum)`` as their properties give
        them, from one read of each row (what every answer carries). O(levels)."""
        r = self._r
        sp = int(r.ints[0, C_SPREAD])
        f = r.floats[0].tolist()
        return (None if sp == NO_PRICE else sp, f[F_MID], f[F_MICRO], f[F_IMB],
                sum(r.ofi_levels[0].tolist()), sum(r.ofi_sum_levels[0].tolist()))  # fmt: skip

    def headline_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What :meth:`headline` reads, as the record's own arrays (ints, floats, OFI levels,
        OFI window levels; row 0 is the latest group, the columns ``C_SPREAD``, ``F_MID``,
        ``F_MICRO``, ``F_IMB``), for a compiled reader: read only, not kept (a reset makes new
        ones). O(1)."""
        r = self._r
        return r.ints, r.floats, r.ofi_levels, r.ofi_sum_levels

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
