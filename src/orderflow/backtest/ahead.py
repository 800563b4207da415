"""The pipeline run ahead of a backtest's decisions: one call a chunk, read as of each point.

The pipeline's output does not depend on our orders (the venue is separate), so the driver
may feed it a chunk's whole events in one call and let each decision read what it needs as
of its point (``docs/performance.md``, "The pipeline run ahead of the decisions"): the pieces
between decisions cost the pipeline a call each on state the host's turn left cold, and the
host's turn a kernel pass between decisions. What a decision reads, as of a point of the
chunk (the records before it), is worked out from the call's results:

- the last event time, the event groups (LAST records), the prints (TRADE records) by their
  counts over the records, checked against the pipeline's own counts after the call;
- the raw and the accumulated signals: those of the call with an event time at or before the
  point's (a signal carries its event group's time; the driver runs a chunk ahead only when
  no decision point shares its time with the next record's);
- the prints since a count (:meth:`AheadView.prints_since`), up to the point's print count;
- the closed bars of each series: those closed at or before the point's time (``ts_close``);
- the book's best bid and ask: the venue's own book (:class:`LaggingBook`) brought up to the
  point.

Nothing else is: a strategy runs ahead only when it says (``market_reads``) that it reads no
lazy field but those of :data:`AHEAD_READS`, and any other read of the view fails
(``AttributeError``) instead of reading the chunk's end. The venue reads its own L3 book,
applied to the records the driver has passed only when the venue reads it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

import numpy as np

from orderflow.book.l3 import OrderBook
from orderflow.core.errors import ArgumentError
from orderflow.engine.pipeline import Pipeline
from orderflow.model.enums import Action, Flags

__all__ = ["AHEAD_READS", "AheadView", "LaggingBook", "reads_ahead"]

#: the lazy context fields a decision can read as of its point (the rest: the chunk's end)
AHEAD_READS = frozenset({"quote", "bars", "entry_block"})
_LAST = int(Flags.LAST)
_TRADE = int(Action.TRADE)


def reads_ahead(strategy: object) -> bool:
    """Whether ``strategy`` reads only what a decision can read as of its point: it says so
    (``market_reads``, the lazy context fields it may read) and those are in
    :data:`AHEAD_READS`. A strategy that does not say is never run ahead."""
    reads = getattr(strategy, "market_reads", None)
    return reads is not None and frozenset(reads) <= AHEAD_READS


class LaggingBook:
    """The venue's own L3 book, brought up to the records the driver has passed (:meth:`upto`)
    when it is read: the reads the venue makes of an L3 book (``best_bid``, ``best_ask``,
    ``depth``, ``level_queue``). Each run of records passed within one array is
    applied as one view of it."""

    __slots__ = ("_done", "_recs", "_to", "book")

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self._recs: np.ndarray | None = None
        self._done = self._to = 0

    def upto(self, recs: np.ndarray, to: int) -> None:
        """The records ``recs[:to]`` have been passed (a new array: the previous one's passed
        records first)."""
        if recs is not self._recs:
            self._bring()
            self._recs, self._done = recs, 0
        self._to = to

    @property
    def pending(self) -> int:
        """How many records passed are not applied yet."""
        return self._to - self._done

    def adopt(self, book: OrderBook) -> None:
        """``book`` holds every record passed so far (the pipeline's, before a chunk runs
        ahead): this book becomes a copy of it instead of applying those it has not."""
        self.book.take_state(book)
        self._done = self._to

    def _bring(self) -> OrderBook:
        recs = self._recs
        if recs is not None and self._to > self._done:
            # (no _cover pass: this book follows the pipeline's market, its ladder already
            # spans the prices; a record outside it re-bases it as it comes)
            self.book.apply_mbo(recs[self._done : self._to], cover=False)
            self._done = self._to
        return self.book

    def best_bid(self) -> Any:
        return self._bring().best_bid()

    def best_ask(self) -> Any:
        return self._bring().best_ask()

    def depth(self, n: int) -> Any:
        return self._bring().depth(n)

    def level_queue(self, side: int, price: int) -> dict[int, int]:
        out: dict[int, int] = self._bring().level_queue(side, price)
        return out


class _Log:
    """A signal log as the pipeline's would be after ``count`` entries: its entries are the
    real log's (which holds the later ones too)."""

    __slots__ = ("count", "log")

    def __init__(self, log: Any) -> None:
        self.log, self.count = log, 0

    def _first(self) -> int:
        kept = self.log.kept
        return 0 if kept is None else max(0, self.count - kept)

    def since(self, seen: int) -> list[Any]:
        start = max(seen, self._first())
        if start >= self.count:
            return []
        if start < self.log.first_kept:
            raise ArgumentError(f"signal {start} is no longer kept by the pipeline run ahead")
        out: list[Any] = self.log.since(start)
        return out[: self.count - start]

    def missed(self, seen: int) -> int:
        return max(0, self._first() - max(seen, 0))

    def __len__(self) -> int:
        return self.count


class _Series:
    """A bar series as of a time: its bars closed by then."""

    __slots__ = ("series", "view")

    def __init__(self, series: Any, view: AheadView) -> None:
        self.series, self.view = series, view

    def _n(self) -> int:
        if self.view.is_live:
            return len(self.series)
        return int(self.series.bars()["ts_close"].searchsorted(self.view.last_ts, "right"))

    def __len__(self) -> int:
        return self._n()

    def bars(self) -> np.ndarray:
        out: np.ndarray = self.series.bars()[: self._n()]
        return out

    def forming(self) -> Any:
        # (the host reads it for the last price only when no print was returned since the
        # previous decision and its cached price is not this view's: with no print at all)
        if self.view.is_live:
            return self.series.forming()
        if self.view.trades == 0:
            return None
        raise ArgumentError("the forming bar is not read as of a point")


class _Bars:
    __slots__ = ("series",)

    def __init__(self, series: Iterable[Any], view: AheadView) -> None:
        self.series = [_Series(s, view) for s in series]


class AheadView:
    """The pipeline as the decisions read it at the driver's position (:meth:`at`): after a
    chunk run ahead (:meth:`ahead`), as of that position; after records fed piece by piece
    (:meth:`live`), the pipeline itself. Only the reads of the module docstring."""

    def __init__(self, pipe: Pipeline, book: LaggingBook) -> None:
        self.pipe, self.book = pipe, book
        self.accumulated = _Log(pipe.accumulated)
        self.signals = _Log(pipe.signals)
        self.is_live = True
        self._ts: np.ndarray = np.zeros(0, dtype=np.int64)
        self._groups = self._prints = self._ts
        self._acc_t: list[int] = []
        self._sig_t: list[int] = []
        self._base = (0, 0, 0, 0)  # groups, prints, accumulated, raw signals before the call
        self._start = 0  # where the call's records start in the chunk's
        self.last_ts = self.groups = self.trades = 0
        self.live()

    @property
    def bars(self) -> _Bars:
        """The bar series as of the position (made when read: a decision reads them to price
        an entry)."""
        return _Bars(self.pipe.bars.series, self)

    # ---- the driver ------------------------------------------------------------------------
    def ahead(self, recs: np.ndarray, start: int) -> None:
        """Feed ``recs[start:]`` (whole events from an event's start, times never going back)
        to the pipeline in one call; the view reads as of :meth:`at` in them from now on."""
        pipe = self.pipe
        acc, sig = pipe.accumulated, pipe.signals
        self._base = (pipe.groups, pipe.trades, acc.count, sig.count)
        rest = recs[start:]
        pipe.process(rest)
        self._ts, self._start = recs["ts_event"], start
        self._groups = np.cumsum((rest["flags"] & _LAST) != 0)
        self._prints = np.cumsum(rest["action"] == _TRADE)
        g0, p0, a0, s0 = self._base
        if (g0 + int(self._groups[-1]), p0 + int(self._prints[-1])) != (pipe.groups, pipe.trades):
            raise ArgumentError("the pipeline's groups or prints are not its LAST, TRADE records")
        self._acc_t = _times(acc, a0)
        self._sig_t = _times(sig, s0)
        self.is_live = False

    def at(self, pos: int) -> None:
        """The driver has passed the chunk's first ``pos`` records."""
        if self.is_live:
            return
        g0, p0, a0, s0 = self._base
        i = pos - 1 - self._start
        # (``item``: a Python int without a numpy scalar made first)
        t = self.last_ts = self._ts.item(pos - 1)
        self.groups = g0 + self._groups.item(i)
        self.trades = p0 + self._prints.item(i)
        self.accumulated.count = a0 + _count(self._acc_t, t)
        self.signals.count = s0 + _count(self._sig_t, t)

    def next_signal_ts(self, count: int) -> int | None:
        """The event time of the accumulated signal that makes the count ``count + 1`` in the
        chunk run ahead (the count stays ``count`` at every point before that time); None
        when the chunk brings no more (a count below the chunk's first: the earliest time)."""
        k = count - self._base[2]
        if k < 0:
            return _LOST
        return self._acc_t[k] if k < len(self._acc_t) else None

    def live(self) -> None:
        """Records were fed to the pipeline piece by piece: read it as it is."""
        pipe = self.pipe
        self.is_live = True
        self.last_ts, self.groups, self.trades = pipe.last_ts, pipe.groups, pipe.trades
        self.accumulated.count = pipe.accumulated.count
        self.signals.count = pipe.signals.count

    # ---- the host's reads ------------------------------------------------------------------
    def prints_since(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`Pipeline.prints_since` as of the position: the prints after the first
        ``count`` up to the position's."""
        if self.is_live:
            return self.pipe.prints_since(count)
        recent, upto = self.pipe.kept_prints, self.trades
        # (fed piece by piece, the pipeline would hold every print up to the position from
        # the newest ``keep`` on, or from the first; so would this one from its start on)
        k = max(count, 0)
        if k < upto and (k < recent.start or k < upto - recent.keep):
            raise ArgumentError(f"print {count} is not read as of a point so far back")
        return recent.since(count, upto)


def _times(log: Any, before: int) -> list[int]:
    """The event times of ``log``'s entries after the first ``before``, in time order (a
    count at or before a time does not depend on the order); one no longer kept (a chunk that
    took more than the log keeps) counts as the earliest time, so a read as of a point before
    the oldest kept one cannot be answered (:func:`_count`)."""
    out = sorted(s.ts_event for s in log.since(before))
    lost = log.missed(before)
    return [_LOST] * lost + out if lost else out


#: the time of an entry the log no longer keeps (:func:`_times`)
_LOST = -(2**63)


def _count(times: list[int], t: int) -> int:
    """How many of ``times`` (in order) are at or before ``t``."""
    n = bisect_right(times, t)
    if 0 < n < len(times) and times[n - 1] == _LOST:
        raise ArgumentError("the pipeline run ahead no longer keeps the signals of this point")
    return n
