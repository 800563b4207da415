"""NinjaTrader's position-indexed L2 ladder (``OnMarketDepth``), as ninjatrader-api.md §1.3.

Per side a list of rows indexed by POSITION (0 = inside), exactly like NinjaTrader's own
SampleLevel2Book:

* Add inserts a row at ``position``; deeper rows move down one (``position == rows`` appends).
* Update overwrites price and volume of the row in place. Update at ``position == rows`` appends,
  a tolerance SampleLevel2Book has too (it treats any Update past the end as an Add); further
  out is refused.
* Remove deletes the row; deeper rows move up one.

Positions beyond those are refused with ``PositionOutOfRangeError``. Every Add/Update is checked
against its neighbours (bids strictly descending, asks strictly ascending): one that would break
the order is refused with ``PriceOrderError``, the ladder stays as it was and the book is marked
stale ("needs snapshot"), never silently kept broken. ``IsReset`` (flag RESET, or
:meth:`LadderBook.reset`) clears that side and marks the book stale until
:meth:`LadderBook.apply_snapshot`. A stale book keeps applying updates (NinjaTrader rebuilds the
ladder with Adds after a reset); ``stale`` tells consumers not to trust it yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np

from orderflow.book import _l2_kernels as k
from orderflow.book.common import BatchResult, BufferStamps
from orderflow.core.errors import BookIntegrityError, DtypeError, book_error
from orderflow.model.dtypes import NT_DEPTH_DTYPE
from orderflow.model.enums import RejectReason, Side

__all__ = ["LadderBook"]

_STALE_REASONS = {k.STALE_RESET: "reset", k.STALE_PRICE_ORDER: "needs snapshot: price order broken"}
_MAX_ROWS = 1 << 20


class LadderBook(BufferStamps):
    """Position-indexed L2 book. Sides are ``Side.BID`` (0) and ``Side.ASK`` (1); prices ticks.

    ``apply``: O(1) for Update, O(rows) for Add/Remove (row shift); views O(n) in rows shown.
    """

    _SEQ, _TS, _TS_RECV, _REJ = k.LD_SEQ, k.LD_TS, k.LD_TS_RECV, k.LD_REJ

    def __init__(self, instrument: Any = None, *, max_rows: int = 64) -> None:
        self.instrument = instrument
        self._buf = np.zeros(k.LD_HDR + 4 * int(max_rows), dtype=np.int64)
        self._buf[k.LD_CAP] = max_rows
        self._bind()

    def _bind(self) -> None:
        self._apply = partial(k.ld_apply, self._buf)

    @property
    def max_rows(self) -> int:
        """Rows per side the buffer holds now (grows by doubling when an Add needs more)."""
        return int(self._buf[k.LD_CAP])

    # ------------------------------------------------------------------ updates

    def apply(
        self,
        side: int,
        operation: int,
        position: int,
        price: int,
        volume: int,
        ts_event: int = 0,
        sequence: int = 0,
        reset: bool = False,
    ) -> None:
        """One OnMarketDepth event (``operation`` is ``NtOperation``). Raises on a reject.

        With ``reset`` the side is cleared and the book marked stale; the operation itself is
        not applied (NinjaTrader's IsReset events are notices, not ladder rows).
        """
        if reset:
            rc = k.ld_reset(self._buf, int(side), ts_event, sequence)
            if rc:
                raise book_error(rc, side=int(side), sequence=int(sequence))
            return
        # ``+ 0`` turns an IntEnum into a plain int (cheaper than int()); numba's dispatch takes a
        # slow typeof path for IntEnum members
        rc = self._apply(side + 0, operation + 0, position, price, volume, ts_event, sequence)
        if rc:
            self._settle(rc, side, operation, position, price, volume, ts_event, sequence)

    def _settle(
        self, rc: int, side: int, op: int, pos: int, price: int, vol: int, ts: int, seq: int
    ) -> None:
        if rc == k.NEED_GROW:
            self._grow()
            rc = self._apply(int(side), int(op), pos, price, vol, ts, seq)
            if rc == 0:
                return
        raise book_error(
            rc,
            side=int(side),
            operation=int(op),
            position=int(pos),
            price=int(price),
            volume=int(vol),
            sequence=int(seq),
        )

    def reset(self, side: int | None = None, ts_event: int = 0, sequence: int = 0) -> None:
        """NinjaTrader IsReset: clear one side (both when None) and mark the book stale."""
        for s in (0, 1) if side is None else (int(side),):
            self.apply(s, 0, 0, 0, 0, ts_event, sequence, reset=True)

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        ts_event: int = 0,
        sequence: int = 0,
    ) -> None:
        """Replace both sides with ``(price, volume)`` rows in position order; clears ``stale``.

        Validated first: rows out of strict price order or a negative volume raise and leave
        the book (and its staleness) unchanged. O(rows).
        """
        sides = [[(int(p), int(v)) for p, v in bids], [(int(p), int(v)) for p, v in asks]]
        for side, rows in enumerate(sides):
            for pos, (p, v) in enumerate(rows):
                if v < 0:
                    self._buf[k.LD_REJ + RejectReason.INVALID_SIZE] += 1
                    raise book_error(RejectReason.INVALID_SIZE, side=side, position=pos, volume=v)
                if pos and not (rows[pos - 1][0] > p if side == 0 else rows[pos - 1][0] < p):
                    self._buf[k.LD_REJ + RejectReason.PRICE_ORDER] += 1
                    raise book_error(
                        RejectReason.PRICE_ORDER,
                        f"snapshot {Side(side).name.lower()} rows out of price order at {pos}",
                        side=side,
                        position=pos,
                        price=p,
                    )
        while max(len(sides[0]), len(sides[1])) > self.max_rows:
            self._grow()
        cap = self.max_rows
        buf = self._buf
        for side, rows in enumerate(sides):
            p0 = k.LD_HDR + 2 * side * cap
            buf[k.LD_COUNT + side] = len(rows)
            if rows:
                arr = np.array(rows, dtype=np.int64)
                buf[p0 : p0 + len(rows)] = arr[:, 0]
                buf[p0 + cap : p0 + cap + len(rows)] = arr[:, 1]
        buf[k.LD_STALE] = k.STALE_NONE
        buf[k.LD_SEQ] = sequence
        buf[k.LD_TS] = ts_event

    def apply_events(self, events: np.ndarray, record_depth: int = 0) -> BatchResult:
        """Apply an :data:`NT_DEPTH_DTYPE` array; rejects are counted, not raised.

        Boundaries are events flagged LAST; with ``record_depth=N`` the top N rows per side are
        recorded at each boundary. O(events x rows shifted).
        """
        if events.dtype != NT_DEPTH_DTYPE:
            raise DtypeError(f"apply_events needs NT_DEPTH_DTYPE, got {events.dtype}")
        before = self._buf[k.LD_REJ : k.LD_REJ + k.N_REASONS].copy()
        prog = k.new_progress()
        rec = k.depth_buffers(events["flags"], int(record_depth))
        e = events
        fields = (e["side"], e["operation"], e["position"], e["price"], e["size"], e["flags"],
                  e["sequence"], e["ts_event"], e["ts_recv"])  # fmt: skip
        start, n = 0, len(events)
        while (start := k.ld_batch(self._buf, *fields, start, prog, *rec)) < n:
            self._grow()
        counts = self._buf[k.LD_REJ : k.LD_REJ + k.N_REASONS] - before
        return k.batch_result(prog, counts, rec, record_depth)

    def _grow(self) -> None:
        old, cap = self._buf, self.max_rows
        new_cap = cap * 2
        if new_cap > _MAX_ROWS:
            self._buf[k.LD_REJ + RejectReason.CAPACITY] += 1
            raise book_error(RejectReason.CAPACITY, f"ladder beyond {_MAX_ROWS} rows per side")
        buf = np.zeros(k.LD_HDR + 4 * new_cap, dtype=np.int64)
        buf[: k.LD_HDR] = old[: k.LD_HDR]
        buf[k.LD_CAP] = new_cap
        for block in range(4):  # bid price, bid volume, ask price, ask volume
            src = k.LD_HDR + block * cap
            dst = k.LD_HDR + block * new_cap
            buf[dst : dst + cap] = old[src : src + cap]
        self._buf = buf
        self._bind()

    # ------------------------------------------------------------------ views

    def row_count(self, side: int) -> int:
        return int(self._buf[k.LD_COUNT + int(side)])

    def rows(self, side: int) -> list[tuple[int, int]]:
        """``(price, volume)`` rows of a side by position (0 = inside)."""
        side = int(side)
        n, cap = self.row_count(side), self.max_rows
        p0 = k.LD_HDR + 2 * side * cap
        prices = self._buf[p0 : p0 + n].tolist()
        volumes = self._buf[p0 + cap : p0 + cap + n].tolist()
        return list(zip(prices, volumes, strict=True))

    def _best(self, side: int) -> tuple[int, int] | None:
        """(price, volume) of row 0 of ``side``, or None."""
        b = self._buf
        if b[k.LD_COUNT + side] == 0:
            return None
        p0 = k.LD_HDR + 2 * side * int(b[k.LD_CAP])
        return int(b[p0]), int(b[p0 + int(b[k.LD_CAP])])

    def top_views(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views of the first ``n`` rows per side (bid prices, bid volumes, ask prices, ask
        volumes; fewer when a side is shorter) in the ladder's own buffer: read them before
        the book moves, never write them. O(1)."""
        b = self._buf
        cap = int(b[k.LD_CAP])
        nb, na = min(n, int(b[k.LD_COUNT])), min(n, int(b[k.LD_COUNT + 1]))
        b0, a0 = k.LD_HDR, k.LD_HDR + 2 * cap
        return (b[b0 : b0 + nb], b[b0 + cap : b0 + cap + nb],
                b[a0 : a0 + na], b[a0 + cap : a0 + cap + na])  # fmt: skip

    def top_rows(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Bid prices, bid volumes, ask prices, ask volumes of the first ``n`` rows per side
        (fewer when a side is shorter; no padding): copies of the ladder's own rows, cheaper
        than :meth:`depth` for a reader that drops the padding anyway. O(n)."""
        bp, bs, ap, as_ = self.top_views(n)
        return bp.copy(), bs.copy(), ap.copy(), as_.copy()

    def top_lists(self, n: int) -> tuple[list[int], list[int], list[int], list[int]]:
        """:meth:`top_rows` as Python integers, read straight from the ladder's rows (no
        copies in between): for a reader that converts them anyway. O(n)."""
        bp, bs, ap, as_ = self.top_views(n)
        return bp.tolist(), bs.tolist(), ap.tolist(), as_.tolist()

    def row_buffer(self) -> np.ndarray:
        """The ladder's own buffer (header, then each side's prices and volumes; layout in
        ``_l2_kernels``, ``LD_*``), for a compiled reader of the top rows: read it, never write
        it, and do not keep it (a ladder that grows takes a new one). O(1)."""
        return self._buf

    def depth(self, n: int) -> dict[str, np.ndarray]:
        """First ``n`` rows per side, padded with NO_PRICE / 0."""
        out = {key: np.empty(n, dtype=np.int64) for key in ("bid_price", "bid_size")}
        out.update({key: np.empty(n, dtype=np.int64) for key in ("ask_price", "ask_size")})
        k.ld_fill(self._buf, 0, n, out["bid_price"], out["bid_size"])
        k.ld_fill(self._buf, 1, n, out["ask_price"], out["ask_size"])
        return out

    @property
    def crossed(self) -> bool:
        return self.top().crossed

    @property
    def locked(self) -> bool:
        return self.top().locked

    @property
    def stale(self) -> bool:
        """True after a reset or a refused out-of-order update, until a snapshot arrives."""
        return bool(self._buf[k.LD_STALE])

    @property
    def stale_reason(self) -> str | None:
        return _STALE_REASONS.get(int(self._buf[k.LD_STALE]))

    def check_integrity(self) -> None:
        """Raise BookIntegrityError unless row counts fit and both sides are strictly ordered."""
        cap = self.max_rows
        if len(self._buf) != k.LD_HDR + 4 * cap:
            raise BookIntegrityError(f"buffer length {len(self._buf)} != header + 4 x {cap}")
        for side in (0, 1):
            n = self.row_count(side)
            if not 0 <= n <= cap:
                raise BookIntegrityError(f"side {side}: row count {n} outside 0..{cap}")
            rows = self.rows(side)
            if any(v < 0 for _, v in rows):
                raise BookIntegrityError(f"side {side}: negative volume in {rows}")
            prices = [p for p, _ in rows]
            ordered = all((a > b if side == 0 else a < b) for a, b in pairwise(prices))
            if not ordered:
                raise BookIntegrityError(f"side {side}: rows out of price order {prices}")

    def __repr__(self) -> str:
        t = self.top()
        return (
            f"LadderBook(bid={t.bid_price}x{t.bid_size}, ask={t.ask_price}x{t.ask_size}, "
            f"rows={self.row_count(0)}/{self.row_count(1)}, stale={self.stale_reason})"
        )
