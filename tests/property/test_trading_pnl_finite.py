"""P&L never becomes NaN or absurd: random fills (plausible and hostile: NaN, infinite, negative
and absurd commissions and fees, zero, negative and huge quantities, absurd prices) walk through
the real :class:`PositionBook` and :class:`RiskManager` as the server feeds them. A hostile fill
raises :class:`TradingInputError` and changes nothing; after every step every figure is finite,
the daily loss limit still trips, and the book's net equals the sum of what it took."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.core.errors import TradingInputError
from orderflow.trading.orders import Fill, Side
from orderflow.trading.positions import PositionBook
from orderflow.trading.risk import RiskManager, RiskParams

ES = "ESH4"
BASE = 19_000  # ES 4750.00 in ticks

hostile_money = st.sampled_from(
    [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1e300"),
     Decimal("-1e6"), Decimal("-0.01"), Decimal("1e12")]
)  # fmt: skip
fair_money = st.decimals(min_value=0, max_value=50, places=2)
fill_st = st.tuples(
    st.one_of(st.integers(1, 5), st.sampled_from([0, -1, 1 << 63, 100_001])),  # quantity
    st.one_of(st.integers(-40, 40), st.sampled_from([1 << 45, -(1 << 45)])),  # price offset
    st.sampled_from([Side.BUY, Side.SELL]),
    st.one_of(fair_money, fair_money, fair_money, hostile_money),  # commission
    st.one_of(fair_money, fair_money, hostile_money),  # fees
)


def _plausible(qty: int, offset: int, commission: Decimal, fees: Decimal) -> bool:
    return (0 < qty <= 100_000 and abs(offset) < 1 << 40 and commission.is_finite()
            and fees.is_finite() and 0 <= commission < 10**12 and 0 <= fees < 10**12)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(fill_st, min_size=1, max_size=40), st.lists(st.integers(-60, 60), max_size=40))
def test_pnl_stays_finite_whatever_the_fills(fills, marks):
    book = PositionBook()
    risk = RiskManager(RiskParams(daily_loss_limit=500.0, max_consecutive_losses=0))
    taken = Decimal(0)
    for i, (qty, offset, side, commission, fees) in enumerate(fills):
        fill = Fill(f"x{i}", "c", 1_700_000_000_000_000_000 + i, BASE + offset, qty, side,
                    commission, fees, ES, "Sim101")  # fmt: skip
        pos = book.position("Sim101", ES)
        before = (pos.quantity, pos.net_realized, len(book.trades))
        if not _plausible(qty, offset, commission, fees):
            for _ in range(2):  # refused, and not remembered as seen: refused again
                try:
                    book.apply(fill)
                except TradingInputError:
                    assert (pos.quantity, pos.net_realized, len(book.trades)) == before
                else:
                    raise AssertionError(f"a hostile fill was booked: {fill}")
            continue
        net0 = pos.net_realized
        book.apply(fill)
        taken += commission + fees
        risk.roll_day(fill.t)
        risk.state.unrealised = float(pos.unrealized())
        risk.on_realised(float(pos.net_realized - net0), fill.t)
        if i < len(marks):
            book.mark(ES, BASE + marks[i])
            risk.on_unrealised(float(pos.unrealized()), fill.t)
        status = risk.status()
        for key in ("day_pnl", "realised_today", "unrealised", "equity"):
            assert math.isfinite(status[key]), (key, status)
        assert pos.net_realized.is_finite() and pos.unrealized().is_finite()
        assert pos.commission + pos.fees == taken
        if status["day_pnl"] <= -500.0:
            assert status["daily_stop"] == "daily_loss_limit"


@given(st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300]))
def test_risk_refuses_non_finite_or_absurd_pnl(pnl):
    risk = RiskManager(RiskParams(daily_loss_limit=500.0))
    risk.on_realised(-100.0, 1)
    before = risk.state.to_dict()
    for call in (risk.on_realised, risk.on_unrealised):
        try:
            call(pnl, 2)
        except TradingInputError as exc:
            assert exc.details["field"] in ("realised", "unrealised")
        else:
            raise AssertionError(f"{call.__name__}({pnl}) was booked")
    assert risk.state.to_dict() == before
    assert risk.on_realised(-400.0, 3)[0].reason == "daily_loss_limit"  # the limit still works
