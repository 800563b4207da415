"""Bar fills as the fill model of the one simulated venue: ``SimVenue(instrument, "bars")`` on
hand-made bars (the touch order within a bar, gaps, touches, OCO, the end of the data, costs),
and the bars backtest through the real node on a scripted bar sequence, every fill exact.
Prices are ticks (ES: 12.50 a tick); times are ns."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from orderflow.backtest import SimVenue
from orderflow.backtest import bars as bars_module
from orderflow.backtest.bars import BarDriver
from orderflow.backtest.model import Delivery
from orderflow.backtest.options import BacktestOptions, OrderLog
from orderflow.backtest.run import BacktestResult, run_sources
from orderflow.core.errors import ArgumentError
from orderflow.io.stream import Chunk, Opened
from orderflow.model.dtypes import BAR_DTYPE
from orderflow.model.instruments import get_instrument
from orderflow.trading.broker import DEFAULT_PROFILE
from orderflow.trading.host import StrategyHost
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderType,
    Side,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import SignalStrategy, StrategyParams

ES = get_instrument("ES")
MKT, STP, LMT = OrderType.MARKET, OrderType.STOP_MARKET, OrderType.LIMIT
_ref = iter(range(1, 1_000_000))


def cmd(t: int, cid: str, action: str, otype: OrderType | None = None, qty: int = 0,
        limit: int | None = None, stop: int | None = None, oco: str = "",
        op: str = "submit") -> OrderCommand:  # fmt: skip
    act = {"buy": OrderAction.BUY, "sell": OrderAction.SELL}.get(action)
    return OrderCommand(next(_ref), op, cid, "ES", t, act, otype, qty, limit, stop, None, oco)


class Bars:
    """A ``bars`` venue, commands answered at once, and what each fill's answer was handed."""

    def __init__(self) -> None:
        self.venue = SimVenue(ES, "bars")
        self.answers: list[list[Delivery]] = []  # one list per fill
        self.seen: list[Delivery] = []  # every report, in order

    def send(self, *cmds: OrderCommand) -> None:
        for c in cmds:
            self.seen += self.venue.send(c) + self.venue.advance(c.t)

    def answer(self, reports: list[Delivery]) -> None:
        self.answers.append(reports)
        self.seen += reports

    def bar(self, t: int, o: int, h: int, lo: int) -> None:
        self.venue.on_bar(t, t + 30, o, h, lo, self.answer)

    def fills(self) -> list[tuple[str, int, int, int]]:
        """(cid, t, price, quantity) of every fill reported."""
        return [(d.report.cid, d.report.t, d.report.price_ticks, d.report.quantity)
                for d in self.seen if isinstance(d.report, Fill)]  # fmt: skip

    def states(self, cid: str) -> list[str]:
        return [str(d.report.state) for d in self.seen
                if isinstance(d.report, OrderEvent) and d.report.cid == cid]  # fmt: skip


# ---- the bar fill model, on the venue ---------------------------------------------------------


def test_a_market_order_fills_whole_at_the_next_bars_open_with_the_profiles_costs() -> None:
    v = Bars()
    v.send(cmd(50, "e", "buy", MKT, 3))
    assert v.states("e") == ["Submitted", "Accepted", "Working"] and not v.fills()
    v.bar(100, 200, 205, 190)
    assert v.fills() == [("e", 100, 200, 3)]
    f = next(d.report for d in v.seen if isinstance(d.report, Fill))
    costs = DEFAULT_PROFILE.costs_for("ES")
    assert f.execution_id == "BAR-1" and f.side == Side.BUY
    assert f.commission == Decimal("3.87") == Decimal(str(costs.commission_per_side)) * 3
    assert f.fees == Decimal("4.50")  # (1.38 + 0.10 + 0.02) x 3
    assert v.states("e")[-1] == "Filled" and v.venue.fills == [(100, "e", 200, 3, "taker")]


def test_stops_go_before_limits_so_a_bar_reaching_both_takes_the_stop_and_ends_its_oco() -> None:
    v = Bars()
    v.send(cmd(50, "s", "sell", STP, 2, stop=190, oco="x"),
           cmd(50, "t", "sell", LMT, 2, limit=210, oco="x"))  # fmt: skip
    v.bar(100, 200, 201, 199)  # the limit's own bar (placed before it): nothing reached
    v.bar(200, 200, 215, 185)  # through both
    assert v.fills() == [("s", 230, 190, 2)]
    assert [(d.report.cid, type(d.report).__name__, getattr(d.report, "state", None))
            for d in v.answers[0]] == [("s", "OrderEvent", "Filled"), ("s", "Fill", None),
                                       ("t", "OrderEvent", "Cancelled")]  # fmt: skip
    assert v.answers[0][2].report.comment == "OCO x: s Filled"
    assert v.venue.working() == []


def test_a_gap_through_a_stop_fills_at_the_open_not_at_the_stop() -> None:
    v = Bars()
    v.send(cmd(50, "ls", "sell", STP, 1, stop=190), cmd(50, "ss", "buy", STP, 1, stop=210))
    v.bar(100, 200, 205, 195)  # neither reached
    v.bar(200, 185, 188, 180)  # opens below the sell stop: at the open
    v.bar(300, 215, 220, 212)  # opens above the buy stop: at the open
    assert v.fills() == [("ls", 230, 185, 1), ("ss", 330, 215, 1)]
    v2 = Bars()
    v2.send(cmd(50, "ls", "sell", STP, 1, stop=190))
    v2.bar(100, 195, 196, 190)  # reached exactly, no gap: at the stop
    assert v2.fills() == [("ls", 130, 190, 1)]


def test_a_limit_fills_at_its_price_only_through_it_and_not_in_the_bar_it_was_placed() -> None:
    v = Bars()
    v.bar(0, 200, 201, 199)
    v.send(cmd(90, "b", "buy", LMT, 1, limit=195), cmd(90, "a", "sell", LMT, 1, limit=205))
    v.bar(100, 200, 206, 194)  # through both, but sent after bar 0 they are placed in this bar
    v.bar(200, 200, 205, 195)  # touched, not traded through
    assert v.fills() == []
    v.bar(300, 200, 205, 194)  # through the buy only
    v.bar(400, 200, 206, 199)  # through the sell
    assert v.fills() == [("b", 330, 195, 1), ("a", 430, 205, 1)]
    assert [x[4] for x in v.venue.fills] == ["maker", "maker"]


def test_what_a_fill_commands_acts_within_the_same_bar() -> None:
    """A stop sent in answer to an entry's fill at the open is looked at in that same bar;
    a target sent with it waits for the next bar."""
    v = Bars()

    def bracket(reports: list[Delivery]) -> None:
        v.answer(reports)
        if any(isinstance(d.report, Fill) and d.report.cid == "e" for d in reports):
            v.send(cmd(100, "e.stop", "sell", STP, 1, stop=195),
                   cmd(100, "e.tgt", "sell", LMT, 1, limit=201))  # fmt: skip

    v.send(cmd(50, "e", "buy", MKT, 1))
    v.venue.on_bar(100, 130, 200, 203, 194, bracket)
    assert v.fills() == [("e", 100, 200, 1), ("e.stop", 130, 195, 1)]
    assert v.states("e.tgt") == ["Submitted", "Accepted", "Working"]


def test_at_the_end_of_the_data_market_orders_fill_at_the_last_close() -> None:
    v = Bars()
    v.bar(100, 200, 205, 195)
    v.send(cmd(160, "x", "sell", MKT, 2), cmd(160, "stop", "sell", STP, 2, stop=150))
    v.venue.at_end(160, 202, v.answer)
    assert v.fills() == [("x", 160, 202, 2)] and v.states("stop")[-1] == "Working"


def test_changes_and_cancels_act_at_once_and_a_late_one_is_refused_as_ninjatrader_does() -> None:
    v = Bars()
    v.send(cmd(50, "s", "sell", STP, 2, stop=190))
    v.send(cmd(60, "s", "", qty=1, stop=192, op="change"))
    assert v.states("s")[-2:] == ["ChangePending", "Working"]
    v.bar(100, 195, 196, 191)
    assert v.fills() == [("s", 130, 192, 1)]
    v.send(cmd(140, "s", "", op="cancel"))
    assert v.venue.counters["cancel_too_late"] == 1 and v.states("s")[-1] == "Filled"


def test_a_bars_venue_has_no_book_no_latency_and_takes_no_book_records() -> None:
    v = Bars()
    v.send(cmd(50, "s", "buy", STP, 1, stop=1))  # no market to refuse it against
    assert v.states("s") == ["Submitted", "Accepted", "Working"]
    with pytest.raises(ArgumentError, match="no latency"):
        SimVenue(ES, "bars", order_latency=1_000)
    with pytest.raises(ArgumentError, match="on_bar"):
        v.venue.on_market(np.zeros(0, dtype=BAR_DTYPE))
    with pytest.raises(ArgumentError, match="on_market"):
        SimVenue(ES).on_bar(0, 1, 2, 3, 1, v.answer)
    host = StrategyHost(ES, SignalStrategy(), TradingParams())
    with pytest.raises(ArgumentError, match="bars venue"):
        BarDriver(TradingNode.for_host(host), host, SimVenue(ES), OrderLog())


# ---- the bars backtest: the node against the bars venue ---------------------------------------

T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
MIN = 60_000_000_000
S_ = 1_000_000_000
#: (open, high, low, close) per minute; bar_lookback 2, brackets of 2 contracts: stop 8 ticks,
#: targets 8 and 16 (1 each)
SCRIPT = [
    (19200, 19202, 19198, 19200),
    (19200, 19202, 19198, 19201),
    (19201, 19206, 19200, 19205),  # 2: closes above the 2 highs before: long
    (19206, 19207, 19204, 19205),  # 3: long 2 at its open 19206; stop 19198, targets 19214/19222
    (19205, 19214, 19203, 19206),  # 4: touches the first target: no fill
    (19210, 19215, 19208, 19212),  # 5: through it: 1 at 19214
    (19210, 19223, 19197, 19205),  # 6: reaches the stop and the second target: the stop
    (19200, 19201, 19190, 19191),  # 7: closes below the 2 lows before: short
    (19190, 19192, 19186, 19191),  # 8: short 2 at its open 19190; stop 19198
    (19202, 19204, 19200, 19203),  # 9: opens above the stop: 2 at 19202; closes above: long
    (19204, 19206, 19202, 19205),  # 10: long 2 at 19204; the end: flat at the close 19205
]


def scripted(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    out = np.zeros(len(rows), dtype=BAR_DTYPE)
    out["ts_event"] = T0 + MIN * np.arange(len(rows))
    for i, (o, h, lo, c) in enumerate(rows):
        out[i]["open"], out[i]["high"], out[i]["low"], out[i]["close"] = o, h, lo, c
    out["volume"] = 100
    return out


def backtest(rows: list[tuple[int, int, int, int]], monkeypatch: pytest.MonkeyPatch,
             **strategy: object) -> tuple[BacktestResult, list[SimVenue]]:  # fmt: skip
    """The bars backtest of ``rows`` and the venues it made (a real SimVenue, recorded)."""
    made: list[SimVenue] = []

    class Recorded(SimVenue):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, **kw)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(bars_module, "SimVenue", Recorded)
    trading = TradingParams(sizing=SizingParams(method="fixed", fixed_contracts=2),
                            strategy=StrategyParams(**strategy))  # type: ignore[arg-type]  # fmt: skip
    src = ("scripted", Opened(ES, "bars", iter([Chunk(scripted(rows))])))
    return run_sources([src], trading=trading, options=BacktestOptions(bar_lookback=2)), made


def fills_of(res: BacktestResult) -> list[tuple[int, str, str, int, int, str]]:
    """(seconds from T0, execution id, cid, price, quantity, side) of every fill."""
    return [((f.t - T0) // S_, f.execution_id, f.cid, f.price_ticks, f.quantity, str(f.side))
            for f in res.fills]  # fmt: skip


def test_the_bars_backtest_fills_a_scripted_sequence_exactly_through_the_one_venue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    res, made = backtest(SCRIPT, monkeypatch)
    assert fills_of(res) == [
        (180, "BAR-1", "of-1", 19206, 2, "Buy"),  # bar 3's open, after the signal bar 2
        (330, "BAR-2", "of-1.tgt1", 19214, 1, "Sell"),  # bar 5's middle: traded through
        (390, "BAR-3", "of-1.stop", 19198, 1, "Sell"),  # bar 6: the stop before the target
        (480, "BAR-4", "of-2", 19190, 2, "Sell"),  # bar 8's open
        (570, "BAR-5", "of-2.stop", 19202, 2, "Buy"),  # bar 9 gapped over the stop: its open
        (600, "BAR-6", "of-3", 19204, 2, "Buy"),  # bar 10's open
        (660, "BAR-7", "of-3.flat1", 19205, 2, "Sell"),  # the end of the data: the last close
    ]
    sent = [((c.t - T0) // S_, c.op, c.cid) for c in res.commands]
    # the first target's fill resizes the stop in that bar; the stop's fill cancels the other
    # target in its bar; the gap's fill cancels both targets
    assert (330, "change", "of-1.stop") in sent and (390, "cancel", "of-1.tgt2") in sent
    assert {(570, "cancel", "of-2.tgt1"), (570, "cancel", "of-2.tgt2")} <= set(sent)
    assert res.stats["net_pnl"] == -308.48 and res.stats["trades"] == 3
    # one venue, the SimVenue of every backtest, with the bar fill model; its fills are these
    assert len(made) == 1 and made[0].kind == "bars" and made[0].bars is not None
    assert [(t, c, p, q) for t, c, p, q, _ in made[0].fills] == [
        (f.t, f.cid, f.price_ticks, f.quantity) for f in res.fills]  # fmt: skip
    assert res.files[0]["venue"] == {"fills_taker": 6, "fills_maker": 1, "cancelled": 6}
    classes = [n for n, c in vars(bars_module).items()
               if isinstance(c, type) and c.__module__ == bars_module.__name__]  # fmt: skip
    assert classes == ["BarDriver"]  # no venue of its own


def test_an_oco_bracket_the_venue_ends_when_its_target_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One target: the stop and the target are an OCO pair at the venue, which cancels the stop
    with the target's fill; the node's own cancel then comes too late."""
    res, made = backtest(SCRIPT[:7], monkeypatch, targets_ticks=(8,), target_sizes=(1,))
    assert [c.oco for c in res.commands[1:3]] == ["of-1.oco", "of-1.oco"]
    assert fills_of(res) == [(180, "BAR-1", "of-1", 19206, 2, "Buy"),
                             (330, "BAR-2", "of-1.tgt", 19214, 2, "Sell")]  # fmt: skip
    assert made[0].orders["of-1.stop"].state == "Cancelled"
    assert res.files[0]["venue"] == {"fills_taker": 1, "fills_maker": 1, "cancelled": 1,
                                     "cancel_too_late": 1}  # fmt: skip
    assert res.stats["net_pnl"] == 188.84  # 8 ticks x 2 x 12.50 less 2 x 2 x (1.29 + 1.50)
