"""Where each microsecond of a WebSocket round trip goes: ESH4 as the bridge's batches of 100+
NinjaTrader depth events, sent one at a time (request/response) as MessagePack rows,
MessagePack columns (lists), MessagePack packed columns (little-endian arrays), JSON rows and
JSON packed columns (base64), beside a bare FastAPI WebSocket echo of the same frames in the
same run.

The server runs in its own process with a stage probe installed (``roundtrip_server.py``;
:mod:`orderflow.server.stages`), which marks each stage of the path with the system-wide
monotonic clock; this client marks its send and its receipt of the ack on the same clock, so
the stages add up to the round trip. Each round runs the echo, then each encoding on a fresh
instrument (an empty book); the first 20 batches of every pass are left out (first calls).

    PYTHONPATH=src:. python benchmarks/bench_roundtrip.py [--rounds N] [--gap-ms MS]
        [--record] [--in-process | --decode]

``--gap-ms`` makes the client pause between an ack and its next batch, as a bridge does
between market data events (the server's work after an ack is then done when the next batch
comes). ``--in-process`` runs the same batches through an in-process hub instead, back to
back, after a 1 ms sleep and after evicting the caches: the cost of the wait between two
batches alone. ``--decode`` times each path's decoding and conversion alone, in process.
``--record``: the server records every batch, as ``orderflow serve`` does by default (the
measurement's server otherwise runs with the recording off).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from websockets.sync.client import connect

from bench_server import ROOT, EchoProcess, ServerProcess, _as, _batches
from harness import Progress, Result
from orderflow.protocol import columnar, packed
from orderflow.server.stages import STAGES

SUITE = "roundtrip"
BATCH = 100
WARM = 20  # batches of each pass left out (first calls, first allocations)
#: per round, each encoding on an instrument of its own (tick 0.25): a fresh book each pass
INSTRUMENTS = [f"{root} {month}-24" for month in ("03", "06", "09", "12")
               for root in ("ES", "MES", "NQ", "MNQ")]  # fmt: skip
#: (label, encoding, how depth goes: rows, columns (lists) or packed columns)
PATHS = [
    ("MessagePack rows", "msgpack", "rows"),
    ("MessagePack columns", "msgpack", "columns"),
    ("MessagePack packed", "msgpack", "packed"),
    ("JSON rows", "json", "rows"),
    ("JSON packed", "json", "packed"),
]
#: the stages of a round trip: (label, from mark, to mark); c0/c1: the client's send, receipt
INTERVALS = [
    ("client send -> server socket read", "c0", "data_in"),
    ("uvicorn frame -> session reader", "data_in", "frame"),
    ("decode (msgspec, every field checked)", "frame", "decoded"),
    ("rate limit, admission", "decoded", "queued"),
    ("hop: reader -> session loop", "queued", "taken"),
    ("engine turn, validate (times, reports, grid)", "taken", "validated"),
    ("record, sequence, prints to bars and view", "validated", "engine_in"),
    ("engine: Pipeline (book, analytics, signals)", "engine_in", "engine_out"),
    ("bars, order reports, ack built", "engine_out", "acked"),
    ("alerts, dashboard view, strategy", "acked", "applied"),
    ("metrics, commands drained, ack queued", "applied", "pushed"),
    ("hop: session loop -> writer", "pushed", "written_in"),
    ("encode the ack", "written_in", "encoded"),
    # the write wakes the client, which may take this process's core before the write's own
    # mark is taken (two cores, a busy machine): the write and the way back are one stage
    ("write the frame -> client has the ack", "encoded", "c1"),
]
ROUNDTRIP_SERVER = [str(Path(__file__).resolve().parent / "roundtrip_server.py")]

#: the last run's breakdown, for :func:`summary`
LAST: dict[str, Any] = {}


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _frames(batches: list[Any], encoding: str, form: str) -> list[Any]:
    if form == "columns":
        batches = [columnar(b) for b in batches]
    elif form == "packed":
        batches = [packed(b) for b in batches]
    if encoding == "msgpack":
        return [msgspec.msgpack.encode(b) for b in batches]
    return [msgspec.json.encode(b).decode() for b in batches]


#: the client's pause between an ack and its next batch (s; ``--gap-ms``): 0 sends at once
GAP_S = 0.0
#: the server's configuration: recording off by default, on (as ``orderflow serve`` runs by
#: default, into the server's temporary folder) with ``--record``
CONFIG = "server:\n  record_dir: null\nlogging:\n  level: WARNING\n"
RECORDING = "server:\n  record_dir: recordings\nlogging:\n  level: WARNING\n"


def _client(url: str, frames: list[Any], encoding: str, client: str) -> np.ndarray:
    """(n, 2): the client's send and receipt times (perf_counter_ns) of each frame's answer."""
    out = np.empty((len(frames), 2), dtype=np.int64)
    clock = time.perf_counter_ns
    gap = GAP_S
    with connect(url, max_size=None, compression=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 2, "client": client,
                            "encoding": encoding}))  # fmt: skip
        ws.recv()
        for i, f in enumerate(frames):
            out[i, 0] = clock()
            ws.send(f)
            ws.recv()
            out[i, 1] = clock()
            if gap:  # as market data comes: the server's work after an ack is done by then
                time.sleep(gap)
    return out


def measure(rounds: int, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``rounds`` rounds; the echo's round trips and, per path, the round trips and the
    probe's rows (ns)."""
    batches = _batches(None)
    n = len(batches)
    echo_frames = [msgspec.msgpack.encode(b) for b in batches]
    rounds = max(1, min(rounds, len(INSTRUMENTS) // len(PATHS)))
    out = tempfile.mkdtemp(prefix="bench-roundtrip-")
    marks_file = os.path.join(out, "marks.npy")
    echo = EchoProcess()
    echo_rtt: list[np.ndarray] = []
    client_marks: dict[str, list[np.ndarray]] = {p[0]: [] for p in PATHS}
    order: list[str] = []
    try:
        srv = ServerProcess(CONFIG, entry=[*ROUNDTRIP_SERVER, marks_file])
        try:
            url = f"ws://127.0.0.1:{srv.port}/ws"
            k = 0
            for r in range(rounds):
                echo_rtt.append(echo.round_trips(echo_frames)[WARM:])
                for label, encoding, form in PATHS:
                    frames = _frames(_as(batches, INSTRUMENTS[k]), encoding, form)
                    client_marks[label].append(_client(url, frames, encoding, f"rt-{k}"))
                    order.append(label)
                    k += 1
                if progress is not None:
                    progress.tick()
                print(f"round {r + 1}/{rounds} done", file=sys.stderr)
        finally:
            srv.stop(signal.SIGINT)  # the probe's rows are saved on the way out
        rows = np.load(marks_file)
        collections = np.load(marks_file.removesuffix(".npy") + ".gc.npy").reshape(-1, 3)
    finally:
        echo.stop()
    if len(rows) != n * len(order):
        raise RuntimeError(f"the probe kept {len(rows)} round trips, {n * len(order)} expected")
    server: dict[str, list[np.ndarray]] = {p[0]: [] for p in PATHS}
    for i, label in enumerate(order):
        server[label].append(rows[i * n : (i + 1) * n])
    result: dict[str, Any] = {"echo": np.concatenate(echo_rtt), "paths": {}, "rounds": rounds,
                              "batches": n, "load": os.getloadavg(),
                              "gc": collections}  # fmt: skip
    for label, _, _ in PATHS:
        c = np.concatenate([m[WARM:] for m in client_marks[label]])
        s = np.concatenate([m[WARM:] for m in server[label]])
        marks = {name: s[:, i] for i, name in enumerate(STAGES)}
        marks["c0"], marks["c1"] = c[:, 0], c[:, 1]
        stages = {name: (marks[b] - marks[a]) for name, a, b in INTERVALS}
        result["paths"][label] = {"rtt": marks["c1"] - marks["c0"], "stages": stages,
                                  "span": (marks["c0"], marks["c1"])}  # fmt: skip
    return result


def _p(x: np.ndarray) -> tuple[float, float]:
    p50, p99 = np.percentile(x.astype(np.float64), [50, 99])
    return float(p50) / 1e3, float(p99) / 1e3


def render(res: dict[str, Any]) -> list[str]:
    """The breakdown: per stage p50 / p99 (us) of each path, the round trips and the echo."""
    labels = [p[0] for p in PATHS]
    lines = [f"Where a round trip goes ({res['rounds']} round(s) of {res['batches']} batches, "
             f"first {WARM} of each pass left out; load {res['load'][0]:.2f}), us p50 / p99:",
             f"  {'stage':48s}" + "".join(f"{lb:>22s}" for lb in labels)]  # fmt: skip
    for name, _, _ in INTERVALS:
        cells = []
        for lb in labels:
            p50, p99 = _p(res["paths"][lb]["stages"][name])
            cells.append(f"{p50:10.1f} / {p99:8.1f}")
        lines.append(f"  {name:48s}" + "".join(f"{c:>22s}" for c in cells))
    cells = []
    for lb in labels:
        p50, p99 = _p(res["paths"][lb]["rtt"])
        cells.append(f"{p50:10.1f} / {p99:8.1f}")
    lines.append(f"  {'round trip':48s}" + "".join(f"{c:>22s}" for c in cells))
    e50, e99 = _p(res["echo"])
    lines.append(f"  {'bare FastAPI echo of the MessagePack frames':48s}{e50:10.1f} / {e99:8.1f}")
    cells = []
    for lb in labels:
        p50, p99 = _p(res["paths"][lb]["rtt"])
        cells.append(f"{p50 / e50:9.2f}x / {p99 / e99:6.2f}x")
    lines.append(f"  {'round trip / echo':48s}" + "".join(f"{c:>22s}" for c in cells))
    gcs = res.get("gc")
    if gcs is not None:
        kept = res["batches"] * res["rounds"] * len(labels)
        per = [f"gen {g}: {int((gcs[:, 0] == g).sum())}" for g in range(3)]
        us = gcs[:, 1] / 1e3 if len(gcs) else np.zeros(1)
        lines.append(f"  garbage collections over {kept} round trips: {', '.join(per)}; "
                     f"median {np.median(us):.0f} us, max {us.max():.0f} us")  # fmt: skip
    lines += tail(res)
    return lines


def tail(res: dict[str, Any], top: int = 4) -> list[str]:
    """What the slowest 1% of each path's round trips met: the stages whose time went most
    over their own p50 in those round trips (summed, us, and the share of all the excess), and
    how many of them had a garbage collection start between the client's send and receipt."""
    lines = ["  the slowest 1% of round trips: where their time over each stage's p50 went"]
    gcs = res.get("gc")
    starts = gcs[:, 2] if gcs is not None and len(gcs) and gcs.shape[1] > 2 else None
    for label, _, _ in PATHS:
        path = res["paths"][label]
        rtt = path["rtt"]
        slow = rtt >= np.percentile(rtt, 99)
        excess = {}
        for name, x in path["stages"].items():
            over = x[slow].astype(np.float64) - float(np.percentile(x, 50))
            excess[name] = float(np.clip(over, 0, None).sum()) / 1e3
        total = sum(excess.values()) or 1.0
        best = sorted(excess.items(), key=lambda kv: -kv[1])[:top]
        cells = "; ".join(f"{name} +{us:.0f} us ({100 * us / total:.0f}%)" for name, us in best)
        gc_note = ""
        if starts is not None:
            c0, c1 = (m[slow] for m in path["span"])
            hit = ((starts[None, :] >= c0[:, None]) & (starts[None, :] <= c1[:, None])).any(1)
            gc_note = f"; a collection in {int(hit.sum())} of them"
        lines.append(f"    {label} ({int(slow.sum())}): {cells}{gc_note}")
    return lines


def _results(res: dict[str, Any]) -> list[Result]:
    rows = []
    e = Result(SUITE, "roundtrip", "baseline", "bare FastAPI WebSocket echo (round trip)",
               BATCH * 1e9 / float(np.median(res["echo"])), unit="upd")  # fmt: skip
    e.p50_ns, e.p99_ns = (float(v) for v in np.percentile(res["echo"], [50, 99]))
    e.lat_unit = f"batch ({BATCH} upd)"
    rows.append(e)
    for label, _, _ in PATHS:
        rtt = res["paths"][label]["rtt"]
        r = Result(SUITE, "roundtrip", "ours", f"WebSocket {label}, staged round trip",
                   BATCH * 1e9 / float(np.median(rtt)), unit="upd")  # fmt: skip
        r.p50_ns, r.p99_ns = (float(v) for v in np.percentile(rtt, [50, 99]))
        r.lat_unit = f"batch ({BATCH} upd)"
        rows.append(r)
    return rows


def tasks(streams: Any, seconds: float) -> tuple[list[Task], list[str]]:
    rounds = 1 if seconds < 1 else min(5, int(seconds))

    def run(progress: Progress) -> list[Result]:
        res = measure(rounds, progress)
        LAST.clear()
        LAST.update(res)
        return _results(res)

    return [Task("server round trip by stages (ESH4, request/response)", run)], []


def summary(results: list[Result]) -> list[str]:
    return render(LAST) if LAST else []


#: how the in-process passes spend the time between two batches
BETWEEN = ("back to back", "asleep 1 ms", "32 MB written")


def in_process(rounds: int) -> list[str]:
    """The same batches through an in-process ``Hub.apply`` (one instrument each pass), p50 of
    the validation (the apply's start to its ``validated`` mark) and of the whole apply, with
    nothing between two batches, a 1 ms sleep (as the server waits on its socket), or 32 MB
    written (caches evicted): what a wait alone does to the same Python path."""
    import logging
    import time

    from orderflow.server import stages as probe_stages
    from orderflow.server.hub import Hub

    logging.disable(logging.WARNING)  # the latency alerts of a loaded machine
    batches = _batches(None)
    hub = Hub()
    for b in _as(batches, INSTRUMENTS[0]):  # compiled kernels loaded, first calls made
        hub.apply(b, "warm")
    probe = probe_stages.StageProbe()
    probe_stages.install(probe)
    buf = np.zeros(32 * 2**20 // 8)
    got: dict[str, list[tuple[float, float]]] = {b: [] for b in BETWEEN}
    k = 1
    for _ in range(rounds):
        for between in BETWEEN:
            validate, whole = [], []
            for i, b in enumerate(_as(batches, INSTRUMENTS[k % len(INSTRUMENTS)])):
                if between == BETWEEN[1]:
                    time.sleep(0.001)
                elif between == BETWEEN[2]:
                    buf += 1.0
                t0 = time.perf_counter_ns()
                hub.apply(b, f"in-{k}")
                t1 = time.perf_counter_ns()
                if i >= WARM:
                    validate.append(probe.current[probe_stages.VALIDATED] - t0)
                    whole.append(t1 - t0)
            got[between].append((float(np.median(validate)) / 1e3, float(np.median(whole)) / 1e3))
            k += 1
    probe_stages.install(None)
    lines = [f"In process, p50 us (validation / whole apply), load {os.getloadavg()[0]:.2f}:"]
    for between, runs in got.items():
        cells = ", ".join(f"{v:.0f} / {w:.0f}" for v, w in runs)
        lines.append(f"  {between:14s} {cells}")
    return lines


def decode_convert(rounds: int) -> list[str]:
    """Each path's frames decoded as a WebSocket session decodes them (``decode_frame``) and
    checked and converted as ``Hub.apply`` does (the compiled call with the times' window,
    ``fast_conversion``; else ``check_batch`` and ``convert_batch``) in process, back to back
    and after a 1 ms sleep; p50 us over ESH4's batches, the best of ``rounds`` passes, the
    paths alternated in each."""
    import logging

    from orderflow.protocol import EARLIEST_NS, FUTURE_NS, check_batch
    from orderflow.server.frames import decode_frame
    from orderflow.server.hub import Hub
    from orderflow.server.wire import commit_conversion, convert_batch, fast_conversion

    logging.disable(logging.WARNING)
    batches = _as(_batches(None), INSTRUMENTS[0])
    frames = {label: _frames(batches, enc, form) for label, enc, form in PATHS}
    best: dict[tuple[str, float], list[float]] = {}
    for _ in range(rounds):
        for pause in (0.0, 0.001):
            for label in frames:
                st = Hub().state(INSTRUMENTS[0])
                dec, conv = [], []
                for f in frames[label]:
                    if pause:
                        time.sleep(pause)
                    t0 = time.perf_counter_ns()
                    msg: Any = decode_frame(f)
                    t1 = time.perf_counter_ns()
                    now = time.time_ns()
                    fast = fast_conversion(st, msg, EARLIEST_NS, now + FUTURE_NS)
                    if fast is not None:
                        commit_conversion(st, fast)
                    else:
                        check_batch(msg, now)
                        convert_batch(st, msg)
                    conv.append(time.perf_counter_ns() - t1)
                    dec.append(t1 - t0)
                got = [float(np.median(dec[WARM:])) / 1e3, float(np.median(conv[WARM:])) / 1e3]
                old = best.setdefault((label, pause), got)
                best[label, pause] = [min(a, b) for a, b in zip(old, got, strict=True)]
    lines = [f"In process, p50 us (decode / check and convert), best of {rounds}, "
             f"load {os.getloadavg()[0]:.2f}:"]  # fmt: skip
    for label in frames:
        cells = [f"{best[label, p][0]:5.1f} / {best[label, p][1]:5.1f}" for p in (0.0, 0.001)]
        lines.append(f"  {label:22s} back to back {cells[0]}   after 1 ms {cells[1]}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (each: echo and every path)")
    ap.add_argument("--in-process", action="store_true",
                    help="the validation and the apply in process: back to back, after a "
                    "sleep, after evicting the caches")  # fmt: skip
    ap.add_argument("--gap-ms", type=float, default=0.0,
                    help="the client's pause between an ack and its next batch (default 0: at "
                    "once)")  # fmt: skip
    ap.add_argument("--decode", action="store_true",
                    help="each path's decoding and conversion in process")  # fmt: skip
    ap.add_argument("--record", action="store_true",
                    help="the server records every batch (its default; off otherwise)")  # fmt: skip
    args = ap.parse_args()
    global GAP_S, CONFIG
    GAP_S = args.gap_ms / 1e3
    if args.record:
        CONFIG = RECORDING
    os.environ.setdefault("PYTHONPATH", f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    if args.decode:
        print("\n".join(decode_convert(args.rounds)))
        return
    if args.in_process:
        print("\n".join(in_process(args.rounds)))
        return
    print("\n".join(render(measure(args.rounds))))


if __name__ == "__main__":
    main()
