"""A backtest on ready-made bars (OHLCV, no book, no prints): what it means here.

Without the book or the prints there are no order-flow signals, so the strategy is fed one
bar-based signal, a **breakout**: a bar closing above the highest high of the ``lookback``
bars before it is a long signal, one closing below their lowest low a short one (score 1.0,
detector ``bar_breakout``, price the close). The reference strategy and its host decide at
each bar's close, with the bar series (ATR included) in their context and the close as the
last price and both sides of the quote. The strategy, risk and orders are the
:class:`~orderflow.trading.node.TradingNode`'s, as live and in the book backtests: the node
decides on each bar's context (:meth:`TradingNode.decide`) and takes the reports the
:class:`BarVenue` makes by the rules below one at a time.

Fills, with a conservative rule (every doubt goes against us):

- a market order (entries, flattens) fills at the **next bar's open**; at the end of the data,
  at the last close;
- a stop fills when the bar's range reaches it, at the stop or at the open when the bar opened
  beyond it (a gap); stops are looked at before limits, so a bar that reaches both the stop and
  the target of a bracket takes the stop;
- a limit fills only when the bar trades **through** it (a buy limit when the low is below it),
  at its price, and only from the bar after it was placed (a target placed at a fill at the
  open waits for the next bar); a touch does not fill;
- each fill is the whole order; commissions and fees from the broker profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from orderflow.analytics.bars import BarKind, BarSeries, BarSpec
from orderflow.backtest.options import BacktestOptions, FileRun, OrderLog
from orderflow.signals.accumulate import AccumulatedSignal, Contribution
from orderflow.trading.host import StrategyHost
from orderflow.trading.money import CENT, to_decimal
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import Fill, OrderCommand, OrderEvent, OrderState, OrderType, Side
from orderflow.trading.sizing import paired_instrument
from orderflow.trading.strategy import Quote, StrategyContext

if TYPE_CHECKING:
    from orderflow.io.stream import Chunk

__all__ = ["BarVenue", "breakouts", "run_bars"]

S = OrderState
_HOUR = 3_600_000_000_000
_KEEP = 64  # bars kept for the context (ATR warm-up and the lookback)


@dataclass(slots=True)
class _Order:
    cid: str
    buy: bool
    order_type: OrderType
    quantity: int
    limit: int | None
    stop: int | None
    oco: str
    order_id: str
    placed_bar: int
    state: OrderState = S.WORKING
    instrument: str = ""  # the micro of the bars' standard (the sizing's choice); "": its own


class BarVenue:
    """Orders against bars by the rules in the module docstring; reports back to the node."""

    def __init__(self, node: TradingNode, host: StrategyHost, log: OrderLog) -> None:
        self.node, self.host, self.log = node, host, log
        self.orders: dict[str, _Order] = {}
        self.working: dict[str, _Order] = {}  # the live ones, in arrival order
        self.bar = 0
        self._seq = self._exec = 0
        inst = host.instrument
        self.symbol = inst.contract or inst.symbol
        self._commission, self._fees = self._costs(inst.symbol)
        # the other contract of a standard/micro pair fills on these bars at its own costs
        pair = paired_instrument(inst)
        self.pair = (pair.contract or pair.symbol) if pair is not None else None
        self._pair_costs = self._costs(pair.symbol) if pair is not None else None

    def _costs(self, symbol: str) -> tuple[Decimal, Decimal]:
        costs = self.host.broker.costs.get(symbol)
        fees = (costs.exchange_fee_per_side + costs.clearing_fee_per_side
                + costs.nfa_fee_per_side) if costs else 0.0  # fmt: skip
        return to_decimal(costs.commission_per_side if costs else 0.0), to_decimal(fees)

    def send(self, cmds: list[OrderCommand]) -> None:
        queue = list(cmds)
        while queue:
            c = queue.pop(0)
            self.log.commands.append(c)
            queue += self._command(c)

    def _command(self, c: OrderCommand) -> list[OrderCommand]:
        node, t = self.node, c.t
        if c.op == "submit":
            assert c.action is not None and c.order_type is not None
            self._seq += 1
            o = _Order(c.cid, c.action.is_buy, OrderType(c.order_type), c.quantity,
                       c.limit_ticks, c.stop_ticks, c.oco, str(self._seq), self.bar)  # fmt: skip
            if c.instrument and c.instrument != self.symbol and c.instrument == self.pair:
                o.instrument = c.instrument
            self.orders[c.cid] = self.working[c.cid] = o
            out: list[OrderCommand] = []
            for st in (S.SUBMITTED, S.ACCEPTED, S.WORKING):
                out += node.order_update(t, self._event(o, st, t), self.host.key)
            return out
        o2 = self.orders.get(c.cid)
        if o2 is None or o2.state not in (S.WORKING,):
            return []
        if c.op == "cancel":
            return self._end(o2, S.CANCELLED, t)
        o2.quantity = c.quantity or o2.quantity
        if c.limit_ticks is not None:
            o2.limit = c.limit_ticks
        if c.stop_ticks is not None:
            o2.stop = c.stop_ticks
        return node.order_update(t, self._event(o2, S.WORKING, t), self.host.key)

    def _event(self, o: _Order, state: OrderState, t: int) -> OrderEvent:
        filled = o.quantity if state == S.FILLED else 0
        return OrderEvent(o.cid, state, t, o.quantity, filled, o.limit, o.stop, o.order_id)

    def _end(self, o: _Order, state: OrderState, t: int) -> list[OrderCommand]:
        o.state = state
        self.working.pop(o.cid, None)
        out = self.node.order_update(t, self._event(o, state, t), self.host.key)
        if o.oco:
            for sib in list(self.working.values()):
                if sib is not o and sib.oco == o.oco and sib.state == S.WORKING:
                    sib.state = S.CANCELLED
                    del self.working[sib.cid]
                    sib_ev = self._event(sib, S.CANCELLED, t)
                    out += self.node.order_update(t, sib_ev, self.host.key)
        return out

    def _fill(self, o: _Order, price: int, t: int) -> list[OrderCommand]:
        out = self._end(o, S.FILLED, t)
        self._exec += 1
        q = o.quantity
        commission, fees = self._commission, self._fees
        if o.instrument and self._pair_costs is not None:
            commission, fees = self._pair_costs
        fill = Fill(f"BAR-{self._exec}", o.cid, t, int(price), q, Side.BUY if o.buy else Side.SELL,
                    (commission * q).quantize(CENT), (fees * q).quantize(CENT),
                    o.instrument or self.symbol, self.host.desk.orders.account)  # fmt: skip
        self.log.fills.append(fill)
        return out + self.node.fill(t, fill, self.host.key)

    def on_bar(self, t_open: int, t_mid: int, o_: int, h: int, lo: int) -> None:
        """One bar: market orders at its open, then stops, then limits placed before it."""
        for o in list(self.working.values()):
            if o.order_type == OrderType.MARKET and o.state == S.WORKING:
                self.send(self._fill(o, o_, t_open))
        for o in list(self.working.values()):
            if (
                o.order_type == OrderType.STOP_MARKET
                and o.state == S.WORKING
                and o.stop is not None
            ):
                if o.buy and h >= o.stop:
                    self.send(self._fill(o, max(o_, o.stop), t_mid))
                elif not o.buy and lo <= o.stop:
                    self.send(self._fill(o, min(o_, o.stop), t_mid))
        for o in list(self.working.values()):
            if o.order_type != OrderType.LIMIT or o.state != S.WORKING or o.limit is None:
                continue
            through = lo < o.limit if o.buy else h > o.limit
            if through and o.placed_bar < self.bar:
                self.send(self._fill(o, o.limit, t_mid))
        self.bar += 1

    def at_end(self, t: int, close: int) -> None:
        """After the last bar: market orders fill at the last close."""
        for _ in range(10):
            due = [o for o in self.working.values() if o.order_type == OrderType.MARKET]
            if not due:
                return
            for o in due:
                self.send(self._fill(o, close, t))


def breakouts(bars: np.ndarray, lookback: int, start: int = 0) -> np.ndarray:
    """Per bar from ``start``: +1 when its close is above the highest high of the ``lookback``
    bars before it, -1 below their lowest low, else 0."""
    n = len(bars)
    out = np.zeros(n, dtype=np.int8)
    if n <= lookback:
        return out
    hi = np.lib.stride_tricks.sliding_window_view(bars["high"], lookback)[:-1].max(axis=1)
    lo = np.lib.stride_tricks.sliding_window_view(bars["low"], lookback)[:-1].min(axis=1)
    close = bars["close"][lookback:]
    out[lookback:] = np.where(close > hi, 1, np.where(close < lo, -1, 0))
    out[:start] = 0
    return out


def run_bars(node: TradingNode, host: StrategyHost, chunks: Iterator[Chunk],
             opts: BacktestOptions, log: OrderLog, fr: FileRun,
             tick: Callable[[int], None]) -> None:  # fmt: skip
    """A bars-only file through the node (``host`` its strategy's) and the :class:`BarVenue`
    (module docstring)."""
    inst = host.instrument
    name = inst.contract or inst.symbol
    venue = BarVenue(node, host, log)
    tail = None
    hours: list[np.ndarray] = []
    last_close, end = 0, 0
    for chunk in chunks:
        bars = chunk.records
        if not len(bars):
            continue
        step = int(np.min(np.diff(bars["ts_event"]))) if len(bars) > 1 else 60_000_000_000
        allb = bars if tail is None else np.concatenate([tail, bars])
        first = len(allb) - len(bars)
        series = BarSeries(BarSpec(BarKind.TIME, max(1, step // 1_000_000_000)))
        series.load_bars(allb)
        closed = series.bars()
        sig = breakouts(allb, opts.bar_lookback, first)
        for i in range(first, len(allb)):
            b = allb[i]
            t0 = int(b["ts_event"])
            if opts.end_ns is not None and t0 + step > opts.end_ns:
                break
            venue.on_bar(t0, t0 + step // 2, int(b["open"]), int(b["high"]), int(b["low"]))
            t_close = t0 + step
            close = int(b["close"])
            signals: tuple[AccumulatedSignal, ...] = ()
            if sig[i]:
                c = Contribution("bar_breakout", t_close, 1.0, 1.0, close)
                signals = (AccumulatedSignal(instrument=name, ts_event=t_close,
                                             direction=int(sig[i]), score=1.0,
                                             opposite_score=0.0, contributions=(c,),
                                             threshold=1.0),)  # fmt: skip
                fr.signal_counts["bar_breakout"] += 1
                fr.accumulated += 1
                fr.accumulated_long += int(sig[i] > 0)
                fr.accumulated_short += int(sig[i] < 0)
            ctx = StrategyContext(
                ts_event=t_close, instrument=inst, quote=Quote(close, close), last_ticks=close,
                poc_ticks=None, vwap_ticks=None, liquidity=(), signals=signals,
                long_score=1.0 if sig[i] > 0 else 0.0, short_score=1.0 if sig[i] < 0 else 0.0,
                bars=(closed[max(0, i - _KEEP + 1) : i + 1],),
                series={0: closed[: i + 1]},  # its own bars: the trend filter's series 0
            )  # fmt: skip
            if opts.start_ns is None or t_close >= opts.start_ns:
                host.risk.roll_day(t_close, host.key)  # the data's day, as the server's timer
                venue.send(node.decide(ctx))
                fr.decisions += 1
                fr.asked += 1
            last_close, end = close, t_close
        fr.events += len(bars)
        fr.groups += len(bars)
        if not fr.first_ts:
            fr.first_ts = int(bars["ts_event"][0])
        fr.last_ts = end
        hours.append(np.unique(bars["ts_event"] // _HOUR))
        tail = allb[-_KEEP:].copy()
        tick(len(bars))
    if opts.flatten_at_end and end:
        venue.send(node.close_entries(end, "end_of_data"))
        venue.at_end(end, last_close)
    fr.hours = np.unique(np.concatenate(hours)) if hours else None
