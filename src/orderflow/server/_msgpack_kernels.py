"""MessagePack written as ``msgspec`` writes it, byte by byte, for the compiled passes that
encode a viewer frame's heat columns and prints (:mod:`._view_kernels`) and an answer's book
and metrics (:mod:`._answer_kernels`) with no Python object per number.

msgspec's choices, followed exactly: an integer in the smallest form (positive fixint, else
uint8/16/32/64 for a non-negative one; negative fixint, else int8/16/32/64), a float always
as float64, nil for None (and for a NaN the wire sends as null), fixstr keys, fixarray,
array16 or array32 by length; big-endian throughout. The small helpers are inlined into the
passes; :func:`put_int` is called, not inlined (one copy of it keeps the passes' compile time
down).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["array", "array_header", "be", "copy", "float_bits", "float_or_nil", "key_bytes",
           "put_int"]  # fmt: skip


def key_bytes(key: str, head: bytes = b"") -> np.ndarray:
    """``key`` as a fixstr, after ``head`` (e.g. the header of the map it opens), ready to copy."""
    raw = key.encode()
    return np.frombuffer(head + bytes([0xA0 | len(raw)]) + raw, dtype=np.uint8)


def array_header(n: int) -> bytes:
    """A MessagePack array's header of ``n`` items, as msgspec writes it."""
    if n < 16:
        return bytes([0x90 | n])
    if n < 65536:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


@njit(cache=True, inline="always")
def be(out, i, v, n):  # type: ignore[no-untyped-def]
    """``v`` (uint64 bits) as ``n`` big-endian bytes at ``out[i:]``; the end."""
    for k in range(n):
        out[i + k] = (v >> np.uint64(8 * (n - 1 - k))) & np.uint64(0xFF)
    return i + n


@njit(cache=True)
def put_int(out, i, v):  # type: ignore[no-untyped-def]
    """An integer as msgspec writes it; the end."""
    if v >= 0:
        if v < 128:
            out[i] = v
            return i + 1
        u = np.uint64(v)
        if v < 256:
            out[i] = 0xCC
            return be(out, i + 1, u, 1)
        if v < 65536:
            out[i] = 0xCD
            return be(out, i + 1, u, 2)
        if v < 4294967296:
            out[i] = 0xCE
            return be(out, i + 1, u, 4)
        out[i] = 0xCF
        return be(out, i + 1, u, 8)
    if v >= -32:
        out[i] = np.uint8(v & 0xFF)
        return i + 1
    u = np.uint64(v)  # two's complement: the low bytes are the signed form's
    if v >= -128:
        out[i] = 0xD0
        return be(out, i + 1, u, 1)
    if v >= -32768:
        out[i] = 0xD1
        return be(out, i + 1, u, 2)
    if v >= -2147483648:
        out[i] = 0xD2
        return be(out, i + 1, u, 4)
    out[i] = 0xD3
    return be(out, i + 1, u, 8)


@njit(cache=True, inline="always")
def float_bits(out, i, bits):  # type: ignore[no-untyped-def]
    """A float64 (its bits) as msgspec writes it; the end."""
    out[i] = 0xCB
    return be(out, i + 1, bits, 8)


@njit(cache=True, inline="always")
def float_or_nil(out, i, x, cell):  # type: ignore[no-untyped-def]
    """``x`` as a float64, or nil when it is NaN (``cell``: a one-element float64 array whose
    uint64 view gives the bits); the end."""
    if x != x:
        out[i] = 0xC0
        return i + 1
    cell[0] = x
    return float_bits(out, i, cell.view(np.uint64)[0])


@njit(cache=True, inline="always")
def array(out, i, n):  # type: ignore[no-untyped-def]
    """An array's header of ``n`` items; the end."""
    if n < 16:
        out[i] = 0x90 | n
        return i + 1
    if n < 65536:
        out[i] = 0xDC
        return be(out, i + 1, np.uint64(n), 2)
    out[i] = 0xDD
    return be(out, i + 1, np.uint64(n), 4)


@njit(cache=True, inline="always")
def copy(out, i, src):  # type: ignore[no-untyped-def]
    """The bytes ``src`` at ``out[i:]``; the end."""
    for k in range(len(src)):
        out[i + k] = src[k]
    return i + len(src)
