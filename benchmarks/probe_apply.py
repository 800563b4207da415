"""Where a MessagePack rows batch's CPU goes in the server's request/response path, step by
step, in process: ESH4's batches of 100+ depth events (``bench_server``'s) as MessagePack rows
frames, a 1 ms sleep before each (the caches as cold as a request/response server's between
two batches), each frame decoded as a WebSocket session decodes it (``decode_frame``), applied
by ``Hub.apply`` answering as a MessagePack session has it answer (``Hub.acks_as``), the ack
encoded, then the work held for after the ack settled and the dashboard's view folded as after
a written ack. Each step is wrapped in place and timed on the thread's CPU clock
(``time.thread_time_ns``; the wrappers' own clock reads are in the figures, nested steps are in
their callers'). Figures: p50 us per step over the batches after the first 50 that read no
clusters or profile, and the median of those over the runs. Run it on two
trees to compare (interleaved). Nothing passes or fails.

    PYTHONPATH=src:benchmarks python benchmarks/probe_apply.py [RUNS] [--bare] [--json]

``--bare``: no step wrapped (the apply's figure without the wrappers' clock reads).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec

import orderflow.server.hub as hub_module
from bench_backtest import cpu_timed
from bench_server import _as, _batches
from orderflow.analytics.nt_bars import NtBars
from orderflow.engine.pipeline import Pipeline
from orderflow.protocol import encode
from orderflow.server.answers import InstrumentAnswers
from orderflow.server.frames import decode_frame
from orderflow.server.hub import Hub

INSTRUMENT = "ES 03-24"
INSTRUMENT_KEY = "ESH4"
WARM = 50  # the first batches load the kernels
SLEEP_S = 0.001
#: module functions Hub.apply calls by name (timed in place in ``orderflow.server.hub``)
FUNCTIONS = ["fast_conversion", "commit_conversion", "undo_of", "book_metrics_top"]
#: the Hub's own steps
METHODS = ["_claim", "_count", "_ask_or_heal", "_rest_of", "_rejected", "_ack", "_check_alerts",
           "_decide"]  # fmt: skip


def _wrap_steps(hub: Hub, batch: dict[str, int], saved: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        setattr(hub_module, name, cpu_timed(saved[name], batch, name))
    for name in METHODS:
        setattr(hub, name, cpu_timed(getattr(hub, name), batch, name))
    for name in ("took", "moving", "applied"):
        setattr(hub.view, name, cpu_timed(getattr(hub.view, name), batch, f"view.{name}"))
    for owner, name in ((hub.answers, "for_ack"), (hub.trading, "book"), (hub.trading, "prints"),
                        (hub.alerts, "check")):  # fmt: skip
        label = f"{type(owner).__name__}.{name}"
        setattr(owner, name, cpu_timed(getattr(owner, name), batch, label))


def run(frames: list[bytes], bare: bool = False) -> dict[str, float]:
    """One pass of ``frames`` through a new Hub: each step's p50 CPU us (``bare``: only the
    decoding, the apply, the encoding and what follows the ack, no step wrapped)."""
    hub = Hub()
    hub.trading.connected("nt8", False)  # a session's client has a desk after its hello
    batch: dict[str, int] = {}
    saved = {name: getattr(hub_module, name) for name in FUNCTIONS}
    classes = [] if bare else [(NtBars, "add_prints", NtBars.add_prints),
               (Pipeline, "process_batch", Pipeline.process_batch),
               (InstrumentAnswers, "value_area", InstrumentAnswers.value_area)]  # fmt: skip
    try:
        for cls, name, fn in classes:
            setattr(cls, name, cpu_timed(fn, batch, f"{cls.__name__}.{name}"))
        if not bare:
            _wrap_steps(hub, batch, saved)
        rows: list[dict[str, int]] = []
        clock = time.thread_time_ns
        for f in frames:
            time.sleep(SLEEP_S)
            batch.clear()
            ia = hub.answers.of.get(INSTRUMENT_KEY)
            read_ns, pread_ns = (ia.read_ns, ia.profile_read_ns) if ia is not None else (-1, -1)
            t0 = clock()
            msg: Any = decode_frame(f)
            t1 = clock()
            hub.acks_as, hub.view.acking = "msgpack", True  # as a session applies
            try:
                ack, _ = hub.apply(msg, "nt8")
            finally:
                hub.acks_as, hub.view.acking = None, False
            t2 = clock()
            encode(ack, "msgpack")
            t3 = clock()
            hub.after_ack.settle()
            for iv in hub.view.of.values():
                iv.fold()
            t4 = clock()
            batch.update(decode=t1 - t0, apply=t2 - t1, encode=t3 - t2, after=t4 - t3)
            batch["read"] = int(
                hub.answers.of[INSTRUMENT_KEY].read_ns != read_ns
                or hub.answers.of[INSTRUMENT_KEY].profile_read_ns != pread_ns
            )
            rows.append(dict(batch))
    finally:
        for name, fn in saved.items():
            setattr(hub_module, name, fn)
        for cls, name, fn in classes:
            setattr(cls, name, fn)
    kept = [r for r in rows[WARM:] if not r["read"]]
    keys = [k for k in rows[-1] if k != "read"]
    return {k: float(np.median([r.get(k, 0) for r in kept])) / 1e3 for k in keys}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs_n = int(args[0]) if args else 2
    bare = "--bare" in sys.argv
    logging.disable(logging.WARNING)
    batches = _as(_batches(None), INSTRUMENT)
    frames = [msgspec.msgpack.encode(b) for b in batches]

    async def runs_in_loop() -> list[dict[str, float]]:  # a session's loop is running
        return [run(frames, bare) for _ in range(runs_n)]

    runs = asyncio.run(runs_in_loop())
    out = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[-1]}
    out["load"] = os.getloadavg()[0]
    if "--json" in sys.argv:
        print(msgspec.json.encode(out).decode())
        return
    print(f"{len(frames)} MessagePack rows frames, CPU us p50 (median of {runs_n} runs), "
          f"load {out['load']:.2f}")  # fmt: skip
    for k, v in out.items():
        if k != "load":
            print(f"  {k:28s} {v:8.2f}")


if __name__ == "__main__":
    main()
