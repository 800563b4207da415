"""The order-flow pipeline: one book, every analytic and every detector, fed event groups.

Live and replay run this same object. A live feed hands it one event group at a time; a replay
hands it chunks of thousands of records. Each call to :meth:`Pipeline.process` (or
:meth:`Pipeline.process_trades` for a stream of prints only) does the same steps, in this
order, over the complete event groups it was given:

1. the book applies the records and records its top N levels at every event boundary;
2. the trades of the groups (MBO ``T`` records, or the prints that came with an L2 feed) are
   assigned to their group: by record index for MBO, by event time otherwise;
3. the book metrics and the momentum score advance group by group (the same kernels as their
   per-group classes, so the numbers do not depend on the chunk size);
4. bars on every timeframe (footprint cells included), cumulative delta, VWAP, the session
   volume profile, volume clusters and liquidity clusters take the chunk's trades and book;
5. the L3 detectors (with order ids), the L2 detectors (levels and prints) and, when
   ``pull.enabled``, the pulling/stacking detector turn the patterns into signals, sorted by
   time, and the accumulator turns those into accumulated signals (pulling and stacking only
   with ``pull.accumulate``). Confirmation across timeframes asks the bar series which bar
   had *closed* at the signal's time, so a chunk never lets a signal see a bar from its
   future.

Records after the last boundary of a call wait (in order) for the rest of their group. Every
read (:meth:`Pipeline.snapshot`) is O(levels + clusters), never O(history).

For ``mbo`` and ``nt_depth`` streams (``PipelineParams.fused``, the default) steps 1-5 run as
ONE compiled call per feeding call (:mod:`orderflow.engine.fused`), with the same kernels on the
same state, so the numbers are the same bit for bit.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from orderflow.analytics.bars import BarKind, BarParams, BarSpec, MultiBars
from orderflow.analytics.book_metrics import BookMetrics, BookMetricsParams, trade_offsets
from orderflow.analytics.clusters import (
    ClusterParams,
    LiquidityClusterTracker,
    VolumeClusterTracker,
)
from orderflow.analytics.delta import CumulativeDelta, DeltaParams
from orderflow.analytics.footprint import FootprintParams
from orderflow.analytics.momentum import Momentum, MomentumParams
from orderflow.analytics.profile import ProfileParams, SessionProfiles
from orderflow.analytics.trades import trades_from_mbo
from orderflow.analytics.vwap import VwapParams, VwapTracker
from orderflow.book.common import DepthRecord
from orderflow.core.errors import ArgumentError, ParameterError
from orderflow.engine._fused_prints import K_DHI, K_DLO, K_VOL
from orderflow.engine.fused import FusedStep, PrintParts
from orderflow.engine.kept_imbalances import KeptImbalances
from orderflow.engine.kept_prints import KeptPrints
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Flags
from orderflow.model.instruments import Instrument
from orderflow.signals.accumulate import AccumulatedSignal, Accumulator, AccumulatorParams
from orderflow.signals.detectors_l2 import L2Detector, L2Params
from orderflow.signals.detectors_l3 import L3Detector, L3Params
from orderflow.signals.detectors_pull import PULL_DETECTORS, PullDetector, PullParams
from orderflow.signals.evaluate import mid_from_top
from orderflow.signals.model import Signal
from orderflow.signals.signal_log import SIGNALS_KEPT, SignalLog

__all__ = ["BOOK_KINDS", "Pipeline", "PipelineParams"]

log = logging.getLogger(__name__)

#: stream kinds that carry a book (see :class:`orderflow.io.formats.LoadedStream`)
BOOK_KINDS = ("mbo", "levels", "nt_depth")
#: stream kinds the fused step covers (``PipelineParams.fused``)
FUSED_KINDS = ("mbo", "nt_depth")
_LAST, _SNAPSHOT = int(Flags.LAST), int(Flags.SNAPSHOT)
_NO_TRADES = np.zeros(0, dtype=TRADE_DTYPE)
_I8 = np.dtype(np.int64)
_NATIVE_I8 = ("l", "q")  # (an aligned int64 buffer's formats; unaligned is "=q": not indexable)
_BY_TIME = attrgetter("ts_event")  # (a signal's sort key, in C)
#: prints :meth:`Pipeline.prints_since` keeps at least (a decision is never this far behind)
PRINTS_KEPT = 65_536
L3_DETECTORS = frozenset({"iceberg", "large_lot_added", "large_lot_removed", "spoof_pull"})
L2_DETECTORS = frozenset({"absorption", "sweep", "exhaustion", "iceberg_l2"})
PULL_SIGNALS = frozenset(PULL_DETECTORS)
#: how many event groups' book imbalance :attr:`Pipeline.imbalances` keeps
IMBALANCE_GROUPS = 256


class _Chunk(NamedTuple):
    """The complete event groups of one call: the book's top N at each boundary, the prints
    (``trades[off[g]:off[g + 1]]`` in group g), and for L3 the records and the best prices
    before the first group."""

    depth: DepthRecord
    trades: np.ndarray
    off: np.ndarray
    events: np.ndarray | None
    best_before: tuple[int, int] | None


def _prints_to(trades: np.ndarray, depth: np.ndarray) -> int:
    """``trades["ts_event"].searchsorted(depth["ts_event"][-1], side="right")``: the prints up
    to the batch's last depth event. Native int64 times (aligned: a memoryview reads them as
    Python ints) take the same binary search (the same probes, in time order or not) through
    :func:`bisect.bisect_right`: numpy's copies the strided field and converts the key
    first, 2.3 against 0.4 us a batch. Other times take numpy's."""
    ts = trades["ts_event"]
    if ts.dtype == _I8:
        times = ts.data
        if times.format in _NATIVE_I8:
            return bisect_right(times, int(depth["ts_event"][-1]))
    return int(ts.searchsorted(depth["ts_event"][-1], side="right"))


def size_ratios(levels: tuple[int, ...], bid_sizes: list[int], ask_sizes: list[int]) -> list[Any]:
    """Bid size / ask size over the top n rows for each n of ``levels`` (None when those ask
    rows hold nothing); ``bid_sizes`` and ``ask_sizes``: a side's rows, best first (a side
    shorter than n counts the rows it has). The sums are integers, each converted to a float
    and divided once."""
    out = []
    for n in levels:
        ask = sum(ask_sizes[:n])
        out.append({"levels": n, "ratio": float(sum(bid_sizes[:n])) / float(ask) if ask else None})
    return out


@dataclass(frozen=True, slots=True)
class PipelineParams:
    """Everything the pipeline computes, and how (the settings file's ``analytics`` and
    ``signals`` sections map onto this; see ``config.example.yaml``)."""

    depth_levels: int = 10
    #: the depths of :meth:`Pipeline.bid_ask_ratios` (bid size / ask size over the top n)
    ratio_levels: tuple[int, ...] = (1, 5, 10)
    bars: tuple[BarSpec, ...] = (BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TIME, 300))
    bar_params: BarParams = field(default_factory=BarParams)
    footprint: FootprintParams = field(default_factory=FootprintParams)
    book: BookMetricsParams = field(default_factory=BookMetricsParams)
    momentum: MomentumParams = field(default_factory=MomentumParams)
    delta: DeltaParams = field(default_factory=DeltaParams)
    vwap: VwapParams = field(default_factory=VwapParams)
    profile: ProfileParams = field(default_factory=ProfileParams)
    clusters: ClusterParams = field(default_factory=ClusterParams)
    l3: L3Params = field(default_factory=L3Params)
    l2: L2Params = field(default_factory=L2Params)
    accumulator: AccumulatorParams = field(default_factory=AccumulatorParams)
    #: index into ``bars`` of the series whose closed bars confirm signals (None: no check)
    confirm_series: int | None = None
    #: detectors to run (None: all of them)
    detectors: frozenset[str] | None = None
    #: keep the (ts, mid) path of every boundary (what ``signals evaluate`` measures against)
    keep_mid_path: bool = False
    #: the pulling/stacking detector (runs only when ``pull.enabled``)
    pull: PullParams = field(default_factory=PullParams)
    #: the latest signals (and accumulated signals) :attr:`Pipeline.signals` and
    #: :attr:`Pipeline.accumulated` keep, counts aside (None: every one, for a table of them)
    signals_kept: int | None = SIGNALS_KEPT
    #: run the book, book metrics, momentum, liquidity clusters, detectors and print analytics
    #: of an ``mbo`` or ``nt_depth`` pipeline as one compiled call per feeding call
    #: (:mod:`.fused`); False: the separate per-component calls, the reference the fused step
    #: equals bit for bit
    fused: bool = True

    def __post_init__(self) -> None:
        if self.depth_levels < 1:
            raise ParameterError(f"depth_levels must be >= 1, got {self.depth_levels}")
        if not self.bars:
            raise ParameterError("at least one bar series is needed")
        if any(n < 1 for n in self.ratio_levels):
            raise ParameterError(f"ratio_levels must be >= 1, got {self.ratio_levels}")
        if self.confirm_series is not None and not 0 <= self.confirm_series < len(self.bars):
            raise ParameterError(f"confirm_series {self.confirm_series} is not a bar series index")
        if self.signals_kept is not None and self.signals_kept < 1:
            raise ParameterError(f"signals_kept must be >= 1 or None, got {self.signals_kept}")


def _new_book(kind: str, instrument: Instrument) -> tuple[Any, Callable[..., Any]]:
    if kind == "mbo":
        from orderflow.book.l3 import OrderBook

        book: Any = OrderBook(instrument)
        return book, book.apply_mbo
    if kind == "levels":
        from orderflow.book.levels import LevelBook

        book = LevelBook(instrument)
        return book, book.apply_deltas
    if kind == "nt_depth":
        from orderflow.book.ladder import LadderBook

        book = LadderBook(instrument)
        return book, book.apply_events
    raise ArgumentError(f"no book for a {kind!r} stream")


class Pipeline:
    """Book + analytics + signals of one instrument's stream (``kind``: mbo, levels, nt_depth,
    or trades for prints without a book)."""

    def __init__(
        self, instrument: Instrument, kind: str = "mbo", params: PipelineParams | None = None
    ) -> None:
        self.instrument = instrument
        self.kind = kind
        self.params = p = params or PipelineParams()
        self.name = instrument.contract or instrument.symbol
        self.book: Any = None
        self._apply: Callable[..., Any] | None = None
        if kind in BOOK_KINDS:
            self.book, self._apply = _new_book(kind, instrument)
        elif kind != "trades":
            raise ArgumentError(f"the pipeline takes mbo, levels, nt_depth or trades, not {kind!r}")
        self.bars = MultiBars(list(p.bars), p.bar_params, footprint=True)
        self.metrics = BookMetrics(p.book, width=p.depth_levels)
        self.momentum = Momentum(p.momentum)
        self.delta = CumulativeDelta(instrument, p.delta)
        self.vwap = VwapTracker(instrument, p.vwap)
        self.profiles = SessionProfiles(instrument, p.profile, reset=p.vwap.reset)
        self.volume_clusters = VolumeClusterTracker(p.clusters, instrument, reset=p.vwap.reset)
        self.liquidity_clusters = LiquidityClusterTracker(p.clusters)
        wanted = p.detectors
        self.l3 = (
            L3Detector(self.name, p.l3)
            if kind == "mbo" and (wanted is None or wanted & L3_DETECTORS)
            else None
        )
        self.l2 = L2Detector(self.name, p.l2) if wanted is None or wanted & L2_DETECTORS else None
        self.pull = (
            PullDetector(self.name, p.pull)
            if kind != "trades" and p.pull.enabled and (wanted is None or wanted & PULL_SIGNALS)
            else None
        )
        confirm = self._confirm_direction if p.confirm_series is not None else None
        self.accumulator = Accumulator(p.accumulator, confirm=confirm)
        self._pending: np.ndarray | None = None
        #: how the prints' aggressor side was known: recorded, bid/ask rule or tick rule
        self.aggressor_rule = "recorded"
        self.events = 0
        self.groups = 0
        self.trades = 0
        self.volume = 0
        self.rejected: Counter[str] = Counter()
        self.first_ts = 0
        self.last_ts = 0
        # bounded: every count, the latest signals_kept; readers hold counts (SignalLog.since)
        self.signals: SignalLog[Signal] = SignalLog(p.signals_kept)
        self.accumulated: SignalLog[AccumulatedSignal] = SignalLog(p.signals_kept)
        self.signal_counts: Counter[str] = Counter()
        self.delta_low = 0
        self.delta_high = 0
        self._top_path: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        #: the latest prints (times, prices), at least the newest PRINTS_KEPT
        self._recent = KeptPrints(PRINTS_KEPT)
        #: (ts, book imbalance) of the latest event groups (:attr:`imbalances`)
        self._imbalances = KeptImbalances(IMBALANCE_GROUPS)
        self._fused: FusedStep | None = None
        self._mbo = kind == "mbo"
        self._keep_mid_path = p.keep_mid_path
        if p.fused and kind in FUSED_KINDS:
            parts = PrintParts(
                self.bars, self.delta, self.vwap, self.profiles, self.volume_clusters
            )
            self._fused = FusedStep(self.metrics, self.momentum, self.liquidity_clusters,
                                    self.rejected, (self.l3, self.l2, self.pull),
                                    p.depth_levels, parts,
                                    (self._recent, self._imbalances))  # fmt: skip

    # ---- feeding -------------------------------------------------------------------------
    def process(self, events: np.ndarray, trades: np.ndarray | None = None) -> list[Signal]:
        """Feed book records (the stream's dtype) and, for an L2 feed, the prints that came
        with them (TRADE_DTYPE, time order). Returns the signals of the complete groups."""
        if self._pending is not None and len(self._pending):
            events = np.concatenate([self._pending, events])
            self._pending = None
        step = self._fused
        if step is not None:  # (an mbo or nt_depth pipeline: it has a book)
            took = step.mbo(self.book, events) if self._mbo else step.nt(self.book, events, trades)
            return self._fused_groups(step, events, *took)
        if self.book is None or self._apply is None:
            raise ArgumentError("this pipeline has no book; use process_trades")
        flags = events["flags"]
        ends = np.flatnonzero((flags & (_LAST | _SNAPSHOT)) == _LAST)
        if len(ends) == 0:
            self._pending = events.copy()
            return []
        cut = int(ends[-1]) + 1
        if cut < len(events):
            self._pending = events[cut:].copy()
            events = events[:cut]
        best_before = self._top() if self.l3 is not None else None  # only L3 reads it
        res = self._apply(events, record_depth=self.params.depth_levels)
        depth: DepthRecord = res.depth
        self.rejected.update(res.rejected)
        self.events += len(events)
        if self.kind == "mbo":
            is_trade = events["action"] == Action.TRADE
            trades = trades_from_mbo(events)
            off = trade_offsets(depth, trades, np.flatnonzero(is_trade))
        else:
            trades = _NO_TRADES if trades is None else trades
            off = trade_offsets(depth, trades)
        return self._groups(_Chunk(depth, trades, off, events, best_before))

    def process_batch(self, depth: np.ndarray, trades: np.ndarray) -> list[Signal]:
        """One batch of a live L2 feed as the server applies it (NinjaTrader gives no event
        boundaries): its depth events are one event group, with the prints up to its last
        depth event; prints after that form their own group over the book as it then stands.
        A backtest that must see what the server saw feeds its batches here."""
        if self._fused is not None and self.kind == "nt_depth" and self._pending is None:
            # the fused step takes the batch as one group as it is (no copy with new flags)
            cut = _prints_to(trades, depth) if len(trades) else 0
            step = self._fused
            took = step.nt(self.book, depth, trades if cut == len(trades) else trades[:cut], True)
            out = self._fused_groups(step, depth, *took)
            if self._pending is not None:  # (no group: the batch waits, marked as one group)
                self._pending["flags"] &= np.uint8(0xFF ^ _LAST)
                self._pending["flags"][-1] |= np.uint8(_LAST)
            if cut < len(trades):
                out += self.process_prints(trades[cut:])
            return out
        flags = depth["flags"]
        if len(depth) and (flags[-1] & _LAST == 0 or (flags[:-1] & _LAST).any()):
            depth = depth.copy()
            depth["flags"] &= np.uint8(0xFF ^ _LAST)
            depth["flags"][-1] |= np.uint8(_LAST)
        cut = int(np.searchsorted(trades["ts_event"], depth["ts_event"][-1], side="right"))
        out = self.process(depth, trades[:cut])
        if cut < len(trades):
            out += self.process_prints(trades[cut:])
        return out

    def process_trades(self, trades: np.ndarray) -> list[Signal]:
        """Feed prints without a book (trades-only files): every distinct event time is a group
        with an empty book, so only the print-based analytics and detectors have anything."""
        if len(trades) == 0:
            return []
        ts = trades["ts_event"]
        last = np.flatnonzero(np.append(ts[1:] != ts[:-1], True))
        n, w = len(last), self.params.depth_levels
        empty = np.full((n, w), NO_PRICE, dtype=np.int64)
        zeros = np.zeros((n, w), dtype=np.int64)
        depth = DepthRecord(last.astype(np.int64), ts[last].astype(np.int64), empty, zeros,
                            zeros, empty, zeros, zeros)  # fmt: skip
        off = np.concatenate(([0], last + 1)).astype(np.int64)
        self.events += len(trades)
        return self._groups(_Chunk(depth, trades, off, None, None))

    def process_prints(self, trades: np.ndarray, ts_event: int | None = None) -> list[Signal]:
        """Prints that came without book records (a feed's ticks between depth batches, or a
        snapshot just applied to the book): one event group at ``ts_event`` (default: the last
        print's time) over the book as it stands now."""
        if self.book is None:
            return self.process_trades(trades)
        ts = int(ts_event if ts_event is not None else trades["ts_event"][-1])
        n = self.params.depth_levels
        view = self.book.depth(n)
        zeros = np.zeros((1, n), dtype=np.int64)
        counts = [view.get(f"{s}_count") for s in ("bid", "ask")]
        depth = DepthRecord(
            np.zeros(1, dtype=np.int64), np.array([ts], dtype=np.int64),
            view["bid_price"][None, :n], view["bid_size"][None, :n],
            zeros if counts[0] is None else counts[0][None, :n],
            view["ask_price"][None, :n], view["ask_size"][None, :n],
            zeros if counts[1] is None else counts[1][None, :n],
        )  # fmt: skip
        off = np.array([0, len(trades)], dtype=np.int64)
        if self._fused is not None:
            return self._fused_groups(self._fused, None, *self._fused.levels(depth, trades, off))
        return self._groups(_Chunk(depth, trades, off, None, None))

    def _fused_groups(
        self,
        step: FusedStep,
        events: np.ndarray | None,
        depth: DepthRecord | None,
        nb: int,
        nt: int,
        signals: list[Signal],
        cut: int,
    ) -> list[Signal]:
        """:meth:`_groups` after a fused call on ``events`` (None: prints only) that took their
        first ``cut`` (:data:`~orderflow.engine.fused.Took`: ``nb`` event groups with ``nt``
        prints, their top N ``depth``), ran steps 1-5 and took the kept prints and
        imbalances: the records left for their group's end, the pipeline's own bookkeeping
        (counts, the mid path) and the signals."""
        if events is not None and cut < len(events):
            self._pending = events[cut:].copy()
        if depth is None:
            return []
        self.events += cut
        if not self.first_ts:
            self.first_ts = int(depth.ts_event[0])
        self.last_ts = last = step.last_ts
        self.groups += nb
        if nt:
            pk = step._pkv
            self.trades += nt
            self.volume += pk[K_VOL]
            self.delta_low = min(self.delta_low, pk[K_DLO])
            self.delta_high = max(self.delta_high, pk[K_DHI])
        if self._keep_mid_path:
            self._top_path.append((depth.ts_event.copy(), depth.bid_price[:, 0].copy(),
                                   depth.ask_price[:, 0].copy()))  # fmt: skip
        self.liquidity_clusters.took_depth(depth, last)
        return self._signals_out(self._kept(signals)) if signals else []

    def _top(self) -> tuple[int, int]:
        """Best bid and ask now (NO_PRICE for an empty side)."""
        top = self.book.top()
        bid, ask = top.bid_price, top.ask_price
        return (NO_PRICE if bid is None else bid), (NO_PRICE if ask is None else ask)

    def _groups(self, chunk: _Chunk) -> list[Signal]:
        depth, trades, off = chunk.depth, chunk.trades, chunk.off
        b = len(depth)
        if b == 0:
            return []
        if not self.first_ts:
            self.first_ts = int(depth.ts_event[0])
        self.last_ts = int(depth.ts_event[-1])
        self.groups += b
        trades = trades[: off[-1]]
        chunk = chunk._replace(trades=trades)
        nt = len(trades)
        if nt:
            self._keep_prints(trades)
        self.trades += nt
        self.volume += int(trades["size"].sum())
        # 3. book metrics and momentum over the chunk's groups (the per-group kernels)
        if b == 1:  # one group (a live batch): the per-group paths, same kernels and state
            ts0, m = int(depth.ts_event[0]), self.metrics
            m.update(ts0, depth.bid_price[0], depth.bid_size[0], depth.ask_price[0],
                     depth.ask_size[0], trades)  # fmt: skip
            self.momentum.update(ts0, m.mid, m.imbalance, trades)
            self._imbalances.append(ts0, float(m.imbalance))
        else:
            bm = self.metrics.update_many(depth, trades, off)
            self.momentum.update_many(depth.ts_event, bm.mid, bm.imbalance, trades, off)
            self._imbalances.take(depth.ts_event, bm.imbalance)
        if self.params.keep_mid_path:
            self._top_path.append((depth.ts_event.copy(), depth.bid_price[:, 0].copy(),
                                   depth.ask_price[:, 0].copy()))  # fmt: skip
        # 4. trade and book analytics
        if nt:
            self.bars.update(trades)
            cum = self.delta.update(trades)
            self.delta_low = min(self.delta_low, int(cum.min()))
            self.delta_high = max(self.delta_high, int(cum.max()))
            self.vwap.update(trades)
            self.profiles.update(trades)
            self.volume_clusters.update(trades)
        self.bars.advance(self.last_ts)
        if self.kind != "trades":
            self.liquidity_clusters.update_depth(depth)
        # 5. signals
        return self._signals_out(self._detect(chunk))

    def _signals_out(self, out: list[Signal]) -> list[Signal]:
        """The call's signals counted, accumulated and kept."""
        quiet = frozenset() if self.params.pull.accumulate else PULL_SIGNALS
        for s in out:
            self.signal_counts[s.detector] += 1
            if s.detector in quiet:  # seen and answered, not in the scores unless asked
                continue
            acc = self.accumulator.update(s)
            if acc is not None:
                self.accumulated.append(acc)
        self.signals.extend(out)
        return out

    @property
    def imbalances(self) -> deque[tuple[int, float]]:
        """(ts, book imbalance) of the latest :data:`IMBALANCE_GROUPS` event groups, oldest
        first: a new deque, built when read. O(IMBALANCE_GROUPS)."""
        return self._imbalances.as_deque()

    def _keep_prints(self, trades: np.ndarray) -> None:
        self._recent.take(trades["ts_event"], trades["price"])

    @property
    def kept_prints(self) -> KeptPrints:
        """The latest prints this pipeline holds (what :meth:`prints_since` reads)."""
        return self._recent

    def prints_since(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Event times and prices (ticks) of the prints after the first ``count`` this
        pipeline took (:attr:`trades` counts them), oldest first: what a strategy deciding
        now has not seen since it decided at ``count`` (its trail follows their extremes).
        The last :data:`PRINTS_KEPT` prints at least are kept; older ones are not returned.
        O(prints returned): one copy of each (:class:`~orderflow.engine.kept_prints.KeptPrints`
        holds them in one pair of arrays)."""
        return self._recent.since(count)

    def _wanted(self, detector: str) -> bool:
        d = self.params.detectors
        return d is None or detector in d

    def _detect(self, chunk: _Chunk) -> list[Signal]:
        depth, trades, off = chunk.depth, chunk.trades, chunk.off
        events, best_before = chunk.events, chunk.best_before
        out: list[Signal] = []
        if self.l3 is not None and events is not None and best_before is not None:
            bid = np.concatenate(([best_before[0]], depth.bid_price[:-1, 0]))
            ask = np.concatenate(([best_before[1]], depth.ask_price[:-1, 0]))
            out.extend(self.l3.on_groups(events, depth.index + 1, bid, ask))
        if self.l2 is not None:
            out.extend(
                self.l2.on_groups(
                    depth.ts_event,
                    depth.bid_price,
                    depth.bid_size,
                    depth.ask_price,
                    depth.ask_size,
                    trades["price"],
                    trades["size"],
                    trades["side"],
                    off,
                )
            )
        if self.pull is not None:
            levels = (depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size)
            prints = (trades["price"], trades["size"], trades["side"])
            out.extend(self.pull.on_groups(depth.ts_event, *levels, *prints, off))
        return self._kept(out)

    def _kept(self, out: list[Signal]) -> list[Signal]:
        """The wanted detectors' signals, by time (stable: L3 before L2 at equal times)."""
        if not out:
            return out
        if self.params.detectors is not None:  # (None: every detector is wanted)
            out = [s for s in out if self._wanted(s.detector)]
        out.sort(key=_BY_TIME)
        return out

    def _confirm_direction(self, ts: int) -> int:
        """Direction (+1/0/-1) of the last bar of the confirmation series closed at ``ts``."""
        assert self.params.confirm_series is not None
        closed = self.bars.series[self.params.confirm_series].bars()
        i = int(np.searchsorted(closed["ts_close"], ts, side="right")) - 1
        if i < 0:
            return 0
        return int(np.sign(int(closed["close"][i]) - int(closed["open"][i])))

    # ---- reading -------------------------------------------------------------------------
    def mid_path(self) -> tuple[np.ndarray, np.ndarray]:
        """(ts, mid in ticks) at every two-sided, uncrossed boundary so far (kept only with
        ``keep_mid_path``): what signal quality is measured against."""
        if not self._top_path:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(self._top_path) > 1:  # joined once: a later read joins only what came after
            ts, bid, ask = (np.concatenate(c) for c in zip(*self._top_path, strict=True))
            self._top_path = [(ts, bid, ask)]
        return mid_from_top(*self._top_path[0])

    def bid_ask_ratios(self) -> list[dict[str, Any]]:
        """Bid size / ask size summed over the top n levels, for each n of
        ``params.ratio_levels`` (None when those ask levels hold nothing; [] without a book).
        O(max n)."""
        levels = self.params.ratio_levels
        if self.book is None or not levels:
            return []
        view = self.book.depth(max(levels))
        return size_ratios(levels, view["bid_size"].tolist(), view["ask_size"].tolist())

    def snapshot(self) -> dict[str, Any]:
        """Every metric now, plain values with prices in ticks. O(levels + clusters)."""
        m, mom, vw = self.metrics, self.momentum, self.vwap.value()
        prof = self.profiles.current
        va = prof.value_area() if prof is not None else None
        return {
            "ts_event": self.last_ts,
            "spread": m.spread,
            "mid": m.mid,
            "microprice": m.microprice,
            "imbalance": m.imbalance,
            "size_ratio": m.size_ratio,
            "ofi": m.ofi,
            "ofi_sum": m.ofi_sum,
            "depth_within": m.depth_within,
            "walls": [w._asdict() for w in m.walls()],
            "momentum": mom.score,
            "cumulative_delta": self.delta.value,
            "vwap": vw.vwap,
            "vwap_std": vw.std,
            "vwap_upper": vw.upper,
            "vwap_lower": vw.lower,
            "poc": prof.poc if prof is not None else None,
            "value_area": va._asdict() if va is not None else None,
            "long_score": self.accumulator.score(1, self.last_ts),
            "short_score": self.accumulator.score(-1, self.last_ts),
        }
