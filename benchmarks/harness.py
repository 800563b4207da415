"""A small benchmark harness: throughput, latency percentiles, peak memory, ratio tables.

Figures are never pass/fail: every measurement names the baseline it is compared with, both run
in the same process, and the table prints the ratio. Suites (books now; analytics, server and
backtest later) build :class:`Result` rows with :func:`measure`, :func:`latencies` and
:func:`peak_memory` and hand them to :func:`render_table`.

- ``measure(fn, events_per_call, seconds)``: call ``fn`` (after untimed warm-up calls, which is
  where numba compiles) until at least ``seconds`` have passed in it; events/s from the median
  call. An optional ``setup`` runs untimed before each call and its result is passed to ``fn``.
  ``measure_many`` does the same for several cases with their calls interleaved, so that load
  from other processes falls on a measurement and its baseline alike.
- ``latencies(fn, n)``: time ``fn(i)`` for ``i in range(n)`` one call at a time; the cost of
  the timer itself (calibrated) is subtracted.
- ``peak_memory(fn)``: tracemalloc peak and retained bytes of one call in a separate pass, and
  the growth of the process's peak RSS (VmHWM, reset through /proc/self/clear_refs; JSON only,
  since a long-lived process reuses freed memory and the figure often reads 0).

The cyclic garbage collector is off while timing (as ``timeit`` does), for every side alike.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Case",
    "Memory",
    "Progress",
    "Result",
    "Throughput",
    "fill_ratios",
    "latencies",
    "measure",
    "measure_many",
    "peak_memory",
    "percentiles",
    "render_table",
    "timer_overhead_ns",
    "write_json",
]

_pc = time.perf_counter_ns


@contextmanager
def _gc_off() -> Iterator[None]:
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# ---------------------------------------------------------------------------- progress


class Progress:
    """One status line on stderr: which measurement, and for how long it has run."""

    def __init__(self, total: int = 0, stream: Any = None, interval: float = 0.25) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.label = ""
        self._t0 = 0.0
        self._last = 0.0
        self._logged = 0.0
        self._run_t0 = time.perf_counter()

    @contextmanager
    def step(self, label: str) -> Iterator[Progress]:
        self.done += 1
        self.label = label
        self._t0 = self._last = time.perf_counter()
        self._write(0.0, final=False, force=True)
        try:
            yield self
        finally:
            self._write(time.perf_counter() - self._t0, final=True, force=True)

    def tick(self) -> None:
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._write(now - self._t0, final=False)

    def _write(self, elapsed: float, final: bool, force: bool = False) -> None:
        total = f"/{self.total}" if self.total else ""
        run = time.perf_counter() - self._run_t0
        msg = f"[{self.done}{total}] {self.label}  {elapsed:5.1f}s  (total {run:5.0f}s)"
        if self.tty:
            self.stream.write("\r\x1b[2K" + msg + ("\n" if final else ""))
            self.stream.flush()
        elif force or final or time.perf_counter() - self._logged >= 5.0:
            # Not a terminal (CI, a log): a line at start and end, and one every 5 s between.
            self._logged = time.perf_counter()
            self.stream.write(msg + (" done\n" if final else " ...\n"))
            self.stream.flush()


_NO_PROGRESS = Progress(stream=open(os.devnull, "w"))  # noqa: SIM115


# ---------------------------------------------------------------------------- timing


@dataclass(slots=True)
class Throughput:
    """Events per second of time spent in the measured function.

    ``events_per_s`` uses the median call (robust to a call preempted on a busy machine);
    ``mean_events_per_s`` divides all events by all time.
    """

    events: int
    seconds: float
    calls: int
    call_ns: list[int]

    @property
    def events_per_call(self) -> float:
        return self.events / self.calls if self.calls else 0.0

    @property
    def events_per_s(self) -> float:
        if not self.call_ns:
            return float("nan")
        return self.events_per_call / (float(np.median(self.call_ns)) / 1e9)

    @property
    def mean_events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


@dataclass(slots=True)
class Case:
    """One side of a comparison for :func:`measure_many`."""

    fn: Callable[..., Any]
    events_per_call: int
    setup: Callable[[], Any] | None = None


def _timed_call(case: Case) -> int:
    if case.setup is not None:
        arg = case.setup()
        t0 = _pc()
        case.fn(arg)
        return _pc() - t0
    t0 = _pc()
    case.fn()
    return _pc() - t0


def measure(
    fn: Callable[..., Any],
    events_per_call: int,
    seconds: float,
    *,
    setup: Callable[[], Any] | None = None,
    warmup: int = 1,
    progress: Progress | None = None,
) -> Throughput:
    """Call ``fn`` until ``seconds`` of timed calls have passed (at least one call).

    ``warmup`` untimed calls come first (numba compiles on its first call). With ``setup``,
    ``fn(setup())`` is called and only ``fn`` is timed (e.g. a fresh book per call).
    """
    case = Case(fn, events_per_call, setup)
    return measure_many({"": case}, seconds, warmup=warmup, progress=progress)[""]


def measure_many(
    cases: dict[str, Case],
    seconds: float,
    *,
    warmup: int = 1,
    progress: Progress | None = None,
) -> dict[str, Throughput]:
    """Like :func:`measure` for several cases at once, calls interleaved round-robin until each
    case has ``seconds`` of timed calls, so a change in machine load hits every case alike
    (ratios between them stay fair on a shared machine)."""
    progress = progress or _NO_PROGRESS
    for case in cases.values():
        for _ in range(warmup):
            case.fn(case.setup()) if case.setup else case.fn()
            progress.tick()
    calls: dict[str, list[int]] = {name: [] for name in cases}
    spent = dict.fromkeys(cases, 0)
    budget = int(seconds * 1e9)
    with _gc_off():
        while True:
            pending = [n for n in cases if spent[n] < budget or not calls[n]]
            if not pending:
                break
            for name in pending:
                dt = _timed_call(cases[name])
                calls[name].append(dt)
                spent[name] += dt
                progress.tick()
    return {
        name: Throughput(
            case.events_per_call * len(calls[name]),
            spent[name] / 1e9,
            len(calls[name]),
            calls[name],
        )
        for name, case in cases.items()
    }


def timer_overhead_ns(samples: int = 20_000) -> float:
    """Median cost of one ``perf_counter_ns`` pair around an empty call."""

    def nothing(_: int) -> None:
        return None

    out = np.empty(samples, dtype=np.int64)
    for i in range(samples):
        t0 = _pc()
        nothing(i)
        out[i] = _pc() - t0
    return float(np.median(out))


def latencies(
    fn: Callable[[int], Any],
    n: int,
    *,
    overhead_ns: float | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Nanoseconds of each ``fn(i)``, ``i in range(n)``, timer overhead subtracted (>= 0)."""
    progress = progress or _NO_PROGRESS
    if overhead_ns is None:
        overhead_ns = timer_overhead_ns()
    out = [0] * n
    pc = _pc
    with _gc_off():
        for i in range(n):
            t0 = pc()
            fn(i)
            out[i] = pc() - t0
            if not i & 0xFFF:
                progress.tick()
    arr = np.asarray(out, dtype=np.float64) - overhead_ns
    return np.maximum(arr, 0.0)


def percentiles(samples_ns: np.ndarray | Sequence[float]) -> tuple[float, float]:
    """(p50, p99) of latency samples in nanoseconds."""
    if len(samples_ns) == 0:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.asarray(samples_ns, dtype=np.float64), [50, 99])
    return float(p50), float(p99)


# ---------------------------------------------------------------------------- memory


@dataclass(slots=True)
class Memory:
    """Peak and retained Python-heap bytes (tracemalloc) of one call, and peak-RSS growth."""

    peak_bytes: int
    retained_bytes: int
    rss_growth_bytes: int | None


def _vm_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory(fn: Callable[[], Any]) -> Memory:
    """Memory of one call of ``fn``; what it returns is kept alive until measured (retained).

    tracemalloc sees Python objects and numpy buffers allocated from Python; buffers numba
    allocates inside jitted code bypass it, which the RSS growth figure still catches.
    """
    gc.collect()
    rss_ok = _reset_rss_peak()
    rss0 = _vm_kb("VmRSS:")
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        kept = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hwm = _vm_kb("VmHWM:")
    rss = None
    if rss_ok and rss0 is not None and hwm is not None:
        rss = max(0, hwm - rss0) * 1024
    del kept
    return Memory(peak - base, current - base, rss)


# ---------------------------------------------------------------------------- results


@dataclass(slots=True)
class Result:
    """One row of the table. ``pair`` groups a measurement with its baseline row."""

    suite: str
    pair: str
    impl: str  # "ours" or "baseline" (or "reference" for rows that are neither)
    name: str
    events_per_s: float | None = None
    unit: str = "ev"  # what events_per_s counts: events, boundaries, ...
    p50_ns: float | None = None
    p99_ns: float | None = None
    lat_unit: str = ""  # what one latency sample is: "event", "boundary", "call"
    peak_bytes: int | None = None
    retained_bytes: int | None = None
    rss_growth_bytes: int | None = None
    ratio: float | None = None  # events/s over the baseline's
    mem_ratio: float | None = None  # peak bytes over the baseline's
    seconds: float | None = None
    calls: int | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def fill_ratios(results: list[Result]) -> None:
    """Ratios of every row of a pair against that pair's baseline row (in place)."""
    base = {r.pair: r for r in results if r.impl == "baseline"}
    for r in results:
        b = base.get(r.pair)
        if b is None:
            continue
        if r.events_per_s and b.events_per_s:
            r.ratio = r.events_per_s / b.events_per_s
        if r.peak_bytes is not None and b.peak_bytes:
            r.mem_ratio = r.peak_bytes / b.peak_bytes


def fmt_rate(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.2f}{suf}"
    return f"{x:.0f}"


def fmt_ns(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}ms"
    if x >= 1e3:
        return f"{x / 1e3:.2f}us"
    return f"{x:.0f}ns"


def fmt_bytes(x: int | None) -> str:
    if x is None:
        return "-"
    for div, suf in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if x >= div:
            return f"{x / div:.1f}{suf}"
    return f"{x}B"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


_COLUMNS = (
    ("measurement", "<"),
    ("impl", "<"),
    ("rate/s", ">"),
    ("vs base", ">"),
    ("p50", ">"),
    ("p99", ">"),
    ("per", "<"),
    ("peak mem", ">"),
    ("retained", ">"),
    ("mem vs base", ">"),
)


def _row(r: Result) -> list[str]:
    rate = fmt_rate(r.events_per_s)
    if r.events_per_s is not None and r.unit != "ev":
        rate += f" {r.unit}"
    return [
        r.name,
        r.impl,
        rate,
        fmt_ratio(r.ratio),
        fmt_ns(r.p50_ns),
        fmt_ns(r.p99_ns),
        r.lat_unit,
        fmt_bytes(r.peak_bytes),
        fmt_bytes(r.retained_bytes),
        fmt_ratio(r.mem_ratio),
    ]


def render_table(results: list[Result]) -> str:
    """A plain-text table, one block per suite/pair group, notes under the table."""
    rows: list[list[str] | None] = []
    last_group = None
    notes: list[str] = []
    for r in results:
        group = (r.suite, r.pair.split(":")[0])
        if last_group is not None and group != last_group:
            rows.append(None)
        last_group = group
        cells = _row(r)
        if r.note:
            notes.append(r.note)
            cells[0] += f" [{len(notes)}]"
        rows.append(cells)
    header = [c for c, _ in _COLUMNS]
    widths = [len(h) for h in header]
    for cells in rows:
        if cells:
            widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [f"{c:{a}{w}}" for c, (_, a), w in zip(cells, _COLUMNS, widths, strict=True)]
        return "  ".join(parts).rstrip()

    sep = "  ".join("-" * w for w in widths)
    out = [line(header), sep]
    for cells in rows:
        out.append(line(cells) if cells else "")
    if notes:
        out.append("")
        out.extend(f"[{i}] {n}" for i, n in enumerate(notes, 1))
    return "\n".join(out)


def write_json(path: str | Path, results: list[Result], meta: dict[str, Any]) -> None:
    """Results and run metadata as JSON (floats as measured, NaN as null)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    doc = {"meta": meta, "results": [clean(asdict(r)) for r in results]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")
