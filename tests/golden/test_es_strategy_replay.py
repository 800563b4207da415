"""Golden: the reference strategy trades the real ESH4 2023-12-25 MBO hour through its host.

The file goes through :class:`Pipeline` in chunks of 250 records; after each chunk the host
gets the pipeline and its commands go to a trivial venue written here (not the backtester):
market orders fill at the touch of the last book seen, limits when a print trades through
their price, stops when a print reaches them (at the print's price). Every fill is reported
as NinjaTrader would (an order update, then the execution). The numbers pinned below were
read from one run and checked against the decisions' log; the invariants hold at every chunk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np
import pytest

from orderflow.analytics.trades import trades_from_mbo
from orderflow.engine.pipeline import Pipeline
from orderflow.io.dbn import read_mbo
from orderflow.trading.broker import BrokerParams
from orderflow.trading.host import StrategyHost
from orderflow.trading.orders import (
    Fill,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.sessions import SessionParams, TradingSessions
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import SignalStrategy, StrategyParams
from tests.conftest import ES_MBO, need

CHUNK = 250
MAX_POSITION = 4


@dataclass
class Venue:
    """Fills the host's orders by the rules in the module docstring; reports back to it."""

    host: StrategyHost
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[tuple[Any, ...]] = field(default_factory=list)
    bid: int | None = None
    ask: int | None = None
    n: int = 0
    max_abs_position: int = 0
    now: int = 0  # the venue's clock never goes back (a chunk's prints run past its last group)

    def send(self, cmds: list[OrderCommand], t: int) -> None:
        t = self.now = max(self.now, t)
        queue = list(cmds)
        while queue:
            c = queue.pop(0)
            self.sent.append((c.op, c.cid, c.action, c.order_type, c.quantity, c.limit_ticks,
                              c.stop_ticks, c.t))  # fmt: skip
            h = self.host
            if c.op == "submit":
                buy = c.action is not None and c.action.is_buy
                o = {"type": c.order_type, "buy": buy, "qty": c.quantity,
                     "limit": c.limit_ticks, "stop": c.stop_ticks, "filled": 0}  # fmt: skip
                self.live[c.cid] = o
                queue += h.on_order_update(t, self._event(c.cid, OrderState.WORKING, t))
                if c.order_type is OrderType.MARKET:
                    price = self.ask if o["buy"] else self.bid
                    assert price is not None
                    queue += self._fill(c.cid, price, t)
            elif c.op == "change" and c.cid in self.live:
                o = self.live[c.cid]
                o["qty"], o["limit"], o["stop"] = c.quantity, c.limit_ticks, c.stop_ticks
                queue += h.on_order_update(t, self._event(c.cid, OrderState.WORKING, t))
            elif c.op == "cancel" and c.cid in self.live:
                ev = self._event(c.cid, OrderState.CANCELLED, t)
                del self.live[c.cid]
                queue += h.on_order_update(t, ev)

    def _event(self, cid: str, state: OrderState, t: int) -> OrderEvent:
        o = self.live[cid]
        return OrderEvent(cid, state, t, o["qty"], o["filled"], o["limit"], o["stop"])

    def _fill(self, cid: str, price: int, t: int) -> list[OrderCommand]:
        o = self.live[cid]
        qty = o["qty"] - o["filled"]
        o["filled"] = o["qty"]
        ev = self._event(cid, OrderState.FILLED, t)
        del self.live[cid]
        self.n += 1
        out = self.host.on_order_update(t, ev)
        side = Side.BUY if o["buy"] else Side.SELL
        out += self.host.on_fill(t, Fill(f"e{self.n}", cid, t, price, qty, side))
        self.max_abs_position = max(self.max_abs_position, abs(self.host.position))
        return out

    def prints(self, trades: np.ndarray) -> None:
        """Resting limits and stops against each print, in time order."""
        for ts, price in zip(trades["ts_event"].tolist(), trades["price"].tolist(), strict=True):
            for cid in sorted(self.live, key=_cid_order):
                o = self.live.get(cid)
                if o is None:
                    continue
                hit = False
                if o["type"] is OrderType.LIMIT:
                    hit = price < o["limit"] if o["buy"] else price > o["limit"]
                elif o["type"] is OrderType.STOP_MARKET:
                    hit = price >= o["stop"] if o["buy"] else price <= o["stop"]
                if hit:
                    ts = self.now = max(self.now, ts)
                    fill_at = o["limit"] if o["type"] is OrderType.LIMIT else price
                    self.send(self._fill(cid, fill_at, ts), ts)


def _cid_order(cid: str) -> tuple[int, str]:
    head, _, rest = cid.removeprefix("of-").partition(".")
    return int(head), rest


def host(es: Any) -> StrategyHost:
    params = TradingParams(
        risk=RiskParams(
            max_position=MAX_POSITION,
            max_order_size=2,
            book_stale_ms=0,
            daily_loss_limit=2000.0,
            max_consecutive_losses=0,
        ),
        sizing=SizingParams(method="fixed", fixed_contracts=2),
        broker=BrokerParams(profile="zero"),
        strategy=StrategyParams(
            entry_score=1.0,
            opposite_exit_score=3.0,
            entry_type="limit",
            limit_anchor="touch",
            entry_timeout_s=20,
            min_entry_spacing_s=60,
            max_position=MAX_POSITION,
            max_entries_per_direction=3,
            scale_in=True,
            scale_in_min_profit_ticks=2,
            scale_in_entry_type="market",
            stop_loss_ticks=8,
            targets_ticks=(6, 12),
            target_sizes=(1, 1),
            breakeven_after_ticks=4,
            trail="ticks",
            trail_ticks=6,
            trail_after_ticks=8,
            time_stop_s=300,
        ),
    )
    cal = TradingSessions(es, SessionParams(first_year=2023, last_year=2024))
    return StrategyHost(es, SignalStrategy(params.strategy), params, sessions=cal)


@cache
def data() -> tuple[np.ndarray, Any]:
    return read_mbo(need(ES_MBO))


@dataclass
class Run:
    venue: Venue
    host: StrategyHost
    unprotected: list[tuple[int, str]]
    end_ts: int


def _chunks(events: np.ndarray) -> Iterator[np.ndarray]:
    for i in range(0, len(events), CHUNK):
        yield events[i : i + CHUNK]


def replay() -> Run:
    events, inst = data()
    h = host(inst)
    venue = Venue(h)
    pipe = Pipeline(inst)
    unprotected: list[tuple[int, str]] = []
    for chunk in _chunks(events):
        venue.prints(trades_from_mbo(chunk))
        pipe.process(chunk)
        top = pipe.book.top()
        venue.bid, venue.ask = top.bid_price, top.ask_price
        if venue.bid is None or venue.ask is None:
            continue
        venue.send(h.on_market(pipe), pipe.last_ts)
        unprotected += _check_protected(h, pipe.last_ts)
    end = pipe.last_ts
    venue.send(h.flatten(end, "end_of_replay"), end)
    return Run(venue, h, unprotected, end)


def _check_protected(h: StrategyHost, ts: int) -> list[tuple[int, str]]:
    """Every contract open belongs to a bracket whose live stop covers exactly what it holds."""
    bad = []
    om = h.desk.orders.orders
    held = 0
    for b in h.desk.brackets.brackets.values():
        open_qty = h.desk.brackets.net(b) * b.direction
        held += open_qty * b.direction
        if b.status == "done" or open_qty == 0:
            continue
        stop = om[b.stop] if b.stop else None
        if stop is None or stop.terminal or stop.quantity - stop.filled != open_qty:
            bad.append((ts, b.id))
    if held != h.position:
        bad.append((ts, "position outside brackets"))
    return bad


@cache
def first() -> Run:
    return replay()


pytestmark = pytest.mark.slow


def test_two_replays_send_the_same_commands() -> None:
    a, b = first(), replay()
    assert a.venue.sent == b.venue.sent
    assert a.host.decisions == b.host.decisions
    assert a.host.net_realized == b.host.net_realized


def test_the_strategy_trades_the_hour_within_its_limits() -> None:
    run = first()
    h = run.host
    brackets = list(h.desk.brackets.brackets.values())
    sent = [d for d in h.decisions if d.intent == "enter" and d.outcome == "sent"]
    assert len(sent) == 16 and all(d.outcome == "sent" for d in h.decisions)
    filled = [b for b in brackets if h.desk.orders.orders[b.entry].filled]
    assert len(filled) == 8
    reasons = Counter(b.reason.split(" ")[0] for b in brackets)
    assert reasons == {"entry": 8, "closed": 2, "time_stop": 3, "opposite_signal": 2,
                       "end_of_replay": 1}  # fmt: skip
    assert [b.id for b in brackets if b.reason.startswith("entry")] == [
        "of-2", "of-5", "of-6", "of-9", "of-10", "of-11", "of-12", "of-15"]  # fmt: skip
    # the adds (scaling in, at market) and the two stop moves to breakeven
    assert [d.entry_id for d in h.decisions if "Market" in d.detail] == ["of-4", "of-8"]
    assert [(d.entry_id, d.detail) for d in h.decisions if d.intent == "move_stop"] == [
        ("of-3", "breakeven"), ("of-7", "breakeven")]  # fmt: skip
    trades = h.desk.positions.trades
    assert [(t.direction, t.max_quantity) for t in trades] == [
        (-1, 2), (1, 4), (1, 4), (-1, 2), (1, 2), (-1, 2)]  # fmt: skip
    assert h.net_realized == Decimal("-200.00")  # -16 ticks x contracts, no costs
    # every open contract was inside a bracket whose live stop covered it, at every chunk
    assert run.unprotected == []
    assert run.venue.max_abs_position == MAX_POSITION
    assert h.position == 0 and all(b.status == "done" for b in brackets)
    assert not run.venue.live and h.risk.state.pending == {}
