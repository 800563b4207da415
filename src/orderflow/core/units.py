"""Prices as exact integers.

Inside the engine a price is an integer number of ticks. At the edges prices arrive as decimal
text, floats (NinjaTrader's ``double``) or fixed-point integers (Databento: 1 unit = 1e-9), and
leave as decimal text. Every conversion here is exact: 4810.25 on a 0.25 tick is tick 19241,
always, because the arithmetic is done on integers of 1e-9, never on binary floats.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np

from orderflow.core.errors import DecodeError, OffTickError
from orderflow.core.scale import PRICE_SCALE as PRICE_SCALE
from orderflow.core.scale import UNDEF_PRICE as UNDEF_PRICE

_SCALE_DEC = Decimal(PRICE_SCALE)


def to_fixed(price: str | Decimal | float | int) -> int:
    """Convert a price to fixed-point 1e-9 units, exactly.

    Floats are read through their shortest repr (``repr(4810.25) == '4810.25'``), which is
    what a human or NinjaTrader meant; anything finer than 1e-9 is an error, not a rounding.
    """
    try:
        dec = Decimal(repr(price)) if isinstance(price, float) else Decimal(price)
    except (InvalidOperation, ValueError) as exc:
        raise DecodeError(f"price {price!r} is not a number", field="price") from exc
    if not dec.is_finite():
        raise DecodeError(f"price {price!r} is not finite", field="price")
    scaled = dec * _SCALE_DEC
    integral = scaled.to_integral_value()
    if scaled != integral:
        raise DecodeError(f"price {price!r} is finer than 1e-9", field="price")
    return int(integral)


def fixed_to_ticks(price_fixed: int, tick_fixed: int) -> int:
    """Fixed-point price to ticks; raises :class:`OffTickError` when off the grid."""
    ticks, rem = divmod(price_fixed, tick_fixed)
    if rem:
        raise OffTickError(
            f"price {fixed_to_decimal(price_fixed)} is not a multiple of the tick "
            f"{fixed_to_decimal(tick_fixed)}",
            field="price",
        )
    return ticks


def price_to_ticks(price: str | Decimal | float | int, tick_size: str | Decimal | float) -> int:
    """Any edge price to integer ticks, exactly. Off-grid prices raise :class:`OffTickError`."""
    return fixed_to_ticks(to_fixed(price), to_fixed(tick_size))


def floats_to_ticks(prices: np.ndarray, tick_fixed: int) -> tuple[np.ndarray, int]:
    """Many float prices to ticks at once, with the same result as :func:`to_fixed` and
    :func:`fixed_to_ticks` one by one: ``(ticks, i)`` where ``i`` is the index of the first
    price that is off the grid, finer than 1e-9, not finite or beyond int64 ticks (-1 when
    none). O(n), one compiled pass; a price the pass cannot prove exact goes the exact way."""
    from orderflow.core._units_kernels import fast_ticks

    p = np.ascontiguousarray(prices, dtype=np.float64)
    ticks = np.zeros(len(p), dtype=np.int64)
    start = 0
    while start < len(p):
        i = int(fast_ticks(p[start:], tick_fixed, ticks[start:]))
        if i < 0:
            return ticks, -1
        i += start
        try:  # rare: huge, odd or bad prices, the exact (Decimal) way
            ticks[i] = fixed_to_ticks(to_fixed(float(p[i])), tick_fixed)
        except (DecodeError, OffTickError, OverflowError):  # overflow: beyond int64 ticks
            return ticks, i
        start = i + 1
    return ticks, -1


def first_implausible(ticks: np.ndarray, check: np.ndarray, ref: int | None, max_abs: int) -> int:
    """Index of the first tick price (of those ``check`` marks) beyond ``max_abs`` from zero or,
    with a reference ``ref``, more than ``max(|ref| // 2, 1000)`` ticks from it; -1 when none.
    One compiled pass (the same test as the numpy expression, without its temporaries)."""
    from orderflow.core._units_kernels import first_far

    has_ref = ref is not None
    return int(first_far(ticks, check, 0 if ref is None else int(ref), has_ref, int(max_abs)))


def floats_to_ticks_or_none(prices: np.ndarray, tick_fixed: int) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`floats_to_ticks`, but every price is tried: ``(ticks, ok)`` where ``ok[i]``
    is False for a price off the grid, finer than 1e-9, not finite (NaN for a missing one) or
    beyond int64 ticks (its tick is then 0). O(n), one compiled pass when all are fine."""
    from orderflow.core._units_kernels import fast_ticks

    p = np.ascontiguousarray(prices, dtype=np.float64)
    ticks = np.zeros(len(p), dtype=np.int64)
    ok = np.ones(len(p), dtype=np.bool_)
    start = 0
    while start < len(p):
        i = int(fast_ticks(p[start:], tick_fixed, ticks[start:]))
        if i < 0:
            break
        i += start
        try:  # rare: missing, huge, odd or bad prices, the exact (Decimal) way
            ticks[i] = fixed_to_ticks(to_fixed(float(p[i])), tick_fixed)
        except (DecodeError, OffTickError, OverflowError):
            ok[i] = False
        start = i + 1
    return ticks, ok


def fixed_to_decimal(price_fixed: int) -> Decimal:
    """Fixed-point 1e-9 units to a normalised Decimal (``4810250000000`` -> ``4810.25``)."""
    return (Decimal(price_fixed) / _SCALE_DEC).normalize() + Decimal(0)


def ticks_to_decimal(ticks: int, tick_size: str | Decimal | float) -> Decimal:
    """Ticks back to the exchange's price as an exact Decimal."""
    return fixed_to_decimal(int(ticks) * to_fixed(tick_size))


def ticks_to_float(ticks: int, tick_size: str | Decimal | float) -> float:
    """Ticks to a float for display and JSON (exact for every realistic futures price)."""
    return float(ticks_to_decimal(ticks, tick_size))


def decimals_of(tick_size: str | Decimal | float) -> int:
    """How many decimals a price needs on this tick grid (0.25 -> 2, 0.1 -> 1, 1 -> 0)."""
    exp = Decimal(repr(tick_size) if isinstance(tick_size, float) else tick_size).normalize()
    return max(0, -int(exp.as_tuple().exponent))


def format_price(ticks: int, tick_size: str | Decimal | float) -> str:
    """Ticks as the exchange writes the price, with the grid's decimals (``4810.00``)."""
    return f"{ticks_to_decimal(ticks, tick_size):.{decimals_of(tick_size)}f}"
