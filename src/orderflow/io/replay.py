"""Replay any supported file into the book that fits its data, and summarise the result.

The format is told by the file itself (:func:`orderflow.io.formats.load_stream`): order-by-order
streams go into the L3 book, price-level deltas into the price-level book, NinjaTrader depth
events into the position-indexed ladder. Long streams are applied in chunks so a caller can show
progress; chunking does not change the result (the books are consistent at event boundaries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.book.common import NO_PRICE, BatchResult
from orderflow.core.errors import DecodeError
from orderflow.core.time import ns_to_iso
from orderflow.model.enums import Action, Flags
from orderflow.model.instruments import Instrument

CHUNK = 1 << 20

ProgressFn = Callable[[int, int], None]


@dataclass(slots=True)
class ReplaySummary:
    """The book at the end of a replay (or at ``--at``) and what it took to get there."""

    path: Path
    source_format: str
    kind: str
    instrument: Instrument
    events: int
    applied: int
    rejected: dict[str, int]
    boundaries: int
    crossed_boundaries: int
    locked_boundaries: int
    ts_event: int
    orders: int | None
    bids: list[tuple[int, int, int]] = field(default_factory=list)
    asks: list[tuple[int, int, int]] = field(default_factory=list)
    stale: bool = False
    first_ts_event: int = 0
    trades: int | None = None
    traded_volume: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, prices in the exchange's units (for ``--json``)."""
        inst = self.instrument

        def rows(levels: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
            return [{"price": inst.to_price(p), "size": s, "count": c} for p, s, c in levels]

        best_bid = inst.to_price(self.bids[0][0]) if self.bids else None
        best_ask = inst.to_price(self.asks[0][0]) if self.asks else None
        return {
            "file": str(self.path),
            "format": self.source_format,
            "kind": self.kind,
            "instrument": inst.contract or inst.symbol,
            "tick_size": float(inst.tick_size),
            "tick_value": float(inst.tick_value),
            "ts_event": ns_to_iso(self.ts_event) if self.ts_event else None,
            "first_ts_event": ns_to_iso(self.first_ts_event) if self.first_ts_event else None,
            "trades": self.trades,
            "traded_volume": self.traded_volume,
            "events": self.events,
            "applied": self.applied,
            "rejected": self.rejected,
            "boundaries": self.boundaries,
            "crossed_boundaries": self.crossed_boundaries,
            "locked_boundaries": self.locked_boundaries,
            "orders": self.orders,
            "best_bid": best_bid,
            "best_ask": best_ask,
            "spread": inst.to_price(self.asks[0][0] - self.bids[0][0])
            if self.bids and self.asks
            else None,
            "crossed": best_bid is not None and best_ask is not None and best_bid > best_ask,
            "stale": self.stale,
            "bids": rows(self.bids),
            "asks": rows(self.asks),
        }


def cut_at(events: np.ndarray, at_ns: int | None) -> np.ndarray:
    """The events up to and including the last boundary at or before ``at_ns`` (event time)."""
    if at_ns is None:
        return events
    is_boundary = (events["flags"] & Flags.LAST) != 0
    idx = np.flatnonzero(is_boundary & (events["ts_event"] <= at_ns))
    if len(idx) == 0:
        return events[:0]
    return events[: int(idx[-1]) + 1]


def _levels(depth: dict[str, np.ndarray], side: str) -> list[tuple[int, int, int]]:
    prices = depth[f"{side}_price"]
    sizes = depth[f"{side}_size"]
    counts = depth.get(f"{side}_count", np.zeros_like(sizes))
    return [
        (int(p), int(s), int(c))
        for p, s, c in zip(prices, sizes, counts, strict=True)
        if p != NO_PRICE
    ]


def _merge(total: BatchResult, part: BatchResult) -> None:
    total.applied += part.applied
    total.boundaries += part.boundaries
    total.crossed_boundaries += part.crossed_boundaries
    total.locked_boundaries += part.locked_boundaries
    for k, v in part.rejected.items():
        total.rejected[k] = total.rejected.get(k, 0) + v


def replay_file(
    path: str | Path,
    *,
    depth: int = 10,
    at_ns: int | None = None,
    instrument: Instrument | None = None,
    progress: ProgressFn | None = None,
) -> ReplaySummary:
    """Replay ``path`` into the right book; return the book's top ``depth`` levels and counts."""
    from orderflow.io.formats import load_stream

    stream = load_stream(Path(path), instrument=instrument)
    if stream.source_format == "lobster_messages":
        summary = _replay_lobster_window(Path(path), stream, depth=depth, at_ns=at_ns)
        if summary is not None:
            return summary
    return replay_events(
        stream.kind,
        stream.array,
        stream.instrument,
        source_format=stream.source_format,
        path=Path(path),
        depth=depth,
        at_ns=at_ns,
        progress=progress,
    )


def _replay_lobster_window(
    path: Path, stream: Any, *, depth: int, at_ns: int | None
) -> ReplaySummary | None:
    """A LOBSTER N-level message file holds only events inside its window: order-by-order
    replay cannot rebuild it, so when the orderbook file is beside it, replay the window the
    way the data's README prescribes (top-ups from the orderbook). None when it is absent."""
    from orderflow.io import lobster

    book_path = lobster.orderbook_path_for(path)
    if not book_path.exists():
        return None
    messages = stream.extra["messages"]
    rows = len(messages)
    if at_ns is not None:
        ts = stream.array["ts_event"][stream.array["flags"] & Flags.LAST != 0]
        rows = int(np.searchsorted(ts, at_ns, side="right"))
    orderbook = lobster.read_orderbook(book_path)[:rows]
    result = lobster.replay_window(messages[:rows], orderbook, tick=stream.extra["raw_tick"])
    view = result.book.depth(depth)
    n_mbo = int(np.searchsorted(stream.array["sequence"], rows, side="right"))
    return ReplaySummary(
        path=path,
        source_format="lobster_messages+orderbook",
        kind="levels",
        instrument=stream.instrument,
        events=rows,
        applied=rows,
        rejected={},
        boundaries=rows,
        crossed_boundaries=int(
            np.count_nonzero(
                (result.bids[:, 0, 1] > 0)
                & (result.asks[:, 0, 1] > 0)
                & (result.bids[:, 0, 0] > result.asks[:, 0, 0])
            )
        ),
        locked_boundaries=int(
            np.count_nonzero(
                (result.bids[:, 0, 1] > 0)
                & (result.asks[:, 0, 1] > 0)
                & (result.bids[:, 0, 0] == result.asks[:, 0, 0])
            )
        ),
        ts_event=int(stream.array["ts_event"][n_mbo - 1]) if n_mbo else 0,
        orders=None,
        bids=_levels(view, "bid"),
        asks=_levels(view, "ask"),
    )


def replay_events(
    kind: str,
    events: np.ndarray,
    inst: Instrument,
    *,
    source_format: str,
    path: Path,
    depth: int = 10,
    at_ns: int | None = None,
    progress: ProgressFn | None = None,
) -> ReplaySummary:
    """Replay a normalised stream (``kind`` mbo, levels or nt_depth) into the right book."""
    events = cut_at(events, at_ns)
    book: Any
    if kind == "mbo":
        from orderflow.book.l3 import OrderBook

        book = OrderBook(inst)
        apply = book.apply_mbo
    elif kind == "levels":
        from orderflow.book.levels import LevelBook

        book = LevelBook(inst)
        apply = book.apply_deltas
    elif kind == "nt_depth":
        from orderflow.book.ladder import LadderBook

        book = LadderBook(inst)
        apply = book.apply_events
    else:
        raise DecodeError(
            f"{path.name} holds {kind}, not book data; try `orderflow analyze`", field="file"
        )
    total = BatchResult()
    n = len(events)
    for start in range(0, max(n, 1), CHUNK):
        part = apply(events[start : start + CHUNK])
        _merge(total, part)
        if progress is not None:
            progress(min(start + CHUNK, n), n)
    view = book.depth(depth)
    return ReplaySummary(
        path=path,
        source_format=source_format,
        kind=kind,
        instrument=inst,
        events=n,
        applied=total.applied,
        rejected=total.rejected,
        boundaries=total.boundaries,
        crossed_boundaries=total.crossed_boundaries,
        locked_boundaries=total.locked_boundaries,
        ts_event=int(events["ts_event"][-1]) if n else 0,
        orders=len(book) if kind == "mbo" else None,
        bids=_levels(view, "bid"),
        asks=_levels(view, "ask"),
        stale=bool(getattr(book, "stale", False)),
        first_ts_event=_first_live_ts(events),
        **_trade_counts(kind, events),
    )


def _first_live_ts(events: np.ndarray) -> int:
    """Event time of the first record after any opening snapshot (0 when there is none)."""
    live = np.flatnonzero((events["flags"] & Flags.SNAPSHOT) == 0)
    return int(events["ts_event"][live[0]]) if len(live) else 0


def _trade_counts(kind: str, events: np.ndarray) -> dict[str, int | None]:
    """Prints and contracts in an order-by-order stream (T records); None for other kinds."""
    if kind != "mbo":
        return {"trades": None, "traded_volume": None}
    prints = events["action"] == Action.TRADE
    return {"trades": int(prints.sum()), "traded_volume": int(events["size"][prints].sum())}
