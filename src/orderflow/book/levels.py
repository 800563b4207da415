"""Price-level (MBP) L2 book: absolute size per price, from deltas and snapshots.

Each side is a dense ladder of sizes indexed by ``price_ticks - base``, so an update is an array
write and the best level is a tracked index (a scan only when the best level empties). The range
grows or re-bases on demand, up to ``max_levels`` prices; a price further away is refused with
:class:`~orderflow.core.errors.CapacityError`. The per-event methods and the batch
:meth:`LevelBook.apply_deltas` run the same jitted kernels (``_l2_kernels``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np

from orderflow.book import _l2_kernels as k
from orderflow.book.common import BatchResult, BufferStamps
from orderflow.core.errors import BookIntegrityError, BookUpdateError, DtypeError, book_error
from orderflow.model.dtypes import LEVEL_DTYPE
from orderflow.model.enums import RejectReason, Side

__all__ = ["LevelBook"]

_CAPACITY = int(RejectReason.CAPACITY)
_INVALID_SIZE = int(RejectReason.INVALID_SIZE)
_BAD_SIDE = int(RejectReason.BAD_SIDE)


class LevelBook(BufferStamps):
    """Price-level book. Sides are ``Side.BID`` (0) and ``Side.ASK`` (1); prices are ticks.

    ``set`` is O(1) (plus a scan to the next level when the best empties; amortised O(1) grow);
    ``best_*``/``top`` O(1); ``depth(n)`` O(span of the n levels).
    """

    _SEQ, _TS, _TS_RECV, _REJ = k.LB_SEQ, k.LB_TS, k.LB_TS_RECV, k.LB_REJ

    def __init__(
        self, instrument: Any = None, *, initial_levels: int = 4096, max_levels: int = 1 << 22
    ) -> None:
        self.instrument = instrument
        self.max_levels = int(max_levels)
        self._buf = np.zeros(k.LB_HDR + 2 * int(initial_levels), dtype=np.int64)
        self._buf[k.LB_CAP] = initial_levels
        self._buf[k.LB_BEST : k.LB_BEST + 2] = -1
        self._bind()

    def _bind(self) -> None:
        self._set = partial(k.lb_set, self._buf)
        self._size_at = partial(k.lb_size_at, self._buf)

    # ------------------------------------------------------------------ updates

    def set(self, side: int, price: int, size: int, ts_event: int = 0, sequence: int = 0) -> None:
        """Absolute ``size`` at ``price`` on ``side``; 0 deletes the level. Raises on a reject."""
        # ``+ 0`` turns an IntEnum into a plain int (cheaper than int()); numba's dispatch takes a
        # slow typeof path for IntEnum members
        rc = self._set(side + 0, price, size, ts_event, sequence)
        if rc:
            self._settle(rc, side, price, size, ts_event, sequence)

    def _settle(self, rc: int, side: int, price: int, size: int, ts: int, seq: int) -> None:
        if rc == k.NEED_GROW:
            self._grow(int(price))  # raises CapacityError when the range cannot hold it
            rc = self._set(side, price, size, ts, seq)
            if rc == 0:
                return
        raise book_error(rc, side=int(side), price=int(price), size=int(size), sequence=int(seq))

    def clear(self, side: int | None = None) -> None:
        """Remove every level of one side, or of both when ``side`` is None. O(span)."""
        rc = k.lb_clear(self._buf, int(Side.NONE) if side is None else int(side))
        if rc:
            raise book_error(rc, side=side)

    def truncate(self, depth: int) -> int:
        """Keep only the best ``depth`` levels per side (a windowed feed); returns levels dropped.

        O(span of the side)."""
        return int(k.lb_truncate(self._buf, int(depth)))

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        ts_event: int = 0,
        sequence: int = 0,
    ) -> None:
        """Replace the whole book with ``(price, size)`` levels (a later duplicate wins; size 0
        is skipped). Validated first: a bad snapshot raises and leaves the book unchanged."""
        sides = [[(int(p), int(s)) for p, s in bids], [(int(p), int(s)) for p, s in asks]]
        prices = [p for lv in sides for p, _ in lv]
        for lv in sides:
            for p, s in lv:
                if s < 0:
                    self._buf[k.LB_REJ + _INVALID_SIZE] += 1
                    raise book_error(_INVALID_SIZE, price=p, size=s)
        cap = int(self._buf[k.LB_CAP])
        base = int(self._buf[k.LB_BASE])
        if prices:
            lo, hi = min(prices), max(prices)
            if hi - lo + 1 > self.max_levels:
                self._buf[k.LB_REJ + _CAPACITY] += 1
                raise book_error(_CAPACITY, low=lo, high=hi, max_levels=self.max_levels)
            if lo < base or hi >= base + cap:
                cap = max(cap, _pow2(2 * (hi - lo + 1)))
                cap = min(cap, self.max_levels)
                base = lo - (cap - (hi - lo + 1)) // 2
        self._realloc(base, cap, keep=False)
        for side, lv in enumerate(sides):
            for p, s in lv:
                k.lb_set(self._buf, side, p, s, ts_event, sequence)
        self._buf[k.LB_SEQ] = sequence
        self._buf[k.LB_TS] = ts_event

    def apply_deltas(self, events: np.ndarray, record_depth: int = 0) -> BatchResult:
        """Apply a :data:`LEVEL_DTYPE` array (SET / CLEAR); rejects are counted, not raised.

        Boundaries are events flagged LAST; with ``record_depth=N`` the top N levels are
        recorded at each boundary. O(events) plus the rare scans and grows.
        """
        if events.dtype != LEVEL_DTYPE:
            raise DtypeError(f"apply_deltas needs LEVEL_DTYPE, got {events.dtype}")
        before = self._buf[k.LB_REJ : k.LB_REJ + k.N_REASONS].copy()
        prog = k.new_progress()
        rec = k.depth_buffers(events["flags"], int(record_depth))
        e = events
        fields = (e["side"], e["action"], e["price"], e["size"], e["flags"], e["sequence"],
                  e["ts_event"], e["ts_recv"])  # fmt: skip
        start, n, cap_reject_at = 0, len(events), -1
        while True:
            stop = k.lb_batch(self._buf, *fields, start, cap_reject_at, prog, *rec)
            if stop >= n:
                break
            try:
                self._grow(int(events["price"][stop]), count=False)
            except BookUpdateError:
                cap_reject_at = stop  # the kernel counts it and goes on
            start = stop
        counts = self._buf[k.LB_REJ : k.LB_REJ + k.N_REASONS] - before
        return k.batch_result(prog, counts, rec, record_depth)

    # ------------------------------------------------------------------ growth

    def _occupied(self) -> tuple[int, int] | None:
        cap, base = int(self._buf[k.LB_CAP]), int(self._buf[k.LB_BASE])
        data = self._buf[k.LB_HDR : k.LB_HDR + 2 * cap].reshape(2, cap)
        nz = np.flatnonzero(data.any(axis=0))
        return None if len(nz) == 0 else (base + int(nz[0]), base + int(nz[-1]))

    def _grow(self, price: int, count: bool = True) -> None:
        """Re-base and/or enlarge the dense range so it holds ``price`` and every level."""
        cap = int(self._buf[k.LB_CAP])
        span = self._occupied()
        lo, hi = (price, price) if span is None else (min(span[0], price), max(span[1], price))
        need = hi - lo + 1
        if need > self.max_levels:
            if count:
                self._buf[k.LB_REJ + _CAPACITY] += 1
            raise book_error(
                _CAPACITY,
                f"price {price} would make the book span {need} ticks (max {self.max_levels})",
                price=price,
                low=lo,
                high=hi,
                max_levels=self.max_levels,
            )
        new_cap = cap if need * 2 <= cap else min(self.max_levels, _pow2(need * 2))
        self._realloc(lo - (new_cap - need) // 2, new_cap, keep=True)

    def _realloc(self, base: int, cap: int, keep: bool) -> None:
        old = self._buf
        old_cap, old_base = int(old[k.LB_CAP]), int(old[k.LB_BASE])
        buf = np.zeros(k.LB_HDR + 2 * cap, dtype=np.int64)
        buf[: k.LB_HDR] = old[: k.LB_HDR]
        buf[k.LB_BASE], buf[k.LB_CAP] = base, cap
        buf[k.LB_BEST : k.LB_BEST + 2] = -1
        buf[k.LB_COUNT : k.LB_COUNT + 2] = 0
        if keep:
            shift = old_base - base
            for side in (0, 1):
                src = old[k.LB_HDR + side * old_cap : k.LB_HDR + (side + 1) * old_cap]
                nz = np.flatnonzero(src)
                buf[k.LB_HDR + side * cap + nz + shift] = src[nz]
                buf[k.LB_COUNT + side] = len(nz)
                if len(nz):
                    best = nz[-1] if side == 0 else nz[0]
                    buf[k.LB_BEST + side] = best + shift
        self._buf = buf
        self._bind()

    # ------------------------------------------------------------------ views

    def size_at(self, side: int, price: int) -> int:
        """Size resting at ``price`` (0 when none). O(1)."""
        return int(self._size_at(side, price))

    def _best(self, side: int) -> tuple[int, int] | None:
        b = self._buf
        i = int(b[k.LB_BEST + side])
        if i < 0:
            return None
        return int(b[k.LB_BASE]) + i, int(b[k.LB_HDR + side * int(b[k.LB_CAP]) + i])

    def level_count(self, side: int) -> int:
        return int(self._buf[k.LB_COUNT + int(side)])

    def depth(self, n: int) -> dict[str, np.ndarray]:
        """Best ``n`` levels per side, best first, padded with NO_PRICE / 0."""
        out = {key: np.empty(n, dtype=np.int64) for key in _DEPTH_KEYS}
        k.lb_fill(self._buf, 0, n, out["bid_price"], out["bid_size"])
        k.lb_fill(self._buf, 1, n, out["ask_price"], out["ask_size"])
        return out

    def cumulative_depth(self, n: int) -> dict[str, np.ndarray]:
        """Like :meth:`depth` with running size sums (``bid_cum_size``, ``ask_cum_size``)."""
        d = self.depth(n)
        return {
            "bid_price": d["bid_price"],
            "bid_cum_size": np.cumsum(d["bid_size"]),
            "ask_price": d["ask_price"],
            "ask_cum_size": np.cumsum(d["ask_size"]),
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every level of both sides, best first (no padding)."""
        nb, na = self.level_count(0), self.level_count(1)
        out = {
            "bid_price": np.empty(nb, np.int64),
            "bid_size": np.empty(nb, np.int64),
            "ask_price": np.empty(na, np.int64),
            "ask_size": np.empty(na, np.int64),
        }
        k.lb_fill(self._buf, 0, nb, out["bid_price"], out["bid_size"])
        k.lb_fill(self._buf, 1, na, out["ask_price"], out["ask_size"])
        return out

    def levels(self, side: int) -> list[tuple[int, int]]:
        """All ``(price, size)`` levels of a side, best first."""
        a = self.to_arrays()
        key = "bid" if int(side) == Side.BID else "ask"
        return list(zip(a[f"{key}_price"].tolist(), a[f"{key}_size"].tolist(), strict=True))

    @property
    def crossed(self) -> bool:
        return self.top().crossed

    @property
    def locked(self) -> bool:
        return self.top().locked

    def check_integrity(self) -> None:
        """Raise BookIntegrityError unless counts, best indices and sizes agree with the ladder."""
        b = self._buf
        cap = int(b[k.LB_CAP])
        if len(b) != k.LB_HDR + 2 * cap:
            raise BookIntegrityError(f"buffer length {len(b)} != header + 2 x {cap}")
        for side in (0, 1):
            data = b[k.LB_HDR + side * cap : k.LB_HDR + (side + 1) * cap]
            if (data < 0).any():
                raise BookIntegrityError(
                    f"side {side}: negative size at {np.flatnonzero(data < 0)}"
                )
            nz = np.flatnonzero(data)
            if len(nz) != b[k.LB_COUNT + side]:
                raise BookIntegrityError(f"side {side}: count {b[k.LB_COUNT + side]} != {len(nz)}")
            want = -1 if len(nz) == 0 else int(nz[-1] if side == 0 else nz[0])
            if want != b[k.LB_BEST + side]:
                raise BookIntegrityError(f"side {side}: best index {b[k.LB_BEST + side]} != {want}")

    def __repr__(self) -> str:
        t = self.top()
        return (
            f"LevelBook(bid={t.bid_price}x{t.bid_size}, ask={t.ask_price}x{t.ask_size}, "
            f"levels={self.level_count(0)}/{self.level_count(1)})"
        )


_DEPTH_KEYS = ("bid_price", "bid_size", "ask_price", "ask_size")


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()
