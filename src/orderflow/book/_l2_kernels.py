"""Jitted kernels of the two L2 books (price-level and NinjaTrader ladder).

Each book keeps all of its state in ONE int64 buffer: a small header followed by the data arrays.
One array argument keeps numba's dispatch cheap on the per-event path, and the batch loops call
the very same functions, so both paths validate, mutate and count rejects identically.

Kernels validate before they mutate. They return ``0`` (applied), a ``RejectReason`` value
(refused, counted in the header, nothing changed) or :data:`NEED_GROW` (nothing changed, nothing
counted: the Python wrapper must enlarge the buffer and call again).
"""

from __future__ import annotations

import numpy as np

from orderflow.book._jit import kernel
from orderflow.book.common import BatchResult, DepthRecord, reject_counts
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Flags, LevelAction, NtOperation, RejectReason

NEED_GROW = -1

_OK = 0
_INVALID_SIZE = int(RejectReason.INVALID_SIZE)
_BAD_SIDE = int(RejectReason.BAD_SIDE)
_BAD_ACTION = int(RejectReason.BAD_ACTION)
_POSITION = int(RejectReason.POSITION_OUT_OF_RANGE)
_PRICE_ORDER = int(RejectReason.PRICE_ORDER)
_CAPACITY = int(RejectReason.CAPACITY)
_NO_PRICE = int(NO_PRICE)
_LAST = int(Flags.LAST)
_RESET = int(Flags.RESET)
_SET = int(LevelAction.SET)
_CLEAR = int(LevelAction.CLEAR)
_ADD = int(NtOperation.ADD)
_UPDATE = int(NtOperation.UPDATE)
_REMOVE = int(NtOperation.REMOVE)

N_REASONS = len(RejectReason)

# Batch progress vector shared by both batch kernels (kept across grow-and-resume).
P_RECORDS, P_CROSSED, P_LOCKED, P_APPLIED, P_FIRST_REJECT, P_BOUNDARIES = range(6)
P_LEN = 6

# ---------------------------------------------------------------------------------------------
# Price-level book. Header, then bid sizes[cap], then ask sizes[cap]; index = price - base.
# best = index of the best level (-1 when the side is empty); count = non-empty levels.
LB_BASE, LB_CAP, LB_BEST, LB_COUNT = 0, 1, 2, 4  # BEST and COUNT hold [bid, ask]
LB_SEQ, LB_TS, LB_TS_RECV, LB_REJ = 6, 7, 8, 9  # REJ holds N_REASONS counters
LB_HDR = 20


@kernel
def _lb_write(buf: np.ndarray, side: int, i: int, size: int) -> None:
    cap = buf[LB_CAP]
    off = LB_HDR + side * cap
    old = buf[off + i]
    buf[off + i] = size
    if size > 0:
        if old == 0:
            buf[LB_COUNT + side] += 1
            best = buf[LB_BEST + side]
            if best < 0 or (i > best if side == 0 else i < best):
                buf[LB_BEST + side] = i
    elif old > 0:
        n = buf[LB_COUNT + side] - 1
        buf[LB_COUNT + side] = n
        if n == 0:
            buf[LB_BEST + side] = -1
        elif i == buf[LB_BEST + side]:
            # count > 0 guarantees a non-empty level on the worse side of i: the scan ends.
            step = -1 if side == 0 else 1
            j = i + step
            while buf[off + j] == 0:
                j += step
            buf[LB_BEST + side] = j


@kernel
def _lb_update(buf: np.ndarray, side: int, price: int, size: int) -> int:
    if side != 0 and side != 1:
        buf[LB_REJ + _BAD_SIDE] += 1
        return _BAD_SIDE
    if size < 0:
        buf[LB_REJ + _INVALID_SIZE] += 1
        return _INVALID_SIZE
    i = price - buf[LB_BASE]
    if i < 0 or i >= buf[LB_CAP]:
        if size != 0:
            return NEED_GROW
        # deleting a level the book cannot hold: nothing to do
    else:
        _lb_write(buf, side, i, size)
    return _OK


@kernel
def lb_set(buf: np.ndarray, side: int, price: int, size: int, ts_event: int, sequence: int) -> int:
    """Absolute size at a price (0 deletes). O(1); O(gap to next level) when the best empties."""
    rc = _lb_update(buf, side, price, size)
    if rc == _OK:
        buf[LB_SEQ] = sequence
        buf[LB_TS] = ts_event
    return rc


@kernel
def _lb_clear_side(buf: np.ndarray, side: int) -> None:
    cap = buf[LB_CAP]
    off = LB_HDR + side * cap
    left = buf[LB_COUNT + side]
    j = buf[LB_BEST + side]
    step = -1 if side == 0 else 1
    while left > 0:
        if buf[off + j] != 0:
            buf[off + j] = 0
            left -= 1
        j += step
    buf[LB_COUNT + side] = 0
    buf[LB_BEST + side] = -1


@kernel
def lb_clear(buf: np.ndarray, side: int) -> int:
    """Clear one side (0/1) or both (2). O(span of the side)."""
    if side < 0 or side > 2:
        buf[LB_REJ + _BAD_SIDE] += 1
        return _BAD_SIDE
    if side != 1:
        _lb_clear_side(buf, 0)
    if side != 0:
        _lb_clear_side(buf, 1)
    return _OK


@kernel
def lb_fill(buf: np.ndarray, side: int, n: int, out_price: np.ndarray, out_size: np.ndarray) -> int:
    """Best ``n`` levels of a side into the outputs (NO_PRICE/0 padding); returns levels found."""
    cap = buf[LB_CAP]
    off = LB_HDR + side * cap
    base = buf[LB_BASE]
    cnt = buf[LB_COUNT + side]
    step = -1 if side == 0 else 1
    j = buf[LB_BEST + side]
    k = 0
    while k < n and k < cnt:
        while buf[off + j] == 0:
            j += step
        out_price[k] = base + j
        out_size[k] = buf[off + j]
        k += 1
        j += step
    for m in range(k, n):
        out_price[m] = _NO_PRICE
        out_size[m] = 0
    return k


@kernel
def lb_size_at(buf: np.ndarray, side: int, price: int) -> int:
    """Size resting at a price (0 when none). O(1)."""
    if side != 0 and side != 1:
        return 0
    i = price - buf[LB_BASE]
    if i < 0 or i >= buf[LB_CAP]:
        return 0
    return int(buf[LB_HDR + side * buf[LB_CAP] + i])


@kernel
def lb_truncate(buf: np.ndarray, depth: int) -> int:
    """Drop every level beyond the best ``depth`` on both sides; returns levels dropped."""
    cap = buf[LB_CAP]
    dropped = 0
    for side in range(2):
        off = LB_HDR + side * cap
        step = -1 if side == 0 else 1
        cnt = buf[LB_COUNT + side]
        if cnt <= depth:
            continue
        j = buf[LB_BEST + side]
        seen = 0
        while seen < cnt:
            if buf[off + j] != 0:
                seen += 1
                if seen > depth:
                    buf[off + j] = 0
                    dropped += 1
            j += step
        buf[LB_COUNT + side] = depth
        if depth == 0:
            buf[LB_BEST + side] = -1
    return dropped


@kernel
def _lb_record(
    buf: np.ndarray,
    r: int,
    i: int,
    ts: int,
    rec_idx: np.ndarray,
    rec_ts: np.ndarray,
    rec_bp: np.ndarray,
    rec_bs: np.ndarray,
    rec_ap: np.ndarray,
    rec_as: np.ndarray,
) -> None:
    lb_fill(buf, 0, rec_bp.shape[1], rec_bp[r], rec_bs[r])
    lb_fill(buf, 1, rec_ap.shape[1], rec_ap[r], rec_as[r])
    rec_idx[r] = i
    rec_ts[r] = ts


@kernel
def lb_batch(
    buf: np.ndarray,
    side: np.ndarray,
    action: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    flags: np.ndarray,
    seq: np.ndarray,
    ts: np.ndarray,
    ts_recv: np.ndarray,
    start: int,
    cap_reject_at: int,
    prog: np.ndarray,
    rec_idx: np.ndarray,
    rec_ts: np.ndarray,
    rec_bp: np.ndarray,
    rec_bs: np.ndarray,
    rec_ap: np.ndarray,
    rec_as: np.ndarray,
) -> int:
    """Apply LEVEL_DTYPE fields from ``start``; returns the index that needs a grow, or len.

    Counters live in locals and go to ``prog`` (and the header stamps) once at the end: stores
    into ``buf``/``prog`` on every event would keep LLVM from holding anything in registers.
    """
    n = len(price)
    record = rec_bp.shape[1] > 0
    applied = 0
    boundaries = 0
    crossed = 0
    locked = 0
    last_ok = -1
    stop = n
    for i in range(start, n):
        a = action[i]
        if i == cap_reject_at:
            buf[LB_REJ + _CAPACITY] += 1
            rc = _CAPACITY
        elif a == _SET:
            rc = _lb_update(buf, side[i], price[i], size[i])
            if rc == NEED_GROW:
                stop = i
                break
        elif a == _CLEAR:
            rc = lb_clear(buf, side[i])
        else:
            buf[LB_REJ + _BAD_ACTION] += 1
            rc = _BAD_ACTION
        if rc == _OK:
            applied += 1
            last_ok = i
        elif prog[P_FIRST_REJECT] < 0:
            prog[P_FIRST_REJECT] = i
        if flags[i] & _LAST:
            boundaries += 1
            bb = buf[LB_BEST]
            ba = buf[LB_BEST + 1]
            if bb >= 0 and ba >= 0:
                if bb > ba:
                    crossed += 1
                elif bb == ba:
                    locked += 1
            if record:
                r = prog[P_RECORDS]
                _lb_record(buf, r, i, ts[i], rec_idx, rec_ts, rec_bp, rec_bs, rec_ap, rec_as)
                prog[P_RECORDS] = r + 1
    if last_ok >= 0:
        buf[LB_SEQ] = seq[last_ok]
        buf[LB_TS] = ts[last_ok]
        buf[LB_TS_RECV] = ts_recv[last_ok]
    prog[P_APPLIED] += applied
    prog[P_BOUNDARIES] += boundaries
    prog[P_CROSSED] += crossed
    prog[P_LOCKED] += locked
    return stop


# ---------------------------------------------------------------------------------------------
# NinjaTrader ladder. Header, then per side two arrays of cap rows: price, then volume.
# Row p of side s: price at LD_HDR + 2*s*cap + p, volume at LD_HDR + (2*s + 1)*cap + p.
LD_CAP, LD_COUNT, LD_STALE = 0, 1, 3  # COUNT holds [bid, ask]
LD_SEQ, LD_TS, LD_TS_RECV, LD_REJ = 4, 5, 6, 7  # REJ holds N_REASONS counters
LD_HDR = 20
STALE_NONE, STALE_RESET, STALE_PRICE_ORDER = 0, 1, 2


@kernel
def _ld_fits(buf: np.ndarray, side: int, price: int, prev: int, nxt: int, cnt: int) -> bool:
    """Would ``price`` keep strict order between rows ``prev`` and ``nxt`` (when they exist)?"""
    p0 = LD_HDR + 2 * side * buf[LD_CAP]
    if side == 0:
        if prev >= 0 and not buf[p0 + prev] > price:
            return False
        if nxt < cnt and not price > buf[p0 + nxt]:
            return False
    else:
        if prev >= 0 and not buf[p0 + prev] < price:
            return False
        if nxt < cnt and not price < buf[p0 + nxt]:
            return False
    return True


@kernel
def _ld_reject(buf: np.ndarray, code: int) -> int:
    buf[LD_REJ + code] += 1
    if code == _PRICE_ORDER:
        buf[LD_STALE] = STALE_PRICE_ORDER
    return code


@kernel
def ld_reset(buf: np.ndarray, side: int, ts_event: int, sequence: int) -> int:
    """NinjaTrader IsReset: clear a side and mark the book stale. O(1)."""
    if side != 0 and side != 1:
        return _ld_reject(buf, _BAD_SIDE)
    buf[LD_COUNT + side] = 0
    buf[LD_STALE] = STALE_RESET
    buf[LD_SEQ] = sequence
    buf[LD_TS] = ts_event
    return _OK


@kernel
def _ld_update(buf: np.ndarray, side: int, op: int, pos: int, price: int, vol: int) -> int:
    if side != 0 and side != 1:
        return _ld_reject(buf, _BAD_SIDE)
    cap = buf[LD_CAP]
    cnt = buf[LD_COUNT + side]
    p0 = LD_HDR + 2 * side * cap
    v0 = p0 + cap
    if op == _REMOVE:
        if pos < 0 or pos >= cnt:
            return _ld_reject(buf, _POSITION)
        for j in range(pos, cnt - 1):
            buf[p0 + j] = buf[p0 + j + 1]
            buf[v0 + j] = buf[v0 + j + 1]
        buf[LD_COUNT + side] = cnt - 1
    elif op == _ADD or op == _UPDATE:  # noqa: SIM109 - two int compares, no tuple, in the jit
        if vol < 0:
            return _ld_reject(buf, _INVALID_SIZE)
        if pos < 0 or pos > cnt:
            return _ld_reject(buf, _POSITION)
        if op == _UPDATE and pos < cnt:
            if not _ld_fits(buf, side, price, pos - 1, pos + 1, cnt):
                return _ld_reject(buf, _PRICE_ORDER)
        else:
            # Add anywhere, or Update at pos == count (appends, as SampleLevel2Book does)
            if not _ld_fits(buf, side, price, pos - 1, pos, cnt):
                return _ld_reject(buf, _PRICE_ORDER)
            if cnt == cap:
                return NEED_GROW
            for j in range(cnt, pos, -1):
                buf[p0 + j] = buf[p0 + j - 1]
                buf[v0 + j] = buf[v0 + j - 1]
            buf[LD_COUNT + side] = cnt + 1
        buf[p0 + pos] = price
        buf[v0 + pos] = vol
    else:
        return _ld_reject(buf, _BAD_ACTION)
    return _OK


@kernel
def ld_apply(
    buf: np.ndarray,
    side: int,
    op: int,
    pos: int,
    price: int,
    vol: int,
    ts_event: int,
    sequence: int,
) -> int:
    """One OnMarketDepth event. O(rows) for Add/Remove (row shift), O(1) for Update."""
    rc = _ld_update(buf, side, op, pos, price, vol)
    if rc == _OK:
        buf[LD_SEQ] = sequence
        buf[LD_TS] = ts_event
    return rc


@kernel
def ld_fill(
    buf: np.ndarray, side: int, n: int, out_price: np.ndarray, out_volume: np.ndarray
) -> int:
    """First ``n`` rows of a side into the outputs (NO_PRICE/0 padding); returns rows copied."""
    cap = buf[LD_CAP]
    p0 = LD_HDR + 2 * side * cap
    v0 = p0 + cap
    k = min(n, buf[LD_COUNT + side])
    for j in range(k):
        out_price[j] = buf[p0 + j]
        out_volume[j] = buf[v0 + j]
    for j in range(k, n):
        out_price[j] = _NO_PRICE
        out_volume[j] = 0
    return int(k)


@kernel
def _ld_record(
    buf: np.ndarray,
    r: int,
    i: int,
    ts: int,
    rec_idx: np.ndarray,
    rec_ts: np.ndarray,
    rec_bp: np.ndarray,
    rec_bs: np.ndarray,
    rec_ap: np.ndarray,
    rec_as: np.ndarray,
) -> None:
    ld_fill(buf, 0, rec_bp.shape[1], rec_bp[r], rec_bs[r])
    ld_fill(buf, 1, rec_ap.shape[1], rec_ap[r], rec_as[r])
    rec_idx[r] = i
    rec_ts[r] = ts


@kernel
def ld_batch(
    buf: np.ndarray,
    side: np.ndarray,
    op: np.ndarray,
    position: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    flags: np.ndarray,
    seq: np.ndarray,
    ts: np.ndarray,
    ts_recv: np.ndarray,
    start: int,
    prog: np.ndarray,
    rec_idx: np.ndarray,
    rec_ts: np.ndarray,
    rec_bp: np.ndarray,
    rec_bs: np.ndarray,
    rec_ap: np.ndarray,
    rec_as: np.ndarray,
) -> int:
    """Apply NT_DEPTH_DTYPE fields from ``start``; returns the index that needs a grow, or len.

    Counters are locals written back once (see :func:`lb_batch`).
    """
    n = len(price)
    record = rec_bp.shape[1] > 0
    applied = 0
    boundaries = 0
    crossed = 0
    locked = 0
    last_ok = -1
    stop = n
    for i in range(start, n):
        f = flags[i]
        if f & _RESET:
            rc = ld_reset(buf, side[i], 0, 0)
        else:
            rc = _ld_update(buf, side[i], op[i], position[i], price[i], size[i])
        if rc == NEED_GROW:
            stop = i
            break
        if rc == _OK:
            applied += 1
            last_ok = i
        elif prog[P_FIRST_REJECT] < 0:
            prog[P_FIRST_REJECT] = i
        if f & _LAST:
            boundaries += 1
            if buf[LD_COUNT] > 0 and buf[LD_COUNT + 1] > 0:
                bid = buf[LD_HDR]
                ask = buf[LD_HDR + 2 * buf[LD_CAP]]
                if bid > ask:
                    crossed += 1
                elif bid == ask:
                    locked += 1
            if record:
                r = prog[P_RECORDS]
                _ld_record(buf, r, i, ts[i], rec_idx, rec_ts, rec_bp, rec_bs, rec_ap, rec_as)
                prog[P_RECORDS] = r + 1
    if last_ok >= 0:
        buf[LD_SEQ] = seq[last_ok]
        buf[LD_TS] = ts[last_ok]
        buf[LD_TS_RECV] = ts_recv[last_ok]
    prog[P_APPLIED] += applied
    prog[P_BOUNDARIES] += boundaries
    prog[P_CROSSED] += crossed
    prog[P_LOCKED] += locked
    return stop


# ---------------------------------------------------------------------------------------------
# Python helpers shared by both wrappers.


def new_progress() -> np.ndarray:
    prog = np.zeros(P_LEN, dtype=np.int64)
    prog[P_FIRST_REJECT] = -1
    return prog


def depth_buffers(flags: np.ndarray, depth: int) -> tuple[np.ndarray, ...]:
    """Output arrays for top-``depth`` records at every LAST boundary (shape (0, 0) when off)."""
    rows = int(np.count_nonzero(flags & _LAST)) if depth > 0 else 0
    cols = depth if depth > 0 else 0
    idx, ts = np.zeros((2, rows), dtype=np.int64)  # two allocations instead of six
    return (idx, ts, *np.zeros((4, rows, cols), dtype=np.int64))


def batch_result(
    prog: np.ndarray, counts: np.ndarray, rec: tuple[np.ndarray, ...], depth: int
) -> BatchResult:
    """A batch's BatchResult from the kernel's progress vector and record buffers."""
    record = None
    if depth > 0:
        idx, ts, bp, bs, ap, as_ = rec
        bc, ac = np.zeros((2, *bp.shape), dtype=np.int64)
        record = DepthRecord(idx, ts, bp, bs, bc, ap, as_, ac)
    return BatchResult(
        applied=int(prog[P_APPLIED]),
        rejected=reject_counts(counts),
        boundaries=int(prog[P_BOUNDARIES]),
        crossed_boundaries=int(prog[P_CROSSED]),
        locked_boundaries=int(prog[P_LOCKED]),
        first_reject_index=int(prog[P_FIRST_REJECT]),
        depth=record,
    )
