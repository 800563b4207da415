"""Pipeline benchmarks: book + analytics + signals on the ESH4 stream, beside the book alone.

- ``L3 book alone`` (the baseline of this suite): ``OrderBook.apply_mbo`` over the whole
  stream, a fresh book per call, the figure the goal is stated against;
- ``book + depth 10``: the same with the top 10 levels recorded at every event boundary, the
  input every book metric needs;
- ``full pipeline``: :class:`orderflow.engine.Pipeline` over the whole stream in replay
  chunks (``runner.CHUNK``, 16,384 records): book, book metrics, momentum, bars on two
  timeframes with footprint cells, cumulative delta, VWAP, session profile, volume and
  liquidity clusters, L3 and L2 detectors, accumulation;
- ``pipeline, no detectors``: the same with detectors switched off, to split the cost;
- ``per component``: each stage alone over the stream, reported as ns per event group;
- ``live, group by group``: the pipeline fed one event group per call, as the server will
  feed it; latency per group (p50/p99) and groups per second;
- memory of one full replay.

The goal: the full pipeline keeps at least one third of the book-only rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import (
    Case,
    Progress,
    Result,
    fmt_rate,
    measure_many,
    peak_memory,
    percentiles,
    timer_overhead_ns,
)
from orderflow.analytics.book_metrics import BookMetrics, trade_offsets
from orderflow.analytics.momentum import Momentum
from orderflow.analytics.trades import trades_from_mbo
from orderflow.book.l3 import OrderBook
from orderflow.engine import Pipeline, PipelineParams
from orderflow.engine.runner import run_stream
from orderflow.model.enums import Action, Flags
from orderflow.signals.detectors_l2 import detect_l2, mbo_trades
from orderflow.signals.detectors_l3 import best_before_groups, detect_l3
from streams import Streams

SUITE = "pipeline"
PAIR = "pipeline:esh4"
GOAL_SHARE = 1 / 3


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _stream_task(streams: Streams, seconds: float) -> Task:
    ev, inst = streams.mbo, streams.instrument
    no_detectors = PipelineParams(detectors=frozenset())

    def book(_: Any) -> None:
        OrderBook(inst).apply_mbo(ev)

    def book_depth(_: Any) -> None:
        OrderBook(inst).apply_mbo(ev, record_depth=10)

    def full(_: Any) -> None:
        run_stream("mbo", ev, inst)

    def bare(_: Any) -> None:
        run_stream("mbo", ev, inst, no_detectors)

    cases = {
        "book": Case(book, len(ev), lambda: None),
        "depth": Case(book_depth, len(ev), lambda: None),
        "full": Case(full, len(ev), lambda: None),
        "bare": Case(bare, len(ev), lambda: None),
    }
    names = {
        "book": ("baseline", "L3 book alone, apply_mbo"),
        "depth": ("ours", "book + top-10 depth at every boundary"),
        "full": ("ours", "full pipeline: book + analytics + signals"),
        "bare": ("ours", "pipeline without detectors"),
    }

    def run(progress: Progress) -> list[Result]:
        tps = measure_many(cases, seconds, progress=progress)
        rows = []
        for key, (impl, name) in names.items():
            tp = tps[key]
            r = Result(SUITE, PAIR, impl, name, tp.events_per_s, seconds=tp.seconds,
                       calls=tp.calls)  # fmt: skip
            r.p50_ns, r.p99_ns = percentiles(np.asarray(tp.call_ns, dtype=np.float64))
            r.lat_unit = f"call ({len(ev):,} ev)"
            rows.append(r)
        mem = peak_memory(lambda: run_stream("mbo", ev, inst))
        rows[2].peak_bytes, rows[2].retained_bytes = mem.peak_bytes, mem.retained_bytes
        rows[2].rss_growth_bytes = mem.rss_growth_bytes
        return rows

    return Task("pipeline vs book alone (ESH4 replay)", run)


def _components_task(streams: Streams, seconds: float) -> Task:
    """Each stage alone over the whole stream, in ns per event group."""
    ev, inst = streams.mbo, streams.instrument
    depth = OrderBook(inst).apply_mbo(ev, record_depth=10).depth
    assert depth is not None
    trades = trades_from_mbo(ev)
    tidx = np.flatnonzero(ev["action"] == Action.TRADE)
    off = trade_offsets(depth, trades, tidx)
    groups = len(depth)
    best = best_before_groups(ev, inst, depth.bid_price[:, 0], depth.ask_price[:, 0])
    l2_trades, l2_group = mbo_trades(ev)

    def metrics(_: Any) -> None:
        m = BookMetrics(width=10)
        for r in range(groups):
            d = depth
            m.update(int(d.ts_event[r]), d.bid_price[r], d.bid_size[r], d.ask_price[r],
                     d.ask_size[r], trades[off[r] : off[r + 1]])  # fmt: skip

    many = getattr(BookMetrics, "update_many", None)

    def metrics_many(_: Any) -> None:
        BookMetrics(width=10).update_many(depth, trades, off)  # type: ignore[attr-defined]

    mid = np.zeros(groups)
    imb = np.zeros(groups)

    def momentum(_: Any) -> None:
        Momentum().update_many(depth.ts_event, mid, imb, trades, off)

    def trade_stats(_: Any) -> None:
        p = Pipeline(inst, "trades", PipelineParams(detectors=frozenset()))
        p.process_trades(trades)

    def l3(_: Any) -> None:
        detect_l3(ev, "ESH4", best=best)

    def l2(_: Any) -> None:
        detect_l2(depth, l2_trades, "ESH4", trade_group=l2_group)

    cases = {
        "book metrics, per group": Case(metrics, groups, lambda: None),
        "momentum (batch)": Case(momentum, groups, lambda: None),
        "trade analytics (bars, footprint, delta, VWAP, profile, clusters)": Case(
            trade_stats, groups, lambda: None
        ),
        "L3 detectors": Case(l3, groups, lambda: None),
        "L2 detectors": Case(l2, groups, lambda: None),
    }
    if many is not None:
        cases["book metrics, update_many"] = Case(metrics_many, groups, lambda: None)

    def run(progress: Progress) -> list[Result]:
        tps = measure_many(cases, seconds, progress=progress)
        rows = []
        for name, tp in tps.items():
            r = Result(SUITE, "pipeline:parts", "ours", name, tp.events_per_s, unit="grp",
                       seconds=tp.seconds, calls=tp.calls)  # fmt: skip
            r.p50_ns = float(np.median(tp.call_ns)) / groups
            r.lat_unit = "group (amortised)"
            rows.append(r)
        return rows

    return Task("pipeline stages, ns per event group", run)


def _detectors_task(streams: Streams, seconds: float) -> Task:
    """The numba detectors beside the plain-Python reference they are tested against."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: tests/
    from tests.reference import detectors_l2 as ref_l2
    from tests.reference import detectors_l3 as ref_l3

    ev, inst = streams.mbo, streams.instrument
    depth = OrderBook(inst).apply_mbo(ev, record_depth=10).depth
    assert depth is not None
    best = best_before_groups(ev, inst, depth.bid_price[:, 0], depth.ask_price[:, 0])
    trades, group = mbo_trades(ev)
    pairs = {
        "L3 detectors, detect_l3 (iceberg, large lots, spoof pulls)": (
            lambda _: detect_l3(ev, "ESH4", best=best),
            lambda _: ref_l3.detect_l3(ev, "ESH4", best=best),
            len(ev),
        ),
        "L2 detectors, detect_l2 (absorption, sweep, exhaustion, iceberg)": (
            lambda _: detect_l2(depth, trades, "ESH4", trade_group=group),
            lambda _: ref_l2.detect_l2(depth, trades, "ESH4", trade_group=group),
            len(ev),
        ),
    }

    def run(progress: Progress) -> list[Result]:
        rows = []
        for name, (ours, base, n) in pairs.items():
            cases = {"ours": Case(ours, n, lambda: None), "baseline": Case(base, n, lambda: None)}
            tps = measure_many(cases, seconds, progress=progress)
            for impl, tp in tps.items():
                r = Result(SUITE, f"detectors:{name[:2]}", impl, name, tp.events_per_s,
                           seconds=tp.seconds, calls=tp.calls)  # fmt: skip
                r.p50_ns, r.p99_ns = percentiles(np.asarray(tp.call_ns, dtype=np.float64))
                r.lat_unit = f"call ({n:,} ev)"
                rows.append(r)
        return rows

    return Task("detectors beside the plain-Python reference", run)


def _live_task(streams: Streams) -> Task:
    ev, inst = streams.mbo, streams.instrument
    ends = np.flatnonzero((ev["flags"] & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST) + 1
    overhead = timer_overhead_ns()

    def run(progress: Progress) -> list[Result]:
        import time

        pipe = Pipeline(inst, "mbo")
        pipe.process(ev[: int(ends[0])])  # warm: first group (the snapshot) and JIT
        out = np.empty(len(ends) - 1)
        start = int(ends[0])
        for k, end in enumerate(ends[1:].tolist()):
            t0 = time.perf_counter_ns()
            pipe.process(ev[start:end])
            out[k] = time.perf_counter_ns() - t0 - overhead
            start = end
            if not k & 0xFFF:
                progress.tick()
        r = Result(SUITE, "pipeline:live", "ours", "live: one event group per call",
                   len(out) / (out.sum() / 1e9), unit="grp")  # fmt: skip
        r.p50_ns, r.p99_ns = percentiles(out)
        r.lat_unit = "group"
        return [r]

    return Task("pipeline fed group by group (live)", run)


def _live_nt_task(streams: Streams, batch_events: int = 1) -> Task:
    """The server's path: ESH4 as the bridge's NinjaTrader batches of one event group each
    (depth events and the prints up to them), or of at least ``batch_events`` depth events (as
    the bridge sends them; ~100 events and ~7 prints), each through
    ``Pipeline.process_batch``."""
    from orderflow.io.formats import load_stream
    from orderflow.io.nt_feed import nt_batches

    overhead = timer_overhead_ns()

    def run(progress: Progress) -> list[Result]:
        import time

        stream = load_stream(streams.path)
        cut = nt_batches(stream, 10, batch_events)
        # a fresh pipeline per pass, the first pass a warm-up (JIT, first use): 438 batches of
        # 100 events are too few for a p99 from one pass
        passes = 1 if batch_events == 1 else 5
        outs = []
        for _ in range(passes):
            pipe = Pipeline(stream.instrument, "nt_depth")
            pipe.process_batch(cut[0].depth, cut[0].trades)  # warm: the first batch and JIT
            out = np.empty(len(cut) - 1)
            for k, nb in enumerate(cut[1:]):
                depth, trades = nb.depth, nb.trades
                t0 = time.perf_counter_ns()
                pipe.process_batch(depth, trades)
                out[k] = time.perf_counter_ns() - t0 - overhead
                if not k & 0xFFF:
                    progress.tick()
            outs.append(out)
        out = np.concatenate(outs[1:] if passes > 1 else outs)
        name = (
            "live: one NinjaTrader batch per call"
            if batch_events == 1
            else f"live: the bridge's NinjaTrader batches (>= {batch_events} events) per call"
        )
        r = Result(SUITE, "pipeline:live-nt", "ours", name,
                   len(out) / (out.sum() / 1e9), unit="grp")  # fmt: skip
        r.p50_ns, r.p99_ns = percentiles(out)
        r.lat_unit = "batch"
        return [r]

    what = (
        "NinjaTrader batches" if batch_events == 1 else f"the bridge's {batch_events}-event batches"
    )
    return Task(f"pipeline fed {what} (live, server path)", run)


def tasks(streams: Streams, seconds: float) -> tuple[list[Task], list[str]]:
    return [_stream_task(streams, seconds), _components_task(streams, seconds),
            _detectors_task(streams, seconds), _live_task(streams),
            _live_nt_task(streams), _live_nt_task(streams, 100)], []  # fmt: skip


def summary(results: list[Result]) -> list[str]:
    book = next((r for r in results if r.pair == PAIR and r.impl == "baseline"), None)
    full = next((r for r in results if r.pair == PAIR and r.name.startswith("full")), None)
    if not book or not full or not book.events_per_s or not full.events_per_s:
        return []
    share = full.events_per_s / book.events_per_s
    return [
        "Goal: full pipeline >= 1/3 of the book-only rate: "
        f"{fmt_rate(full.events_per_s)}/s vs {fmt_rate(book.events_per_s)}/s = {share:.2f} "
        f"({share / GOAL_SHARE:.2f} of goal)"
    ]
