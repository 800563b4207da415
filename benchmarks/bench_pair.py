"""Two source trees' pipelines in ONE process, alternated run by run: a change of a microsecond
a call measured against the code it changes, on a machine whose load moves single runs by
10-20%.

Each tree (``--base``, default ``/tmp/base``: e.g. ``git archive HEAD | tar -x -C /tmp/base``;
and this one) is imported as its own ``orderflow`` package: its modules are swapped into
``sys.modules`` (and its ``src`` and ``benchmarks`` onto ``sys.path``) before each of its runs,
so the lazy imports inside a backtest resolve to the same tree. Each tree warms up first (JIT,
first use), then the runs alternate base, ours, base, ... on the same data.

- ``--runs N`` (default): ESH4 as ``bench_pieces``' 100-record pieces back to back and as the
  backtest deciding every 100 records; per feed the run's CPU (``process_time``) and its
  ``Pipeline.process`` calls' CPU (``thread_time_ns`` around each, the same wrapper in both);
- ``--cases group,nt1,nt100,piece100``: ``bench_callcost``'s live cases, CPU per call of a
  pass on a fresh pipeline.

Printed: each side's median and the median of the paired differences (base minus ours), and in
how many pairs ours was faster.

    PYTHONPATH=src:benchmarks python benchmarks/bench_pair.py --base /tmp/base --runs 41
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_PKG = ("orderflow", "bench_pieces", "bench_backtest", "bench_callcost", "streams", "harness")
_tt = time.thread_time_ns


class Tree:
    """One tree's modules, imported and warmed once, swapped in for each of its runs."""

    def __init__(self, root: Path, cases: list[str]) -> None:
        self.root = root
        self.modules: dict[str, Any] = {}
        _clear()
        self._path()
        self.pieces = importlib.import_module("bench_pieces")
        self.backtest = importlib.import_module("bench_backtest").full_backtest
        callcost = importlib.import_module("bench_callcost")
        self.one_pass = callcost.one_pass
        pipeline = importlib.import_module("orderflow.engine.pipeline").Pipeline
        self.ns = [0]
        process, ns = pipeline.process, self.ns

        def timed(self: Any, *a: Any, **k: Any) -> Any:
            t = _tt()
            r = process(self, *a, **k)
            ns[0] += _tt() - t
            return r

        pipeline.process = timed
        self.ev, self.inst, self.cut = self.pieces._load()
        self.feeds = {c: f for c, f in callcost.feeds().items() if c in cases} if cases else {}
        self.run("pieces")
        self.run("backtest")
        for f in self.feeds.values():
            self.one_pass(*f)
        # (after the warm-up: the modules a run imports lazily are kept too)
        self.modules = {m: sys.modules[m] for m in sys.modules if m.split(".")[0] in _PKG}

    def _path(self) -> None:
        sys.path[:2] = [str(self.root / "src"), str(self.root / "benchmarks")]

    def use(self) -> None:
        _clear()
        sys.modules.update(self.modules)
        self._path()

    def run(self, feed: str) -> tuple[int, int]:
        """(the run's CPU ns, its Pipeline.process calls' CPU ns)."""
        self.ns[0] = 0
        t = time.process_time_ns()
        if feed == "pieces":
            self.pieces._feed(self.inst, self.cut)
        else:
            self.backtest(self.ev, self.inst, 16_384, 100)
        return time.process_time_ns() - t, self.ns[0]


def _clear() -> None:
    for m in [m for m in sys.modules if m.split(".")[0] in _PKG]:
        del sys.modules[m]


def _line(label: str, base: list[float], ours: list[float], unit: str) -> str:
    d = [b - o for b, o in zip(base, ours, strict=True)]
    return (f"{label:28s} base {statistics.median(base):8.2f}  ours {statistics.median(ours):8.2f}"
            f" {unit}; paired difference median {statistics.median(d):6.2f}, ours faster in "
            f"{sum(x > 0 for x in d)}/{len(d)}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=Path("/tmp/base"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--cases", default="", help="bench_callcost cases instead of the feeds")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    sys.path[:0] = ["", ""]
    trees = {"base": Tree(args.base.resolve(), cases),
             "ours": Tree(Path(__file__).resolve().parents[1], cases)}  # fmt: skip
    rows: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for _ in range(args.runs):
        for what in cases or ["pieces", "backtest"]:
            for name, tree in trees.items():
                tree.use()
                if cases:
                    got: tuple[float, ...] = (tree.one_pass(*tree.feeds[what])[0] / 1e3,)
                else:
                    got = tuple(x / 1e6 for x in tree.run(what))
                rows.setdefault((name, what), []).append(got)
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[:3], "runs", args.runs)
    for what in cases or ["pieces", "backtest"]:
        base, ours = rows[("base", what)], rows[("ours", what)]
        parts = ["CPU per call"] if cases else ["run CPU", "its Pipeline.process"]
        for i, part in enumerate(parts):
            print(_line(f"{what}: {part}", [r[i] for r in base], [r[i] for r in ours],
                        "us" if cases else "ms"))  # fmt: skip


if __name__ == "__main__":
    main()
