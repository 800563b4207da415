"""The heatmap's cost per applied batch: sampled (the book's rows once per batch, one column
per batch at most) against exact (the batch's depth events walked per 250 ms bucket).

ESH4's MBO converted to NinjaTrader depth events (top 10), cut into batches of about 100
events at exchange-event boundaries as the bridge sends them, each applied to a real
LadderBook; then, timed per batch, what the server's views do after it: the book's rows
(``top_rows``) and either ``HeatColumns.update`` (sampled) or ``HeatColumns.apply_depth``
(exact, with the batch's prints). Best of 3 passes; mean and p99 per batch. Nothing passes or
fails on them.

    .venv/bin/python benchmarks/bench_heat.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ESH4 = (
    ROOT.parent / "shared" / "data" / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
)


def batches() -> list[np.ndarray]:
    from orderflow.io.formats import load_stream
    from orderflow.io.nt_convert import mbo_to_nt_depth
    from orderflow.model.enums import Flags

    stream = load_stream(ESH4)
    nt = mbo_to_nt_depth(stream.array, 10, stream.instrument)
    ends = np.flatnonzero(nt["flags"] & int(Flags.LAST)) + 1
    out, start = [], 0
    for e in ends:
        if e - start >= 100:
            out.append(nt[start:e])
            start = int(e)
    if start < len(nt):
        out.append(nt[start:])
    return out


def run(chunks: list[np.ndarray], exact: bool) -> np.ndarray:
    from orderflow.analytics.heatmap import HeatColumns
    from orderflow.book.ladder import LadderBook

    book = LadderBook()
    heat = HeatColumns(250_000_000, 200, 14_400)
    none = np.zeros(0, dtype=np.int64)
    took = np.zeros(len(chunks), dtype=np.int64)
    for i, c in enumerate(chunks):
        book.apply_events(c)
        t0 = time.perf_counter_ns()
        rows = book.top_rows(1000)
        if exact:
            heat.apply_depth(c, none, none, rows)
        else:
            heat.update(int(c["ts_event"][-1]), *rows)
        took[i] = time.perf_counter_ns() - t0
    return took


def main() -> None:
    chunks = batches()
    print(f"{len(chunks)} batches, {sum(len(c) for c in chunks):,} events")
    for exact in (False, True):
        run(chunks[:50], exact)  # compile
        best = min((run(chunks, exact) for _ in range(3)), key=lambda t: int(t.sum()))
        print(f"{'exact  ' if exact else 'sampled'}: mean {best.mean() / 1e3:.1f} us, "
              f"p50 {np.percentile(best, 50) / 1e3:.1f} us, p99 {np.percentile(best, 99) / 1e3:.1f}"
              f" us, max {best.max() / 1e3:.0f} us per batch")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
