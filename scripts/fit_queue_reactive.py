"""Fit the queue-reactive simulator (orderflow.io.queue_reactive) to an ES MBO recording, print
the parameter table to paste into ``ES_FIT`` and ``ES_TARGETS``, and how a seeded simulation
with the committed parameters compares with the recording.

    .venv/bin/python scripts/fit_queue_reactive.py [FILE]

FILE defaults to the recording named by the settings (data.dir / data.default_file). Run once;
the committed table is checked against a fresh fit in tests/unit/test_queue_reactive.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from orderflow.io.dbn import read_mbo
from orderflow.io.qr_fit import fit_table, observe
from orderflow.io.queue_reactive import ES_FIT, ES_TARGETS, simulate_qr
from orderflow.settings import load_settings


def main() -> None:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        s = load_settings()
        path = Path(s.data.dir) / s.data.default_file
    events, inst = read_mbo(path)
    t0 = time.perf_counter()
    fit = fit_table(observe(events))
    print(
        f"# fitted to {path.name} ({inst.contract}), {len(events):,} records, "
        f"in {time.perf_counter() - t0:.2f} s"
    )
    print("ES_FIT =", json.dumps(fit["params"]))
    measured = fit["targets"]
    assert isinstance(measured, dict)  # fit_table's targets are a dict of statistics
    targets = {k: v for k, v in measured.items() if k not in ("counts", "time_in_bin")}
    print("ES_TARGETS =", json.dumps(targets))
    t0 = time.perf_counter()
    sim = simulate_qr(200_000)
    took = time.perf_counter() - t0
    got = fit_table(observe(sim), aes=ES_FIT["aes"])["targets"]  # type: ignore[arg-type]
    print(
        f"# committed ES_FIT, seed 7: {len(sim):,} records in {took:.2f} s "
        f"(first call includes numba compilation)"
    )
    for key in (
        "mean_spread",
        "share_spread_1",
        "mean_best_queue",
        "mean_queue",
        "mean_deep_size",
        "event_share",
        "mid_changes_per_s",
    ):
        print(f"#   {key:18s} ES {ES_TARGETS[key]!s:40s} simulated {got[key]}")  # type: ignore[index]


if __name__ == "__main__":
    main()
