"""Backtest venue benchmarks: the ESH4 MBO stream through the L3 book alone (the baseline)
and through the simulated venue, which keeps its own book of the same class.

- ``book alone``: ``OrderBook.apply_mbo`` over the stream in replay chunks;
- ``venue, no orders``: ``SimVenue.on_market`` over the same chunks, nothing of ours working
  (the cost the venue adds when no order of ours is near the market);
- ``venue, orders away``: four orders (bid, offer, stop, MIT) 40 ticks from the market from a
  minute after the open, working all hour, never touched: the steady per-record cost;
- ``venue, orders at the touch``: every five minutes of the trading hour the working orders
  are cancelled and a bid at the touch, an offer a tick above the ask, a sell stop 4 ticks
  under the last print and a buy MIT 2 ticks under the bid are placed (four orders, two of
  them queued at the touch where most records land): the venue's worst ordinary case;
- ``book + venue sharing it``: the driver applies the book (as the pipeline does) and the
  venue reads it, the stream cut where ``next_cut`` says: the venue's own cost on top;
- per chunk of 4,096 records: latency p50/p99 of one ``on_market`` (or ``apply_mbo``) call;
- memory: tracemalloc peak of one venue run with orders.

The goal: the whole backtest at >= 2M market events/s per core on this stream; the
venue should add little to the book's own cost.

    .venv/bin/python benchmarks/bench_backtest.py [--seconds S]      (standalone)
    .venv/bin/python benchmarks/bench_backtest.py --breakdown        (where the time goes)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import Case, Progress, Result, fmt_rate, measure_many, peak_memory, percentiles
from orderflow.backtest import SimVenue
from orderflow.book.l3 import OrderBook
from orderflow.engine.runner import run_stream
from orderflow.model.enums import Flags
from orderflow.trading.orders import OrderAction, OrderCommand, OrderType

SUITE = "backtest"
PAIR = "backtest:esh4"
CHUNK = 65_536
LAT_CHUNK = 4_096
GOAL = 2e6
OPEN = 1_703_545_200_000_000_000  # ESH4 2023-12-25 23:00 UTC
FIVE_MIN = 300_000_000_000


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _round(v: SimVenue, t: int, k: int) -> list[OrderCommand]:
    out = [OrderCommand(0, "cancel", o.cid, "ES", t) for o in v.working()]
    bid, ask, last = v.market.best(0), v.market.best(1), v.last_trade
    if bid is None or ask is None or last is None:
        return out
    b, s = OrderAction.BUY, OrderAction.SELL_SHORT
    return [
        *out,
        OrderCommand(0, "submit", f"b{k}", "ES", t, b, OrderType.LIMIT, 5, bid),
        OrderCommand(0, "submit", f"s{k}", "ES", t, s, OrderType.LIMIT, 5, ask + 1),
        OrderCommand(0, "submit", f"st{k}", "ES", t, s, OrderType.STOP_MARKET, 1, None, last - 4),
        OrderCommand(0, "submit", f"mit{k}", "ES", t, b, OrderType.MIT, 1, None, bid - 2),
    ]


def replay(ev: np.ndarray, inst: Any, chunk: int, orders: bool,
           timings: list[int] | None = None) -> SimVenue:  # fmt: skip
    """The stream through a venue in chunks; with ``orders``, the rounds above (the records
    are cut at each round's time so the strategy sees the book then)."""
    v = SimVenue(inst, order_latency=250_000, md_latency=250_000)
    ts = ev["ts_event"]
    cuts = [int(np.searchsorted(ts, OPEN + k * FIVE_MIN + 1, side="right")) for k in range(12)]
    rounds = dict(zip(cuts, range(12), strict=True)) if orders else {}
    stops = sorted(set(range(0, len(ev), chunk)) | set(rounds) | {len(ev)})
    for a, b in itertools.pairwise(stops):
        if a in rounds:
            t = OPEN + rounds[a] * FIVE_MIN + 1
            for c in _round(v, t, rounds[a]):
                v.send(c)
        t0 = time.perf_counter_ns()
        v.on_market(ev[a:b])
        if timings is not None:
            timings.append(time.perf_counter_ns() - t0)
    return v


def replay_away(ev: np.ndarray, inst: Any, chunk: int, away: int = 40,
                timings: list[int] | None = None) -> SimVenue:  # fmt: skip
    """Four orders placed a minute after the open ``away`` ticks from the market (a bid, an
    offer, a sell stop, a buy MIT) and left working all hour: the steady cost of orders that
    work but are not touched."""
    v = SimVenue(inst)
    ts = ev["ts_event"]
    i0 = int(np.searchsorted(ts, OPEN + FIVE_MIN // 5, side="right"))
    for a in range(0, i0, chunk):
        v.on_market(ev[a : min(a + chunk, i0)])
    t = int(ts[i0 - 1])
    bid, ask = v.market.best(0), v.market.best(1)
    assert bid is not None and ask is not None
    b, s = OrderAction.BUY, OrderAction.SELL_SHORT
    for c in (
        OrderCommand(0, "submit", "b", "ES", t, b, OrderType.LIMIT, 5, bid - away),
        OrderCommand(0, "submit", "s", "ES", t, s, OrderType.LIMIT, 5, ask + away),
        OrderCommand(0, "submit", "st", "ES", t, s, OrderType.STOP_MARKET, 1, None, bid - away),
        OrderCommand(0, "submit", "mit", "ES", t, b, OrderType.MIT, 1, None, bid - away),
    ):
        v.send(c)
    v.advance(t)
    for a in range(i0, len(ev), chunk):
        t0 = time.perf_counter_ns()
        v.on_market(ev[a : a + chunk])
        if timings is not None:
            timings.append(time.perf_counter_ns() - t0)
    return v


def replay_shared(ev: np.ndarray, inst: Any, chunk: int, orders: bool,
                  timings: list[int] | None = None) -> SimVenue:  # fmt: skip
    """The same with the venue reading the book the driver applies (as the pipeline's would
    be), the stream cut where ``next_cut`` says and at whole events: the venue's own cost
    on top of a book the backtest pays for anyway."""
    book = OrderBook(inst)
    v = SimVenue(inst, order_latency=250_000, md_latency=250_000, book=book)
    ts = ev["ts_event"]
    lasts = np.flatnonzero(ev["flags"] & Flags.LAST)
    rounds = [OPEN + k * FIVE_MIN + 1 for k in range(12)] if orders else []
    pos, k, n = 0, 0, len(ev)
    while pos < n:
        t0 = time.perf_counter_ns()
        while k < len(rounds) and rounds[k] < ts[pos]:
            v.advance(rounds[k])
            for c in _round(v, rounds[k], k):
                v.send(c)
            k += 1
        v.advance(int(ts[pos]) - 1)
        end = min(pos + chunk, n)
        if k < len(rounds):
            end = min(end, max(pos + 1, int(np.searchsorted(ts, rounds[k], side="right"))))
        e = int(np.searchsorted(lasts, end - 1))
        end = int(lasts[e]) + 1 if e < len(lasts) else n
        cut = pos + max(1, v.next_cut(ev[pos:end]))
        book.apply_mbo(ev[pos:cut])
        v.on_market(ev[pos:cut])
        if timings is not None:
            timings.append(time.perf_counter_ns() - t0)
        pos = cut
    return v


def _book_chunks(ev: np.ndarray, inst: Any, chunk: int, timings: list[int] | None = None) -> None:
    book = OrderBook(inst)
    for a in range(0, len(ev), chunk):
        t0 = time.perf_counter_ns()
        book.apply_mbo(ev[a : a + chunk])
        if timings is not None:
            timings.append(time.perf_counter_ns() - t0)


def _task(ev: np.ndarray, inst: Any, seconds: float) -> Task:
    cases = {
        "book": Case(lambda: _book_chunks(ev, inst, CHUNK), len(ev)),
        "bare": Case(lambda: replay(ev, inst, CHUNK, False), len(ev)),
        "away": Case(lambda: replay_away(ev, inst, CHUNK), len(ev)),
        "orders": Case(lambda: replay(ev, inst, CHUNK, True), len(ev)),
        "shared": Case(lambda: replay_shared(ev, inst, CHUNK, True), len(ev)),
    }
    names = {
        "book": ("baseline", f"L3 book alone, apply_mbo in chunks of {CHUNK:,}"),
        "bare": ("ours", "venue (own book), no orders of ours"),
        "away": ("ours", "venue, 4 orders working 40 ticks away all hour"),
        "orders": ("ours", "venue, 4 orders at the touch, replaced every 5 min"),
        "shared": ("ours", "book + venue sharing it, the same orders"),
    }

    def run(progress: Progress) -> list[Result]:
        # five cases: 0.6 x the run's seconds each keeps the suite within ~20 s in make bench
        tps = measure_many(cases, 0.6 * seconds, progress=progress)
        rows = []
        for key, (impl, name) in names.items():
            tp = tps[key]
            r = Result(SUITE, PAIR, impl, name, tp.events_per_s, seconds=tp.seconds,
                       calls=tp.calls)  # fmt: skip
            lat: list[int] = []
            for _ in range(3):  # per-chunk latency, chunks of LAT_CHUNK records
                if key == "book":
                    _book_chunks(ev, inst, LAT_CHUNK, lat)
                elif key == "shared":
                    replay_shared(ev, inst, LAT_CHUNK, True, lat)
                elif key == "away":
                    replay_away(ev, inst, LAT_CHUNK, timings=lat)
                else:
                    replay(ev, inst, LAT_CHUNK, key == "orders", lat)
            r.p50_ns, r.p99_ns = percentiles(np.asarray(lat, dtype=np.float64))
            r.lat_unit = f"chunk ({LAT_CHUNK:,} ev)"
            rows.append(r)
        busy = next(r for r in rows if r.name == names["orders"][1])
        mem = peak_memory(lambda: replay(ev, inst, CHUNK, True))
        busy.peak_bytes, busy.retained_bytes = mem.peak_bytes, mem.retained_bytes
        busy.rss_growth_bytes = mem.rss_growth_bytes
        v = replay(ev, inst, CHUNK, True)
        busy.note = f"{len(v.fills)} fills, {len(v.orders)} orders"
        return rows

    return Task("backtest venue vs book alone (ESH4 replay)", run)


# ---- the whole backtest: book, analytics, signals, strategy, venue ----------------
FULL_PAIR = "backtest:full"


def full_backtest(ev: np.ndarray, inst: Any, chunk: int, decide: str | int,
                  timings: list[int] | None = None) -> Any:  # fmt: skip
    """``run_sources`` over the decoded stream in chunks (no file decoding): the pipeline on
    its book, the reference strategy's host with default settings, the venue sharing the
    book. ``timings``: the time between chunks (one chunk's whole work)."""
    from orderflow.backtest.run import BacktestOptions, run_sources
    from orderflow.io.stream import Chunk, Opened

    parts = (Chunk(ev[a : a + chunk]) for a in range(0, len(ev), chunk))
    last = [time.perf_counter_ns()]

    def tick(done: int, total: int) -> None:
        now = time.perf_counter_ns()
        if timings is not None:
            timings.append(now - last[0])
        last[0] = now

    opts = BacktestOptions(decide_every=decide, chunk_records=chunk)
    return run_sources([("esh4", Opened(inst, "mbo", parts))], options=opts, progress=tick)


def cpu_timed(fn: Callable[..., Any], into: dict[Any, int], key: Any = 0) -> Callable[..., Any]:
    """``fn`` (a method, ``Pipeline.process`` say, taken before it is patched) adding the
    thread CPU time of each call to ``into[key]`` (from 0 when it is not there)."""
    clock = time.thread_time_ns

    def timed(*a: Any, **k: Any) -> Any:
        t = clock()
        try:
            return fn(*a, **k)
        finally:
            into[key] = into.get(key, 0) + clock() - t

    return timed


def _pipeline_chunks(ev: np.ndarray, inst: Any, chunk: int, timings: list[int]) -> None:
    """The pipeline alone in chunks, each chunk's time appended to ``timings``."""
    last = [time.perf_counter_ns()]

    def tick(done: int, total: int) -> None:
        now = time.perf_counter_ns()
        timings.append(now - last[0])
        last[0] = now

    run_stream("mbo", ev, inst, chunk=chunk, progress=tick)


#: where a backtest's time goes (:func:`breakdown`): each method's own time, its callees in
#: this table excluded (``venue.send`` inside a decision is the venue's)
PARTS: dict[str, tuple[str, ...]] = {
    "pipeline": ("orderflow.engine.pipeline:Pipeline.process",),
    "venue": ("orderflow.backtest.venue:SimVenue.on_market",
              "orderflow.backtest.matching:Matching.next_cut",
              "orderflow.backtest.venue:SimVenue.advance",
              "orderflow.backtest.venue:SimVenue.send"),
    "decide (host, strategy, risk)": ("orderflow.backtest.run:_Driver.decide",),
    "reports (desk, risk)": ("orderflow.trading.node:TradingNode.fill",
                             "orderflow.trading.node:TradingNode.order_update"),
}  # fmt: skip


def breakdown(ev: np.ndarray, inst: Any, decide: str | int, rounds: int = 3) -> dict[str, float]:
    """Seconds per part of one ``full_backtest`` (the best of ``rounds``): the methods of
    :data:`PARTS` timed with ``perf_counter_ns`` (exclusive of each other), the rest of the
    run the driver's own bookkeeping (cutting, settling, the loop)."""
    import importlib

    spent: dict[str, int] = {}
    stack: list[int] = []  # time of nested timed calls, per open frame

    def wrap(part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            stack.append(0)
            t0 = time.perf_counter_ns()
            try:
                return fn(*a, **k)
            finally:
                dt = time.perf_counter_ns() - t0
                inner = stack.pop()
                spent[part] = spent.get(part, 0) + dt - inner
                if stack:
                    stack[-1] += dt

        return timed

    saved: list[tuple[Any, str, Any]] = []
    for part, names in PARTS.items():
        for name in names:
            mod, attr = name.split(":")
            cls_name, meth = attr.split(".")
            cls = getattr(importlib.import_module(mod), cls_name)
            saved.append((cls, meth, cls.__dict__[meth]))
            setattr(cls, meth, wrap(part, cls.__dict__[meth]))
    best: dict[str, float] | None = None
    try:
        full_backtest(ev, inst, CHUNK, decide)  # warm
        for _ in range(rounds):
            spent.clear()
            t0 = time.perf_counter_ns()
            full_backtest(ev, inst, CHUNK, decide)
            total = time.perf_counter_ns() - t0
            got = {k: v / 1e9 for k, v in spent.items()}
            got["driver (cutting, settling, the loop)"] = (total - sum(spent.values())) / 1e9
            got["total"] = total / 1e9
            if best is None or got["total"] < best["total"]:
                best = got
    finally:
        for cls, meth, fn in saved:
            setattr(cls, meth, fn)
    assert best is not None
    return best


def _full_task(ev: np.ndarray, inst: Any, seconds: float) -> Task:
    cases = {
        "book": Case(lambda: _book_chunks(ev, inst, CHUNK), len(ev)),
        "pipeline": Case(lambda: run_stream("mbo", ev, inst, chunk=CHUNK), len(ev)),
        "chunk": Case(lambda: full_backtest(ev, inst, CHUNK, "chunk"), len(ev)),
        "100": Case(lambda: full_backtest(ev, inst, CHUNK, 100), len(ev)),
    }
    names = {
        "book": ("baseline", f"L3 book alone, apply_mbo in chunks of {CHUNK:,}"),
        "pipeline": ("reference", "the pipeline alone (book, analytics, signals)"),
        "chunk": ("ours", "full backtest, strategy decides every chunk of 65,536"),
        "100": ("ours", "full backtest, strategy decides every 100 records"),
    }

    def run(progress: Progress) -> list[Result]:
        tps = measure_many(cases, 0.5 * seconds, progress=progress)
        rows = []
        for key, (impl, name) in names.items():
            tp = tps[key]
            r = Result(SUITE, FULL_PAIR, impl, name, tp.events_per_s, seconds=tp.seconds,
                       calls=tp.calls)  # fmt: skip
            lat: list[int] = []
            if key == "book":
                _book_chunks(ev, inst, LAT_CHUNK, lat)
            elif key == "pipeline":
                _pipeline_chunks(ev, inst, LAT_CHUNK, lat)
            else:
                full_backtest(ev, inst, LAT_CHUNK, "chunk" if key == "chunk" else 100, lat)
            r.p50_ns, r.p99_ns = percentiles(np.asarray(lat, dtype=np.float64))
            r.lat_unit = f"chunk ({LAT_CHUNK:,} ev)"
            if key not in ("book", "pipeline"):
                decide = "chunk" if key == "chunk" else 100
                mem = peak_memory(lambda d=decide: full_backtest(ev, inst, CHUNK, d))
                r.peak_bytes, r.retained_bytes = mem.peak_bytes, mem.retained_bytes
                res = full_backtest(ev, inst, CHUNK, "chunk" if key == "chunk" else 100)
                r.note = (f"{res.stats['decisions']} decisions, {res.stats['trades']} trades, "
                          f"{res.stats['fills']} fills")  # fmt: skip
            rows.append(r)
        return rows

    return Task("full backtest vs book alone (ESH4)", run)


def tasks(streams: Any, seconds: float) -> tuple[list[Task], list[str]]:
    ev, inst = streams.mbo, streams.instrument
    return [_task(ev, inst, seconds), _full_task(ev, inst, seconds)], []


def summary(results: list[Result]) -> list[str]:
    out = []
    for pair in (PAIR, FULL_PAIR):
        out += _summary(results, pair)
    return out


def _summary(results: list[Result], pair: str) -> list[str]:
    rows = {r.name: r for r in results if r.pair == pair}
    book = next((r for r in rows.values() if r.impl == "baseline"), None)
    if book is None or not book.events_per_s:
        return []
    out = []
    for r in rows.values():
        if r is book or not r.events_per_s:
            continue
        share = r.events_per_s / book.events_per_s
        out.append(f"{r.name}: {fmt_rate(r.events_per_s)}/s = {share:.2f} of the book alone; "
                   f"goal (whole backtest) {fmt_rate(GOAL)}/s")  # fmt: skip
    return out


def main() -> None:
    import argparse

    from harness import fill_ratios, render_table
    from orderflow.io.dbn import read_mbo
    from streams import ESH4_MBO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--breakdown", action="store_true",
                    help="only where a decide-every-100 backtest's time goes, by part")  # fmt: skip
    args = ap.parse_args()
    if not ESH4_MBO.exists():
        print(f"skipped: {ESH4_MBO} not found")
        return
    ev, inst = read_mbo(ESH4_MBO)
    if args.breakdown:
        for decide in (100, "chunk"):
            parts = breakdown(ev, inst, decide)
            total = parts.pop("total")
            print(f"full backtest, decides every {decide}: {total * 1e3:.1f} ms "
                  f"({len(ev) / total / 1e6:.2f} M records/s)")  # fmt: skip
            for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
                print(f"  {k:<40} {v * 1e3:7.1f} ms  {v / total:6.1%}")
        return
    t0 = time.perf_counter()
    results = _task(ev, inst, args.seconds).run(Progress())
    results += _full_task(ev, inst, args.seconds).run(Progress())
    fill_ratios(results)
    print(render_table(results))
    print("\n".join(summary(results)))
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
