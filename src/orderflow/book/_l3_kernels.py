"""Jitted kernels of the order-by-order (L3) book. Private: use :mod:`orderflow.book.l3`.

All state lives in ONE flat int64 buffer ``st`` so that a per-event call from Python pays numba's
dispatch for a single array (~170 ns) instead of one per state array (~35 ns more each). Entry
kernels (``k_*``) cut the buffer into views and call the same inner functions the batch loop
calls, so the per-event path and the batch path are one implementation.

Buffer layout (offsets and sizes kept in the header)::

    [0, META)                 header: layout, best indices, counters, last_* of the stream
    [o_off, +nslots*8)        orders, one row per slot (O_* columns); free slots chain via O_NEXT
    [h_off, +hcap*2)          open-addressing hash (linear probing): key=order id bits, slot+1
    [l_off, +nlev*8)          dense price ladder: levels[8 * (price - base) + 4 * side + L_*]

Kernels validate before they mutate. They return 0, a ``RejectReason`` code (1..15), or a
``NEED_*`` code when capacity runs out; then nothing has changed and the Python wrapper grows or
re-bases the buffer and retries.
"""

from __future__ import annotations

import numpy as np

from orderflow.book._jit import eager_kernel, inline_kernel, kernel

# ---- header slots --------------------------------------------------------------------------
META = 64
M_OOFF, M_NSLOT, M_HOFF, M_HCAP, M_HSHIFT, M_LOFF, M_NLEV, M_BASE = range(8)
M_BEST = 8  # 8 best bid index, 9 best ask index (-1 when the side is empty)
M_NORD = 10
M_FREE = 11
M_NLVL = 12  # 12 non-empty bid levels, 13 non-empty ask levels
M_LAST_SEQ, M_LAST_TS_EVENT, M_LAST_TS_RECV = 14, 15, 16
M_TRADED = 17
M_IN_SNAP = 18
M_NEED_PRICE = 19
M_FILLS = 20
# What :func:`apply_record` did with the record's order, for the L3 detectors of the fused step
# (which index their per-order state by the book's slot instead of hashing the id again): the
# slot + 1 of the record's order id in the book (0: not there) before the record (an ADD: after
# it), ``S_REMOVED`` when the record freed that slot, ``S_CLEARED`` when the book was emptied
# before the record. Meaningful right after ``apply_record`` only.
M_SLOT = 21
# Bumped by every change of the book that does not go through the fused step (the per-event
# entry points, ``k_batch``, ``k_clear``); a new book starts at its own value (``l3._new_state``),
# so the detectors can tell that the slots they mirror may no longer hold their orders.
M_EPOCH = 22
M_REJ = 32  # 32..47 reject counters by RejectReason

# ---- order row columns ---------------------------------------------------------------------
O_ID, O_SIDE, O_PRICE, O_SIZE, O_TS, O_PREV, O_NEXT, O_SEQ = range(8)
OCOLS = 8
# ---- level columns -------------------------------------------------------------------------
L_SIZE, L_COUNT, L_HEAD, L_TAIL = range(4)
LCOLS = 4

# ---- codes ---------------------------------------------------------------------------------
OK = 0
R_UNKNOWN, R_DUPLICATE, R_SIZE, R_SIDE, R_ACTION = 1, 2, 3, 4, 5
R_CAPACITY = 9
NEED_SLOTS = 64
NEED_LADDER = 65
CANCEL_ALL = np.iinfo(np.int64).min
NO_PRICE = np.iinfo(np.int64).min
S_REMOVED = 1 << 32
S_CLEARED = 1 << 33

# actions (model.enums.Action) and flags (model.enums.Flags), as plain ints for the kernels
A_NONE, A_ADD, A_CANCEL, A_MODIFY, A_CLEAR, A_TRADE, A_FILL = range(7)
F_LAST = 0x80
F_SNAPSHOT = 0x20

# ---- batch state ---------------------------------------------------------------------------
B_POS, B_APPLIED, B_BOUNDS, B_CROSSED, B_LOCKED, B_FIRST_REJ = range(6)
B_CLEARED = 6  # (the fused step) S_CLEARED of a record that stopped for room after clearing
B_REJ = 16
B_SIZE = 32

# integrity problems (index into l3._INTEGRITY_MESSAGES)
I_OK, I_LINK, I_ORDER, I_LEVEL, I_NLVL, I_BEST, I_NORD, I_HASH, I_FREE = range(9)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# ---- views ---------------------------------------------------------------------------------
@inline_kernel
def views(st: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(meta, orders, htab, levels) views of the buffer."""
    meta = st[:META]
    o, n = meta[M_OOFF], meta[M_NSLOT]
    h, hc = meta[M_HOFF], meta[M_HCAP]
    lo, nl = meta[M_LOFF], meta[M_NLEV]
    # flat 1-D slices: numba's reshape costs ~40 ns a view, a slice next to nothing
    orders = st[o : o + n * OCOLS]  # orders[8 * slot + O_*]
    htab = st[h : h + hc * 2]  # key at 2 * i, slot + 1 at 2 * i + 1
    levels = st[lo : lo + nl * 2 * LCOLS]  # levels[8 * index + 4 * side + L_*]
    return meta, orders, htab, levels


# ---- hash table: order id -> slot ----------------------------------------------------------
@kernel
def _hpos(key: int, shift: int) -> np.int64:
    return np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(shift))


@kernel
def find(meta: np.ndarray, htab: np.ndarray, oid: int) -> int:
    """Slot of the order, or -1. O(1) expected (load factor <= 1/2)."""
    mask = len(htab) // 2 - 1
    i = _hpos(oid, meta[M_HSHIFT])
    while True:
        s = htab[2 * i + 1]
        if s == 0:
            return -1
        if htab[2 * i] == oid:
            return int(s - 1)
        i = (i + 1) & mask


@kernel
def _hinsert(htab: np.ndarray, shift: int, oid: int, slot: int) -> None:
    mask = len(htab) // 2 - 1
    i = _hpos(oid, shift)
    while htab[2 * i + 1] != 0:
        i = (i + 1) & mask
    htab[2 * i] = oid
    htab[2 * i + 1] = slot + 1


@kernel
def _hdelete(meta: np.ndarray, htab: np.ndarray, oid: int) -> None:
    """Remove a present key; backward-shift deletion keeps probe chains without tombstones."""
    mask = len(htab) // 2 - 1
    shift = meta[M_HSHIFT]
    i = _hpos(oid, shift)
    while htab[2 * i] != oid or htab[2 * i + 1] == 0:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        if htab[2 * j + 1] == 0:
            break
        k = _hpos(htab[2 * j], shift)
        # entry j may fill the hole at i only if its home k is not cyclically in (i, j]
        if i <= j:
            if i < k <= j:
                continue
        elif k > i or k <= j:
            continue
        htab[2 * i] = htab[2 * j]
        htab[2 * i + 1] = htab[2 * j + 1]
        i = j
    htab[2 * i] = 0
    htab[2 * i + 1] = 0


@kernel
def rehash(old: np.ndarray, new: np.ndarray, shift: int) -> None:
    """Insert every entry of ``old`` into the empty table ``new``. O(len(old))."""
    for i in range(len(old) // 2):
        if old[2 * i + 1] != 0:
            _hinsert(new, shift, old[2 * i], old[2 * i + 1] - 1)


# ---- levels --------------------------------------------------------------------------------
@kernel
def _rescan_best(meta: np.ndarray, levels: np.ndarray, sd: int, idx: int) -> None:
    """The best level of ``sd`` emptied at ``idx``: find the next one. O(gap)."""
    if meta[M_NLVL + sd] == 0:
        meta[M_BEST + sd] = -1
        return
    c = 4 * sd + L_COUNT
    if sd == 0:
        i = idx - 1
        while levels[8 * i + c] == 0:
            i -= 1
    else:
        i = idx + 1
        while levels[8 * i + c] == 0:
            i += 1
    meta[M_BEST + sd] = i


@kernel
def _link_tail(
    meta: np.ndarray, orders: np.ndarray, levels: np.ndarray, sd: int, idx: int, slot: int
) -> None:
    """Append the slot at the back of its level's FIFO. O(1)."""
    tail = levels[8 * idx + 4 * sd + L_TAIL]
    orders[8 * slot + O_PREV] = tail
    orders[8 * slot + O_NEXT] = -1
    if tail >= 0:
        orders[8 * tail + O_NEXT] = slot
    else:
        levels[8 * idx + 4 * sd + L_HEAD] = slot
    levels[8 * idx + 4 * sd + L_TAIL] = slot
    levels[8 * idx + 4 * sd + L_SIZE] += orders[8 * slot + O_SIZE]
    levels[8 * idx + 4 * sd + L_COUNT] += 1
    if levels[8 * idx + 4 * sd + L_COUNT] == 1:
        meta[M_NLVL + sd] += 1
        best = meta[M_BEST + sd]
        if best < 0 or (idx > best if sd == 0 else idx < best):
            meta[M_BEST + sd] = idx


@kernel
def _unlink(
    meta: np.ndarray, orders: np.ndarray, levels: np.ndarray, sd: int, idx: int, slot: int
) -> None:
    """Take the slot out of its level's FIFO. O(1), plus the best-level scan when it empties."""
    p = orders[8 * slot + O_PREV]
    n = orders[8 * slot + O_NEXT]
    if p >= 0:
        orders[8 * p + O_NEXT] = n
    else:
        levels[8 * idx + 4 * sd + L_HEAD] = n
    if n >= 0:
        orders[8 * n + O_PREV] = p
    else:
        levels[8 * idx + 4 * sd + L_TAIL] = p
    levels[8 * idx + 4 * sd + L_SIZE] -= orders[8 * slot + O_SIZE]
    levels[8 * idx + 4 * sd + L_COUNT] -= 1
    if levels[8 * idx + 4 * sd + L_COUNT] == 0:
        meta[M_NLVL + sd] -= 1
        if meta[M_BEST + sd] == idx:
            _rescan_best(meta, levels, sd, idx)


@kernel
def _remove(
    meta: np.ndarray, orders: np.ndarray, htab: np.ndarray, levels: np.ndarray, slot: int
) -> None:
    sd = orders[8 * slot + O_SIDE]
    _unlink(meta, orders, levels, sd, orders[8 * slot + O_PRICE] - meta[M_BASE], slot)
    _hdelete(meta, htab, orders[8 * slot + O_ID])
    orders[8 * slot + O_SIDE] = -1
    orders[8 * slot + O_SIZE] = 0
    orders[8 * slot + O_PREV] = -1
    orders[8 * slot + O_NEXT] = meta[M_FREE]
    meta[M_FREE] = slot
    meta[M_NORD] -= 1
    meta[M_SLOT] |= S_REMOVED


@kernel
def _ladder_index(meta: np.ndarray, price: int) -> int:
    """Index of ``price`` in the ladder, or -1 after noting the price the ladder must cover."""
    idx = price - meta[M_BASE]
    if idx < 0 or idx >= meta[M_NLEV]:
        meta[M_NEED_PRICE] = price
        return -1
    return int(idx)


# ---- operations (shared by the per-event and the batch path) -------------------------------
@kernel
def op_add(
    meta: np.ndarray,
    orders: np.ndarray,
    htab: np.ndarray,
    levels: np.ndarray,
    oid: int,
    side: int,
    price: int,
    size: int,
    ts: int,
    seq: int,
) -> int:
    """Add at the back of the queue. O(1) expected."""
    if side != 0 and side != 1:
        return R_SIDE
    if size <= 0:
        return R_SIZE
    s = find(meta, htab, oid)
    if s >= 0:
        meta[M_SLOT] |= s + 1
        return R_DUPLICATE
    idx = _ladder_index(meta, price)
    if idx < 0:
        return NEED_LADDER
    slot = meta[M_FREE]
    if slot < 0:
        return NEED_SLOTS
    meta[M_FREE] = orders[8 * slot + O_NEXT]
    orders[8 * slot + O_ID] = oid
    orders[8 * slot + O_SIDE] = side
    orders[8 * slot + O_PRICE] = price
    orders[8 * slot + O_SIZE] = size
    orders[8 * slot + O_TS] = ts
    orders[8 * slot + O_SEQ] = seq
    _link_tail(meta, orders, levels, side, idx, slot)
    _hinsert(htab, meta[M_HSHIFT], oid, slot)
    meta[M_NORD] += 1
    meta[M_SLOT] |= slot + 1
    return OK


@kernel
def _reduce(
    meta: np.ndarray, orders: np.ndarray, htab: np.ndarray, levels: np.ndarray, slot: int, size: int
) -> None:
    if size == orders[8 * slot + O_SIZE]:
        _remove(meta, orders, htab, levels, slot)
    else:
        orders[8 * slot + O_SIZE] -= size
        sd = orders[8 * slot + O_SIDE]
        levels[8 * (orders[8 * slot + O_PRICE] - meta[M_BASE]) + 4 * sd + L_SIZE] -= size


@kernel
def op_cancel(
    meta: np.ndarray, orders: np.ndarray, htab: np.ndarray, levels: np.ndarray, oid: int, size: int
) -> int:
    """Remove ``size`` (CANCEL_ALL: everything); a partial cancel keeps priority. O(1)."""
    slot = find(meta, htab, oid)
    if slot < 0:
        return R_UNKNOWN
    meta[M_SLOT] |= slot + 1
    if size == CANCEL_ALL:
        size = orders[8 * slot + O_SIZE]
    elif size <= 0 or size > orders[8 * slot + O_SIZE]:
        return R_SIZE
    _reduce(meta, orders, htab, levels, slot, size)
    return OK


@kernel
def op_fill(
    meta: np.ndarray, orders: np.ndarray, htab: np.ndarray, levels: np.ndarray, oid: int, size: int
) -> int:
    """A resting order traded ``size``: reduce it like a partial cancel, count the volume."""
    slot = find(meta, htab, oid)
    if slot < 0:
        return R_UNKNOWN
    if size <= 0 or size > orders[8 * slot + O_SIZE]:
        return R_SIZE
    _reduce(meta, orders, htab, levels, slot, size)
    meta[M_TRADED] += size
    meta[M_FILLS] += 1
    return OK


@kernel
def op_modify(
    meta: np.ndarray,
    orders: np.ndarray,
    htab: np.ndarray,
    levels: np.ndarray,
    oid: int,
    price: int,
    size: int,
    ts: int,
    seq: int,
) -> int:
    """New price/size. Price change or size increase: back of the queue; decrease keeps it."""
    slot = find(meta, htab, oid)
    if slot < 0:
        return R_UNKNOWN
    meta[M_SLOT] |= slot + 1
    if size < 0:
        return R_SIZE
    if size == 0:
        _remove(meta, orders, htab, levels, slot)
        return OK
    sd = orders[8 * slot + O_SIDE]
    old_price = orders[8 * slot + O_PRICE]
    old_size = orders[8 * slot + O_SIZE]
    if price == old_price and size <= old_size:
        orders[8 * slot + O_SIZE] = size
        levels[8 * (price - meta[M_BASE]) + 4 * sd + L_SIZE] -= old_size - size
        return OK
    idx = _ladder_index(meta, price)
    if idx < 0:
        return NEED_LADDER
    _unlink(meta, orders, levels, sd, old_price - meta[M_BASE], slot)
    orders[8 * slot + O_PRICE] = price
    orders[8 * slot + O_SIZE] = size
    orders[8 * slot + O_TS] = ts
    orders[8 * slot + O_SEQ] = seq
    _link_tail(meta, orders, levels, sd, idx, slot)
    return OK


@kernel
def op_clear(meta: np.ndarray, orders: np.ndarray, htab: np.ndarray, levels: np.ndarray) -> None:
    """Empty the book. O(capacity): done on resets and snapshots only."""
    n = len(orders) // OCOLS
    for s in range(n):
        orders[8 * s + O_SIDE] = -1
        orders[8 * s + O_SIZE] = 0
        orders[8 * s + O_PREV] = -1
        orders[8 * s + O_NEXT] = s + 1
    if n:
        orders[8 * (n - 1) + O_NEXT] = -1
    meta[M_FREE] = 0 if n else -1
    htab[:] = 0
    for i in range(0, len(levels), LCOLS):
        levels[i + L_SIZE] = 0
        levels[i + L_COUNT] = 0
        levels[i + L_HEAD] = -1
        levels[i + L_TAIL] = -1
    meta[M_BEST] = -1
    meta[M_BEST + 1] = -1
    meta[M_NLVL] = 0
    meta[M_NLVL + 1] = 0
    meta[M_NORD] = 0


@kernel
def apply_record(
    meta: np.ndarray,
    orders: np.ndarray,
    htab: np.ndarray,
    levels: np.ndarray,
    action: int,
    side: int,
    price: int,
    size: int,
    oid: int,
    flags: int,
    ts: int,
    ts_recv: int,
    seq: int,
) -> int:
    """One MBO record with Databento's meaning; a snapshot after live records clears first.
    ``meta[M_SLOT]`` says what it did with the record's order (an F: nothing, no look-up)."""
    meta[M_SLOT] = 0
    if flags & F_SNAPSHOT:
        if meta[M_IN_SNAP] == 0:
            op_clear(meta, orders, htab, levels)
            meta[M_IN_SNAP] = 1
            meta[M_SLOT] = S_CLEARED
    else:
        meta[M_IN_SNAP] = 0
    if action == A_ADD:
        rc = op_add(meta, orders, htab, levels, oid, side, price, size, ts, seq)
    elif action == A_CANCEL:
        rc = op_cancel(meta, orders, htab, levels, oid, size)
    elif action == A_MODIFY:
        rc = op_modify(meta, orders, htab, levels, oid, price, size, ts, seq)
    elif action == A_FILL:
        # the book change comes as a following C/M; F only counts traded volume
        if size > 0:
            meta[M_TRADED] += size
            meta[M_FILLS] += 1
            rc = OK
        else:
            rc = R_SIZE
    elif action in (A_TRADE, A_NONE):
        rc = OK
    elif action == A_CLEAR:
        op_clear(meta, orders, htab, levels)
        meta[M_SLOT] = S_CLEARED
        rc = OK
    else:
        rc = R_ACTION
    if rc == OK:
        meta[M_LAST_SEQ] = seq
        meta[M_LAST_TS_EVENT] = ts
        meta[M_LAST_TS_RECV] = ts_recv
    elif rc < NEED_SLOTS:
        meta[M_REJ + rc] += 1
    return rc


@kernel
def _settle(meta: np.ndarray, rc: int, ts: int, seq: int) -> int:
    if rc == OK:
        meta[M_LAST_SEQ] = seq
        meta[M_LAST_TS_EVENT] = ts
    elif rc < NEED_SLOTS:
        meta[M_REJ + rc] += 1
    return rc


# ---- per-event entry points (one array argument each) -------------------------------------
_I = "int64"
_ST = "int64[::1]"


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, {_I}, {_I}, {_I}, {_I})")
def k_add(st: np.ndarray, oid: int, side: int, price: int, size: int, ts: int, seq: int) -> int:
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    rc = op_add(meta, orders, htab, levels, oid, side, price, size, ts, seq)
    return _settle(meta, rc, ts, seq)


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, {_I}, {_I})")
def k_cancel(st: np.ndarray, oid: int, size: int, ts: int, seq: int) -> int:
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    return _settle(meta, op_cancel(meta, orders, htab, levels, oid, size), ts, seq)


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, {_I}, {_I})")
def k_fill(st: np.ndarray, oid: int, size: int, ts: int, seq: int) -> int:
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    return _settle(meta, op_fill(meta, orders, htab, levels, oid, size), ts, seq)


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, {_I}, {_I}, {_I})")
def k_modify(st: np.ndarray, oid: int, price: int, size: int, ts: int, seq: int) -> int:
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    rc = op_modify(meta, orders, htab, levels, oid, price, size, ts, seq)
    return _settle(meta, rc, ts, seq)


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, {_I}, {_I}, {_I}, {_I}, {_I}, {_I}, {_I})")
def k_apply(
    st: np.ndarray,
    action: int,
    side: int,
    price: int,
    size: int,
    oid: int,
    flags: int,
    ts: int,
    ts_recv: int,
    seq: int,
) -> int:
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    return apply_record(
        meta, orders, htab, levels, action, side, price, size, oid, flags, ts, ts_recv, seq
    )


@eager_kernel(f"void({_ST})")
def k_clear(st: np.ndarray) -> None:
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    op_clear(meta, orders, htab, levels)


@eager_kernel(f"{_I}({_ST}, {_I})")
def k_find(st: np.ndarray, oid: int) -> int:
    meta, _orders, htab, _levels = views(st)
    return find(meta, htab, oid)


@eager_kernel(f"{_I}({_ST}, {_I})")
def k_size_ahead(st: np.ndarray, slot: int) -> int:
    """Total size queued ahead of ``slot`` at its level. O(orders ahead)."""
    _meta, orders, _htab, _levels = views(st)
    total = 0
    p = orders[8 * slot + O_PREV]
    while p >= 0:
        total += orders[8 * p + O_SIZE]
        p = orders[8 * p + O_PREV]
    return total


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, int64[::1])")
def k_level_orders(st: np.ndarray, sd: int, idx: int, out: np.ndarray) -> int:
    """Order ids (as int64 bits) of one level in FIFO order into ``out``; returns the count."""
    _meta, orders, _htab, levels = views(st)
    k = 0
    s = levels[8 * idx + 4 * sd + L_HEAD]
    while s >= 0:
        out[k] = orders[8 * s + O_ID]
        k += 1
        s = orders[8 * s + O_NEXT]
    return k


@kernel
def depth_into(meta: np.ndarray, levels: np.ndarray, n: int, out: np.ndarray, row: int) -> None:
    """Top ``n`` levels per side into out[0..5, row, :] (bid px/sz/ct, ask px/sz/ct)."""
    base = meta[M_BASE]
    for sd in range(2):
        i = meta[M_BEST + sd]
        left = min(n, meta[M_NLVL + sd])
        k = 0
        step = -1 if sd == 0 else 1
        while k < left:
            c = levels[8 * i + 4 * sd + L_COUNT]
            if c:
                out[3 * sd, row, k] = base + i
                out[3 * sd + 1, row, k] = levels[8 * i + 4 * sd + L_SIZE]
                out[3 * sd + 2, row, k] = c
                k += 1
            i += step
        while k < n:
            out[3 * sd, row, k] = NO_PRICE
            out[3 * sd + 1, row, k] = 0
            out[3 * sd + 2, row, k] = 0
            k += 1


@eager_kernel(f"void({_ST}, {_I}, int64[:, :, ::1])")
def k_depth(st: np.ndarray, n: int, out: np.ndarray) -> None:
    meta, _orders, _htab, levels = views(st)
    depth_into(meta, levels, n, out, 0)


# ---- batch ---------------------------------------------------------------------------------
@kernel
def k_batch(
    st: np.ndarray,
    ts_event: np.ndarray,
    ts_recv: np.ndarray,
    sequence: np.ndarray,
    order_id: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    action: np.ndarray,
    side: np.ndarray,
    flags: np.ndarray,
    force_reject: int,
    bstate: np.ndarray,
    depth_n: int,
    d_index: np.ndarray,
    d_ts: np.ndarray,
    d_levels: np.ndarray,
) -> int:
    """Replay records from ``bstate[B_POS]``; stop with a NEED_* code before a record that needs
    more room (nothing of it applied), so the caller can grow and resume. ``force_reject`` (a
    RejectReason) rejects the record at the resume position, for room that cannot be had."""
    meta, orders, htab, levels = views(st)
    meta[M_EPOCH] += 1
    start = bstate[B_POS]
    n = len(action)
    for i in range(start, n):
        f = int(np.int64(flags[i]))  # int64 in numba, an int for the type checker
        if i == start and force_reject:
            rc = force_reject
            meta[M_REJ + rc] += 1
        else:
            rc = apply_record(
                meta, orders, htab, levels, int(np.int64(action[i])), int(np.int64(side[i])),
                price[i], size[i], order_id[i], f, ts_event[i], ts_recv[i], sequence[i],
            )  # fmt: skip
        if rc >= NEED_SLOTS:
            bstate[B_POS] = i
            return rc
        if rc:
            bstate[B_REJ + rc] += 1
            if bstate[B_FIRST_REJ] < 0:
                bstate[B_FIRST_REJ] = i
        else:
            bstate[B_APPLIED] += 1
        if (f & F_LAST) and not (f & F_SNAPSHOT):
            b = bstate[B_BOUNDS]
            bb, ba = meta[M_BEST], meta[M_BEST + 1]
            if bb >= 0 and ba >= 0:
                if bb > ba:
                    bstate[B_CROSSED] += 1
                elif bb == ba:
                    bstate[B_LOCKED] += 1
            if depth_n > 0:
                d_index[b] = i
                d_ts[b] = ts_event[i]
                depth_into(meta, levels, depth_n, d_levels, b)
            bstate[B_BOUNDS] = b + 1
    bstate[B_POS] = n
    return OK


# ---- integrity -----------------------------------------------------------------------------
@eager_kernel(f"{_I}({_ST}, int64[::1])")
def k_check(st: np.ndarray, detail: np.ndarray) -> int:
    """Every invariant of the book; returns an I_* code (0 = sound), ``detail`` says where."""
    meta, orders, htab, levels = views(st)
    nslots = len(orders) // OCOLS
    nlev = len(levels) // (2 * LCOLS)
    base = meta[M_BASE]
    total = 0
    for sd in range(2):
        nonempty = 0
        best = -1
        for idx in range(nlev):
            cnt = 0
            size = 0
            prev = -1
            s = levels[8 * idx + 4 * sd + L_HEAD]
            while s >= 0:
                if cnt > nslots or orders[8 * s + O_PREV] != prev:
                    detail[0], detail[1], detail[2] = sd, base + idx, s
                    return I_LINK
                if (
                    orders[8 * s + O_SIDE] != sd
                    or orders[8 * s + O_PRICE] != base + idx
                    or orders[8 * s + O_SIZE] <= 0
                    or find(meta, htab, orders[8 * s + O_ID]) != s
                ):
                    detail[0], detail[1], detail[2] = sd, base + idx, s
                    return I_ORDER
                cnt += 1
                size += orders[8 * s + O_SIZE]
                prev = s
                s = orders[8 * s + O_NEXT]
            if levels[8 * idx + 4 * sd + L_TAIL] != prev:
                detail[0], detail[1], detail[2] = sd, base + idx, prev
                return I_LINK
            if (
                cnt != levels[8 * idx + 4 * sd + L_COUNT]
                or size != levels[8 * idx + 4 * sd + L_SIZE]
            ):
                detail[0], detail[1], detail[2] = sd, base + idx, cnt
                return I_LEVEL
            if cnt:
                nonempty += 1
                if sd == 0 or best < 0:
                    best = idx
            total += cnt
        if nonempty != meta[M_NLVL + sd]:
            detail[0], detail[1] = sd, nonempty
            return I_NLVL
        if best != meta[M_BEST + sd]:
            detail[0], detail[1] = sd, best
            return I_BEST
    if total != meta[M_NORD]:
        detail[0] = total
        return I_NORD
    used = 0
    for i in range(len(htab) // 2):
        if htab[2 * i + 1] != 0:
            used += 1
            s = htab[2 * i + 1] - 1
            if s >= nslots or orders[8 * s + O_ID] != htab[2 * i] or orders[8 * s + O_SIDE] < 0:
                detail[0] = i
                return I_HASH
    if used != total or 4 * used > len(htab):
        detail[0] = used
        return I_HASH
    free = 0
    s = meta[M_FREE]
    while s >= 0:
        if free > nslots or orders[8 * s + O_SIDE] != -1:
            detail[0] = s
            return I_FREE
        free += 1
        s = orders[8 * s + O_NEXT]
    if free + total != nslots:
        detail[0] = free
        return I_FREE
    return I_OK
