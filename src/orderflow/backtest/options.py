"""What a backtest is asked to do and what each file's replay left: the records the driver
(:mod:`orderflow.backtest.run`), the bars driver (:mod:`orderflow.backtest.bars`) and the
report (:mod:`orderflow.backtest.report`) share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from orderflow.core.errors import ParameterError
from orderflow.model.instruments import Instrument
from orderflow.trading.orders import Fill, OrderCommand

__all__ = ["BacktestOptions", "FileRun", "OrderLog"]


@dataclass(frozen=True)
class BacktestOptions:
    """How the replay runs (the strategy, risk and broker are in :class:`TradingParams`).

    ``decide_every``: when the strategy is asked, ``"group"`` (after every exchange event:
    exact, slow), ``"chunk"`` (after every chunk read: fast, coarse) or a number N (after the
    event group that ends N or more records after the last decision; the live server decides
    once per NinjaTrader batch, about 100 depth events). ``capital``: the base of daily
    returns for Sharpe and Sortino (None: ``trading.risk.starting_balance``).
    ``flatten_at_end``: close what is open at the end of each file (its last book)."""

    order_latency_ns: int = 0
    md_latency_ns: int = 0
    queue_power: float = 1.0
    seed: int = 0
    chunk_records: int = 65_536
    account: str = "Sim101"
    decide_every: str | int = 100
    capital: float | None = None
    instrument: Instrument | None = None
    prints: str = "trades"
    flatten_at_end: bool = True
    #: bars-only data: the breakout signal's lookback (bars; see backtest.bars)
    bar_lookback: int = 20
    #: the strategy decides only from this data time on (earlier data builds the book and the
    #: analytics: a warm-up); None: from the start
    start_ns: int | None = None
    #: the replay stops after this data time; None: at the end of the data
    end_ns: int | None = None
    #: do not ask the strategy when it is flat, has nothing working and no new accumulated
    #: signal came: the reference strategy (SignalStrategy) can do nothing then, so the
    #: result is the same (tested), only faster; turn off for a strategy that acts on time
    skip_idle: bool = True
    #: what the pipeline sees of an MBO file: ``native`` (every record: the L3 book and
    #: detectors) or ``ninjatrader`` (what the live server sees: the bridge's batches of
    #: NinjaTrader depth, deciding after each, the venue still filling on the MBO records;
    #: ``backtest.nt_view``, the live path's twin; the file is read whole)
    view: str = "native"
    #: the zone of a NinjaTrader file's local clock (its database files, exports, dumps);
    #: None: each format's default (see :func:`orderflow.io.formats.load_stream`)
    tz: str | None = None
    #: a file of prints only (NinjaTrader .ncd/.ntd ticks, tick exports) is backtested on time
    #: bars of this many seconds built from its ticks (``backtest.tick_bars``)
    tick_bar_s: int = 60

    def __post_init__(self) -> None:
        d = self.decide_every
        if not (d in ("group", "chunk") or (isinstance(d, int) and d >= 1)):
            raise ParameterError(f"decide_every: 'group', 'chunk' or a number >= 1, not {d!r}")
        if self.chunk_records < 1:
            raise ParameterError(f"chunk_records must be >= 1, got {self.chunk_records}")
        if self.view not in ("native", "ninjatrader"):
            raise ParameterError(f"view: 'native' or 'ninjatrader', not {self.view!r}")
        if not 1 <= self.tick_bar_s <= 86_400:
            raise ParameterError(f"tick_bar_s: 1 to 86,400 seconds, not {self.tick_bar_s!r}")


@dataclass
class FileRun:
    """What one file's replay left: its pipeline (or bar count), span and counters."""

    path: str
    instrument: Instrument
    kind: str
    events: int = 0
    groups: int = 0
    first_ts: int = 0
    last_ts: int = 0
    decisions: int = 0
    asked: int = 0  # of the decisions, those where the strategy was asked (not skipped idle)
    signal_counts: Counter[str] = field(default_factory=Counter)
    accumulated: int = 0
    accumulated_long: int = 0
    accumulated_short: int = 0
    venue_counters: Counter[str] = field(default_factory=Counter)
    #: hours (ts // 1 h) with prints (or bars): the trading days the data covers
    hours: np.ndarray | None = None


@dataclass
class OrderLog:
    """The commands the strategy sent and the fills it got, in order: the report's input."""

    commands: list[OrderCommand] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
