"""Detectors on price levels only (L2: NinjaTrader depth, MBP-10, or an L3 book's top N) + trades.

:class:`L2Detector` is fed one event group at a time: the group's prints (price ticks, size,
aggressor side: BID = buyer lifted the offer, ASK = seller hit the bid) and the top-N levels
*after* the group; it remembers the levels before. :func:`detect_l2` runs it over a recorded
:class:`~orderflow.book.common.DepthRecord` and a trade array. Without order ids nothing here is
certain, so the iceberg estimate states a range and a confidence.

One jitted kernel (:mod:`orderflow.signals._l2_detect_kernels`) does the work on both paths:
:meth:`L2Detector.on_group` passes it one group, :meth:`L2Detector.on_groups` (and so
:func:`detect_l2`) every group of a recording with the prints of group ``g`` at
``offsets[g]:offsets[g + 1]``, so a stream fed group by group gives the batch's signals. The
state (episodes, sweeps, the exhaustion prints window) lives in numpy arrays that grow by
doubling; the kernel writes fired signals as rows of ints and the :class:`Signal` objects, their
scores and evidence are built here from them.

Rules (parameters in :class:`L2Params`):

* **absorption** — prints against the best level of one side, at its price, add up to at least
  ``absorption_min_volume`` within ``absorption_window_ns`` and to at least
  ``absorption_min_ratio`` times the size the level showed when the episode began (it was
  refreshed), while the level still holds as best after the group. A level that gives way
  (the best moves through it) ends its episode. Fires once per episode. Direction: the side
  that held (bid +1). Score ``min(1, volume / (2 * min_volume))``.
* **sweep** — prints of one aggressor side at ``sweep_min_levels`` or more distinct prices
  within ``sweep_window_ns`` (0: the one event group). Fires once per sweep, at the end of the
  group that reaches the count. Direction: the aggressor's (buyers +1). Score
  ``min(1, levels / sweep_score_levels)``.
* **exhaustion** — after a run of at least ``exhaustion_run_ticks`` (trade prices within
  ``exhaustion_run_window_ns``, low to high before the high, carrying at least
  ``exhaustion_min_run_volume`` of aggressive volume in the run's direction), no new extreme
  for ``exhaustion_quiet_ns`` and aggressive volume in the run's direction since the extreme at
  most ``exhaustion_dry_ratio`` times the run's rate over the same time. Checked at every
  group, fires once per extreme. Direction: against the run. Score ``min(1, run / (2 *
  run_ticks))``.
* **iceberg_l2** — while a level stays best, in each group with prints at it the size that
  reappeared, ``prints + (size after - size before)``, counts as a refill when positive.
  ``hidden_estimate`` = the sum of refills. A lower bound follows from conservation alone:
  ``low = max(0, traded - shown at start - size added in groups without prints)`` (every
  visible add was consumed first); the estimate is the upper end, because part of a refill may
  be a new order that arrived in the same group. ``confidence = low / estimate``. Fires when
  the refill count reaches ``iceberg_min_refills`` (and on each further refill) with the
  estimate at least ``iceberg_min_hidden`` and the traded size above the size shown at the
  start. Direction: the defending side. Score ``0.5 * min(1, refills / iceberg_score_refills)
  + 0.5 * confidence``.

Complexity per group: O(prints + N + open absorption episodes of a side) plus, for
exhaustion, O(prints in the run window) when the group has prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from orderflow.book.common import DepthRecord
from orderflow.core.errors import ArgumentError, BookIntegrityError
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Flags, Side
from orderflow.model.instruments import Instrument
from orderflow.signals import _l2_detect_kernels as K
from orderflow.signals.model import Signal, clip01, side_direction
from orderflow.signals.params import L2Params as L2Params

__all__ = ["GroupDetector", "L2Detector", "L2Params", "detect_l2", "mbo_trades", "over_boundaries"]

_BUYER, _SELLER = int(Side.BID), int(Side.ASK)
_I8 = np.dtype(np.int64)
_EMPTY = np.zeros(0, dtype=np.int64)
#: ``[0, n]``: the prints offsets of one group of n prints (read only by the kernel)
_OFFSETS = tuple(np.array([0, n], dtype=np.int64) for n in range(64))
_run = K.run


def _i64(a: Any) -> np.ndarray:
    """``a`` as a C-contiguous int64 array (itself when it already is one)."""
    if type(a) is np.ndarray and a.dtype is _I8 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.int64)


def _pad(a: np.ndarray, w: int, fill: int) -> np.ndarray:
    out = np.full(w, fill, dtype=np.int64)
    out[: len(a)] = a
    return out


class L2Detector:
    """Absorption, sweeps, exhaustion and L2 iceberg estimates, one event group at a time
    (:meth:`on_group`) or many (:meth:`on_groups`); both run the same kernel on the same state.
    """

    def __init__(self, instrument: str, params: L2Params | None = None) -> None:
        self.instrument = instrument
        self.params = p = params or L2Params()
        st = np.zeros(K.ST_SIZE, dtype=np.int64)
        for slot, value in (
            (K.P_ABS_MIN_VOL, p.absorption_min_volume),
            (K.P_ABS_WIN, p.absorption_window_ns),
            (K.P_SW_MIN, p.sweep_min_levels),
            (K.P_SW_WIN, p.sweep_window_ns),
            (K.P_EX_TICKS, p.exhaustion_run_ticks),
            (K.P_EX_WIN, p.exhaustion_run_window_ns),
            (K.P_EX_MIN_VOL, p.exhaustion_min_run_volume),
            (K.P_EX_QUIET, p.exhaustion_quiet_ns),
            (K.P_ICE_MIN_REFILLS, p.iceberg_min_refills),
            (K.P_ICE_MIN_HIDDEN, p.iceberg_min_hidden),
        ):
            st[slot] = value
        self._st = st
        self._pf = np.array([p.absorption_min_ratio, p.exhaustion_dry_ratio], dtype=np.float64)
        self._prev = np.zeros((4, 1), dtype=np.int64)
        self._prev[0::2] = NO_PRICE
        self._width = 1
        self._ep = np.zeros((2, 8, K.EPN), dtype=np.int64)
        self._pool = np.zeros((0, 3), dtype=np.int64)
        st[K.S_FREE] = -1
        self._grow_pool(16)
        self._sw = np.zeros((2, 16, 2), dtype=np.int64)
        self._win = np.zeros((4, 128), dtype=np.int64)
        self._out = np.zeros((16, K.OCOLS), dtype=np.int64)
        self._extra = np.zeros(128, dtype=np.int64)
        self._ts1 = np.zeros(1, dtype=np.int64)

    def on_group(
        self,
        ts: int,
        trade_price: Sequence[int],
        trade_size: Sequence[int],
        trade_side: Sequence[int],
        bid_price: np.ndarray,
        bid_size: np.ndarray,
        ask_price: np.ndarray,
        ask_size: np.ndarray,
    ) -> list[Signal]:
        """Feed one group: its prints and the top-N levels after it (NO_PRICE: empty). The
        level arrays are copied; the caller may reuse them."""
        n = len(trade_price)
        if len(trade_size) != n or len(trade_side) != n:
            raise ArgumentError("trade_price, trade_size and trade_side differ in length")
        if n:
            tp, tz, td = _i64(trade_price), _i64(trade_size), _i64(trade_side)
            off = _OFFSETS[n] if n < len(_OFFSETS) else np.array([0, n], dtype=np.int64)
        else:
            tp = tz = td = _EMPTY
            off = _OFFSETS[0]
        bp, bs, ap, as_ = _i64(bid_price), _i64(bid_size), _i64(ask_price), _i64(ask_size)
        w = len(bp)
        if len(bs) != w or len(ap) != w or len(as_) != w:  # pad to a common width
            w = max(len(bp), len(bs), len(ap), len(as_))
            bp, ap = _pad(bp, w, NO_PRICE), _pad(ap, w, NO_PRICE)
            bs, as_ = _pad(bs, w, 0), _pad(as_, w, 0)
        if w > self._width:
            self._grow_prev(w)
        self._ts1[0] = ts
        return self._feed(self._ts1, bp, bs, ap, as_, w, off, tp, tz, td)

    def on_groups(
        self,
        ts_event: np.ndarray,
        bid_price: np.ndarray,
        bid_size: np.ndarray,
        ask_price: np.ndarray,
        ask_size: np.ndarray,
        trade_price: np.ndarray,
        trade_size: np.ndarray,
        trade_side: np.ndarray,
        offsets: np.ndarray,
    ) -> list[Signal]:
        """Feed many groups in one kernel call: level arrays ``(groups, N)`` (as in a
        :class:`~orderflow.book.common.DepthRecord`), the prints of group ``g`` at
        ``offsets[g]:offsets[g + 1]`` of the trade arrays. The same signals as
        :meth:`on_group` group by group."""
        ts = _i64(ts_event)
        b = len(ts)
        levels = [_i64(a) for a in (bid_price, bid_size, ask_price, ask_size)]
        shape = levels[0].shape
        if len(shape) != 2 or shape[0] != b or any(a.shape != shape for a in levels):
            raise ArgumentError("level arrays must all have shape (groups, N)")
        tp, tz, td = _i64(trade_price), _i64(trade_size), _i64(trade_side)
        off = _i64(offsets)
        if len(tz) != len(tp) or len(td) != len(tp):
            raise ArgumentError("trade_price, trade_size and trade_side differ in length")
        lo = hi = 0  # no groups: nothing to check
        if 0 < b < 64 and len(off):  # a few offsets: Python's min/max are cheaper
            ol = off.tolist()
            lo, hi = min(ol), max(ol)
        elif b and len(off):
            lo, hi = int(off.min()), int(off.max())
        if len(off) != b + 1 or lo < 0 or hi > len(tp):
            raise ArgumentError("offsets needs groups + 1 entries within the trade arrays")
        w = shape[1]
        if w > self._width:
            self._grow_prev(w)
        bp, bs, ap, as_ = (a.reshape(-1) for a in levels)
        return self._feed(ts, bp, bs, ap, as_, w, off, tp, tz, td)

    # ---- the kernel and its growing state -----------------------------------------------
    def _feed(
        self,
        ts: np.ndarray,
        bp: np.ndarray,
        bs: np.ndarray,
        ap: np.ndarray,
        as_: np.ndarray,
        w: int,
        off: np.ndarray,
        tp: np.ndarray,
        tz: np.ndarray,
        td: np.ndarray,
    ) -> list[Signal]:
        while True:
            r = _run(
                ts, bp, bs, ap, as_, w, off, tp, tz, td, self._pf, self._st, self._prev, self._ep,
                self._pool, self._sw, self._win, self._out, self._extra,
            )  # fmt: skip
            if r == 0:
                return []
            if r > 0:
                return self._signals()
            self._grow(-r)

    def _grow(self, code: int) -> None:
        """Double the array the kernel found full. O(its size)."""
        st = self._st
        if code == K.NEED_EPISODES:
            ep = np.zeros((2, 2 * self._ep.shape[1], K.EPN), dtype=np.int64)
            ep[:, : self._ep.shape[1]] = self._ep
            self._ep = ep
        elif code == K.NEED_POOL:
            self._grow_pool(2 * len(self._pool))
        elif code == K.NEED_SWEEP:
            sw = np.zeros((2, 2 * self._sw.shape[1], 2), dtype=np.int64)
            sw[:, : self._sw.shape[1]] = self._sw
            self._sw = sw
        elif code == K.NEED_WINDOW:
            head, count = int(st[K.S_WHEAD]), int(st[K.S_WCOUNT])
            win = np.zeros((4, 2 * self._win.shape[1]), dtype=np.int64)
            win[:, :count] = self._win[:, head : head + count]
            self._win = win
            st[K.S_WHEAD] = 0
        elif code == K.NEED_OUT:
            out = np.zeros((2 * len(self._out), K.OCOLS), dtype=np.int64)
            out[: len(self._out)] = self._out
            extra = np.zeros(2 * len(self._extra), dtype=np.int64)
            extra[: len(self._extra)] = self._extra
            self._out, self._extra = out, extra
        else:  # pragma: no cover - the kernel has no other codes
            raise BookIntegrityError(f"L2 kernel returned {code}")

    def _grow_pool(self, cap: int) -> None:
        """Pool of ``cap`` print nodes; the new ones go in front of the free list."""
        st, old = self._st, len(self._pool)
        pool = np.zeros((cap, 3), dtype=np.int64)
        pool[:old] = self._pool
        pool[old:, K.N_NEXT] = np.arange(old + 1, cap + 1)
        pool[cap - 1, K.N_NEXT] = st[K.S_FREE]
        st[K.S_FREE] = old
        st[K.S_NFREE] += cap - old
        self._pool = pool

    def _grow_prev(self, w: int) -> None:
        """Room for ``w`` levels per side in the previous group (the new ones empty)."""
        prev = np.zeros((4, w), dtype=np.int64)
        prev[0::2] = NO_PRICE
        prev[:, : self._width] = self._prev
        self._prev, self._width = prev, w

    # ---- signals from the kernel's rows -------------------------------------------------
    def _signals(self) -> list[Signal]:
        st = self._st
        rows = self._out[: st[K.S_NOUT]].tolist()
        extra = self._extra[: st[K.S_NEXTRA]].tolist()
        st[K.S_NOUT] = st[K.S_NEXTRA] = 0
        build = (self._absorption, self._iceberg, self._sweep, self._exhaustion)
        return [build[r[K.O_KIND]](r, extra[r[K.O_XOFF] : r[K.O_XOFF] + r[K.O_XLEN]]) for r in rows]

    def _absorption(self, r: list[int], _: list[int]) -> Signal:
        p = self.params
        ts, side, price = r[K.O_TS], r[K.O_SIDE], r[K.O_PRICE]
        volume, prints, shown, first_ts = r[K.O_A], r[K.O_B], r[K.O_C], r[K.O_D]
        return Signal(
            instrument=self.instrument,
            ts_event=ts,
            direction=side_direction(side),
            score=clip01(volume / (2 * p.absorption_min_volume)),
            detector="absorption",
            price=price,
            evidence={
                "side": "bid" if side == 0 else "ask",
                "price": price,
                "volume": volume,
                "prints": prints,
                "shown_at_start": shown,
                "volume_over_shown": round(volume / max(shown, 1), 3),
                "first_ts": first_ts,
                "duration_ns": ts - first_ts,
                "min_volume": p.absorption_min_volume,
                "min_ratio": p.absorption_min_ratio,
                "window_ns": p.absorption_window_ns,
            },
        )

    def _iceberg(self, r: list[int], refill_sizes: list[int]) -> Signal:
        p = self.params
        ts, side, price = r[K.O_TS], r[K.O_SIDE], r[K.O_PRICE]
        traded, shown, refills, added = r[K.O_A], r[K.O_B], r[K.O_C], r[K.O_D]
        cancelled, refill, held, first_ts = r[K.O_E], r[K.O_F], r[K.O_G], r[K.O_H]
        low = max(0, traded - shown - added)
        confidence = min(1.0, low / refill)
        return Signal(
            instrument=self.instrument,
            ts_event=ts,
            direction=side_direction(side),
            score=clip01(0.5 * min(1.0, refills / p.iceberg_score_refills) + 0.5 * confidence),
            detector="iceberg_l2",
            price=price,
            evidence={
                "side": "bid" if side == 0 else "ask",
                "price": price,
                "traded": traded,
                "shown_at_start": shown,
                "refills": refills,
                "refill_sizes": refill_sizes,
                "added_without_prints": added,
                "cancelled_without_prints": cancelled,
                "hidden_estimate": refill,
                "hidden_low": low,
                "hidden_high": refill,
                "confidence": round(confidence, 4),
                "level_held": held != 0,
                "first_ts": first_ts,
                "duration_ns": ts - first_ts,
                "min_refills": p.iceberg_min_refills,
                "min_hidden": p.iceberg_min_hidden,
            },
        )

    def _sweep(self, r: list[int], pairs: list[int]) -> Signal:
        p = self.params
        ts, agg, levels, first_ts = r[K.O_TS], r[K.O_SIDE], r[K.O_A], r[K.O_B]
        before, after = r[K.O_C], r[K.O_D]
        sizes = dict(zip(pairs[0::2], pairs[1::2], strict=True))
        prices = sorted(sizes, reverse=agg == _SELLER)
        moved = None if NO_PRICE in (before, after) else abs(after - before)
        return Signal(
            instrument=self.instrument,
            ts_event=ts,
            direction=1 if agg == _BUYER else -1,
            score=clip01(levels / p.sweep_score_levels),
            detector="sweep",
            price=prices[-1],
            evidence={
                "aggressor": "buyer" if agg == _BUYER else "seller",
                "levels": levels,
                "prices": prices,
                "sizes": [sizes[x] for x in prices],
                "volume": sum(sizes.values()),
                "first_ts": first_ts,
                "duration_ns": ts - first_ts,
                "touch_moved_ticks": moved,
                "min_levels": p.sweep_min_levels,
                "window_ns": p.sweep_window_ns,
            },
        )

    def _exhaustion(self, r: list[int], _: list[int]) -> Signal:
        p = self.params
        ts, k, price, ext_ts = r[K.O_TS], r[K.O_SIDE], r[K.O_PRICE], r[K.O_A]
        start, run, run_volume, after = r[K.O_B], r[K.O_C], r[K.O_D], r[K.O_E]
        quiet, span = r[K.O_F], r[K.O_G]
        rate_per_ns = run_volume / span
        return Signal(
            instrument=self.instrument,
            ts_event=ts,
            direction=-1 if k == 0 else 1,
            score=clip01(run / (2 * p.exhaustion_run_ticks)),
            detector="exhaustion",
            price=price,
            evidence={
                "run": "up" if k == 0 else "down",
                "extreme_price": price,
                "extreme_ts": ext_ts,
                "start_price": start,
                "run_ticks": run,
                "run_volume": run_volume,
                "volume_since_extreme": after,
                "allowed_volume": round(p.exhaustion_dry_ratio * rate_per_ns * quiet, 3),
                "quiet_ns": quiet,
                "min_run_ticks": p.exhaustion_run_ticks,
                "min_run_volume": p.exhaustion_min_run_volume,
                "dry_ratio": p.exhaustion_dry_ratio,
                "run_window_ns": p.exhaustion_run_window_ns,
            },
        )


def mbo_trades(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prints of an MBO array (its TRADE records, aggressor side as recorded) as
    :data:`TRADE_DTYPE`, and the index of the event group each belongs to (groups end at
    records flagged LAST outside a snapshot)."""
    flags = events["flags"]
    ends = (flags & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST
    group = np.concatenate(([0], np.cumsum(ends)[:-1])) if len(events) else np.zeros(0, np.int64)
    is_trade = events["action"] == Action.TRADE
    src = events[is_trade]
    out = np.zeros(len(src), dtype=TRADE_DTYPE)
    for k in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
        out[k] = src[k]
    return out, group[is_trade].astype(np.int64)


def detect_l2(
    depth: DepthRecord,
    trades: np.ndarray,
    instrument: Instrument | str,
    params: L2Params | None = None,
    trade_group: np.ndarray | None = None,
) -> list[Signal]:
    """Run :class:`L2Detector` over recorded boundaries and prints (one kernel call).
    ``trade_group`` gives each print's boundary index; without it a print belongs to the first
    boundary at or after its ``ts_event``. Prints after the last boundary are dropped."""
    name = instrument if isinstance(instrument, str) else instrument.contract or instrument.symbol
    return over_boundaries(L2Detector(name, params), depth, trades, trade_group)


class GroupDetector(Protocol):
    """A detector fed whole boundaries at once (:class:`L2Detector`, the pulling detector)."""

    def on_groups(self, ts_event: np.ndarray, bid_price: np.ndarray, bid_size: np.ndarray,
                  ask_price: np.ndarray, ask_size: np.ndarray, trade_price: np.ndarray,
                  trade_size: np.ndarray, trade_side: np.ndarray,
                  offsets: np.ndarray) -> list[Signal]: ...  # fmt: skip


def over_boundaries(
    det: GroupDetector,
    depth: DepthRecord,
    trades: np.ndarray,
    trade_group: np.ndarray | None = None,
) -> list[Signal]:
    """``det`` over recorded boundaries and their prints in one call: each print goes to its
    boundary (``trade_group``, or the first boundary at or after its ``ts_event``), in order."""
    if trade_group is None:
        trade_group = np.searchsorted(depth.ts_event, trades["ts_event"], side="left")
    order = np.argsort(trade_group, kind="stable")
    cuts = np.empty(len(depth) + 1, dtype=np.int64)
    K.group_offsets(_i64(trade_group[order]), cuts)
    return det.on_groups(
        depth.ts_event, depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size,
        trades["price"][order], trades["size"][order], trades["side"][order], cuts,
    )  # fmt: skip
