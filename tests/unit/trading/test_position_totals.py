"""A position's kept totals (open quantity and cost) and its integer marks, against the
``Fraction`` sums over the open lots worked out again at every step: after price moves, scale
in and out, reversals through flat, an adopted fractional average, and on contracts whose
tick values differ (ES and MES, NQ, CL and MCL). Every value must be equal and every ``Decimal`` the
same digits (``str``) as ``ticks_to_money`` of the exact tick count gives."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading.money import ticks_to_money
from orderflow.trading.orders import Fill, Side
from orderflow.trading.positions import Position, PositionBook, Trade

_N = [0]


def _fill(book: PositionBook, inst: str, side: Side, qty: int, px: int, t: int) -> list[Trade]:
    _N[0] += 1
    fee = Decimal("0.35") * qty
    return book.apply(Fill(f"x{_N[0]}", "c", t, px, qty, side, fee, Decimal("1.20"), inst, "A"))


def _ref_unrealized(pos: Position, mark: int) -> Fraction:
    return pos.direction * sum(((mark - lot.price) * lot.quantity for lot in pos.lots), Fraction(0))


class _Ref:
    """MAE/MFE of each trade worked out from the lots at every mark and fill."""

    def __init__(self) -> None:
        self.mfe: dict[int, Fraction] = {}
        self.mae: dict[int, Fraction] = {}

    def seen(self, trade: Trade | None, pos: Position, mark: int) -> None:
        if trade is None:
            return
        equity = trade.realized_ticks + _ref_unrealized(pos, mark)
        self.mfe[trade.number] = max(self.mfe.get(trade.number, Fraction(0)), equity)
        self.mae[trade.number] = max(self.mae.get(trade.number, Fraction(0)), -equity)

    def closed(self, trade: Trade) -> None:
        equity = trade.realized_ticks
        self.mfe[trade.number] = max(self.mfe.get(trade.number, Fraction(0)), equity)
        self.mae[trade.number] = max(self.mae.get(trade.number, Fraction(0)), -equity)


def _check(pos: Position, mark: int) -> None:
    inst = pos.instrument
    held = sum(lot.quantity for lot in pos.lots)
    assert pos.quantity == pos.direction * held
    cost = sum((lot.price * lot.quantity for lot in pos.lots), Fraction(0))
    assert pos.avg_price_ticks == (cost / held if held else None)
    want = _ref_unrealized(pos, mark)
    got = pos.unrealized_ticks(mark)
    assert type(got) is Fraction and got == want
    money = pos.unrealized(mark)
    assert str(money) == str(ticks_to_money(inst, want))
    assert pos.unrealized() == ticks_to_money(inst, _ref_unrealized(pos, pos.last_mark or 0))


@pytest.mark.parametrize("contract", ["ESH4", "MESH4", "NQH4", "CLG4", "MCLG4"])
def test_random_fills_and_marks_match_the_lot_sums(contract: str) -> None:
    rng = random.Random(sum(map(ord, contract)))
    book = PositionBook()
    pos = book.position("A", contract)
    ref = _Ref()
    px = 10_000
    for t in range(1, 601):
        px += rng.choice((-3, -1, -1, 0, 1, 1, 3))
        if rng.random() < 0.25:
            side = rng.choice((Side.BUY, Side.SELL))
            if abs(pos.quantity) >= 6:  # back towards flat, through it at times
                side = Side.SELL if pos.quantity > 0 else Side.BUY
            for trade in _fill(book, contract, side, rng.randint(1, 8), px, t):
                ref.closed(trade)  # its last mark was the closing fill, no lot left
            ref.seen(pos.trade, pos, px)  # the open (or newly reversed) trade, at the fill
        else:
            book.mark(contract, px)
            ref.seen(pos.trade, pos, px)
        _check(pos, px)
        _check(pos, px + rng.randint(-20, 20))
        if pos.trade is not None:
            assert pos.trade.mfe_ticks == ref.mfe[pos.trade.number]
            assert pos.trade.mae_ticks == ref.mae[pos.trade.number]
    assert len(book.trades) > 20
    for trade in book.trades:
        assert type(trade.mfe_ticks) is Fraction and type(trade.mae_ticks) is Fraction
        assert trade.mfe_ticks == ref.mfe[trade.number], trade.number
        assert trade.mae_ticks == ref.mae[trade.number], trade.number


def test_a_mark_after_a_price_move_and_after_the_lots_change() -> None:
    book = PositionBook()
    pos = book.position("A", "ESH4")
    _fill(book, "ESH4", Side.BUY, 2, 19_000, 1)
    _fill(book, "ESH4", Side.BUY, 1, 19_006, 2)  # cost 57,006 ticks over 3
    book.mark("ESH4", 19_004)
    assert pos.unrealized() == Decimal("12.50") * (2 * 4 - 2)  # 6 ticks
    book.mark("ESH4", 18_996)
    assert pos.unrealized_ticks() == Fraction(-2 * 4 - 10)
    assert pos.trade is not None and pos.trade.mae_ticks == 18 and pos.trade.mfe_ticks == 12
    _fill(book, "ESH4", Side.SELL, 1, 18_996, 3)  # FIFO: a lot at 19,000 goes, -4 ticks
    assert pos.quantity == 2 and pos.avg_price_ticks == Fraction(19_003)
    assert pos.unrealized_ticks(18_996) == -14
    assert pos.unrealized(19_010) == Decimal("12.50") * 14
    _fill(book, "ESH4", Side.SELL, 4, 19_010, 4)  # closes 2 (+14), reverses short 2
    assert pos.quantity == -2 and pos.avg_price_ticks == 19_010
    assert pos.unrealized(19_000) == Decimal("250.00")
    closed = book.trades[0]
    assert closed.realized_ticks == 10 and closed.mfe_ticks == 12 and closed.mae_ticks == 18


def test_the_same_ticks_on_es_and_mes_are_a_tenth_apart() -> None:
    book = PositionBook()
    es, mes = book.position("A", "ESH4"), book.position("A", "MESH4")
    for c in ("ESH4", "MESH4"):
        _fill(book, c, Side.SELL, 3, 19_000, 1)
        book.mark(c, 19_007)
    assert es.unrealized_ticks() == mes.unrealized_ticks() == -21
    assert str(es.unrealized()) == "-262.50" and str(mes.unrealized()) == "-26.25"
    assert es.unrealized() == 10 * mes.unrealized()
    assert get_instrument("MESH4").tick_value * 10 == get_instrument("ESH4").tick_value


def test_an_adopted_fractional_average_keeps_the_exact_fraction() -> None:
    book = PositionBook()
    pos = book.position("A", "ESH4")
    pos.adopt(3, Fraction(57_722, 3), 1)  # NinjaTrader's 4810.333333 for 3 contracts
    assert pos.avg_price_ticks == Fraction(57_722, 3)
    book.mark("ESH4", 19_245)
    _check(pos, 19_245)
    assert pos.unrealized_ticks() == 3 * 19_245 - 57_722  # 13 ticks: a whole total
    assert pos.trade is not None and pos.trade.mfe_ticks == 13
    _fill(book, "ESH4", Side.BUY, 1, 19_250, 2)  # whole-tick lot beside the fractional one
    _check(pos, 19_251)
    assert pos.unrealized_ticks(19_251) == 4 * 19_251 - 57_722 - 19_250
    _fill(book, "ESH4", Side.SELL, 2, 19_240, 3)  # 2 of the adopted lot go, -4/3 realised
    assert pos.trade is not None and pos.trade.realized_ticks == Fraction(-4, 3)
    _check(pos, 19_241)
    book.mark("ESH4", 19_260)  # equity -4/3 + (19,260 - 57,722 / 3) + (19,260 - 19,250)
    want = Fraction(-4, 3) + (19_260 - Fraction(57_722, 3)) + (19_260 - 19_250)
    assert pos.trade.mfe_ticks == max(Fraction(13), want)
    want_money = ticks_to_money(pos.instrument, _ref_unrealized(pos, 19_260))
    assert str(pos.unrealized()) == str(want_money)
    _fill(book, "ESH4", Side.SELL, 2, 19_260, 4)
    assert pos.quantity == 0 and pos.unrealized() == 0 and pos.avg_price_ticks is None


def test_a_reconciled_flat_report_clears_the_totals() -> None:
    book = PositionBook()
    pos = book.position("A", "CLG4")
    _fill(book, "CLG4", Side.BUY, 2, 7_000, 1)
    pos.adopt(0, Fraction(0), 2)
    assert pos.quantity == 0 and pos.avg_price_ticks is None
    assert pos.unrealized_ticks(7_100) == 0
    _fill(book, "CLG4", Side.SELL, 1, 7_050, 3)
    assert pos.quantity == -1 and pos.unrealized(7_040) == Decimal("100.00")


def test_the_hosts_open_pnl_over_es_and_mes_follows_each_price_and_each_fill() -> None:
    """The host reuses its open P&L while the price and the lots are unchanged: a fill at the
    same price, a move, a micro beside the standard (a tenth of its tick value) each give the
    Fraction sums' amount again."""
    from tests.unit.trading.test_strategy import T0, S, host

    h = host()
    es_key, mes_key = h.keys  # the standard and its micro, both this host's
    book, acct = h.desk.positions, h.desk.orders.account

    def fill(key: str, side: Side, qty: int, px: int, t: int) -> None:
        _N[0] += 1
        book.apply(Fill(f"h{_N[0]}", "c", t, px, qty, side, Decimal(0), Decimal(0), key, acct))

    fill(es_key, Side.BUY, 2, 19_000, T0)
    fill(mes_key, Side.SELL, 3, 19_004, T0)
    steps = [(19_000, None), (19_000, None), (19_000, (es_key, Side.BUY, 1, 19_000)),
             (19_003, None), (19_003, (mes_key, Side.BUY, 2, 19_003)), (18_990, None),
             (18_990, (es_key, Side.SELL, 3, 18_990)), (18_995, None)]  # fmt: skip
    for k, (px, new) in enumerate(steps):
        t = T0 + (k + 1) * S
        if new is not None:
            fill(*new, t)
        h._mark(t, px)
        positions = [book.position(acct, key) for key in (es_key, mes_key)]
        assert all(p.last_mark == px for p in positions)
        want = sum((ticks_to_money(p.instrument, _ref_unrealized(p, px)) for p in positions),
                   Decimal(0))  # fmt: skip
        assert any(p.quantity for p in positions)
        assert h.risk.state.unrealised == float(want), (k, px)
    assert book.position(acct, es_key).quantity == 0
    assert book.position(acct, mes_key).quantity == -1
    assert h.risk.state.unrealised == float(Decimal("1.25") * (19_004 - 18_995))
