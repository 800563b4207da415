"""Currency from ticks keeps its digits: ``ticks_to_money`` on a ``Fraction`` it is given (used
as it is, not copied into a new one) and on ints gives the ``Decimal`` of the exact formula,
digit for digit (``str``), and a trade's row (``Trade.to_dict``, gross worked out once) holds
the rounded figures of its own ``gross`` and ``net`` properties. A float product in place of
the exact one fails the first test."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest

from orderflow.model.instruments import Instrument, get_instrument
from orderflow.trading.money import money, ticks_to_money
from orderflow.trading.orders import Fill, Side
from orderflow.trading.positions import PositionBook

_EXACT = Decimal("0.000001")


def _reference(inst: Instrument, ticks: Fraction | int) -> Decimal:
    """The formula as written before: a new ``Fraction`` of the ticks, then the product."""
    f = Fraction(ticks)
    value = inst.tick_value * f.numerator
    if f.denominator == 1:
        return value
    return (value / f.denominator).quantize(_EXACT, rounding=ROUND_HALF_EVEN)


def _float_variant(inst: Instrument, ticks: Fraction | int) -> Decimal:
    """A broken variant (a float product), for the fault check."""
    return Decimal(repr(float(ticks) * float(inst.tick_value))).quantize(_EXACT)


def _values(rng: random.Random) -> list[Fraction | int]:
    out: list[Fraction | int] = [0, 1, -1, Fraction(0), Fraction(-7, 3), Fraction(57722, 3)]
    for _ in range(400):
        out.append(rng.randint(-(10**9), 10**9))
        out.append(Fraction(rng.randint(-(10**12), 10**12), rng.randint(1, 10**4)))
    return out


@pytest.mark.parametrize("contract", ["ESH4", "MESH4", "NQH4", "CLG4", "MCLG4", "GCG4"])
def test_ticks_to_money_of_a_fraction_has_the_exact_formulas_digits(contract: str) -> None:
    inst = get_instrument(contract)
    rng = random.Random(contract)
    values = _values(rng)
    for v in values:
        got = ticks_to_money(inst, v)
        want = _reference(inst, v)
        assert str(got) == str(want), v
    assert any(str(_float_variant(inst, v)) != str(_reference(inst, v)) for v in values)


def test_a_trade_rows_gross_and_net_are_its_properties_rounded() -> None:
    rng = random.Random(11)
    book = PositionBook()
    for n in range(1, 301):
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        fee = Decimal(rng.choice(["0.35", "1.18", "2.09"])) * rng.randint(1, 3)
        fill = Fill(f"x{n}", "c", n, 19_000 + rng.randint(-40, 40), rng.randint(1, 4), side,
                    fee, Decimal("0.62"), "ESH4", "A")  # fmt: skip
        book.apply(fill)
    closed = [t for t in book.trades if not t.open]
    assert len(closed) > 15
    for t in closed:
        row = t.to_dict()
        assert row["gross"] == float(money(t.gross))
        assert row["net"] == float(money(t.net))
        assert row["mae"] == float(money(t.mae)) and row["mfe"] == float(money(t.mfe))
