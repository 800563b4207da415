"""Where a 100-record piece's extra CPU goes: the same ESH4 records through the pipeline in
replay chunks and in backtest pieces, the fused call split into its parts.

Three feeds, each a fresh pipeline per run, alternated run by run after one warm-up run each:

- ``chunks``: ``run_stream`` in replay chunks of ``--chunk`` records (16,384 by default);
- ``pieces``: the records cut at the first event end at or after every 100 (what a backtest
  deciding every 100 records feeds), ``Pipeline.process`` back to back;
- ``backtest``: ``bench_backtest.full_backtest`` deciding every 100 records (the same pieces,
  with the venue, the node and the strategy between them).

Per feed, the median over the runs of: the run's CPU (``process_time``), its
``Pipeline.process`` calls, the fused kernel's calls (the direct entry ``_MBO.fast``) and, by
difference, the fused step's Python (``FusedStep.mbo`` less its kernel: checks, growth, the
result, the signals' objects) and the pipeline's Python around it (``process`` less
``FusedStep.mbo``). CPU from ``time.thread_time_ns`` around each call; every wrapped call
carries about one timer pair and one Python call of overhead (printed), so compare feeds
with the same number of calls, or take it off.

``--detectors``: the fused step alone (``FusedStep.mbo`` over pieces and over chunks) with
every detector, each one alone and none (``fs[FS_DET]``; the results differ, the cost per
stage is what is measured). ``--between MB``: the kernel over pieces back to back with
``MB`` megabytes read between calls (how much of a piece's cost is state and code gone cold).

    PYTHONPATH=src:benchmarks python benchmarks/bench_pieces.py [--runs 7] [--detectors]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench_backtest import full_backtest
from bench_callcost import _pieces
from orderflow.engine import Pipeline
from orderflow.engine import _fused_kernels as F
from orderflow.engine import fused as FU
from orderflow.engine.runner import run_stream
from orderflow.io.formats import load_stream
from streams import ESH4_MBO

_tt = time.thread_time_ns


class Timed:
    """``thread_time_ns`` around the fused kernel, ``FusedStep.mbo`` and ``Pipeline.process``
    (installed while in a ``with`` block)."""

    def __init__(self) -> None:
        self.ns = {"kernel": 0, "step": 0, "process": 0}
        self._saved: tuple[Any, Any, Any] | None = None

    def reset(self) -> None:
        for k in self.ns:
            self.ns[k] = 0

    def __enter__(self) -> Timed:
        fast, mbo, process = FU._MBO.fast, FU.FusedStep.mbo, Pipeline.process
        assert fast is not None, "warm the pipeline first (the direct entry is taken then)"
        self._saved = (fast, mbo, process)
        ns = self.ns

        def kernel(*a: Any) -> Any:
            t = _tt()
            r = fast(*a)
            ns["kernel"] += _tt() - t
            return r

        def step(s: Any, *a: Any) -> Any:
            t = _tt()
            r = mbo(s, *a)
            ns["step"] += _tt() - t
            return r

        def proc(s: Any, *a: Any, **k: Any) -> Any:
            t = _tt()
            r = process(s, *a, **k)
            ns["process"] += _tt() - t
            return r

        FU._MBO.fast = kernel
        FU.FusedStep.mbo = step  # type: ignore[method-assign,assignment]
        Pipeline.process = proc  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._saved is not None
        FU._MBO.fast, FU.FusedStep.mbo, Pipeline.process = self._saved  # type: ignore[method-assign]


def _load() -> tuple[np.ndarray, Any, list[np.ndarray]]:
    stream = load_stream(ESH4_MBO)
    return stream.array, stream.instrument, _pieces(stream.array, 100)


def _feed(inst: Any, parts: list[np.ndarray]) -> None:
    pipe = Pipeline(inst, "mbo")
    for p in parts:
        pipe.process(p)


def parts(runs: int, chunk: int) -> None:
    """See the module docstring (the default)."""
    ev, inst, pieces = _load()
    feeds: dict[str, Callable[[], object]] = {
        f"chunks of {chunk:,}": lambda: run_stream("mbo", ev, inst, chunk=chunk),
        "pieces back to back": lambda: _feed(inst, pieces),
        "backtest every 100": lambda: full_backtest(ev, inst, chunk, 100),
    }
    for f in feeds.values():
        f()
    rows: dict[str, list[tuple[float, ...]]] = {k: [] for k in feeds}
    with Timed() as tm:
        for _ in range(runs):
            for name, f in feeds.items():
                tm.reset()
                t = time.process_time_ns()
                f()
                run = time.process_time_ns() - t
                ns = tm.ns
                rows[name].append((run, ns["process"], ns["kernel"], ns["step"] - ns["kernel"],
                                   ns["process"] - ns["step"]))  # fmt: skip
    t = _tt()
    for _ in range(10_000):
        _tt()
        _tt()
    pair = (_tt() - t) / 10_000
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[:3], f"timer pair {pair:.0f} ns; CPU ms, median of {runs}")
    print(f"{'':22s} {'run':>7s} {'process':>8s} {'kernel':>7s} {'step py':>8s} {'pipe py':>8s}")
    for name, v in rows.items():
        med = [statistics.median(x[i] for x in v) / 1e6 for i in range(5)]
        print(f"{name:22s} " + " ".join(f"{m:7.1f} " for m in med))


def _step_only(inst: Any, feed: list[np.ndarray], det: int | None) -> int:
    """CPU of ``FusedStep.mbo`` over ``feed`` (after its first part) on a fresh pipeline."""
    pipe = Pipeline(inst, "mbo")
    step = pipe._fused
    assert step is not None
    if det is not None:
        step.fs[F.FS_DET] = det
    pipe.process(feed[0])
    book, pend = pipe.book, None
    t = _tt()
    for p in feed[1:]:
        if pend is not None:
            p = np.concatenate([pend, p])
            pend = None
        *_, cut = step.mbo(book, p)
        if cut < len(p):
            pend = p[cut:].copy()
    return _tt() - t


def detectors(runs: int, chunk: int) -> None:
    """See the module docstring (``--detectors``)."""
    ev, inst, pieces = _load()
    chunks = [ev[a : a + chunk] for a in range(0, len(ev), chunk)]
    cases = {"all": None, "L3 alone": F.DET_L3, "L2 alone": F.DET_L2,
             "pull alone": F.DET_PULL, "none": 0}  # fmt: skip
    res: dict[tuple[str, str], list[int]] = {}
    for _ in range(runs + 1):  # (the first round warms)
        for name, det in cases.items():
            for kind, feed in (("pieces", pieces), ("chunks", chunks)):
                res.setdefault((name, kind), []).append(_step_only(inst, feed, det))
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[:3], f"FusedStep.mbo CPU ms, median of {runs}")
    for name in cases:
        a, b = (statistics.median(res[(name, k)][1:]) / 1e6 for k in ("pieces", "chunks"))
        print(f"detectors {name:11s} pieces {a:6.2f}  chunks {b:6.2f}  pieces more {a - b:5.2f}")


def between(runs: int, mb: list[int]) -> None:
    """See the module docstring (``--between``)."""
    _, inst, pieces = _load()
    junk = {m: np.ones(m * 131_072) for m in mb}

    def one(m: int) -> int:
        pipe = Pipeline(inst, "mbo")
        pipe.process(pieces[0])
        j = junk[m]
        with Timed() as tm:
            for p in pieces[1:]:
                if m:
                    j.sum()
                pipe.process(p)
        return tm.ns["kernel"]

    for m in mb:
        one(m)
    res: dict[int, list[int]] = {m: [] for m in mb}
    for _ in range(runs):
        for m in mb:
            res[m].append(one(m))
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[:3], f"kernel CPU ms over the pieces, median of {runs}")
    for m in mb:
        print(f"{m:3d} MB read between calls: {statistics.median(res[m]) / 1e6:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=16_384)
    ap.add_argument("--detectors", action="store_true")
    ap.add_argument("--between", type=int, nargs="*", metavar="MB")
    args = ap.parse_args()
    if args.detectors:
        detectors(args.runs, args.chunk)
    elif args.between is not None:
        between(args.runs, [0, *args.between] if 0 not in args.between else args.between)
    else:
        parts(args.runs, args.chunk)


if __name__ == "__main__":
    main()
