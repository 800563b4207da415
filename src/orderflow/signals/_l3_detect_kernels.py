"""Jitted kernels of the L3 detectors. Private: use :mod:`orderflow.signals.detectors_l3`.

One kernel, :func:`k_run`, feeds MBO records (an array of ``MBO_DTYPE``) group by group; the
live path calls it with one event group, the batch path with all of them, so both are one
implementation.

All state lives in ONE flat int64 buffer ``st`` (one array to pass per call); the header keeps
where each part starts and how big it is::

    [0, META)              header: layout, counters, windows, lifetimes, parameters
    orders  ocap * OCOLS   per-order records (O_*). Slots [0, H_NUSED) have been used; freed
                           ones chain via O_NEXT (O_SIDE = -1). A live slot sits in its
                           level's doubly linked list (O_PREV/O_NEXT).
    ohash   ohcap * 2      open addressing (linear probing): order id bits, slot + 1, of the
                           orders found by id ("orphans", O_BSLOT = -1)
    bmap    bcap           the L3 book's order slot -> slot + 1 here (see below)
    levels  lcap * LCOLS   one row per (side, price) ever seen: level size and order list,
                           iceberg chain (C_*, evidence lists capped at MAX_LISTED) and the
                           last full fill (F_*). Rows are only dropped all at once (CLEAR).
    lhash   lhcap          open addressing on (side, price): row + 1
    members mcap * 3       open addressing on (chain uid, order id): the ids of each chain;
                           entries of chains that were replaced are dropped when it grows
    pending pcap * 3       open addressing: used, order id, fill size not yet taken off the
                           order in this group; touched entries listed after it (pcap // 2)
    rings   4 * rcap * 2   per side, cancels and trades (ts, size) inside the ratio window

Finding a record's order. Fed alone (:func:`k_run` without book slots) every order is found
by its id in ``ohash``. The fused step's book stage has already found each record's order in
the book's own hash table and hands over, per record, what the book did with it
(``_l3_kernels.M_SLOT``: its book slot, whether the record freed it, whether the book was
emptied first). Then an order the book holds is "mirrored": O_BSLOT is its book slot and
``bmap`` leads from that slot to it, so no id is hashed again. An order the detectors keep but
the book does not (the book refused or dropped it where these rules keep it, a snapshot emptied
the book, the book changed outside the step: its ``M_EPOCH`` moved) is an orphan, found by id
in ``ohash`` as before. The slots' lifecycle is replayed in record order: an add mirrors its
order at the slot the book gave it (an orphan becomes mirrored again), a record that freed a
slot whose order stays here orphans it, so a slot freed and reused within one call is fine.
Which orders are known, and everything about them, is the same either way.

Before each record the kernel checks there is room for everything the record could need; if
not it returns a ``NEED_*`` code with nothing of that record applied, the Python wrapper grows
the buffer (:func:`k_migrate`) or the output and calls again, and the kernel resumes there.
Fired signals are written as rows of ``out`` (K_* kinds, OUT_* columns) for Python to dress.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from orderflow.book._jit import eager_kernel, inline_kernel, kernel
from orderflow.model.dtypes import MBO_DTYPE

# The small helpers every record passes through (hashing and probes, the pending fills, the room
# check, the windows, emitting a row) are inlined into their callers (numba IR inlining); called,
# each took the state buffer's struct: on ESH4 the batch measured 12-15% less CPU time inlined.
# The larger ones stay calls, which keeps the compile time where it was (about 22 s, cold).

# ---- header --------------------------------------------------------------------------------
META = 96
H_OOFF, H_OCAP, H_OHOFF, H_OHCAP, H_OHSHIFT = 0, 1, 2, 3, 4
H_LOFF, H_LCAP, H_LHOFF, H_LHCAP, H_LHSHIFT = 5, 6, 7, 8, 9
H_MOFF, H_MCAP, H_MSHIFT = 10, 11, 12
H_POFF, H_PCAP, H_PSHIFT, H_TOFF = 13, 14, 15, 16
H_ROFF, H_RCAP = 17, 18
H_BOFF, H_BCAP = 19, 20
LAYOUT_END = 24  # [0, LAYOUT_END) is rewritten on growth, the rest is carried over
H_NORD, H_FREE, H_NLEV, H_NMEM, H_NPEN, H_UID = 24, 25, 26, 27, 28, 29
H_NOUT, H_POS_G, H_POS_I, H_NUSED = 30, 31, 32, 35
H_BEST = 33  # 33 best bid, 34 best ask (NO_PRICE when unknown) of the current group
H_RHEAD = 36  # 36..39 ring heads, ring = 2 * side + kind (kind 0 cancels, 1 trades)
H_RCNT = 40  # 40..43 ring lengths
H_SUMS = 44  # 44..47 size inside the window, same index as the rings
H_LIFE = 48  # 48..59 lifetime buckets: 6 * kind (0 cancelled, 1 filled) + bucket
P_MIN_REFILLS, P_REFILL_WINDOW, P_SAME_SIZE, P_CHAIN_GAP = 64, 65, 66, 67
P_LARGE_MIN, P_NEAR, P_SPOOF_MIN, P_SPOOF_LIFE, P_CTR_WINDOW = 68, 69, 70, 71, 72
H_NORPH = 73  # orders in ohash (all of them when fed without book slots)
H_EPOCH = 74  # the book's M_EPOCH the mirrored orders refer to
H_BNEED = 75  # the bmap size a NEED_BMAP asks for

# ---- per-order columns ---------------------------------------------------------------------
O_ID, O_SIDE, O_PRICE, O_SIZE, O_SHOWN, O_TS, O_FILLED, O_LARGE, O_LEV, O_PREV, O_NEXT = range(11)
O_BSLOT = 11  # the book slot a mirrored order sits at; -1: an orphan (or a free slot)
OCOLS = 12

# ---- per-level columns ---------------------------------------------------------------------
MAX_LISTED = 20
V_SIDE, V_PRICE, V_SIZE, V_COUNT, V_HEAD = 0, 1, 2, 3, 4
C_UID, C_REFILLS, C_EXEC, C_FIRST, C_LAST, C_SAME, C_NSHOWN, C_NIDS = 5, 6, 7, 8, 9, 10, 11, 12
F_HAS, F_TS, F_SHOWN, F_OID, F_FILLED = 13, 14, 15, 16, 17
C_SHOWN = 18  # 18..37
C_IDS = C_SHOWN + MAX_LISTED  # 38..57
LCOLS = C_IDS + MAX_LISTED

# ---- output rows ---------------------------------------------------------------------------
K_ICEBERG, K_ADDED, K_REMOVED, K_SPOOF = 1, 2, 3, 4
OUT_KIND, OUT_TS, OUT_SIDE, OUT_PRICE, OUT_OID, OUT_SIZE = range(6)
# iceberg: refills, executed, same id, first ts, count of shown sizes, count of order ids, lists
OUT_REFILLS, OUT_EXEC, OUT_SAME, OUT_FIRST, OUT_NSHOWN, OUT_NIDS = 6, 7, 8, 9, 10, 11
OUT_SHOWN = 12
OUT_IDS = OUT_SHOWN + MAX_LISTED
OUTCOLS = OUT_IDS + MAX_LISTED
# large_lot_added: level size, largest at the level, ticks from the touch
OUT_LEVEL, OUT_LARGEST, OUT_ADD_DIST = 6, 7, 8
# large_lot_removed: how (0 cancelled, 1 filled), filled, time added (-1 unknown), distance
OUT_HOW, OUT_FILLED, OUT_TS_ADD, OUT_REM_DIST = 6, 7, 8, 9
# spoof_pull: lifetime, distance, cancelled and traded in the window
OUT_LIFE, OUT_SPOOF_DIST, OUT_CANCELLED, OUT_TRADED = 6, 7, 8, 9

# ---- codes ---------------------------------------------------------------------------------
OK = 0
NEED_ORDERS, NEED_LEVELS, NEED_MEMBERS, NEED_PENDING, NEED_RING, NEED_OUT = 1, 2, 3, 4, 5, 6
NEED_BMAP = 7
# the book stage's per-record word (orderflow.book._l3_kernels: M_SLOT, S_REMOVED, S_CLEARED)
S_SLOT_MASK = (1 << 32) - 1
S_REMOVED = 1 << 32
S_CLEARED = 1 << 33
A_ADD, A_CANCEL, A_MODIFY, A_CLEAR, A_FILL = 1, 2, 3, 4, 6
F_LAST = 0x80
F_SNAPSHOT = 0x20
NO_PRICE = np.iinfo(np.int64).min
LIFETIME_EDGES_NS = (1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_TWO = np.uint64(2)


# ---- hashing -------------------------------------------------------------------------------
@inline_kernel
def _hpos(key: np.uint64, shift: int) -> np.int64:
    return np.int64((key * _GOLDEN) >> np.uint64(shift))


@inline_kernel
def _lkey(side: int, price: int) -> np.uint64:
    return np.uint64(price) * _TWO + np.uint64(side)


@inline_kernel
def _mkey(uid: int, oid: int) -> np.uint64:
    return np.uint64(oid) ^ (np.uint64(uid) * _MIX)


# ---- orders: id -> slot --------------------------------------------------------------------
@inline_kernel
def o_find(st: np.ndarray, oid: int) -> int:
    """Slot of the order, or -1. O(1) expected (load factor <= 1/2)."""
    h = st[H_OHOFF]
    mask = st[H_OHCAP] - 1
    i = _hpos(np.uint64(oid), st[H_OHSHIFT])
    while True:
        s = st[h + 2 * i + 1]
        if s == 0:
            return -1
        if st[h + 2 * i] == oid:
            return int(s - 1)
        i = (i + 1) & mask


@kernel
def _o_hinsert(st: np.ndarray, h: int, cap: int, shift: int, oid: int, slot: int) -> None:
    mask = cap - 1
    i = _hpos(np.uint64(oid), shift)
    while st[h + 2 * i + 1] != 0:
        i = (i + 1) & mask
    st[h + 2 * i] = oid
    st[h + 2 * i + 1] = slot + 1


@kernel
def _o_hdelete(st: np.ndarray, oid: int) -> None:
    """Remove a present key; backward-shift deletion keeps probe chains without tombstones."""
    h = st[H_OHOFF]
    mask = st[H_OHCAP] - 1
    shift = st[H_OHSHIFT]
    i = _hpos(np.uint64(oid), shift)
    while st[h + 2 * i] != oid or st[h + 2 * i + 1] == 0:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        if st[h + 2 * j + 1] == 0:
            break
        k = _hpos(np.uint64(st[h + 2 * j]), shift)
        # entry j may fill the hole at i only if its home k is not cyclically in (i, j]
        if i <= j:
            if i < k <= j:
                continue
        elif k > i or k <= j:
            continue
        st[h + 2 * i] = st[h + 2 * j]
        st[h + 2 * i + 1] = st[h + 2 * j + 1]
        i = j
    st[h + 2 * i] = 0
    st[h + 2 * i + 1] = 0


@inline_kernel
def _find(st: np.ndarray, oid: int, b: int) -> int:
    """Slot of the order whose book slot is ``b`` (-1: none, or fed without book slots), or -1.
    O(1); hashes the id only while there are orphans."""
    if b >= 0:
        s = st[st[H_BOFF] + b] - 1
        if s >= 0:
            o = st[H_OOFF] + OCOLS * s
            if st[o + O_BSLOT] == b and st[o + O_ID] == oid:
                return int(s)
    if st[H_NORPH] == 0:
        return -1
    return o_find(st, oid)


@kernel
def _mirror(st: np.ndarray, slot: int, b: int) -> None:
    """The order at ``slot`` is at book slot ``b`` (-1: not in the book: an orphan)."""
    o = st[H_OOFF] + OCOLS * slot
    was = st[o + O_BSLOT]
    if was == b:
        return
    if b >= 0:
        if was == -1:
            _o_hdelete(st, st[o + O_ID])
            st[H_NORPH] -= 1
        st[st[H_BOFF] + b] = slot + 1
    else:
        _o_hinsert(st, st[H_OHOFF], st[H_OHCAP], st[H_OHSHIFT], st[o + O_ID], slot)
        st[H_NORPH] += 1
    st[o + O_BSLOT] = b


@kernel
def _orphan_all(st: np.ndarray) -> None:
    """Every mirrored order becomes an orphan (the book's slots no longer hold them). O(slots)."""
    oo = st[H_OOFF]
    for s in range(st[H_NUSED]):
        o = oo + OCOLS * s
        if st[o + O_SIDE] >= 0 and st[o + O_BSLOT] >= 0:
            _mirror(st, s, -1)


@kernel
def _o_new(st: np.ndarray, oid: int, b: int) -> int:
    """A slot for a new order (mirrored at book slot ``b``, an orphan when -1): a freed one,
    else the next never used (room was checked)."""
    slot = st[H_FREE]
    if slot >= 0:
        st[H_FREE] = st[st[H_OOFF] + OCOLS * slot + O_NEXT]
    else:
        slot = st[H_NUSED]
        st[H_NUSED] = slot + 1
    o = st[H_OOFF] + OCOLS * slot
    st[o + O_ID] = oid
    st[o + O_BSLOT] = b
    if b >= 0:
        st[st[H_BOFF] + b] = slot + 1
    else:
        _o_hinsert(st, st[H_OHOFF], st[H_OHCAP], st[H_OHSHIFT], oid, slot)
        st[H_NORPH] += 1
    st[H_NORD] += 1
    return int(slot)


@kernel
def _o_delete(st: np.ndarray, slot: int) -> None:
    """Forget an order that already left its level. O(1) expected."""
    o = st[H_OOFF] + OCOLS * slot
    if st[o + O_BSLOT] < 0:
        _o_hdelete(st, st[o + O_ID])
        st[H_NORPH] -= 1
    st[o + O_BSLOT] = -1
    st[o + O_SIDE] = -1
    st[o + O_PREV] = -1
    st[o + O_NEXT] = st[H_FREE]
    st[H_FREE] = slot
    st[H_NORD] -= 1


# ---- levels: (side, price) -> row ----------------------------------------------------------
@inline_kernel
def lev_find(st: np.ndarray, side: int, price: int) -> int:
    """Row of the (side, price) level, or -1. O(1) expected."""
    h = st[H_LHOFF]
    lo = st[H_LOFF]
    mask = st[H_LHCAP] - 1
    i = _hpos(_lkey(side, price), st[H_LHSHIFT])
    while True:
        s = st[h + i]
        if s == 0:
            return -1
        r = lo + LCOLS * (s - 1)
        if st[r + V_PRICE] == price and st[r + V_SIDE] == side:
            return int(s - 1)
        i = (i + 1) & mask


@kernel
def _lev_hinsert(
    st: np.ndarray, h: int, cap: int, shift: int, side: int, price: int, row: int
) -> None:
    mask = cap - 1
    i = _hpos(_lkey(side, price), shift)
    while st[h + i] != 0:
        i = (i + 1) & mask
    st[h + i] = row + 1


@kernel
def _lev_get(st: np.ndarray, side: int, price: int) -> int:
    """Row of the level, made (empty, no chain, no full fill) when new; room was checked."""
    row = lev_find(st, side, price)
    if row >= 0:
        return row
    row = st[H_NLEV]
    st[H_NLEV] = row + 1
    r = st[H_LOFF] + LCOLS * row
    st[r : r + LCOLS] = 0
    st[r + V_SIDE] = side
    st[r + V_PRICE] = price
    st[r + V_HEAD] = -1
    _lev_hinsert(st, st[H_LHOFF], st[H_LHCAP], st[H_LHSHIFT], side, price, row)
    return int(row)


@kernel
def _join(st: np.ndarray, slot: int) -> None:
    """Put the order into the level of its side and price. O(1) expected."""
    oo = st[H_OOFF]
    o = oo + OCOLS * slot
    row = _lev_get(st, st[o + O_SIDE], st[o + O_PRICE])
    r = st[H_LOFF] + LCOLS * row
    head = st[r + V_HEAD]
    st[o + O_LEV] = row
    st[o + O_PREV] = -1
    st[o + O_NEXT] = head
    if head >= 0:
        st[oo + OCOLS * head + O_PREV] = slot
    st[r + V_HEAD] = slot
    st[r + V_SIZE] += st[o + O_SIZE]
    st[r + V_COUNT] += 1


@kernel
def _leave(st: np.ndarray, slot: int) -> None:
    """Take the order out of its level. O(1)."""
    oo = st[H_OOFF]
    o = oo + OCOLS * slot
    r = st[H_LOFF] + LCOLS * st[o + O_LEV]
    p = st[o + O_PREV]
    n = st[o + O_NEXT]
    if p >= 0:
        st[oo + OCOLS * p + O_NEXT] = n
    else:
        st[r + V_HEAD] = n
    if n >= 0:
        st[oo + OCOLS * n + O_PREV] = p
    st[r + V_SIZE] -= st[o + O_SIZE]
    st[r + V_COUNT] -= 1


@kernel
def _resize(st: np.ndarray, slot: int, size: int) -> None:
    """New size at the same level (what leaving and joining again would do). O(1)."""
    o = st[H_OOFF] + OCOLS * slot
    r = st[H_LOFF] + LCOLS * st[o + O_LEV]
    st[r + V_SIZE] += size - st[o + O_SIZE]
    st[o + O_SIZE] = size


@kernel
def largest_slot(st: np.ndarray, row: int) -> int:
    """Slot of the largest order of the level (ties: earlier birth, then lower id), or -1.
    O(orders at the level)."""
    oo = st[H_OOFF]
    best = -1
    bsize = 0
    bts = 0
    bid = np.uint64(0)
    s = st[st[H_LOFF] + LCOLS * row + V_HEAD]
    while s >= 0:
        o = oo + OCOLS * s
        size = st[o + O_SIZE]
        ts = st[o + O_TS]
        oid = np.uint64(st[o + O_ID])
        if best < 0 or size > bsize or (size == bsize and (ts < bts or (ts == bts and oid < bid))):
            best, bsize, bts, bid = s, size, ts, oid
        s = st[o + O_NEXT]
    return best


# ---- chain members: (chain uid, order id) --------------------------------------------------
@kernel
def _mem_pos(st: np.ndarray, uid: int, oid: int) -> int:
    """Index of the entry, or of the empty entry where it would go (then st[..] == 0)."""
    m = st[H_MOFF]
    mask = st[H_MCAP] - 1
    i = _hpos(_mkey(uid, oid), st[H_MSHIFT])
    while True:
        u = st[m + 3 * i]
        if u == 0 or (u == uid and st[m + 3 * i + 1] == oid):
            return int(i)
        i = (i + 1) & mask


@kernel
def _mem_has(st: np.ndarray, uid: int, oid: int) -> bool:
    return bool(st[st[H_MOFF] + 3 * _mem_pos(st, uid, oid)] != 0)


@kernel
def _mem_add(st: np.ndarray, uid: int, oid: int, row: int) -> None:
    e = st[H_MOFF] + 3 * _mem_pos(st, uid, oid)
    if st[e] == 0:
        st[e] = uid
        st[e + 1] = oid
        st[e + 2] = row
        st[H_NMEM] += 1


# ---- fills not yet taken off their order (this group) --------------------------------------
@inline_kernel
def _pen_pos(st: np.ndarray, oid: int) -> int:
    p = st[H_POFF]
    mask = st[H_PCAP] - 1
    i = _hpos(np.uint64(oid), st[H_PSHIFT])
    while True:
        if st[p + 3 * i] == 0 or st[p + 3 * i + 1] == oid:
            return int(i)
        i = (i + 1) & mask


@inline_kernel
def _pen_get(st: np.ndarray, oid: int) -> int:
    e = st[H_POFF] + 3 * _pen_pos(st, oid)
    return st[e + 2] if st[e] != 0 else 0


@inline_kernel
def _pen_set(st: np.ndarray, oid: int, value: int) -> None:
    i = _pen_pos(st, oid)
    e = st[H_POFF] + 3 * i
    if st[e] == 0:
        st[e] = 1
        st[e + 1] = oid
        st[st[H_TOFF] + st[H_NPEN]] = i
        st[H_NPEN] += 1
    st[e + 2] = value


@inline_kernel
def _pen_clear(st: np.ndarray) -> None:
    p = st[H_POFF]
    t = st[H_TOFF]
    for k in range(st[H_NPEN]):
        e = p + 3 * st[t + k]
        st[e] = 0
        st[e + 1] = 0
        st[e + 2] = 0
    st[H_NPEN] = 0


# ---- cancel-to-trade window, lifetimes -----------------------------------------------------
@inline_kernel
def _window(st: np.ndarray, side: int, ts: int) -> None:
    """Drop what fell out of the ratio window on ``side`` (both kinds). O(dropped)."""
    horizon = ts - st[P_CTR_WINDOW]
    cap = st[H_RCAP]
    mask = cap - 1
    for kind in range(2):
        r = 2 * side + kind
        base = st[H_ROFF] + 2 * cap * r
        head = st[H_RHEAD + r]
        n = st[H_RCNT + r]
        while n > 0 and st[base + 2 * head] < horizon:
            st[H_SUMS + r] -= st[base + 2 * head + 1]
            head = (head + 1) & mask
            n -= 1
        st[H_RHEAD + r] = head
        st[H_RCNT + r] = n


@inline_kernel
def _count(st: np.ndarray, side: int, kind: int, ts: int, size: int) -> None:
    """Window, then note ``size`` cancelled (kind 0) or traded (kind 1) on ``side``."""
    _window(st, side, ts)
    cap = st[H_RCAP]
    r = 2 * side + kind
    j = (st[H_RHEAD + r] + st[H_RCNT + r]) & (cap - 1)
    e = st[H_ROFF] + 2 * cap * r + 2 * j
    st[e] = ts
    st[e + 1] = size
    st[H_RCNT + r] += 1
    st[H_SUMS + r] += size


@inline_kernel
def _note_lifetime(st: np.ndarray, kind: int, ts_add: int, ts: int) -> int:
    if ts_add < 0:
        return -1
    life = ts - ts_add
    b = 0
    for e in LIFETIME_EDGES_NS:
        if life > e:
            b += 1
    st[H_LIFE + 6 * kind + b] += 1
    return life


@inline_kernel
def _near(st: np.ndarray, side: int, price: int) -> tuple[bool, int]:
    """(near, ticks behind the touch of ``side``): near when the touch is known and the price
    is at most ``near_ticks`` behind it (better than the touch counts)."""
    best = st[H_BEST + side]
    if best == NO_PRICE:
        return False, 0
    d = best - price if side == 0 else price - best
    return d <= st[P_NEAR], d


@inline_kernel
def _emit(
    st: np.ndarray, out: np.ndarray, kind: int, ts: int, side: int, price: int, oid: int, size: int
) -> int:
    k = st[H_NOUT]
    st[H_NOUT] = k + 1
    out[k, OUT_KIND] = kind
    out[k, OUT_TS] = ts
    out[k, OUT_SIDE] = side
    out[k, OUT_PRICE] = price
    out[k, OUT_OID] = oid
    out[k, OUT_SIZE] = size
    return int(k)


# ---- detectors -----------------------------------------------------------------------------
@kernel
def _refill(
    st: np.ndarray,
    out: np.ndarray,
    ts: int,
    row: int,
    side: int,
    price: int,
    shown: int,
    oid: int,
    same_id: bool,
    filled: int,
    prev: bool,
    p_oid: int,
    p_filled: int,
) -> None:
    """A tranche shown again at the level ``row``: by the same order (``prev`` False; ``filled``
    is its fills so far) or by a new order after the full fill of ``p_oid``."""
    r = st[H_LOFF] + LCOLS * row
    uid = st[r + C_UID]
    if uid == 0 or ts - st[r + C_LAST] > st[P_CHAIN_GAP]:
        uid = st[H_UID]
        st[H_UID] = uid + 1
        st[r + C_UID] = uid
        st[r + C_REFILLS] = 0
        # the fills that used up the first tranche belong to the chain
        st[r + C_EXEC] = p_filled if prev else filled
        st[r + C_FIRST] = ts
        st[r + C_LAST] = ts
        st[r + C_SAME] = 1
        st[r + C_NSHOWN] = 0
        st[r + C_NIDS] = 0
    if prev and not _mem_has(st, uid, p_oid):
        if st[r + C_REFILLS]:  # (a new chain took the first tranche's fills above)
            st[r + C_EXEC] += p_filled
        _mem_add(st, uid, p_oid, row)
        if st[r + C_NIDS] < MAX_LISTED:
            st[r + C_IDS + st[r + C_NIDS]] = p_oid
            st[r + C_NIDS] += 1
    _mem_add(st, uid, oid, row)
    st[r + C_REFILLS] += 1
    st[r + C_LAST] = ts
    if not same_id:
        st[r + C_SAME] = 0
    if st[r + C_NSHOWN] < MAX_LISTED:
        st[r + C_SHOWN + st[r + C_NSHOWN]] = shown
        st[r + C_NSHOWN] += 1
    nids = st[r + C_NIDS]
    listed = False
    for k in range(nids):
        if st[r + C_IDS + k] == oid:
            listed = True
            break
    if not listed and nids < MAX_LISTED:
        st[r + C_IDS + nids] = oid
        st[r + C_NIDS] = nids + 1
    if st[r + C_REFILLS] < st[P_MIN_REFILLS]:
        return
    k = _emit(st, out, K_ICEBERG, ts, side, price, oid, shown)
    out[k, OUT_REFILLS] = st[r + C_REFILLS]
    out[k, OUT_EXEC] = st[r + C_EXEC]
    out[k, OUT_SAME] = st[r + C_SAME]
    out[k, OUT_FIRST] = st[r + C_FIRST]
    out[k, OUT_NSHOWN] = st[r + C_NSHOWN]
    out[k, OUT_NIDS] = st[r + C_NIDS]
    for j in range(MAX_LISTED):
        out[k, OUT_SHOWN + j] = st[r + C_SHOWN + j]
        out[k, OUT_IDS + j] = st[r + C_IDS + j]


@kernel
def _check_large(st: np.ndarray, out: np.ndarray, share: float, ts: int, slot: int) -> None:
    o = st[H_OOFF] + OCOLS * slot
    size = st[o + O_SIZE]
    if st[o + O_LARGE] or size < st[P_LARGE_MIN]:
        return
    side = st[o + O_SIDE]
    price = st[o + O_PRICE]
    row = st[o + O_LEV]
    level = st[st[H_LOFF] + LCOLS * row + V_SIZE]
    near, dist = _near(st, side, price)
    if size / level < share or not near:
        return
    st[o + O_LARGE] = 1
    k = _emit(st, out, K_ADDED, ts, side, price, st[o + O_ID], size)
    out[k, OUT_LEVEL] = level
    out[k, OUT_LARGEST] = 1 if largest_slot(st, row) == slot else 0
    out[k, OUT_ADD_DIST] = dist


@kernel
def _large_removed(
    st: np.ndarray,
    out: np.ndarray,
    ts: int,
    oid: int,
    side: int,
    price: int,
    size: int,
    filled: int,
    ts_add: int,
    how: int,
) -> None:
    near, dist = _near(st, side, price)
    if not near:
        return
    k = _emit(st, out, K_REMOVED, ts, side, price, oid, size)
    out[k, OUT_HOW] = how
    out[k, OUT_FILLED] = filled
    out[k, OUT_TS_ADD] = ts_add
    out[k, OUT_REM_DIST] = dist


@kernel
def _check_spoof(
    st: np.ndarray, out: np.ndarray, ts: int, oid: int, side: int, price: int, size: int, life: int
) -> None:
    if life < 0 or life > st[P_SPOOF_LIFE] or size < st[P_SPOOF_MIN]:
        return
    near, dist = _near(st, side, price)
    if not near:
        return
    k = _emit(st, out, K_SPOOF, ts, side, price, oid, size)
    out[k, OUT_LIFE] = life
    out[k, OUT_SPOOF_DIST] = dist
    out[k, OUT_CANCELLED] = st[H_SUMS + 2 * side]
    out[k, OUT_TRADED] = st[H_SUMS + 2 * side + 1]


@kernel
def _gone(st: np.ndarray, out: np.ndarray, ts: int, slot: int, by_fill: bool, size: int) -> None:
    """The order at ``slot`` left whole (it already left its level): by fills (a refill may
    follow at the same price) or by a cancel of ``size``."""
    o = st[H_OOFF] + OCOLS * slot
    oid = st[o + O_ID]
    side = st[o + O_SIDE]
    price = st[o + O_PRICE]
    shown = st[o + O_SHOWN]
    filled = st[o + O_FILLED]
    ts_add = st[o + O_TS]
    large = st[o + O_LARGE]
    row = st[o + O_LEV]
    removed = max(shown, st[o + O_SIZE])
    _o_delete(st, slot)
    if by_fill:
        r = st[H_LOFF] + LCOLS * row
        st[r + F_HAS] = 1
        st[r + F_TS] = ts
        st[r + F_SHOWN] = shown
        st[r + F_OID] = oid
        st[r + F_FILLED] = filled
        _note_lifetime(st, 1, ts_add, ts)
        if large:
            _large_removed(st, out, ts, oid, side, price, removed, filled, ts_add, 1)
        return
    _count(st, side, 0, ts, size)
    life = _note_lifetime(st, 0, ts_add, ts)
    if large:
        _large_removed(st, out, ts, oid, side, price, removed, filled, ts_add, 0)
    if filled == 0:
        _check_spoof(st, out, ts, oid, side, price, size, life)


# ---- actions -------------------------------------------------------------------------------
@kernel
def _add(
    st: np.ndarray,
    out: np.ndarray,
    share: float,
    ts: int,
    oid: int,
    side: int,
    price: int,
    size: int,
    flags: int,
    slot: int,
    b: int,
) -> None:
    """``slot``: the order's slot here (-1: a new one), ``b`` its book slot (-1: none)."""
    if (side != 0 and side != 1) or size <= 0:
        return
    snap = (flags & F_SNAPSHOT) != 0
    if slot >= 0:  # the same id again: the old order is replaced
        _leave(st, slot)
        if st[st[H_OOFF] + OCOLS * slot + O_BSLOT] != b:
            _mirror(st, slot, b)
    else:
        slot = _o_new(st, oid, b)
    o = st[H_OOFF] + OCOLS * slot
    st[o + O_SIDE] = side
    st[o + O_PRICE] = price
    st[o + O_SIZE] = size
    st[o + O_SHOWN] = size
    st[o + O_TS] = -1 if snap else ts
    st[o + O_FILLED] = 0
    st[o + O_LARGE] = 0
    _join(st, slot)
    if snap:
        return
    row = st[o + O_LEV]
    r = st[H_LOFF] + LCOLS * row
    if (
        st[r + F_HAS]
        and ts - st[r + F_TS] <= st[P_REFILL_WINDOW]
        and (size == st[r + F_SHOWN] or not st[P_SAME_SIZE])
    ):
        st[r + F_HAS] = 0
        p_oid = st[r + F_OID]
        _refill(st, out, ts, row, side, price, size, oid, p_oid == oid, 0, True, p_oid,
                st[r + F_FILLED])  # fmt: skip
    _check_large(st, out, share, ts, slot)


@kernel
def _fill(st: np.ndarray, ts: int, oid: int, size: int, side: int, slot: int) -> None:
    if size <= 0:
        return
    if slot < 0:  # an order we never saw: its fill still counts as traded on its side
        if side == 0 or side == 1:
            _count(st, side, 1, ts, size)
        return
    o = st[H_OOFF] + OCOLS * slot
    st[o + O_FILLED] += size
    _pen_set(st, oid, _pen_get(st, oid) + size)
    r = st[H_LOFF] + LCOLS * st[o + O_LEV]
    uid = st[r + C_UID]
    if uid != 0 and _mem_has(st, uid, oid):
        st[r + C_EXEC] += size
    _count(st, st[o + O_SIDE], 1, ts, size)


@kernel
def _cancel(st: np.ndarray, out: np.ndarray, ts: int, oid: int, size: int, slot: int) -> None:
    if slot < 0:
        return
    o = st[H_OOFF] + OCOLS * slot
    osize = st[o + O_SIZE]
    take = min(size, osize) if size > 0 else osize
    pending = _pen_get(st, oid)
    by_fill = min(take, pending)
    if by_fill:
        _pen_set(st, oid, pending - by_fill)
    if take < osize:  # partial
        _resize(st, slot, osize - take)
        if take > by_fill:
            _count(st, st[o + O_SIDE], 0, ts, take - by_fill)
        return
    _leave(st, slot)
    _gone(st, out, ts, slot, by_fill != 0, take)


@kernel
def _modify(
    st: np.ndarray,
    out: np.ndarray,
    share: float,
    ts: int,
    oid: int,
    price: int,
    size: int,
    slot: int,
) -> None:
    if slot < 0:
        return
    o = st[H_OOFF] + OCOLS * slot
    pending = _pen_get(st, oid)
    if pending:
        _pen_set(st, oid, 0)
    if size <= 0:
        if pending:
            _leave(st, slot)
            _gone(st, out, ts, slot, True, 0)
        else:
            _cancel(st, out, ts, oid, st[o + O_SIZE], slot)
        return
    osize = st[o + O_SIZE]
    oprice = st[o + O_PRICE]
    side = st[o + O_SIDE]
    # fills used up the shown size and the same order is shown again at the same price
    refill = 0 < osize <= pending and price == oprice
    if not pending and size < osize and price == oprice:
        _count(st, side, 0, ts, osize - size)
    if refill or price != oprice or size > st[o + O_SHOWN]:
        st[o + O_SHOWN] = size
    if price == oprice:
        _resize(st, slot, size)
    else:
        _leave(st, slot)
        st[o + O_PRICE] = price
        st[o + O_SIZE] = size
        _join(st, slot)
    if refill:
        _refill(st, out, ts, st[o + O_LEV], side, price, size, oid, True, st[o + O_FILLED],
                False, 0, 0)  # fmt: skip
    _check_large(st, out, share, ts, slot)


@kernel
def _clear(st: np.ndarray) -> None:
    """Forget every order, level, chain and full fill. O(hash capacities)."""
    h = st[H_BOFF]
    st[h : h + st[H_BCAP]] = 0  # (no book slot leads to a forgotten one)
    st[H_NORPH] = 0
    st[H_FREE] = -1
    st[H_NUSED] = 0
    st[H_NORD] = 0
    h = st[H_OHOFF]
    st[h : h + 2 * st[H_OHCAP]] = 0
    st[H_NLEV] = 0
    h = st[H_LHOFF]
    st[h : h + st[H_LHCAP]] = 0


@inline_kernel
def _room(st: np.ndarray, out: np.ndarray, b: int) -> int:
    """0 when every part has room for what one record can need (``b``: its book slot), else
    the NEED_* code."""
    if b >= st[H_BCAP]:
        st[H_BNEED] = b + 1
        return NEED_BMAP
    if st[H_FREE] < 0 and st[H_NUSED] >= st[H_OCAP]:
        return NEED_ORDERS
    if st[H_NLEV] >= st[H_LCAP]:
        return NEED_LEVELS
    if 2 * (st[H_NMEM] + 2) > st[H_MCAP]:
        return NEED_MEMBERS
    if 2 * (st[H_NPEN] + 1) > st[H_PCAP]:
        return NEED_PENDING
    for r in range(4):
        if st[H_RCNT + r] >= st[H_RCAP]:
            return NEED_RING
    if st[H_NOUT] + 2 > out.shape[0]:
        return NEED_OUT
    return OK


# ---- entry points --------------------------------------------------------------------------
_I = "int64"
_ST = "int64[::1]"
_REC = types.Array(numba.from_dtype(MBO_DTYPE), 1, "C")  # MBO records, C-contiguous
_I8 = types.int64
_I8S = types.Array(_I8, 1, "C")


@eager_kernel(_I8(_I8S, _REC, _I8S, _I8S, _I8S, types.Array(_I8, 2, "C"), types.float64, _I8S, _I8))
def k_run(
    st: np.ndarray,
    rec: np.ndarray,
    ends: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    out: np.ndarray,
    share: float,
    slots: np.ndarray,
    epoch: int,
) -> int:
    """Feed the MBO records ``rec`` group by group: group g is ``rec[ends[g - 1]:ends[g]]``
    with best bid/ask ``bid[g]``/``ask[g]`` before it. ``slots`` (empty: none) is the book
    stage's word per record (``_l3_kernels.M_SLOT``) from the book whose ``M_EPOCH`` is
    ``epoch``. Returns OK, or a NEED_* code before a record that needs more room (nothing of
    it applied): the position is kept and the next call resumes there. ``st[H_NOUT]`` rows of
    ``out`` are the signals of the call (and its resumptions)."""
    g = st[H_POS_G]
    i = st[H_POS_I]
    if g < 0:  # a new call, not a resumption
        g = 0
        i = 0
        st[H_NOUT] = 0
    use = len(slots) > 0
    if use:
        if st[H_EPOCH] != epoch:  # another book, or this one changed outside the step
            _orphan_all(st)
            st[H_EPOCH] = epoch
    elif st[H_NORPH] != st[H_NORD]:  # fed alone after the step: every order by its id
        _orphan_all(st)
        st[H_EPOCH] = 0
    ng = len(ends)
    while g < ng:
        end = ends[g]
        st[H_BEST] = bid[g]
        st[H_BEST + 1] = ask[g]
        while i < end:
            w = slots[i] if use else 0
            b = (w & S_SLOT_MASK) - 1
            rc = _room(st, out, b)
            if rc:
                st[H_POS_G] = g
                st[H_POS_I] = i
                return rc
            if w & S_CLEARED:  # the book was emptied before this record
                _orphan_all(st)
            r = rec[i]
            # the record's narrow fields widened to int64 for the kernels below; int() of an
            # int64 is the same int64 in numba and an int for the type checker
            action = int(np.int64(r.action))
            side = int(np.int64(r.side))
            flags = int(np.int64(r.flags))
            ts = r.ts_event
            oid = int(np.int64(r.order_id))
            if action == A_ADD:
                s = _find(st, oid, b)
                _add(st, out, share, ts, oid, side, r.price, r.size, flags, s, b)
            elif action == A_FILL:
                _fill(st, ts, oid, r.size, side, _find(st, oid, b))
            elif action == A_CANCEL:
                _cancel(st, out, ts, oid, r.size, _find(st, oid, b))
            elif action == A_MODIFY:
                _modify(st, out, share, ts, oid, r.price, r.size, _find(st, oid, b))
            elif action == A_CLEAR:
                _clear(st)
            if w & S_REMOVED and b >= 0:  # the book freed its slot: if it stays here, an orphan
                s = st[st[H_BOFF] + b] - 1
                if s >= 0 and st[st[H_OOFF] + OCOLS * s + O_BSLOT] == b:
                    _mirror(st, s, -1)
            if flags & F_LAST:
                _pen_clear(st)
            i += 1
        _pen_clear(st)
        g += 1
    st[H_POS_G] = -1
    st[H_POS_I] = 0
    return OK


@eager_kernel(f"{_I}({_ST}, {_I}, {_I}, int64[::1])")
def k_largest(st: np.ndarray, side: int, price: int, res: np.ndarray) -> int:
    """(order id bits, size) of the largest order at the level into ``res``; 0 if none."""
    row = lev_find(st, side, price)
    if row < 0 or st[st[H_LOFF] + LCOLS * row + V_COUNT] == 0:
        return 0
    s = largest_slot(st, row)
    o = st[H_OOFF] + OCOLS * s
    res[0] = st[o + O_ID]
    res[1] = st[o + O_SIZE]
    return 1


@eager_kernel(f"{_I}({_ST})")
def k_live_members(st: np.ndarray) -> int:
    """Chain-member entries whose chain is still the current one of its level."""
    m = st[H_MOFF]
    lo = st[H_LOFF]
    nlev = st[H_NLEV]
    n = 0
    for i in range(st[H_MCAP]):
        e = m + 3 * i
        u = st[e]
        if u != 0 and st[e + 2] < nlev and st[lo + LCOLS * st[e + 2] + C_UID] == u:
            n += 1
    return n


@kernel
def _copy(src: np.ndarray, a: int, dst: np.ndarray, b: int, n: int) -> None:
    for k in range(n):
        dst[b + k] = src[a + k]


@eager_kernel(f"void({_ST}, {_ST})")
def k_migrate(old: np.ndarray, st: np.ndarray) -> None:
    """Move the state of ``old`` into the zeroed buffer ``st`` whose layout header is set (every
    part at least as large as before, except the member table, which keeps live entries only;
    the same slots, mirrored or orphans)."""
    _copy(old, LAYOUT_END, st, LAYOUT_END, META - LAYOUT_END)
    # orders: the same slots
    n_used = old[H_NUSED]
    _copy(old, old[H_OOFF], st, st[H_OOFF], OCOLS * n_used)
    for s in range(n_used):
        o = st[H_OOFF] + OCOLS * s
        if st[o + O_SIDE] >= 0 and st[o + O_BSLOT] < 0:  # (orphans only)
            _o_hinsert(st, st[H_OHOFF], st[H_OHCAP], st[H_OHSHIFT], st[o + O_ID], s)
    # the book slots' map
    _copy(old, old[H_BOFF], st, st[H_BOFF], old[H_BCAP])
    # levels
    nlev = old[H_NLEV]
    lo = st[H_LOFF]
    _copy(old, old[H_LOFF], st, lo, LCOLS * nlev)
    for row in range(nlev):
        r = lo + LCOLS * row
        _lev_hinsert(st, st[H_LHOFF], st[H_LHCAP], st[H_LHSHIFT], st[r + V_SIDE],
                     st[r + V_PRICE], row)  # fmt: skip
    # chain members of live chains
    st[H_NMEM] = 0
    for i in range(old[H_MCAP]):
        e = old[H_MOFF] + 3 * i
        u = old[e]
        row = old[e + 2]
        if u != 0 and row < nlev and st[lo + LCOLS * row + C_UID] == u:
            _mem_add(st, u, old[e + 1], row)
    # pending fills
    st[H_NPEN] = 0
    for k in range(old[H_NPEN]):
        e = old[H_POFF] + 3 * old[old[H_TOFF] + k]
        _pen_set(st, old[e + 1], old[e + 2])
    # rings, unrolled to start at 0
    cap_old = old[H_RCAP]
    cap = st[H_RCAP]
    for r in range(4):
        head = old[H_RHEAD + r]
        for j in range(old[H_RCNT + r]):
            src = old[H_ROFF] + 2 * cap_old * r + 2 * ((head + j) & (cap_old - 1))
            dst = st[H_ROFF] + 2 * cap * r + 2 * j
            st[dst] = old[src]
            st[dst + 1] = old[src + 1]
        st[H_RHEAD + r] = 0
