"""Positions and P&L from fills: exact tick arithmetic, the registry's tick values against the
CME contract specs, FIFO scale-in/out, reversals, commissions and fees, MAE/MFE on hand-built
price paths, and NinjaTrader's reported position adopted."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading.money import money, price_to_ticks_exact, ticks_to_money
from orderflow.trading.orders import Fill, Side
from orderflow.trading.positions import PositionBook

_n = 0


def fill(inst: str, side: Side, qty: int, price: str, t: int = 0, commission: str = "0",
         fees: str = "0", account: str = "Sim101") -> Fill:  # fmt: skip
    global _n
    _n += 1
    ticks = get_instrument(inst).to_ticks(price)
    return Fill(f"E{_n}", "c", t, ticks, qty, side, Decimal(commission), Decimal(fees), inst,
                account)  # fmt: skip


BUY, SELL = Side.BUY, Side.SELL


@pytest.mark.parametrize(
    ("symbol", "tick", "tick_value", "point_value"),
    [("ES", "0.25", "12.50", "50"), ("MES", "0.25", "1.25", "5"), ("NQ", "0.25", "5.00", "20"),
     ("MNQ", "0.25", "0.50", "2"), ("CL", "0.01", "10.00", "1000"), ("MCL", "0.01", "1.00", "100"),
     ("YM", "1", "5", "5"), ("MYM", "1", "0.50", "0.5"), ("RTY", "0.1", "5.00", "50"),
     ("M2K", "0.1", "0.50", "5"), ("GC", "0.1", "10.00", "100"), ("MGC", "0.1", "1.00", "10")],
)  # fmt: skip
def test_the_registry_matches_the_cme_contract_specs(
    symbol: str, tick: str, tick_value: str, point_value: str
) -> None:
    inst = get_instrument(symbol)
    assert Decimal(inst.tick_size) == Decimal(tick)
    assert inst.tick_value == Decimal(tick_value)
    assert Decimal(inst.point_value) == Decimal(point_value)
    assert ticks_to_money(inst, 1) == Decimal(tick_value)
    points = int(1 / Decimal(tick))  # one full point of price
    assert ticks_to_money(inst, points) == Decimal(point_value)


@pytest.mark.parametrize(
    ("inst", "side", "qty", "entry", "exit_", "ticks", "usd"),
    [
        ("ESH4", BUY, 1, "4810.25", "4811.25", 4, "50.00"),  # 0.25 = $12.50
        ("MESH4", BUY, 1, "4810.25", "4811.25", 4, "5.00"),  # 0.25 = $1.25
        ("NQH4", SELL, 2, "17000.00", "16998.50", 12, "60.00"),  # 0.25 = $5.00, 6 ticks x 2
        ("MNQH4", SELL, 2, "17000.00", "16998.50", 12, "6.00"),  # 0.25 = $0.50
        ("CLG4", BUY, 3, "75.00", "75.37", 111, "1110.00"),  # 0.01 = $10.00, 37 ticks x 3
        ("CLG4", BUY, 1, "75.00", "74.99", -1, "-10.00"),
        ("GCG4", SELL, 1, "2050.0", "2051.3", -13, "-130.00"),  # 0.1 = $10.00
    ],
)
def test_round_trip_pnl_per_instrument(
    inst: str, side: Side, qty: int, entry: str, exit_: str, ticks: int, usd: str
) -> None:
    book = PositionBook()
    other = SELL if side is BUY else BUY
    book.apply(fill(inst, side, qty, entry, t=1, commission="0.59", fees="1.00"))
    assert book.position("Sim101", inst).quantity == qty * side.sign
    closed = book.apply(fill(inst, other, qty, exit_, t=2, commission="0.59", fees="1.00"))
    (trade,) = closed
    assert trade.realized_ticks == ticks and trade.gross == Decimal(usd)
    assert trade.commission == Decimal("1.18") and trade.fees == Decimal("2.00")
    assert trade.net == Decimal(usd) - Decimal("3.18")
    pos = book.position("Sim101", inst)
    assert pos.quantity == 0 and pos.realized == Decimal(usd) and pos.trade is None


def test_scale_in_and_out_is_fifo_like_ninjatraders_trades() -> None:
    book = PositionBook()
    pos = book.position("Sim101", "ESH4")
    book.apply(fill("ESH4", BUY, 1, "4810.00", t=1))
    book.apply(fill("ESH4", BUY, 2, "4811.00", t=2))
    assert pos.quantity == 3 and pos.avg_price_ticks == Fraction(19240 + 2 * 19244, 3)
    assert book.apply(fill("ESH4", SELL, 2, "4812.50", t=3)) == []  # still long 1
    trade = pos.trade
    assert trade is not None
    # FIFO: the 1 @ 4810.00 (+10 ticks), then 1 of the 2 @ 4811.00 (+6 ticks)
    assert [(lot.quantity, lot.pnl_ticks) for lot in trade.lots] == [(1, 10), (1, 6)]
    assert pos.realized_ticks == 16 and pos.realized == Decimal("200.00")
    assert pos.quantity == 1 and pos.avg_price_ticks == 19244  # the lot left: 4811.00
    (done,) = book.apply(fill("ESH4", SELL, 1, "4810.00", t=4))
    assert done.realized_ticks == 12 and done.gross == Decimal("150.00")  # = average-cost total
    assert done.max_quantity == 3 and done.entry_quantity == done.exit_quantity == 3
    assert done.avg_entry_ticks == Fraction(57728, 3) and done.avg_exit_ticks == Fraction(57740, 3)
    assert [lot.exit_execution for lot in done.lots][-1] == done.executions[-1]


def test_a_fill_through_flat_closes_the_trade_and_opens_the_next() -> None:
    book = PositionBook()
    book.apply(fill("MNQH4", BUY, 2, "17000.00", t=1, commission="0.70"))
    (closed,) = book.apply(fill("MNQH4", SELL, 3, "17001.00", t=2, commission="1.05",
                                fees="0.30"))  # fmt: skip
    assert closed.realized_ticks == 8 and closed.gross == Decimal("4.00")
    # the reversing fill's commission and fees are split 2:1 between the two trades
    assert closed.commission == Decimal("0.70") + Decimal("0.70")
    assert closed.fees == Decimal("0.20")
    pos = book.position("Sim101", "MNQH4")
    assert pos.quantity == -1 and pos.trade is not None and pos.trade.direction == -1
    assert pos.trade.commission == Decimal("0.35") and pos.trade.fees == Decimal("0.10")
    assert pos.commission == Decimal("1.75") and pos.fees == Decimal("0.30")
    assert [t.number for t in book.trades] == [1, 2]


def test_unrealized_and_account_totals() -> None:
    book = PositionBook()
    book.apply(fill("ESH4", BUY, 2, "4810.00", commission="1.18"))
    book.apply(fill("CLG4", SELL, 1, "75.00", commission="1.50", fees="0.50"))
    book.apply(fill("ESH4", BUY, 1, "4810.00", account="Other"))
    book.mark("ESH4", get_instrument("ESH4").to_ticks("4809.50"))
    book.mark("CLG4", get_instrument("CLG4").to_ticks("74.90"))
    es = book.position("Sim101", "ESH4")
    assert es.unrealized_ticks() == -4 and es.unrealized() == Decimal("-50.00")
    assert book.position("Sim101", "CLG4").unrealized() == Decimal("100.00")
    totals = book.account_totals("Sim101")
    assert totals == {"realized": Decimal(0), "commission": Decimal("2.68"),
                      "fees": Decimal("0.50"), "net_realized": Decimal("-3.18"),
                      "unrealized": Decimal("50.00")}  # fmt: skip
    assert book.position("Other", "ESH4").unrealized() == Decimal("-25.00")
    d = es.to_dict()
    assert d["avg_price"] == 4810.0 and d["unrealized"] == -50.0 and d["quantity"] == 2


def test_a_repeated_execution_is_counted_once() -> None:
    book = PositionBook()
    f = fill("ESH4", BUY, 1, "4810.00")
    book.apply(f)
    book.apply(f)
    assert book.position("Sim101", "ESH4").quantity == 1


def test_mae_mfe_of_a_long_on_a_hand_built_path() -> None:
    book = PositionBook()
    es = get_instrument("ESH4")
    book.apply(fill("ESH4", BUY, 1, "4810.00", t=1))
    for price in ("4809.25", "4811.25", "4808.50", "4810.50"):  # -3, +5, -6, +2 ticks
        book.mark("ESH4", es.to_ticks(price))
    (trade,) = book.apply(fill("ESH4", SELL, 1, "4811.00", t=2))
    assert (trade.mae_ticks, trade.mfe_ticks) == (6, 5)
    assert (trade.mae, trade.mfe) == (Decimal("75.00"), Decimal("62.50"))
    assert trade.realized_ticks == 4
    book.mark("ESH4", es.to_ticks("4700.00"))  # flat: no trade follows the market
    assert (trade.mae_ticks, trade.mfe_ticks) == (6, 5)


def test_mae_mfe_of_a_short_with_a_scale_in() -> None:
    book = PositionBook()
    nq = get_instrument("NQH4")
    book.apply(fill("NQH4", SELL, 1, "17000.00"))
    book.mark("NQH4", nq.to_ticks("17001.00"))  # -4
    book.apply(fill("NQH4", SELL, 1, "17001.00"))  # adds at the adverse price: equity -4
    book.mark("NQH4", nq.to_ticks("17001.50"))  # -6 + -2 = -8
    book.mark("NQH4", nq.to_ticks("16998.00"))  # +8 + +12 = +20
    (trade,) = book.apply(fill("NQH4", BUY, 2, "16999.00"))  # +4 +8 = +12
    assert (trade.mae_ticks, trade.mfe_ticks, trade.realized_ticks) == (8, 20, 12)
    assert (trade.mae, trade.mfe, trade.gross) == (Decimal("40.00"), Decimal("100.00"),
                                                   Decimal("60.00"))  # fmt: skip


def test_a_trade_that_never_goes_against_has_zero_mae() -> None:
    book = PositionBook()
    book.apply(fill("MESH4", BUY, 1, "5000.00"))
    book.mark("MESH4", get_instrument("MESH4").to_ticks("5002.00"))
    (trade,) = book.apply(fill("MESH4", SELL, 1, "5001.00"))
    assert (trade.mae_ticks, trade.mfe_ticks) == (0, 8) and trade.gross == Decimal("5.00")


def test_ninjatraders_reported_position_is_adopted() -> None:
    book = PositionBook()
    es = get_instrument("ESH4")
    book.apply(fill("ESH4", BUY, 1, "4810.00", t=1))
    pos = book.position("Sim101", "ESH4")
    avg = price_to_ticks_exact(es, 4810.125, 2)  # NinjaTrader: short 2 @ 4810.125
    assert avg == Fraction(38481, 2)
    ended = pos.adopt(-2, avg, t=5)
    assert ended is not None and ended.closed_by == "reconcile" and not ended.open
    assert pos.quantity == -2 and pos.trade is not None and pos.trade.adopted
    (trade,) = book.apply(fill("ESH4", BUY, 2, "4809.00", t=6))
    assert trade.realized_ticks == 9 and money(trade.gross) == Decimal("112.50")
    assert trade.to_dict()["avg_entry"] == 4810.125
