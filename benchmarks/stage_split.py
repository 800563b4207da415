"""Where a replay chunk's time goes: each stage of the pipeline alone on the recorded ESH4 arrays,
in CPU nanoseconds per event group.

    PYTHONPATH=src python benchmarks/stage_split.py [--reps 15] [NAME ...]

Each stage runs on what it reads in the pipeline (the top 10 recorded by the L3 book at every
boundary, the prints and their groups, the mid and imbalance of every group), a fresh component
per run, so growth is counted as in a replay. The time is the process's CPU time
(``time.thread_time_ns``), not the wall clock: on a shared machine a run that is descheduled
does not count, which makes two trees comparable in one sitting (run this script with each on
``PYTHONPATH``, interleaved). Names filter the stages (substring match). Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from orderflow.analytics.book_metrics import BookMetrics, trade_offsets
from orderflow.analytics.clusters import LiquidityClusterTracker
from orderflow.analytics.momentum import Momentum
from orderflow.analytics.trades import trades_from_mbo
from orderflow.book.l3 import OrderBook
from orderflow.engine import PipelineParams
from orderflow.engine.runner import run_stream
from orderflow.io.dbn import read_mbo
from orderflow.model.enums import Action
from orderflow.signals.detectors_l2 import detect_l2, mbo_trades
from orderflow.signals.detectors_l3 import best_before_groups, detect_l3
from streams import ESH4_MBO


def stages() -> tuple[dict[str, Callable[[], object]], int]:
    ev, inst = read_mbo(ESH4_MBO)
    depth = OrderBook(inst).apply_mbo(ev, record_depth=10).depth
    assert depth is not None
    trades = trades_from_mbo(ev)
    off = trade_offsets(depth, trades, np.flatnonzero(ev["action"] == Action.TRADE))
    rec = BookMetrics(width=10).update_many(depth, trades, off)
    mid, imb = rec.mid.copy(), rec.imbalance.copy()
    best = best_before_groups(ev, inst, depth.bid_price[:, 0], depth.ask_price[:, 0])
    l2t, l2g = mbo_trades(ev)
    bare = PipelineParams(detectors=frozenset())
    return {
        "book alone": lambda: OrderBook(inst).apply_mbo(ev),
        "book + top 10 at every boundary": lambda: OrderBook(inst).apply_mbo(ev, record_depth=10),
        "book metrics (update_many)": lambda: BookMetrics(width=10).update_many(depth, trades, off),
        "momentum (update_many)": lambda: Momentum().update_many(
            depth.ts_event, mid, imb, trades, off
        ),
        "liquidity clusters (update_depth)": lambda: LiquidityClusterTracker().update_depth(depth),
        "L3 detectors (detect_l3)": lambda: detect_l3(ev, "ESH4", best=best),
        "L2 detectors (detect_l2)": lambda: detect_l2(depth, l2t, "ESH4", trade_group=l2g),
        "full pipeline (run_stream)": lambda: run_stream("mbo", ev, inst),
        "pipeline without detectors": lambda: run_stream("mbo", ev, inst, bare),
    }, len(depth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    cases, groups = stages()
    cases = {k: f for k, f in cases.items() if not args.names or any(n in k for n in args.names)}
    for f in cases.values():  # compile and warm
        f()
    ns: dict[str, list[int]] = {k: [] for k in cases}
    for _ in range(args.reps):  # interleaved: a slow spell of the machine hits every stage
        for k, f in cases.items():
            t0 = time.thread_time_ns()
            f()
            ns[k].append(time.thread_time_ns() - t0)
    print(f"ESH4: {groups:,} event groups; CPU ns per group over {args.reps} runs")
    for k, v in ns.items():
        a = np.array(v) / groups
        print(f"{k:36s} min {a.min():7.1f}   median {np.median(a):7.1f}")


if __name__ == "__main__":
    main()
