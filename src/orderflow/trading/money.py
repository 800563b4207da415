"""Instrument money math, exact: ticks to currency with the registry's tick value.

Prices are integer ticks inside the trading engine; an average price (several fills) is an
exact fraction of a tick. Currency is ``Decimal``: a tick count times the instrument's tick
value (tick size x point value, ``orderflow.model.instruments``), never a float product.
Shared by positions/P&L and, where they need it, risk and sizing.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from orderflow.model.instruments import Instrument

__all__ = [
    "CENT",
    "money",
    "price_to_ticks_exact",
    "ticks_to_money",
    "ticks_to_points",
    "to_decimal",
]

CENT = Decimal("0.01")
_EXACT = Decimal("0.000001")


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """A commission, fee or price as a Decimal (a float through its shortest repr: 0.35 is
    0.35, not 0.34999...)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def ticks_to_money(instrument: Instrument, ticks: Fraction | int) -> Decimal:
    """Currency of ``ticks`` tick-contracts (ES: 4 ticks = $50.00). Exact for whole ticks;
    a fractional tick count (an average price) rounds at 1e-6 of the currency."""
    f = ticks if type(ticks) is Fraction else Fraction(ticks)  # (a Fraction is kept: no copy)
    value = instrument.tick_value * f.numerator
    if f.denominator == 1:
        return value
    return (value / f.denominator).quantize(_EXACT, rounding=ROUND_HALF_EVEN)


def money(value: Decimal) -> Decimal:
    """Rounded to the cent for display and reports (banker's rounding)."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def ticks_to_points(instrument: Instrument, ticks: Fraction | int) -> Fraction:
    """Ticks to price points (ES: 4 ticks = 1 point)."""
    return Fraction(ticks) * Fraction(instrument.tick_size)


def price_to_ticks_exact(
    instrument: Instrument, price: Decimal | float | str, quantity: int = 1
) -> Fraction:
    """NinjaTrader's average price of ``quantity`` contracts to exact ticks. The fills behind
    it were on the grid, so price x quantity is a whole number of ticks: it is rounded to
    that (4810.333333333333 for 3 ES contracts = 57722 / 3 ticks; 4810.125 for 2 = 19240.5)."""
    total = to_decimal(price) * quantity / Decimal(instrument.tick_size)
    return Fraction(int(total.to_integral_value(rounding=ROUND_HALF_EVEN)), max(1, quantity))
