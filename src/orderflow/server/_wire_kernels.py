"""The compiled passes of :mod:`orderflow.server.wire`: a batch's depth events, and its
prints, into the engine's arrays in one call each: prices to exact ticks, the plausibility
check and every field filled, with nothing written anywhere else.

A pass returns a status instead of raising: :data:`OK`; :data:`INEXACT`, a price (or quote)
the fast conversion cannot prove exact on the grid (off the grid, finer than 1e-9, huge, not
finite); :data:`FAR`, an implausible price; :data:`BOUNDS`, a position or size outside the
protocol's bounds (only packed columns can carry one: a list's were checked when decoded);
:data:`WINDOW`, a time outside the plausible window it was given (``protocol.check_batch``'s,
or none).
On anything but OK the caller converts the batch the exact way
(:func:`orderflow.server.wire.convert_exact`), which refuses it naming the event or, for a
price that is fine after all, converts it exactly; so every refusal and every result is that
way's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.analytics.trades import _bidask_kernel  # the aggressor rule's own kernel
from orderflow.core._units_kernels import fast_ticks  # the one tick conversion
from orderflow.core.units import PRICE_SCALE
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.protocol import MAX_POSITION, MAX_PRICE, MAX_SIZE

__all__ = [
    "BOUNDS",
    "FAR",
    "INEXACT",
    "OK",
    "PRINT_FIELDS",
    "ROW_FIELDS",
    "WINDOW",
    "batch_pass",
    "depth_pass",
    "frame_rows",
    "packed_pass",
    "raw_rows_pass",
    "read_prints",
    "read_rows",
    "rows_count",
    "rows_pass",
    "trades_pass",
]

OK, INEXACT, FAR, BOUNDS, WINDOW = 0, 1, 2, 3, 4
_MAX_POSITION, _MAX_SIZE = MAX_POSITION, MAX_SIZE
_REMOVE = int(NtOperation.REMOVE)
_LAST, _RESET = int(Flags.LAST), int(Flags.RESET)
#: a depth event's code: ``side << 2 | op``, and this bit for NinjaTrader's IsReset
RESET_BIT = 16
#: the 8-byte fields of a depth event's record in :func:`rows_pass`' bytes, and of a print's
#: in the prints' bytes (:func:`_prints_of`)
ROW_FIELDS, PRINT_FIELDS = 6, 5
#: :func:`fast_ticks`' bound: beyond it a price goes the exact way
_VECTOR_EXACT = 9_000_000.0
#: a packed batch's side and operation characters -> the code's bits (``side << 2``, ``op``);
#: the protocol's patterns let no other character through
_SIDE_LUT = np.zeros(256, dtype=np.int8)
_SIDE_LUT[ord("b")], _SIDE_LUT[ord("a")] = int(Side.BID) << 2, int(Side.ASK) << 2
_OP_LUT = np.zeros(256, dtype=np.int8)
_OP_LUT[ord("a")], _OP_LUT[ord("u")] = int(NtOperation.ADD), int(NtOperation.UPDATE)
_OP_LUT[ord("r")] = _REMOVE


@njit(cache=True)
def depth_pass(  # type: ignore[no-untyped-def]
    out, t, code, pos, price, size, tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last
):
    """Fill ``out`` (``NT_DEPTH_DTYPE``) from the columns; ``code[i]`` is ``side << 2 | op``
    (+ :data:`RESET_BIT`). ``plausible``: check the prices of adds and updates against
    ``ref`` (as ``core.units.first_implausible``); ``last``: the last event ends a group.
    Returns ``(status, index, kept, new_ref)``: ``kept`` whether any event is not a remove,
    ``new_ref`` the last such event's price."""
    n = price.shape[0]
    ticks = np.empty(n, dtype=np.int64)
    if fast_ticks(price, tick_fixed, ticks) >= 0:
        return INEXACT, -1, False, 0
    lim = max(abs(ref) // 2, 1000)
    kept = False
    new_ref = 0
    for i in range(n):
        p, s = pos[i], size[i]
        if p < 0 or p > _MAX_POSITION or s < 0 or s > _MAX_SIZE:
            return BOUNDS, i, False, 0
        c = code[i]
        op = c & 3
        tk = ticks[i]
        if op != _REMOVE:
            if plausible and (abs(tk) > max_abs or (has_ref and abs(tk - ref) > lim)):
                return FAR, i, False, 0
            kept = True
            new_ref = tk
        r = out[i]
        r.ts_event = t[i]
        r.ts_recv = now
        r.sequence = seq
        r.price = tk
        r.size = s
        r.position = p
        r.operation = op
        r.side = (c >> 2) & 3
        r.flags = _RESET if c & RESET_BIT else 0
    if last and n:
        out[n - 1].flags |= _LAST
    return OK, -1, kept, new_ref


@njit(cache=True)
def _quote(x, tick_fixed):  # type: ignore[no-untyped-def]
    """A quote's ticks; NO_PRICE when missing (NaN); -1 status when the fast way cannot
    prove it on the grid (the exact way then decides)."""
    if x != x:
        return 0, NO_PRICE
    if not (abs(x) < _VECTOR_EXACT):
        return -1, 0
    fixed = np.rint(x * PRICE_SCALE)
    if fixed / PRICE_SCALE != x:
        return -1, 0
    f = np.int64(fixed)
    if f % tick_fixed != 0:
        return -1, 0
    return 0, f // tick_fixed


@njit(cache=True)
def trades_pass(  # type: ignore[no-untyped-def]
    out, t, price, size, bid, ask, qbid, qask, tick_fixed, seq, now, ref, has_ref, max_abs
):
    """Fill ``out`` (``TRADE_DTYPE``, all but the aggressor side) from the prints, and
    ``qbid``/``qask`` with the quotes in ticks (NO_PRICE: missing). Every print's price is
    checked against ``ref``. Returns ``(status, index)``."""
    m = price.shape[0]
    ticks = np.empty(m, dtype=np.int64)
    if fast_ticks(price, tick_fixed, ticks) >= 0:
        return INEXACT, -1
    lim = max(abs(ref) // 2, 1000)
    for i in range(m):
        tk = ticks[i]
        if abs(tk) > max_abs or (has_ref and abs(tk - ref) > lim):
            return FAR, i
        s, q = _quote(bid[i], tick_fixed)
        if s < 0:
            return INEXACT, i
        qbid[i] = q
        s, q = _quote(ask[i], tick_fixed)
        if s < 0:
            return INEXACT, i
        qask[i] = q
        r = out[i]
        r.ts_event = t[i]
        r.ts_recv = now
        r.sequence = seq
        r.price = tk
        r.size = size[i]
        r.flags = 0
    return OK, -1


@njit(cache=True)
def batch_pass(  # type: ignore[no-untyped-def]
    depth, t, code, pos, price, size, trades, kt, kprice, ksize, kbid, kask, qbid, qask,
    prev_side, classify, tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last, lo, hi,
):  # fmt: skip
    """:func:`depth_pass` and :func:`trades_pass` in one call (one entry from Python per
    batch), and with ``classify`` the prints' aggressor sides by the bid/ask rule (the
    analytics' own kernel, from ``prev_side``). Both passes check against the same ``ref``;
    every depth event's and print's time must lie in ``lo`` .. ``hi`` (else :data:`WINDOW`).
    Returns ``(status, kept, new_ref, side)``: on anything but :data:`OK` nothing outside the
    given arrays was written; ``side`` the classifier's side after the prints."""
    for i in range(t.shape[0]):
        if t[i] < lo or t[i] > hi:
            return WINDOW, False, 0, prev_side
    for i in range(kt.shape[0]):
        if kt[i] < lo or kt[i] > hi:
            return WINDOW, False, 0, prev_side
    status, _, kept, new_ref = depth_pass(
        depth, t, code, pos, price, size, tick_fixed, seq, now, ref, has_ref, max_abs,
        plausible, last,
    )  # fmt: skip
    if status != OK:
        return status, False, 0, prev_side
    side = prev_side
    if kprice.shape[0]:
        status, _ = trades_pass(
            trades, kt, kprice, ksize, kbid, kask, qbid, qask, tick_fixed, seq, now, ref,
            has_ref, max_abs,
        )  # fmt: skip
        if status != OK:
            return status, False, 0, prev_side
        if classify:
            m = kprice.shape[0]
            tp = np.empty(m, dtype=np.int64)
            for i in range(m):
                tp[i] = trades[i].price
            sides = np.empty(m, dtype=np.int8)
            side = _bidask_kernel(tp, qbid, qask, prev_side, sides)
            for i in range(sides.shape[0]):
                trades[i].side = sides[i]
    return OK, kept, new_ref, side


@njit(cache=True)
def _prints_of(prints, m):  # type: ignore[no-untyped-def]
    """The prints' five columns (views, no copy) from their packed bytes: one record of
    :data:`PRINT_FIELDS` per print (see :func:`packed_pass`)."""
    k = np.frombuffer(prints, np.int64).reshape((m, PRINT_FIELDS))
    f = np.frombuffer(prints, np.float64).reshape((m, PRINT_FIELDS))
    return k[:, 0], k[:, 1], f[:, 2], f[:, 3], f[:, 4]


@njit(cache=True)
def _passed(  # type: ignore[no-untyped-def]
    t, code, pos, price, size, kt, ksize, kprice, kbid, kask, prev_side, classify, tick_fixed,
    seq, now, ref, has_ref, max_abs, plausible, last, lo, hi,
):  # fmt: skip
    """The engine's arrays made and :func:`batch_pass` run over a batch's depth columns and
    its prints' columns (:func:`_prints_of`), for :func:`rows_pass`, :func:`packed_pass` and
    :func:`raw_rows_pass`; their return, with the last print's price in ticks (0 without
    prints or on a refusal)."""
    m = kt.shape[0]
    depth = np.zeros(t.shape[0], dtype=NT_DEPTH_DTYPE)
    trades = np.zeros(m, dtype=TRADE_DTYPE)
    quotes = np.empty((2, m), dtype=np.int64)  # one array to return: the bids, the asks
    qbid, qask = quotes[0], quotes[1]
    status, kept, new_ref, side = batch_pass(
        depth, t, code, pos, price, size, trades, kt, kprice, ksize, kbid, kask, qbid, qask,
        prev_side, classify, tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last, lo,
        hi,
    )  # fmt: skip
    last_price = trades[m - 1].price if m and status == OK else 0
    return status, depth, trades, quotes, kept, new_ref, side, last_price


@njit(cache=True)
def rows_pass(  # type: ignore[no-untyped-def]
    rows, n, prints, m, prev_side, classify, tick_fixed, seq, now, ref, has_ref, max_abs,
    plausible, last, lo, hi,
):  # fmt: skip
    """:func:`packed_pass` of a batch whose depth came as a list of events: ``rows`` one
    record of :data:`ROW_FIELDS` 8-byte fields per event (its time, size (int64), price
    (float64), position, ``side << 2 | op`` and IsReset (int64)), packed one ``struct`` call
    an event."""
    a = np.frombuffer(rows, np.int64).reshape((n, ROW_FIELDS))
    t, size, pos = a[:, 0], a[:, 1], a[:, 3]  # views of the records' fields, no copy
    price = np.frombuffer(rows, np.float64).reshape((n, ROW_FIELDS))[:, 2]
    code = np.empty(n, dtype=np.int64)
    for i in range(n):
        code[i] = a[i, 4] | RESET_BIT if a[i, 5] else a[i, 4]
    kt, ksize, kprice, kbid, kask = _prints_of(prints, m)
    return _passed(
        t, code, pos, price, size, kt, ksize, kprice, kbid, kask, prev_side, classify,
        tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last, lo, hi,
    )  # fmt: skip


@njit(cache=True)
def packed_pass(  # type: ignore[no-untyped-def]
    tb, sideb, opb, posb, priceb, sizeb, reset, prints, m,
    prev_side, classify, tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last, lo, hi,
):  # fmt: skip
    """:func:`batch_pass` of a batch whose depth comes as packed columns, taken as they were
    decoded: ``tb``, ``posb``, ``priceb``, ``sizeb`` the columns' bytes (native little-endian
    int64, int32, float64, int64), ``sideb`` and ``opb`` the side and operation characters,
    ``reset`` the indexes with IsReset; ``prints`` the ``m`` prints, one record a print: its
    time and size (int64), price, bid and ask (float64, NaN: no quote); the engine's arrays
    are made here. Returns
    ``(status, depth, trades, quotes, kept, new_ref, side, last)``, as :func:`batch_pass` (the
    prints' quotes in ticks as one array: its row 0 the bids, row 1 the asks);
    ``last`` the last print's price in ticks (0 without prints)."""
    t = np.frombuffer(tb, np.int64)
    pos = np.frombuffer(posb, np.int32)
    price = np.frombuffer(priceb, np.float64)
    size = np.frombuffer(sizeb, np.int64)
    n = t.shape[0]
    code = np.empty(n, dtype=np.int8)
    for i in range(n):
        code[i] = _SIDE_LUT[sideb[i]] | _OP_LUT[opb[i]]
    for j in range(reset.shape[0]):
        code[reset[j]] |= RESET_BIT
    kt, ksize, kprice, kbid, kask = _prints_of(prints, m)
    return _passed(
        t, code, pos, price, size, kt, ksize, kprice, kbid, kask, prev_side, classify,
        tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last, lo, hi,
    )  # fmt: skip


# ---- MessagePack rows read from the frame's bytes ------------------------------------------
#
# A batch's depth events as a MessagePack list of maps, read where the frame holds them: only
# the form msgspec writes for a list of ``protocol.Depth`` (an array header, then per event a
# fixmap of the seven fields in their order, fixstr keys, each integer in its smallest form,
# the price a float64, IsReset a bool) and only values the protocol's bounds admit. Anything
# else is not read here (the caller decodes the frame as before, which names any fault); so
# whatever is read here is exactly what msgspec would decode, and msgspec would encode the
# decoded events back into these very bytes.

#: the bytes before each field's value (the map's header and the first key, then each key)
#: and the operations' values, each as ``(little-endian word, mask, length)``: compared as one
#: 8-byte word where the bytes hold one, byte by byte at their end


def _word(key: bytes) -> tuple[int, int, int]:
    return int.from_bytes(key, "little"), (1 << 8 * len(key)) - 1, len(key)


_K_T, _K_SIDE, _K_OP = _word(b"\x87\xa1t"), _word(b"\xa4side\xa3"), _word(b"\xa2op")
_K_POS, _K_PRICE = _word(b"\xa3pos"), _word(b"\xa5price\xcb")
_K_SIZE, _K_RESET = _word(b"\xa4size"), _word(b"\xa5reset")
_S_BID, _S_ASK = _word(b"bid"), _word(b"ask")
_O_ADD, _O_UPDATE, _O_REMOVE = _word(b"\xa3add"), _word(b"\xa6update"), _word(b"\xa6remove")
_BID, _ASK = int(Side.BID) << 2, int(Side.ASK) << 2
_ADD, _UPDATE = int(NtOperation.ADD), int(NtOperation.UPDATE)
_INT64_MAX = (1 << 63) - 1
_MAX_PRICE = MAX_PRICE


@njit(cache=True, inline="always")
def _is(b, p, m, key):  # type: ignore[no-untyped-def]
    """Whether ``b`` (``m`` bytes) holds ``key`` (:func:`_word`'s triple) at ``p``."""
    word, mask, k = key
    if p + 8 <= m:  # the eight loads and shifts make one load
        v = np.uint64(0)
        for j in range(8):
            v |= np.uint64(b[p + j]) << np.uint64(8 * j)
        return (v & np.uint64(mask)) == np.uint64(word)
    if p + k > m:
        return False
    for j in range(k):  # noqa: SIM110 - a loop compiles, a generator may not
        if b[p + j] != (word >> (8 * j)) & 0xFF:
            return False
    return True


@njit(cache=True, inline="always")
def _be(b, p, k):  # type: ignore[no-untyped-def]
    """The ``k`` bytes at ``p`` as a big-endian unsigned integer."""
    v = np.uint64(0)
    for j in range(k):
        v = (v << np.uint64(8)) | np.uint64(b[p + j])
    return v


@njit(cache=True, inline="always")
def _uint(b, p, hi):  # type: ignore[no-untyped-def]
    """The non-negative integer at ``p`` in its smallest form, at most ``hi``: ``(value, next
    position)``; next position -1: not that (another form, out of bounds, past the end)."""
    if p >= b.shape[0]:
        return 0, -1
    h = b[p]
    if h < 0x80:
        return np.int64(h), p + 1
    if h == 0xCC:
        k, least = 1, 0x80
    elif h == 0xCD:
        k, least = 2, 0x100
    elif h == 0xCE:
        k, least = 4, 0x10000
    elif h == 0xCF:
        k, least = 8, 0x100000000
    else:
        return 0, -1
    if p + 1 + k > b.shape[0]:
        return 0, -1
    v = _be(b, p + 1, k)
    if v < np.uint64(least) or v > np.uint64(hi):
        return 0, -1
    return np.int64(v), p + 1 + k


@njit(cache=True)
def rows_count(b):  # type: ignore[no-untyped-def]
    """The number of events of a MessagePack array's header at the start of ``b``, and where
    its first item begins (as msgspec writes the header); ``(-1, 0)``: not an array header,
    or a count the bytes cannot hold (an event takes more than a byte)."""
    m = b.shape[0]
    if m == 0:
        return -1, 0
    h = b[0]
    n, p = np.int64(-1), 0
    if 0x90 <= h <= 0x9F:
        n, p = np.int64(h - 0x90), 1
    elif h == 0xDC and m >= 3:
        n, p = np.int64(_be(b, 1, 2)), 3
        n = n if n >= 16 else np.int64(-1)
    elif h == 0xDD and m >= 5:
        n, p = np.int64(_be(b, 1, 4)), 5
        n = n if n >= 0x10000 else np.int64(-1)
    return (n, p) if 0 <= n <= m else (np.int64(-1), 0)


#: the rows of :func:`frame_rows`' block: time, code (``side << 2 | op``, with
#: :data:`RESET_BIT`), position, the price's float64 bits, size (``protocol.RawRows.times``
#: reads the first)
ROW_T, ROW_CODE, ROW_POS, ROW_PRICE, ROW_SIZE = 0, 1, 2, 3, 4


@njit(cache=True, inline="always")
def _price_bits(b, p, m, bits, as_float):  # type: ignore[no-untyped-def]
    """The float64 after the ``0xcb`` at ``p`` within the protocol's price bounds: ``(its
    bits, next position)``; next position -1: not that (another form, out of bounds, NaN)."""
    if p + 9 > m or b[p] != 0xCB:
        return np.int64(0), -1
    bits[0] = _be(b, p + 1, 8)
    x = as_float[0]
    if not (-_MAX_PRICE <= x <= _MAX_PRICE):  # NaN too
        return np.int64(0), -1
    return np.int64(bits[0]), p + 9


@njit(cache=True)
def read_rows(b, p, out):  # type: ignore[no-untyped-def]
    """The events from ``p`` on into ``out`` (int64, one row a field: ``ROW_*``), each checked
    against the protocol's bounds. Returns ``(status, where the events end)``: :data:`OK` or
    :data:`BOUNDS` (not msgspec's form, a value out of bounds, the bytes end inside)."""
    m = b.shape[0]
    bits = np.empty(1, dtype=np.uint64)
    as_float = bits.view(np.float64)
    for i in range(out.shape[1]):
        if not _is(b, p, m, _K_T):
            return BOUNDS, 0
        v, p = _uint(b, p + 3, _INT64_MAX)
        if p < 0 or not _is(b, p, m, _K_SIDE):
            return BOUNDS, 0
        p += 6
        if _is(b, p, m, _S_BID):
            c = _BID
        elif _is(b, p, m, _S_ASK):
            c = _ASK
        else:
            return BOUNDS, 0
        p += 3
        if not _is(b, p, m, _K_OP):
            return BOUNDS, 0
        p += 3
        if _is(b, p, m, _O_ADD):
            c |= _ADD
            p += 4
        elif _is(b, p, m, _O_UPDATE):
            c |= _UPDATE
            p += 7
        elif _is(b, p, m, _O_REMOVE):
            c |= _REMOVE
            p += 7
        else:
            return BOUNDS, 0
        if not _is(b, p, m, _K_POS):
            return BOUNDS, 0
        ps, p = _uint(b, p + 4, _MAX_POSITION)
        if p < 0 or not _is(b, p, m, _K_PRICE):
            return BOUNDS, 0
        px, p = _price_bits(b, p + 6, m, bits, as_float)
        if p < 0 or not _is(b, p, m, _K_SIZE):
            return BOUNDS, 0
        sz, p = _uint(b, p + 5, _MAX_SIZE)
        if p < 0 or not _is(b, p, m, _K_RESET) or p + 7 > m:
            return BOUNDS, 0
        r = b[p + 6]
        if r == 0xC3:
            c |= RESET_BIT
        elif r != 0xC2:
            return BOUNDS, 0
        p += 7
        out[ROW_T, i], out[ROW_CODE, i], out[ROW_POS, i] = v, c, ps
        out[ROW_PRICE, i], out[ROW_SIZE, i] = px, sz
    return OK, p


@njit(cache=True)
def _block(b, p):  # type: ignore[no-untyped-def]
    """:func:`read_rows` of the list whose header is at ``p``: ``(status, block, last time,
    any IsReset, its end)``; ``block`` one row a field (``ROW_*``), what
    :func:`raw_rows_pass` takes (empty unless OK)."""
    n, k = rows_count(b[p:])
    out = np.empty((5, max(n, 0)), dtype=np.int64)
    status, q = read_rows(b, p + k, out) if n >= 0 else (BOUNDS, 0)
    if status != OK or n == 0:
        return BOUNDS, out[:, :0].copy(), 0, False, 0
    reset = False
    for i in range(n):
        if out[ROW_CODE, i] & RESET_BIT:
            reset = True
    return OK, out, out[ROW_T, n - 1], reset, q


#: what msgspec writes of a batch before its depth: the map's header, the tag, the instrument
#: (a str), ``seq`` (an integer) and ``snapshot`` (a bool), each key as a word (:func:`_word`)
_B_TYPE, _B_BATCH = _word(b"\xa4type"), _word(b"\xa5batch")
_B_INSTR, _B_ENT = _word(b"\xaainstrum"), _word(b"ent")
_B_SEQ, _B_SNAP, _B_SHOT = _word(b"\xa3seq"), _word(b"\xa8snap"), _word(b"shot")
_B_DEPTH = _word(b"\xa5depth")
_MAX_SEQ = (1 << 53) - 1


@njit(cache=True)
def _depth_at(b):  # type: ignore[no-untyped-def]
    """Where a batch's depth value begins when ``b`` starts as msgspec writes a batch (a
    fixmap, then type, instrument, seq, snapshot and the depth's key, each in its form);
    -1 otherwise. Only the form is checked here: the values are the decoder's."""
    m = b.shape[0]
    if m < 40 or not 0x81 <= b[0] <= 0x8F:
        return -1
    if not (_is(b, 1, m, _B_TYPE) and _is(b, 6, m, _B_BATCH) and _is(b, 12, m, _B_INSTR)
            and _is(b, 20, m, _B_ENT)):  # fmt: skip
        return -1
    h = b[23]
    if 0xA0 <= h <= 0xBF:
        p = 24 + (h - 0xA0)
    elif h == 0xD9 and b[24] >= 32:
        p = 25 + b[24]
    else:
        return -1
    if not _is(b, p, m, _B_SEQ):
        return -1
    _, p = _uint(b, p + 4, _MAX_SEQ)
    if p < 0 or not (_is(b, p, m, _B_SNAP) and _is(b, p + 5, m, _B_SHOT)) or p + 10 > m:
        return -1
    if b[p + 9] != 0xC2 and b[p + 9] != 0xC3:
        return -1
    p += 10
    return p + 6 if _is(b, p, m, _B_DEPTH) else -1


#: what msgspec writes of a batch between its depth's list and its prints' list (no
#: columns, the prints' key), and of each print before its values (``protocol.Tick``'s
#: fields in their order)
_B_COLUMN, _B_NIL_TICKS = _word(b"\xa7column"), _word(b"s\xc0\xa5ticks")
_P_T, _P_BID, _P_ASK = _word(b"\x85\xa1t"), _word(b"\xa3bid"), _word(b"\xa3ask")
_MAX_PRINT_SIZE = 1_000_000_000
_NAN_BITS = np.float64(np.nan).view(np.int64)


@njit(cache=True, inline="always")
def _quote_bits(b, p, m, bits, as_float):  # type: ignore[no-untyped-def]
    """A print's quote at ``p``: nil (NaN's bits) or :func:`_price_bits`' float64."""
    if p < m and b[p] == 0xC0:
        return _NAN_BITS, p + 1
    return _price_bits(b, p, m, bits, as_float)


@njit(cache=True)
def read_prints(b, p, out):  # type: ignore[no-untyped-def]
    """The prints from ``p`` on into ``out`` (int64, one row a print: time, size, and the
    float64 bits of price, bid and ask, a quote left out NaN's), each as msgspec writes a
    ``protocol.Tick`` (a fixmap of its five fields in their order, each integer in its
    smallest form, each price a float64, a missing quote nil) and within the protocol's
    bounds. Returns ``(status, where the prints end)``, as :func:`read_rows`."""
    m = b.shape[0]
    bits = np.empty(1, dtype=np.uint64)
    as_float = bits.view(np.float64)
    for i in range(out.shape[0]):
        if not _is(b, p, m, _P_T):
            return BOUNDS, 0
        v, p = _uint(b, p + 3, _INT64_MAX)
        if p < 0 or not _is(b, p, m, _K_PRICE):
            return BOUNDS, 0
        px, p = _price_bits(b, p + 6, m, bits, as_float)
        if p < 0 or not _is(b, p, m, _K_SIZE):
            return BOUNDS, 0
        sz, p = _uint(b, p + 5, _MAX_PRINT_SIZE)
        if p < 0 or sz == 0 or not _is(b, p, m, _P_BID):
            return BOUNDS, 0
        bid, p = _quote_bits(b, p + 4, m, bits, as_float)
        if p < 0 or not _is(b, p, m, _P_ASK):
            return BOUNDS, 0
        ask, p = _quote_bits(b, p + 4, m, bits, as_float)
        if p < 0:
            return BOUNDS, 0
        out[i, 0], out[i, 1], out[i, 2], out[i, 3], out[i, 4] = v, sz, px, bid, ask
    return OK, p


@njit(cache=True)
def frame_rows(data):  # type: ignore[no-untyped-def]
    """A MessagePack frame that starts as msgspec writes a batch (:func:`_depth_at`), whose
    depth is a list of events msgspec wrote, then no columns and a list of prints msgspec
    wrote, all within the protocol's bounds: ``(status, block, last time, any IsReset, where
    the depth's key begins, where its list ends, the prints (one row each), where their list
    ends, the last print's price, the latest print's time)`` (both 0 without prints); the
    prints' key begins where no columns' key and value end (9 bytes on)."""
    b = np.frombuffer(data, np.uint8)
    m = b.shape[0]
    no_prints = np.empty((0, PRINT_FIELDS), dtype=np.int64)
    bits = np.empty(1, dtype=np.uint64)
    as_float = bits.view(np.float64)
    p = _depth_at(b)
    if p < 0:
        return BOUNDS, np.empty((5, 0), dtype=np.int64), 0, False, 0, 0, no_prints, 0, 0.0, 0
    status, out, last_t, reset, end = _block(b, p)
    if status != OK or not (_is(b, end, m, _B_COLUMN) and _is(b, end + 7, m, _B_NIL_TICKS)):
        return BOUNDS, out[:, :0].copy(), 0, False, 0, 0, no_prints, 0, 0.0, 0
    q = end + 15
    k, h = rows_count(b[q:])
    prints = np.empty((max(k, 0), PRINT_FIELDS), dtype=np.int64)
    status, tend = read_prints(b, q + h, prints) if k >= 0 else (BOUNDS, 0)
    if status != OK:
        return BOUNDS, out[:, :0].copy(), 0, False, 0, 0, no_prints, 0, 0.0, 0
    # what the Hub reads of the prints: the last one's price (the trading desk's mark), the
    # latest time (a pipelined run's check); as Python numbers, no numpy call there
    last_price, latest = 0.0, 0
    if k > 0:
        bits[0] = np.uint64(prints[k - 1, 2])
        last_price, latest = as_float[0], prints[:, 0].max()
    return OK, out, last_t, reset, p - 6, end, prints, tend, last_price, latest


@njit(cache=True)
def raw_rows_pass(  # type: ignore[no-untyped-def]
    block, prints, prev_side, classify, tick_fixed, seq, now, ref, has_ref, max_abs,
    plausible, last, lo, hi,
):  # fmt: skip
    """:func:`packed_pass` of a batch whose depth events and prints :func:`frame_rows` read
    from the frame's MessagePack bytes when it was decoded (``block``, one row a field;
    ``prints``, one row a print: time, size and the bits of price, bid and ask)."""
    f = prints.view(np.float64)
    return _passed(
        block[ROW_T], block[ROW_CODE], block[ROW_POS], block[ROW_PRICE].view(np.float64),
        block[ROW_SIZE], prints[:, 0], prints[:, 1], f[:, 2], f[:, 3], f[:, 4], prev_side,
        classify, tick_fixed, seq, now, ref, has_ref, max_abs, plausible, last, lo, hi,
    )  # fmt: skip
