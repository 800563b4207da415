"""The checks every trading parameter and every booked number goes through.

Parameters (``RiskParams``, ``SizingParams``, ...) validate in ``__post_init__`` with
:func:`number`, :func:`integer` and :func:`flag`: the right type (a bool is not a number, 2.5
is not an integer), finite, within its bounds; a ``ValueError`` names the field. Money that is
booked (a fill's commission and fees, realised and open P&L) goes through :func:`money_value`
and :func:`pnl_value`: a non-finite, negative or absurd amount raises
:class:`~orderflow.core.errors.TradingInputError`, so P&L can never become NaN or absurd
whatever the path (API, backtest, journal replay).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from orderflow.core.errors import ParameterError, TradingInputError

__all__ = [
    "MAX_CONTRACTS",
    "MAX_MONEY",
    "MAX_PRICE_TICKS",
    "flag",
    "integer",
    "money_value",
    "number",
    "pnl_value",
    "quantity_value",
    "text",
    "ticks_value",
]

#: no single amount the engine books (a commission, a fee, a trade's P&L) reaches this; beyond
#: it a number is corrupt, not money (and Decimal's 28 digits would fail rounding to the cent)
MAX_MONEY = 1e12
#: contracts in one fill, order or position (NinjaTrader's own order limit is far lower)
MAX_CONTRACTS = 100_000
#: a price in ticks: far beyond any futures price, well within int64 and exact floats
MAX_PRICE_TICKS = 1 << 40


def number(
    obj: Any,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    optional: bool = False,
) -> None:
    """``obj.name`` is a finite real number (not a bool) within ``[lo, hi]`` (``(lo, hi]``
    with ``lo_open``); None only when ``optional`` (documented as "off")."""
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{name}: a number is expected, not {value!r}")
    if not math.isfinite(value):
        raise ParameterError(f"{name}: {value} is not a finite number")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ParameterError(f"{name}: {value} must be {'>' if lo_open else '>='} {lo:g}")
    if hi is not None and value > hi:
        raise ParameterError(f"{name}: {value} must be <= {hi:g}")


def integer(
    obj: Any, name: str, *, lo: int | None = None, hi: int | None = None, optional: bool = False
) -> None:
    """``obj.name`` is an int (not a bool, not 2.5) within ``[lo, hi]``."""
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name}: an integer is expected, not {value!r}")
    if lo is not None and value < lo:
        raise ParameterError(f"{name}: {value} must be >= {lo}")
    if hi is not None and value > hi:
        raise ParameterError(f"{name}: {value} must be <= {hi}")


def flag(obj: Any, *names: str) -> None:
    """Each ``obj.name`` is a bool (the string ``"false"`` is not one)."""
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, bool):
            raise ParameterError(f"{name}: true or false is expected, not {value!r}")


def text(obj: Any, *names: str) -> None:
    """Each ``obj.name`` is a string."""
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, str):
            raise ParameterError(f"{name}: a string is expected, not {value!r}")


def money_value(value: Decimal | float | int, field: str) -> Decimal:
    """A commission or fee to book: finite, >= 0 and below :data:`MAX_MONEY`, as a Decimal."""
    d = value if isinstance(value, Decimal) else Decimal(repr(value)) if isinstance(
        value, float) else Decimal(value)  # fmt: skip
    if not d.is_finite() or d < 0 or d >= Decimal(MAX_MONEY):
        raise TradingInputError(
            f"{field}: {value} is not a plausible amount (finite, >= 0, < {MAX_MONEY:g})",
            field=field, value=str(value),
        )  # fmt: skip
    return d


def pnl_value(value: float, field: str) -> float:
    """A P&L figure (realised or open, currency): finite and below :data:`MAX_MONEY` in size."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or abs(value) >= MAX_MONEY:  # fmt: skip
        raise TradingInputError(f"{field}: {value} is not a plausible P&L", field=field,
                                value=str(value))  # fmt: skip
    return float(value)


def quantity_value(value: int, field: str) -> int:
    """Contracts of a fill: an int in ``[1, MAX_CONTRACTS]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CONTRACTS:
        raise TradingInputError(f"{field}: {value} is not a plausible quantity (1 .. "
                                f"{MAX_CONTRACTS})", field=field, value=str(value))  # fmt: skip
    return value


def ticks_value(value: int, field: str) -> int:
    """A price in ticks: an int within ``±MAX_PRICE_TICKS``."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PRICE_TICKS:
        raise TradingInputError(f"{field}: {value} is not a plausible price in ticks",
                                field=field, value=str(value))  # fmt: skip
    return value
