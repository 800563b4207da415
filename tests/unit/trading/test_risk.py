"""Risk checks: limits stop trading at the exact update that crosses them, and no sequence of
intents, fills and cancels takes the worst-case position past the limit."""

import itertools
import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.model.instruments import get_instrument
from orderflow.trading.broker import DEFAULT_PROFILE, BrokerParams
from orderflow.trading.risk import (
    OrderIntent,
    Reason,
    RiskManager,
    RiskParams,
    RiskState,
)
from orderflow.trading.sessions import SessionParams, TradingSessions, exchange_ns

MIN = 60 * 1_000_000_000
T0 = exchange_ns(date(2024, 12, 10), "09:00")  # a Tuesday, RTH


@pytest.fixture(scope="module")
def es_sessions() -> TradingSessions:
    return TradingSessions(get_instrument("ES"), SessionParams(first_year=2023, last_year=2025))


def manager(sessions=None, **kw) -> RiskManager:
    base = {"book_stale_ms": 0.0, "max_orders_per_s": 100.0, "max_trades_per_day": 0}
    return RiskManager(RiskParams(**{**base, **kw}), sessions=sessions)


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"c{self.n}"


def buy(rm, ids, qty=1, ts=T0, **kw):
    return rm.check(OrderIntent(ids(), "ES", 1, qty, ts, **kw))


def sell(rm, ids, qty=1, ts=T0, **kw):
    return rm.check(OrderIntent(ids(), "ES", -1, qty, ts, **kw))


def round_trip(rm, ids, pnl, ts):
    """Enter 1, exit 1, realise ``pnl``; return the events of the realisation."""
    entry = OrderIntent(ids(), "ES", 1, 1, ts)
    assert rm.check(entry), rm.check(entry)
    rm.on_fill(entry.client_id, 1)
    exit_ = OrderIntent(ids(), "ES", -1, 1, ts)
    assert rm.check(exit_)
    rm.on_fill(exit_.client_id, 1)
    return rm.on_realised(pnl, ts)


def test_daily_loss_limit_stops_at_the_exact_trade_that_crosses_it_and_flattens():
    rm, ids = manager(daily_loss_limit=500.0, max_consecutive_losses=0), Ids()
    assert round_trip(rm, ids, -200.0, T0) == []
    assert round_trip(rm, ids, -250.0, T0 + MIN) == []  # -450: still trading
    assert buy(rm, ids, ts=T0 + 2 * MIN).accepted
    rm.on_fill(f"c{ids.n}", 1)  # long 1 when the next loss arrives
    events = rm.on_unrealised(-60.0, T0 + 3 * MIN)  # -510 with open P&L: crossed here
    assert [(e.reason, e.flatten) for e in events] == [(Reason.DAILY_LOSS_LIMIT, True)]
    assert rm.flatten_requested
    d = buy(rm, ids, ts=T0 + 3 * MIN)
    assert (d.accepted, d.reason) == (False, Reason.DAILY_LOSS_LIMIT)
    assert d.code.startswith("daily_loss_limit:")
    assert sell(rm, ids, ts=T0 + 3 * MIN).accepted  # the flatten order itself goes out
    rm.on_fill(f"c{ids.n}", 1)
    assert not rm.flatten_requested  # flat now; entries stay refused for the day
    rm.on_unrealised(0.0, T0 + 4 * MIN)
    assert rm.on_realised(-60.0, T0 + 4 * MIN) == []  # reported once, not again
    assert rm.state.day_pnl == -510.0
    assert not buy(rm, ids, ts=T0 + 5 * MIN).accepted
    # the next trading day starts clean
    assert buy(rm, ids, ts=exchange_ns(date(2024, 12, 11), "09:00")).accepted


def test_realised_loss_alone_crossing_the_limit():
    rm, ids = manager(daily_loss_limit=300.0, loss_limit_includes_unrealised=False), Ids()
    assert round_trip(rm, ids, -299.99, T0) == []
    rm.on_unrealised(-1_000.0, T0)  # open P&L ignored by this setting
    assert buy(rm, ids).accepted
    events = rm.on_realised(-0.01, T0 + MIN)
    assert [e.reason for e in events] == [Reason.DAILY_LOSS_LIMIT]


def test_profit_goal_stops_trading():
    rm, ids = manager(daily_profit_goal=400.0), Ids()
    assert round_trip(rm, ids, 399.0, T0) == []
    events = round_trip(rm, ids, 1.0, T0 + MIN)
    assert [(e.reason, e.flatten) for e in events] == [(Reason.PROFIT_GOAL, True)]
    assert buy(rm, ids, ts=T0 + 2 * MIN).reason == Reason.PROFIT_GOAL


def test_profit_goal_locks_a_trailing_part_of_it():
    rm, ids = manager(daily_profit_goal=400.0, profit_lock_fraction=0.5), Ids()
    assert round_trip(rm, ids, 500.0, T0) == []  # goal reached: trading goes on, 250 locked
    assert rm.state.goal_reached
    assert buy(rm, ids, ts=T0 + MIN).accepted
    rm.on_fill(f"c{ids.n}", 1)
    assert rm.on_unrealised(300.0, T0 + 2 * MIN) == []  # peak 800: the lock trails to 400
    assert rm.on_unrealised(-99.0, T0 + 3 * MIN) == []  # 401
    events = rm.on_unrealised(-100.0, T0 + 4 * MIN)  # 400 = half the 800 peak
    assert [(e.reason, e.flatten) for e in events] == [(Reason.PROFIT_LOCK, True)]
    assert rm.flatten_requested
    assert buy(rm, ids, ts=T0 + 5 * MIN).reason == Reason.PROFIT_LOCK


def test_trailing_drawdown_of_the_prop_firm_kind_freezes_at_the_start_balance():
    rm, ids = manager(daily_loss_limit=0.0, trailing_drawdown=2_000.0), Ids()
    assert rm.state.dd_threshold == 48_000.0
    rm.on_unrealised(1_500.0, T0)  # intraday: open profit lifts the high-water mark
    assert rm.state.dd_threshold == 49_500.0
    rm.on_unrealised(0.0, T0)
    assert rm.state.dd_threshold == 49_500.0  # it never comes back down
    rm.on_realised(3_000.0, T0)  # equity 53,000: the threshold would be 51,000 ...
    assert rm.state.dd_threshold == 50_000.0  # ... but freezes at the starting balance
    assert rm.on_realised(-2_999.0, T0) == []  # 50,001
    events = rm.on_realised(-1.0, T0)  # 50,000: breached
    assert [(e.reason, e.flatten) for e in events] == [(Reason.TRAILING_DRAWDOWN, True)]
    assert buy(rm, ids, ts=exchange_ns(date(2024, 12, 11), "09:00")).reason == (
        Reason.TRAILING_DRAWDOWN
    )  # an account limit: a new day does not lift it


def test_end_of_day_trailing_moves_only_at_the_day_change():
    rm = manager(daily_loss_limit=0.0, trailing_drawdown=1_000.0, trailing_mode="end_of_day",
                 trailing_freeze_at_start=False)  # fmt: skip
    rm.on_realised(0.0, T0)
    rm.on_unrealised(800.0, T0)
    assert rm.state.dd_threshold == 49_000.0
    rm.on_unrealised(500.0, exchange_ns(date(2024, 12, 11), "09:00"))  # the day ended at +800
    assert rm.state.dd_threshold == 49_800.0


def test_consecutive_losses_cool_off():
    rm, ids = manager(max_consecutive_losses=3, cooloff_minutes=30.0), Ids()
    round_trip(rm, ids, -10.0, T0)
    round_trip(rm, ids, 5.0, T0)  # a win breaks the streak
    round_trip(rm, ids, -10.0, T0)
    round_trip(rm, ids, -10.0, T0)
    events = round_trip(rm, ids, -10.0, T0 + MIN)
    assert [(e.reason, e.flatten) for e in events] == [(Reason.COOL_OFF, False)]
    d = buy(rm, ids, ts=T0 + 30 * MIN)
    assert (d.reason, d.detail) == (Reason.COOL_OFF, "1.0 min left")
    assert buy(rm, ids, ts=T0 + 31 * MIN).accepted


def test_kill_switch_manual_and_automatic():
    rm, ids = manager(book_stale_ms=2_000.0), Ids()
    assert buy(rm, ids).accepted
    rm.on_fill("c1", 1)
    event = rm.kill("manual", T0)
    assert (event.reason, event.flatten) == (Reason.KILL_SWITCH, True)
    assert rm.flatten_requested
    assert buy(rm, ids).code == "kill_switch:manual"
    assert sell(rm, ids).accepted  # flattening is always allowed
    rm.on_fill(f"c{ids.n}", 1)
    rm.reset_kill()
    # a stale book: no update for more than 2 s at the time of the check
    rm.on_book(T0)
    assert buy(rm, ids, ts=T0 + 2_000_000_000).accepted
    rm.on_order_done(f"c{ids.n}")
    d = buy(rm, ids, ts=T0 + 2_000_000_001)
    assert d.code == "kill_switch:book_stale"
    rm.on_book(T0 + 3_000_000_000)  # fresh again, but the kill latches
    assert buy(rm, ids, ts=T0 + 3_000_000_000).code == "kill_switch:book_stale"
    rm.reset_kill()
    events = rm.on_book(T0 + 4_000_000_000, crossed=True)
    assert [e.detail for e in events] == ["book_crossed"]
    rm.on_book(T0 + 4_000_000_000)
    rm.reset_kill()
    assert rm.on_connection(False, T0) == []  # within the grace: nothing latches yet
    assert [e.detail for e in rm.on_book(T0 + 10 * 10**9)] == ["connection_lost"]


def test_the_book_is_not_stale_over_the_maintenance_break(es_sessions):
    rm, ids = manager(es_sessions, book_stale_ms=5_000.0), Ids()
    rm.on_book(exchange_ns(date(2024, 12, 10), "15:59"))  # the last update before the break
    reopen = exchange_ns(date(2024, 12, 10), "17:00")
    assert buy(rm, ids, ts=reopen + 5 * 10**9).accepted  # 5 s into the new session
    rm.on_order_done(f"c{ids.n}")
    assert buy(rm, ids, ts=reopen + 5 * 10**9 + 1).code == "kill_switch:book_stale"


def test_a_short_disconnect_refuses_entries_and_latches_nothing():
    rm, ids = manager(), Ids()
    assert rm.on_connection(False, T0) == []
    assert buy(rm, ids, ts=T0 + 3 * 10**9).code == "disconnected:bridge away for 3.0 s"
    assert rm.on_connection(True, T0 + 9 * 10**9) == []  # back within the 10 s grace
    assert buy(rm, ids, ts=T0 + 9 * 10**9).accepted
    assert not rm.state.kill and rm.state.disconnected_ns == 0


def test_a_long_disconnect_trips_the_kill_on_reconnect_even_if_nothing_looked_meanwhile():
    rm, ids = manager(), Ids()
    rm.on_connection(False, T0)
    events = rm.on_connection(True, T0 + 10 * 10**9)  # away exactly the grace
    assert [(e.detail, e.flatten) for e in events] == [("connection_lost", True)]
    assert buy(rm, ids, ts=T0 + 11 * 10**9).code == "kill_switch:connection_lost"  # latched


def test_automatic_kill_can_lift_by_itself():
    rm, ids = manager(auto_kill_latches=False, disconnect_grace_s=0.0), Ids()
    rm.on_connection(False, T0)
    assert buy(rm, ids).code == "kill_switch:connection_lost"
    rm.on_connection(True, T0)
    assert buy(rm, ids).accepted


def test_order_size_trades_per_day_rate_and_order_types():
    rm = RiskManager(
        RiskParams(max_order_size=2, max_position=5, max_trades_per_day=2, book_stale_ms=0.0,
                   max_orders_per_s=10.0),
        broker=BrokerParams(allowed_order_types=("Market", "Limit"), max_orders_per_s=3).build(),
    )  # fmt: skip
    ids = Ids()
    assert buy(rm, ids, qty=3).reason == Reason.MAX_ORDER_SIZE
    assert buy(rm, ids, order_type="StopMarket").code == "order_type_not_allowed:StopMarket"
    assert buy(rm, ids, order_type="Limit").accepted
    rm.on_order_done("c3")  # cancelled unfilled: the trade is given back
    assert buy(rm, ids).accepted and buy(rm, ids).accepted
    assert buy(rm, ids, ts=T0 + 10**9).reason == Reason.MAX_TRADES
    assert rm.max_orders_per_s == 3.0  # the broker's rate is lower than the risk setting
    rm2, ids2 = manager(max_orders_per_s=2.0, max_position=10, max_order_size=10), Ids()
    assert buy(rm2, ids2).accepted and buy(rm2, ids2, ts=T0 + 1).accepted
    assert buy(rm2, ids2, ts=T0 + 999_999_999).reason == Reason.ORDER_RATE
    assert buy(rm2, ids2, ts=T0 + 1_000_000_000).accepted  # the first left the window


def test_sessions_refuse_entries_and_closed_markets_refuse_everything(es_sessions):
    rm, ids = manager(es_sessions), Ids()
    assert buy(rm, ids).accepted
    rm.on_fill("c1", 1)
    brk = exchange_ns(date(2024, 12, 10), "16:30")
    assert sell(rm, ids, ts=brk).code == "market_closed:maintenance_break"
    xmas = exchange_ns(date(2024, 12, 25), "10:00")
    assert buy(rm, ids, ts=xmas).code == "market_closed:holiday"
    windows = TradingSessions(
        get_instrument("ES"),
        SessionParams(first_year=2023, last_year=2025, no_trade_windows=(("08:55", "09:05"),)),
    )
    rm2, ids2 = manager(windows), Ids()
    assert buy(rm2, ids2, ts=T0 - 10 * MIN).accepted
    rm2.on_fill("c1", 1)
    assert buy(rm2, ids2).code == "session:no_trade_window"
    assert sell(rm2, ids2).accepted  # exits pass a no-trade window


def test_position_limit_counts_working_orders_and_every_oco_leg():
    rm, ids = manager(max_position=2, max_order_size=2), Ids()
    assert buy(rm, ids, qty=2).accepted  # working, not filled
    assert buy(rm, ids).reason == Reason.MAX_POSITION  # 2 working + 1 > 2
    rm.on_fill("c1", 2)
    # a bracket: stop and target both sell 2 in one OCO group; both count (one may fill in
    # part and the other in full before NinjaTrader cancels it): worst case 2 - 4 = -2
    assert sell(rm, ids, qty=2, oco="b1").accepted
    assert sell(rm, ids, qty=2, oco="b1").accepted
    assert rm.worst_case("ES") == (2, -2)
    assert buy(rm, ids).reason == Reason.MAX_POSITION  # +2 and a buy: 3
    assert sell(rm, ids, qty=1).reason == Reason.MAX_POSITION  # -3
    # what the property test found: two buys of 2 in one OCO group, limit 2: the first may
    # fill 1 and the second 2 before the cancel (3 > 2), so the second is refused
    rm3, ids3 = manager(max_position=2, max_order_size=2), Ids()
    assert buy(rm3, ids3, qty=2, oco="a").accepted
    assert buy(rm3, ids3, qty=2, oco="a").reason == Reason.MAX_POSITION


def test_state_round_trips_through_json():
    rm, ids = manager(daily_loss_limit=100.0, trailing_drawdown=500.0), Ids()
    assert buy(rm, ids).accepted
    rm.on_fill("c1", 1)
    assert sell(rm, ids, oco="x").accepted
    rm.on_unrealised(-150.0, T0)
    restored = RiskState.from_dict(json.loads(json.dumps(rm.state.to_dict())))
    assert restored == rm.state
    again = RiskManager(rm.params, state=restored)
    assert buy(again, ids).reason == Reason.DAILY_LOSS_LIMIT
    assert again.flatten_requested and again.worst_case("ES") == (1, 0)


# ---- property: the position limit holds whatever arrives ---------------------------------------
step = st.one_of(
    st.tuples(st.just("intent"), st.sampled_from([1, -1]), st.integers(1, 4),
              st.sampled_from([None, "a", "b"])),
    st.tuples(st.just("fill"), st.integers(0, 30), st.integers(1, 4), st.none()),
    st.tuples(st.just("done"), st.integers(0, 30), st.none(), st.none()),
    st.tuples(st.just("kill"), st.none(), st.none(), st.none()),
    st.tuples(st.just("change"), st.integers(0, 30), st.integers(1, 6), st.none()),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(0, 4), steps=st.lists(step, max_size=60))
def test_no_sequence_of_intents_exceeds_the_position_limit(limit, steps):
    rm = RiskManager(
        RiskParams(max_position=limit, max_order_size=4, max_trades_per_day=0,
                   max_orders_per_s=1e9, book_stale_ms=0.0, daily_loss_limit=0.0),
        broker=DEFAULT_PROFILE,
    )  # fmt: skip
    accepted: list[str] = []
    for n, (kind, a, b, c) in enumerate(steps):
        if kind == "intent":
            intent = OrderIntent(f"o{n}", "ES", a, b, T0 + n, oco=c)
            if rm.check(intent):
                accepted.append(intent.client_id)
        elif kind == "fill" and accepted:
            cid = accepted[a % len(accepted)]
            order = rm.state.pending.get(cid)
            if order is not None:
                qty = min(b, order.remaining)
                rm.on_fill(cid, qty)
                # OCO: the broker cancels the other legs once one leg has filled completely
                if order.oco is not None and order.remaining == 0:
                    for other_id, other in list(rm.state.pending.items()):
                        if other.oco == order.oco:
                            rm.on_order_done(other_id)
        elif kind == "done" and accepted:
            rm.on_order_done(accepted[a % len(accepted)])
        elif kind == "kill":
            rm.kill("manual") if not rm.state.kill else rm.reset_kill()
        elif kind == "change" and accepted:
            rm.check_change(accepted[a % len(accepted)], b, T0 + n)  # a new total quantity
        high, low = rm.worst_case("ES")
        assert -limit <= rm.position("ES") <= limit
        assert low >= -limit and high <= limit


def test_a_change_is_checked_like_the_order_it_grows():
    rm, ids = manager(max_position=3, max_order_size=2, max_orders_per_s=10.0), Ids()
    assert buy(rm, ids, qty=1).accepted  # c1: a working buy of 1
    assert rm.check_change("c1", 2, T0).accepted  # grows to 2: within size and position
    assert rm.check_change("c1", 3, T0).code == "max_order_size:3 > 2"
    assert buy(rm, ids, qty=1).accepted  # c2: worst case now +3
    assert rm.check_change("c2", 2, T0).code == "max_position:worst case +4/+0 vs 3"
    rm.on_fill("c1", 1)
    assert rm.check_change("c1", 1, T0).accepted  # shrinks to what filled: nothing left
    assert rm.worst_case("ES") == (2, 1)
    rm.kill("manual")
    assert rm.check_change("c2", 2, T0).code == "kill_switch:manual"  # no growing an entry
    assert rm.check_change("c2", 1, T0).accepted  # a price-only or smaller change is fine
    assert rm.check_change("c2", None, T0).accepted
    assert rm.check_change("gone", 1, T0).code == "bad_order:client id gone is not working"
    assert rm.check_change("c2", 0, T0).code == "bad_order:quantity 0"
    rm.reset_kill()
    for _ in range(10):  # protective changes are never refused by the rate, but use it
        assert rm.check_change("c2", 1, T0 + 10**9).accepted
    assert rm.check_change("c2", 2, T0 + 10**9).code == "order_rate:10 in the last second"


def test_flatten_before_the_close_per_symbol():
    cl = TradingSessions(
        get_instrument("CL"),
        SessionParams(first_year=2023, last_year=2025, rth_only=True, flatten_before_close_min=5),
    )
    rm, ids = manager({"CL": cl}), Ids()
    assert rm.check(OrderIntent(ids(), "CLF5", 1, 1, T0))  # 09:00 CT, CL RTH 08:00-13:30
    assert not rm.flatten_due(exchange_ns(date(2024, 12, 10), "13:25"))  # flat: nothing due
    rm.on_fill("c1", 1)
    assert not rm.flatten_due(exchange_ns(date(2024, 12, 10), "13:24"))
    assert rm.flatten_due(exchange_ns(date(2024, 12, 10), "13:25"))
    late = exchange_ns(date(2024, 12, 10), "13:26")
    assert rm.check(OrderIntent(ids(), "CLF5", 1, 1, late)).code == "session:closing_window"
    assert rm.check(OrderIntent(ids(), "CLF5", -1, 1, late)).accepted  # the flatten itself


def test_the_clock_trips_the_stale_book_kill_with_no_order_and_no_update():
    rm = manager(book_stale_ms=2_000.0)
    rm.on_connection(True, T0)
    rm.on_book(T0)
    assert rm.on_clock(T0 + 2_000_000_000) == []  # exactly the setting: not yet
    events = rm.on_clock(T0 + 2_000_000_001)
    assert [(e.reason, e.detail) for e in events] == [(Reason.KILL_SWITCH, "book_stale")]
    assert rm.state.kill and rm.state.kill_reason == "book_stale"
    assert rm.on_clock(T0 + 3_000_000_000) == []  # latched, reported once


def test_flatten_requested_is_its_rule_in_every_state() -> None:
    """No limit holding answers at once; otherwise the rule: some position open, and the
    kill switch (when it flattens), the drawdown, the day's loss or lock, or the goal (when
    it flattens)."""
    stops: list[str | None] = [None, "", *(str(r) for r in Reason)]
    for kill, dd, stop, held, on_kill, at_goal in itertools.product(
        (False, True), (False, True), stops, ({}, {"ES": 0}, {"ES": 0, "NQ": -1}),
        (False, True), (False, True),
    ):  # fmt: skip
        r = RiskManager(RiskParams(flatten_on_kill=on_kill, flatten_at_goal=at_goal))
        s = r.state
        s.kill, s.dd_breached, s.daily_stop, s.positions = kill, dd, stop, dict(held)
        want = any(held.values()) and (
            on_kill if kill else (dd or stop in (Reason.DAILY_LOSS_LIMIT, Reason.PROFIT_LOCK)
                                  or (stop == Reason.PROFIT_GOAL and at_goal))
        )  # fmt: skip
        assert r.flatten_requested == want
