"""The same backtests on two trees give the same results: every command (to the ns), fill,
trade, daily row, equity point, signal count, statistic and per-file counter, the run's timing
fields and the data paths left out.

Run it once per tree, each writing its results, then compare the two files::

    PYTHONPATH=/tmp/base/src:/tmp/base/benchmarks .venv/bin/python \
        benchmarks/backtest_equal.py --out /tmp/base.pickle
    .venv/bin/python benchmarks/backtest_equal.py --out /tmp/mine.pickle
    .venv/bin/python benchmarks/backtest_equal.py --compare /tmp/base.pickle /tmp/mine.pickle

The cases: the default, busy and micro-sizing strategies of the parity test deciding every
100, 1,000 and 37 records; the default and busy ones at every event group over the open's
five minutes and over the whole file; the busy one with latencies, every 50 with long ones,
every 7, without ``skip_idle``, in chunks of 4,096 and of 16,384 and over both ESH4 files;
the default one over both files and once per chunk; the three with the NinjaTrader view; the
LOBSTER message file (``--quick``: the first six only).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ES_MBO = DATA / "databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
ES_SNAP = DATA / "databento/es_mbo/esh4-glbx-mdp3-20231224.mbo.dbn.zst"
LOBSTER = DATA / "lobster/GOOG_2012-06-21_34200000_57600000_message_1.csv"
OPEN = 1_703_545_200_000_000_000  # ESH4 2023-12-25 23:00 UTC
FIVE_MIN = 300_000_000_000
#: the run's timing fields and the data paths (not results)
_TIMING = {"elapsed_s", "events_per_s", "path", "seconds", "wall_s"}


def _strategies() -> dict[str, Any]:
    """The parity test's strategies (default, busy, micro), the same objects."""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.integration.test_parity import CASES

    return dict(CASES)


def cases(quick: bool) -> list[tuple[str, list[Path], str, dict[str, Any]]]:
    """(name, files, strategy, options) of each case."""
    five = {"start_ns": OPEN, "end_ns": OPEN + FIVE_MIN}
    out = [(f"{s} every {n}", [ES_MBO], s, {"decide_every": n})
           for n in (100, 1_000, 37) for s in ("default", "busy", "micro")]  # fmt: skip
    if quick:
        return out[:6]
    lat = {"md_latency_ns": 250_000, "order_latency_ns": 1_000_000}
    out += [
        ("default every group, 5 min", [ES_MBO], "default", {"decide_every": "group", **five}),
        ("busy every group, 5 min", [ES_MBO], "busy", {"decide_every": "group", **five}),
        ("default every group", [ES_MBO], "default", {"decide_every": "group"}),
        ("busy every group", [ES_MBO], "busy", {"decide_every": "group"}),
        ("busy every 100, latencies", [ES_MBO], "busy", lat),
        ("busy every 50, 3 ms / 40 ms", [ES_MBO], "busy",
         {"decide_every": 50, "md_latency_ns": 3_000_000, "order_latency_ns": 40_000_000}),
        ("busy every 7", [ES_MBO], "busy", {"decide_every": 7}),
        ("busy no skip_idle", [ES_MBO], "busy", {"skip_idle": False}),
        ("busy chunks 4096", [ES_MBO], "busy", {"chunk_records": 4_096}),
        ("busy chunks 16384, latencies", [ES_MBO], "busy", {"chunk_records": 16_384, **lat}),
        ("busy both files", [ES_SNAP, ES_MBO], "busy", {}),
        ("default both files", [ES_SNAP, ES_MBO], "default", {}),
        ("default once per chunk", [ES_MBO], "default", {"decide_every": "chunk"}),
        ("default ninjatrader view", [ES_MBO], "default", {"view": "ninjatrader"}),
        ("busy ninjatrader view", [ES_MBO], "busy", {"view": "ninjatrader"}),
        ("micro ninjatrader view", [ES_MBO], "micro", {"view": "ninjatrader"}),
        ("default lobster every 100", [LOBSTER], "default", {}),
        ("busy lobster every 10", [LOBSTER], "busy", {"decide_every": 10}),
    ]  # fmt: skip
    return out


def _plain(x: Any) -> Any:
    """``x`` with the timing fields and paths dropped, structs as tuples of their fields."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k not in _TIMING}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):  # (numpy arrays and scalars)
        return _plain(x.tolist())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, _plain(dataclasses.asdict(x)))
    if isinstance(x, float) and x != x:  # (NaN equals itself here)
        return "nan"
    fields = getattr(x, "__struct_fields__", None)
    if fields is not None:
        return (type(x).__name__, {f: _plain(getattr(x, f)) for f in fields})
    return x


def run(quick: bool, only: str | None) -> dict[str, Any]:
    from orderflow.backtest.run import BacktestOptions, run_backtest

    strategies = _strategies()
    out: dict[str, Any] = {}
    for name, files, strategy, opts in cases(quick):
        if only and only not in name:
            continue
        t = time.perf_counter()
        res = run_backtest(files, trading=strategies[strategy], options=BacktestOptions(**opts))
        out[name] = {
            "commands": _plain(res.commands), "fills": _plain(res.fills),
            **_plain(res.to_dict()),
        }  # fmt: skip
        print(f"{name:34s} {len(res.commands):5d} commands {len(res.fills):4d} fills "
              f"{res.stats['trades']:4d} trades {time.perf_counter() - t:6.1f} s",
              flush=True)  # fmt: skip
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
    """The number of cases that differ (each difference printed)."""
    bad = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in one", flush=True)
            bad += 1
            continue
        diff = [k for k in sorted(set(a[name]) | set(b[name])) if a[name].get(k) != b[name].get(k)]
        print(f"{name:34s} {'same' if not diff else 'DIFFERENT: ' + ', '.join(diff)}")
        bad += bool(diff)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--compare", nargs=2, type=Path)
    args = ap.parse_args()
    if args.compare:
        a, b = (pickle.loads(p.read_bytes()) for p in args.compare)
        sys.exit(1 if compare(a, b) else 0)
    got = run(args.quick, args.only)
    if args.out:
        args.out.write_bytes(pickle.dumps(got))


if __name__ == "__main__":
    main()
