"""The compiled passes behind :func:`orderflow.server.view.heat_packed` and
:func:`~orderflow.server.view.prints_packed`: a block of heat columns, or of prints, written
straight as the MessagePack bytes ``msgspec`` makes of their rows (the dicts of
:func:`~orderflow.server.view.heat_rows`, the lists of :func:`~orderflow.server.view.print_rows`),
with no Python object per column, print or size: the viewer stream's binary form (a third of
a frame's CPU went into those rows and their encoding).

The bytes are msgspec's (:mod:`._msgpack_kernels`). A pass writes the items only (the caller
puts :func:`array_header` of their total count before the items of all its chunks) into
``out``, sized to hold the worst case, and returns how many bytes it wrote. The byte helpers
are inlined into the passes and a size that is a positive fixint is written in place (a call
per size made a pass three times slower).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from orderflow.server._msgpack_kernels import array as _array
from orderflow.server._msgpack_kernels import array_header, key_bytes
from orderflow.server._msgpack_kernels import copy as _copy
from orderflow.server._msgpack_kernels import float_bits as _float
from orderflow.server._msgpack_kernels import put_int as _int

__all__ = ["HEAT_KEYS", "array_header", "heat_pass", "prints_pass", "put_prints"]

#: the keys of a heat column, in the order heat_rows makes them (each a fixstr)
HEAT_KEYS = ("ts", "p0", "step", "sizes", "bid", "ask", "last")
#: each key's fixstr, ready to copy
_KEYS = tuple(key_bytes(k) for k in HEAT_KEYS)
_KEYS_LEN = 1 + sum(len(k) for k in _KEYS)  # with the map's header
#: a tick size's float64 bits, by tick size
_STEP_BITS: dict[float, np.uint64] = {}


@njit(cache=True, inline="always")
def _price_or_nil(out, i, ticks, no_price, bits):  # type: ignore[no-untyped-def]
    if ticks == no_price:
        out[i] = 0xC0
        return i + 1
    return _float(out, i, bits)


@njit(cache=True)
def _heat(ts, meta, sizes, scale, price_scale, step_bits, no_price, out,  # type: ignore[no-untyped-def]
          k_ts, k_p0, k_step, k_sizes, k_bid, k_ask, k_last):  # fmt: skip
    n, width = sizes.shape
    cell = np.empty(1, dtype=np.float64)
    bits = cell.view(np.uint64)
    i = 0
    for c in range(n):
        first = 0
        while first < width and sizes[c, first] == 0:
            first += 1
        end = width
        while end > first and sizes[c, end - 1] == 0:
            end -= 1
        if first == width:  # no size at all: nothing kept, p0 at the first price
            first = end = 0
        out[i] = 0x87
        i = _copy(out, i + 1, k_ts)
        i = _int(out, i, ts[c])
        i = _copy(out, i, k_p0)
        cell[0] = (meta[c, 0] + first) * scale / price_scale
        i = _float(out, i, bits[0])
        i = _copy(out, i, k_step)
        i = _float(out, i, step_bits)
        i = _copy(out, i, k_sizes)
        i = _array(out, i, end - first)
        for j in range(first, end):
            v = sizes[c, j]
            if 0 <= v < 128:  # most sizes: a positive fixint
                out[i] = v
                i += 1
            else:
                i = _int(out, i, np.int64(v))
        i = _copy(out, i, k_bid)
        cell[0] = meta[c, 1] * scale / price_scale
        i = _price_or_nil(out, i, meta[c, 1], no_price, bits[0])
        i = _copy(out, i, k_ask)
        cell[0] = meta[c, 2] * scale / price_scale
        i = _price_or_nil(out, i, meta[c, 2], no_price, bits[0])
        i = _copy(out, i, k_last)
        cell[0] = meta[c, 3] * scale / price_scale
        i = _price_or_nil(out, i, meta[c, 3], no_price, bits[0])
    return i


def heat_pass(ts: np.ndarray, meta: np.ndarray, sizes: np.ndarray, scale: int,
              price_scale: int, step: float, no_price: int) -> bytes:  # fmt: skip
    """The MessagePack items (no array header) of the heat columns of a block (see the
    module)."""
    n, width = sizes.shape
    # a column: its keys, six numbers of at most 9 bytes, the sizes' header and each size
    # in at most 1 + its width in bytes
    out = np.empty(n * (_KEYS_LEN + 6 * 9 + 5 + width * (1 + sizes.itemsize)), np.uint8)
    step_bits = _STEP_BITS.get(step)
    if step_bits is None:
        step_bits = _STEP_BITS[step] = np.array([step], np.float64).view(np.uint64)[0]
    end = _heat(np.ascontiguousarray(ts, dtype=np.int64), np.ascontiguousarray(meta, np.int64),
                np.ascontiguousarray(sizes), np.int64(scale), np.int64(price_scale), step_bits,
                np.int64(no_price), out, *_KEYS)  # fmt: skip
    return out[:end].tobytes()


@njit(cache=True)
def _prints(ts, price, size, side, scale, price_scale, out):  # type: ignore[no-untyped-def]
    n = len(ts)
    cell = np.empty(1, dtype=np.float64)
    bits = cell.view(np.uint64)
    i = 0
    for c in range(n):
        out[i] = 0x94
        i = _int(out, i + 1, ts[c])
        cell[0] = price[c] * scale / price_scale
        i = _float(out, i, bits[0])
        i = _int(out, i, size[c])
        i = _int(out, i, np.int64(side[c]))
    return i


def prints_pass(prints: np.ndarray, scale: int, price_scale: int) -> bytes:
    """The MessagePack items (no array header) of a block of prints' rows (see the
    module)."""
    n = len(prints)
    out = np.empty(n * 30, np.uint8)  # a row: header, float64, three ints of at most 9
    end = _prints(np.ascontiguousarray(prints["ts"]), np.ascontiguousarray(prints["price"]),
                  np.ascontiguousarray(prints["size"]), np.ascontiguousarray(prints["side"]),
                  np.int64(scale), np.int64(price_scale), out)  # fmt: skip
    return out[:end].tobytes()


@njit(cache=True)
def put_prints(ring, i, trades):  # type: ignore[no-untyped-def]
    """Classified prints (TRADE_DTYPE records) into the views' ring of PRINT_DTYPE records
    from row ``i`` on, going round at its end (it holds at least as many rows): time, price,
    size and the aggressor as the wire's sign (``Side`` BID +1, ASK -1, NONE 0; a code above
    NONE is NONE, a negative one counts from the end as a numpy index does). Returns the
    last print's price."""
    m = len(ring)
    for j in range(len(trades)):
        k = (i + j) % m
        t = trades[j]
        r = ring[k]
        r.ts = t.ts_event
        r.price = t.price
        r.size = t.size
        s = min(t.side, 2)
        if s < 0:
            s += 3
            if s < 0:
                raise IndexError("a print's side is out of range")
        r.side = 1 if s == 0 else (-1 if s == 1 else 0)
    return trades[len(trades) - 1].price
