"""The market fields of a decision's context that it reads only when its strategy does: one
function per field of :data:`~orderflow.trading.lazy_context.LAZY`, of the decision's
:class:`Source` (the pipeline, the time, the host's entry block). Each reads what the
eager context read, in the same way (the book's best of each side, the session profile's
POC, the VWAP, the bars, the metrics, the scores, the clusters and the order-flow fields).
The quote and the bars are reads of any :class:`~orderflow.trading.market_source.MarketSource`;
the others read the pipeline itself (:func:`whole`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from orderflow.engine.pipeline import Pipeline
from orderflow.trading.context import Quote
from orderflow.trading.exit_context import value_area, vwap_bands
from orderflow.trading.lazy_context import Makers
from orderflow.trading.market_source import MarketSource

__all__ = ["MAKERS", "Source", "whole"]


class Source(NamedTuple):
    """What a decision's lazy fields are read from: the market (the pipeline), the decision's
    time and the host's entry block (the risk manager's code at a time, "" when none). A
    tuple: one is made at every decision."""

    pipeline: MarketSource
    now: int
    entry_block: Callable[[int], str]


def _makers(liquidity: bool, flow: bool) -> Makers:
    """The lazy fields' functions; without ``liquidity`` or ``flow`` (the strategy does not
    read them) those fields are empty, as the protocol says."""
    return {
        "quote": lambda s: _quote(s.pipeline),
        "poc_ticks": lambda s: _poc(whole(s)),
        # its value alone (the bands only for the order-flow fields)
        "vwap_ticks": lambda s: _vwap(whole(s)),
        "liquidity": (lambda s: tuple(whole(s).liquidity_clusters.clusters()))
        if liquidity else _empty,
        "long_score": lambda s: whole(s).accumulator.score(1, s.now),
        "short_score": lambda s: whole(s).accumulator.score(-1, s.now),
        "bars": lambda s: tuple(b.bars() for b in s.pipeline.bars.series),
        "metrics": lambda s: _metrics(whole(s)),
        "entry_block": lambda s: s.entry_block(s.now),
        "value_area": (lambda s: value_area(whole(s))) if flow else _none,
        "vwap_bands": (lambda s: vwap_bands(whole(s))) if flow else _empty,
        "imbalance_groups": (lambda s: tuple(whole(s).imbalances)) if flow else _empty,
    }  # fmt: skip


def whole(src: Source) -> Pipeline:
    """The pipeline itself, for a field no other market source answers: a view of a pipeline
    run ahead (``backtest.ahead``) answers only the reads of a
    :class:`~orderflow.trading.market_source.MarketSource`, and reading any other field of it
    fails as reading a missing attribute does."""
    pipe = src.pipeline
    if not isinstance(pipe, Pipeline):
        raise AttributeError(f"{type(pipe).__name__} answers the reads of a MarketSource only")
    return pipe


def _empty(_: object) -> tuple[()]:
    return ()


def _none(_: object) -> None:
    return None


#: the makers by (the strategy reads the clusters, it reads the order-flow fields)
MAKERS = {(a, b): _makers(a, b) for a in (False, True) for b in (False, True)}


def _quote(pipeline: MarketSource) -> Quote:
    """The best of each side, read once (no TopOfBook built)."""
    book = pipeline.book
    if book is None:
        return Quote(None, None)
    b, a = book.best_bid(), book.best_ask()
    return Quote(b[0] if b else None, a[0] if a else None,
                 int(b[1]) if b else 0, int(a[1]) if a else 0)  # fmt: skip


def _vwap(pipeline: Pipeline) -> float | None:
    return pipeline.vwap.vwap if pipeline.vwap.volume else None


def _poc(pipeline: Pipeline) -> int | None:
    prof = pipeline.profiles.current
    return prof.poc if prof is not None else None


def _metrics(pipeline: Pipeline) -> dict[str, float]:
    m = pipeline.metrics
    return {
        "mid": float(m.mid), "imbalance": float(m.imbalance), "ofi": float(m.ofi),
        "momentum": float(pipeline.momentum.score),
        "cumulative_delta": float(pipeline.delta.value),
    }  # fmt: skip
