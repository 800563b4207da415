"""A recorded stream as the batches a NinjaTrader bridge would send, as arrays.

One function cuts a stream into what the bridge forwards: the depth events NinjaTrader shows
for the top ``levels`` (an MBO file converted by :func:`~orderflow.io.nt_convert`, a
NinjaTrader depth dump as recorded) in batches that end at exchange event boundaries once they
hold ``batch_events`` events, each with the prints up to its last depth event's time and the
inside quote before each print (what ``OnMarketData`` gives with a Last).

Both sides of a comparison use it: the feed client turns each :class:`NtBatch` into the wire's
``Batch`` (``orderflow.client.feed``), and a backtest that must see what the live server saw
feeds the same arrays to its pipeline, one group per batch, while its simulated venue replays
the source records up to :attr:`NtBatch.source_end` (for an MBO source: the record that ended
the batch's last exchange event).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orderflow.analytics.trades import trades_from_mbo
from orderflow.core.errors import ArgumentError
from orderflow.io.formats import LoadedStream
from orderflow.io.nt_convert import mbo_to_nt_depth_rows
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Flags

__all__ = ["NtBatch", "nt_batches"]


@dataclass(frozen=True, slots=True)
class NtBatch:
    """One batch: NinjaTrader depth events (:data:`NT_DEPTH_DTYPE`, their own flags), the
    prints (:data:`TRADE_DTYPE`, aggressor as the source recorded it) with the bid and ask
    before each (ticks, ``NO_PRICE`` when unknown), and how far into the source stream it
    reaches (``source_end``: records of the source consumed; -1 when not known)."""

    depth: np.ndarray
    trades: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    source_end: int = -1

    @property
    def t_first(self) -> int:
        return int(self.depth["ts_event"][0])

    @property
    def t_last(self) -> int:
        return int(self.depth["ts_event"][-1])


def nt_batches(stream: LoadedStream, levels: int = 10, batch_events: int = 100) -> list[NtBatch]:
    """``stream`` (kind ``mbo`` or ``nt_depth``) as the bridge's batches (module docstring)."""
    arr = stream.array
    rows: np.ndarray | None = None
    if stream.kind == "mbo":
        nt, rows, depth = mbo_to_nt_depth_rows(arr, levels, stream.instrument)
        if depth is None:  # no event boundary at all: nothing to send
            return []
        trades = trades_from_mbo(arr)
        # the quote before each print: the book at the last boundary before its record
        k = np.searchsorted(np.asarray(depth.index), np.flatnonzero(arr["action"] == Action.TRADE))
        k = k - 1
        bid = np.where(k >= 0, np.asarray(depth.bid_price)[np.maximum(k, 0), 0], NO_PRICE)
        ask = np.where(k >= 0, np.asarray(depth.ask_price)[np.maximum(k, 0), 0], NO_PRICE)
    elif stream.kind == "nt_depth":
        nt = arr
        found = stream.extra.get("trades")
        trades = found if found is not None else np.zeros(0, dtype=TRADE_DTYPE)
        quotes = stream.extra.get("quotes")
        if quotes is not None and len(quotes) and len(trades):
            # the L1 quote in force before each print, in file order
            q = np.searchsorted(quotes["sequence"], trades["sequence"]) - 1
            bid = np.where(q >= 0, quotes["bid_price"][np.maximum(q, 0)], NO_PRICE)
            ask = np.where(q >= 0, quotes["ask_price"][np.maximum(q, 0)], NO_PRICE)
        else:
            bid = ask = np.full(len(trades), NO_PRICE, dtype=np.int64)
    else:
        raise ArgumentError(
            f"cannot feed a {stream.kind!r} stream: an mbo or nt_depth file is needed"
        )
    return _cut(nt, rows, trades, bid.astype(np.int64), ask.astype(np.int64), batch_events)


def _cut(
    nt: np.ndarray,
    rows: np.ndarray | None,
    trades: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    batch_events: int,
) -> list[NtBatch]:
    """Batches at event boundaries (LAST) of at least ``batch_events`` events; each carries the
    prints (of positive size) up to its last depth event's time, the last one all the rest."""
    ends = np.flatnonzero(nt["flags"] & int(Flags.LAST)) + 1
    if len(nt) and (not len(ends) or ends[-1] != len(nt)):
        ends = np.append(ends, len(nt))  # a stream that stops mid-event still goes out whole
    out: list[NtBatch] = []
    start, t_at = 0, 0
    tick_ts = trades["ts_event"]
    for i, end in enumerate(ends.tolist()):
        last = i == len(ends) - 1
        if end - start < batch_events and not last:
            continue
        ev = nt[start:end]
        last_ts = int(ev["ts_event"][-1])
        t_end = int(np.searchsorted(tick_ts, last_ts, side="right")) if not last else len(trades)
        keep = trades["size"][t_at:t_end] > 0
        source_end = int(rows[end - 1]) + 1 if rows is not None else -1
        out.append(NtBatch(ev, trades[t_at:t_end][keep], bid[t_at:t_end][keep],
                           ask[t_at:t_end][keep], source_end))  # fmt: skip
        start, t_at = end, t_end
    return out
