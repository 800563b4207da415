"""Sweep benchmark: the speed-up of a parameter sweep from 1 to 2 processes.

The same 8 jobs (the reference strategy on the ESH4 hour, stop 6/8/12/16 ticks x entry score
1/1.5: the grid of ``tests/unit/research/test_sweep.py``, the strategy asked every 25 records
so a job is about 1 s, not 0.3 s: a sweep's jobs are long next to a worker's start) are run,
wall time end to end:

- ``1 process (pool)``: a pool of one worker process (the baseline: the pool's start-up, the
  worker's imports and kernel loads, then the 8 backtests one after the other);
- ``2 processes (pool, forkserver)``: a pool of two, the sweep's default on Linux;
- ``2 processes (pool, spawn)``: the same with ``spawn`` (each worker a fresh interpreter);

The rate is jobs per second; 'vs base' of the two-process rows is the speed-up. A row is a
whole sweep (what a user waits for), run twice with the cases interleaved, the faster kept: on
a shared machine the figures still move with its load. The results are checked to be the same
in every run.

    .venv/bin/python benchmarks/bench_sweep.py            (standalone)
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import Progress, Result
from orderflow.research.sweep import comparable, grid_jobs, run_pool

SUITE = "sweep"
PAIR = "sweep:esh4x8"
GRID = {
    "trading.strategy.stop_loss_ticks": [6, 8, 12, 16],
    "trading.strategy.entry_score": [1.0, 1.5],
}


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _rows(path: str, rounds: int = 2) -> list[Result]:
    payloads = [j.to_dict() for j in grid_jobs([path], GRID, options={"decide_every": 25})]
    n = len(payloads)
    cases: list[tuple[str, str, Callable[[], list[dict[str, Any]]]]] = [
        ("baseline", "sweep of 8 jobs, 1 process (pool)", lambda: run_pool(payloads, 1)),
        ("ours", "sweep of 8 jobs, 2 processes (forkserver)", lambda: run_pool(payloads, 2)),
        (
            "reference",
            "sweep of 8 jobs, 2 processes (spawn)",
            lambda: run_pool(payloads, 2, context=mp.get_context("spawn")),
        ),
    ]
    walls: dict[str, list[float]] = {name: [] for _, name, _ in cases}
    busy: dict[str, list[float]] = {name: [] for _, name, _ in cases}
    seen: list[Any] = []
    for _ in range(rounds):  # interleaved, so the machine's load falls on every case alike
        for _impl, name, fn in cases:
            t0 = time.perf_counter()
            res = fn()
            walls[name].append(time.perf_counter() - t0)
            busy[name].append(sum(r["seconds"] for r in res))
            seen.append([comparable(r) for r in res])
    same = all(s == seen[0] for s in seen)
    out = []
    for impl, name, _ in cases:
        wall = min(walls[name])
        note = (
            f"best of {rounds}: {wall:.2f} s wall ({', '.join(f'{w:.2f}' for w in walls[name])}),"
            f" {min(busy[name]):.2f} s in jobs" + ("" if same else "  RESULTS DIFFER")
        )
        out.append(
            Result(SUITE, PAIR, impl, name, n / wall, unit="job", seconds=wall, calls=n, note=note)
        )
    return out


def tasks(streams: Any, seconds: float) -> tuple[list[Any], list[str]]:
    path = str(streams.path)

    def run(progress: Progress) -> list[Result]:
        return _rows(path)

    return [Task("sweep: 8 ESH4 backtests on 1 and 2 processes", run)], []


def summary(results: list[Result]) -> list[str]:
    rows = [r for r in results if r.pair == PAIR]
    base = next((r for r in rows if r.impl == "baseline"), None)
    if base is None or not base.seconds:
        return []
    out = []
    for r in rows:
        if r is not base and r.seconds:
            out.append(
                f"{r.name}: {r.seconds:.2f} s, speed-up {base.seconds / r.seconds:.2f}x "
                f"over 1 process ({base.seconds:.2f} s)"
            )
    return out


def main() -> None:
    from streams import ESH4_MBO

    if not ESH4_MBO.exists():
        print(f"skipped: {ESH4_MBO} not found")
        return
    rows = _rows(str(ESH4_MBO))
    for r in rows:
        print(f"{r.name:48s} {r.events_per_s:6.2f} jobs/s  {r.note}")
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
