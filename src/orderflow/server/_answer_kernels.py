"""The compiled read behind an answer's book and metrics: the ladder's top rows, the book
metrics' headline, the VWAP's sums, in one call into two preallocated arrays.

Every number is the same IEEE double or integer the Python reads give
(:func:`orderflow.server.answer_metrics.metrics`, :func:`orderflow.server.wire.row_levels`):
a row's price ``t * tick_fixed / PRICE_SCALE`` is one correctly rounded division of two
exact doubles (the call says :data:`INEXACT` when the product could pass 2**53, and the
caller reads the Python way), a ratio the sums' floats divided once, the VWAP and its bands
the same operations in the same order. A value the wire sends as null (an empty side's mid,
a ratio over empty ask rows, a band over an undefined VWAP) is written as NaN.

Layout (``n``: rows a side in the book, ``r``: ratio depths, ``b``: VWAP bands):

- ``out_i``: ``[rows bid, rows ask, spread, ofi, ofi_window, vwap volume]``, then ``n`` bid
  sizes, ``n`` ask sizes (:data:`I_SIZES`);
- ``out_f``: ``[mid, microprice, imbalance, vwap]`` (in price units but the imbalance), then
  ``n`` bid prices, ``n`` ask prices, ``r`` ratios, ``b`` upper and ``b`` lower bands
  (:data:`F_ROWS`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from orderflow.analytics._book_metrics_kernels import C_SPREAD, F_IMB, F_MICRO, F_MID
from orderflow.book._l2_kernels import LD_CAP, LD_COUNT, LD_HDR
from orderflow.core.units import PRICE_SCALE
from orderflow.model.dtypes import NO_PRICE as NO_PRICE_I
from orderflow.server._msgpack_kernels import array as _array
from orderflow.server._msgpack_kernels import copy as _copy
from orderflow.server._msgpack_kernels import float_or_nil as _float_or_nil
from orderflow.server._msgpack_kernels import key_bytes
from orderflow.server._msgpack_kernels import put_int as _put_int

__all__ = ["F_ROWS", "INEXACT", "I_SIZES", "OK", "ack_json", "ack_json_numbers", "ack_msgpack",
           "ack_numbers", "json_capacity", "msgpack_capacity"]  # fmt: skip

OK, INEXACT = 0, 1
I_SIZES = 6  # out_i: the sizes start here
F_ROWS = 4  # out_f: the prices start here
#: beyond this a price's fixed-point product may not be an exact double
_EXACT = 2**53


@njit(cache=True)
def ack_numbers(  # type: ignore[no-untyped-def]
    buf, n, ratio_levels, m_ints, m_floats, ofi, ofi_sum, vst, widths, tick_fixed, tick, out_i,
    out_f,
):  # fmt: skip
    """Fill ``out_i`` and ``out_f`` (module docstring) from the ladder's buffer ``buf``, the
    book metrics' latest row (``m_ints``, ``m_floats``, ``ofi``, ``ofi_sum``: row 0 of each,
    the columns given), the VWAP's sums ``vst`` (p0, volume, s1, s2) and band ``widths``.
    Returns :data:`OK`, or :data:`INEXACT` when a price could not be exact (nothing to use)."""
    cap = buf[LD_CAP]
    nb, na = min(n, buf[LD_COUNT]), min(n, buf[LD_COUNT + 1])
    b0, a0 = LD_HDR, LD_HDR + 2 * cap
    limit = _EXACT // max(tick_fixed, 1)
    fs = float(PRICE_SCALE)
    out_i[0], out_i[1] = nb, na
    for side in range(2):
        p0 = b0 if side == 0 else a0
        rows = nb if side == 0 else na
        for j in range(rows):
            t = buf[p0 + j]
            if t > limit or t < -limit:
                return INEXACT
            out_f[F_ROWS + side * n + j] = float(t * tick_fixed) / fs
            out_i[I_SIZES + side * n + j] = buf[p0 + cap + j]
    # the ratios over the top rows of each side (as many as a side has)
    nbc, nac = buf[LD_COUNT], buf[LD_COUNT + 1]
    base = F_ROWS + 2 * n
    for i in range(len(ratio_levels)):
        lv = ratio_levels[i]
        sb = 0
        for j in range(min(lv, nbc)):
            sb += buf[b0 + cap + j]
        sa = 0
        for j in range(min(lv, nac)):
            sa += buf[a0 + cap + j]
        out_f[base + i] = float(sb) / float(sa) if sa != 0 else np.nan
    # the book metrics' headline
    out_i[2] = m_ints[0, C_SPREAD]  # NO_PRICE when a side is empty
    s = 0
    for j in range(ofi.shape[1]):
        s += ofi[0, j]
    out_i[3] = s
    s = 0
    for j in range(ofi_sum.shape[1]):
        s += ofi_sum[0, j]
    out_i[4] = s
    out_f[0] = m_floats[0, F_MID] * tick
    out_f[1] = m_floats[0, F_MICRO] * tick
    out_f[2] = m_floats[0, F_IMB]
    # the VWAP: VwapTracker.headline's operations, then the bands as answer_metrics makes them
    v = vst[1]
    out_i[5] = v
    nbands = len(widths)
    bb = base + len(ratio_levels)
    if v == 0:
        out_f[3] = np.nan
        return OK
    m = float(vst[2]) / float(v)
    var = float(vst[3]) / float(v) - m * m
    sd = math.sqrt(var) if var > 0.0 else 0.0
    vw = float(vst[0]) + m
    out_f[3] = vw * tick
    for i in range(nbands):
        w = widths[i]
        u = vw + w * sd
        lo = vw - w * sd
        out_f[bb + i] = u * tick
        out_f[bb + nbands + i] = lo * tick
    return OK


# ---- the book and the metrics as MessagePack, written from the numbers above ----------------
# (msgspec's bytes for the same values: :mod:`._msgpack_kernels`)

_K_BIDS, _K_ASKS = key_bytes("bids"), key_bytes("asks")
#: the metrics' map header and first key, then each key in the answer's order
_K_METRICS = key_bytes("spread", b"\x8b")
_K_MID = key_bytes("mid")
_K_MICRO = key_bytes("microprice")
_K_IMB = key_bytes("imbalance")
_K_OFI = key_bytes("ofi")
_K_OFI_W = key_bytes("ofi_window")
_K_DELTA = key_bytes("cumulative_delta")
_K_VWAP = key_bytes("vwap")
_K_BANDS = key_bytes("vwap_bands")
_K_MOM = key_bytes("momentum")
_K_RATIO = key_bytes("bid_ask_ratio")
_K_BAND = key_bytes("k", b"\x83")  # {"k": .., "upper": .., "lower": ..}
_K_UPPER = key_bytes("upper")
_K_LOWER = key_bytes("lower")
_K_LEVELS = key_bytes("levels", b"\x82")  # {"levels": .., "ratio": ..}
_K_RATIO1 = key_bytes("ratio")


@njit(cache=True)
def ack_msgpack(  # type: ignore[no-untyped-def]
    buf, n, ratio_levels, m_ints, m_floats, ofi, ofi_sum, vst, widths, tick_fixed, tick, out_i,
    out_f, keys, delta, score, out_b,
):  # fmt: skip
    """:func:`ack_numbers`, then the book and the metrics as MessagePack into ``out_b``
    (``keys``: the bands' ``k``; ``delta``: the cumulative delta; ``score``: the momentum's,
    NaN for null): the bytes msgspec gives for the dicts ``answer_metrics`` builds from the
    same numbers. Returns ``(status, end of the book, end of the metrics)``."""
    status = ack_numbers(buf, n, ratio_levels, m_ints, m_floats, ofi, ofi_sum, vst, widths,
                         tick_fixed, tick, out_i, out_f)  # fmt: skip
    if status != OK:
        return status, 0, 0
    bits = np.empty(1, dtype=np.float64)
    at = 0
    out_b[at] = 0x82
    at += 1
    for side in range(2):
        at = _copy(out_b, at, _K_BIDS if side == 0 else _K_ASKS)
        rows = out_i[side]
        at = _array(out_b, at, rows)
        for j in range(rows):
            out_b[at] = 0x92
            at = _float_or_nil(out_b, at + 1, out_f[F_ROWS + side * n + j], bits)
            at = _put_int(out_b, at, out_i[I_SIZES + side * n + j])
    book_end = at
    at = _copy(out_b, at, _K_METRICS)
    spread = out_i[2]
    if spread == NO_PRICE_I:
        out_b[at] = 0xC0
        at += 1
    else:
        at = _float_or_nil(out_b, at, spread * tick, bits)
    at = _copy(out_b, at, _K_MID)
    at = _float_or_nil(out_b, at, out_f[0], bits)
    at = _copy(out_b, at, _K_MICRO)
    at = _float_or_nil(out_b, at, out_f[1], bits)
    at = _copy(out_b, at, _K_IMB)
    at = _float_or_nil(out_b, at, out_f[2], bits)
    at = _copy(out_b, at, _K_OFI)
    at = _put_int(out_b, at, out_i[3])
    at = _copy(out_b, at, _K_OFI_W)
    at = _put_int(out_b, at, out_i[4])
    at = _copy(out_b, at, _K_DELTA)
    at = _put_int(out_b, at, delta)
    at = _copy(out_b, at, _K_VWAP)
    at = _float_or_nil(out_b, at, out_f[3], bits)
    at = _copy(out_b, at, _K_BANDS)
    nbands, nr = len(widths), len(ratio_levels)
    if out_i[5] == 0:  # no volume: no bands
        at = _array(out_b, at, 0)
    else:
        at = _array(out_b, at, nbands)
        bb = F_ROWS + 2 * n + nr
        for i in range(nbands):
            at = _copy(out_b, at, _K_BAND)
            at = _float_or_nil(out_b, at, keys[i], bits)
            at = _copy(out_b, at, _K_UPPER)
            at = _float_or_nil(out_b, at, out_f[bb + i], bits)
            at = _copy(out_b, at, _K_LOWER)
            at = _float_or_nil(out_b, at, out_f[bb + nbands + i], bits)
    at = _copy(out_b, at, _K_MOM)
    at = _float_or_nil(out_b, at, score, bits)
    at = _copy(out_b, at, _K_RATIO)
    at = _array(out_b, at, nr)
    for i in range(nr):
        at = _copy(out_b, at, _K_LEVELS)
        at = _put_int(out_b, at, ratio_levels[i])
        at = _copy(out_b, at, _K_RATIO1)
        at = _float_or_nil(out_b, at, out_f[F_ROWS + 2 * n + i], bits)
    return OK, book_end, at


def msgpack_capacity(levels: int, ratios: int, bands: int) -> int:
    """Bytes :func:`ack_msgpack` may write at most for this shape of answer."""
    return 64 + 2 * levels * 19 + 256 + ratios * 24 + bands * 48


# ---- the book and the metrics as JSON: msgspec's float tokens, stitched in ------------------
# (each double is written by msgspec itself, as one JSON list of the numbers above; the call
# below cuts that list into its tokens and writes the dicts' JSON around them)

_J = np.frombuffer
_J_BOOK = _J(b'{"bids":[', dtype=np.uint8)
_J_ASKS = _J(b'],"asks":[', dtype=np.uint8)
_J_METRICS = _J(b'{"spread":', dtype=np.uint8)
_J_MID = _J(b',"mid":', dtype=np.uint8)
_J_MICRO = _J(b',"microprice":', dtype=np.uint8)
_J_IMB = _J(b',"imbalance":', dtype=np.uint8)
_J_OFI = _J(b',"ofi":', dtype=np.uint8)
_J_OFI_W = _J(b',"ofi_window":', dtype=np.uint8)
_J_DELTA = _J(b',"cumulative_delta":', dtype=np.uint8)
_J_VWAP = _J(b',"vwap":', dtype=np.uint8)
_J_BANDS = _J(b',"vwap_bands":[', dtype=np.uint8)
_J_BAND = _J(b'{"k":', dtype=np.uint8)
_J_UPPER = _J(b',"upper":', dtype=np.uint8)
_J_LOWER = _J(b',"lower":', dtype=np.uint8)
_J_MOM = _J(b'],"momentum":', dtype=np.uint8)
_J_RATIO = _J(b',"bid_ask_ratio":[', dtype=np.uint8)
_J_LEVELS = _J(b'{"levels":', dtype=np.uint8)
_J_RATIO1 = _J(b',"ratio":', dtype=np.uint8)
_INT64_MIN = _J(b"-9223372036854775808", dtype=np.uint8)


@njit(cache=True)
def ack_json_numbers(  # type: ignore[no-untyped-def]
    buf, n, ratio_levels, m_ints, m_floats, ofi, ofi_sum, vst, widths, tick_fixed, tick, out_i,
    out_f, tail, score,
):  # fmt: skip
    """:func:`ack_numbers` into ``out_f``, then at ``out_f[tail:]`` the spread in price units
    (NaN when a side is empty), the momentum's ``score`` (NaN: null) and the bands' ``k``
    (already there: written once per layout). Returns its status."""
    status = ack_numbers(buf, n, ratio_levels, m_ints, m_floats, ofi, ofi_sum, vst, widths,
                         tick_fixed, tick, out_i, out_f)  # fmt: skip
    spread = out_i[2]
    out_f[tail] = np.nan if spread == NO_PRICE_I else spread * tick
    out_f[tail + 1] = score
    return status


@njit(cache=True)
def _dec(out, i, v):  # type: ignore[no-untyped-def]
    """The integer ``v`` in decimal at ``out[i:]`` (as JSON writes it); the end."""
    if v == -9223372036854775807 - 1:
        return _copy(out, i, _INT64_MIN)
    if v < 0:
        out[i] = 45  # "-"
        i += 1
        v = -v
    k = 1
    while v // k >= 10:
        k *= 10
    while k:
        out[i] = 48 + (v // k) % 10
        i += 1
        k //= 10
    return i


@njit(cache=True)
def _tok(out, i, toks, starts, ends, j):  # type: ignore[no-untyped-def]
    """Token ``j`` of msgspec's list at ``out[i:]``; the end."""
    for k in range(starts[j], ends[j]):
        out[i] = toks[k]
        i += 1
    return i


@njit(cache=True)
def ack_json(  # type: ignore[no-untyped-def]
    toks, count, n, ratio_levels, nbands, tail, out_i, delta, out_b
):
    """The book and the metrics as the JSON msgspec gives for the dicts ``answer_metrics``
    builds, into ``out_b``: ``toks`` msgspec's JSON of the list of :func:`ack_json_numbers`'
    ``count`` doubles (its tokens: each double as msgspec writes it, NaN as null), ``out_i``
    its integers, ``delta`` the cumulative delta. Returns ``(status, end of the book, end of
    the metrics)``; :data:`INEXACT` when ``toks`` is not a list of ``count`` tokens."""
    starts = np.empty(count, dtype=np.int64)
    ends = np.empty(count, dtype=np.int64)
    if len(toks) < 2 or toks[0] != 91 or toks[len(toks) - 1] != 93:  # "[" .. "]"
        return INEXACT, 0, 0
    j, s = 0, 1
    for k in range(1, len(toks)):
        c = toks[k]
        if c == 44 or k == len(toks) - 1:  # "," or the closing "]"
            if j >= count:
                return INEXACT, 0, 0
            starts[j], ends[j] = s, k
            j += 1
            s = k + 1
    if j != count:
        return INEXACT, 0, 0
    at = _copy(out_b, 0, _J_BOOK)
    for side in range(2):
        if side == 1:
            at = _copy(out_b, at, _J_ASKS)
        for r in range(out_i[side]):
            if r:
                out_b[at] = 44
                at += 1
            out_b[at] = 91
            at = _tok(out_b, at + 1, toks, starts, ends, F_ROWS + side * n + r)
            out_b[at] = 44
            at = _dec(out_b, at + 1, out_i[I_SIZES + side * n + r])
            out_b[at] = 93
            at += 1
    out_b[at] = 93
    out_b[at + 1] = 125  # "]}"
    book_end = at = at + 2
    at = _copy(out_b, at, _J_METRICS)
    at = _tok(out_b, at, toks, starts, ends, tail)
    at = _copy(out_b, at, _J_MID)
    at = _tok(out_b, at, toks, starts, ends, 0)
    at = _copy(out_b, at, _J_MICRO)
    at = _tok(out_b, at, toks, starts, ends, 1)
    at = _copy(out_b, at, _J_IMB)
    at = _tok(out_b, at, toks, starts, ends, 2)
    at = _copy(out_b, at, _J_OFI)
    at = _dec(out_b, at, out_i[3])
    at = _copy(out_b, at, _J_OFI_W)
    at = _dec(out_b, at, out_i[4])
    at = _copy(out_b, at, _J_DELTA)
    at = _dec(out_b, at, delta)
    at = _copy(out_b, at, _J_VWAP)
    at = _tok(out_b, at, toks, starts, ends, 3)
    at = _copy(out_b, at, _J_BANDS)
    nr = len(ratio_levels)
    if out_i[5] != 0:  # the VWAP's volume: else no bands
        bb = F_ROWS + 2 * n + nr
        for i in range(nbands):
            if i:
                out_b[at] = 44
                at += 1
            at = _copy(out_b, at, _J_BAND)
            at = _tok(out_b, at, toks, starts, ends, tail + 2 + i)
            at = _copy(out_b, at, _J_UPPER)
            at = _tok(out_b, at, toks, starts, ends, bb + i)
            at = _copy(out_b, at, _J_LOWER)
            at = _tok(out_b, at, toks, starts, ends, bb + nbands + i)
            out_b[at] = 125
            at += 1
    at = _copy(out_b, at, _J_MOM)
    at = _tok(out_b, at, toks, starts, ends, tail + 1)
    at = _copy(out_b, at, _J_RATIO)
    for i in range(nr):
        if i:
            out_b[at] = 44
            at += 1
        at = _copy(out_b, at, _J_LEVELS)
        at = _dec(out_b, at, ratio_levels[i])
        at = _copy(out_b, at, _J_RATIO1)
        at = _tok(out_b, at, toks, starts, ends, F_ROWS + 2 * n + i)
        out_b[at] = 125
        at += 1
    out_b[at] = 93
    out_b[at + 1] = 125  # "]}"
    return OK, book_end, at + 2


def json_capacity(levels: int, ratios: int, bands: int) -> int:
    """Bytes :func:`ack_json` may write at most for this shape of answer (a token at most 24
    characters, an integer 20)."""
    return 64 + 2 * levels * 50 + 320 + ratios * 64 + bands * 112
