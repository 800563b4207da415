"""The viewer stream's binary form writes heat columns and prints straight as MessagePack
(:func:`orderflow.server.view.heat_packed`, :func:`~orderflow.server.view.prints_packed`): the
very bytes msgspec makes of the rows the JSON form sends, over integers of every MessagePack
width and sign, missing prices (nil), empty columns and blocks, and arrays past 15 and 65,535
items; prints whose prices the array conversion cannot make exactly, or a ``to_price`` that
is not an instrument's, are left to the rows. (On ESH4's frames:
``test_view_binary.test_a_binary_frame_is_the_bytes_msgspec_makes_of_its_values``.)"""

from __future__ import annotations

import msgspec
import numpy as np

from orderflow.model.dtypes import NO_PRICE
from orderflow.model.instruments import get_instrument
from orderflow.server._view_kernels import array_header
from orderflow.server.view import (
    _EXACT,
    PRINT_DTYPE,
    heat_packed,
    heat_rows,
    print_rows,
    prints_packed,
)

ES, CL = get_instrument("ES"), get_instrument("CL")
#: one value of each width and sign MessagePack has for an integer, and its edges
EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, -1, -32, -33, -128, -129,
         -32768, -32769, -(2**31)]  # fmt: skip


def packed_heat(block: tuple[np.ndarray, np.ndarray, np.ndarray], inst: object) -> bytes:
    return array_header(len(block[0])) + heat_packed(block, inst)  # type: ignore[arg-type]


def test_heat_columns_are_the_bytes_of_their_rows() -> None:
    rng = np.random.default_rng(3)
    for inst in (ES, CL):
        for _ in range(60):
            n, width = int(rng.integers(0, 30)), int(rng.integers(1, 60))
            sizes = rng.choice(EDGES + [0] * 20, size=(n, width)).astype(np.int32)
            sizes[rng.random(n) < 0.2] = 0  # columns without any size
            ts = rng.integers(-(2**63), 2**63 - 1, size=n, dtype=np.int64)
            meta = rng.integers(-(10**6), 10**6, size=(n, 4)).astype(np.int64)
            meta[:, 1:][rng.random((n, 3)) < 0.2] = NO_PRICE
            block = (ts, meta, sizes)
            assert packed_heat(block, inst) == msgspec.msgpack.encode(heat_rows(block, inst))


def test_long_arrays_take_the_16_and_32_bit_headers() -> None:
    for width in (16, 65535, 65536, 70_000):
        sizes = np.ones((2, width), dtype=np.int32)
        block = (np.arange(2, dtype=np.int64), np.zeros((2, 4), np.int64), sizes)
        assert packed_heat(block, ES) == msgspec.msgpack.encode(heat_rows(block, ES))
    for n in (0, 15, 16, 65535, 65536):
        assert array_header(n) == msgspec.msgpack.encode([0] * n)[: len(array_header(n))]


def test_prints_are_the_bytes_of_their_rows_or_left_to_them() -> None:
    rng = np.random.default_rng(4)
    for n in (0, 1, 15, 16, 500):
        p = np.zeros(n, dtype=PRINT_DTYPE)
        p["ts"] = rng.integers(0, 2**63 - 1, n, dtype=np.int64)
        p["price"] = rng.integers(-(10**6), 10**6, n)
        p["size"] = rng.choice([*EDGES[:9], 2**40], n)
        p["side"] = rng.choice([-1, 0, 1], n)
        for inst in (ES, CL):
            got = prints_packed(p, inst.to_price)
            assert got is not None
            want = msgspec.msgpack.encode(print_rows(p, inst.to_price))
            assert array_header(n) + got == want
    # a price a float64 cannot hold exactly, a plain function: the rows' way
    p = np.zeros(2, dtype=PRINT_DTYPE)
    p["price"] = [1, _EXACT // ES.tick_fixed + 1]
    assert prints_packed(p, ES.to_price) is None
    assert prints_packed(p, lambda t: t * 0.25) is None


def test_a_part_the_bytes_cannot_say_is_sent_as_its_rows() -> None:
    import asyncio

    from orderflow.server.view_stream import CHUNK_PRINTS, _Joined, _resolve, _Slicer, pack

    p = np.zeros(3, dtype=PRINT_DTYPE)
    p["price"], p["size"] = [4, 5, _EXACT // ES.tick_fixed + 1], 1
    for to_price in (ES.to_price, lambda t: t * 0.25):
        rows = print_rows(p, to_price)
        frame = {"prints": _Joined(print_rows, p, CHUNK_PRINTS, to_price, packed=prints_packed)}
        asyncio.run(_resolve(frame, _Slicer(False), False, True))
        assert frame["prints"] == rows
        assert pack(frame) == msgspec.msgpack.encode({"prints": rows})
