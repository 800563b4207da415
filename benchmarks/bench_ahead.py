"""The pipeline run ahead of a backtest's decisions: what they read, the ceiling, the change.

A backtest deciding every 100 records (ESH4, chunks of 65,536, the reference strategy with
default settings) calls the pipeline once per piece between decisions; each call's kernel
work runs on state the host's Python left cold, and the host's Python on state the kernel
left cold. The pipeline's output does not depend on our orders, so it could run over a whole
chunk before the chunk's decisions, each decision reading what it needs as of its point.
This measures, in CPU time (``thread_time_ns``), medians of ``--runs`` runs alternated in one
process:

- ``reads``: what the decisions and the venue read from the pipeline and its book in one run
  (the lazy context's fields, ``prints_since``, the venue's book reads);
- ``asof``: whether the counts a decision reads (the last time, the groups, the prints, the
  raw and accumulated signals, the closed bars of each series) at the end of every piece are
  those of one pipeline over the whole file in 65,536-record calls, split by the piece's
  last record time (the closed bars by ``ts_close``);
- ``ceiling``: the backtest (and its ``Pipeline.process`` calls) against the same records fed
  to a pipeline in the backtest's pieces back to back and in 65,536-record calls, an L3 book
  applied in the pieces, in 30 calls and in 65,536-record calls (the venue's own book), and
  the pipeline alone (``run_stream``);
- ``prototype``: the backtest with the chunk's pipeline run in one call before the chunk's
  pieces, the venue reading its own L3 book brought up to the driver's position only when it
  reads it (each answer checked against the real run's), and the host's other pipeline reads
  (the prints since, the last price, the quote and the bars) answered from a first real run;
  the same commands, fills and trades as the real run are checked before it is timed, then it
  is alternated with the real backtest (paired differences). It is what the run-ahead could
  give before its own per-decision reads are paid for; not a backtest anyone can run;
- the backtest as built (``backtest.ahead``: the pipeline run ahead) against the backtest
  piece by piece (``reads_ahead`` answering no), alternated (paired differences).

The reads, the as-of checks, the ceiling and the prototype are of the backtest piece by piece.

Run: ``PYTHONPATH=src:. python benchmarks/bench_ahead.py [--runs 9]``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.conftest import ES_MBO

import orderflow.backtest.run as runmod
import orderflow.trading.market_fields as mf
from bench_backtest import CHUNK, cpu_timed, full_backtest
from orderflow.backtest.market import MarketView
from orderflow.book.l3 import OrderBook
from orderflow.engine.pipeline import Pipeline
from orderflow.engine.runner import run_stream
from orderflow.io.formats import load_stream
from orderflow.model.enums import Action, Flags
from orderflow.trading.host import StrategyHost

VENUE_READS = ("best", "levels", "size_at", "queue_at")
REPLAYED = ("bars", "quote")  # the lazy fields the reference strategy read (answered)
PROCESS = Pipeline.process
#: CPU ns of the prototype's run ahead (its pipeline calls) and its own book's applications
SPENT: Counter[str] = Counter()


def cpu(fn: Callable[[], Any]) -> tuple[int, Any]:
    t = time.thread_time_ns()
    out = fn()
    return time.thread_time_ns() - t, out


def ms(v: list[int]) -> str:
    return f"median {statistics.median(v) / 1e6:7.2f} ms, min {min(v) / 1e6:7.2f}"


class Patches:
    """Methods replaced for one run and put back."""

    def __init__(self) -> None:
        self.saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        old = owner[name] if isinstance(owner, dict) else owner.__dict__[name]
        self.saved.append((owner, name, old))
        if isinstance(owner, dict):
            owner[name] = value
        else:
            setattr(owner, name, value)

    def undo(self) -> None:
        for owner, name, old in reversed(self.saved):
            if isinstance(owner, dict):
                owner[name] = old
            else:
                setattr(owner, name, old)
        self.saved.clear()


def record(ev: np.ndarray, inst: Any) -> tuple[dict[str, list[Any]], list[tuple[Any, ...]], Any]:
    """One real run: the answers of the reads the prototype replays, in call order, the
    pipeline's counts after each piece, and the run's result."""
    answers: dict[str, list[Any]] = defaultdict(list)
    rows: list[tuple[Any, ...]] = []
    p = Patches()

    def keep(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def w(*a: Any, **k: Any) -> Any:
            r = fn(*a, **k)
            answers[name].append(dict(r) if isinstance(r, dict) else r)
            return r

        return w

    def process(self: Pipeline, *a: Any, **k: Any) -> Any:
        out = PROCESS(self, *a, **k)
        acc, sig = self.accumulated, self.signals
        bars = [len(b) for b in self.bars.series]
        rows.append((self.last_ts, self.groups, self.trades, self.events, acc.count,
                     sig.count, acc.long, self.first_ts, bars, self))  # fmt: skip
        return out

    for n in VENUE_READS:
        p.set(MarketView, n, keep("venue:" + n, MarketView.__dict__[n]))
    p.set(StrategyHost, "_last_price", keep("last_price", StrategyHost.__dict__["_last_price"]))
    p.set(Pipeline, "prints_since", keep("prints_since", Pipeline.__dict__["prints_since"]))
    for makers in mf.MAKERS.values():
        for f in list(makers):
            p.set(makers, f, keep("lazy:" + f, makers[f]))
    p.set(Pipeline, "process", process)
    p.set(runmod.__dict__, "reads_ahead", _never)
    try:
        res = full_backtest(ev, inst, CHUNK, 100)
    finally:
        p.undo()
    return answers, rows, res


class _Log:
    """A signal log as of a piece: the first ``count`` of the real log's entries."""

    __slots__ = ("count", "items", "long")

    def __init__(self, items: list[Any]) -> None:
        self.items, self.count, self.long = items, 0, 0

    def since(self, seen: int) -> list[Any]:
        return self.items[seen : self.count] if seen < self.count else []

    def missed(self, seen: int) -> int:
        return 0

    def __len__(self) -> int:
        return self.count


class _AsOf:
    """The pipeline as the host reads it after each piece (counts from the real run); the
    venue's own L3 book brought up to the pieces shown so far when read."""

    def __init__(self, rows: list[tuple[Any, ...]], answers: dict[str, list[Any]],
                 inst: Any) -> None:  # fmt: skip
        real = rows[-1][-1]
        self.rows, self.i = rows, 0
        self.accumulated = _Log(real.accumulated.since(0))
        self.signals = _Log(real.signals.since(0))
        self.signal_counts = real.signal_counts
        self.last_ts = self.groups = self.trades = self.events = 0
        self.first_ts = None
        self._prints = iter(answers["prints_since"])
        self.own = OrderBook(inst)
        self.pending: list[np.ndarray] = []

    @property
    def book(self) -> OrderBook:
        """The venue's own book after the pieces shown so far: each run of them that lies
        in one chunk's records applied as one view of them (no copy)."""
        if self.pending:
            t = time.thread_time_ns()
            base, a, b = None, 0, 0
            for part in self.pending:
                arr = part.base if part.base is not None else part
                at = (part.ctypes.data - arr.ctypes.data) // part.itemsize
                if arr is base and at == b:
                    b += len(part)
                    continue
                if base is not None:
                    self.own.apply_mbo(base[a:b])
                base, a, b = arr, at, at + len(part)
            if base is not None:
                self.own.apply_mbo(base[a:b])
            SPENT["book"] += time.thread_time_ns() - t
            self.pending = []
        return self.own

    def process(self, part: np.ndarray, trades: Any = None) -> None:
        acc, sig = self.accumulated, self.signals
        (self.last_ts, self.groups, self.trades, self.events, acc.count, sig.count, acc.long,
         self.first_ts, _, _) = self.rows[self.i]  # fmt: skip
        self.i += 1
        self.pending.append(part)

    def prints_since(self, start: int) -> Any:
        return next(self._prints)


def prototype(ev: np.ndarray, inst: Any, answers: dict[str, list[Any]],
              rows: list[tuple[Any, ...]]) -> tuple[int, Any, int]:  # fmt: skip
    """One run of the prototype (see the module docstring): CPU ns, result, venue reads
    whose answer differs from the real run's."""
    p = Patches()
    state: dict[str, Any] = {}
    differ = [0]
    big = Pipeline(inst, "mbo")
    events = runmod._Driver._events

    def ahead(self: Any, recs: np.ndarray, *a: Any) -> Any:
        t = time.thread_time_ns()
        big.process(recs)  # the chunk's whole events in one call, before its pieces
        SPENT["pipeline"] += time.thread_time_ns() - t
        return events(self, recs, *a)

    def checked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        it = iter(answers["venue:" + name])

        def w(self: MarketView, *a: Any) -> Any:
            self.book = state["view"].book
            r = fn(self, *a)
            differ[0] += r != next(it)
            return r

        return w

    def replayed(name: str) -> Callable[..., Any]:
        it = iter(answers[name])
        return lambda *a, **k: next(it)

    def factory(inst: Any, kind: str, params: Any = None) -> _AsOf:
        state["view"] = _AsOf(rows, answers, inst)
        return state["view"]

    for n in VENUE_READS:
        p.set(MarketView, n, checked(n, MarketView.__dict__[n]))
    p.set(StrategyHost, "_last_price", replayed("last_price"))
    for makers in mf.MAKERS.values():
        for f in REPLAYED:
            p.set(makers, f, replayed("lazy:" + f))
    p.set(runmod.__dict__, "Pipeline", factory)
    p.set(runmod.__dict__, "reads_ahead", _never)
    p.set(runmod._Driver, "_events", ahead)
    try:
        dt, res = cpu(lambda: full_backtest(ev, inst, CHUNK, 100))
    finally:
        p.undo()
    return dt, res, differ[0]


def asof(ev: np.ndarray, inst: Any, rows: list[tuple[Any, ...]]) -> Counter[str]:
    """Pieces whose counts differ from one big pipeline's split by time (see the docstring)."""
    big = Pipeline(inst, "mbo")
    for a in range(0, len(ev), CHUNK):
        big.process(ev[a : a + CHUNK])
    ts = ev["ts_event"]
    groups = np.cumsum((ev["flags"] & int(Flags.LAST)) != 0)
    prints = np.cumsum(ev["action"] == int(Action.TRADE))
    acc_t = np.array([s.ts_event for s in big.accumulated.since(0)], dtype=np.int64)
    sig_t = np.array([s.ts_event for s in big.signals.since(0)], dtype=np.int64)
    closes = [b.bars()["ts_close"] for b in big.bars.series]
    pieces = rows[0][-1]
    bad: Counter[str] = Counter()
    for last_ts, g, tr, n, acc, sig, _, _, bars, _ in rows[:-1]:  # (the last: unfinished)
        t = ts[n - 1]
        bad["last_ts"] += last_ts != t
        bad["groups"] += g != groups[n - 1]
        bad["prints"] += tr != prints[n - 1]
        bad["accumulated"] += acc != int(acc_t.searchsorted(t, "right"))
        bad["signals"] += sig != int(sig_t.searchsorted(t, "right"))
        bad["closed bars"] += bars != [int(c.searchsorted(t, "right")) for c in closes]
    for a, b in zip(pieces.bars.series, big.bars.series, strict=True):  # (their content)
        bad["bars at the end"] += not np.array_equal(a.bars(), b.bars())
    bad["signals at the end"] += pieces.signals.since(0) != big.signals.since(0)
    bad["accumulated at the end"] += pieces.accumulated.since(0) != big.accumulated.since(0)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    stream = load_stream(ES_MBO)
    ev, inst = stream.array, stream.instrument
    answers, rows, ref = record(ev, inst)
    print("reads in one run:", {k: len(v) for k, v in sorted(answers.items())},
          f"pieces {len(rows)}")  # fmt: skip
    bad = dict(asof(ev, inst, rows))
    print("as of each piece, differing from one big pipeline split by time:", bad)
    _, res, differ = prototype(ev, inst, answers, rows)
    same = (res.commands, res.fills, res.trades) == (ref.commands, ref.fills, ref.trades)
    print(f"prototype: same commands, fills, trades: {same}; venue reads differing: {differ}")
    if not same or differ:
        raise SystemExit("the prototype is not the same run: no timing")
    parts = _pieces(ev, inst)
    whole = np.concatenate(parts)
    chunks = [whole[a : a + CHUNK] for a in range(0, len(whole), CHUNK)]
    cuts = np.linspace(0, len(whole), 31, dtype=int)
    thirty = [whole[a:b] for a, b in itertools.pairwise(cuts)]
    inner: dict[Any, int] = {0: 0}
    timed = cpu_timed(PROCESS, inner)

    def backtest(ahead: bool) -> tuple[int, int]:
        inner[0] = 0
        p = Patches()
        p.set(Pipeline, "process", timed)
        if not ahead:
            p.set(runmod.__dict__, "reads_ahead", _never)
        try:
            dt, _ = cpu(lambda: full_backtest(ev, inst, CHUNK, 100))
        finally:
            p.undo()
        return dt, inner[0]

    def feed(ps: list[np.ndarray]) -> int:
        pipe = Pipeline(inst, "mbo")
        return cpu(lambda: [pipe.process(x) for x in ps])[0]

    def book(ps: list[np.ndarray]) -> int:
        b = OrderBook(inst)
        return cpu(lambda: [b.apply_mbo(x) for x in ps])[0]

    t: dict[str, list[int]] = defaultdict(list)
    for _ in range(args.runs):
        bt, pipe = backtest(False)
        t["the backtest, piece by piece"].append(bt)
        t["- its Pipeline.process calls"].append(pipe)
        t["- outside them"].append(bt - pipe)
        built, pipe = backtest(True)
        t["the backtest run ahead (as built)"].append(built)
        t["- its Pipeline.process calls "].append(pipe)
        t["- outside them "].append(built - pipe)
        t["paired: piece by piece - run ahead"].append(bt - built)
        SPENT.clear()
        pro = prototype(ev, inst, answers, rows)[0]
        t["prototype run ahead"].append(pro)
        t["- its pipeline calls (one a chunk)"].append(SPENT["pipeline"])
        t["- its venue's own book, brought up"].append(SPENT["book"])
        t["- the rest"].append(pro - SPENT["pipeline"] - SPENT["book"])
        t["paired: backtest - prototype"].append(bt - pro)
        alone = cpu(lambda: run_stream("mbo", ev, inst, chunk=CHUNK))[0]
        t["pipeline alone (run_stream)"].append(alone)
        t["pipeline, the backtest's pieces"].append(feed(parts))
        t["pipeline, 65,536-record calls"].append(feed(chunks))
        t["L3 book, the backtest's pieces"].append(book(parts))
        t["L3 book, 30 calls"].append(book(thirty))
        t["L3 book, 65,536-record calls"].append(book(chunks))
    for k, v in t.items():
        print(f"{k:36s} {ms(v)}")
    for k in ("paired: piece by piece - run ahead", "paired: backtest - prototype"):
        print(f"{k}: faster in {sum(d > 0 for d in t[k])} of {args.runs} pairs")
    alone = statistics.median(t["pipeline alone (run_stream)"])
    for k in ("the backtest, piece by piece", "the backtest run ahead (as built)",
              "prototype run ahead"):  # fmt: skip
        print(f"pipeline alone / {k}: {alone / statistics.median(t[k]):.3f}")
    print("load average", " ".join(Path("/proc/loadavg").read_text().split()[:3]))


def _pieces(ev: np.ndarray, inst: Any) -> list[np.ndarray]:
    """The records of each of the backtest's ``Pipeline.process`` calls."""
    parts: list[np.ndarray] = []

    def keep(self: Pipeline, events: np.ndarray, *a: Any, **k: Any) -> Any:
        parts.append(events.copy())
        return PROCESS(self, events, *a, **k)

    p = Patches()
    p.set(Pipeline, "process", keep)
    p.set(runmod.__dict__, "reads_ahead", _never)
    try:
        full_backtest(ev, inst, CHUNK, 100)
    finally:
        p.undo()
    return parts


def _never(strategy: object) -> bool:
    """``reads_ahead`` answering no: the backtest as it was, the pipeline piece by piece."""
    return False


if __name__ == "__main__":
    main()
