"""A tick file backtested on bars built from its ticks.

A file of prints only (NinjaTrader's database ticks ``.ncd``/``.ntd``, a tick export) has no
book, so the book backtest cannot run on it, and its prints alone make no order-flow signal
the reference strategy trades on. What it can run is the bars backtest
(:mod:`orderflow.backtest.bars`: breakout signals, fills by the bar rules) on time bars built
from the ticks: ``BacktestOptions.tick_bar_s`` seconds each (``--bar-period``, 1 minute by
default), open, high, low, close and volume of the prints in ``[open, open + period)``, the
bar's time its open, a period without a print no bar (as NinjaTrader's own minute bars). The
bars are those :class:`~orderflow.analytics.bars.BarSeries` builds live; the last one closes
at the end of the data (it holds the file's last prints).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from orderflow.analytics.bars import BarKind, BarSeries, BarSpec
from orderflow.io.stream import Chunk
from orderflow.model.dtypes import BAR_DTYPE

__all__ = ["bars_from_ticks", "tick_bar_chunks"]

NS = 1_000_000_000


def bars_from_ticks(chunks: Iterable[Chunk], seconds: int) -> tuple[np.ndarray, int]:
    """The time bars of ``seconds`` over the prints of ``chunks`` (TRADE_DTYPE, time order),
    as BAR_DTYPE (``ts_event`` the bar's open); and how many prints they hold. O(prints)."""
    series = BarSeries(BarSpec(BarKind.TIME, seconds))
    prints, last = 0, None
    for chunk in chunks:
        trades = chunk.records
        if not len(trades):
            continue
        series.update(trades)
        prints += len(trades)
        last = int(trades["ts_event"][-1])
    if last is not None:
        series.advance(last + seconds * NS)  # the forming bar ends with the data
    recs = series.bars()
    out = np.zeros(len(recs), dtype=BAR_DTYPE)
    out["ts_event"] = recs["ts_open"]
    for name in ("open", "high", "low", "close", "volume"):
        out[name] = recs[name]
    return out, prints


def tick_bar_chunks(chunks: Iterable[Chunk], seconds: int) -> tuple[Iterator[Chunk], int, int]:
    """``chunks`` of prints as one chunk of bars for :func:`~orderflow.backtest.bars.run_bars`;
    with the number of bars and of prints."""
    bars, prints = bars_from_ticks(chunks, seconds)
    return iter([Chunk(bars)]), len(bars), prints
