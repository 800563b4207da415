"""Book benchmarks: the three books beside their pure-Python baselines, on the ESH4 stream.

For each book (L3 order-by-order, price-level L2, NinjaTrader position ladder):

- batch: the whole stream through the book's batch method, a fresh book per call (building
  the book is not timed); latency is per call (the whole stream);
- per event: a Python loop calling the per-event methods with values taken from pre-extracted
  Python lists (list indexing and the dispatch on the action are the only extras; the
  ``no-op book`` row runs that same loop against methods that do nothing, i.e. the ceiling);
- reads: ``top()`` and ``depth(10)`` at every event boundary (LAST outside a snapshot) while
  the stream is replayed per event; rate (reads / time in reads) and latency are per read;
- batch with ``record_depth=10``: the batch path's own way to read the top 10 at boundaries;
- memory: building the book from the whole stream (per-event replay, so only the book's own
  allocations count), tracemalloc peak and retained bytes, and peak-RSS growth.

A measurement and its baseline run interleaved (``harness.measure_many``), so load from other
processes on a shared machine falls on both alike. The L3 per-event stream drops trades and
fills (they do not change the book); the per-record
``apply`` row feeds every MBO record instead.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from baseline_books import BaselineL3Book, BaselineLadderBook, BaselineLevelBook
from harness import (
    Case,
    Progress,
    Result,
    fmt_rate,
    latencies,
    measure_many,
    peak_memory,
    percentiles,
    timer_overhead_ns,
)
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Action, Flags, LevelAction, Side
from streams import Streams

SUITE = "books"
DEPTH_N = 10

#: The goals (events per second on one core).
GOALS = {"batch_l3": 20e6, "batch_l2": 50e6, "per_event": 2e6}

REFERENCE = (
    "Reference figures measured earlier on this machine (not re-run here): "
    "nautilus_trader ~6M L2 and 5-6M L3 deltas/s; hftbacktest ~27M L2/s and 11M L3/s; "
    "a plain numba price ladder 170M L2/s; a SortedDict Python book 1.4M/s."
)

_ADD, _CANCEL, _MODIFY = int(Action.ADD), int(Action.CANCEL), int(Action.MODIFY)
_SET = int(LevelAction.SET)
_RESET = int(Flags.RESET)
_pc = time.perf_counter_ns


@dataclass(slots=True)
class Task:
    """One progress step; returns its result rows."""

    label: str
    run: Callable[[Progress], list[Result]]


# ---------------------------------------------------------------------------- per-event loops
#
# Each kind has a ``loop(cols)`` giving ``run(book) -> rejects`` (the timed replay) and a
# ``step(cols, book)`` giving ``fn(i)`` (one event, for latencies and for reads). They are
# written out per kind rather than shared so that a call costs only list indexing.


def l3_loop(cols: dict[str, list[Any]]) -> Callable[[Any], int]:
    act, oid, side, price, size = (cols[f] for f in ("action", "order_id", "side", "price", "size"))
    ts, seq = cols["ts_event"], cols["sequence"]
    n = len(act)

    def run(book: Any) -> int:
        add, cancel, modify, clear = book.add, book.cancel, book.modify, book.clear
        rejects = 0
        for i in range(n):
            a = act[i]
            try:
                if a == _ADD:
                    add(oid[i], side[i], price[i], size[i], ts[i], seq[i])
                elif a == _CANCEL:
                    cancel(oid[i], size[i], ts[i], seq[i])
                elif a == _MODIFY:
                    modify(oid[i], price[i], size[i], ts[i], seq[i])
                else:
                    clear()
            except Exception:
                rejects += 1
        return rejects

    return run


def l3_step(cols: dict[str, list[Any]], book: Any) -> Callable[[int], None]:
    act, oid, side, price, size = (cols[f] for f in ("action", "order_id", "side", "price", "size"))
    ts, seq = cols["ts_event"], cols["sequence"]
    add, cancel, modify, clear = book.add, book.cancel, book.modify, book.clear

    def step(i: int) -> None:
        a = act[i]
        if a == _ADD:
            add(oid[i], side[i], price[i], size[i], ts[i], seq[i])
        elif a == _CANCEL:
            cancel(oid[i], size[i], ts[i], seq[i])
        elif a == _MODIFY:
            modify(oid[i], price[i], size[i], ts[i], seq[i])
        else:
            clear()

    return step


def l3_record_loop(cols: dict[str, list[Any]]) -> Callable[[Any], int]:
    names = ("action", "side", "price", "size", "order_id", "flags", "ts_event", "ts_recv")
    act, side, price, size, oid, flags, ts, recv = (cols[f] for f in names)
    seq = cols["sequence"]
    n = len(act)

    def run(book: Any) -> int:
        apply = book.apply
        rejects = 0
        for i in range(n):
            try:
                apply(act[i], side[i], price[i], size[i], oid[i], flags[i], ts[i], recv[i], seq[i])
            except Exception:
                rejects += 1
        return rejects

    return run


def l3_record_step(cols: dict[str, list[Any]], book: Any) -> Callable[[int], None]:
    names = ("action", "side", "price", "size", "order_id", "flags", "ts_event", "ts_recv")
    act, side, price, size, oid, flags, ts, recv = (cols[f] for f in names)
    seq = cols["sequence"]
    apply = book.apply

    def step(i: int) -> None:
        apply(act[i], side[i], price[i], size[i], oid[i], flags[i], ts[i], recv[i], seq[i])

    return step


def l2_loop(cols: dict[str, list[Any]]) -> Callable[[Any], int]:
    act, side, price, size = (cols[f] for f in ("action", "side", "price", "size"))
    ts, seq = cols["ts_event"], cols["sequence"]
    n = len(act)

    def run(book: Any) -> int:
        set_, clear = book.set, book.clear
        rejects = 0
        for i in range(n):
            try:
                if act[i] == _SET:
                    set_(side[i], price[i], size[i], ts[i], seq[i])
                else:
                    clear(side[i] if side[i] != Side.NONE else None)
            except Exception:
                rejects += 1
        return rejects

    return run


def l2_step(cols: dict[str, list[Any]], book: Any) -> Callable[[int], None]:
    act, side, price, size = (cols[f] for f in ("action", "side", "price", "size"))
    ts, seq = cols["ts_event"], cols["sequence"]
    set_, clear = book.set, book.clear

    def step(i: int) -> None:
        if act[i] == _SET:
            set_(side[i], price[i], size[i], ts[i], seq[i])
        else:
            clear(side[i] if side[i] != Side.NONE else None)

    return step


def _nt_cols(cols: dict[str, list[Any]]) -> tuple[list[Any], ...]:
    if "reset" not in cols:
        cols["reset"] = [bool(f & _RESET) for f in cols["flags"]]
    names = ("side", "operation", "position", "price", "size", "ts_event", "sequence", "reset")
    return tuple(cols[f] for f in names)


def ladder_loop(cols: dict[str, list[Any]]) -> Callable[[Any], int]:
    side, op, pos, price, size, ts, seq, reset = _nt_cols(cols)
    n = len(side)

    def run(book: Any) -> int:
        apply = book.apply
        rejects = 0
        for i in range(n):
            try:
                apply(side[i], op[i], pos[i], price[i], size[i], ts[i], seq[i], reset[i])
            except Exception:
                rejects += 1
        return rejects

    return run


def ladder_step(cols: dict[str, list[Any]], book: Any) -> Callable[[int], None]:
    side, op, pos, price, size, ts, seq, reset = _nt_cols(cols)
    apply = book.apply

    def step(i: int) -> None:
        apply(side[i], op[i], pos[i], price[i], size[i], ts[i], seq[i], reset[i])

    return step


class NoopBook:
    """Methods that do nothing: the per-event loop's own cost (the ceiling for any book)."""

    def __init__(self, instrument: Any = None) -> None:
        self.instrument = instrument

    def add(self, *args: Any) -> None:
        return None

    cancel = modify = clear = set = apply = add


# ---------------------------------------------------------------------------- book kinds


@dataclass(slots=True)
class Kind:
    """One book under test, its baseline, the stream it eats and how to feed it."""

    key: str
    title: str
    module: str
    cls_name: str
    baseline: type
    batch_method: str
    stream: str  # Streams.lists name
    loop: Callable[[dict[str, list[Any]]], Callable[[Any], int]]
    step: Callable[[dict[str, list[Any]], Any], Callable[[int], None]]
    array: np.ndarray | None = None
    ours: type | None = None
    missing: str | None = None
    checks: list[str] = field(default_factory=list)

    def load(self) -> None:
        try:
            self.ours = getattr(importlib.import_module(self.module), self.cls_name)
        except (ImportError, AttributeError) as exc:
            self.missing = f"{self.module}.{self.cls_name} not available: {exc}"


def kinds(streams: Streams) -> list[Kind]:
    out = [
        Kind(
            "l3",
            "L3",
            "orderflow.book.l3",
            "OrderBook",
            BaselineL3Book,
            "apply_mbo",
            "mbo_book",
            l3_loop,
            l3_step,
            streams.mbo,
        ),
        Kind(
            "l2",
            "L2 price-level",
            "orderflow.book.levels",
            "LevelBook",
            BaselineLevelBook,
            "apply_deltas",
            "level",
            l2_loop,
            l2_step,
            streams.level,
        ),
        Kind(
            "ladder",
            "L2 NT ladder",
            "orderflow.book.ladder",
            "LadderBook",
            BaselineLadderBook,
            "apply_events",
            "nt",
            ladder_loop,
            ladder_step,
            streams.nt,
        ),
    ]
    for k in out:
        k.load()
        if k.array is None and k.missing is None:
            k.missing = f"{k.stream} stream not available: {streams.nt_error}"
    return out


# ---------------------------------------------------------------------------- measurements


def _lat_row(r: Result, samples: np.ndarray, unit: str) -> Result:
    r.p50_ns, r.p99_ns = percentiles(samples)
    r.lat_unit = unit
    return r


Impls = list[tuple[str, type]]


def batch_task(
    k: Kind, impls: Impls, streams: Streams, seconds: float, record_depth: int = 0
) -> Task:
    arr = k.array
    assert arr is not None
    inst = streams.instrument
    pair = f"{k.key}:batch" + (f"+depth{record_depth}" if record_depth else "")
    name = f"{k.title} batch {k.batch_method}" + (
        f"(record_depth={record_depth})" if record_depth else ""
    )

    def call(book: Any) -> Any:
        return getattr(book, k.batch_method)(arr, record_depth)

    def run(progress: Progress) -> list[Result]:
        cases = {impl: Case(call, len(arr), partial(cls, inst)) for impl, cls in impls}
        tps = measure_many(cases, seconds, progress=progress)
        rows = []
        for impl, cls in impls:
            tp = tps[impl]
            r = Result(SUITE, pair, impl, name, tp.events_per_s, seconds=tp.seconds, calls=tp.calls)
            r = _lat_row(r, np.asarray(tp.call_ns, dtype=np.float64), f"call ({len(arr):,} ev)")
            r.extra["batch_ns_per_call_median"] = float(np.median(tp.call_ns))
            r.extra["mean_events_per_s"] = tp.mean_events_per_s
            if record_depth:
                r.extra["boundaries"] = int(np.count_nonzero(streams.lists(k.stream)["boundary"]))
            else:
                book = cls(inst)
                res = call(book)
                rej = getattr(res, "rejected_total", None)
                if rej:
                    r.note = f"{impl} {k.title} batch rejected {rej} events: {res.rejected}"
                r.extra["final_depth"] = _depth_lists(book.depth(DEPTH_N))
            rows.append(r)
        return rows

    return Task(name, run)


def per_event_task(
    k: Kind,
    impls: Impls,
    streams: Streams,
    seconds: float,
    overhead: float,
    *,
    record: bool = False,
) -> Task:
    stream = "mbo" if record else k.stream
    cols = streams.lists(stream)
    loop = l3_record_loop(cols) if record else k.loop(cols)
    step_of = l3_record_step if record else k.step
    n = len(cols["flags"])
    inst = streams.instrument
    what = "apply(record)" if record else "per-event methods"
    pair = f"{k.key}:{'record' if record else 'event'}"
    name = f"{k.title} {what}, Python loop"

    def run(progress: Progress) -> list[Result]:
        rejects: dict[str, list[int]] = {impl: [] for impl, _ in impls}

        def case(impl: str, cls: type) -> Case:
            return Case(lambda b: rejects[impl].append(loop(b)), n, partial(cls, inst))

        tps = measure_many(
            {impl: case(impl, cls) for impl, cls in impls}, seconds, progress=progress
        )
        rows = []
        for impl, cls in impls:
            tp = tps[impl]
            r = Result(SUITE, pair, impl, name, tp.events_per_s, seconds=tp.seconds, calls=tp.calls)
            r.extra["mean_events_per_s"] = tp.mean_events_per_s
            samples = latencies(
                step_of(cols, cls(inst)), n, overhead_ns=overhead, progress=progress
            )
            rows.append(_lat_row(r, samples, "event"))
            if cls is NoopBook:
                r.note = (
                    f"{name} [{impl}]: the same loop against methods that do nothing; "
                    "its cost is part of every per-event row above"
                )
            elif rejects[impl] and rejects[impl][-1]:
                r.note = f"{impl} {name}: {rejects[impl][-1]} of {n:,} calls raised (rejected)"
        return rows

    return Task(name, run)


def reads_task(k: Kind, impls: Impls, streams: Streams, seconds: float, overhead: float) -> Task:
    cols = streams.lists(k.stream)
    bnd = cols["boundary"]
    n = len(bnd)
    inst = streams.instrument
    nb = sum(bnd)
    reads: dict[str, Callable[[Any], Callable[[], Any]]] = {
        "top()": lambda b: b.top,
        f"depth({DEPTH_N})": lambda b: partial(b.depth, DEPTH_N),
    }

    def replay(cls: type, read_of: Callable[[Any], Callable[[], Any]], out: list[int]) -> int:
        book = cls(inst)
        step, read = k.step(cols, book), read_of(book)
        pc = _pc
        spent = 0
        for i in range(n):
            step(i)
            if bnd[i]:
                t0 = pc()
                read()
                dt = pc() - t0
                out.append(dt)
                spent += dt
        return spent

    def run(progress: Progress) -> list[Result]:
        combos = [(label, impl, cls) for label in reads for impl, cls in impls]
        samples: dict[tuple[str, str], list[int]] = {(lb, im): [] for lb, im, _ in combos}
        for label, _impl, cls in combos:
            replay(cls, reads[label], [])  # numba compiles the read kernels on first use
        # Replays interleaved until each has ``seconds`` of wall time (reads are timed inside).
        wall = dict.fromkeys(samples, 0.0)
        while any(w < seconds for w in wall.values()):
            for label, impl, cls in combos:
                t0 = time.perf_counter()
                replay(cls, reads[label], samples[label, impl])
                wall[label, impl] += time.perf_counter() - t0
                progress.tick()
        rows = []
        for label, impl, _cls in combos:
            arr = np.maximum(np.asarray(samples[label, impl], dtype=np.float64) - overhead, 0.0)
            total_s = float(arr.sum()) / 1e9
            name = f"{k.title} read {label} at boundaries"
            r = Result(
                SUITE,
                f"{k.key}:read-{label}",
                impl,
                name,
                len(arr) / total_s if total_s else None,
                unit="reads",
                seconds=total_s,
                calls=len(arr),
            )
            r.extra["boundaries_per_replay"] = nb
            rows.append(_lat_row(r, arr, "boundary"))
        return rows

    return Task(f"{k.title} reads top()/depth({DEPTH_N}) at boundaries", run)


def memory_task(k: Kind, impl: str, cls: type, streams: Streams) -> Task:
    cols = streams.lists(k.stream)
    inst = streams.instrument
    loop = k.loop(cols)

    def build() -> Any:
        book = cls(inst)
        loop(book)
        return book

    def run(progress: Progress) -> list[Result]:
        del progress
        build()  # warm: compile and first-use allocations do not count
        mem = peak_memory(build)
        r = Result(SUITE, f"{k.key}:memory", impl, f"{k.title} memory: book after whole stream")
        r.peak_bytes, r.retained_bytes, r.rss_growth_bytes = (
            mem.peak_bytes,
            mem.retained_bytes,
            mem.rss_growth_bytes,
        )
        return [r]

    return Task(f"{k.title} memory [{impl}]", run)


def _depth_lists(d: dict[str, Any]) -> dict[str, list[int]]:
    """Depth as lists of (price, size) without padding, for comparing two books."""
    out = {}
    for side in ("bid", "ask"):
        prices = [int(p) for p in d[f"{side}_price"]]
        sizes = [int(s) for s in d[f"{side}_size"]]
        out[side] = [(p, s) for p, s in zip(prices, sizes, strict=True) if p != NO_PRICE]
    return out


# ---------------------------------------------------------------------------- the suite


def tasks(streams: Streams, seconds: float) -> tuple[list[Task], list[str]]:
    """Every measurement of the suite, and what could not be measured (and why)."""
    overhead = timer_overhead_ns()
    out: list[Task] = []
    skipped: list[str] = []
    for k in kinds(streams):
        if k.array is None:
            skipped.append(f"{k.title}: {k.missing}")
            continue
        impls: Impls = [("baseline", k.baseline)]
        if k.ours is None:
            skipped.append(f"{k.title} (ours): {k.missing}; baseline rows only")
        else:
            impls.insert(0, ("ours", k.ours))
        noop: Impls = [("no-op", NoopBook)]
        out.append(batch_task(k, impls, streams, seconds))
        out.append(per_event_task(k, impls + noop, streams, seconds, overhead))
        if k.key == "l3":
            out.append(per_event_task(k, impls, streams, seconds, overhead, record=True))
        out.append(reads_task(k, impls, streams, seconds, overhead))
        out.append(batch_task(k, impls, streams, seconds, record_depth=DEPTH_N))
        for impl, cls in impls:
            out.append(memory_task(k, impl, cls, streams))
    return out, skipped


def _find(results: list[Result], pair: str, impl: str = "ours") -> Result | None:
    return next((r for r in results if r.pair == pair and r.impl == impl), None)


def derived_notes(results: list[Result]) -> None:
    """Per-boundary cost of recording depth in a batch, and final-state agreement (in place)."""
    for key in ("l3", "l2", "ladder"):
        for impl in ("ours", "baseline"):
            plain, rec = (
                _find(results, f"{key}:batch", impl),
                _find(results, f"{key}:batch+depth{DEPTH_N}", impl),
            )
            if plain and rec and rec.extra.get("boundaries"):
                extra = (
                    rec.extra["batch_ns_per_call_median"] - plain.extra["batch_ns_per_call_median"]
                )
                per = extra / rec.extra["boundaries"]
                rec.extra["record_ns_per_boundary"] = per
                rec.note = (
                    f"{rec.name} [{impl}]: recording top {DEPTH_N} adds ~{per:,.0f} ns per "
                    f"boundary ({rec.extra['boundaries']:,} boundaries), batch medians compared"
                )
        ours, base = _find(results, f"{key}:batch"), _find(results, f"{key}:batch", "baseline")
        if ours and base:
            same = ours.extra.get("final_depth") == base.extra.get("final_depth")
            ours.extra["final_top10_matches_baseline"] = same
            if not same:
                a, b = ours.extra.get("final_depth") or {}, base.extra.get("final_depth") or {}
                msg = (
                    f"{ours.name}: final top {DEPTH_N} differs from the baseline's "
                    f"(ours bid {a.get('bid', [])[:2]} ask {a.get('ask', [])[:2]}; "
                    f"baseline bid {b.get('bid', [])[:2]} ask {b.get('ask', [])[:2]})"
                )
                ours.note = f"{ours.note}; {msg}" if ours.note else msg


def summary(results: list[Result]) -> list[str]:
    """The goals beside the measured figures (informational, never pass/fail)."""

    def rate(pair: str) -> float | None:
        r = _find(results, pair)
        return r.events_per_s if r else None

    def vs(x: float | None, goal: float) -> str:
        if x is None:
            return "not measured"
        return f"{fmt_rate(x)}/s = {x / goal:.2f} of goal"

    g = GOALS
    lines = [
        "Goals, one core, ours:",
        f"  batch L3 >= {fmt_rate(g['batch_l3'])}/s: {vs(rate('l3:batch'), g['batch_l3'])}",
        f"  batch L2 >= {fmt_rate(g['batch_l2'])}/s: price-level "
        f"{vs(rate('l2:batch'), g['batch_l2'])}; NT ladder "
        f"{vs(rate('ladder:batch'), g['batch_l2'])}",
        f"  per event from Python >= {fmt_rate(g['per_event'])}/s: L3 "
        f"{vs(rate('l3:event'), g['per_event'])}; L3 apply(record) "
        f"{vs(rate('l3:record'), g['per_event'])}; price-level "
        f"{vs(rate('l2:event'), g['per_event'])}; NT ladder "
        f"{vs(rate('ladder:event'), g['per_event'])}",
        REFERENCE,
    ]
    return lines
