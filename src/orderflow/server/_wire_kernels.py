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
from orderflow.protocol import MAX_POSITION, MAX_SIZE

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
    "packed_pass",
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
    t, code, pos, price, size, prints, m, prev_side, classify, tick_fixed, seq, now, ref,
    has_ref, max_abs, plausible, last, lo, hi,
):  # fmt: skip
    """The engine's arrays made and :func:`batch_pass` run over a batch's depth columns and
    its packed prints (:func:`_prints_of`), for :func:`rows_pass` and :func:`packed_pass`;
    their return, with the last print's price in ticks (0 without prints or on a refusal)."""
    kt, ksize, kprice, kbid, kask = _prints_of(prints, m)
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
    return _passed(
        t, code, pos, price, size, prints, m, prev_side, classify, tick_fixed, seq, now, ref,
        has_ref, max_abs, plausible, last, lo, hi,
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
    return _passed(
        t, code, pos, price, size, prints, m, prev_side, classify, tick_fixed, seq, now, ref,
        has_ref, max_abs, plausible, last, lo, hi,
    )  # fmt: skip
