"""The reference strategy through its host, on hand-built contexts: each entry type's exact
command, each exit's exact prices and times, the timing rules. Orders are acknowledged and
filled by hand with NinjaTrader's reports (OrderEvent, Fill), as the bridge would."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from orderflow.analytics.bars import BAR_RECORD_DTYPE
from orderflow.analytics.clusters import LiquidityCluster
from orderflow.model.enums import Side as BookSide
from orderflow.model.instruments import get_instrument
from orderflow.signals.accumulate import AccumulatedSignal, Contribution
from orderflow.trading.broker import BrokerParams
from orderflow.trading.host import StrategyHost
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.sessions import SessionParams, TradingSessions, exchange_ns
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import (
    Enter,
    Exit,
    MoveStop,
    Quote,
    SignalStrategy,
    StrategyContext,
    StrategyParams,
    split_targets,
)

ES = get_instrument("ESH4")
S = 1_000_000_000
T0 = exchange_ns(date(2024, 3, 5), "10:00")  # a Tuesday, Globex open
BID, ASK = 19240, 19241


def signal(ts: int, direction: int, score: float = 1.5, price: int = 19242) -> AccumulatedSignal:
    c = Contribution("absorption", ts, score, score, price)
    return AccumulatedSignal(instrument="ESH4", ts_event=ts, direction=direction, score=score,
                             opposite_score=0.0, contributions=(c,), threshold=1.0)  # fmt: skip


def bars(atr: float = 2.5, high: int = 19243, low: int = 19236) -> np.ndarray:
    out = np.zeros(3, dtype=BAR_RECORD_DTYPE)
    out["atr"], out["high"], out["low"], out["close"] = atr, high, low, 19240
    return out


def market(ts: int, *sigs: AccumulatedSignal, last: int | None = None, bid: int = BID,
           ask: int = ASK, **kw: object) -> StrategyContext:  # fmt: skip
    return StrategyContext(
        ts_event=ts, instrument=ES, quote=Quote(bid, ask, 10, 10),
        last_ticks=last if last is not None else ask, poc_ticks=kw.pop("poc", None),  # type: ignore[arg-type]
        vwap_ticks=kw.pop("vwap", None), liquidity=kw.pop("liquidity", ()),  # type: ignore[arg-type]
        signals=sigs, long_score=0.0, short_score=0.0, bars=(kw.pop("bars", bars()),),  # type: ignore[arg-type]
    )  # fmt: skip


def host(
    contracts: int = 3, sessions: TradingSessions | None = None, risk: RiskParams | None = None,
    **strategy: object,
) -> StrategyHost:  # fmt: skip
    sp = {"targets_ticks": (8, 16, 24), "target_sizes": (1, 1, 1), "max_position": 3,
          "min_entry_spacing_s": 60.0, **strategy}  # fmt: skip
    params = TradingParams(
        risk=risk or RiskParams(max_position=3, max_order_size=3, book_stale_ms=0),
        sizing=SizingParams(method="fixed", fixed_contracts=contracts),
        broker=BrokerParams(profile="zero"),
        strategy=StrategyParams(**sp),  # type: ignore[arg-type]
    )
    return StrategyHost(ES, SignalStrategy(params.strategy), params, sessions=sessions)


class Reports:
    """NinjaTrader's side, by hand: acknowledge, fill, cancel what the host sent."""

    def __init__(self, h: StrategyHost) -> None:
        self.h = h
        self.n = 0

    def work(self, cmds: list[OrderCommand], t: int) -> list[OrderCommand]:
        out: list[OrderCommand] = []
        for c in cmds:
            o = self.h.desk.orders.orders[c.cid]
            if c.op == "submit":
                out += self.h.on_order_update(t, OrderEvent(c.cid, OrderState.WORKING, t,
                                                            c.quantity, 0, c.limit_ticks,
                                                            c.stop_ticks))  # fmt: skip
            elif c.op == "change":
                out += self.h.on_order_update(t, OrderEvent(c.cid, OrderState.WORKING, t,
                                                            c.quantity, o.filled, c.limit_ticks,
                                                            c.stop_ticks))  # fmt: skip
            elif c.op == "cancel":
                out += self.h.on_order_update(t, OrderEvent(c.cid, OrderState.CANCELLED, t,
                                                            o.quantity, o.filled))  # fmt: skip
        return out

    def fill(self, cid: str, price: int, qty: int, t: int) -> list[OrderCommand]:
        o = self.h.desk.orders.orders[cid]
        self.n += 1
        filled = o.filled + qty
        state = OrderState.FILLED if filled >= o.quantity else OrderState.PART_FILLED
        out = self.h.on_order_update(t, OrderEvent(cid, state, t, o.quantity, filled,
                                                   o.limit_ticks, o.stop_ticks))  # fmt: skip
        side = Side.BUY if o.action is not None and o.action.is_buy else Side.SELL
        out += self.h.on_fill(t, Fill(f"x{self.n}", cid, t, price, qty, side))
        return out


def entered(h: StrategyHost, r: Reports, t: int = T0, price: int = ASK, **kw: object) -> str:
    """A long market entry filled in full at ``price``; the bracket's id."""
    (cmd,) = h.step(market(t, signal(t, 1), **kw))  # type: ignore[arg-type]
    r.work([cmd], t)
    legs = r.fill(cmd.cid, price, cmd.quantity, t + 1)
    r.work(legs, t + 2)
    return cmd.cid


# ---- entry types --------------------------------------------------------------------------
def test_a_market_entry_is_one_market_order_of_the_sized_quantity() -> None:
    (cmd,) = host().step(market(T0, signal(T0, 1)))
    assert (cmd.op, cmd.action, cmd.order_type, cmd.quantity) == (
        "submit", OrderAction.BUY, OrderType.MARKET, 3)  # fmt: skip
    assert cmd.limit_ticks is None and cmd.stop_ticks is None
    (short,) = host().step(market(T0, signal(T0, -1)))
    assert (short.action, short.quantity) == (OrderAction.SELL_SHORT, 3)


@pytest.mark.parametrize(
    ("anchor", "offset", "direction", "extra", "price"),
    [
        ("touch", 0, 1, {}, BID),
        ("touch", -2, 1, {}, BID - 2),  # behind the bid
        ("touch", 1, -1, {}, ASK + 0),  # in front of the ask would cross it: clamped to the ask
        ("touch", -1, -1, {}, ASK + 1),
        ("poc", 1, 1, {"poc": 19232}, 19233),
        ("poc", 0, 1, {"poc": 19250}, BID),  # above the bid: never marketable, at the bid
        ("vwap", 0, 1, {"vwap": 19234.9}, 19234),  # a buy rounds down ...
        ("vwap", 0, -1, {"vwap": 19244.1}, 19245),  # ... a sell up
        ("cluster", 1, 1, {}, 19236),  # bid cluster 19232-19235 (19224-19227 is farther)
        ("cluster", 0, -1, {}, 19248),  # ask cluster 19248-19251
    ],
)
def test_a_limit_entry_sits_at_its_level(anchor, offset, direction, extra, price) -> None:  # type: ignore[no-untyped-def]
    liq = (
        LiquidityCluster(BookSide.BID, 19224, 19227, 300, 20, T0, 0, 3.0, 2.0),
        LiquidityCluster(BookSide.BID, 19232, 19235, 250, 18, T0, 0, 2.5, 1.8),
        LiquidityCluster(BookSide.ASK, 19248, 19251, 260, 19, T0, 0, 2.6, 1.9),
    )
    h = host(entry_type="limit", limit_anchor=anchor, limit_offset_ticks=offset)
    (cmd,) = h.step(market(T0, signal(T0, direction), liquidity=liq, **extra))
    assert (cmd.order_type, cmd.limit_ticks, cmd.quantity) == (OrderType.LIMIT, price, 3)


def test_a_limit_at_a_level_that_does_not_exist_sends_nothing() -> None:
    h = host(entry_type="limit", limit_anchor="poc")
    assert h.step(market(T0, signal(T0, 1))) == []
    assert h.strategy.counters["skip_no_limit_price"] == 1  # type: ignore[attr-defined]


def test_a_stop_breakout_goes_beyond_the_signal_or_the_bar() -> None:
    (cmd,) = host(entry_type="stop", breakout_ticks=2).step(market(T0, signal(T0, 1, price=19242)))
    assert (cmd.order_type, cmd.stop_ticks, cmd.limit_ticks) == (OrderType.STOP_MARKET, 19244, None)
    h = host(entry_type="stop", breakout_ticks=1, breakout_from="bar")
    (cmd,) = h.step(market(T0, signal(T0, -1), bars=bars(low=19236)))
    assert (cmd.action, cmd.stop_ticks) == (OrderAction.SELL_SHORT, 19235)
    # a buy stop under the ask would trigger at once: one tick over the ask instead
    (cmd,) = host(entry_type="stop", breakout_ticks=0).step(market(T0, signal(T0, 1, price=19238)))
    assert cmd.stop_ticks == ASK + 1


def test_a_pullback_entry_waits_back_from_the_signal_price() -> None:
    (cmd,) = host(entry_type="pullback", pullback_ticks=4).step(
        market(T0, signal(T0, 1, price=19242))
    )
    assert (cmd.order_type, cmd.limit_ticks) == (OrderType.LIMIT, 19238)
    (cmd,) = host(entry_type="pullback", pullback_ticks=3).step(
        market(T0, signal(T0, -1, price=19240))
    )
    assert (cmd.action, cmd.limit_ticks) == (OrderAction.SELL_SHORT, 19243)


def test_an_unfilled_entry_is_cancelled_at_its_timeout() -> None:
    h = host(entry_type="limit", entry_timeout_s=30)
    r = Reports(h)
    (cmd,) = h.step(market(T0, signal(T0, 1)))
    r.work([cmd], T0)
    assert h.step(market(T0 + 30 * S - 1)) == []
    (cancel,) = h.step(market(T0 + 30 * S))
    assert (cancel.op, cancel.cid) == ("cancel", cmd.cid)
    r.work([cancel], T0 + 30 * S + 1)
    assert h.desk.brackets.brackets[cmd.cid].status == "done"
    assert h.risk.state.pending == {}  # the cancelled entry no longer counts for risk


def test_sizing_decides_the_quantity_when_the_strategy_does_not() -> None:
    params = TradingParams(
        risk=RiskParams(max_position=10, max_order_size=10, book_stale_ms=0),
        sizing=SizingParams(method="risk", risk_per_trade=250.0, include_costs=False),
        broker=BrokerParams(profile="zero"),
        strategy=StrategyParams(stop_loss_ticks=8, max_position=10),
    )
    h = StrategyHost(ES, SignalStrategy(params.strategy), params)
    (cmd,) = h.step(market(T0, signal(T0, 1)))
    assert cmd.quantity == 2  # floor(250 / (8 x 12.50)) ES, the contract the host trades


def test_risk_refuses_an_entry_that_would_pass_its_position_limit() -> None:
    h = host(risk=RiskParams(max_position=2, max_order_size=3, book_stale_ms=0))
    assert h.step(market(T0, signal(T0, 1))) == []
    assert h.decisions[-1].outcome.startswith("risk:max_position")


# ---- exits ----------------------------------------------------------------------------------
def test_the_legs_are_placed_from_the_fill_price_stop_and_three_targets() -> None:
    h = host()
    r = Reports(h)
    (cmd,) = h.step(market(T0, signal(T0, 1)))
    r.work([cmd], T0)
    legs = r.fill(cmd.cid, 19242, 3, T0 + 1)  # a tick of slippage over the ask
    assert [(c.order_type, c.action, c.quantity, c.stop_ticks, c.limit_ticks, c.oco)
            for c in legs] == [
        (OrderType.STOP_MARKET, OrderAction.SELL, 3, 19234, None, ""),
        (OrderType.LIMIT, OrderAction.SELL, 1, None, 19250, ""),
        (OrderType.LIMIT, OrderAction.SELL, 1, None, 19258, ""),
        (OrderType.LIMIT, OrderAction.SELL, 1, None, 19266, ""),
    ]  # fmt: skip
    assert h.position == 3


def test_one_target_is_a_plain_oco_bracket() -> None:
    h = host(contracts=2, targets_ticks=(10,), target_sizes=(1,))
    r = Reports(h)
    (cmd,) = h.step(market(T0, signal(T0, -1)))
    r.work([cmd], T0)
    stop, target = r.fill(cmd.cid, BID, 2, T0 + 1)
    assert (stop.stop_ticks, target.limit_ticks, stop.quantity, target.quantity) == (
        19248, 19230, 2, 2)  # fmt: skip
    assert stop.oco == target.oco != ""


def test_scale_out_targets_fill_one_by_one_and_the_stop_follows() -> None:
    h = host()
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    b = h.desk.brackets.brackets[bid]
    stop, t1, t2, t3 = b.stop, *b.targets
    out = r.fill(t1, 19249, 1, T0 + 2 * S)  # type: ignore[arg-type]
    assert [(c.op, c.cid, c.quantity) for c in out] == [("change", stop, 2)]
    assert h.risk.state.pending[stop].remaining == 2  # type: ignore[index]  # the change counted
    r.work(out, T0 + 2 * S + 1)
    out = r.fill(t2, 19257, 1, T0 + 3 * S)  # type: ignore[arg-type]
    assert [(c.op, c.cid, c.quantity) for c in out] == [("change", stop, 1)]
    r.work(out, T0 + 3 * S + 1)
    assert h.position == 1
    out = r.fill(t3, 19265, 1, T0 + 4 * S)  # type: ignore[arg-type]
    assert [(c.op, c.cid) for c in out] == [("cancel", stop)]
    r.work(out, T0 + 4 * S + 1)
    assert h.position == 0 and b.status == "done" and b.reason == "closed by targets"
    assert h.net_realized == Decimal("600.00")  # (8 + 16 + 24) ticks x $12.50, no costs
    assert h.risk.state.pending == {} and h.risk.position("ESH4") == 0
    assert h.counters["exit_sent_despite_risk"] == 0  # a second apart: within the order rate


def test_a_protective_change_past_the_order_rate_is_accepted_and_uses_the_rate() -> None:
    h = host()  # 5 orders a second: the entry, the stop and three targets used them
    r = Reports(h)
    b = h.desk.brackets.brackets[entered(h, r)]
    out = r.fill(b.targets[0], ASK + 8, 1, T0 + 10)  # type: ignore[arg-type]
    assert [(c.op, c.cid, c.quantity) for c in out] == [("change", b.stop, 2)]
    assert h.counters["exit_sent_despite_risk"] == 0  # shrinking the stop is never refused
    assert len(h.risk.state.order_times) == 6  # ... but it counts towards the rate


def test_a_partly_filled_entry_protects_what_filled_and_grows_the_legs() -> None:
    h = host()
    r = Reports(h)
    (cmd,) = h.step(market(T0, signal(T0, 1)))
    r.work([cmd], T0)
    legs = r.fill(cmd.cid, ASK, 1, T0 + 1)
    assert [(c.order_type, c.quantity) for c in legs] == [
        (OrderType.STOP_MARKET, 1), (OrderType.LIMIT, 1)]  # fmt: skip
    r.work(legs, T0 + 2)
    more = r.fill(cmd.cid, ASK + 1, 2, T0 + 3)
    assert [(c.op, c.order_type, c.quantity, c.limit_ticks) for c in more] == [
        ("change", None, 3, None),  # the stop covers all three (anchored on the first fill)
        ("submit", OrderType.LIMIT, 1, ASK + 16),
        ("submit", OrderType.LIMIT, 1, ASK + 24),
    ]  # fmt: skip


def test_a_stop_part_fill_shrinks_the_farthest_target_first() -> None:
    h = host()
    r = Reports(h)
    b = h.desk.brackets.brackets[entered(h, r)]
    out = r.fill(b.stop, ASK - 8, 1, T0 + 10)  # type: ignore[arg-type]
    assert [(c.op, c.cid) for c in out] == [("cancel", b.targets[2])]


def test_breakeven_moves_the_stop_to_the_entry_plus_offset_after_n_ticks() -> None:
    h = host(breakeven_after_ticks=4, breakeven_offset_ticks=1)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    assert h.step(market(T0 + S, last=ASK + 3)) == []
    (move,) = h.step(market(T0 + 2 * S, last=ASK + 4))
    assert (move.op, move.cid, move.stop_ticks) == ("change", f"{bid}.stop", ASK + 1)
    r.work([move], T0 + 2 * S + 1)
    assert h.step(market(T0 + 3 * S, last=ASK + 6)) == []  # once only


def test_the_trailing_stop_follows_by_ticks() -> None:
    h = host(trail="ticks", trail_ticks=6)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    stops = []
    for i, last in enumerate([ASK + 1, ASK + 9, ASK + 11, ASK + 7, ASK + 12]):
        cmds = h.step(market(T0 + (i + 1) * S, last=last))
        r.work(cmds, T0 + (i + 1) * S + 1)
        stops.append([c.stop_ticks for c in cmds])
    # the stop starts 8 under the fill; 6 behind the best price once that is better
    assert stops == [[ASK - 5], [ASK + 3], [ASK + 5], [], [ASK + 6]]
    assert h.desk.orders.orders[f"{bid}.stop"].stop_ticks == ASK + 6


def test_the_trailing_stop_follows_by_atr() -> None:
    h = host(trail="atr", trail_atr_multiple=2.0, trail_after_ticks=4)
    r = Reports(h)
    entered(h, r, price=ASK)
    assert h.step(market(T0 + S, last=ASK + 3, bars=bars(atr=2.5))) == []  # not 4 in profit
    (move,) = h.step(market(T0 + 2 * S, last=ASK + 10, bars=bars(atr=2.5)))
    assert move.stop_ticks == ASK + 10 - 5  # ceil(2 x 2.5)
    r.work([move], T0 + 2 * S + 1)
    (move,) = h.step(market(T0 + 3 * S, last=ASK + 10, bars=bars(atr=1.2)))
    assert move.stop_ticks == ASK + 10 - 3  # ceil(2.4): the ATR narrowed


def test_the_time_stop_exits_at_the_exact_time() -> None:
    h = host(time_stop_s=120)
    r = Reports(h)
    bid = entered(h, r, price=ASK)  # filled at T0 + 1
    assert h.step(market(T0 + 1 + 120 * S - 1)) == []
    cancels = h.step(market(T0 + 1 + 120 * S))
    assert sorted(c.cid for c in cancels) == sorted(
        [f"{bid}.stop", f"{bid}.tgt1", f"{bid}.tgt2", f"{bid}.tgt3"]
    )
    assert all(c.op == "cancel" for c in cancels)
    flat = r.work(cancels, T0 + 121 * S)
    assert [(c.action, c.order_type, c.quantity) for c in flat] == [
        (OrderAction.SELL, OrderType.MARKET, 3)]  # fmt: skip
    r.work(flat, T0 + 121 * S)
    r.fill(flat[0].cid, BID, 3, T0 + 122 * S)
    assert h.position == 0 and h.desk.brackets.brackets[bid].status == "done"


def test_an_opposite_signal_over_the_threshold_closes_the_position() -> None:
    h = host(opposite_exit_score=2.0)
    r = Reports(h)
    entered(h, r)
    assert h.step(market(T0 + S, signal(T0 + S, -1, score=1.99))) == []
    assert h.strategy.decide(h.context(market(T0 + 2 * S, signal(T0 + 2 * S, -1, score=2.0)))) == [
        Exit(None, "opposite_signal 2.00")
    ]
    cmds = h.step(market(T0 + 2 * S, signal(T0 + 2 * S, -1, score=2.0)))
    assert len(cmds) == 4 and all(c.op == "cancel" for c in cmds)


def test_flatten_before_the_session_close_at_the_configured_minute() -> None:
    cal = TradingSessions(ES, SessionParams(first_year=2024, last_year=2024,
                                            flatten_before_close_min=10))  # fmt: skip
    h = host(sessions=cal)
    r = Reports(h)
    t = exchange_ns(date(2024, 3, 5), "15:00")
    entered(h, r, t=t)
    just_before = exchange_ns(date(2024, 3, 5), "15:50") - 1  # Globex closes 16:00 CT
    assert h.step(market(just_before)) == []
    cmds = h.step(market(just_before + 1))
    assert len(cmds) == 4 and all(c.op == "cancel" for c in cmds)
    # no new entry in the last ten minutes, whatever the signal
    h2 = host(sessions=cal)
    assert h2.step(market(just_before + 1, signal(just_before + 1, 1))) == []
    ctx = h2.context(market(just_before + 1))
    assert ctx.flatten_due and ctx.entry_block == "session:closing_window"
    assert not h2.context(market(just_before)).flatten_due


# ---- timing and scaling in ------------------------------------------------------------------
def test_spacing_refuses_a_second_entry_too_soon() -> None:
    h = host(contracts=1, scale_in=True, scale_in_entry_type="market", min_entry_spacing_s=60,
             scale_in_min_profit_ticks=4)  # fmt: skip
    r = Reports(h)
    entered(h, r)
    t = T0 + 60 * S - 1
    assert h.step(market(t, signal(t, 1), last=ASK + 5)) == []
    assert h.strategy.counters["skip_spacing"] == 1  # type: ignore[attr-defined]
    t = T0 + 60 * S
    (add,) = h.step(market(t, signal(t, 1), last=ASK + 5))
    assert (add.op, add.order_type, add.quantity) == ("submit", OrderType.MARKET, 1)


def test_scaling_in_needs_profit_and_stops_at_the_max_position() -> None:
    h = host(contracts=1, scale_in=True, scale_in_entry_type="market", min_entry_spacing_s=0,
             scale_in_min_profit_ticks=4, max_entries_per_direction=5)  # fmt: skip
    r = Reports(h)
    entered(h, r, price=ASK)
    assert h.step(market(T0 + S, signal(T0 + S, 1), last=ASK + 3)) == []  # not in profit enough
    sent = []
    for i in range(2, 6):
        t = T0 + i * S
        cmds = h.step(market(t, signal(t, 1), last=ASK + 8))
        sent.append(len(cmds))
        for c in cmds:
            r.work([c], t)
            r.work(r.fill(c.cid, ASK + 8, 1, t + 1), t + 2)
    assert sent == [1, 1, 0, 0]  # 1 + 2 adds = max_position 3
    assert h.position == 3
    assert h.strategy.counters["skip_max_position"] == 2  # type: ignore[attr-defined]


def test_entries_per_direction_stop_at_the_maximum() -> None:
    h = host(contracts=1, scale_in=True, scale_in_entry_type="market", min_entry_spacing_s=0,
             scale_in_min_profit_ticks=0, max_entries_per_direction=2, max_position=3)  # fmt: skip
    r = Reports(h)
    entered(h, r)
    (add,) = h.step(market(T0 + S, signal(T0 + S, 1)))
    r.work([add], T0 + S)
    r.work(r.fill(add.cid, ASK, 1, T0 + S + 1), T0 + S + 2)
    assert h.step(market(T0 + 2 * S, signal(T0 + 2 * S, 1))) == []
    assert h.strategy.counters["skip_max_entries"] == 1  # type: ignore[attr-defined]


def test_the_intents_of_a_context_are_the_same_every_time() -> None:
    s = SignalStrategy(StrategyParams(entry_type="pullback", pullback_ticks=2))
    ctx = market(T0, signal(T0, 1, price=19242))
    first = s.decide(ctx)
    assert first == s.decide(ctx) and isinstance(first[0], Enter)
    assert first[0].price_ticks == 19240 and first[0].targets == ((8, 1), (16, 1))
    assert not any(isinstance(i, MoveStop) for i in first)


def test_targets_split_in_whole_contracts_nearest_first() -> None:
    assert split_targets(3, [1, 1, 1]) == [1, 1, 1]
    assert split_targets(2, [1, 1, 1]) == [1, 1, 0]
    assert split_targets(5, [1, 1]) == [3, 2]
    assert split_targets(4, [2, 1, 1]) == [2, 1, 1]


def test_strategy_parameters_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="iceberg"):
        StrategyParams(entry_type="iceberg")
    with pytest.raises(ValueError, match="one size per target"):
        StrategyParams(targets_ticks=(8, 16), target_sizes=(1,))
    with pytest.raises(ValueError, match="increase"):
        StrategyParams(targets_ticks=(16, 8), target_sizes=(1, 1))
    assert StrategyParams(trail=False).trail == "off"  # type: ignore[arg-type]


# ---- settings -------------------------------------------------------------------------------
def test_the_strategy_settings_reach_its_parameters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from orderflow.settings import load_settings, trading_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "trading:\n  strategy: {entry_type: limit, limit_anchor: poc, targets_ticks: [8, 16, 24],\n"
        "             target_sizes: [1, 1, 1], trail: 'off', time_stop_s: 300}\n"
    )
    p = trading_params(load_settings(cfg)).strategy
    assert (p.entry_type, p.limit_anchor, p.trail, p.time_stop_s) == ("limit", "poc", "off", 300)
    assert p.targets_ticks == (8, 16, 24) and p.target_sizes == (1, 1, 1)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("trading:\n  strategy: {entry_tipe: market}\n", "trading.strategy.entry_tipe"),
        ("trading:\n  strategy: {entry_type: iceberg}\n", "trading.strategy"),
        ("trading:\n  strategy: {targets_ticks: [8], target_sizes: [1, 1]}\n", "trading.strategy"),
    ],
)
def test_bad_strategy_settings_name_the_key(tmp_path, yaml_text, key) -> None:  # type: ignore[no-untyped-def]
    from orderflow.core.errors import ConfigError
    from orderflow.settings import load_settings, trading_params

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        trading_params(load_settings(cfg))
    assert key in str(info.value)


def test_a_host_made_after_a_restart_keeps_the_spacing_of_the_entries_on_its_desk() -> None:
    """A restarted server's host is made on the restored desk: catch_up takes the latest
    entry's time, so the spacing rule still counts from it (and scaling in from the live
    entries), as if the server had never stopped."""
    from orderflow.engine.pipeline import Pipeline

    h = host(contracts=1, scale_in=True, scale_in_entry_type="market", min_entry_spacing_s=60,
             scale_in_min_profit_ticks=4)  # fmt: skip
    entered(h, Reports(h))
    again = StrategyHost(ES, h.strategy, h.params, desk=h.desk, risk=h.risk)
    again.catch_up(Pipeline(ES, "mbo"))
    t = T0 + 60 * S - 1
    assert again.step(market(t, signal(t, 1), last=ASK + 5)) == []  # too soon, still
    t = T0 + 60 * S
    (add,) = again.step(market(t, signal(t, 1), last=ASK + 5))
    assert (add.op, add.order_type, add.quantity) == ("submit", OrderType.MARKET, 1)
