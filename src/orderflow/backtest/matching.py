"""The venue's side of the market data: its book, and which records touch our orders.

Per chunk, vectorised masks find the records that can touch one of our orders (records of
the orders queued ahead of ours, clears, prints at or through our prices and triggers);
only those run in Python, against the queue model of :mod:`orderflow.backtest.queues`.
Everything else goes to the book in one batch call. The fill rules are in
``docs/backtest.md``; :class:`Matching` is the part of
:class:`~orderflow.backtest.venue.SimVenue` that does this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from orderflow.backtest.market import MarketView
from orderflow.backtest.model import (
    ASK,
    BID,
    CLEAR,
    FILL,
    LAST,
    NONE,
    STOPS,
    TRADE,
    SimOrder,
)
from orderflow.backtest.queues import (
    l2_level_update,
    l2_trade_fill,
    l3_order_update,
    l3_trade_fill,
)
from orderflow.backtest.relevant import OrderArrays, clear_l3, order_arrays, quiet_l3, scan_l3
from orderflow.backtest.scans import cancelled_l3, cut_l3, tail_l3, triggers
from orderflow.core.errors import ArgumentError
from orderflow.model.enums import LevelAction, NtOperation
from orderflow.trading.orders import OrderType

__all__ = ["Matching"]

#: records looked at a time while orders of ours work (a pass restarts when one ends)
WINDOW = 16_384
_PAST_CUT = (
    "a stop of ours triggered inside a chunk already applied to the shared book: cut the "
    "records with SimVenue.next_cut()"
)


class Matching:
    """Market data against our orders (a part of ``SimVenue``; see the module docstring)."""

    # the venue's state this part reads and writes (set by SimVenue.__init__)
    kind: str
    l3: bool
    fills_print: bool  # L3 prints are the F records of resting orders (LOBSTER), not T
    shared: bool
    market: MarketView
    queue_power: float
    now: int
    last_trade: int | None
    taken: dict[tuple[int, int], int]
    _taken_level: dict[tuple[int, int], int]
    _resting: list[SimOrder]
    _waiting: list[SimOrder]
    _fired: list[SimOrder]
    _pending: list[tuple[int, Any]]
    _out: list[Any]  # reports not yet taken
    _events: int
    _ends: int
    #: counts what can change our orders as :func:`order_arrays` shows them (every report
    #: of an order, every pass over records relevant to them); the arrays are kept with it
    _changes: int
    _arrays: tuple[int, OrderArrays] | None

    if TYPE_CHECKING:  # the venue's operations this part calls
        _fill: Callable[[SimOrder, int, int, int, str], None]
        _market: Callable[[SimOrder, int], None]
        _place_limit: Callable[[SimOrder, int], None]

    def next_cut(self, records: np.ndarray, trades: np.ndarray | None = None) -> int:
        """How many of ``records`` may go to a shared book before the venue must read it: up
        to the next command's arrival or to the end of the first event with a print that can
        trigger a stop or MIT of ours, rounded up to the end of an event (a record flagged
        LAST) so a pipeline that holds back incomplete events applies exactly that many.
        ``len(records)`` when nothing is due; 0 when a command is due before the first record
        (call :meth:`advance` with the time just before it). Feed whole events (records up to
        a LAST), as the pipeline applies them. O(len): jitted for L3, vectorised for L2.

        The driver's loop with the pipeline's book::

            out += venue.advance(int(records["ts_event"][0]) - 1)
            cut = venue.next_cut(records)
            pipeline.process(records[:cut]); out += venue.on_market(records[:cut])
            records = records[cut:]
        """
        n = len(records)
        if n == 0:
            return 0
        if not (self._pending or self._fired or self._waiting):
            return n  # nothing due, nothing to trigger: the whole piece
        if self.l3:  # one jitted pass (backtest.scans); the L2 form below is the same rule
            at = self._pending[0][0] if self._pending else -1
            arrays = self._arrays  # (the relevance pass's, while our orders have not moved)
            w = arrays[1][0] if arrays is not None and arrays[0] == self._changes else None
            if w is None:
                w = triggers(self._waiting)
            return int(cut_l3(records, self.fills_print, at, bool(self._fired), w))
        rts = records["ts_event"]
        lasts = np.flatnonzero(records["flags"] & LAST)
        cut = n
        if self._pending:
            cut = int(np.searchsorted(rts, self._pending[0][0], side="right"))
        if self._fired and len(lasts):  # triggered in an event the last chunk did not finish
            cut = min(cut, int(lasts[0]) + 1)
        if self._waiting and trades is not None and len(trades):
            fire = np.flatnonzero(self._fires(trades["price"]))
            if len(fire):
                t_fire = trades["ts_event"][fire[0]]
                cut = min(cut, int(np.searchsorted(rts, t_fire, side="right")))
        if 0 < cut < n and not records["flags"][cut - 1] & LAST:
            e = int(np.searchsorted(lasts, cut - 1))
            cut = int(lasts[e]) + 1 if e < len(lasts) else n
        return cut

    def _fires(self, price: np.ndarray) -> np.ndarray:
        """Which of these prints would trigger one of our waiting stops or MITs."""
        m = np.zeros(len(price), dtype=bool)
        for o in self._waiting:
            assert o.stop_ticks is not None
            up = o.is_buy if o.order_type in STOPS else not o.is_buy
            m |= (price >= o.stop_ticks) if up else (price <= o.stop_ticks)
        return m

    def _apply(self, recs: np.ndarray, tail: tuple[int, int] | None = None) -> None:
        """Records to the book (unless it is shared: then they are in it already); what we
        took falls by what the market removed there. ``tail``: L3's last print of ``recs``
        (price, printed) when already scanned (:func:`tail_l3`'s)."""
        if len(recs) == 0:
            return
        if not self.shared:
            self.market.apply(recs)
        self.now = max(self.now, int(recs["ts_event"][-1]))
        if self.l3:
            if tail is None:
                _, price, printed = tail_l3(recs, self.fills_print)
            else:
                price, printed = tail
            if printed:
                self.last_trade = int(price)
        if self.taken:
            self._decay(recs)

    def _decay(self, recs: np.ndarray) -> None:
        """Subtract the size the market removed at each level we took from: cancels (L3: fills
        come as C records too) or, in L2, the level's size decreases since last seen. Additive,
        so the result does not depend on how the records were chunked; the cap by the level's
        size is applied when the level is read (:meth:`_free`)."""
        for (sd, p), amount in list(self.taken.items()):
            if self.l3:  # (one compiled pass a level)
                removed = int(cancelled_l3(recs, sd, p))
            else:
                sizes = self._l2_sizes(recs[(recs["price"] == p) & (recs["side"] == sd)])
                if len(sizes) == 0:
                    continue
                seq = np.concatenate(([self._taken_level[(sd, p)]], sizes))
                removed = int(np.clip(seq[:-1] - seq[1:], 0, None).sum())
                self._taken_level[(sd, p)] = int(sizes[-1])
            if amount > removed:
                self.taken[(sd, p)] = amount - removed
            else:
                del self.taken[(sd, p)]
                self._taken_level.pop((sd, p), None)

    def _free(self, side: int, price: int, size: int) -> int:
        """Size at a level not already taken by us; the taken amount is capped by ``size``."""
        key = (side, price)
        taken = self.taken.get(key)
        if taken is None:
            return size
        if taken >= size:
            if size > 0:
                self.taken[key] = size
            else:
                del self.taken[key]
                self._taken_level.pop(key, None)
            return 0
        return size - taken

    def _l2_sizes(self, recs: np.ndarray) -> np.ndarray:
        """The level size each L2 record leaves at its own price."""
        if self.kind == "levels":
            return np.where(recs["action"] == int(LevelAction.CLEAR), 0, recs["size"])
        return np.where(recs["operation"] == int(NtOperation.REMOVE), 0, recs["size"])

    @property
    def quiet(self) -> bool:
        """Nothing of ours at the venue (resting, waiting, triggered, taken), no command on
        its way and no report waiting, a shared L3 book: what the venue makes of records then
        is its clock at their last record, their last print and their count of events,
        nothing else (:meth:`_idle_l3`), so pieces in time order shown one by one or joined
        leave it the same. Only a command ends it."""
        return self.l3 and self.shared and not (
            self._resting or self._waiting or self._fired or self.taken or self._pending
            or self._out
        )  # fmt: skip

    def clear(self, recs: np.ndarray) -> int:
        """How many of ``recs`` (whole events from an event's start, in time order) a shared
        L3 book may take while this venue is shown none of them, its orders working: the
        records before the first that can touch an order of ours (:func:`clear_l3`), while
        nothing else is due here (no command on its way, no report waiting, nothing
        triggered, no liquidity of ours taken); 0 otherwise, and for a venue with nothing of
        ours (:attr:`quiet`'s case). What the venue makes of such records is what
        :meth:`_pass_l3` makes of a piece with nothing relevant: its clock at their last
        record, their last print and their count of events, the same joined or piece by
        piece; and :meth:`next_cut` would give each such piece whole (a print that fires a
        trigger is relevant). Valid until the venue is shown records or sent a command."""
        if (not (self.l3 and self.shared and (self._resting or self._waiting)) or self._pending
                or self._out or self._fired or self.taken):  # fmt: skip
            return 0
        w, r, ahead, ids, sizes = self._order_arrays()
        return int(clear_l3(recs, self.fills_print, w, r, ahead, ids, sizes))

    def on_clear(self, recs: np.ndarray) -> None:
        """Records of a shared L3 book that touch nothing of ours, in time order: those of
        :meth:`clear` (nothing shown or sent since it said so) or, with nothing of ours here,
        any (:attr:`quiet`). What :meth:`on_market` makes of them then: the clock, the last
        print and the count of events; no report."""
        self._idle_l3(recs)

    def _idle_l3(self, recs: np.ndarray) -> None:
        """A piece of a shared L3 book while the venue is :attr:`quiet`: it can touch
        nothing of ours, so it moves the clock, the last print and the count of events only
        (one jitted pass, :func:`tail_l3`; the full pass does the same then, with nothing of
        ours in it)."""
        if len(recs):
            events, price, printed = tail_l3(recs, self.fills_print)
            self.now = max(self.now, int(recs["ts_event"][-1]))
            if printed:
                self.last_trade = int(price)
            self._events += int(events)

    def _run(self, recs: np.ndarray, trades: np.ndarray) -> None:
        if self.l3:
            # with orders of ours working, look at a window at a time: a pass restarts when
            # one of them ends, and should not rescan the whole chunk each time
            busy = self._resting or self._waiting or self._fired
            if not busy and self.quiet:
                self._idle_l3(recs)
                return
            i, n = 0, len(recs)
            while i < n:
                i += self._pass_l3(recs[i : i + WINDOW] if busy else recs[i:])
                busy = self._resting or self._waiting or self._fired
        else:
            i = k = 0
            while i < len(recs) or k < len(trades):
                di, dk = self._pass_l2(recs[i:], trades[k:])
                i, k = i + di, k + dk

    def _order_arrays(self) -> OrderArrays:
        """:func:`order_arrays` of our orders, kept while they have not moved."""
        arrays = self._arrays
        if arrays is None or arrays[0] != self._changes:  # our orders moved since: again
            arrays = self._arrays = (self._changes, order_arrays(self._waiting, self._resting))
        return arrays[1]

    def _scan_l3(self, seg: np.ndarray) -> tuple[Any, ...]:
        """While orders of ours work: the records of ``seg`` that end an event, those that
        can touch an order of ours, in order, with for each the volume its event printed so
        far at its price and aggressor side (trades; 0 for other records), and the piece's
        events and last print (price, printed): :func:`~orderflow.backtest.relevant.scan_l3`,
        one jitted pass. O(records x our orders)."""
        w, r, ahead, ids, sizes = self._order_arrays()
        return scan_l3(seg, self.fills_print, w, r, ahead, ids, sizes)  # type: ignore[no-any-return]

    def _quiet_l3(self, seg: np.ndarray) -> tuple[int, int, int, int]:
        """:meth:`_scan_l3`'s count of relevant records and the piece's events and last
        print (:func:`~orderflow.backtest.relevant.quiet_l3`): all a piece that touches
        nothing of ours needs, most pieces while orders of ours work."""
        w, r, ahead, ids, sizes = self._order_arrays()
        return quiet_l3(seg, self.fills_print, w, r, ahead, ids, sizes)  # type: ignore[no-any-return]

    def _pass_l3(self, seg: np.ndarray) -> int:
        """Records up to the end of the first event where a stop or MIT of ours triggers
        (then those orders are executed on the book after that event), or all of them.
        Returns how many records were consumed."""
        triggered, self._fired = self._fired, []
        if self._resting or self._waiting:
            if not triggered:  # nothing relevant (most pieces): the path below, in short
                relevant, events, price_, printed = self._quiet_l3(seg)
                if not relevant:
                    self._apply(seg, (price_, printed))
                    self._events += int(events)  # (every event end: lasts.searchsorted)
                    return len(seg)
            lasts, rel, rel_cum, _, _, _ = self._scan_l3(seg)
        else:
            lasts = (seg["flags"] & LAST).nonzero()[0]  # (np.flatnonzero's answer, no dispatch)
            rel = rel_cum = np.zeros(0, dtype=np.int64)
        act = seg["action"]
        # fired in an event the last chunk did not finish: run them at that event's end
        stop_at = -1 if not triggered else (int(lasts[0]) + 1 if len(lasts) else -2)
        base = self._events
        cut = len(seg)  # an order of ours ended: what was relevant is stale after that record
        if len(rel):
            self._changes += 1  # these records move queues, fill, trigger: the arrays go stale
            gen = self._ends
            ev_of = lasts.searchsorted(rel)
            price, size, side = seg["price"], seg["size"], seg["side"]
            oid, ts = seg["order_id"], seg["ts_event"]
            for j, ev, cum in zip(rel.tolist(), ev_of.tolist(), rel_cum.tolist(), strict=True):
                if stop_at >= 0 and j >= stop_at:
                    break
                a = int(act[j])
                if a == TRADE or (a == FILL and self.fills_print):
                    p, sd = int(price[j]), int(side[j])
                    if a == FILL and sd != NONE:
                        sd = 1 - sd  # the aggressor of a resting order's fill
                    self.last_trade = p
                    fired = self._on_trade(
                        p, int(size[j]), sd, int(ts[j]), base + ev, cum,
                        fill=a == FILL or not self.fills_print,
                    )  # fmt: skip
                    if fired and stop_at == -1:
                        stop_at = int(lasts[ev]) + 1 if ev < len(lasts) else -2
                    triggered += fired
                elif a == CLEAR:
                    for o in self._resting:
                        if int(side[j]) in (o.side, NONE):
                            o.queue.ahead, o.queue.ahead_ids = 0.0, {}
                else:
                    o_id = int(oid[j])
                    for o in self._resting:
                        if o_id in o.queue.ahead_ids:
                            assert o.limit_ticks is not None
                            l3_order_update(o.queue, int(price[j]), a, int(size[j]), o_id,
                                            o.limit_ticks)  # fmt: skip
                if self._ends != gen and stop_at == -1:
                    cut = j + 1
                    break
        if stop_at < 0:
            self._apply(seg[:cut])
            self._events += int(lasts.searchsorted(cut))
            if stop_at == -2:
                self._fired = triggered
            return cut
        if self.shared and stop_at < len(seg):
            raise ArgumentError(_PAST_CUT)
        self._apply(seg[:stop_at])
        self._events += int(lasts.searchsorted(stop_at))
        self._execute(triggered, int(seg["ts_event"][stop_at - 1]))
        return stop_at

    def _on_trade(self, price: int, size: int, aggressor: int, t: int, ev: int,
                  ev_traded: int = 0, fill: bool = True) -> list[SimOrder]:  # fmt: skip
        """One print: fills of our resting limits (unless ``fill`` is False: a hidden
        execution, which takes no visible queue), and the stops and MITs it triggers (``ev``,
        ``ev_traded``: L3's exchange event and its volume so far at this price)."""
        fills: list[tuple[SimOrder, int]] = []
        ours: dict[tuple[int, int], float] = {}  # our remaining queued ahead, per level
        for o in list(self._resting) if fill else ():
            lim = o.limit_ticks
            assert lim is not None
            hit = aggressor in ((ASK if o.is_buy else BID), NONE)
            key = (o.side, lim)
            before = ours.get(key, 0.0)
            ours[key] = before + o.remaining
            if (price < lim) if o.is_buy else (price > lim):
                fills.append((o, o.remaining))  # traded through our price
            elif price == lim and hit:
                if self.l3:
                    q = l3_trade_fill(o.queue, ev, ev_traded, int(before), o.remaining)
                else:
                    q = l2_trade_fill(o.queue, size, before, o.remaining)
                if q:
                    fills.append((o, q))
        for o, q in fills:
            if o.live and o.remaining:
                assert o.limit_ticks is not None
                self._fill(o, min(q, o.remaining), o.limit_ticks, t, "maker")
        fired = []
        for o in list(self._waiting):
            assert o.stop_ticks is not None
            up = o.is_buy if o.order_type in STOPS else not o.is_buy
            if price >= o.stop_ticks if up else price <= o.stop_ticks:
                self._waiting.remove(o)
                o.triggered = True
                fired.append(o)
        return fired

    def _execute(self, triggered: list[SimOrder], t: int) -> None:
        """Triggered orders on the book after the event of the print that triggered them."""
        self._changes += 1
        for o in triggered:
            if not o.live:
                continue
            if o.order_type == OrderType.STOP_LIMIT:
                self._place_limit(o, t)
            else:
                self._market(o, t)

    def _pass_l2(self, recs: np.ndarray, trades: np.ndarray) -> tuple[int, int]:
        """Like :meth:`_pass_l3` for a level stream and its prints (a print goes before the
        records of the same time). Returns (records, prints) consumed."""
        rts = recs["ts_event"]
        tpos = np.searchsorted(rts, trades["ts_event"], side="left")
        items: list[tuple[int, int, int]] = []  # (order key, 0 print / 1 record, index)
        if self._resting or self._waiting:
            keep = self._fires(trades["price"])
            tp, tside = trades["price"], trades["side"]
            for o in self._resting:
                lim = o.limit_ticks
                hit = (tside == (ASK if o.is_buy else BID)) | (tside == NONE)
                keep |= ((tp < lim) if o.is_buy else (tp > lim)) | ((tp == lim) & hit)
            items += [(2 * int(tpos[i]), 0, i) for i in np.flatnonzero(keep).tolist()]
        level: dict[int, tuple[int, int, int, bool]] = {}  # record -> price, side, size, clear
        if self._resting:
            m = np.zeros(len(recs), dtype=bool)
            for o in self._resting:
                m |= (recs["price"] == o.limit_ticks) & (recs["side"] == o.side)
            clear = np.zeros(len(recs), dtype=bool)
            if self.kind == "levels":
                clear = recs["action"] == int(LevelAction.CLEAR)
                m |= clear
            idx = np.flatnonzero(m)
            at = recs[idx]
            cols = zip(idx.tolist(), at["price"].tolist(), at["side"].tolist(),
                       self._l2_sizes(at).tolist(), clear[idx].tolist(), strict=True)  # fmt: skip
            for i, p, sd, sz, cl in cols:
                level[i] = (p, sd, sz, cl)
                items.append((2 * i + 1, 1, i))
        items.sort()
        stop_rec = first = -1
        t_fire = self.now
        triggered: list[SimOrder] = []
        for key, is_rec, i in items:
            if stop_rec >= 0 and key >= 2 * stop_rec:
                break
            if is_rec:
                self._on_level(*level[i])
                continue
            tr = trades[i]
            p = int(tr["price"])
            self.last_trade = p
            fired = self._on_trade(p, int(tr["size"]), int(tr["side"]), int(tr["ts_event"]), 0)
            if fired and stop_rec < 0:
                stop_rec = int(np.searchsorted(rts, tr["ts_event"], side="right"))
                first, t_fire = i, int(tr["ts_event"])
            triggered += fired
        if stop_rec < 0:
            if len(trades):
                self.last_trade = int(trades["price"][-1])
            self._apply(recs)
            self._reconcile_l2()
            return len(recs), len(trades)
        # prints before record stop_rec are done, and so is the one that fired (a print between
        # the same two records but later than it comes after the triggered orders)
        k = max(int(np.searchsorted(tpos, stop_rec, side="left")), first + 1)
        if self.shared and stop_rec < len(recs):
            raise ArgumentError(_PAST_CUT)
        self._apply(recs[:stop_rec])
        self.now = max(self.now, t_fire)
        self._reconcile_l2()
        self._execute(triggered, t_fire)
        return stop_rec, k

    def _on_level(self, price: int, side: int, size: int, clear: bool) -> None:
        """One L2 record at a level of ours (or a clear): its new size to the queue model."""
        for o in self._resting:
            if clear:
                if side in (o.side, NONE):
                    l2_level_update(o.queue, 0, self.queue_power)
            elif o.limit_ticks == price and o.side == side and size != o.queue.level_size:
                l2_level_update(o.queue, size, self.queue_power)

    def _reconcile_l2(self) -> None:
        """A ladder row can change price without a record at the old price (NinjaTrader's
        Update): take the book's size at our level as the truth after each pass."""
        for o in self._resting:
            assert o.limit_ticks is not None
            actual = self.market.size_at(o.side, o.limit_ticks)
            if actual != o.queue.level_size:
                l2_level_update(o.queue, actual, self.queue_power)
