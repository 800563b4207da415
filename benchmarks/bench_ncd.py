"""Decode speed of NinjaTrader's ``.ncd`` tick files (records per second).

The hour of ES ticks in ``../shared/data/ninjatrader/NQ202006231900.Last.ncd`` (9,704 records,
read in place) is decoded

- ``read_ncd_ticks (whole reader)``: header checks, the jitted kernel, the zone conversion and
  the house's arrays (prints with the bid/ask rule, quotes): what ``orderflow analyze`` pays;
- ``tick kernel only``: the jitted loop over the bytes into preallocated columns;
- ``pure-Python decoder`` (the baseline): the same layout decoded one record at a time in
  Python, as a straightforward reader would.

A trader's database is many such files: the kernel and the reader are also measured on the
file's records repeated 100 times in memory (970,400 records; the time and price steps simply
continue), so the per-call overhead no longer hides the per-record rate.

    .venv/bin/python benchmarks/bench_ncd.py            (standalone)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Progress, Result, measure
from orderflow.io import ncd
from orderflow.model.instruments import get_instrument

SUITE = "ncd"
PAIR = "ncd:ticks"
PAIR_BIG = "ncd:ticks-x100"
TICKS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "ninjatrader"
    / "NQ202006231900.Last.ncd"
)  # fmt: skip
REPEAT = 100


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def python_decode(data: bytes) -> int:
    """The baseline: the tick layout decoded record by record in Python (module docstring of
    :mod:`orderflow.io.ncd`); returns the record count."""
    pos, end, n = 28, len(data), 0
    t = p = 0
    out: list[tuple[int, int, int, int, int]] = []
    while pos < end:
        b1, b2 = data[pos], data[pos + 1]
        pos += 2
        tf, pf, sf, vf = b1 & 7, b1 >> 6, (b1 >> 3) & 7, b2 >> 5
        if tf == 5:
            t += data[pos] * 10_000_000
            pos += 1
        elif tf:
            k = (0, 1, 2, 4, 8)[tf]
            t += int.from_bytes(data[pos : pos + k], "big")
            pos += k
        if pf == 1:
            p += (b2 & 31) - 16
        elif pf == 2:
            p += data[pos] - 128
            pos += 1
        elif pf == 3:
            p += int.from_bytes(data[pos : pos + 4], "big") - 2**31
            pos += 4
        lo = sf & 1
        hi = 1 - lo
        if sf == 6:
            lo, hi = data[pos] >> 4, data[pos] & 15
            pos += 1
        elif sf == 7:
            lo, hi = data[pos], data[pos + 1]
            pos += 2
        elif sf & 2:
            lo, hi = lo * 2, hi * 2
        elif sf & 4:
            lo, hi = lo * 3, hi * 3
        k = (0, 1, 1, 1, 1, 2, 4, 8)[vf]
        v = int.from_bytes(data[pos : pos + k], "big") * (1, 1, 100, 500, 1000, 1, 1, 1)[vf]
        pos += k
        out.append((t, p, p - lo, p + hi, v))
        n += 1
    return n


def _kernel(buf: np.ndarray) -> int:
    cap = (len(buf) - 28) // 2
    cols = [np.empty(cap, np.int64) for _ in range(5)]
    time0 = int(buf[20:28].view(np.int64)[0])
    n, status, _ = ncd._tick_kernel(buf, time0, *cols)
    assert status == 0
    return int(n)


def _rows(seconds: float, progress: Progress | None = None) -> list[Result]:
    es = get_instrument("ES")
    data = TICKS.read_bytes()
    big = data + data[28:] * (REPEAT - 1)
    buf, big_buf = np.frombuffer(data, np.uint8), np.frombuffer(big, np.uint8)
    n = len(ncd.read_ncd_ticks(TICKS, es, data=data).trades)
    n_big = len(ncd.read_ncd_ticks(TICKS, es, data=big).trades)
    assert python_decode(data) == _kernel(buf) == n and _kernel(big_buf) == n_big
    cases: list[tuple[str, str, str, Callable[[], Any], int]] = [
        (PAIR, "baseline", "pure-Python decoder", lambda: python_decode(data), n),
        (PAIR, "ours", "tick kernel only", lambda: _kernel(buf), n),
        (PAIR, "ours", "read_ncd_ticks (whole reader)",
         lambda: ncd.read_ncd_ticks(TICKS, es, data=data), n),
        (PAIR_BIG, "baseline", "pure-Python decoder, x100", lambda: python_decode(big), n_big),
        (PAIR_BIG, "ours", "tick kernel only, x100", lambda: _kernel(big_buf), n_big),
        (PAIR_BIG, "ours", "read_ncd_ticks (whole reader), x100",
         lambda: ncd.read_ncd_ticks(TICKS, es, data=big), n_big),
    ]  # fmt: skip
    out = []
    for pair, impl, name, fn, records in cases:
        tp = measure(fn, records, seconds, progress=progress)
        out.append(
            Result(
                SUITE,
                pair,
                impl,
                name,
                tp.events_per_s,
                unit="rec",
                seconds=tp.seconds,
                calls=tp.calls,
                note=f"{records:,} records a call",
            )
        )
    return out


def tasks(streams: Any, seconds: float) -> tuple[list[Any], list[str]]:
    if not TICKS.exists():
        return [], [f"ncd decode: {TICKS} not found"]
    return [Task("ncd: decode NinjaTrader tick files", lambda pr: _rows(seconds, pr))], []


def summary(results: list[Result]) -> list[str]:
    rows = [r for r in results if r.suite == SUITE and r.events_per_s]
    return [f"{r.name}: {r.events_per_s / 1e6:,.2f} M records/s" for r in rows]


def main() -> None:
    if not TICKS.exists():
        print(f"skipped: {TICKS} not found")
        return
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    for line in summary(_rows(seconds)):
        print(line)


if __name__ == "__main__":
    main()
