"""Sweep benchmark: the speed-up of a parameter sweep from 1 to 2 processes.

The same 8 jobs (the reference strategy on the ESH4 hour, stop 6/8/12/16 ticks x entry score
1/1.5: the grid of ``tests/unit/research/test_sweep.py``, the strategy asked every 25 records
so a job is about 1 s, not 0.3 s: a sweep's jobs are long next to a worker's start) are run,
wall time end to end, through a pool of worker processes (forkserver, the sweep's default on
Linux):

- ``1 process``: a pool of one worker (the baseline: the pool's start-up, the worker's
  imports and kernel loads, then the 8 backtests one after the other);
- ``2 processes``: a pool of two;

each both ways: ``per job`` (every job decompresses and decodes the file itself, one task per
job: ``reuse=False``) and ``reused`` (each worker decodes the file once when it starts and takes
the jobs in batches: the default). The rate is jobs per second; the summary gives each way's
speed-up from 1 to 2 processes and the 1-process time per job (which shows the machine's load:
the machine is shared). A row is a whole sweep (what a user waits for); the four cases run
interleaved, ``rounds`` times, the faster kept. The results are checked to be the same in every
run (every stat but the timings).

    .venv/bin/python benchmarks/bench_sweep.py [rounds]          (standalone)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import Progress, Result
from orderflow.research.sweep import comparable, grid_jobs, run_pool

SUITE = "sweep"
PAIR = "sweep:esh4x8"
BASE_OLD = "sweep of 8 jobs, 1 process, per job"
BASE_NEW = "sweep of 8 jobs, 1 process, reused"
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
        ("baseline", BASE_OLD, lambda: run_pool(payloads, 1, reuse=False)),
        (
            "reference",
            "sweep of 8 jobs, 2 processes, per job",
            lambda: run_pool(payloads, 2, reuse=False),
        ),
        ("ours", BASE_NEW, lambda: run_pool(payloads, 1)),
        ("ours", "sweep of 8 jobs, 2 processes, reused", lambda: run_pool(payloads, 2)),
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
    rows = {r.name: r for r in results if r.pair == PAIR}
    out = []
    for way, base_name in (("per job", BASE_OLD), ("reused", BASE_NEW)):
        base = rows.get(base_name)
        two = rows.get(base_name.replace("1 process", "2 processes"))
        if base is None or two is None or not base.seconds or not two.seconds:
            continue
        out.append(
            f"{way}: 1 process {base.seconds:.2f} s ({base.seconds / (base.calls or 1):.2f} s a "
            f"job), 2 processes {two.seconds:.2f} s: speed-up {base.seconds / two.seconds:.2f}x"
        )
    old, new = (
        rows.get(BASE_OLD.replace("1 process", "2 processes")),
        rows.get(BASE_NEW.replace("1 process", "2 processes")),
    )
    if old is not None and new is not None and new.seconds:
        out.append(f"2 processes, reused vs per job: {old.seconds / new.seconds:.2f}x faster")
    return out


def main() -> None:
    from streams import ESH4_MBO

    if not ESH4_MBO.exists():
        print(f"skipped: {ESH4_MBO} not found")
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    print(f"load average before: {os.getloadavg()}")
    rows = _rows(str(ESH4_MBO), rounds)
    print(f"load average after: {os.getloadavg()}")
    for r in rows:
        print(f"{r.name:42s} {r.events_per_s:6.2f} jobs/s  {r.note}")
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
