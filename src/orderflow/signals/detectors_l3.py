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

Orders from a snapshot have no known birth time: they never count as quick pulls.

The work is done by numba kernels (:mod:`._l3_detect_kernels`) on state held in one int64
buffer: hash tables keyed by order id (per-order records, fills of the current group), by
(side, price) (level size and orders, iceberg chain, last full fill) and by (chain, order id),
and rings for the cancel-to-trade window. In the pipeline's fused step the same kernel finds a
record's order through the slot the book stage found it at, instead of hashing its id again
(orders the book does not hold are still found by id); the same orders, the same signals.
:meth:`L3Detector.on_group` runs the kernel over one group, :func:`detect_l3` over all of them
in one call; the kernel writes fired signals as rows that are dressed as
:class:`~orderflow.signals.model.Signal` with their evidence here. Parts that fill up are grown
and the kernel resumes where it stopped, so there is no size limit.
Complexity: O(1) expected per record; O(orders at the level) when a large lot fires (is it the
largest there?) and for :meth:`L3Detector.largest_order`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orderflow.book.l3 import OrderBook
from orderflow.core.errors import ArgumentError
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE
from orderflow.model.enums import Action, Flags
from orderflow.model.instruments import Instrument
from orderflow.signals import _l3_detect_kernels as K
from orderflow.signals.model import Signal, clip01, side_direction
from orderflow.signals.params import L3Params as L3Params

__all__ = ["L3Detector", "L3Params", "detect_l3", "event_groups"]

_LAST, _SNAPSHOT = int(Flags.LAST), int(Flags.SNAPSHOT)
_LIFETIME_LABELS = ("<=1ms", "<=10ms", "<=100ms", "<=1s", "<=10s", ">10s")
_U64 = 1 << 64
# the fields the detectors read, at the positions the reference read them from a record tuple
_FIELDS = ("ts_event", "order_id", "price", "size", "action", "side", "flags")

#: first sizes of the state parts (each doubles when full): orders, levels, chain members,
#: pending fills of a group, entries per cancel/trade window ring, signal rows
_CAPACITY = {"orders": 1 << 12, "levels": 1 << 9, "members": 1 << 9, "pending": 1 << 8}
_CAPACITY |= {"ring": 1 << 11, "out": 1 << 6}
#: a batch sizes the order and level parts from its ADD count up front (growing a full buffer
#: costs a copy of it); at most this many orders, and one level per ``_ADDS_PER_LEVEL`` adds
_RESERVE_ORDERS = 1 << 16
_ADDS_PER_LEVEL = 16
#: the header slots of the parts' capacities, in ``_new_state``'s order (the book slots' last)
_CAPS = (K.H_OCAP, K.H_LCAP, K.H_MCAP, K.H_PCAP, K.H_RCAP, K.H_BCAP)
#: the book stage's words when fed alone: none (every order found by its id)
_NO_SLOTS = np.zeros(0, dtype=np.int64)


def _pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 1).bit_length()


def _new_state(
    ocap: int,
    lcap: int,
    mcap: int,
    pcap: int,
    rcap: int,
    old: np.ndarray | None = None,
    bcap: int = 0,
) -> np.ndarray:
    """A zeroed buffer with the given capacities (powers of two; ``bcap``: book slots mapped,
    none when fed alone) and its layout header; with ``old``, that state moved into it.
    O(size)."""
    off = K.META
    layout = [0] * K.LAYOUT_END
    layout[K.H_OOFF], layout[K.H_OCAP] = off, ocap
    off += ocap * K.OCOLS
    layout[K.H_OHOFF], layout[K.H_OHCAP] = off, 2 * ocap
    layout[K.H_OHSHIFT] = 64 - (2 * ocap).bit_length() + 1
    off += 4 * ocap
    layout[K.H_LOFF], layout[K.H_LCAP] = off, lcap
    off += lcap * K.LCOLS
    layout[K.H_LHOFF], layout[K.H_LHCAP] = off, 2 * lcap
    layout[K.H_LHSHIFT] = 64 - (2 * lcap).bit_length() + 1
    off += 2 * lcap
    layout[K.H_MOFF], layout[K.H_MCAP] = off, mcap
    layout[K.H_MSHIFT] = 64 - mcap.bit_length() + 1
    off += 3 * mcap
    layout[K.H_POFF], layout[K.H_PCAP] = off, pcap
    layout[K.H_PSHIFT] = 64 - pcap.bit_length() + 1
    off += 3 * pcap
    layout[K.H_TOFF] = off
    off += pcap // 2
    layout[K.H_ROFF], layout[K.H_RCAP] = off, rcap
    off += 8 * rcap
    layout[K.H_BOFF], layout[K.H_BCAP] = off, bcap
    off += bcap
    st = np.zeros(off, dtype=np.int64)
    st[: K.LAYOUT_END] = layout
    if old is not None:
        K.k_migrate(old, st)
        return st
    st[K.H_FREE] = -1
    st[K.H_POS_G] = -1
    st[K.H_UID] = 1
    st[K.H_BEST : K.H_BEST + 2] = NO_PRICE
    return st


def _set_params(st: np.ndarray, p: L3Params) -> None:
    st[K.P_MIN_REFILLS] = int(p.iceberg_min_refills)
    st[K.P_REFILL_WINDOW] = int(p.iceberg_refill_window_ns)
    st[K.P_SAME_SIZE] = int(bool(p.iceberg_new_id_same_size))
    st[K.P_CHAIN_GAP] = int(p.iceberg_chain_gap_ns)
    st[K.P_LARGE_MIN] = int(p.large_lot_min_size)
    st[K.P_NEAR] = int(p.near_ticks)
    st[K.P_SPOOF_MIN] = int(p.spoof_min_size)
    st[K.P_SPOOF_LIFE] = int(p.spoof_max_lifetime_ns)
    st[K.P_CTR_WINDOW] = int(p.ctr_window_ns)


def _u64(bits: int) -> int:
    """An order id from the int64 bits the kernels keep."""
    return bits + _U64 if bits < 0 else bits


def _mbo(records: np.ndarray | list[tuple[Any, ...]]) -> np.ndarray:
    """The records as a C-contiguous MBO_DTYPE array, as the kernel takes them (the same array
    when it already is one)."""
    if isinstance(records, np.ndarray) and records.dtype == MBO_DTYPE:
        return records if records.flags.c_contiguous else np.ascontiguousarray(records)
    rows = records.tolist() if isinstance(records, np.ndarray) else list(records)
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    if rows:
        cols = list(zip(*((r[0], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows), strict=True))
        for name, col in zip(_FIELDS, cols, strict=True):
            out[name] = np.array(col, dtype=MBO_DTYPE[name])
    return out


class L3Detector:
    """Iceberg, large-lot and spoof-pull detection on an MBO stream, one event group at a time
    (or a whole array through :func:`detect_l3`; both run the same kernel on the same state)."""

    def __init__(self, instrument: str, params: L3Params | None = None) -> None:
        self.instrument = instrument
        self.params = params or L3Params()
        c = _CAPACITY
        self._st = _new_state(c["orders"], c["levels"], c["members"], c["pending"], c["ring"])
        _set_params(self._st, self.params)
        self._share = float(self.params.large_lot_min_share)
        self._out = np.zeros((c["out"], K.OUTCOLS), dtype=np.int64)
        # the one-group arguments of the live path, reused call after call
        self._end1 = np.zeros(1, dtype=np.int64)
        self._bid1 = np.full(1, NO_PRICE, dtype=np.int64)
        self._ask1 = np.full(1, NO_PRICE, dtype=np.int64)
        self._res = np.zeros(2, dtype=np.int64)

    # ---- public reads --------------------------------------------------------------------
    def largest_order(self, side: int, price: int) -> tuple[int, int] | None:
        """(order id, size) of the single largest order resting at the level, or None.
        O(orders at the level); ties go to the order born first, then to the lower id."""
        if not K.k_largest(self._st, int(side), int(price), self._res):
            return None
        return _u64(int(self._res[0])), int(self._res[1])

    def cancel_to_trade(self, side: int) -> float | None:
        """Cancelled / traded size on ``side`` over the last ``ctr_window_ns`` of event time
        (None while nothing traded)."""
        cancelled, traded = self._ctr(int(side))
        return None if traded == 0 else cancelled / traded

    def lifetime_histogram(self) -> dict[str, Any]:
        """Counts of order lifetimes (birth to full cancel / full fill) in buckets
        <=1 ms, <=10 ms, <=100 ms, <=1 s, <=10 s, >10 s; snapshot orders are not counted."""
        life = self._st[K.H_LIFE : K.H_LIFE + 12].tolist()
        return {
            k: dict(zip(_LIFETIME_LABELS, life[6 * i : 6 * i + 6], strict=True))
            for i, k in enumerate(("cancelled", "filled"))
        }

    def _ctr(self, side: int) -> tuple[int, int]:
        i = K.H_SUMS + 2 * side
        return int(self._st[i]), int(self._st[i + 1])

    # ---- feeding -------------------------------------------------------------------------
    def on_group(
        self,
        records: np.ndarray | list[tuple[Any, ...]],
        best_bid: int | None = None,
        best_ask: int | None = None,
    ) -> list[Signal]:
        """Feed one event group (MBO records up to and including the LAST one) with the best
        bid and ask before it; return the signals it caused."""
        rec = _mbo(records)
        self._end1[0] = len(rec)
        self._bid1[0] = NO_PRICE if best_bid is None else best_bid
        self._ask1[0] = NO_PRICE if best_ask is None else best_ask
        return self._run(rec, self._end1, self._bid1, self._ask1)

    def on_groups(
        self, records: np.ndarray, ends: np.ndarray, best_bid: np.ndarray, best_ask: np.ndarray
    ) -> list[Signal]:
        """Feed many event groups in one kernel call, continuing this detector's state: group
        ``g`` is ``records[ends[g-1]:ends[g]]`` (ends exclusive, the last one ``len(records)``),
        with the best bid and ask before it (NO_PRICE: unknown). The same signals as
        :meth:`on_group` group by group."""
        ends = np.ascontiguousarray(ends, dtype=np.int64)
        bid = np.ascontiguousarray(best_bid, dtype=np.int64)
        ask = np.ascontiguousarray(best_ask, dtype=np.int64)
        if len(bid) < len(ends) or len(ask) < len(ends):
            raise ArgumentError(f"best prices for {min(len(bid), len(ask))} of {len(ends)} groups")
        return self._run(_mbo(records), ends, bid, ask)

    def _reserve(self, orders: int, levels: int, slots: bool = False) -> None:
        """Make room for ``orders`` resting orders and ``levels`` levels at once (``slots``: and
        as many of the book's slots: a book holding that many orders uses no more)."""
        st = self._st
        caps = [int(st[i]) for i in _CAPS]
        if orders > caps[0] or levels > caps[1] or (slots and orders > caps[5]):
            caps[0], caps[1] = max(caps[0], _pow2(orders)), max(caps[1], _pow2(levels))
            if slots:
                caps[5] = max(caps[5], _pow2(orders))
            self._st = _new_state(caps[0], caps[1], caps[2], caps[3], caps[4], st, caps[5])

    def _run(
        self, rec: np.ndarray, ends: np.ndarray, bid: np.ndarray, ask: np.ndarray
    ) -> list[Signal]:
        """Run the kernel over the groups ``ends`` of ``rec``, growing state as it asks."""
        st = self._st
        try:
            while rc := K.k_run(st, rec, ends, bid, ask, self._out, self._share, _NO_SLOTS, 0):
                st = self._grow(rc)
        except BaseException:
            self._st[K.H_POS_G] = -1  # the next call starts afresh, it does not resume this one
            raise
        n = st[K.H_NOUT]
        return self._signals(int(n)) if n else []

    def _grow(self, rc: int) -> np.ndarray:
        st = self._st
        if rc == K.NEED_OUT:
            out = np.zeros((2 * len(self._out), K.OUTCOLS), dtype=np.int64)
            out[: len(self._out)] = self._out
            self._out = out
            return st
        caps = [int(st[i]) for i in _CAPS]
        if rc == K.NEED_MEMBERS:  # keep the members of live chains only, with room to spare
            caps[2] = max(caps[2], _pow2(4 * (int(K.k_live_members(st)) + 2)))
        elif rc == K.NEED_BMAP:  # the book's slots
            caps[5] = max(2 * caps[5], _pow2(int(st[K.H_BNEED])), _CAPACITY["orders"])
        else:
            part = {K.NEED_ORDERS: 0, K.NEED_LEVELS: 1, K.NEED_PENDING: 3, K.NEED_RING: 4}[rc]
            caps[part] *= 2
        self._st = _new_state(caps[0], caps[1], caps[2], caps[3], caps[4], st, caps[5])
        return self._st

    # ---- signals -------------------------------------------------------------------------
    def _signals(self, n: int) -> list[Signal]:
        p = self.params
        out: list[Signal] = []
        for row in self._out[:n].tolist():
            kind, ts, side, price, oid, size = row[:6]
            oid = _u64(oid)
            name = "bid" if side == 0 else "ask"
            if kind == K.K_ICEBERG:
                refills, executed = row[K.OUT_REFILLS], row[K.OUT_EXEC]
                shown = row[K.OUT_SHOWN : K.OUT_SHOWN + row[K.OUT_NSHOWN]]
                ids = [_u64(i) for i in row[K.OUT_IDS : K.OUT_IDS + row[K.OUT_NIDS]]]
                first = row[K.OUT_FIRST]
                out.append(
                    Signal(
                        instrument=self.instrument,
                        ts_event=ts,
                        direction=side_direction(side),
                        score=clip01(refills / p.iceberg_score_refills),
                        detector="iceberg",
                        price=price,
                        evidence={
                            "side": name,
                            "price": price,
                            "refills": refills,
                            "executed": executed,
                            "shown_sizes": shown,
                            "max_shown": max(shown),
                            "executed_over_shown": round(executed / max(max(shown), 1), 3),
                            "order_ids": ids,
                            "same_order_id": bool(row[K.OUT_SAME]),
                            "first_ts": first,
                            "duration_ns": ts - first,
                            "min_refills": p.iceberg_min_refills,
                            "refill_window_ns": p.iceberg_refill_window_ns,
                            "chain_gap_ns": p.iceberg_chain_gap_ns,
                        },
                    )
                )
            elif kind == K.K_ADDED:
                level = row[K.OUT_LEVEL]
                out.append(
                    Signal(
                        instrument=self.instrument,
                        ts_event=ts,
                        direction=side_direction(side),
                        score=clip01(size / (4 * p.large_lot_min_size)),
                        detector="large_lot_added",
                        price=price,
                        evidence={
                            "side": name,
                            "order_id": oid,
                            "price": price,
                            "size": size,
                            "level_size": level,
                            "share_of_level": round(size / level, 4),
                            "largest_at_level": bool(row[K.OUT_LARGEST]),
                            "ticks_from_touch": row[K.OUT_ADD_DIST],
                            "min_size": p.large_lot_min_size,
                            "min_share": p.large_lot_min_share,
                            "near_ticks": p.near_ticks,
                        },
                    )
                )
            elif kind == K.K_REMOVED:
                ts_add = row[K.OUT_TS_ADD]
                out.append(
                    Signal(
                        instrument=self.instrument,
                        ts_event=ts,
                        direction=-side_direction(side),
                        score=clip01(size / (4 * p.large_lot_min_size)),
                        detector="large_lot_removed",
                        price=price,
                        evidence={
                            "side": name,
                            "order_id": oid,
                            "price": price,
                            "how": "filled" if row[K.OUT_HOW] else "cancelled",
                            "size": size,
                            "filled": row[K.OUT_FILLED],
                            "lifetime_ns": ts - ts_add if ts_add >= 0 else None,
                            "ticks_from_touch": row[K.OUT_REM_DIST],
                            "min_size": p.large_lot_min_size,
                            "near_ticks": p.near_ticks,
                        },
                    )
                )
            else:
                life = row[K.OUT_LIFE]
                cancelled, traded = row[K.OUT_CANCELLED], row[K.OUT_TRADED]
                ctr = None if traded == 0 else cancelled / traded
                score = (1.0 - life / p.spoof_max_lifetime_ns) * min(
                    1.0, size / (2 * p.spoof_min_size)
                )
                out.append(
                    Signal(
                        instrument=self.instrument,
                        ts_event=ts,
                        direction=-side_direction(side),
                        score=clip01(score),
                        detector="spoof_pull",
                        price=price,
                        evidence={
                            "side": name,
                            "order_id": oid,
                            "price": price,
                            "size": size,
                            "lifetime_ns": life,
                            "ticks_from_touch": row[K.OUT_SPOOF_DIST],
                            "cancel_to_trade": None if ctr is None else round(ctr, 4),
                            "cancelled_in_window": cancelled,
                            "traded_in_window": traded,
                            "min_size": p.spoof_min_size,
                            "max_lifetime_ns": p.spoof_max_lifetime_ns,
                            "near_ticks": p.near_ticks,
                            "ctr_window_ns": p.ctr_window_ns,
                        },
                    )
                )
        return out


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
    """Run :class:`L3Detector` over an MBO array (one kernel call over every event group);
    ``best`` (from :func:`best_before_groups`) saves a book replay when the caller already has
    one."""
    name = instrument if isinstance(instrument, str) else _name(instrument)
    inst = None if isinstance(instrument, str) else instrument
    bid, ask = best if best is not None else best_before_groups(events, inst)
    ends = event_groups(events)
    bid = np.ascontiguousarray(bid, dtype=np.int64)
    ask = np.ascontiguousarray(ask, dtype=np.int64)
    if len(bid) < len(ends) or len(ask) < len(ends):
        raise ArgumentError(
            f"best prices for {min(len(bid), len(ask))} of {len(ends)} event groups"
        )
    det = L3Detector(name, params)
    adds = int(np.count_nonzero(events["action"] == int(Action.ADD)))
    det._reserve(min(adds, _RESERVE_ORDERS), adds // _ADDS_PER_LEVEL)
    return det._run(_mbo(events), ends, bid, ask)


def _name(instrument: Instrument) -> str:
    return instrument.contract or instrument.symbol
