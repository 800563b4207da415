"""A backtest on ready-made bars (OHLCV, no book, no prints): what it means here.

Without the book or the prints there are no order-flow signals, so the strategy is fed one
bar-based signal, a **breakout**: a bar closing above the highest high of the ``lookback``
bars before it is a long signal, one closing below their lowest low a short one (score 1.0,
detector ``bar_breakout``, price the close). The reference strategy and its host decide at
each bar's close, with the bar series (ATR included) in their context and the close as the
last price and both sides of the quote. The strategy, risk and orders are the
:class:`~orderflow.trading.node.TradingNode`'s, as live and in the book backtests: the node
decides on each bar's context (:meth:`TradingNode.decide`), and the orders go to the same
:class:`~orderflow.backtest.venue.SimVenue` as in the book backtests, of kind ``bars``: its
fill model is the bar (:mod:`orderflow.backtest.bar_fills`, which has the fill rules), with
no latency. :class:`BarDriver` hands the venue's reports to the node one fill at a time and
sends what the node commands back at once, so a fill's consequences (a bracket's stop and
targets, the other leg's cancel) happen within the bar, before the next order is looked at.
Per bar::

    venue.on_bar(start, middle, open, high, low)   market orders, then stops, then limits
    node.decide(context at the close)               its commands -> the venue, answered at once

At the end of the data what is open is flattened at the last close (``flatten_at_end``).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from orderflow.analytics.bars import BarKind, BarSeries, BarSpec
from orderflow.backtest.model import Delivery
from orderflow.backtest.options import BacktestOptions, FileRun, OrderLog
from orderflow.backtest.venue import SimVenue
from orderflow.core.errors import ArgumentError
from orderflow.signals.accumulate import AccumulatedSignal, Contribution
from orderflow.trading.host import StrategyHost
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import Fill, OrderCommand
from orderflow.trading.strategy import Quote, StrategyContext

if TYPE_CHECKING:
    from orderflow.io.stream import Chunk

__all__ = ["BarDriver", "breakouts", "run_bars"]

_HOUR = 3_600_000_000_000
_KEEP = 64  # bars kept for the context (ATR warm-up and the lookback)


class BarDriver:
    """The node and a ``bars`` :class:`~orderflow.backtest.venue.SimVenue` answering each
    other at once: every command acts at the venue when it is sent (no latency) and every
    report reaches the node when it happens; the commands a batch of reports causes are sent
    after the commands already waiting, in order (module docstring)."""

    def __init__(self, node: TradingNode, host: StrategyHost, venue: SimVenue,
                 log: OrderLog) -> None:  # fmt: skip
        if venue.bars is None:
            raise ArgumentError(f"the bars backtest drives a bars venue, not a {venue.kind} one")
        self.node, self.host, self.venue, self.log = node, host, venue, log

    def send(self, cmds: list[OrderCommand]) -> None:
        """Commands to the venue, each answered (and its answers' commands sent) in turn."""
        queue = deque(cmds)
        venue = self.venue
        while queue:
            c = queue.popleft()
            self.log.commands.append(c)
            reports = venue.send(c)
            reports += venue.advance(max(c.t, venue.now))
            queue.extend(self._reports(reports))

    def answer(self, reports: list[Delivery]) -> None:
        """The venue's reports of one fill to the node; what it commands goes back."""
        self.send(self._reports(reports))

    def _reports(self, reports: list[Delivery]) -> list[OrderCommand]:
        node, key = self.node, self.host.key
        out: list[OrderCommand] = []
        for d in reports:
            r = d.report
            if isinstance(r, Fill):
                self.log.fills.append(r)
                out += node.fill(d.at_ns, r, key)
            else:
                out += node.order_update(d.at_ns, r, key)
        return out


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
             tick: Callable[[int], None], step_ns: int | None = None) -> None:  # fmt: skip
    """A bars-only file through the node (``host`` its strategy's) and a ``bars``
    :class:`~orderflow.backtest.venue.SimVenue` (module docstring). ``step_ns``: the bars'
    period when known (bars built from ticks), else the smallest gap between bar opens."""
    inst = host.instrument
    name = inst.contract or inst.symbol
    venue = SimVenue(inst, "bars", broker=host.broker, account=opts.account)
    drv = BarDriver(node, host, venue, log)
    tail = None
    hours: list[np.ndarray] = []
    last_close, end = 0, 0
    for chunk in chunks:
        bars = chunk.records
        if not len(bars):
            continue
        step = step_ns or (
            int(np.min(np.diff(bars["ts_event"]))) if len(bars) > 1 else 60_000_000_000
        )
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
            venue.on_bar(t0, t0 + step // 2, int(b["open"]), int(b["high"]), int(b["low"]),
                         drv.answer)  # fmt: skip
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
                drv.send(node.decide(ctx))
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
        drv.send(node.close_entries(end, "end_of_data"))
        venue.at_end(end, last_close, drv.answer)
    fr.venue_counters = Counter(venue.counters)
    fr.hours = np.unique(np.concatenate(hours)) if hours else None
