"""What a decision reuses from the previous one (the mark, the open P&L, the combined position,
the last print's price, our positions, each entry's view) is worked out again as soon as its
inputs change: a fill between two decisions at the same price (ours, a partial one, another
account's), an adoption, a new print, another pipeline, a decision without a mark, the micro's
first trade, any value of an entry; and the best of many prints is the same by either path."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from orderflow.engine.pipeline import Pipeline
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.signals.signal_log import SignalLog
from orderflow.trading.host import StrategyHost, _Prints
from orderflow.trading.orders import Fill, Side
from orderflow.trading.params import TradingParams
from orderflow.trading.positions import PositionBook
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import EntryView, MoveStop, SignalStrategy, StrategyParams
from tests.unit.trading.test_strategy import (
    ASK,
    ES,
    T0,
    Reports,
    S,
    entered,
    host,
    market,
    signal,
)


def _fresh(h: StrategyHost, last: int) -> tuple[float, tuple[int, float | None]]:
    """The open P&L and the combined position worked out from scratch."""
    pnl = sum((p.unrealized(last) for p in h._positions()), Decimal(0))
    return float(pnl), h._combine()


def test_a_fill_between_decisions_at_the_same_price_is_seen() -> None:
    h = host(contracts=3)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    last = ASK + 5
    t = T0 + 10 * S
    for k in range(2):  # the same price twice: the second decision reuses the first's work
        h.step(market(t + k * S, last=last))
        assert (h.risk.state.unrealised, h._combined()) == _fresh(h, last)
    assert h.risk.state.unrealised == 3 * 5 * 12.5
    trade = h.desk.positions.position(h.desk.orders.account, h.key).trade
    assert trade is not None and trade.mfe_ticks == 15
    r.fill(f"{bid}.tgt1", ASK + 8, 1, t + 3 * S)  # one contract out, at another price
    h.step(market(t + 4 * S, last=last))
    assert h.risk.state.unrealised == 2 * 5 * 12.5
    assert (h.risk.state.unrealised, h._combined()) == _fresh(h, last)
    assert h._combined()[0] == 2
    h.step(market(t + 5 * S, last=last + 3))  # a new price moves the MFE
    assert trade.mfe_ticks == 8 + 2 * 8
    assert (h.risk.state.unrealised, h._combined()) == _fresh(h, last + 3)


def _prints(prices: list[int], first: int) -> np.ndarray:
    out = np.zeros(len(prices), dtype=TRADE_DTYPE)
    out["ts_event"] = [T0 + (first + i) * S for i in range(len(prices))]
    out["price"] = prices
    out["size"], out["side"] = 1, 1
    return out


def test_the_last_price_follows_new_prints_and_a_new_pipeline() -> None:
    h = host()
    pipe = Pipeline(ES, "trades")
    pipe.process_trades(_prints([ASK, ASK + 2], 0))
    assert h.market_context(pipe).last_ticks == ASK + 2
    assert h.market_context(pipe).last_ticks == ASK + 2  # no print since: the same
    pipe.process_trades(_prints([ASK - 4], 90))  # a new print, a minute bar closed on time
    assert h.market_context(pipe).last_ticks == ASK - 4
    other = Pipeline(ES, "trades")  # as many prints, another price
    other.process_trades(_prints([ASK + 7, ASK + 1, ASK + 9], 0))
    assert other.trades == pipe.trades
    assert h.market_context(other).last_ticks == ASK + 9


def test_the_lots_the_mark_saw_serve_only_its_own_decision() -> None:
    """The combined position reuses the lots key the mark just built; a later decision
    without a last price (no mark) works it out again after a fill in between."""
    h = host(contracts=3)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    t = T0 + 10 * S
    h.step(market(t, last=ASK + 2))  # marked: its lots key serves this decision
    assert h._combined_at is not None and h._combined_at[1][0] == 3
    r.fill(f"{bid}.tgt1", ASK + 8, 1, t + S)
    ctx = h.context(market(t + 2 * S, last=None))  # no mark: no lots key of its own
    assert (ctx.position, ctx.avg_price_ticks) == (2, float(ASK)) == h._combine()


def test_the_extreme_of_many_prints_is_the_same_in_numpy_and_python() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 5, 64, 65, 300):
        ts = np.sort(rng.integers(0, 1_000, n)).astype(np.int64)
        px = rng.integers(19_000, 19_100, n).astype(np.int64)
        for since in (0, 500, 2_000):
            for d in (1, -1):
                kept = px[ts >= since].tolist()
                want = (max(kept) if d > 0 else min(kept)) if kept else None
                assert _Prints(0, 0, ts, px).extreme(d, since, True) == want


def test_the_books_counts_move_at_every_change_and_the_lot_count_not_at_a_mark() -> None:
    """What the mark, the open P&L and the combined position are keyed on."""
    book = PositionBook()
    seen = [(book.changes, book.lot_changes)]

    def moved(lots: bool) -> None:
        now = (book.changes, book.lot_changes)
        assert now[0] > seen[-1][0] and (now[1] > seen[-1][1]) == lots
        seen.append(now)

    pos = book.position("A", "ESH4")
    moved(True)  # a position added
    book.position("A", "ESH4")
    assert (book.changes, book.lot_changes) == seen[-1]  # the same position: nothing moved
    book.apply(Fill("x1", "c1", 1, ASK, 2, Side.BUY, account="A", instrument="ESH4"))
    moved(True)
    book.mark("ESH4", ASK + 3)
    moved(False)
    book.mark("ESH4", ASK + 3)  # the same price again still counts (a reader keys on it)
    moved(False)
    book.apply(Fill("x2", "c2", 2, ASK + 1, 1, Side.SELL, account="A", instrument="ESH4"))
    moved(True)  # a partial exit
    book.apply(Fill("x2", "c2", 2, ASK + 1, 1, Side.SELL, account="A", instrument="ESH4"))
    assert (book.changes, book.lot_changes) == seen[-1]  # a resent execution: nothing
    pos.adopt(1, Fraction(ASK), 3)  # NinjaTrader's report with the same lot: a new trade
    moved(True)
    book.apply(Fill("x3", "c3", 4, ASK, 3, Side.SELL, account="A", instrument="ESH4"))
    moved(True)  # through flat: short 2
    assert pos.quantity == -2


def test_an_adoption_or_another_accounts_fill_between_decisions_marks_again() -> None:
    h = host(contracts=2)
    r = Reports(h)
    entered(h, r, price=ASK)
    book = h.desk.positions
    pos = book.position(h.desk.orders.account, h.key)
    t = T0 + 10 * S
    h.step(market(t, last=ASK + 4))
    assert h.risk.state.unrealised == 2 * 4 * 12.5
    pos.adopt(3, Fraction(ASK - 1), t + S)  # the same price next: the new lots still count
    trade = pos.trade
    assert trade is not None and trade.mfe_ticks == 0
    h.step(market(t + 2 * S, last=ASK + 4))
    assert h.risk.state.unrealised == 3 * 5 * 12.5 and trade.mfe_ticks == 15
    assert h._combined() == (3, float(ASK - 1)) == h._combine()
    other = book.position("Other", h.key)  # another account's position in our contract
    book.apply(Fill("o1", "oc1", t, ASK, 1, Side.SELL, account="Other", instrument=h.key))
    h.step(market(t + 3 * S, last=ASK + 4))
    assert other.trade is not None and other.trade.mae_ticks == 4  # marked at the same price


def test_our_positions_take_the_micro_once_it_trades() -> None:
    h = StrategyHost(ES, SignalStrategy(StrategyParams()),
                     TradingParams(sizing=SizingParams(auto_micro=True)))  # fmt: skip
    assert len(h.keys) == 2
    assert [p.instrument.contract for p in h._positions()] == ["ESH4"]
    h.desk.positions.apply(Fill("m1", "mc1", T0, ASK, 3, Side.BUY,
                                account=h.desk.orders.account, instrument=h.keys[1]))  # fmt: skip
    assert [p.instrument.contract for p in h._positions()] == ["ESH4", "MESH4"]
    assert h.position == 3


def test_an_entrys_view_is_made_again_when_any_value_changes() -> None:
    """A view equal in every value is the previous one; a partial fill (only the filled,
    open and working values change), a fill of a target, a stop move each make a new one,
    equal to the view built field by field."""
    h = host(contracts=3)
    r = Reports(h)
    (cmd,) = h.step(market(T0, signal(T0, 1)))
    r.work([cmd], T0)

    def view() -> EntryView:
        (v,) = h._views(ASK)
        kw = {f.name: getattr(v, f.name) for f in dataclasses.fields(EntryView)}
        assert v == EntryView(**kw)
        return v

    first = view()
    assert view() is first  # nothing changed
    legs = r.fill(cmd.cid, ASK, 1, T0 + 1)
    part = view()
    assert part is not first and (part.filled, part.open, part.entry_working) == (1, 1, True)
    r.work(legs, T0 + 2)
    r.fill(cmd.cid, ASK, 2, T0 + 3)
    full = view()
    assert (full.filled, full.open, full.entry_working) == (3, 3, False)
    r.work(h.desk.brackets.sync(T0 + 4, h.desk.brackets.brackets[cmd.cid]), T0 + 4)
    assert view() is full
    r.fill(f"{cmd.cid}.tgt1", ASK + 8, 1, T0 + 5)
    out = view()
    assert out is not full and out.open == 2
    h._apply(T0 + 6, MoveStop(cmd.cid, ASK + 1, "breakeven"), market(T0 + 6))
    moved = view()
    assert moved is not out and moved.stop_ticks == ASK + 1


def test_a_decision_with_no_new_print_sees_no_extreme() -> None:
    ts = np.arange(5, dtype=np.int64)
    px = np.array([3, 9, 1, 7, 5], dtype=np.int64)
    assert _Prints(10, 15, ts, px).extreme(1, 0, False) is None  # every print seen before
    assert _Prints(10, 15, ts, px).extreme(1, 0, True) == 9  # an entry's first sight: all
    assert _Prints(10, 13, ts, px).extreme(-1, 0, False) == 5  # the last two are new


def test_signals_a_strategy_does_not_read_are_still_counted_when_lost() -> None:
    log: SignalLog[Any] = SignalLog(kept=2, items=[signal(T0 + k, 1) for k in range(5)])
    for read in (True, False):
        h = host()
        got = h._take(log, 1, read)
        assert len(got) == (2 if read else 0) and h.counters["signals_not_kept"] == 2
        assert h._take(log, 5, read) == [] and h.counters["signals_not_kept"] == 2
