"""Run every benchmark suite and print one table of figures against same-run baselines.

    .venv/bin/python benchmarks/run_all.py [--seconds S] [--quick] [--json FILE] [--only TEXT]
                                           [--data FILE] [--peers]

Each measurement loops for at least ``--seconds`` (default 5; ``--quick`` is 0.5 for a smoke
run). Figures are ratios against a baseline measured in the same process; nothing here passes
or fails on timing. The exit status is non-zero only when a benchmark itself breaks.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script: this directory is on sys.path, so the suites import as top-level modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest
import bench_books
import bench_dashboard
import bench_day
import bench_fairness
import bench_ncd
import bench_pipeline
import bench_roundtrip
import bench_server
import bench_sweep
import bench_view
import harness
import streams as streams_mod

#: Suites in run order. A suite module offers ``SUITE``, ``tasks(streams, seconds)`` returning
#: ``(tasks, skipped)``, and optionally ``derived_notes(results)`` and ``summary(results)``.
SUITES = [
    bench_books,
    bench_pipeline,
    bench_backtest,
    bench_server,
    bench_roundtrip,
    bench_fairness,
    bench_sweep,
    bench_ncd,
    bench_dashboard,
    bench_view,
    bench_day,
]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("numpy", "numba", "sortedcontainers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # a missing optional module only leaves the field out
            continue
    return out


def _meta(args: argparse.Namespace, streams: Any, skipped: list[str]) -> dict[str, Any]:
    return {
        "seconds": args.seconds,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "versions": _versions(),
        "streams": streams.describe(),
        "data": str(streams.path),
        "skipped": skipped,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum seconds per measurement")
    ap.add_argument("--quick", action="store_true", help="0.5 s per measurement (smoke run)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--data", metavar="FILE", help=f"MBO file (default {streams_mod.ESH4_MBO})")
    ap.add_argument("--only", metavar="TEXT", help="run only measurements whose label has TEXT")
    ap.add_argument(
        "--peers", action="store_true", help="then nautilus_trader and hftbacktest (bench_peers)"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 0.5

    t0 = time.perf_counter()
    data = Path(args.data) if args.data else streams_mod.ESH4_MBO
    streams = None
    if data.exists():
        print(f"decoding {data.name} ...", file=sys.stderr, flush=True)
        streams = streams_mod.load_streams(data)
    if streams is None:
        print(
            f"benchmarks skipped: shared data not found at {data}\n"
            "(the benchmarks replay the real ESH4 MBO file; mount /work/shared/data to run them)"
        )
        return 0
    print(f"streams ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    bench_day.ASKED = bool(args.only and "day" in args.only.lower())  # a day takes minutes
    plan: list[tuple[Any, Any]] = []
    skipped: list[str] = []
    for suite in SUITES:
        tasks, skip = suite.tasks(streams, args.seconds)
        skipped += skip
        plan += [(suite, t) for t in tasks if not args.only or args.only.lower() in t.label.lower()]

    progress = harness.Progress(total=len(plan))
    results: list[harness.Result] = []
    for _suite, task in plan:
        with progress.step(task.label):
            results += task.run(progress)
    for suite in SUITES:
        if hasattr(suite, "derived_notes"):
            suite.derived_notes(results)
    harness.fill_ratios(results)

    meta = _meta(args, streams, skipped)
    meta["loadavg_end"] = list(os.getloadavg())
    meta["wall_seconds"] = time.perf_counter() - t0

    print()
    print(f"orderflow benchmarks  {meta['started']}  {meta['platform']}")
    print(
        "  "
        + "  ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + f"  cpus {meta['cpu_count']}  load {meta['loadavg_start'][0]:.2f} -> "
        f"{meta['loadavg_end'][0]:.2f}"
    )
    print(f"  data {streams.path.name}:")
    for line in streams.describe():
        print(f"    {line}")
    print(
        f"  >= {args.seconds:g} s per measurement; rate = events (or reads) per second of time "
        "in the measured code; 'vs base' = rate / the pure-Python baseline's rate in this run"
    )
    print()
    print(harness.render_table(results))
    for suite in SUITES:
        if hasattr(suite, "summary"):
            print()
            print("\n".join(suite.summary(results)))
    if skipped:
        print()
        print("Not measured:")
        print("\n".join(f"  - {s}" for s in skipped))
    print(f"\n(total {meta['wall_seconds']:.0f} s)")
    if args.json:
        harness.write_json(args.json, results, meta)
        print(f"results written to {args.json}")
    if args.peers:
        import bench_peers

        print()
        peer_args = ["--seconds", str(args.seconds)] + (["--data", args.data] if args.data else [])
        return bench_peers.main(peer_args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
