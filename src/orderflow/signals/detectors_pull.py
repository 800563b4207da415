"""Pulling and stacking near the touch, on price levels only (L2) + prints.

Resting size that leaves the book near the touch without trading (it was *pulled*) takes away
the liquidity that held the price; size that appears there (*stacked*) adds to it. The book
metrics measure both at every group (``analytics.book_metrics``, "pulling / stacking"); this
detector turns an episode of them into a signal.

Rule (parameters in :class:`PullParams`), per side and event group, with ``touch`` the side's
best price *before* the group and the zone the ``near_ticks + 1`` prices from the touch to
``near_ticks`` behind it (bids: touch, touch - 1, ...; asks: touch, touch + 1, ...): at each
zone price ``net = size after - size before + traded``, ``traded`` the size printed against
that side at that price in the group (a seller hits the bid, a buyer lifts the offer; a print
without an aggressor counts against the bid at or below the best bid, the ask at or above the
best ask, as the book metrics count it). ``net < 0`` is pulled, ``net > 0`` stacked. A price
shown neither before nor after, while the window of levels was full and the price lay beyond
it, is out of sight and left out; a price in sight but not shown has size 0. The group's
pulled (stacked) size joins the side's pulling (stacking) episode: the groups of the last
``window_ns`` (a group at ``ts`` keeps those at ``ts - window_ns`` or later). When an
episode's size reaches ``min_size`` it fires, once, and ends (the next needs ``min_size``
afresh).

Signals: ``pulling`` (bids pulled: -1, the support went; asks pulled: +1) and ``stacking``
(bids stacked: +1; asks stacked: -1), score ``min(1, size / (2 * min_size))``, price the
touch before the firing group, evidence the side, the size, the groups, the first group's
time, the lowest and highest price where size was pulled (stacked) and the thresholds.

One jitted kernel (:mod:`orderflow.signals._pull_detect_kernels`) serves one group
(:meth:`PullDetector.on_group`, live) and many (:meth:`PullDetector.on_groups`, a chunk or a
whole recording): the same state, the same signals however the stream is cut. O(prints +
near_ticks x (N + prints)) per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from orderflow.book.common import DepthRecord
from orderflow.core.errors import ArgumentError, BookIntegrityError
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.instruments import Instrument
from orderflow.signals import _pull_detect_kernels as K
from orderflow.signals.detectors_l2 import over_boundaries
from orderflow.signals.model import Signal, clip01
from orderflow.signals.params import PullParams as PullParams

__all__ = ["PULL_DETECTORS", "PullDetector", "PullParams", "detect_pull"]

#: the signal kinds this detector emits
PULL_DETECTORS = ("pulling", "stacking")


def _i64(a: Any) -> np.ndarray:
    if type(a) is np.ndarray and a.dtype == np.int64 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.int64)


class PullDetector:
    """Pulling and stacking near the touch, one event group (:meth:`on_group`) or many
    (:meth:`on_groups`) at a time; both run the same kernel on the same state."""

    def __init__(self, instrument: str, params: PullParams | None = None) -> None:
        self.instrument = instrument
        self.params = p = params or PullParams()
        st = np.zeros(K.ST_SIZE, dtype=np.int64)
        st[K.P_NEAR], st[K.P_WIN], st[K.P_MIN] = p.near_ticks, p.window_ns, p.min_size
        self._st = st
        self._prev = np.zeros((4, 1), dtype=np.int64)
        self._prev[0::2] = NO_PRICE
        self._ring = np.zeros((4, 16, K.RCOLS), dtype=np.int64)
        self._out = np.zeros((16, K.OCOLS), dtype=np.int64)
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
        """One group: its prints and the top-N levels after it (NO_PRICE: empty)."""
        n = len(trade_price)
        if len(trade_size) != n or len(trade_side) != n:
            raise ArgumentError("trade_price, trade_size and trade_side differ in length")
        levels = [_i64(a) for a in (bid_price, bid_size, ask_price, ask_size)]
        if any(len(a) != len(levels[0]) for a in levels):
            raise ArgumentError("the level arrays differ in length")
        self._ts1[0] = ts
        bp, bs, ap, as_ = levels
        off = np.array([0, n], dtype=np.int64)
        tp, tz, td = _i64(trade_price), _i64(trade_size), _i64(trade_side)
        return self._feed(self._ts1, bp, bs, ap, as_, len(bp), off, tp, tz, td)

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
        """Many groups: level arrays ``(groups, N)``, the prints of group ``g`` at
        ``offsets[g]:offsets[g + 1]``. The same signals as :meth:`on_group` group by group."""
        ts = _i64(ts_event)
        levels = [_i64(a) for a in (bid_price, bid_size, ask_price, ask_size)]
        shape = levels[0].shape
        if len(shape) != 2 or shape[0] != len(ts) or any(a.shape != shape for a in levels):
            raise ArgumentError("level arrays must all have shape (groups, N)")
        tp, tz, td, off = (_i64(a) for a in (trade_price, trade_size, trade_side, offsets))
        if len(tz) != len(tp) or len(td) != len(tp):
            raise ArgumentError("trade_price, trade_size and trade_side differ in length")
        if len(off) != len(ts) + 1 or (
            len(ts) and (int(off.min()) < 0 or int(off.max()) > len(tp))
        ):
            raise ArgumentError("offsets needs groups + 1 entries within the trade arrays")
        bp, bs, ap, as_ = (a.reshape(-1) for a in levels)
        return self._feed(ts, bp, bs, ap, as_, shape[1], off, tp, tz, td)

    def _feed(self, ts: np.ndarray, bp: np.ndarray, bs: np.ndarray, ap: np.ndarray,
              as_: np.ndarray, w: int, off: np.ndarray, tp: np.ndarray, tz: np.ndarray,
              td: np.ndarray) -> list[Signal]:  # fmt: skip
        if w > self._prev.shape[1]:
            prev = np.zeros((4, w), dtype=np.int64)
            prev[0::2] = NO_PRICE
            prev[:, : self._prev.shape[1]] = self._prev
            self._prev = prev
        while True:
            r = K.run(ts, bp, bs, ap, as_, w, off, tp, tz, td, self._st, self._prev,
                      self._ring, self._out)  # fmt: skip
            if r >= 0:
                return self._signals(r) if r else []
            self._grow(-r)

    def _grow(self, code: int) -> None:
        """Double the array the kernel found full. O(its size)."""
        if code == K.NEED_OUT:
            out = np.zeros((2 * len(self._out), K.OCOLS), dtype=np.int64)
            out[: len(self._out)] = self._out
            self._out = out
        elif code == K.NEED_RING:
            cap = self._ring.shape[1]
            ring = np.zeros((4, 2 * cap, K.RCOLS), dtype=np.int64)
            for r in range(4):  # unrolled from each head to the front
                b = K.S_RING + K.RING_N * r
                head, count = int(self._st[b + K.R_HEAD]), int(self._st[b + K.R_COUNT])
                idx = (head + np.arange(count)) % cap
                ring[r, :count] = self._ring[r, idx]
                self._st[b + K.R_HEAD] = 0
            self._ring = ring
        else:  # pragma: no cover - the kernel has no other codes
            raise BookIntegrityError(f"pull kernel returned {code}")

    def _signals(self, n: int) -> list[Signal]:
        rows = self._out[:n].tolist()
        self._st[K.S_NOUT] = 0
        return [self._signal(r) for r in rows]

    def _signal(self, r: list[int]) -> Signal:
        p = self.params
        kind, side = r[K.O_KIND], r[K.O_SIDE]
        pulled = kind == K.K_PULLED
        bid = side == 0
        size = r[K.O_SIZE]
        return Signal(
            instrument=self.instrument,
            ts_event=r[K.O_TS],
            direction=(-1 if bid else 1) if pulled else (1 if bid else -1),
            score=clip01(size / (2 * p.min_size)),
            detector="pulling" if pulled else "stacking",
            price=r[K.O_PRICE],
            evidence={
                "side": "bid" if bid else "ask",
                "touch": r[K.O_PRICE],
                "size": size,
                "groups": r[K.O_GROUPS],
                "first_ts": r[K.O_FIRST],
                "duration_ns": r[K.O_TS] - r[K.O_FIRST],
                "low": r[K.O_LO],
                "high": r[K.O_HI],
                "near_ticks": p.near_ticks,
                "window_ns": p.window_ns,
                "min_size": p.min_size,
            },
        )


def detect_pull(
    depth: DepthRecord,
    trades: np.ndarray,
    instrument: Instrument | str,
    params: PullParams | None = None,
    trade_group: np.ndarray | None = None,
) -> list[Signal]:
    """Run :class:`PullDetector` over recorded boundaries and prints (one kernel call).
    ``trade_group`` gives each print's boundary index; without it a print belongs to the first
    boundary at or after its ``ts_event``. Prints after the last boundary are dropped."""
    name = instrument if isinstance(instrument, str) else instrument.contract or instrument.symbol
    return over_boundaries(PullDetector(name, params), depth, trades, trade_group)
