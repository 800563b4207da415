"""The fixed cost of one Pipeline call, in CPU time, on ESH4.

Four ways of feeding the pipeline small calls, each a fresh pipeline per pass after one warm-up
pass (JIT, first use):

- ``group``: one MBO event group per ``Pipeline.process`` (the live path in process);
- ``nt1``: one NinjaTrader batch (one event group and its prints) per ``process_batch``, as the
  server's hub calls it;
- ``nt100``: the bridge's batches of at least 100 depth events per ``process_batch``;
- ``piece100``: ESH4's MBO records in pieces of about 100 (ending at the first event end at or
  after every 100 records: what a backtest deciding every 100 records feeds);
- ``chunks``: the same records in replay chunks of 65,536 (after a first call of one record),
  the reference ``piece100`` is compared with (its "per call" is per chunk).

Per case: CPU time per call (``time.thread_time_ns`` around each pass, divided by its calls:
no timer inside the loop) and the p50 / p99 of the wall time of each call
(``perf_counter_ns`` pairs, their own cost taken off). ``--profile CASE`` prints a cProfile of
one pass instead.

``--backtest N``: the whole backtest deciding every 100 records and the pipeline alone in
replay chunks (``bench_backtest.full_backtest``, ``run_stream``), alternated N times, each run's
CPU time (``process_time``), and inside the backtest the CPU time of its ``Pipeline.process``
calls (``thread_time_ns`` around each, about 0.5 us of timer per call included).

    PYTHONPATH=src:benchmarks python benchmarks/bench_callcost.py --passes 5
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from orderflow.engine import Pipeline
from orderflow.io.formats import load_stream
from orderflow.io.nt_feed import nt_batches
from orderflow.model.enums import Flags
from streams import ESH4_MBO

CASES = ("group", "nt1", "nt100", "piece100", "chunks")


def _pieces(ev: np.ndarray, every: int) -> list[np.ndarray]:
    """``ev`` cut at the first event end at or after every ``every`` records."""
    ends = np.flatnonzero((ev["flags"] & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST) + 1
    out, start = [], 0
    for end in ends.tolist():
        if end - start >= every:
            out.append(ev[start:end])
            start = end
    if start < len(ev):
        out.append(ev[start:])
    return out


def feeds() -> dict[str, tuple[str, Any, list[Callable[[Pipeline], Any]]]]:
    """Per case: the stream kind, the instrument and one closure per call."""
    stream = load_stream(ESH4_MBO)
    ev, inst = stream.array, stream.instrument
    out: dict[str, tuple[str, Any, list[Callable[[Pipeline], Any]]]] = {}
    groups = _pieces(ev, 1)
    out["group"] = ("mbo", inst, [partial(Pipeline.process, events=g) for g in groups])
    pieces = _pieces(ev, 100)
    out["piece100"] = ("mbo", inst, [partial(Pipeline.process, events=g) for g in pieces])
    chunks = [ev[:1], *(ev[k : k + 65_536] for k in range(1, len(ev), 65_536))]
    out["chunks"] = ("mbo", inst, [partial(Pipeline.process, events=g) for g in chunks])
    for name, k in (("nt1", 1), ("nt100", 100)):
        cut = nt_batches(stream, 10, k)
        out[name] = ("nt_depth", inst, [partial(Pipeline.process_batch, depth=b.depth,
                                                trades=b.trades) for b in cut])  # fmt: skip
    return out


def one_pass(kind: str, inst: Any, calls: list[Callable[[Pipeline], Any]]) -> tuple[float, ...]:
    """(CPU ns per call, p50 wall ns, p99 wall ns) of one pass on a fresh pipeline."""
    pipe = Pipeline(inst, kind)
    calls[0](pipe)
    rest = calls[1:]
    t0 = time.thread_time_ns()
    for c in rest:
        c(pipe)
    cpu = (time.thread_time_ns() - t0) / len(rest)
    pipe = Pipeline(inst, kind)
    calls[0](pipe)
    pc = time.perf_counter_ns
    lat = np.empty(len(rest))
    for k, c in enumerate(rest):
        t = pc()
        c(pipe)
        lat[k] = pc() - t
    over = min(-pc() + pc() for _ in range(1000))  # (left to right: the pair's own cost)
    p50, p99 = np.percentile(lat - over, [50, 99])
    return cpu, float(p50), float(p99)


def backtest(runs: int) -> None:
    """See the module docstring (``--backtest``)."""
    from bench_backtest import CHUNK, cpu_timed, full_backtest
    from orderflow.engine.runner import run_stream

    stream = load_stream(ESH4_MBO)
    ev, inst = stream.array, stream.instrument
    inner: dict[Any, int] = {0: 0}
    process = Pipeline.process
    timed = cpu_timed(process, inner)

    full_backtest(ev, inst, CHUNK, 100)  # warm
    run_stream("mbo", ev, inst, chunk=CHUNK)
    bt, alone, pipe = [], [], []
    for _ in range(runs):
        t = time.process_time()
        run_stream("mbo", ev, inst, chunk=CHUNK)
        alone.append(time.process_time() - t)
        inner[0] = 0
        Pipeline.process = timed  # type: ignore[method-assign]
        try:
            t = time.process_time()
            full_backtest(ev, inst, CHUNK, 100)
            bt.append(time.process_time() - t)
        finally:
            Pipeline.process = process  # type: ignore[method-assign]
        pipe.append(inner[0] / 1e9)
    for name, v in (("backtest deciding every 100", bt), ("  its Pipeline.process", pipe),
                    ("pipeline alone, chunks", alone)):  # fmt: skip
        v = sorted(v)
        print(f"{name:30s} CPU ms best {v[0] * 1e3:7.1f} median {v[len(v) // 2] * 1e3:7.1f}")
    r = sorted(a / b for a, b in zip(alone, bt, strict=True))
    print(f"every 100 / pipeline alone (per run): best {r[-1]:.3f} median {r[len(r) // 2]:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--profile", choices=CASES)
    ap.add_argument("--backtest", type=int, default=0, metavar="N")
    args = ap.parse_args()
    if args.backtest:
        backtest(args.backtest)
        return
    fd = feeds()
    if args.profile:
        import cProfile
        import pstats

        kind, inst, calls = fd[args.profile]
        one_pass(kind, inst, calls)
        pipe = Pipeline(inst, kind)
        calls[0](pipe)
        prof = cProfile.Profile()
        prof.enable()
        for c in calls[1:]:
            c(pipe)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    with open("/proc/loadavg") as f:
        print("load", f.read().split()[:3])
    for name in args.cases.split(","):
        kind, inst, calls = fd[name]
        one_pass(kind, inst, calls)  # warm-up
        runs = [one_pass(kind, inst, calls) for _ in range(args.passes)]
        cpu = sorted(r[0] for r in runs)
        p50 = sorted(r[1] for r in runs)
        p99 = sorted(r[2] for r in runs)
        print(f"{name:9s} {len(calls) - 1:6d} calls  CPU/call us best {cpu[0] / 1e3:6.2f} "
              f"median {cpu[len(cpu) // 2] / 1e3:6.2f}   wall p50 {p50[len(p50) // 2] / 1e3:6.2f}"
              f"  p99 {p99[len(p99) // 2] / 1e3:6.2f}   pass CPU ms best "
              f"{cpu[0] * (len(calls) - 1) / 1e6:6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
