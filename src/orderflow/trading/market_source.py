"""What a decision reads of the market: the reads the node and the host make of a pipeline.

A decision is handed a :class:`MarketSource`: the live server's and a backtest's
:class:`~orderflow.engine.pipeline.Pipeline`, or a backtest's view of a pipeline run ahead of
its decisions (:class:`orderflow.backtest.ahead.AheadView`), which answers these reads as of
its decision's point and no other. Every decision reads the last event time, the print count,
the prints since a count, the accumulated and the detectors' own signals since a count, and
(for the last price when no print came) the first bar series; a strategy reads the book's
best of each side and the bar series only when it prices an entry. Any other field of the
context (the POC, the VWAP, the clusters, the scores, the metrics, the order-flow fields)
reads the pipeline itself (:func:`orderflow.trading.market_fields.whole`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from orderflow.signals.accumulate import AccumulatedSignal
from orderflow.signals.model import Signal

__all__ = ["BarsReads", "BookReads", "MarketSource", "SeriesReads", "SignalReads"]

T_co = TypeVar("T_co", covariant=True)


class SignalReads(Protocol[T_co]):
    """A signal log read by count (:class:`~orderflow.signals.signal_log.SignalLog`)."""

    @property
    def count(self) -> int: ...

    def since(self, count: int, /) -> Sequence[T_co]: ...

    def missed(self, count: int, /) -> int: ...

    def __len__(self) -> int: ...


class SeriesReads(Protocol):
    """A bar series: its closed bars and its forming bar."""

    def __len__(self) -> int: ...

    def bars(self) -> np.ndarray: ...

    def forming(self) -> Any: ...


class BarsReads(Protocol):
    """The bar series, by BarsInProgress."""

    @property
    def series(self) -> Sequence[SeriesReads]: ...


class BookReads(Protocol):
    """The book's best of each side: (price, size, ...) or None."""

    def best_bid(self) -> Any: ...

    def best_ask(self) -> Any: ...


class MarketSource(Protocol):
    """The reads a decision makes of the market (the module docstring)."""

    @property
    def last_ts(self) -> int: ...

    @property
    def trades(self) -> int: ...

    @property
    def accumulated(self) -> SignalReads[AccumulatedSignal]: ...

    @property
    def signals(self) -> SignalReads[Signal]: ...

    @property
    def bars(self) -> BarsReads: ...

    @property
    def book(self) -> BookReads | None: ...

    def prints_since(self, count: int, /) -> tuple[np.ndarray, np.ndarray]: ...
