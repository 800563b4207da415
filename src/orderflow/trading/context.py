"""What a strategy sees after one engine update: the quote, its live entries and the whole
context (prices in ticks). Below both the reference strategy (:mod:`orderflow.trading.strategy`,
which re-exports these names) and its order-flow exits (:mod:`orderflow.trading.exits`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from orderflow.model.instruments import Instrument
from orderflow.signals.accumulate import AccumulatedSignal
from orderflow.signals.model import Signal
from orderflow.trading.orders import OrderType

if TYPE_CHECKING:  # a type only: the clusters' module loads the compiler
    from orderflow.analytics.clusters import LiquidityCluster

__all__ = ["EntryView", "Quote", "StrategyContext"]


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and ask (ticks, None for an empty side) and their sizes."""

    bid: int | None
    ask: int | None
    bid_size: int = 0
    ask_size: int = 0


@dataclass(frozen=True, slots=True)
class EntryView:
    """One of our entries (a bracket) that is still live, read-only."""

    id: str
    direction: int  # +1 long, -1 short
    status: str  # entry (nothing filled yet), protected, flattening
    order_type: OrderType
    price_ticks: int | None  # the entry order's limit or stop price
    quantity: int  # the entry order's
    filled: int  # of the entry order
    open: int  # contracts this entry still holds (its direction)
    entry_working: bool  # the entry order can still fill
    avg_fill_ticks: float | None
    first_fill_ticks: int | None  # what the legs are anchored on
    submitted_ns: int
    first_fill_ns: int | None
    stop_ticks: int | None  # the stop's price once known (after the first fill)
    targets: tuple[int, ...]  # the targets' prices once known
    best_ticks: int | None  # best print since the first fill (highest long, lowest short)
    kind: str = "entry"  # entry or add (scaling in)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Everything a strategy may look at after one engine update (prices in ticks)."""

    ts_event: int  # market data time, ns UTC: the strategy's only clock
    instrument: Instrument
    quote: Quote
    last_ticks: int | None  # the last trade's price
    poc_ticks: int | None
    vwap_ticks: float | None
    liquidity: tuple[LiquidityCluster, ...]  # resting-liquidity clusters, bids then asks
    signals: tuple[AccumulatedSignal, ...]  # accumulated signals new since the last update
    long_score: float  # decaying accumulated scores now
    short_score: float
    bars: tuple[np.ndarray, ...]  # closed bars per series (BAR_RECORD_DTYPE, read-only)
    metrics: Mapping[str, float] = field(default_factory=dict)  # mid, imbalance, ofi, ...
    position: int = 0  # signed contracts (ours, from executions)
    avg_price_ticks: float | None = None
    entries: tuple[EntryView, ...] = ()  # live entries, oldest first
    last_entry_ns: int | None = None  # when the host last sent an entry order
    entries_since_flat: int = 0  # entry orders sent since the position was last flat
    flatten_due: bool = False  # the session's flatten-before-close time has come
    entry_block: str = ""  # why a new entry would be refused now (risk/session code), "" if not
    #: NinjaTrader's series by BarsInProgress: closed bars (BAR_RECORD_DTYPE, ticks, ATR set)
    series: Mapping[int, np.ndarray] = field(default_factory=dict)
    #: the detectors' own signals new since the last update (absorption, pulling, ...)
    detections: tuple[Signal, ...] = ()
    value_area: tuple[int, int] | None = None  # (VAL, VAH) of the session profile
    vwap_bands: tuple[tuple[float, float], ...] = ()  # (lower, upper) per band, float ticks
    #: (ts, book imbalance) of the latest event groups, oldest first (at most 256)
    imbalance_groups: tuple[tuple[int, float], ...] = ()

    def atr_ticks(self, series: int = 0) -> float | None:
        """ATR (ticks) of the last closed bar of ``series``; None before the first bar."""
        if series >= len(self.bars) or not len(self.bars[series]):
            return None
        atr = float(self.bars[series]["atr"][-1])
        return atr if atr > 0 else None

    def last_bar(self, series: int = 0) -> np.void | None:
        if series >= len(self.bars) or not len(self.bars[series]):
            return None
        rec: np.void = self.bars[series][-1]
        return rec
