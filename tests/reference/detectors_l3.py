"""Detectors that need order ids (L3, market-by-order): icebergs, large lots, spoof-like pulls.

:class:`L3Detector` is fed MBO records (:data:`~orderflow.model.dtypes.MBO_DTYPE`) one event
group at a time, with the book's best bid and ask *before* the group, and returns the signals the
group caused. :func:`detect_l3` runs it over a whole array (it replays the book itself for the
best prices). It keeps its own per-order records (side, price, shown size, time added, filled)
because a detector needs what the book does not keep: when an order was born, how much of it
traded, and which reductions were fills (Databento sends a fill as F followed by the C or M that
shrinks the order, in the same event group).

Rules (parameters in :class:`L3Params`):

* **iceberg** — an order whose shown size was used up by fills and that is shown again at the
  same price: the same order id re-sized by a MODIFY after fills reached its shown size (CME
  native icebergs in Databento MBO), or a new order id added on the same side and price within
  ``iceberg_refill_window_ns`` of a full fill there, showing the same size as the filled tranche
  (``iceberg_new_id_same_size``). Per (side, price) a chain counts refills,
  executed size and shown sizes; a refill that brings the count to ``iceberg_min_refills`` or
  more fires (every further refill fires again with the grown evidence). A chain breaks after
  ``iceberg_chain_gap_ns`` without a refill. Direction: the side defending (bid +1, ask -1).
  Score ``min(1, refills / iceberg_score_refills)``.
* **large_lot_added** — an order of at least ``large_lot_min_size`` that is at least
  ``large_lot_min_share`` of its level, added (or re-sized up) within ``near_ticks`` of the
  touch of its side. Direction: its side (bid +1). Score ``min(1, size / (4 * min_size))``.
* **large_lot_removed** — such an order leaves (cancelled, or filled away) within ``near_ticks``
  of the touch. Direction: against its side (the support or resistance is gone). Score as above.
* **spoof_pull** — an order of at least ``spoof_min_size`` within ``near_ticks`` of the touch,
  cancelled whole without a single fill within ``spoof_max_lifetime_ns`` of being added.
  Direction: against its side. Score ``(1 - lifetime / max_lifetime) * min(1, size / (2 *
  min_size))``. Evidence includes the side's cancel-to-trade ratio over ``ctr_window_ns``.

Orders from a snapshot have no known birth time: they never count as quick pulls. Complexity:
O(1) expected per record, O(orders at the level) for a large-lot share (the level size is kept).
"""

# Reference copy: the pure-Python implementation that ``orderflow.signals.detectors_l3`` had
# before it moved to numba kernels, kept to check the kernels and to time them against. Changed
# since: ``largest_order`` breaks ties of size and birth time by the lower order id (it took
# whichever the id set happened to yield first, so no other implementation could agree).

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from orderflow.book.l3 import OrderBook
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Action, Flags
from orderflow.model.instruments import Instrument
from orderflow.signals.model import Signal, clip01, side_direction

__all__ = ["L3Detector", "L3Params", "detect_l3", "event_groups"]

_ADD, _CANCEL, _MODIFY, _CLEAR, _FILL = (
    int(Action.ADD),
    int(Action.CANCEL),
    int(Action.MODIFY),
    int(Action.CLEAR),
    int(Action.FILL),
)
_LAST, _SNAPSHOT = int(Flags.LAST), int(Flags.SNAPSHOT)
_LIFETIME_EDGES_NS = (1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000)
_MAX_LISTED = 20  # evidence lists are capped so a long chain stays readable


@dataclass(frozen=True, slots=True)
class L3Params:
    """Thresholds of the L3 detectors (defaults sized for ES/NQ; sizes in contracts)."""

    #: refills of one level needed before an iceberg fires
    iceberg_min_refills: int = 2
    #: a new order id at the same side and price this soon after a full fill is a refill
    iceberg_refill_window_ns: int = 100_000
    #: a new-id refill must show the same size as the tranche that filled (algo clips)
    iceberg_new_id_same_size: bool = True
    #: a chain with no refill for this long starts over
    iceberg_chain_gap_ns: int = 60_000_000_000
    #: refills that give an iceberg score 1
    iceberg_score_refills: int = 6
    #: smallest order that counts as a large lot
    large_lot_min_size: int = 50
    #: and its smallest share of the level's size (after it joined)
    large_lot_min_share: float = 0.2
    #: "near the touch": at most this many ticks behind the best price of the order's side
    near_ticks: int = 4
    #: smallest order whose quick, untraded cancel counts as a spoof-like pull
    spoof_min_size: int = 20
    #: longest life of such an order
    spoof_max_lifetime_ns: int = 2_000_000_000
    #: window of the cancel-to-trade ratio reported as evidence
    ctr_window_ns: int = 60_000_000_000


class _Order:
    __slots__ = ("filled", "large", "price", "shown", "side", "size", "ts_add")

    def __init__(self, side: int, price: int, size: int, ts_add: int) -> None:
        self.side = side
        self.price = price
        self.size = size  # shown size now
        self.shown = size  # shown size of the current tranche (for iceberg evidence)
        self.ts_add = ts_add  # -1: unknown (snapshot)
        self.filled = 0
        self.large = False


class _Chain:
    __slots__ = (
        "executed",
        "first_ts",
        "ids",
        "last_ts",
        "order_ids",
        "refills",
        "same_id",
        "shown",
    )

    def __init__(self, ts: int) -> None:
        self.refills = 0
        self.executed = 0
        self.shown: list[int] = []
        self.order_ids: list[int] = []
        self.ids: set[int] = set()
        self.first_ts = ts
        self.last_ts = ts
        self.same_id = True


class L3Detector:
    """Iceberg, large-lot and spoof-pull detection on an MBO stream, one event group at a time."""

    def __init__(self, instrument: str, params: L3Params | None = None) -> None:
        self.instrument = instrument
        self.params = params or L3Params()
        self._orders: dict[int, _Order] = {}
        self._level_size: dict[tuple[int, int], int] = {}
        self._level_ids: dict[tuple[int, int], set[int]] = {}
        self._chains: dict[tuple[int, int], _Chain] = {}
        self._full_fill: dict[tuple[int, int], tuple[int, int, int, int]] = {}  # ts shown id filled
        self._pending: dict[int, int] = {}  # fill size not yet taken off the order (this group)
        self._cancels: tuple[deque[tuple[int, int]], deque[tuple[int, int]]] = (deque(), deque())
        self._trades: tuple[deque[tuple[int, int]], deque[tuple[int, int]]] = (deque(), deque())
        self._ctr_sums = [[0, 0], [0, 0]]  # per side: cancelled, traded (inside the window)
        self._lifetimes = {"cancelled": [0] * 6, "filled": [0] * 6}
        self._best: tuple[int | None, int | None] = (None, None)
        self._out: list[Signal] = []

    # ---- public reads --------------------------------------------------------------------
    def largest_order(self, side: int, price: int) -> tuple[int, int] | None:
        """(order id, size) of the single largest order resting at the level, or None.
        O(orders at the level); ties go to the order born first, then to the lower id."""
        ids = self._level_ids.get((int(side), int(price)))
        if not ids:
            return None
        best = max(ids, key=lambda i: (self._orders[i].size, -self._orders[i].ts_add, -i))
        return best, self._orders[best].size

    def cancel_to_trade(self, side: int) -> float | None:
        """Cancelled / traded size on ``side`` over the last ``ctr_window_ns`` of event time
        (None while nothing traded)."""
        cancelled, traded = self._ctr_sums[int(side)]
        return None if traded == 0 else cancelled / traded

    def lifetime_histogram(self) -> dict[str, Any]:
        """Counts of order lifetimes (birth to full cancel / full fill) in buckets
        <=1 ms, <=10 ms, <=100 ms, <=1 s, <=10 s, >10 s; snapshot orders are not counted."""
        edges = ["<=1ms", "<=10ms", "<=100ms", "<=1s", "<=10s", ">10s"]
        return {k: dict(zip(edges, v, strict=True)) for k, v in self._lifetimes.items()}

    # ---- feeding -------------------------------------------------------------------------
    def on_group(
        self,
        records: np.ndarray | list[tuple[Any, ...]],
        best_bid: int | None = None,
        best_ask: int | None = None,
    ) -> list[Signal]:
        """Feed one event group (MBO records up to and including the LAST one) with the best
        bid and ask before it; return the signals it caused."""
        self._best = (best_bid, best_ask)
        self._out = []
        rows = records.tolist() if isinstance(records, np.ndarray) else records
        for r in rows:
            self._record(r[0], r[3], r[4], r[5], r[6], r[7], r[8])
        self._pending.clear()
        return self._out

    def _record(
        self, ts: int, oid: int, price: int, size: int, action: int, side: int, flags: int
    ) -> None:
        if action == _ADD:
            self._add(ts, oid, side, price, size, flags)
        elif action == _FILL:
            self._fill(ts, oid, size, side)
        elif action == _CANCEL:
            self._cancel(ts, oid, size)
        elif action == _MODIFY:
            self._modify(ts, oid, price, size)
        elif action == _CLEAR:
            self._orders.clear()
            self._level_size.clear()
            self._level_ids.clear()
            self._chains.clear()
            self._full_fill.clear()
        if flags & _LAST:
            self._pending.clear()

    # ---- book keeping --------------------------------------------------------------------
    def _join(self, o: _Order, oid: int) -> None:
        key = (o.side, o.price)
        self._level_size[key] = self._level_size.get(key, 0) + o.size
        self._level_ids.setdefault(key, set()).add(oid)

    def _leave(self, o: _Order, oid: int) -> None:
        key = (o.side, o.price)
        left = self._level_size.get(key, 0) - o.size
        ids = self._level_ids.get(key)
        if ids is not None:
            ids.discard(oid)
        if left <= 0 or not ids:
            self._level_size.pop(key, None)
            self._level_ids.pop(key, None)
        else:
            self._level_size[key] = left

    def _distance(self, side: int, price: int) -> int | None:
        """Ticks behind the touch of ``side`` (negative: better than the touch), or None."""
        best = self._best[side]
        if best is None or best == NO_PRICE:
            return None
        return best - price if side == 0 else price - best

    def _near(self, side: int, price: int) -> int | None:
        d = self._distance(side, price)
        return d if d is not None and d <= self.params.near_ticks else None

    def _window(self, side: int, ts: int) -> None:
        horizon = ts - self.params.ctr_window_ns
        sums = self._ctr_sums[side]
        for k, q in enumerate((self._cancels[side], self._trades[side])):
            while q and q[0][0] < horizon:
                sums[k] -= q.popleft()[1]

    def _note_lifetime(self, kind: str, o: _Order, ts: int) -> int:
        if o.ts_add < 0:
            return -1
        life = ts - o.ts_add
        bucket = sum(life > e for e in _LIFETIME_EDGES_NS)
        self._lifetimes[kind][bucket] += 1
        return life

    # ---- actions -------------------------------------------------------------------------
    def _add(self, ts: int, oid: int, side: int, price: int, size: int, flags: int) -> None:
        if side not in (0, 1) or size <= 0:
            return
        snap = bool(flags & _SNAPSHOT)
        old = self._orders.pop(oid, None)
        if old is not None:
            self._leave(old, oid)
        o = _Order(side, price, size, -1 if snap else ts)
        self._orders[oid] = o
        self._join(o, oid)
        if snap:
            return
        ff = self._full_fill.get((side, price))
        if (
            ff is not None
            and ts - ff[0] <= self.params.iceberg_refill_window_ns
            and (size == ff[1] or not self.params.iceberg_new_id_same_size)
        ):
            del self._full_fill[(side, price)]
            self._refill(ts, side, price, size, oid, same_id=ff[2] == oid, prev=ff)
        self._check_large(ts, oid, o)

    def _fill(self, ts: int, oid: int, size: int, side: int) -> None:
        o = self._orders.get(oid)
        if size <= 0:
            return
        if o is None:  # an order we never saw: its fill still counts as traded on its side
            if side in (0, 1):
                self._window(side, ts)
                self._trades[side].append((ts, size))
                self._ctr_sums[side][1] += size
            return
        o.filled += size
        self._pending[oid] = self._pending.get(oid, 0) + size
        key = (o.side, o.price)
        chain = self._chains.get(key)
        if chain is not None and oid in chain.ids:
            chain.executed += size
        self._window(o.side, ts)
        self._trades[o.side].append((ts, size))
        self._ctr_sums[o.side][1] += size

    def _cancel(self, ts: int, oid: int, size: int) -> None:
        o = self._orders.get(oid)
        if o is None:
            return
        take = min(size, o.size) if size > 0 else o.size
        pending = self._pending.get(oid, 0)
        by_fill = min(take, pending)
        if by_fill:
            self._pending[oid] = pending - by_fill
        if take < o.size:  # partial
            self._leave(o, oid)
            o.size -= take
            self._join(o, oid)
            if take > by_fill:
                self._count_cancel(ts, o.side, take - by_fill)
            return
        self._leave(o, oid)
        del self._orders[oid]
        if by_fill:  # filled away: a refill may follow at the same price
            self._drop_filled(ts, oid, o, left=False)
        else:
            self._count_cancel(ts, o.side, take)
            life = self._note_lifetime("cancelled", o, ts)
            if o.large:
                self._large_removed(ts, oid, o, "cancelled")
            if o.filled == 0:
                self._check_spoof(ts, oid, o, take, life)

    def _modify(self, ts: int, oid: int, price: int, size: int) -> None:
        o = self._orders.get(oid)
        if o is None:
            return
        pending = self._pending.pop(oid, 0)
        if size <= 0:
            if pending:
                self._drop_filled(ts, oid, o, left=True)
            else:
                self._cancel(ts, oid, o.size)
            return
        # fills used up the shown size and the same order is shown again at the same price
        refill = 0 < o.size <= pending and price == o.price
        if not pending and size < o.size and price == o.price:
            self._count_cancel(ts, o.side, o.size - size)
        self._leave(o, oid)
        if refill or price != o.price or size > o.shown:
            o.shown = size
        o.price, o.size = price, size
        self._join(o, oid)
        if refill:
            self._refill(ts, o.side, price, size, oid, same_id=True, prev=None)
        self._check_large(ts, oid, o)

    def _drop_filled(self, ts: int, oid: int, o: _Order, left: bool) -> None:
        if left:
            self._leave(o, oid)
            del self._orders[oid]
        self._full_fill[(o.side, o.price)] = (ts, o.shown, oid, o.filled)
        self._note_lifetime("filled", o, ts)
        if o.large:
            self._large_removed(ts, oid, o, "filled")

    def _count_cancel(self, ts: int, side: int, size: int) -> None:
        self._window(side, ts)
        self._cancels[side].append((ts, size))
        self._ctr_sums[side][0] += size

    # ---- detectors -----------------------------------------------------------------------
    def _refill(
        self,
        ts: int,
        side: int,
        price: int,
        shown: int,
        oid: int,
        same_id: bool,
        prev: tuple[int, int, int, int] | None,
    ) -> None:
        """A tranche shown again at (side, price): by the same order (``prev`` None) or by a
        new order ``oid`` after the full fill ``prev`` = (ts, shown, order id, filled)."""
        p = self.params
        key = (side, price)
        chain = self._chains.get(key)
        if chain is None or ts - chain.last_ts > p.iceberg_chain_gap_ns:
            chain = self._chains[key] = _Chain(ts)
            # the fills that used up the first tranche belong to the chain
            chain.executed = self._orders[oid].filled if prev is None else prev[3]
        if prev is not None and prev[2] not in chain.ids:
            if chain.refills:  # (a new chain took the first tranche's fills above)
                chain.executed += prev[3]
            chain.ids.add(prev[2])
            if len(chain.order_ids) < _MAX_LISTED:
                chain.order_ids.append(prev[2])
        chain.ids.add(oid)
        chain.refills += 1
        chain.last_ts = ts
        chain.same_id = chain.same_id and same_id
        if len(chain.shown) < _MAX_LISTED:
            chain.shown.append(shown)
        if oid not in chain.order_ids and len(chain.order_ids) < _MAX_LISTED:
            chain.order_ids.append(oid)
        if chain.refills < p.iceberg_min_refills:
            return
        self._out.append(
            Signal(
                instrument=self.instrument,
                ts_event=ts,
                direction=side_direction(side),
                score=clip01(chain.refills / p.iceberg_score_refills),
                detector="iceberg",
                price=price,
                evidence={
                    "side": "bid" if side == 0 else "ask",
                    "price": price,
                    "refills": chain.refills,
                    "executed": chain.executed,
                    "shown_sizes": list(chain.shown),
                    "max_shown": max(chain.shown),
                    "executed_over_shown": round(chain.executed / max(max(chain.shown), 1), 3),
                    "order_ids": list(chain.order_ids),
                    "same_order_id": chain.same_id,
                    "first_ts": chain.first_ts,
                    "duration_ns": ts - chain.first_ts,
                    "min_refills": p.iceberg_min_refills,
                    "refill_window_ns": p.iceberg_refill_window_ns,
                    "chain_gap_ns": p.iceberg_chain_gap_ns,
                },
            )
        )

    def _check_large(self, ts: int, oid: int, o: _Order) -> None:
        p = self.params
        if o.large or o.size < p.large_lot_min_size:
            return
        level = self._level_size.get((o.side, o.price), o.size)
        share = o.size / level
        dist = self._near(o.side, o.price)
        if share < p.large_lot_min_share or dist is None:
            return
        o.large = True
        largest = self.largest_order(o.side, o.price)
        self._out.append(
            Signal(
                instrument=self.instrument,
                ts_event=ts,
                direction=side_direction(o.side),
                score=clip01(o.size / (4 * p.large_lot_min_size)),
                detector="large_lot_added",
                price=o.price,
                evidence={
                    "side": "bid" if o.side == 0 else "ask",
                    "order_id": oid,
                    "price": o.price,
                    "size": o.size,
                    "level_size": level,
                    "share_of_level": round(share, 4),
                    "largest_at_level": largest is not None and largest[0] == oid,
                    "ticks_from_touch": dist,
                    "min_size": p.large_lot_min_size,
                    "min_share": p.large_lot_min_share,
                    "near_ticks": p.near_ticks,
                },
            )
        )

    def _large_removed(self, ts: int, oid: int, o: _Order, how: str) -> None:
        p = self.params
        dist = self._near(o.side, o.price)
        if dist is None:
            return
        self._out.append(
            Signal(
                instrument=self.instrument,
                ts_event=ts,
                direction=-side_direction(o.side),
                score=clip01(max(o.shown, o.size) / (4 * p.large_lot_min_size)),
                detector="large_lot_removed",
                price=o.price,
                evidence={
                    "side": "bid" if o.side == 0 else "ask",
                    "order_id": oid,
                    "price": o.price,
                    "how": how,
                    "size": max(o.shown, o.size),
                    "filled": o.filled,
                    "lifetime_ns": ts - o.ts_add if o.ts_add >= 0 else None,
                    "ticks_from_touch": dist,
                    "min_size": p.large_lot_min_size,
                    "near_ticks": p.near_ticks,
                },
            )
        )

    def _check_spoof(self, ts: int, oid: int, o: _Order, size: int, life: int) -> None:
        p = self.params
        if life < 0 or life > p.spoof_max_lifetime_ns or size < p.spoof_min_size:
            return
        dist = self._near(o.side, o.price)
        if dist is None:
            return
        ctr = self.cancel_to_trade(o.side)
        score = (1.0 - life / p.spoof_max_lifetime_ns) * min(1.0, size / (2 * p.spoof_min_size))
        self._out.append(
            Signal(
                instrument=self.instrument,
                ts_event=ts,
                direction=-side_direction(o.side),
                score=clip01(score),
                detector="spoof_pull",
                price=o.price,
                evidence={
                    "side": "bid" if o.side == 0 else "ask",
                    "order_id": oid,
                    "price": o.price,
                    "size": size,
                    "lifetime_ns": life,
                    "ticks_from_touch": dist,
                    "cancel_to_trade": None if ctr is None else round(ctr, 4),
                    "cancelled_in_window": self._ctr_sums[o.side][0],
                    "traded_in_window": self._ctr_sums[o.side][1],
                    "min_size": p.spoof_min_size,
                    "max_lifetime_ns": p.spoof_max_lifetime_ns,
                    "near_ticks": p.near_ticks,
                    "ctr_window_ns": p.ctr_window_ns,
                },
            )
        )


def event_groups(events: np.ndarray) -> np.ndarray:
    """End indices (exclusive) of the event groups of an MBO array: after each record flagged
    LAST outside a snapshot, and at the end of the array."""
    flags = events["flags"]
    ends = np.flatnonzero((flags & (_LAST | _SNAPSHOT)) == _LAST) + 1
    if len(ends) == 0 or ends[-1] != len(events):
        ends = np.append(ends, len(events))
    return ends.astype(np.int64)


def best_before_groups(
    events: np.ndarray, instrument: Instrument | None, depth_bid: Any = None, depth_ask: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Best bid and ask before each event group (NO_PRICE when unknown), from a book replay
    (or from the given top-of-book columns recorded at the boundaries)."""
    if depth_bid is None or depth_ask is None:
        res = OrderBook(instrument).apply_mbo(events, record_depth=1)
        assert res.depth is not None
        depth_bid, depth_ask = res.depth.bid_price[:, 0], res.depth.ask_price[:, 0]
    n = len(event_groups(events))
    bid = np.full(n, NO_PRICE, dtype=np.int64)
    ask = np.full(n, NO_PRICE, dtype=np.int64)
    k = min(n - 1, len(depth_bid))
    bid[1 : k + 1] = depth_bid[:k]
    ask[1 : k + 1] = depth_ask[:k]
    return bid, ask


def detect_l3(
    events: np.ndarray,
    instrument: Instrument | str,
    params: L3Params | None = None,
    best: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Signal]:
    """Run :class:`L3Detector` over an MBO array; ``best`` (from :func:`best_before_groups`)
    saves a book replay when the caller already has one."""
    name = instrument if isinstance(instrument, str) else _name(instrument)
    inst = None if isinstance(instrument, str) else instrument
    bid, ask = best if best is not None else best_before_groups(events, inst)
    det = L3Detector(name, params)
    out: list[Signal] = []
    rows = events.tolist()
    start = 0
    for g, end in enumerate(event_groups(events).tolist()):
        b, a = int(bid[g]), int(ask[g])
        out.extend(
            det.on_group(
                rows[start:end], None if b == NO_PRICE else b, None if a == NO_PRICE else a
            )
        )
        start = end
    return out


def _name(instrument: Instrument) -> str:
    return instrument.contract or instrument.symbol
