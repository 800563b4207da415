"""Peers side by side: nautilus_trader's and hftbacktest's L3 books beside orderflow's, one run.

    .venv/bin/python benchmarks/bench_peers.py [--seconds S] [--quick] [--data FILE]
                                               [--check cython|pyo3] [--json FILE]

(``make bench-peers`` builds ``.venv-peers`` from benchmarks/peers/requirements.txt and runs
this; ``make bench PEERS=1`` / ``run_all.py --peers`` run it after the other suites.)

On the same Databento MBO file (ESH4 by default, read in place by every side):

- ours, in this process: ``read_mbo`` (decode) and ``OrderBook.apply_mbo`` over the whole
  stream, a fresh book per call (book; as bench_books measures it), the same per event group
  (one ``apply_mbo`` call per group, for p50/p99), and the full pipeline
  (``run_stream``, as bench_pipeline measures it; ``Pipeline.process`` per group for p50/p99);
- each peer in its own process from ``.venv-peers`` (benchmarks/peers/run_peer.py), timed with
  the same harness: nautilus's Databento loader and ``OrderBook(L3_MBO).apply_delta`` (Cython
  and pyo3), hftbacktest's converter and its L3 FIFO-queue replay.

Every rate is the file's MBO records per second of time in the measured call, so a ratio is a
ratio of time for the same market. Decode is timed apart from book work for every side.
Memory rows are decode + replay measured first in each process (the peers' books live in Rust:
tracemalloc sees only their Python objects, the RSS growth sees the rest).

Equal work is checked, not assumed: nautilus's top 10 per side (price, size, orders) and the
boundary's receive time equal ours at every F_LAST boundary (the count is printed);
hftbacktest exposes no per-boundary hook from Python, so its final top 10 (price, size) is
compared with ours at the last boundary. No figure here passes or fails anything; a broken
equality makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Result,
    fmt_ns,
    latencies,
    measure,
    peak_memory,
    percentiles,
    render_table,
    write_json,
)
from peers.compare import Comparison, compare_tops

SUITE = "peers"
ROOT = Path(__file__).resolve().parents[1]
PEERS_VENV = ROOT / ".venv-peers"
PEER_PYTHON = PEERS_VENV / "bin" / "python"
RUN_PEER = Path(__file__).resolve().parent / "peers" / "run_peer.py"
ESH4_MBO = Path("/work/shared/data/databento/es_mbo/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
DEPTH = 10
_LAST, _SNAPSHOT = 0x80, 0x20


def boundary_ends(mbo: np.ndarray) -> np.ndarray:
    """One past each event boundary (a LAST record outside a snapshot)."""
    flags = mbo["flags"]
    return np.flatnonzero((flags & (_LAST | _SNAPSHOT)) == _LAST) + 1


def our_top(mbo: np.ndarray, instrument: Any) -> dict[str, np.ndarray]:
    """Our L3 book's top 10 per side at every boundary, with the boundary's ts_recv."""
    from orderflow.book.l3 import OrderBook

    d = OrderBook(instrument).apply_mbo(mbo, record_depth=DEPTH).depth
    assert d is not None
    top = {
        f: np.asarray(getattr(d, f))
        for f in ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size", "ask_count")
    }
    top["ts_recv"] = mbo["ts_recv"][d.index]
    return top


def _row(name: str, impl: str, rate: float, **kw: Any) -> Result:
    return Result(SUITE, "peers", impl, name, rate, **kw)


def measure_ours(path: Path, seconds: float) -> tuple[list[Result], np.ndarray, Any]:
    """Our rows (decode, book, book per group, pipeline, pipeline per group)."""
    from orderflow.book.l3 import OrderBook
    from orderflow.engine import Pipeline
    from orderflow.engine.runner import run_stream
    from orderflow.io.dbn import read_mbo

    mbo, inst = read_mbo(path)
    n = len(mbo)
    OrderBook(inst).apply_mbo(mbo[:256])  # load the compiled kernels before any figure
    run_stream("mbo", mbo[:256], inst)

    def first_pass() -> Any:
        fresh, _ = read_mbo(path)
        return OrderBook(inst).apply_mbo(fresh), fresh

    memory = peak_memory(first_pass)
    dec = measure(lambda: read_mbo(path), n, seconds)
    book = measure(lambda b: b.apply_mbo(mbo), n, seconds, setup=lambda: OrderBook(inst))
    pipe = measure(lambda _: run_stream("mbo", mbo, inst), n, seconds, setup=lambda: None)

    # per record: book.apply for every record from Python lists, as a live caller (and
    # nautilus's apply_delta loop) does
    names = (
        "action",
        "side",
        "price",
        "size",
        "order_id",
        "flags",
        "ts_event",
        "ts_recv",
        "sequence",
    )
    recs = list(zip(*(mbo[f].tolist() for f in names), strict=True))

    def per_record(bk: Any, lo: int = 0, hi: int = n) -> Any:
        apply = bk.apply
        for i in range(lo, hi):
            apply(*recs[i])
        return bk

    rec = measure(per_record, n, seconds, setup=lambda: OrderBook(inst))

    ends = boundary_ends(mbo).tolist()
    starts = [0, *ends[:-1]]
    b = OrderBook(inst)
    lat_book = latencies(lambda i: b.apply_mbo(mbo[starts[i] : ends[i]]), len(ends))
    b = OrderBook(inst)
    lat_rec = latencies(lambda i: per_record(b, starts[i], ends[i]), len(ends))
    p = Pipeline(inst, "mbo")
    lat_pipe = latencies(lambda i: p.process(mbo[starts[i] : ends[i]]), len(ends))

    rows = [
        _row("orderflow decode: read_mbo -> MBO array", "ours", dec.events_per_s),
        _row("orderflow L3 OrderBook.apply_mbo, whole stream", "ours", book.events_per_s),
        _row("orderflow full pipeline (run_stream), whole stream", "ours", pipe.events_per_s),
        _row("orderflow L3 OrderBook.apply per record, whole stream", "ours", rec.events_per_s),
    ]
    for r, tp in zip(rows, (dec, book, pipe, rec), strict=True):
        r.seconds, r.calls = tp.seconds, tp.calls
    # per group: one apply_mbo / Pipeline.process call per event group; the first (the
    # snapshot) is left out, as on the peers' side
    rows[1].p50_ns, rows[1].p99_ns = percentiles(lat_book[1:])
    rows[2].p50_ns, rows[2].p99_ns = percentiles(lat_pipe[1:])
    rows[3].p50_ns, rows[3].p99_ns = percentiles(lat_rec[1:])
    rows[1].lat_unit = rows[2].lat_unit = rows[3].lat_unit = "group"
    rows[1].note = "per group: one apply_mbo call on the group's slice of the MBO array"
    rows[3].note = "per group: book.apply(...) for each record of the group, from Python lists"
    rows[1].peak_bytes, rows[1].retained_bytes, rows[1].rss_growth_bytes = (
        memory.peak_bytes,
        memory.retained_bytes,
        memory.rss_growth_bytes,
    )
    rows[1].extra["groups"] = len(ends)
    return rows, mbo, inst


def merge_rounds(rounds: list[list[Result]]) -> list[Result]:
    """One row per measurement from several rounds (same rows, same order): the median rate,
    p50 and p99 of the rounds; memory and notes from the first; each round's rate in extra."""
    first = rounds[0]
    for rows in rounds[1:]:
        if [r.name for r in rows] != [r.name for r in first]:
            raise LookupError("rounds measured different rows")
    out = []
    for i, r0 in enumerate(first):
        r = replace(r0, extra=dict(r0.extra))
        got = [rows[i] for rows in rounds]
        for attr in ("events_per_s", "p50_ns", "p99_ns"):
            vals = [getattr(g, attr) for g in got if getattr(g, attr) is not None]
            setattr(r, attr, float(np.median(vals)) if vals else None)
        if len(rounds) > 1:
            r.extra["rounds_events_per_s"] = [g.events_per_s for g in got]
        out.append(r)
    return out


def run_peer(
    peer: str, path: Path, records: int, seconds: float, tick: float, top: Path | None, check: str
) -> dict[str, Any]:
    """Run benchmarks/peers/run_peer.py in .venv-peers; its JSON document."""
    cmd = [
        str(PEER_PYTHON),
        str(RUN_PEER),
        peer,
        str(path),
        "--records",
        str(records),
        "--seconds",
        str(seconds),
        "--tick",
        repr(tick),
    ]
    if top is not None:
        cmd += ["--top", str(top)]
    if peer == "nautilus":
        cmd += ["--check", check]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def _rate(rows: list[Result], prefix: str) -> float | None:
    r = next((r for r in rows if r.name.startswith(prefix)), None)
    return r.events_per_s if r else None


def _combined(decode: float | None, book: float | None) -> float | None:
    """Rate of decode then book over the same records (times add)."""
    if not decode or not book:
        return None
    return 1.0 / (1.0 / decode + 1.0 / book)


def ratio_lines(rows: list[Result]) -> list[str]:
    """Ours / theirs, for rates (above 1: ours faster) and group latencies (below 1: ours)."""
    ours_book = _rate(rows, "orderflow L3 OrderBook.apply_mbo")
    ours_rec = _rate(rows, "orderflow L3 OrderBook.apply per record")
    ours_pipe = _rate(rows, "orderflow full pipeline")
    ours_dec = _rate(rows, "orderflow decode")
    peers = [
        (
            "nautilus (Cython book)",
            "nautilus L3 OrderBook.apply_delta (Cython)",
            "nautilus decode: DatabentoDataLoader -> OrderBookDelta (Cython)",
        ),
        (
            "nautilus (pyo3 book)",
            "nautilus L3 OrderBook.apply_delta (pyo3)",
            "nautilus decode: DatabentoDataLoader -> OrderBookDelta (pyo3)",
        ),
        ("hftbacktest", "hftbacktest L3 replay", "hftbacktest decode"),
    ]
    out = ["Ratios, ours / theirs (rates: above 1 means ours is faster; latency: below 1):"]
    by_name = {r.name.split(",")[0]: r for r in rows}
    for label, book_prefix, dec_prefix in peers:
        tb, td = _rate(rows, book_prefix), _rate(rows, dec_prefix)
        if tb is None:
            continue
        parts = [f"L3 book {ours_book / tb:.2f}" if ours_book else "L3 book -"]
        if ours_rec and not label.startswith("hftbacktest"):
            parts.append(f"per-record Python loop {ours_rec / tb:.2f}")
        if ours_dec and td:
            parts.append(f"decode {ours_dec / td:.2f}")
            oc, tc = _combined(ours_dec, ours_book), _combined(td, tb)
            if oc and tc:
                parts.append(f"decode+book {oc / tc:.2f}")
        if ours_pipe:
            parts.append(f"our full pipeline / their book {ours_pipe / tb:.2f}")
        theirs = by_name.get(book_prefix)
        ours_row = by_name.get("orderflow L3 OrderBook.apply per record")
        if theirs and ours_row and theirs.p50_ns and ours_row.p50_ns and theirs.p99_ns:
            assert ours_row.p99_ns is not None
            parts.append(
                f"group p50 {ours_row.p50_ns / theirs.p50_ns:.2f} "
                f"({fmt_ns(ours_row.p50_ns)} vs {fmt_ns(theirs.p50_ns)}), "
                f"p99 {ours_row.p99_ns / theirs.p99_ns:.2f}"
            )
        out.append(f"  vs {label}: " + "; ".join(parts))
    return out


def equality_lines(comps: dict[str, Comparison]) -> list[str]:
    out = ["Equal work (top 10 per side compared with ours):"]
    for label, c in comps.items():
        fields = ", ".join(c.fields)
        status = "EQUAL" if c.all_equal else f"DIFFERENT from boundary {c.first_mismatch}"
        out.append(
            f"  {label}: {c.equal:,} of {c.boundaries:,} boundaries equal ({fields}): {status}"
        )
        if not c.all_equal:
            out.append(f"    {c.detail}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum seconds per measurement")
    ap.add_argument("--quick", action="store_true", help="0.5 s per measurement (smoke run)")
    ap.add_argument("--data", metavar="FILE", help=f"MBO file (default {ESH4_MBO})")
    ap.add_argument(
        "--check",
        choices=("cython", "pyo3"),
        default="cython",
        help="which nautilus book's top 10 is read at every boundary (cython: the "
        "timed book, about a minute; pyo3: the same Rust core, seconds)",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure ours and each peer this many times, one after another; every figure is "
        "the median of the rounds (load that comes and goes then falls on every side)",
    )
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        ap.error("--rounds must be at least 1 and --seconds positive")
    if args.quick:
        args.seconds = 0.5
    path = Path(args.data) if args.data else ESH4_MBO
    if not path.exists():
        print(f"peers benchmark skipped: data not found at {path}")
        return 0
    if not PEER_PYTHON.exists():
        print(f"peers benchmark skipped: {PEERS_VENV} does not exist (make bench-peers makes it)")
        return 0

    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    comps: dict[str, Comparison] = {}
    docs: dict[str, Any] = {}
    rounds: list[list[Result]] = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        for k in range(args.rounds):
            print(f"round {k + 1}/{args.rounds}: orderflow ...", file=sys.stderr, flush=True)
            rows, mbo, inst = measure_ours(path, args.seconds)
            tick = float(inst.tick_size)
            for peer in ("nautilus", "hftbacktest"):
                print(f"round {k + 1}/{args.rounds}: {peer} (own process, {PEER_PYTHON}) ...",
                      file=sys.stderr, flush=True)  # fmt: skip
                # the equality check (untimed) runs in the first round only
                top_file = Path(tmp) / f"{peer}.npz" if k == 0 else None
                check = args.check if k == 0 else "none"
                doc = run_peer(peer, path, len(mbo), args.seconds, tick, top_file, check)
                docs.setdefault(peer, doc["info"])
                rows += [Result(**r) for r in doc["results"]]
                if top_file is None:
                    continue
                ours = our_top(mbo, inst)
                with np.load(top_file) as z:
                    theirs = {f: z[f] for f in z.files}
                if peer == "nautilus":
                    label = f"nautilus {args.check} OrderBook, every F_LAST boundary"
                    comps[label] = compare_tops(ours, theirs, DEPTH)
                else:
                    last = {f: v[-1:] for f, v in ours.items()}
                    comps["hftbacktest, final book (last boundary)"] = compare_tops(
                        last, theirs, DEPTH
                    )
            rounds.append(rows)
    rows = merge_rounds(rounds)
    load1 = os.getloadavg()
    wall = time.perf_counter() - t0

    versions: dict[str, str] = {"python": platform.python_version(), "numpy": np.__version__}
    import numba

    versions["numba"] = numba.__version__
    for info in docs.values():
        versions.update({k: v for k, v in info["versions"].items() if k not in versions})
    print()
    print(f"peers side by side  {started}  {platform.platform()}  cpus {os.cpu_count()}")
    print("  " + "  ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"  load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start, "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at end"
    )
    print(
        f"  data {path.name}: {len(mbo):,} MBO records, "
        f"{int(rows[1].extra.get('groups', 0)):,} event groups; nautilus decodes "
        f"{docs['nautilus'].get('deltas', 0):,} deltas (trades dropped)"
    )
    print(
        f"  >= {args.seconds:g} s per measurement; rate = the file's MBO records per second "
        "of time in the measured call; p50/p99 per event group (snapshot group left out)"
        + (f"; median of {args.rounds} rounds" if args.rounds > 1 else "")
    )
    print()
    print(render_table(rows))
    print()
    print("\n".join(ratio_lines(rows)))
    print()
    print("\n".join(equality_lines(comps)))
    print(f"\n(total {wall:.0f} s)")
    if args.json:
        meta = {
            "started": started,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "loadavg_start": list(load0),
            "loadavg_end": list(load1),
            "versions": versions,
            "data": str(path),
            "records": len(mbo),
            "seconds": args.seconds,
            "rounds": args.rounds,
            "peers": docs,
            "equality": {k: c.as_dict() for k, c in comps.items()},
        }
        write_json(args.json, rows, meta)
        print(f"results written to {args.json}")
    return 0 if all(c.all_equal for c in comps.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
