"""The order-by-order (L3, market-by-order) book.

Every resting order sits in a FIFO queue at its price; levels aggregate size and order count.
State is one preallocated int64 buffer worked on by numba kernels (see ``_l3_kernels``): order
slots with a free list, an open-addressing hash from order id to slot, and a dense price ladder
per side with the best index tracked. The per-event methods and :meth:`OrderBook.apply_mbo` call
the same kernels. When the buffer runs out of room (orders, or a price outside the ladder) it is
grown or re-based and the call goes on, so users see no size limit short of
:data:`MAX_LADDER_LEVELS` ticks between the lowest and highest resting price. A book starts
with :data:`START_CAPACITY` order slots (a few kB to build) and doubles them when full; a
batch's re-base also sizes them for the batch. Growth hands out the same slot numbers a book
started bigger would (the new slots join the free list at its end), so a book's capacity changes
no result: not its orders' slots, not the L3 detectors' map of them.

Updates validate before they mutate: a refused update raises the typed error of
:mod:`orderflow.core.errors` (batch: drops and counts it) and leaves the book as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import count
from typing import Any

import numpy as np

from orderflow.book import _l3_kernels as K
from orderflow.book.common import BatchResult, DepthRecord, PriceEdge, TopOfBook, reject_counts
from orderflow.core.errors import BookIntegrityError, ConfigError, DtypeError, book_error
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags, RejectReason, Side
from orderflow.model.instruments import Instrument

__all__ = ["MAX_LADDER_LEVELS", "START_CAPACITY", "BookIntegrityError", "OrderBook", "OrderView"]

#: Widest price range (ticks, lowest to highest resting price) the dense ladder may span.
MAX_LADDER_LEVELS = 1 << 21
#: order slots a new book starts with
START_CAPACITY = 1 << 10
_LADDER_PAD = 1024
_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1
_REASONS = len(RejectReason)
#: each new book's first change stamp (``K.M_EPOCH``), far apart (2**22 books before one repeats)
_EPOCHS = count()
_EPOCH_STRIDE = 1 << 40
assert K.L_HEAD + 1 == K.L_TAIL == K.LCOLS - 1  # (a level's queue ends are its last fields)

_INTEGRITY_MESSAGES = {
    K.I_LINK: "queue links broken (side {0}, price {1}, slot {2})",
    K.I_ORDER: "order does not belong where it is queued (side {0}, price {1}, slot {2})",
    K.I_LEVEL: "level totals differ from its orders (side {0}, price {1}, counted {2})",
    K.I_NLVL: "count of non-empty levels wrong (side {0}, counted {1})",
    K.I_BEST: "best level index wrong (side {0}, should be {1})",
    K.I_NORD: "order count wrong (counted {0})",
    K.I_HASH: "order-id hash inconsistent (entry/count {0})",
    K.I_FREE: "free-slot list inconsistent ({0})",
}


@dataclass(frozen=True, slots=True)
class OrderView:
    """A read-only copy of one resting order.

    ``queue_position`` is the total size queued ahead of it at its price; ``ts_event`` is the
    time of the event that gave it its current queue priority.
    """

    order_id: int
    side: Side
    price: int
    size: int
    queue_position: int
    ts_event: int


def _to_i64(order_id: int) -> int:
    """A uint64 order id as the int64 bits the kernels store."""
    oid = int(order_id)
    if not 0 <= oid < _U64:
        raise OverflowError(f"order id {order_id} is not a uint64")
    return oid - _U64 if oid > _I64_MAX else oid


def _py_views(st: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    meta = st[: K.META]
    o, n = int(meta[K.M_OOFF]), int(meta[K.M_NSLOT])
    h, hc = int(meta[K.M_HOFF]), int(meta[K.M_HCAP])
    lo, nl = int(meta[K.M_LOFF]), int(meta[K.M_NLEV])
    return (
        meta,
        st[o : o + n * K.OCOLS].reshape(n, K.OCOLS),
        st[h : h + hc * 2],  # flat, as the kernels see it
        st[lo : lo + 2 * nl * K.LCOLS].reshape(nl, 2, K.LCOLS),  # [index, side, field]
    )


def _new_state(nslots: int, nlev: int, base: int, old: np.ndarray | None = None) -> np.ndarray:
    """A buffer of the given size; with ``old``, the same book moved into it. O(size).

    New slots join the free list at its end: it holds the slots freed so far (the latest first)
    and then the never-used ones in ascending order, and stays, slot for slot, the front of the
    list a book started with more slots holds."""
    hcap = 16
    while hcap < 2 * nslots:
        hcap *= 2
    o_off = K.META
    h_off = o_off + nslots * K.OCOLS
    l_off = h_off + hcap * 2
    st = np.zeros(l_off + 2 * nlev * K.LCOLS, dtype=np.int64)
    meta = st[: K.META]
    if old is not None:
        meta[:] = old[: K.META]
    else:
        meta[K.M_BEST : K.M_BEST + 2] = -1
        meta[K.M_FREE] = -1
        meta[K.M_EPOCH] = (next(_EPOCHS) % (1 << 22) + 1) * _EPOCH_STRIDE
    meta[K.M_OOFF], meta[K.M_NSLOT] = o_off, nslots
    meta[K.M_HOFF], meta[K.M_HCAP] = h_off, hcap
    meta[K.M_HSHIFT] = 64 - (hcap.bit_length() - 1)
    meta[K.M_LOFF], meta[K.M_NLEV], meta[K.M_BASE] = l_off, nlev, base
    _, orders, htab, levels = _py_views(st)
    n_old = copy_lo = copy_hi = 0  # (the ladder's rows [copy_lo, copy_hi) come from ``old``)
    if old is not None:
        o_meta, o_orders, o_htab, o_levels = _py_views(old)
        n_old = len(o_orders)
        orders[:n_old] = o_orders
        K.rehash(o_htab, htab, int(meta[K.M_HSHIFT]))
        o_base, o_nlev = int(o_meta[K.M_BASE]), int(o_meta[K.M_NLEV])
        lo, hi = max(o_base, base), min(o_base + o_nlev, base + nlev)
        if hi > lo:
            copy_lo, copy_hi = lo - base, hi - base
            levels[copy_lo:copy_hi] = o_levels[lo - o_base : hi - o_base]
        for sd in (0, 1):
            if meta[K.M_BEST + sd] >= 0:
                meta[K.M_BEST + sd] += o_base - base
    # empty levels' queue ends, the last two fields (the kernels' flat view: 8 * index + 4 *
    # side + field)
    levels[:copy_lo, :, K.L_HEAD :] = -1
    levels[copy_hi:, :, K.L_HEAD :] = -1
    if nslots > n_old:
        new = orders[n_old:]
        new[:, K.O_SIDE] = -1
        new[:, K.O_PREV] = -1
        new[:, K.O_NEXT] = np.arange(n_old + 1, nslots + 1)
        new[-1, K.O_NEXT] = -1
        if meta[K.M_FREE] < 0:
            meta[K.M_FREE] = n_old
        else:  # after the free list's last slot (the one free slot with no next)
            kept = orders[:n_old]
            last = np.flatnonzero((kept[:, K.O_SIDE] == -1) & (kept[:, K.O_NEXT] == -1))
            if len(last) != 1:
                raise BookIntegrityError(f"free-slot list has {len(last)} ends", problem=K.I_FREE)
            kept[last[0], K.O_NEXT] = n_old
    return st


def _pow2(n: int) -> int:
    """The least power of two >= ``n`` (1 for n <= 1)."""
    return 1 << max(int(n) - 1, 0).bit_length()


class OrderBook(PriceEdge):
    """An L3 book of one instrument: every order in FIFO queues at integer-tick prices.

    Complexities: add/cancel/fill/modify O(1) expected (hash lookup, list splice), plus a scan
    over empty ticks when the best level empties; reads of the top O(1); ``depth(n)`` O(n + gap);
    ``levels`` O(ladder width); ``queue_position`` O(orders ahead); ``clear`` O(capacity).
    """

    def __init__(
        self, instrument: Instrument | None = None, capacity: int = START_CAPACITY
    ) -> None:
        if capacity < 1:
            raise ConfigError(f"capacity must be positive, got {capacity}", capacity=capacity)
        self.instrument = instrument
        self._st = _new_state(int(capacity), 0, 0)
        self._bind()

    # ---- state plumbing ----------------------------------------------------------------------
    def _bind(self) -> None:
        st = self._st
        self._meta, self._orders, self._htab, self._levels = _py_views(st)
        self._k_add = partial(K.k_add, st)
        self._k_cancel = partial(K.k_cancel, st)
        self._k_modify = partial(K.k_modify, st)
        self._k_fill = partial(K.k_fill, st)
        self._k_apply = partial(K.k_apply, st)
        self._k_find = partial(K.k_find, st)

    def _grow_slots(self) -> None:
        m = self._meta
        self._st = _new_state(
            2 * int(m[K.M_NSLOT]), int(m[K.M_NLEV]), int(m[K.M_BASE]), old=self._st
        )
        self._bind()

    def _rebase(self, price: int, high: int | None = None, orders: int = 0) -> bool:
        """Re-base/grow the ladder to cover ``price`` (to ``high``) and every non-empty level,
        with room for ``orders`` orders (the slots double until they hold them) in the same
        move; False if the span would pass MAX_LADDER_LEVELS."""
        m, levels = self._meta, self._levels
        base = int(m[K.M_BASE])
        lo, hi = price, price if high is None else high
        occupied = np.flatnonzero(levels[:, :, K.L_COUNT].any(axis=1))
        if len(occupied):
            lo = min(lo, base + int(occupied[0]))
            hi = max(hi, base + int(occupied[-1]))
        width = hi - lo + 1
        if width > MAX_LADDER_LEVELS:
            return False
        pad = min(max(width // 2, _LADDER_PAD), (MAX_LADDER_LEVELS - width) // 2)
        nslots = int(m[K.M_NSLOT])
        if orders > nslots:
            nslots *= _pow2(-(-orders // nslots))
        self._st = _new_state(nslots, width + 2 * pad, lo - pad, old=self._st)
        self._bind()
        return True

    def _orders_after(self, events: np.ndarray) -> int:
        """About how many orders the book holds after ``events``: those resting now, plus the
        batch's adds, less its cancels (a partial cancel counted as whole). The re-base a batch
        starts with makes room for them, so the batch seldom stops to grow; a guess either way
        changes no result."""
        action = events["action"]
        adds = int(np.count_nonzero(action == Action.ADD))
        return len(self) + adds - int(np.count_nonzero(action == Action.CANCEL))

    def _cover(self, events: np.ndarray) -> None:
        """Size the ladder once for a batch's price range, so the kernel need not stop to grow
        it record by record (a fresh book replaying ESH4 would otherwise re-base several times),
        and the slots for its orders (:meth:`_orders_after`) in the same move. A range too wide
        to hold is left to the kernel, which refuses the outliers."""
        action = events["action"]
        prices = events["price"][(action == Action.ADD) | (action == Action.MODIFY)]
        if len(prices) == 0:
            return
        lo, hi = int(prices.min()), int(prices.max())
        base, nlev = int(self._meta[K.M_BASE]), int(self._meta[K.M_NLEV])
        if nlev == 0 or lo < base or hi >= base + nlev:
            self._rebase(lo, hi, self._orders_after(events))

    def _fail(self, rc: int, op: str, order_id: int, retry: Any, args: tuple[Any, ...]) -> Any:
        """Grow and retry on a NEED_* code; raise the typed error of a reject."""
        if rc == K.NEED_SLOTS:
            self._grow_slots()
            return retry(*args)
        if rc == K.NEED_LADDER:
            if self._rebase(int(self._meta[K.M_NEED_PRICE])):
                return retry(*args)
            rc = K.R_CAPACITY
            self._meta[K.M_REJ + rc] += 1
        reason = RejectReason(rc).name.lower()
        raise book_error(
            rc, f"{op} of order {order_id} rejected: {reason}", order_id=order_id, op=op
        )

    def _count_reject(self, reason: int) -> None:
        self._meta[K.M_REJ + int(reason)] += 1

    # ---- updates -----------------------------------------------------------------------------
    def add(
        self, order_id: int, side: int, price: int, size: int, ts_event: int = 0, sequence: int = 0
    ) -> None:
        """Add a new order at the back of the queue at ``price`` (ticks). O(1) expected."""
        try:
            rc = self._k_add(order_id, int(side), price, size, ts_event, sequence)
        except OverflowError:
            rc = self._k_add(_to_i64(order_id), int(side), price, size, ts_event, sequence)
        if rc:
            args = (order_id, side, price, size, ts_event, sequence)
            self._fail(rc, "add", order_id, self.add, args)

    def cancel(
        self, order_id: int, size: int | None = None, ts_event: int = 0, sequence: int = 0
    ) -> None:
        """Remove ``size`` from the order (None: all of it). A partial cancel keeps priority;
        more than the order holds is refused (InvalidSizeError). O(1) expected."""
        amount = K.CANCEL_ALL if size is None else size
        try:
            rc = self._k_cancel(order_id, amount, ts_event, sequence)
        except OverflowError:
            rc = self._k_cancel(_to_i64(order_id), amount, ts_event, sequence)
        if rc:
            self._fail(rc, "cancel", order_id, self.cancel, (order_id, size, ts_event, sequence))

    def modify(
        self, order_id: int, price: int, size: int, ts_event: int = 0, sequence: int = 0
    ) -> None:
        """New price and size. A price change or a size increase sends the order to the back
        of the queue at the new price; a size decrease keeps its place; size 0 removes it.
        O(1) expected."""
        try:
            rc = self._k_modify(order_id, price, size, ts_event, sequence)
        except OverflowError:
            rc = self._k_modify(_to_i64(order_id), price, size, ts_event, sequence)
        if rc:
            args = (order_id, price, size, ts_event, sequence)
            self._fail(rc, "modify", order_id, self.modify, args)

    def fill(self, order_id: int, size: int, ts_event: int = 0, sequence: int = 0) -> None:
        """The resting order traded ``size``: reduced like a partial cancel (removed at 0) and
        counted in :attr:`traded_volume`. O(1) expected."""
        try:
            rc = self._k_fill(order_id, size, ts_event, sequence)
        except OverflowError:
            rc = self._k_fill(_to_i64(order_id), size, ts_event, sequence)
        if rc:
            self._fail(rc, "fill", order_id, self.fill, (order_id, size, ts_event, sequence))

    def apply(
        self,
        action: int,
        side: int,
        price: int,
        size: int,
        order_id: int,
        flags: int = 0,
        ts_event: int = 0,
        ts_recv: int = 0,
        sequence: int = 0,
    ) -> None:
        """One MBO record, with exactly the meaning :meth:`apply_mbo` gives it. O(1) expected
        (a snapshot's first record clears the book: O(capacity))."""
        act, sd, fl = int(action), int(side), int(flags)
        try:
            rc = self._k_apply(act, sd, price, size, order_id, fl, ts_event, ts_recv, sequence)
        except OverflowError:
            oid = _to_i64(order_id)
            rc = self._k_apply(act, sd, price, size, oid, fl, ts_event, ts_recv, sequence)
        if rc:
            args = (action, side, price, size, order_id, flags, ts_event, ts_recv, sequence)
            self._fail(rc, "apply", order_id, self.apply, args)

    def take_state(self, other: OrderBook) -> None:
        """Become a copy of ``other``: its orders, queues, levels and counters, with change
        stamps of this book's own. O(other's capacity)."""
        st = self._st
        if st.shape == other._st.shape:  # (into the buffer it has: no fresh pages)
            np.copyto(st, other._st)
        else:
            self._st = st = other._st.copy()
            self._bind()
        st[K.M_EPOCH] = (next(_EPOCHS) % (1 << 22) + 1) * _EPOCH_STRIDE

    def clear(self) -> None:
        """Remove every order (counters and last_* stay). O(capacity)."""
        K.k_clear(self._st)

    def apply_mbo(self, events: np.ndarray, record_depth: int = 0,
                  cover: bool = True) -> BatchResult:  # fmt: skip
        """Replay MBO records (:data:`MBO_DTYPE`) with Databento's semantics; O(len(events)).

        A add, C cancel (size removed), M modify, R clear; T and F leave the book alone (F counts
        traded volume). A SNAPSHOT record after live records (or first) clears the book and
        the snapshot rebuilds it. Each LAST record outside a snapshot is an event boundary;
        with ``record_depth`` N the top N levels are recorded there. Bad records are dropped
        and counted; the batch goes on.

        ``cover=False``: no :meth:`_cover` pass first (the ladder grows only when a record
        needs it, as the kernel stops for it): for a book that already spans its market's
        prices, fed small batches, where that pass would cost more than it saves. The same
        book either way.
        """
        if events.dtype != MBO_DTYPE:
            raise DtypeError(f"apply_mbo needs MBO_DTYPE records, got {events.dtype}")
        flags = events["flags"]
        cols = (
            events["ts_event"],
            events["ts_recv"],
            events["sequence"],
            events["order_id"].view(np.int64),
            events["price"],
            events["size"],
            events["action"],
            events["side"],
            flags,
        )
        n_depth = int(record_depth)
        n_bounds = 0
        if n_depth > 0:
            n_bounds = int(np.count_nonzero((flags & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST))
        d_index = np.zeros(n_bounds, dtype=np.int64)
        d_ts = np.zeros(n_bounds, dtype=np.int64)
        d_levels = np.zeros((6, n_bounds, max(n_depth, 0)), dtype=np.int64)
        bstate = np.zeros(K.B_SIZE, dtype=np.int64)
        bstate[K.B_FIRST_REJ] = -1
        if cover:
            self._cover(events)
        force = 0
        while True:
            rc = K.k_batch(self._st, *cols, force, bstate, n_depth, d_index, d_ts, d_levels)
            force = 0
            if rc == K.OK:
                break
            if rc == K.NEED_SLOTS:
                self._grow_slots()
            elif not self._rebase(int(self._meta[K.M_NEED_PRICE])):
                force = K.R_CAPACITY
        depth = None
        if n_depth > 0:
            b = int(bstate[K.B_BOUNDS])
            depth = DepthRecord(d_index[:b], d_ts[:b], *(d_levels[k, :b] for k in range(6)))
        return BatchResult(
            applied=int(bstate[K.B_APPLIED]),
            rejected=reject_counts(bstate[K.B_REJ : K.B_REJ + _REASONS]),
            boundaries=int(bstate[K.B_BOUNDS]),
            crossed_boundaries=int(bstate[K.B_CROSSED]),
            locked_boundaries=int(bstate[K.B_LOCKED]),
            first_reject_index=int(bstate[K.B_FIRST_REJ]),
            depth=depth,
        )

    # ---- reads -------------------------------------------------------------------------------
    def _best(self, sd: int) -> tuple[int, int, int] | None:
        m = self._meta
        i = int(m[K.M_BEST + sd])
        if i < 0:
            return None
        lv = self._levels[i, sd]
        return int(m[K.M_BASE]) + i, int(lv[K.L_SIZE]), int(lv[K.L_COUNT])

    def best_bid(self) -> tuple[int, int, int] | None:
        """(price, size, order count) of the best bid, or None. O(1)."""
        return self._best(0)

    def best_ask(self) -> tuple[int, int, int] | None:
        """(price, size, order count) of the best ask, or None. O(1)."""
        return self._best(1)

    def top(self) -> TopOfBook:
        """Best bid and ask. O(1)."""
        b, a = self._best(0), self._best(1)
        return TopOfBook(
            b[0] if b else None,
            b[1] if b else 0,
            a[0] if a else None,
            a[1] if a else 0,
            b[2] if b else 0,
            a[2] if a else 0,
        )

    def depth(self, n: int = 10) -> dict[str, np.ndarray]:
        """Top ``n`` levels per side, best first; empty rows price NO_PRICE, size 0. O(n + gaps)."""
        out = np.empty((6, 1, max(int(n), 0)), dtype=np.int64)
        K.k_depth(self._st, int(n), out)
        keys = ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size", "ask_count")
        return {k: out[i, 0] for i, k in enumerate(keys)}

    def levels(self, side: int) -> np.ndarray:
        """Every non-empty level of ``side`` as rows (price, size, count), best first.
        O(ladder width), vectorised."""
        sd = int(side)
        if sd not in (0, 1):
            raise book_error(K.R_SIDE, f"levels of bad side {side}", side=side)
        lv = self._levels[:, sd]
        idx = np.flatnonzero(lv[:, K.L_COUNT])
        if sd == 0:
            idx = idx[::-1]
        out = np.empty((len(idx), 3), dtype=np.int64)
        out[:, 0] = idx + self._meta[K.M_BASE]
        out[:, 1] = lv[idx, K.L_SIZE]
        out[:, 2] = lv[idx, K.L_COUNT]
        return out

    def _slot(self, order_id: int) -> int:
        try:
            return int(self._k_find(order_id))
        except OverflowError:
            return int(self._k_find(_to_i64(order_id)))

    def order(self, order_id: int) -> OrderView | None:
        """The order as a read-only view, or None. O(1) + O(orders ahead) for its position."""
        slot = self._slot(order_id)
        if slot < 0:
            return None
        row = self._orders[slot]
        return OrderView(
            int(order_id),
            Side(int(row[K.O_SIDE])),
            int(row[K.O_PRICE]),
            int(row[K.O_SIZE]),
            int(K.k_size_ahead(self._st, slot)),
            int(row[K.O_TS]),
        )

    def queue_position(self, order_id: int) -> int | None:
        """Size queued ahead of the order at its price, or None if unknown. O(orders ahead)."""
        slot = self._slot(order_id)
        return None if slot < 0 else int(K.k_size_ahead(self._st, slot))

    def level_orders(self, side: int, price: int) -> np.ndarray:
        """Order ids (uint64) resting at ``price`` on ``side``, front of the queue first."""
        sd, idx = int(side), int(price) - int(self._meta[K.M_BASE])
        if sd not in (0, 1) or not 0 <= idx < len(self._levels):
            return np.empty(0, dtype=np.uint64)
        out = np.empty(int(self._levels[idx, sd, K.L_COUNT]), dtype=np.int64)
        K.k_level_orders(self._st, sd, idx, out)
        return out.view(np.uint64)

    def level_queue(self, side: int, price: int) -> dict[int, int]:
        """The orders resting at ``price`` on ``side``, front of the queue first, as
        ``{order_id: size}`` (ids as :meth:`level_orders` gives them, unsigned). O(orders at
        the level), one walk: no view, no queue position per order."""
        sd, idx = int(side), int(price) - int(self._meta[K.M_BASE])
        out: dict[int, int] = {}
        if sd not in (0, 1) or not 0 <= idx < len(self._levels):
            return out
        orders = self._orders
        s = int(self._levels.item(idx, sd, K.L_HEAD))
        while s >= 0:
            out[orders.item(s, K.O_ID) % _U64] = orders.item(s, K.O_SIZE)
            s = orders.item(s, K.O_NEXT)
        return out

    def __len__(self) -> int:
        """Number of resting orders. O(1)."""
        return int(self._meta[K.M_NORD])

    def __contains__(self, order_id: object) -> bool:
        return isinstance(order_id, int | np.integer) and self._slot(int(order_id)) >= 0

    @property
    def crossed(self) -> bool:
        """Best bid above best ask (normal in a pre-open)."""
        bb, ba = int(self._meta[K.M_BEST]), int(self._meta[K.M_BEST + 1])
        return bb >= 0 and ba >= 0 and bb > ba

    @property
    def locked(self) -> bool:
        """Best bid equal to best ask."""
        bb, ba = int(self._meta[K.M_BEST]), int(self._meta[K.M_BEST + 1])
        return bb >= 0 and bb == ba

    @property
    def rejected(self) -> dict[str, int]:
        """Refused updates so far, by reason (per-event and batch alike)."""
        return reject_counts(self._meta[K.M_REJ : K.M_REJ + _REASONS])

    @property
    def traded_volume(self) -> int:
        """Size filled on resting orders: :meth:`fill` calls and F records."""
        return int(self._meta[K.M_TRADED])

    @property
    def last_sequence(self) -> int:
        return int(self._meta[K.M_LAST_SEQ])

    @property
    def last_ts_event(self) -> int:
        return int(self._meta[K.M_LAST_TS_EVENT])

    @property
    def last_ts_recv(self) -> int:
        return int(self._meta[K.M_LAST_TS_RECV])

    @property
    def capacity(self) -> int:
        """Order slots currently allocated (grows on demand)."""
        return int(self._meta[K.M_NSLOT])

    def check_integrity(self) -> None:
        """Check every invariant (links, level totals, hash, free list, best indices, counts);
        raise :class:`BookIntegrityError` naming the first broken one. O(capacity + width)."""
        detail = np.zeros(4, dtype=np.int64)
        code = int(K.k_check(self._st, detail))
        if code != K.I_OK:
            msg = _INTEGRITY_MESSAGES[code].format(*detail.tolist())
            raise BookIntegrityError(msg, problem=code, detail=detail.tolist())

    def __repr__(self) -> str:
        t = self.top()
        bid, ask = f"{t.bid_price}x{t.bid_size}", f"{t.ask_price}x{t.ask_size}"
        return f"OrderBook(orders={len(self)}, bid={bid}, ask={ask})"
