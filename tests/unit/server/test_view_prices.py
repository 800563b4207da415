"""Prices on the viewer stream's rows converted on a whole array at once are the very floats
``Instrument.to_price`` makes one at a time: for the instruments table's ticks (0.25, 1,
0.1, 0.01) and one of 1/64 and one of 0.00005, over tick counts near zero, negative, at today's
prices and far past them (where a float64 cannot hold the fixed-point price exactly and the
conversion goes one at a time); a print's row is ``[ts, price, size, side]`` as before."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.model.instruments import Instrument, get_instrument
from orderflow.server.view import _EXACT, PRINT_DTYPE, prices_of, print_rows

NAMES = ["ES", "MES", "NQ", "YM", "RTY", "CL", "GC"]


def ticks_for(fixed: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    edge = _EXACT // fixed
    return np.concatenate([
        np.arange(-50, 50), rng.integers(1, 4_000_000, 500), [edge - 1, edge, edge + 1],
        rng.integers(-(2**40), 2**40, 50),
    ]).astype(np.int64)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_an_array_of_prices_is_to_price_of_each(name: str) -> None:
    check(get_instrument(name))


@pytest.mark.parametrize("tick", ["0.015625", "0.00005", "0.0078125", "5"])
def test_odd_ticks_too(tick: str) -> None:
    from dataclasses import replace

    check(replace(get_instrument("ES"), tick_size=tick))


def check(inst: Instrument) -> None:
    ticks = ticks_for(inst.tick_fixed)
    got = prices_of(ticks, inst.to_price)
    want = [inst.to_price(t) for t in ticks.tolist()]
    assert got == want
    assert all(type(x) is float for x in got)
    # just below the exact edge the array path runs; past it, one at a time: the same
    small = ticks[np.abs(ticks) < _EXACT // inst.tick_fixed]
    assert prices_of(small, inst.to_price) == [inst.to_price(t) for t in small.tolist()]
    assert prices_of(ticks[:0], inst.to_price) == []


def test_a_plain_function_is_called_per_price() -> None:
    assert prices_of(np.array([1, 2, 3]), lambda t: t * 10) == [10, 20, 30]


def test_a_print_row_is_ts_price_size_side() -> None:
    inst = get_instrument("ES")
    p = np.zeros(3, dtype=PRINT_DTYPE)
    p["ts"] = [1703546784321274235, 1703546784321765325, 2**62]
    p["price"] = [19238, 19239, 1]
    p["size"] = [1, 250, 7]
    p["side"] = [-1, 1, 0]
    assert print_rows(p, inst.to_price) == [
        [1703546784321274235, 4809.5, 1, -1], [1703546784321765325, 4809.75, 250, 1],
        [2**62, 0.25, 7, 0]]  # fmt: skip
