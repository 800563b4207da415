"""What the dashboard's viewers see of each instrument, recorded cheaply as batches apply.

The Hub calls :meth:`Views.took` with a batch's classified prints and :meth:`Views.applied`
after each applied batch (or coalesced run). On the trading path they only queue what the
batch leaves behind: references to its prints and depth events (arrays the Hub made for this
batch and never writes again) and to its pipeline, whose book rows, book metrics and session
VWAP are read as they are after it when the entry is folded, or when the Hub is about to move
the pipeline (:meth:`Views.moving`), whichever comes first (O(1) on the ack's path, O(rows)
then, no Python per event); a version counter moves. The queue
is folded in later, off the ack's path, oldest first: the prints into a ring of arrays (a
slice copy), the depth events into exact heatmap columns per bucket of data time (one jitted
pass, O(events + rows); :mod:`orderflow.analytics.heatmap`), the metrics into their history.
Folding each batch in turn, with the state it left, gives the very columns and history that
folding it at once did. Who folds: the event loop, in slices of about :data:`FOLD_SLICE_NS`
right after the batch's ack has been written (:meth:`Views.after_ack`; :data:`FOLD_WAIT_S`
after the batch when none is), the loop polling its sockets between slices; every reader first
(:meth:`Views.read`: the viewer stream, the backfill routes); without a running loop (a
recovery, a warm-up) the queue folds when it reaches :data:`MAX_PENDING` entries (two a
batch), and a full queue always folds at once, so nothing is ever dropped. A folding slice
also ends the wait of :meth:`Views.moved` (the viewer stream's, while it has nothing to do).
The viewer stream (:mod:`.view_stream`) reads book, metrics, bars and signals itself, at most
30 times a second.
Everything is bounded (``server.view``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from orderflow.analytics.heatmap import HeatColumns
from orderflow.core.errors import ParameterError
from orderflow.core.units import PRICE_SCALE
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.server._view_kernels import heat_pass, prints_pass, put_prints
from orderflow.server.answers import signal_dict

if TYPE_CHECKING:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import Instrument


class InstrumentState(Protocol):
    """What the views read of the Hub's instrument state (:class:`.hub.InstrumentState`)."""

    instrument: Instrument
    pipeline: Pipeline

    @property
    def stale(self) -> bool: ...


__all__ = ["PRINT_DTYPE", "InstrumentView", "ViewParams", "Views", "heat_packed", "heat_rows",
           "metrics_rows", "prices_of", "print_rows", "prints_packed"]  # fmt: skip

log = logging.getLogger("orderflow.server")

#: one print as the views keep it: event time, price (ticks), size, aggressor (+1 buy, -1 sell)
PRINT_DTYPE = np.dtype([("ts", "i8"), ("price", "i8"), ("size", "i8"), ("side", "i1")])
_NO_PRICE = int(NO_PRICE)
#: a batch without prints (never written: it has no rows)
_NO_PRINTS = np.zeros(0, dtype=TRADE_DTYPE)
#: the book rows the heatmap reads (a NinjaTrader ladder has far fewer)
HEAT_ROWS = 1000
#: book-metrics samples kept (one per heat bucket, the last of it): the snapshot's history
METRICS_HISTORY = 600
#: bars whose session VWAP is kept (a day of 1-minute bars is 1,440)
BAR_VWAPS = 20_000
#: entries (two a batch) an instrument's queue holds unfolded: the one that fills it folds
#: it all at once
MAX_PENDING = 256
#: the longest the loop folds before it polls its sockets again (ns; at least one batch of
#: each instrument a slice): one batch's fold is about 40 us cold (a gap in the data that fills
#: thousands of heat columns, 10 ms or more)
FOLD_SLICE_NS = 50_000
#: how soon the loop folds what a batch left when no ack is written meanwhile (seconds); an
#: ack written sooner (:meth:`Views.after_ack`) starts the slice at once
FOLD_WAIT_S = 0.001
#: the kinds of queued entries (LIVE: an APPLIED entry whose rows and sample are still the
#: pipeline's own, read when it is folded or frozen, whichever comes first)
PRINTS, UNSYNC, APPLIED, LIVE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class ViewParams:
    """The viewer stream's bounds (settings ``server.view``)."""

    heat_bucket_ms: float = 250.0
    heat_ticks: int = 200
    heat_history_s: float = 3600.0
    prints: int = 200_000
    signals: int = 10_000
    max_viewers: int = 16
    frame_hz: float = 30.0
    queue_frames: int = 8
    send_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not (
            1 <= self.heat_bucket_ms <= 60_000
            and 1 <= self.heat_ticks <= 5000
            and 1 <= self.heat_history_s <= 7 * 86_400
            and 1000 <= self.prints <= 100_000_000
            and 10 <= self.signals <= 10_000_000
            and 1 <= self.max_viewers <= 1024
            and 1 <= self.frame_hz <= 30
            and 1 <= self.queue_frames <= 1024
            and 0.1 <= self.send_timeout_s <= 60
        ):
            raise ParameterError(f"server.view: a bound is out of range: {self}", field="view")

    @property
    def heat_bucket_ns(self) -> int:
        return round(self.heat_bucket_ms * 1e6)

    @property
    def heat_columns(self) -> int:
        return max(1, round(self.heat_history_s * 1000 / self.heat_bucket_ms))

    @classmethod
    def from_settings(cls, s: Any) -> ViewParams:
        """From the settings' ``server.view`` section (any object with these attributes)."""
        return cls(**{k: getattr(s, k) for k in cls.__dataclass_fields__})


def take_sample(pipe: Pipeline) -> tuple[Any, ...]:
    """What the history keeps of the state an applied batch left: its time, the book
    metrics, the momentum score, the forming bar's start and the session VWAP (None without
    a forming bar; its tracker and state, made a value once per bar: ``bar_vwaps``). O(1)."""
    _, mid, microprice, imbalance, ofi, _ = pipe.metrics.headline()  # one read of the rows
    series = pipe.bars.series
    start = series[0].forming_open() if series else None
    vw = (pipe.vwap, pipe.vwap.state()) if start is not None else None
    return (pipe.last_ts, imbalance, microprice, mid, float(ofi),
            pipe.momentum.score, start, vw)  # fmt: skip


@dataclass(eq=False)
class InstrumentView:
    """One instrument's rings: prints, heat columns, signals (see the module)."""

    params: ViewParams
    heat: HeatColumns
    prints: np.ndarray
    #: prints taken so far (the ring holds the last ``len(prints)``)
    n_prints: int = 0
    #: raised by every applied batch: the stream sends a frame only when it moved
    version: int = 0
    events: int = 0
    signals: deque[dict[str, Any]] = field(default_factory=deque)
    signals_seen: int = 0
    last_price: int = _NO_PRICE
    #: the prints of the batch being applied (from :meth:`Views.took` to :meth:`Views.applied`)
    batch_prints: np.ndarray | None = None
    #: ``[bucket ts, imbalance, microprice, mid, ofi, momentum]`` (prices in ticks), the last
    #: sample of each heat bucket with a batch, the latest :data:`METRICS_HISTORY`
    metrics_history: deque[list[Any]] = field(default_factory=lambda: deque(maxlen=METRICS_HISTORY))
    #: each bar's (by start time) session VWAP and bands (ticks) made a value so far: read
    #: :attr:`bar_vwaps`
    vwaps: dict[int, tuple[float, tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )
    #: the latest sample's bar start, VWAP tracker and state, not made a value yet: a bar's
    #: value is made once, from the last state kept for it, when a sample of another bar
    #: comes or the values are read (the same values, in the same order, as made at each
    #: sample)
    vwap_later: tuple[int, Any, Any] | None = None
    #: what the Hub handed over and is not folded in yet, oldest first (see the module):
    #: ``(PRINTS, trades)``, ``(UNSYNC,)`` or ``[APPLIED, depth | None, rows, sample, ts]``
    #: (``[LIVE, depth | None, pipeline, None, ts]`` until folded or frozen)
    pending: deque[Sequence[Any]] = field(default_factory=deque)
    #: batches folded in so far, and times a full queue was folded at once
    folded: int = 0
    overflows: int = 0

    def keep_sample(self, sample: tuple[Any, ...]) -> None:
        """A :func:`take_sample` into the metrics history and the bars' VWAPs. O(1)."""
        ts, imbalance, microprice, mid, ofi, momentum, start, vw = sample
        b = ts - ts % self.params.heat_bucket_ns
        row: list[Any] = [b, imbalance, microprice, mid, ofi, momentum]
        h = self.metrics_history
        if h and h[-1][0] == b:
            h[-1] = row
        else:
            h.append(row)
        if start is None:
            return
        tracker, state = vw
        if tracker.volume_of(state):
            later = self.vwap_later
            if later is not None and later[0] != start:
                self._keep_vwap(*later)
            self.vwap_later = start, tracker, state

    @property
    def bar_vwaps(self) -> dict[int, tuple[float, tuple[float, ...], tuple[float, ...]]]:
        """Each bar's (by start time) session VWAP and bands (ticks) after the last batch
        that updated it: ``(vwap, upper, lower)``; at most :data:`BAR_VWAPS` bars, the
        oldest dropped first."""
        later = self.vwap_later
        if later is not None:
            self.vwap_later = None
            self._keep_vwap(*later)
        return self.vwaps

    def _keep_vwap(self, start: int, tracker: Any, state: Any) -> None:
        vw = tracker.value_of(state)
        vwaps = self.vwaps
        if start not in vwaps and len(vwaps) >= BAR_VWAPS:
            del vwaps[next(iter(vwaps))]
        vwaps[start] = (vw.vwap, vw.upper, vw.lower)

    @classmethod
    def new(cls, params: ViewParams) -> InstrumentView:
        heat = HeatColumns(params.heat_bucket_ns, params.heat_ticks, params.heat_columns)
        return cls(params, heat, np.zeros(0, dtype=PRINT_DTYPE),
                   signals=deque(maxlen=params.signals))  # fmt: skip

    def take_prints(self, trades: np.ndarray) -> None:
        """Append classified prints (TRADE_DTYPE). O(prints)."""
        n = len(trades)
        if not n:
            return
        cap = self.params.prints
        if len(self.prints) < cap and self.n_prints + n > len(self.prints):
            grown = np.zeros(min(cap, max(1024, 2 * (self.n_prints + n))), dtype=PRINT_DTYPE)
            grown[: len(self.prints)] = self.prints
            self.prints = grown
        if n > cap:
            self.n_prints += n - cap
            trades = trades[n - cap :]
            n = cap
        f = trades.flags
        if not (f.c_contiguous and f.aligned):  # (numba reads no unaligned array)
            trades = np.array(trades)
        # one compiled call: the rows from the ring's next on, round its end
        self.last_price = int(put_prints(self.prints, self.n_prints % len(self.prints), trades))
        self.n_prints += n

    def prints_since(self, k: int, limit: int) -> tuple[np.ndarray, int]:
        """Prints from number ``k`` on (at most ``limit``, the latest), and how many of those
        were not returned (dropped by the cap or already gone from the ring)."""
        kept = min(self.n_prints, len(self.prints))
        lo = max(k, self.n_prints - kept, self.n_prints - limit)
        dropped = max(0, lo - k)
        return self._range(lo, self.n_prints), dropped

    def _range(self, lo: int, hi: int) -> np.ndarray:
        """Prints number ``lo`` to ``hi`` (excluded; all in the ring) as a copy: one slice, or
        two where the ring wraps."""
        if hi <= lo:
            return self.prints[:0].copy()
        cap = len(self.prints)
        a, b = lo % cap, (hi - 1) % cap + 1
        if a < b:
            return self.prints[a:b].copy()
        return np.concatenate((self.prints[a:], self.prints[:b]))

    def prints_between(self, from_ts: int, to_ts: int, limit: int) -> np.ndarray:
        """Kept prints with ``from_ts <= ts <= to_ts``, oldest first; at most ``limit`` (the
        latest). O(log kept + limit)."""
        kept = min(self.n_prints, len(self.prints))
        rows = self._range(self.n_prints - kept, self.n_prints)
        ts = rows["ts"]
        a = int(np.searchsorted(ts, from_ts, side="left"))
        b = int(np.searchsorted(ts, to_ts, side="right"))
        return rows[max(a, b - limit) : b]

    def fold(self, budget_ns: int | None = None) -> bool:
        """Fold the queue in, oldest first; with ``budget_ns``, stop after the batch that
        spends it (at least one batch). True: nothing is left. O(events + rows) per batch."""
        q = self.pending
        t0 = time.perf_counter_ns() if budget_ns is not None else 0
        while q:
            entry = q.popleft()
            self._fold_one(entry)
            if (budget_ns is not None and entry[0] != PRINTS
                    and time.perf_counter_ns() - t0 >= budget_ns):  # fmt: skip
                break
        return not q

    def _fold_one(self, entry: Sequence[Any]) -> None:
        kind = entry[0]
        if kind == PRINTS:
            trades = entry[1]
            self.batch_prints = trades
            if len(trades):
                self.take_prints(trades)
            return
        prints, self.batch_prints = self.batch_prints, None
        self.folded += 1
        if kind == UNSYNC:
            self.heat.unsync()
            return
        if kind == LIVE and isinstance(entry, list):
            # the pipeline is as the batch left it: its rows read in place (used and dropped
            # in this fold, before anything moves the book), its sample taken now
            entry[0] = APPLIED  # (Views.moving leaves it alone now)
            _, depth, pipe, _, ts = entry
            rows, sample = pipe.book.top_views(HEAT_ROWS), take_sample(pipe)
        else:
            _, depth, rows, sample, ts = entry
        self.keep_sample(sample)
        if depth is not None:
            if prints is None:
                prints = _NO_PRINTS
            self.heat.apply_batch(depth, prints, rows)
        else:
            bp, bs, ap, as_ = rows
            self.heat.update(ts, bp, bs, ap, as_, self.last_price)
            self.heat.resync(rows)

    def sync_signals(self, st: InstrumentState) -> None:
        """Take the pipeline's new signals (each with its id: its number, from 1)."""
        sigs = st.pipeline.signals
        first = max(self.signals_seen, sigs.first_kept)  # the pipeline keeps the latest
        for i, s in enumerate(sigs.since(self.signals_seen), start=first):
            d = signal_dict(s, st.instrument)
            d["id"] = i + 1
            self.signals.append(d)
        self.signals_seen = len(sigs)


class Views:
    """Every instrument's :class:`InstrumentView`, fed by the Hub."""

    def __init__(self, params: ViewParams | None = None) -> None:
        self.params = params or ViewParams()
        self.of: dict[str, InstrumentView] = {}
        #: the market is orderflow's simulated one (``orderflow run`` without a recording)
        self.simulated_market = False
        #: the account trading is a simulated NinjaTrader (``orderflow run``'s)
        self.simulated_account = False
        #: the loop a folding slice is asked of (None: none asked)
        self._due: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        #: the future the next folding slice makes done (:meth:`moved`)
        self._moved: asyncio.Future[None] | None = None
        #: each instrument's latest APPLIED entry, LIVE until it is folded or frozen
        self._live: dict[str, list[Any]] = {}
        #: set while a WebSocket session applies batches whose answers it writes: their
        #: entries arm no timer, the session's :meth:`after_ack` asks for the folding (on
        #: ``_unasked``, the loop an entry was queued on meanwhile)
        self.acking = False
        self._unasked: asyncio.AbstractEventLoop | None = None

    def get(self, key: str) -> InstrumentView:
        """Instrument ``key``'s view as folded so far (:meth:`read`: with its queue folded)."""
        iv = self.of.get(key)
        if iv is None:
            iv = self.of[key] = InstrumentView.new(self.params)
        return iv

    def read(self, key: str) -> InstrumentView:
        """Instrument ``key``'s view with every batch applied so far folded in: what a
        reader (a frame, a snapshot, a backfill) reads."""
        iv = self.get(key)
        iv.fold()
        return iv

    def took(self, st: InstrumentState, trades: np.ndarray) -> None:
        """A batch's classified prints (TRADE_DTYPE), before its book moves on: queued. O(1)."""
        self._queue(self.get(st.pipeline.name), (PRINTS, trades))

    def applied(self, st: InstrumentState, events: int, depth: np.ndarray | None = None) -> None:
        """A batch (or a coalesced run of ``events`` depth events) was applied: the version
        moves, and its NinjaTrader depth events (``depth``; None for a snapshot: the book's
        rows go into the current column instead) are queued for folding with the pipeline,
        whose book rows and metrics sample are read then or at :meth:`moving` (see the
        module). O(1)."""
        pipe = st.pipeline
        iv = self.get(pipe.name)
        iv.version += 1
        iv.events += events
        if pipe.book is None or not pipe.groups or st.stale:
            self._queue(iv, (UNSYNC,))
            return
        dt = None if depth is None else depth.dtype
        if dt is not None and dt is not NT_DEPTH_DTYPE and dt != NT_DEPTH_DTYPE:
            depth = None
        # the rows and the sample are read from the pipeline when the entry is folded, after
        # the ack (the pipeline does not move before: the Hub calls moving() first)
        entry = self._live[pipe.name] = [LIVE, depth, pipe, None, pipe.last_ts]
        self._queue(iv, entry)

    def moving(self, key: str) -> None:
        """Instrument ``key``'s pipeline is about to move (the Hub, before it applies anything
        to it): its latest batch's entry, if not folded yet, takes the book's rows and the
        metrics sample now. O(rows) then, else O(1)."""
        entry = self._live.pop(key, None)
        if entry is not None and entry[0] == LIVE:
            freeze(entry)

    def _queue(self, iv: InstrumentView, entry: Sequence[Any]) -> None:
        """Queue an entry; a full queue folds at once (nothing dropped), else the loop is
        asked to fold soon (no loop: the queue waits for a reader or for being full)."""
        iv.pending.append(entry)
        if len(iv.pending) >= MAX_PENDING:
            iv.overflows += 1
            iv.fold()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._due is not loop:
            if self.acking:
                self._unasked = loop  # its answer's writer asks (after_ack): no timer
            else:
                self._ask(loop)

    def _ask(self, loop: asyncio.AbstractEventLoop) -> None:
        # not at once: the batch's ack has not been written yet (the session may await
        # between the Hub's call and its push, and a timer due now would run first); the
        # ack's writer calls after_ack, else the timer folds a moment later
        self._due = loop
        self._timer = loop.call_later(FOLD_WAIT_S, self._fold_due, loop)

    def after_ack(self) -> None:
        """A bridge's ack has just been written: fold now, while its client reads it (the
        quietest moment the loop gets), instead of when the timer is due."""
        loop, timer = self._due, self._timer
        if loop is None or timer is None:
            loop, self._unasked = self._unasked, None
            if loop is not None and self._due is None:
                self._due, self._timer = loop, loop.call_soon(self._fold_due, loop)
            return
        timer.cancel()
        self._timer = loop.call_soon(self._fold_due, loop)

    def moved(self) -> asyncio.Future[None]:
        """A future done once the next folding slice has run: every batch handed over asks
        for one (after its ack), so this is what a reader with nothing to do waits on (the
        viewer stream while no viewer's frame is due) instead of a timer of its own."""
        loop = asyncio.get_running_loop()
        fut = self._moved
        if fut is None or fut.done() or fut.get_loop() is not loop:  # one, however many waits
            fut = self._moved = loop.create_future()
        return fut

    def _fold_due(self, loop: asyncio.AbstractEventLoop) -> None:
        """One slice of folding: at least one batch of every instrument with some queued (none
        waits on another's), more while FOLD_SLICE_NS lasts; then the next slice asked for."""
        self._due = self._timer = None
        t0 = time.perf_counter_ns()
        try:
            for iv in list(self.of.values()):
                if iv.pending:
                    iv.fold(max(0, FOLD_SLICE_NS - (time.perf_counter_ns() - t0)))
        except Exception:  # a view must never take the server down; readers fold the rest
            log.exception("folding a view failed")
        fut, self._moved = self._moved, None
        if fut is not None and not fut.done():
            fut.set_result(None)
        if self._due is None and any(iv.pending for iv in self.of.values()):
            self._ask(loop)

    def reset(self, key: str) -> None:
        """Forget an instrument's history (its market state is being rebuilt)."""
        self.of.pop(key, None)
        self._live.pop(key, None)


def freeze(entry: list[Any]) -> None:
    """A LIVE entry made APPLIED: the book's rows (a copy) and the metrics sample read from
    its pipeline, which is as the batch left it."""
    pipe = entry[2]
    entry[2], entry[3], entry[0] = pipe.book.top_rows(HEAT_ROWS), take_sample(pipe), APPLIED


def metrics_rows(history: Iterable[list[Any]], tick: float) -> list[list[float | None]]:
    """The snapshot's ``metrics_history`` (of :attr:`InstrumentView.metrics_history`):
    ``[ts, imbalance, microprice, mid, ofi, momentum]`` (prices in exchange units, null when
    undefined), oldest first."""

    def f(x: float, scale: float = 1.0) -> float | None:
        return None if x != x else x * scale

    return [[int(t), f(imb), f(mp, tick), f(mid, tick), f(ofi), f(mom)]
            for t, imb, mp, mid, ofi, mom in history]  # fmt: skip


#: the largest fixed-point price (ticks x tick_fixed) a float64 holds exactly: below it the
#: whole array's prices are the very floats :meth:`Instrument.to_price` makes one at a time
_EXACT = 2**53
#: up to this many prices are converted one at a time (fewer calls than the array's way)
_FEW = 16


def prices_of(ticks: np.ndarray, to_price: Any) -> list[Any]:
    """``to_price`` of every tick in ``ticks`` (int64): the same floats, on the whole array at
    once when ``to_price`` is an instrument's and every fixed-point price is exact in a
    float64 (one rounding, the division, as in :meth:`Instrument.to_price`); else, and for a
    few (a bar's cells: the array's own calls cost more there), one at a time."""
    if len(ticks) <= _FEW:
        return [to_price(p) for p in ticks.tolist()]
    inst = getattr(to_price, "__self__", None)
    fixed = getattr(inst, "tick_fixed", None)
    if isinstance(fixed, int):
        big = max(int(ticks.max()), -int(ticks.min()))  # Python ints: no overflow
        if big * fixed < _EXACT:
            out: list[Any] = (ticks.astype(np.int64) * fixed / PRICE_SCALE).tolist()
            return out
    return [to_price(p) for p in ticks.tolist()]


def print_rows(prints: np.ndarray, to_price: Any) -> list[list[Any]]:
    """PRINT rows of the wire: ``[ts, price, size, side]`` (the prices converted on the whole
    array at once: one call per print was most of a frame's rows)."""
    return [
        [t, p, q, s]
        for t, p, q, s in zip(
            prints["ts"].tolist(), prices_of(prints["price"], to_price),
            prints["size"].tolist(), prints["side"].tolist(), strict=True,
        )
    ]  # fmt: skip


def heat_rows(
    block: tuple[np.ndarray, np.ndarray, np.ndarray], inst: Instrument
) -> list[dict[str, Any]]:
    """HEATCOLs of a block of columns (:meth:`HeatColumns.block`): each column's sizes without
    the empty prices at either end (``p0``: the first price with a size; a ladder of a few rows
    makes a few dozen sizes, not 401), bid/ask/last in exchange units (None: none), the
    trimming and the prices done on the whole block at once (a frame of a fast feed carries a
    hundred columns; one at a time they were most of its cost)."""
    ts, meta, sizes = block
    if not len(ts):
        return []
    nz = sizes != 0
    has = nz.any(axis=1)
    first = np.where(has, nz.argmax(axis=1), 0)
    end = np.where(has, sizes.shape[1] - nz[:, ::-1].argmax(axis=1), 0)
    scale, tick = inst.tick_fixed, float(inst.tick_size)

    def prices(t: np.ndarray) -> list[float | None]:
        p = (t.astype(np.int64) * scale / PRICE_SCALE).tolist()
        return [None if x == _NO_PRICE else v for x, v in zip(t.tolist(), p, strict=True)]

    p0 = ((meta[:, 0] + first) * scale / PRICE_SCALE).tolist()
    bid, ask, last = prices(meta[:, 1]), prices(meta[:, 2]), prices(meta[:, 3])
    firsts, ends = first.tolist(), end.tolist()
    return [
        {"ts": t, "p0": p0[i], "step": tick, "sizes": sizes[i, firsts[i] : ends[i]].tolist(),
         "bid": bid[i], "ask": ask[i], "last": last[i]}
        for i, t in enumerate(ts.tolist())
    ]  # fmt: skip


def heat_packed(block: tuple[np.ndarray, np.ndarray, np.ndarray], inst: Instrument) -> bytes:
    """The MessagePack items (no array header) of :func:`heat_rows` of the same block, the
    very bytes msgspec makes of those rows, written in one compiled pass: no Python object per
    column or size (the binary form's heat; :mod:`._view_kernels`)."""
    ts, meta, sizes = block
    return heat_pass(ts, meta, sizes, inst.tick_fixed, PRICE_SCALE, float(inst.tick_size),
                     _NO_PRICE)  # fmt: skip


def prints_packed(prints: np.ndarray, to_price: Any) -> bytes | None:
    """The MessagePack items (no array header) of :func:`print_rows` of the same prints, as
    :func:`heat_packed`; None when :func:`prices_of` would convert them one at a time (not an
    instrument's ``to_price``, or a price not exact in a float64): then only the rows say it."""
    fixed = getattr(getattr(to_price, "__self__", None), "tick_fixed", None)
    ticks = prints["price"]
    if not isinstance(fixed, int):
        return None
    if len(ticks) and max(int(ticks.max()), -int(ticks.min())) * fixed >= _EXACT:
        return None
    return prints_pass(prints, fixed, PRICE_SCALE)
