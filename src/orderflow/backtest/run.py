"""The backtest driver: recorded data through the pipeline, the strategy's host and the venue.

:func:`run_backtest` replays one or many data files (each its own instrument and stream kind,
read as a stream of chunks, :func:`orderflow.io.stream.open_chunks`) through the same code as
live: the :class:`~orderflow.engine.pipeline.Pipeline` (book, analytics, signals), the
:class:`~orderflow.trading.node.TradingNode` the server runs per account (a
:class:`~orderflow.trading.host.StrategyHost` with the reference strategy, the risk manager,
sizing, sessions and the broker profile of the trading engine), and the
:class:`~orderflow.backtest.venue.SimVenue` in place of NinjaTrader, reading the pipeline's
book. The clock is the data's ``ts_event``. The loop, per chunk of a book stream
(``docs/backtest.md``, "The driver")::

    venue.advance(t)               commands that reach the venue before the next records
    deliver reports due by t       node.order_update / node.fill (their commands sent)
    cut = venue.next_cut(records)  never past a command's arrival or a firing print's event
    pipeline.process(records[:cut]); venue.on_market(records[:cut])
    at a decision point            node.market(pipeline) -> commands -> venue.send

Reports reach the node as soon as the data's clock passes their delivery time, whatever the
decision rhythm; ``decide_every`` only says how often the strategy is asked (each event group,
each N records or each chunk). For a strategy that reads only what is known as of a point
(:mod:`orderflow.backtest.ahead`) a chunk goes to the pipeline in one call before its pieces,
the decisions read it as of their point and the venue its own book. Bars-only files go through
:mod:`orderflow.backtest.bars`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.backtest.ahead import AheadView, LaggingBook, reads_ahead
from orderflow.backtest.model import Delivery
from orderflow.backtest.options import BacktestOptions, FileRun, OrderLog
from orderflow.backtest.report import BacktestResult, build_result
from orderflow.backtest.scans import every_n, scan_mbo
from orderflow.backtest.venue import SimVenue
from orderflow.book.l3 import OrderBook
from orderflow.core.errors import ArgumentError
from orderflow.engine.pipeline import BOOK_KINDS, Pipeline, PipelineParams
from orderflow.io.stream import Chunk, Opened, estimate_records, open_chunks
from orderflow.model.dtypes import MBO_DTYPE
from orderflow.model.enums import Action, Flags
from orderflow.model.instruments import REGISTRY, Instrument, find_instrument
from orderflow.signals.signal_log import SIGNALS_KEPT
from orderflow.trading.broker import ProductCosts
from orderflow.trading.host import StrategyHost
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import Fill, OrderCommand
from orderflow.trading.params import TradingParams
from orderflow.trading.sessions import calendar
from orderflow.trading.strategy import SignalStrategy

__all__ = ["BacktestOptions", "BacktestResult", "run_backtest", "run_sources"]

_LAST = int(Flags.LAST)
_SNAPSHOT = int(Flags.SNAPSHOT)
_TRADE = int(Action.TRADE)
_HOUR = 3_600_000_000_000
#: records a clear range is looked for ahead of a piece at least (SimVenue.clear)
AHEAD = 1_024
#: the venue's own book (run ahead) takes a copy of the pipeline's when it has this many
#: records or more to apply as the pipeline's book leaves it behind (a chunk's run-ahead
#: starts): the copy costs about what the book's kernel takes for a few thousand records
ADOPT = 4_096
ProgressFn = Callable[[int, int], None]


class _Driver:
    """One file of book data through pipeline, venue and node (see the module docstring)."""

    def __init__(self, node: TradingNode, host: StrategyHost, pipe: Pipeline, venue: SimVenue,
                 opts: BacktestOptions, log: OrderLog,
                 ahead: tuple[AheadView, LaggingBook] | None = None) -> None:  # fmt: skip
        self.node, self.host, self.pipe, self.venue = node, host, pipe, venue
        # the pipeline run ahead of the decisions (backtest.ahead): the decisions read the
        # view as of the driver's position, the venue its own book brought up to it
        self.view: AheadView | None = None if ahead is None else ahead[0]
        self.lag: LaggingBook | None = None if ahead is None else ahead[1]
        self._ahead = False  # (this chunk was fed to the pipeline in one call)
        self.opts, self.log = opts, log
        self.held: deque[Delivery] = deque()
        self.md = venue.md_latency if opts.md_latency_ns else None
        self.decisions = 0
        self._since = 0  # records since the last decision (decide_every N)
        self.hours: set[int] = set()  # hours with prints: the trading days the data covers
        self._seen = 0  # accumulated signals the strategy has been shown
        self.asked = 0  # decision points where the strategy was asked (not idle)
        # While the venue is quiet (SimVenue.quiet: nothing of ours there), the pieces are
        # not shown to it one by one: it is shown them joined, recs[_late_from:_late_to] of
        # the chunk's records, before a command is sent to it and at the chunk's end.
        self._quiet = False  # (only ever True while venue.quiet is: a command ends it)
        self._late: np.ndarray | None = None
        self._late_from = self._late_to = 0
        # While orders of ours work and nothing else is due at the venue, the chunk's records
        # before _clear_to touch none of them (SimVenue.clear): their pieces join the same
        # range, shown before the first piece that is not clear (a piece that is not clear
        # ends past _clear_to, so the next looks again). A command ends it (0 again); the
        # venue's orders move by nothing else while its records are clear.
        self._clear_to = 0
        # the host flat or not, as it was after the first _flat_at fills (the only way a
        # position moves in a backtest is a fill the driver hands the node: settle)
        self._flat, self._flat_at = True, -1

    # ---- reports and commands --------------------------------------------------------------
    def _hold(self, out: list[Delivery]) -> None:
        self.held.extend(out)

    def send(self, cmds: Sequence[OrderCommand]) -> None:
        if not cmds:
            return
        if self._late is not None:  # the venue sees the market up to now before the command
            self._show_late()
        self._quiet = False
        self._clear_to = 0
        for c in cmds:
            self.log.commands.append(c)
            self._hold(self.venue.send(c))

    def settle(self, t: int) -> None:
        """Commands due at the venue by ``t`` act; reports seen by ``t`` reach the node (and
        the commands they cause are sent), until nothing more is due."""
        node, key, venue = self.node, self.host.key, self.venue
        while True:
            if venue.due(t):
                self._hold(venue.advance(t))
            if not self.held or self.held[0].at_ns > t:
                return
            while self.held and self.held[0].at_ns <= t:
                d = self.held.popleft()
                r = d.report
                if isinstance(r, Fill):
                    self.log.fills.append(r)
                    self.send(node.fill(d.at_ns, r, key))
                else:
                    self.send(node.order_update(d.at_ns, r, key))

    def decide(self) -> bool:
        """One decision point; True when it was idle (the strategy not asked: ``_idle``)."""
        pipe, host, start = self.view or self.pipe, self.host, self.opts.start_ns
        now = pipe.last_ts
        if not pipe.groups or (start is not None and now < start):
            return False
        self._count(now)
        seen = pipe.accumulated.count  # (its len)
        if self.opts.skip_idle and self._idle(seen):
            return True
        self._seen = seen
        self.asked += 1
        # (the view answers a decision's reads of the market, trading.market_source, as of
        # this point: backtest.ahead)
        cmds = self.node.market(host.instrument, pipe, now)
        if not cmds:
            return False
        if self.md is not None:  # the strategy saw the data md latency late
            late = now + self.md.next()
            cmds = [dataclasses.replace(c, t=max(c.t, late)) for c in cmds]
        self.send(cmds)
        return False

    def _count(self, now: int) -> None:
        """A decision point at ``now`` counted, asked or not; the trading day rolls on the
        data's clock before the strategy looks (the server does it on its timer): a day's loss
        limit must not block the next day's entries."""
        self.decisions += 1
        self.host.risk.roll_day(now, self.host.key)

    def _pass_idle(self, recs: np.ndarray, stops: list[int], k: int) -> int:
        """After an idle decision point ``stops[k]`` of a chunk run ahead, the venue quiet and
        no report held: the decision points that follow are idle too until the first whose
        records bring an accumulated signal (the view knows their times), since nothing else
        moves (no command goes out, no report comes, the position stays flat). Each of them
        is counted and rolls the trading day as :meth:`decide` would; the view, the venue's
        book and its joined pieces are moved to the last of them at once. Returns its index
        (``k`` when there is none)."""
        view, lag = self.view, self.lag
        if view is None or lag is None or self._late is None or self.venue.holding:
            return k
        nxt = view.next_signal_ts(self._seen)
        ts = recs["ts_event"]
        start = self.opts.start_ns
        j, n = k, len(stops) - 1
        while j < n:
            stop = stops[j + 1]
            if stop < 0:  # the rest of the chunk: no decision point
                break
            now = int(ts[stop - 1])
            if (nxt is not None and now >= nxt) or (start is not None and now < start):
                break
            self._count(now)
            j += 1
        if j > k:
            pos = stops[j]
            view.at(pos)
            lag.upto(recs, pos)
            self._late_to = pos
        return j

    def _show_late(self) -> None:
        """The pieces the venue has not been shown (quiet, or clear of our orders), in one
        call (see ``__init__``)."""
        late, self._late = self._late, None
        if late is not None:  # (records that touch nothing of ours: no report)
            self.venue.on_clear(late[self._late_from : self._late_to])

    def _idle(self, signals: int) -> bool:
        """Flat, no live entry of ours, no accumulated signal since the last decision (the
        pipeline has accumulated ``signals``)."""
        h = self.host
        if signals != self._seen or h.desk.brackets.live:
            return False
        fills = len(self.log.fills)
        if fills != self._flat_at:  # (a fill since the last look: the position again)
            self._flat, self._flat_at = not h.position, fills
        return self._flat

    # ---- market data -----------------------------------------------------------------------
    def run(self, chunks: Iterator[Chunk], progress: Callable[[int], None]) -> None:
        carry: np.ndarray | None = None
        carry_t: np.ndarray | None = None
        end_ns = self.opts.end_ns if self.opts.end_ns is not None else 2**63 - 1
        for chunk in chunks:
            recs, trades = chunk.records, chunk.trades
            over = bool(len(recs)) and int(recs["ts_event"][-1]) > end_ns
            if over:
                recs = recs[: int(np.searchsorted(recs["ts_event"], end_ns, side="right"))]
                if trades is not None:
                    trades = trades[: int(np.searchsorted(trades["ts_event"], end_ns, "right"))]
            if carry is not None and len(carry):
                recs = _join(carry, recs)
            if trades is not None and carry_t is not None and len(carry_t):
                trades = _join(carry_t, trades)
            if trades is None and recs.dtype == MBO_DTYPE:  # (one compiled pass)
                lasts, hours, back = scan_mbo(recs, _HOUR)
            else:
                lasts, hours, back = np.flatnonzero(recs["flags"] & _LAST), None, -1
            whole = int(lasts[-1]) + 1 if len(lasts) else 0
            carry = recs[whole:].copy()
            t_cut = 0
            if trades is not None and whole:
                t_end = int(recs["ts_event"][whole - 1])
                t_cut = int(np.searchsorted(trades["ts_event"], t_end, side="right"))
                carry_t = trades[t_cut:].copy()
            elif trades is not None:
                carry_t = trades
            if hours is None:
                prints = (
                    recs["ts_event"][recs["action"] == _TRADE]
                    if trades is None
                    else (trades["ts_event"])
                )
                hours = np.unique(prints // _HOUR)
            self.hours.update(hours.tolist())
            if whole:
                # (the times up to the last whole event never go back: back >= whole)
                self._events(recs[:whole], None if trades is None else trades[:t_cut], lasts,
                             back >= whole)  # fmt: skip
            progress(len(chunk.records))
            if over:
                break
        if carry is not None and len(carry):  # an unfinished last event: the pipeline's too
            self.pipe.process(carry)
            if self.view is not None and self.lag is not None:
                self.view.live()
                self.lag.upto(carry, len(carry))

    def _events(self, recs: np.ndarray, trades: np.ndarray | None, lasts: np.ndarray,
                ordered: bool) -> None:  # fmt: skip
        """Whole events: cut at decision points, commands' arrivals, firing prints and report
        deliveries; each piece through the pipeline's book and the venue (``ordered``: the
        records' times never go back)."""
        ts = recs["ts_event"]
        n = len(recs)
        every = self.opts.decide_every
        if every == "chunk":
            stops = [n]
        elif every == "group":
            stops = (lasts + 1).tolist()
        else:  # the event end at or after every N records since the last decision
            stops, self._since = _every_n(lasts + 1, int(every), self._since)
            if not stops or stops[-1] != n:
                stops.append(-n)  # the rest of the chunk, no decision at its end
        pos, t_at = 0, 0
        held, venue, view, lag = self.held, self.venue, self.view, self.lag
        self._ahead = False
        ahead_at = _ahead_from(recs, trades, ordered, stops) if view is not None else None
        # a quiet venue's pieces are shown to it joined (a shared L3 book's): their last
        # record's time is the venue's clock after them only while the times do not go back
        lazy = ordered and venue.l3 and venue.shared
        point, n_stops = 0, len(stops)  # (stops[point]: where the pieces go to)
        while point < n_stops:
            mark = stops[point]
            stop = abs(mark)
            while pos < stop:
                if ahead_at is not None and pos >= ahead_at and not self._ahead:
                    assert view is not None and lag is not None
                    if lag.pending >= ADOPT:  # the pipeline's book holds them all: a copy
                        lag.adopt(self.pipe.book)
                    view.ahead(recs, pos)  # (the rest of the chunk in one call)
                    self._ahead = True
                if not self._quiet and lazy:
                    self._quiet = venue.quiet
                quiet = self._quiet
                # (settle has nothing to do without a report held or the venue holding one
                # or a command: most pieces; a quiet venue holds nothing)
                if held or (not quiet and venue.holding):
                    t = int(ts[pos]) - 1
                    if held or venue.due(t):
                        self.settle(t)
                        quiet = self._quiet  # (a report's command ends it)
                lagging = quiet  # (the venue shown the piece later, joined)
                if not quiet and lazy and not held:  # orders of ours work: is the piece clear?
                    if stop > self._clear_to:
                        ahead = recs[pos : max(stop, pos + AHEAD)]
                        self._clear_to = pos + venue.clear(ahead)
                    lagging = stop <= self._clear_to
                if not lagging and self._late is not None:
                    self._show_late()  # (the venue sees the records before this piece first)
                piece = recs[pos:stop]
                tp = None
                if trades is not None:
                    t_end = int(trades["ts_event"].searchsorted(int(ts[stop - 1]), "right"))
                    tp = trades[t_at:t_end]
                # (a quiet venue or a clear piece: nothing due, nothing to trigger, the whole
                # piece)
                cut = stop - pos if lagging else venue.next_cut(piece, tp)
                if self.held:
                    due = int(piece["ts_event"].searchsorted(self.held[0].at_ns, "right"))
                    cut = min(cut, due)
                if cut < stop - pos:  # whole events, at least one
                    e = int(lasts.searchsorted(pos + max(cut, 1) - 1))
                    cut = int(lasts[e]) + 1 - pos
                part = piece if cut == stop - pos else piece[:cut]  # (most pieces: whole)
                tpart = None
                if tp is not None:
                    k = int(tp["ts_event"].searchsorted(int(part["ts_event"][-1]), "right"))
                    tpart, t_at = tp[:k], t_at + k
                if self._ahead:
                    assert view is not None
                    view.at(pos + cut)
                else:
                    self.pipe.process(part, tpart)
                    if view is not None:
                        view.live()
                if lag is not None:
                    lag.upto(recs, pos + cut)
                if lagging:  # shown later, joined (see __init__)
                    if self._late is None:
                        self._late, self._late_from = recs, pos
                    self._late_to = pos + cut
                else:
                    out = venue.on_market(part, tpart)
                    if out:
                        held.extend(out)
                pos += cut
                if held or (not lagging and venue.holding):
                    t = int(ts[pos - 1])
                    if held or venue.due(t):
                        self.settle(t)
            if mark > 0 and self.decide() and self._ahead and self._quiet and not held:
                point = self._pass_idle(recs, stops, point)
                pos = abs(stops[point])
            point += 1
        self._show_late()
        self._quiet = False
        self._clear_to = 0

    def finish(self) -> None:
        """After the file's last record: flatten (optionally) on the last book, let every
        command and report play out."""
        end = max(self.pipe.last_ts, self.venue.now)
        if self.opts.flatten_at_end:
            self.send(self.node.close_entries(end, "end_of_data"))
        for _ in range(100):  # each round answers the previous round's commands
            far = end + 3_600_000_000_000
            self.settle(far)
            if not self.held and not self.venue.holding:
                break
            end = far


def _ahead_from(recs: np.ndarray, trades: np.ndarray | None, ordered: bool,
                stops: list[int]) -> int | None:  # fmt: skip
    """Where the rest of a chunk's whole events may go to the pipeline in one call, read as
    of each decision point (``backtest.ahead``), or None: MBO records alone whose times never
    go back, after the event of the last snapshot record (its records fed piece by piece), and
    no decision point whose last record's time is the next record's (the signals and bars are
    told apart by time)."""
    n = len(recs)
    if trades is not None or not ordered or recs.dtype != MBO_DTYPE or not n:
        return None
    start = 0
    snap = np.flatnonzero(recs["flags"] & _SNAPSHOT)
    if len(snap):
        ends = np.flatnonzero(recs["flags"][snap[-1] :] & _LAST)
        if not len(ends):
            return None
        start = int(snap[-1] + ends[0]) + 1
    at = np.array([s for s in stops if start < s < n], dtype=np.int64)
    ts = recs["ts_event"]
    if len(at) and bool((ts[at - 1] == ts[at]).any()):
        return None
    return start if start < n else None


def _join(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """``np.concatenate([head, tail])``: records of one dtype, each C-contiguous, joined as
    their bytes (numpy copies records with a sub-array field, as the record dtypes' padding
    is, field by field and element by element: about 45 ns a record, 1.5 as bytes). Other
    arrays go to numpy."""
    if head.dtype != tail.dtype or not (head.flags.c_contiguous and tail.flags.c_contiguous):
        return np.concatenate([head, tail])
    out = np.empty(len(head) + len(tail), dtype=head.dtype)
    raw, k = out.view(np.uint8), head.nbytes
    raw[:k] = head.view(np.uint8)
    raw[k:] = tail.view(np.uint8)
    return out


def _every_n(ends: np.ndarray, n: int, since: int) -> tuple[list[int], int]:
    """The event ends (exclusive indices) at which ``n`` or more records have gone by since
    the last decision, ``since`` records before this chunk; and the count left over after the
    last of them, so the decision points do not depend on where chunks are cut
    (:func:`~orderflow.backtest.scans.every_n`, one jitted pass)."""
    stops, left = every_n(ends.astype(np.int64, copy=False), int(n), int(since))
    return stops.tolist(), int(left)


def _host(inst: Instrument, trading: TradingParams, opts: BacktestOptions,
          warnings: list[str], sessions: bool = True) -> StrategyHost:  # fmt: skip
    if find_instrument(inst.symbol) is None:
        # a product the registry lacks (6E from a CME bar file): the trading layer looks
        # instruments up by name, so it joins the registry for this process
        REGISTRY[inst.symbol] = dataclasses.replace(inst, contract=None)
        warnings.append(f"{inst.symbol} is not in the instrument registry: added for this run")
    broker = trading.broker.build()
    if inst.symbol not in broker.costs:
        zero = ProductCosts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        broker = dataclasses.replace(broker, costs={**broker.costs, inst.symbol: zero})
        warnings.append(f"broker profile {broker.name!r} has no costs for {inst.symbol}: none "
                        f"charged (set trading.broker.overrides.{inst.symbol})")  # fmt: skip
    cal = calendar(inst, trading.sessions) if sessions else None
    return StrategyHost(inst, SignalStrategy(trading.strategy), trading, sessions=cal,
                        broker=broker, account=opts.account)  # fmt: skip


def _nt_view(path: str, inst: Instrument, kind: str, chunks: Iterator[Chunk],
             node: TradingNode, pipeline: PipelineParams | None, opts: BacktestOptions,
             log: OrderLog, fr: FileRun, tick: Callable[[int], None]) -> None:  # fmt: skip
    """One MBO file as the live server sees it (``backtest.nt_view``), into ``fr`` and ``log``."""
    from orderflow.backtest.nt_view import run_nt_view
    from orderflow.io.formats import LoadedStream

    if kind != "mbo":
        raise ArgumentError(f"{Path(path).name}: the NinjaTrader view replays MBO data, not {kind}")
    parts = [c.records for c in chunks]
    array: np.ndarray[Any, Any] = np.concatenate(parts) if parts else np.zeros(0)
    venue_kw = {"order_latency": opts.order_latency_ns, "md_latency": opts.md_latency_ns,
                "queue_power": opts.queue_power, "account": opts.account, "seed": opts.seed,
                "prints": opts.prints}  # fmt: skip
    got = run_nt_view(LoadedStream("mbo", array, inst, "mbo"), node, pipeline,
                      venue_kw=venue_kw, flatten_at_end=opts.flatten_at_end)  # fmt: skip
    tick(len(array))
    log.commands += got.commands
    log.fills += got.fills
    pipe = got.pipeline
    fr.events, fr.groups = len(array), pipe.groups
    fr.first_ts, fr.last_ts = pipe.first_ts, pipe.last_ts
    fr.decisions = fr.asked = got.batches
    prints = array["ts_event"][array["action"] == _TRADE]
    fr.hours = np.unique(prints // _HOUR).astype(np.int64)
    fr.signal_counts = Counter(pipe.signal_counts)
    fr.accumulated = len(pipe.accumulated)
    fr.accumulated_long = pipe.accumulated.long
    fr.accumulated_short = fr.accumulated - fr.accumulated_long
    fr.venue_counters = Counter(got.venue.counters)


def run_backtest(
    data: Sequence[str | Path],
    pipeline: PipelineParams | None = None,
    trading: TradingParams | None = None,
    options: BacktestOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Replay ``data`` (files in the order given; sort them by time) with the strategy, risk
    and broker of ``trading`` (default: the reference strategy and default settings) against
    the simulated venue; ``progress(records_done, records_total)`` after each chunk (the
    total is the files' sizes in records where known, else grows as it goes)."""
    if not data:
        raise ArgumentError("no data files")
    opts = options or BacktestOptions()
    estimate = sum(estimate_records(p) for p in data)
    sources = (
        (str(p), open_chunks(p, opts.chunk_records, opts.instrument, tz=opts.tz)) for p in data
    )
    return run_sources(sources, pipeline, trading, opts, progress, estimate)


def run_sources(
    sources: Iterable[tuple[str, Opened]],
    pipeline: PipelineParams | None = None,
    trading: TradingParams | None = None,
    options: BacktestOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    estimate: int = 0,
) -> BacktestResult:
    """:func:`run_backtest` over streams already opened: ``(label, open_chunks(...))`` pairs,
    or any :class:`~orderflow.io.stream.Opened` (an array in memory in chunks, a store's
    partitions). Each source is opened when its turn comes."""
    trading = trading or TradingParams()
    opts = options or BacktestOptions()
    log = OrderLog()
    warnings: list[str] = []
    hosts: dict[str, StrategyHost] = {}
    nodes: dict[str, TradingNode] = {}  # one per instrument, as the hosts (an account each)
    runs: list[FileRun] = []
    done = [0]
    t0 = time.perf_counter()

    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], max(done[0], estimate))

    for path, (inst, kind, chunks) in sources:
        key = inst.contract or inst.symbol
        step_ns = None
        if kind == "trades":  # prints only: the bars backtest on bars built from the ticks
            from orderflow.backtest.tick_bars import tick_bar_chunks

            chunks, n_bars, n_prints = tick_bar_chunks(chunks, opts.tick_bar_s)
            kind, step_ns = "bars", opts.tick_bar_s * 1_000_000_000
            warnings.append(f"{Path(path).name}: ticks only (no book): backtested on "
                            f"{n_bars:,} bars of {opts.tick_bar_s} s built from {n_prints:,} "
                            "prints")  # fmt: skip
        fr = FileRun(str(path), inst, kind)
        if kind == "bars":
            from orderflow.backtest.bars import run_bars

            host = hosts.get(key) or _host(inst, trading, opts, warnings, sessions=False)
            hosts[key] = host
            node = nodes.get(key) or TradingNode.for_host(host)
            nodes[key] = node
            run_bars(node, host, chunks, opts, log, fr, tick, step_ns)
            runs.append(fr)
            continue
        if kind not in BOOK_KINDS:
            raise ArgumentError(
                f"{Path(path).name}: a backtest needs book data (MBO, MBP-10, NinjaTrader depth) "
                f"or bars, not {kind}"
            )
        host = hosts.get(key) or _host(inst, trading, opts, warnings)
        hosts[key] = host
        node = nodes.get(key) or TradingNode.for_host(host)
        nodes[key] = node
        if opts.view == "ninjatrader":
            _nt_view(str(path), inst, kind, chunks, node, pipeline, opts, log, fr, tick)
            runs.append(fr)
            continue
        pipe = Pipeline(inst, kind, pipeline)
        ahead = None
        kept = pipe.params.signals_kept  # (fewer kept: a chunk's may be gone when read)
        if kind == "mbo" and reads_ahead(host.strategy) and (kept is None or kept >= SIGNALS_KEPT):
            lag = LaggingBook(OrderBook(inst))  # (the venue: a book of its own)
            ahead = (AheadView(pipe, lag), lag)
        venue = SimVenue(inst, kind, broker=host.broker, order_latency=opts.order_latency_ns,
                         md_latency=opts.md_latency_ns, queue_power=opts.queue_power,
                         account=opts.account, seed=opts.seed,
                         book=pipe.book if ahead is None else ahead[1],
                         prints=opts.prints)  # fmt: skip
        drv = _Driver(node, host, pipe, venue, opts, log, ahead)
        drv.run(chunks, tick)
        drv.finish()
        fr.events, fr.groups = pipe.events, pipe.groups
        fr.first_ts, fr.last_ts = pipe.first_ts, pipe.last_ts
        fr.decisions = drv.decisions
        fr.asked = drv.asked
        fr.hours = np.array(sorted(drv.hours), dtype=np.int64)
        fr.signal_counts = Counter(pipe.signal_counts)
        fr.accumulated = len(pipe.accumulated)
        fr.accumulated_long = pipe.accumulated.long
        fr.accumulated_short = fr.accumulated - fr.accumulated_long
        fr.venue_counters = Counter(venue.counters)
        runs.append(fr)
    elapsed = time.perf_counter() - t0
    capital = opts.capital if opts.capital is not None else trading.risk.starting_balance
    res = build_result(list(hosts.values()), runs, log.commands, log.fills, opts, capital,
                       elapsed)  # fmt: skip
    res.stats["warnings"] = warnings
    return res
