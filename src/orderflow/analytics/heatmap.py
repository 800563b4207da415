"""The liquidity heatmap's columns: the largest resting size at each price in each bucket of
data time, over a window of prices around the mid.

A column covers ``[ts, ts + bucket_ns)`` of event time and the prices ``p0 .. p0 + width - 1``
(ticks), where ``p0 = mid - half_width`` and ``mid = (best bid + best ask) // 2`` at the
bucket's first book state (one side only: that side's best price).

Two ways to feed it:

* :meth:`HeatColumns.apply_depth`, exact per bucket, for NinjaTrader depth (NT_DEPTH_DTYPE):
  each event carries its level's new size, so a column is the largest of the sizes resting at
  each price at the bucket's start and every new size set there inside the bucket. The kernel
  walks the batch's events once against a shadow of the position-indexed ladder (the same
  Add/Update/Remove rules and refusals as :mod:`orderflow.book.ladder`), closes a column at
  each bucket boundary and fills the buckets without an event with the state they carried (at
  most ``capacity`` of them per gap: the ring keeps no more). After the batch the shadow is set
  to the book's own rows, so it can never drift from the book for longer than one batch.
* :meth:`HeatColumns.update`, sampled, for any other book: each book state fed during the
  bucket raises a price's size to the largest seen there; an empty bucket makes no column.

Either way a step costs O(events + rows) in one jitted kernel, plus O(width) per closed column,
whatever the history; closed columns are kept in a bounded ring (the oldest dropped first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from orderflow.core.errors import ParameterError
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Flags, NtOperation

__all__ = ["HeatColumn", "HeatColumns"]

_NO_PRICE = int(NO_PRICE)
_I32_MAX = int(np.iinfo(np.int32).max)
_ADD, _UPDATE, _REMOVE = int(NtOperation.ADD), int(NtOperation.UPDATE), int(NtOperation.REMOVE)
_RESET = int(Flags.RESET)
#: rows per side the shadow ladder holds (a NinjaTrader ladder has ten; deeper rows drop off)
SHADOW_ROWS = 2048
#: a ring of columns up to this size is allocated whole at the start (an hour of 250 ms
#: columns 401 prices wide is 23 MB); a larger one grows as columns come
RING_AT_ONCE_BYTES = 64 << 20
# the state array: bucket start (-1: none yet), p0 (NO_PRICE: no book yet), bid, ask, last
_TS, _P0, _BID, _ASK, _LAST = range(5)


@njit(cache=True)
def _raise_sizes(sizes, p0, bid_p, bid_s, ask_p, ask_s):  # type: ignore[no-untyped-def]
    w = len(sizes)
    for i in range(len(bid_p)):
        j = bid_p[i] - p0
        if 0 <= j < w and bid_s[i] > sizes[j]:
            sizes[j] = bid_s[i]
    for i in range(len(ask_p)):
        j = ask_p[i] - p0
        if 0 <= j < w and ask_s[i] > sizes[j]:
            sizes[j] = ask_s[i]


@njit(cache=True)
def _raise_ladder(sizes, p0, lp, ls, cnt):  # type: ignore[no-untyped-def]
    w = len(sizes)
    for s in range(2):
        for i in range(cnt[s]):
            j = lp[s, i] - p0
            if 0 <= j < w and ls[s, i] > sizes[j]:
                sizes[j] = ls[s, i]


@njit(cache=True)
def _mid(lp, cnt):  # type: ignore[no-untyped-def]
    if cnt[0] > 0 and cnt[1] > 0:
        return (lp[0, 0] + lp[1, 0]) // 2
    if cnt[0] > 0:
        return lp[0, 0]
    if cnt[1] > 0:
        return lp[1, 0]
    return _NO_PRICE


@njit(cache=True)
def _fits(lp, side, price, prev, nxt, cnt):  # type: ignore[no-untyped-def]
    if side == 0:
        if prev >= 0 and not lp[0, prev] > price:
            return False
        if nxt < cnt and not price > lp[0, nxt]:
            return False
    else:
        if prev >= 0 and not lp[1, prev] < price:
            return False
        if nxt < cnt and not price < lp[1, nxt]:
            return False
    return True


@njit(cache=True)
def _ladder_apply(lp, ls, cnt, side, op, pos, price, vol):  # type: ignore[no-untyped-def]
    """One OnMarketDepth event on the shadow ladder, by book.ladder's rules; True: applied."""
    if side != 0 and side != 1:
        return False
    c = cnt[side]
    if op == _REMOVE:
        if pos < 0 or pos >= c:
            return False
        for j in range(pos, c - 1):
            lp[side, j] = lp[side, j + 1]
            ls[side, j] = ls[side, j + 1]
        cnt[side] = c - 1
        return True
    if op != _ADD and op != _UPDATE:
        return False
    if vol < 0 or pos < 0 or pos > c:
        return False
    if op == _UPDATE and pos < c:
        if not _fits(lp, side, price, pos - 1, pos + 1, c):
            return False
    else:
        if not _fits(lp, side, price, pos - 1, pos, c):
            return False
        if c == lp.shape[1]:  # full: the deepest row drops off
            c -= 1
            if pos > c:
                return False
        for j in range(c, pos, -1):
            lp[side, j] = lp[side, j - 1]
            ls[side, j] = ls[side, j - 1]
        cnt[side] = c + 1
    lp[side, pos] = price
    ls[side, pos] = vol
    return True


@njit(cache=True)
def _emit(cur, st, ts, out_ts, out_meta, out_sizes, n_out):  # type: ignore[no-untyped-def]
    k = n_out % len(out_ts)
    out_ts[k] = ts
    out_meta[k, 0] = st[_P0]
    out_meta[k, 1] = st[_BID]
    out_meta[k, 2] = st[_ASK]
    out_meta[k, 3] = st[_LAST]
    for j in range(len(cur)):
        out_sizes[k, j] = min(cur[j], _I32_MAX)
    return n_out + 1


@njit(cache=True)
def _tops(lp, cnt, st):  # type: ignore[no-untyped-def]
    st[_BID] = lp[0, 0] if cnt[0] > 0 else _NO_PRICE
    st[_ASK] = lp[1, 0] if cnt[1] > 0 else _NO_PRICE


@njit(cache=True)
def _heat_events(  # type: ignore[no-untyped-def]
    bucket, half, ts, side, op, pos, price, size, flags, tts, tpx,
    lp, ls, cnt, cur, st, out_ts, out_meta, out_sizes,
):  # fmt: skip
    """A batch of NT depth events (with its prints' times and prices) into the columns: see
    the module. Returns the columns closed (written round ``out_*``, which hold the last
    ``len(out_ts)``). O(events + prints + width x columns closed)."""
    m = len(out_ts)
    n_out = 0
    j = 0
    nt = len(tts)
    for i in range(len(ts)):
        b = ts[i] - ts[i] % bucket
        if b > st[_TS]:
            if st[_TS] >= 0:
                end = st[_TS] + bucket
                while j < nt and tts[j] < end:
                    st[_LAST] = tpx[j]
                    j += 1
                _tops(lp, cnt, st)
                if st[_P0] != _NO_PRICE:
                    n_out = _emit(cur, st, st[_TS], out_ts, out_meta, out_sizes, n_out)
                gap = (b - end) // bucket
                g0 = end if gap <= m else b - m * bucket
                mid = _mid(lp, cnt)
                for gb in range(g0, b, bucket):  # no event: the state they carried
                    while j < nt and tts[j] < gb + bucket:
                        st[_LAST] = tpx[j]
                        j += 1
                    if mid == _NO_PRICE:
                        continue
                    cur[:] = 0
                    st[_P0] = mid - half
                    _raise_ladder(cur, st[_P0], lp, ls, cnt)
                    n_out = _emit(cur, st, gb, out_ts, out_meta, out_sizes, n_out)
            st[_TS] = b
            cur[:] = 0
            mid = _mid(lp, cnt)
            st[_P0] = mid - half if mid != _NO_PRICE else _NO_PRICE
            if mid != _NO_PRICE:
                _raise_ladder(cur, st[_P0], lp, ls, cnt)
        s = side[i]
        if flags[i] & _RESET:
            if s == 0 or s == 1:
                cnt[s] = 0
            continue
        if _ladder_apply(lp, ls, cnt, s, op[i], pos[i], price[i], size[i]) and op[i] != _REMOVE:
            if st[_P0] == _NO_PRICE:
                st[_P0] = _mid(lp, cnt) - half
                _raise_ladder(cur, st[_P0], lp, ls, cnt)
            else:
                k = price[i] - st[_P0]
                if 0 <= k < len(cur) and size[i] > cur[k]:
                    cur[k] = size[i]
    while j < nt:
        st[_LAST] = tpx[j]
        j += 1
    return n_out


@njit(cache=True)
def _set_side(lp, ls, cnt, s, p, q):  # type: ignore[no-untyped-def]
    n = min(len(p), lp.shape[1])
    differed = n != cnt[s]
    for i in range(n):
        if lp[s, i] != p[i] or ls[s, i] != q[i]:
            differed = True
        lp[s, i] = p[i]
        ls[s, i] = q[i]
    cnt[s] = n
    return differed


@njit(cache=True)
def _resync(lp, ls, cnt, bid_p, bid_s, ask_p, ask_s):  # type: ignore[no-untyped-def]
    """The shadow set to the book's rows; returns whether it differed from them."""
    a = _set_side(lp, ls, cnt, 0, bid_p, bid_s)
    b = _set_side(lp, ls, cnt, 1, ask_p, ask_s)
    return a or b


@njit(cache=True)
def _span(bucket, capacity, ts, st):  # type: ignore[no-untyped-def]
    """How many columns a batch of events at times ``ts`` (non-empty) may close, the current
    column's first: the buckets from the earlier of the current one and the first event's to
    the last event's, at most ``len(ts) + capacity`` (no more can be kept), at least one."""
    t0 = ts[0]
    first = t0 - t0 % bucket
    start = st[_TS] if st[_TS] >= 0 else first
    top = t0
    for k in range(1, len(ts)):
        if ts[k] > top:
            top = ts[k]
    spanned = (top - top % bucket - min(start, first)) // bucket + 1
    return max(1, min(spanned, len(ts) + capacity))


@njit(cache=True)
def _heat_batch(  # type: ignore[no-untyped-def]
    bucket, half, capacity, closed, depth, prints, ring_ts, ring_meta, ring_sizes,
    lp, ls, cnt, cur, st, bid_p, bid_s, ask_p, ask_s,
):  # fmt: skip
    """:meth:`HeatColumns.apply_batch`'s one call: a batch of NT depth records and its print
    records into the ring's own rows, then the shadow set to the book's rows, as
    :meth:`HeatColumns.apply_depth` and :meth:`HeatColumns.resync` do them. Returns ``(n,
    differed)``: ``n`` columns closed from the ring's write position on, and whether the
    shadow differed from the rows; ``n < 0``: the batch's columns may not fit before the
    ring's end (nothing touched). (Written in place, the columns never go round: that needs
    more of them than ``len(ts) + capacity``, which never fit.)"""
    ts = depth["ts_event"]  # (fields by name: an array's own attributes come first)
    m = _span(bucket, capacity, ts, st)
    i = closed % capacity
    if len(ring_ts) != capacity or i + m > capacity:
        return -1, False
    n = _heat_events(
        bucket, half, ts, depth["side"], depth["operation"], depth["position"], depth["price"],
        depth["size"], depth["flags"], prints["ts_event"], prints["price"], lp, ls, cnt, cur, st,
        ring_ts[i : i + m], ring_meta[i : i + m], ring_sizes[i : i + m],
    )  # fmt: skip
    differed = _resync(lp, ls, cnt, bid_p, bid_s, ask_p, ask_s)
    if st[_TS] >= 0:
        if st[_P0] == _NO_PRICE:
            mid = _mid(lp, cnt)
            if mid == _NO_PRICE:
                return n, differed
            st[_P0] = mid - half
        _raise_ladder(cur, st[_P0], lp, ls, cnt)
        _tops(lp, cnt, st)
    return n, differed


@dataclass(frozen=True, slots=True)
class HeatColumn:
    """One closed column: bucket start (ns), lowest price (ticks), sizes from ``p0`` up, and
    best bid, best ask and last price (ticks; NO_PRICE: none) at the bucket's end."""

    ts: int
    p0: int
    sizes: np.ndarray
    bid: int
    ask: int
    last: int


class HeatColumns:
    """Columns of one instrument (see the module). ``capacity``: closed columns kept."""

    def __init__(self, bucket_ns: int, half_width: int, capacity: int) -> None:
        if bucket_ns <= 0 or half_width < 1 or capacity < 1:
            raise ParameterError("heat columns need bucket_ns > 0, half_width >= 1, capacity >= 1")
        self.bucket_ns = int(bucket_ns)
        self.half_width = int(half_width)
        self.width = 2 * int(half_width) + 1
        self.capacity = int(capacity)
        #: columns closed so far (the ring holds the last ``capacity`` of them)
        self.closed = 0
        #: batches after which the shadow ladder differed from the book's rows (and was set)
        self.resynced = 0
        # a ring of up to RING_AT_ONCE_BYTES at its full size from the start (zeroed memory
        # is mapped only as columns are written; growing copied the whole ring each time, ms
        # at an hour of columns); a larger one grows as columns come
        start = self.capacity if self.capacity * self.width * 4 <= RING_AT_ONCE_BYTES else 0
        self._ts = np.zeros(start, dtype=np.int64)
        self._meta = np.zeros((start, 4), dtype=np.int64)  # p0, bid, ask, last
        self._sizes = np.zeros((start, self.width), dtype=np.int32)
        self._cur = np.zeros(self.width, dtype=np.int64)
        self._st = np.array([-1, _NO_PRICE, _NO_PRICE, _NO_PRICE, _NO_PRICE], dtype=np.int64)
        self._lp = np.zeros((2, SHADOW_ROWS), dtype=np.int64)
        self._ls = np.zeros((2, SHADOW_ROWS), dtype=np.int64)
        self._cnt = np.zeros(2, dtype=np.int64)
        #: the shadow ladder is the book's state (a new one is empty, as a new book is; False
        #: after a stale book until :meth:`resync`)
        self.synced = True

    # -- feeding ---------------------------------------------------------------------------

    def update(
        self,
        ts: int,
        bid_p: np.ndarray,
        bid_s: np.ndarray,
        ask_p: np.ndarray,
        ask_s: np.ndarray,
        last: int = _NO_PRICE,
    ) -> None:
        """The book at event time ``ts``: its rows per side (ticks, sizes; best first). A book
        with neither side changes nothing. O(rows), plus O(width) when a column closes."""
        bid = int(bid_p[0]) if len(bid_p) else _NO_PRICE
        ask = int(ask_p[0]) if len(ask_p) else _NO_PRICE
        if bid == _NO_PRICE and ask == _NO_PRICE:
            return
        st = self._st
        bucket = ts - ts % self.bucket_ns
        if bucket > st[_TS] or st[_P0] == _NO_PRICE:
            if bucket > st[_TS]:
                if st[_P0] != _NO_PRICE:
                    self._close()
                st[_TS] = bucket
                self._cur[:] = 0
            # time going back (a replay restarted) keeps the column
            mid = (bid + ask) // 2 if bid != _NO_PRICE and ask != _NO_PRICE else max(bid, ask)
            st[_P0] = mid - self.half_width
        _raise_sizes(self._cur, int(st[_P0]), bid_p, bid_s, ask_p, ask_s)
        st[_BID], st[_ASK] = bid, ask
        if last != _NO_PRICE:
            st[_LAST] = last

    def apply_depth(
        self,
        depth: np.ndarray,
        trade_ts: np.ndarray,
        trade_px: np.ndarray,
        rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """A batch of NT depth events (NT_DEPTH_DTYPE, in time order) and its prints' times
        and prices, then the book's rows after it (bid prices, sizes, ask prices, sizes): exact
        columns (see the module). Needs :attr:`synced` (else it is :meth:`update` at the last
        event's time). O(events + prints + rows + width x columns closed)."""
        ts = depth["ts_event"]
        if not self.synced or not len(ts):
            if len(ts):
                self.update(int(ts[-1]), *rows, int(trade_px[-1]) if len(trade_px) else _NO_PRICE)
            self.resync(rows)
            return
        b = self.bucket_ns
        m = int(_span(b, self.capacity, ts, self._st))
        i = self.closed % self.capacity
        direct = len(self._ts) == self.capacity and i + m <= self.capacity
        if direct:  # the columns written straight into the ring (no copy)
            out_ts, out_meta = self._ts[i : i + m], self._meta[i : i + m]
            out_sizes = self._sizes[i : i + m]
        else:
            out_ts = np.empty(m, dtype=np.int64)
            out_meta = np.empty((m, 4), dtype=np.int64)
            out_sizes = np.empty((m, self.width), dtype=np.int32)
        n = _heat_events(
            b, self.half_width, ts, depth["side"].astype(np.int64), depth["operation"],
            depth["position"], depth["price"], depth["size"], depth["flags"], trade_ts,
            trade_px, self._lp, self._ls, self._cnt, self._cur, self._st, out_ts, out_meta,
            out_sizes,
        )  # fmt: skip
        if direct and n <= m:
            self.closed += n
        elif n > m:  # the out buffers went round: the last m, oldest first
            order = np.arange(n - m, n) % m
            self._push(out_ts[order], out_meta[order], out_sizes[order])
        elif n:
            self._push(out_ts[:n], out_meta[:n], out_sizes[:n])
        self.resync(rows)

    def apply_batch(
        self,
        depth: np.ndarray,
        prints: np.ndarray,
        rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """:meth:`apply_depth` with the prints as their records (TRADE_DTYPE): the same
        columns, in one compiled call when the batch's columns are written straight into the
        ring (contiguous, aligned NT depth records: numba reads no unaligned array; a ring at
        its full size, room before its end), else :meth:`apply_depth` itself."""
        df, pf = depth.flags, prints.flags
        if (
            self.synced
            and len(depth)
            and df.c_contiguous
            and df.aligned
            and pf.c_contiguous
            and pf.aligned
            and len(self._ts) == self.capacity
        ):
            n, differed = _heat_batch(
                self.bucket_ns, self.half_width, self.capacity, self.closed, depth, prints,
                self._ts, self._meta, self._sizes, self._lp, self._ls, self._cnt, self._cur,
                self._st, *rows,
            )  # fmt: skip
            if n >= 0:
                self.closed += n
                if differed:  # (synced: a difference is a resync)
                    self.resynced += 1
                return
        self.apply_depth(depth, prints["ts_event"], prints["price"], rows)

    def resync(self, rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        """The shadow ladder set to the book's rows (a state of the current bucket, so it
        raises the current column too). O(rows)."""
        if _resync(self._lp, self._ls, self._cnt, *rows) and self.synced:
            self.resynced += 1
        self.synced = True
        st = self._st
        if st[_TS] < 0:
            return
        if st[_P0] == _NO_PRICE:
            mid = _mid(self._lp, self._cnt)
            if mid == _NO_PRICE:
                return
            st[_P0] = mid - self.half_width
        _raise_ladder(self._cur, int(st[_P0]), self._lp, self._ls, self._cnt)
        _tops(self._lp, self._cnt, st)

    def unsync(self) -> None:
        """The book cannot be trusted (stale): the next batch starts from its rows again."""
        self.synced = False

    def _close(self) -> None:
        st = self._st
        self._push(np.array([st[_TS]], dtype=np.int64), st[None, 1:5].copy(),
                   np.minimum(self._cur, _I32_MAX).astype(np.int32)[None, :])  # fmt: skip
        self._cur[:] = 0

    def _push(self, ts: np.ndarray, meta: np.ndarray, sizes: np.ndarray) -> None:
        """Closed columns, oldest first, into the ring. O(columns x width)."""
        n = len(ts)
        if n > self.capacity:
            self.closed += n - self.capacity
            ts, meta, sizes = ts[-self.capacity :], meta[-self.capacity :], sizes[-self.capacity :]
            n = self.capacity
        need = min(self.capacity, self.closed + n)
        if need > len(self._ts):  # grow (doubling) up to the capacity
            size = min(self.capacity, max(64, 2 * len(self._ts), need))
            self._ts = np.resize(self._ts, size)
            self._meta = np.resize(self._meta, (size, 4))
            grown = np.zeros((size, self.width), dtype=np.int32)
            grown[: len(self._sizes)] = self._sizes
            self._sizes = grown
        i = self.closed % self.capacity
        k = min(n, self.capacity - i)  # up to the ring's end, then from its start
        self._ts[i : i + k], self._meta[i : i + k], self._sizes[i : i + k] = (
            ts[:k],
            meta[:k],
            sizes[:k],
        )
        if n > k:
            self._ts[: n - k], self._meta[: n - k], self._sizes[: n - k] = (
                ts[k:],
                meta[k:],
                sizes[k:],
            )
        self.closed += n

    # -- reading ---------------------------------------------------------------------------

    @property
    def kept(self) -> int:
        """Closed columns still in the ring."""
        return min(self.closed, self.capacity)

    def column(self, k: int) -> HeatColumn:
        """Closed column number ``k`` (0 = the first ever; it must still be kept). O(width)."""
        if not self.closed - self.kept <= k < self.closed:
            raise IndexError(k)
        i = k % self.capacity
        p0, bid, ask, last = (int(x) for x in self._meta[i])
        return HeatColumn(int(self._ts[i]), p0, self._sizes[i].copy(), bid, ask, last)

    def since(self, k: int, limit: int) -> list[HeatColumn]:
        """Closed columns from number ``k`` on (at most ``limit``, the latest ones)."""
        lo = max(k, self.closed - self.kept, self.closed - limit)
        return [self.column(j) for j in range(lo, self.closed)]

    def block(self, k: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`since` as arrays, oldest first: bucket starts (n,), meta (n, 4: p0, bid, ask,
        last) and sizes (n, width), copied out of the ring in at most two slices."""
        return self._rows(max(k, self.closed - self.kept, self.closed - limit), self.closed)

    def _rows(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kept closed columns number ``lo`` to ``hi`` (excluded) as arrays."""
        n, cap = hi - lo, self.capacity
        a = lo % cap
        idx = np.arange(a, a + n) % cap if a + n > cap else slice(a, a + n)
        return self._ts[idx].copy(), self._meta[idx].copy(), self._sizes[idx].copy()

    def _span(self, from_ts: int, to_ts: int, limit: int) -> range:
        """Numbers of the kept closed columns with ``from_ts <= ts <= to_ts``, at most
        ``limit`` (the latest ones)."""
        first, n = self.closed - self.kept, self.kept
        start = first % self.capacity if n == self.capacity else 0
        ts = np.concatenate([self._ts[start:n], self._ts[:start]]) if start else self._ts[:n]
        a = int(np.searchsorted(ts, from_ts, side="left"))
        b = int(np.searchsorted(ts, to_ts, side="right"))
        return range(first + max(a, b - limit), first + b)

    def between(self, from_ts: int, to_ts: int, limit: int) -> list[HeatColumn]:
        """Kept closed columns with ``from_ts <= ts <= to_ts``, oldest first; at most
        ``limit`` (the latest ones). O(log kept + limit x width)."""
        return [self.column(k) for k in self._span(from_ts, to_ts, limit)]

    def block_between(
        self, from_ts: int, to_ts: int, limit: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`between` as arrays, as :meth:`block` gives them."""
        span = self._span(from_ts, to_ts, limit)
        return self._rows(span.start, span.stop)
