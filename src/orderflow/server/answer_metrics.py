"""The book and the metrics every answer carries, from one read of the ladder's top rows.

An ack's book (the top rows of each side, exchange prices) and its bid/ask size ratios read
the same rows: they are read once, as Python integers, and both are built from them (the
ratios by :func:`~orderflow.engine.pipeline.size_ratios`, as
:meth:`~orderflow.engine.pipeline.Pipeline.bid_ask_ratios` builds them from the book's depth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderflow.engine.pipeline import size_ratios
from orderflow.server.wire import json_float, row_levels

if TYPE_CHECKING:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import Instrument

__all__ = ["BOOK_LEVELS", "book_and_metrics", "metrics"]

#: ladder rows per side in an answer's book
BOOK_LEVELS = 10


def _rows(pipe: Pipeline, n: int) -> tuple[list[int], list[int], list[int], list[int]]:
    rows: tuple[list[int], list[int], list[int], list[int]] = pipe.book.top_lists(n)
    return rows


def _ratios(pipe: Pipeline, rows: tuple[list[int], list[int]] | None) -> list[Any]:
    """The bid/ask size ratios at ``params.ratio_levels`` (``rows`` as :func:`metrics` takes
    them; read here when None)."""
    levels = pipe.params.ratio_levels
    if pipe.book is None or not levels:
        return []
    if rows is None:
        _, bs, _, as_ = _rows(pipe, max(levels))
        rows = bs, as_
    return size_ratios(levels, *rows)


def metrics(inst: Instrument, pipe: Pipeline, rows: tuple[list[int], list[int]] | None = None
            ) -> dict[str, Any]:  # fmt: skip
    """An instrument's metrics as every answer carries them (prices in exchange units; empty
    before its first event group). ``rows``: the ladder's bid and ask sizes, best first, at
    least ``max(params.ratio_levels)`` rows or the whole side (read here when None). Each
    reader is read once (``headline()``: the book metrics' rows, the VWAP's sums)."""
    if not pipe.groups:
        return {}
    spread, mid, micro, imbalance, ofi, ofi_sum = pipe.metrics.headline()
    tick = float(inst.tick_size)
    ratio = _ratios(pipe, rows)
    volume, vw, sd = pipe.vwap.headline()
    bands: list[dict[str, Any]] = []
    if volume:
        for k, w in zip(pipe.params.vwap.multipliers, pipe.vwap.params.multipliers, strict=True):
            u, lo = vw + w * sd, vw - w * sd
            bands.append({"k": float(k), "upper": None if u != u else u * tick,
                          "lower": None if lo != lo else lo * tick})  # fmt: skip
    return {
        "spread": None if spread is None else spread * tick,
        "mid": None if mid != mid else mid * tick,
        "microprice": None if micro != micro else micro * tick,
        "imbalance": None if imbalance != imbalance else imbalance,
        "ofi": ofi,
        "ofi_window": ofi_sum,
        "cumulative_delta": pipe.delta.value,
        "vwap": None if vw != vw else vw * tick,
        "vwap_bands": bands,
        "momentum": json_float(pipe.momentum.score),
        "bid_ask_ratio": ratio,
    }


def book_and_metrics(
    inst: Instrument, pipe: Pipeline, levels: int = BOOK_LEVELS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An answer's ``book`` (the top ``levels`` rows a side) and ``metrics``, from one read
    of the ladder."""
    n = max(levels, max(pipe.params.ratio_levels, default=0))
    bp, bs, ap, as_ = _rows(pipe, n)
    tf = inst.tick_fixed
    book = {"bids": row_levels(bp[:levels], bs[:levels], tf),
            "asks": row_levels(ap[:levels], as_[:levels], tf)}  # fmt: skip
    return book, metrics(inst, pipe, (bs, as_))
