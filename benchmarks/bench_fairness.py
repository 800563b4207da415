"""Fairness under a flood: the bridge's ack latency alone, then beside 50 flooding clients
each within its own rate limits, and ``/health`` latency under that flood, in one run.

The server runs in its own process (``orderflow serve``, recording off), as in production. The
bridge client (here, a thread) sends ESH4 as NinjaTrader depth batches of 100+ events over the
WebSocket (MessagePack), one at a time, and times each batch from send to its ack. The flood
runs in a third process: 50 WebSocket clients, each on its own instrument, pipelining the same
batches as fast as the server reads them (the stream replayed in a loop), reading their acks
so none is a slow consumer; each stays within the server's per-connection limits (the default
5,000 messages/s and 5M events/s: the server throttles, never refuses them). ``/health`` is
polled beside it. Bounded in time: each phase stops after ``PHASE_S`` seconds or ``BRIDGE_N``
batches.

Rows: the bridge's ack alone (baseline) and under the flood; ``/health`` alone (baseline) and
under the flood; p50/p99 per call; the ratio column compares rates (calls/s of that client).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from bench_server import ServerProcess
from harness import Progress, Result, fmt_ns, percentiles
from streams import Streams

SUITE = "fairness"
FLOODERS = 50
BRIDGE_N = 300
PHASE_S = 12.0
WARMUP_S = 3.0
ROOT = Path(__file__).resolve().parents[1]
ROOTS = ("ES", "MES", "NQ", "MNQ")
MONTHS = ("03", "06", "09", "12")


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _instruments(n: int) -> list[str]:
    """``n`` NinjaTrader names of contracts with ESH4's tick (0.25), none the bridge's."""
    names = [f"{r} {m}-{y}" for y in range(25, 35) for r in ROOTS for m in MONTHS]
    return names[:n]


def _bridge(url: str, frames: list[bytes], stop_after_s: float) -> np.ndarray:
    """Request/response over one WebSocket: ns from each send to its ack."""
    from websockets.sync.client import connect

    out: list[int] = []
    with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "bridge",
                            "encoding": "msgpack"}))  # fmt: skip
        ws.recv()
        t_end = time.perf_counter() + stop_after_s
        for i, f in enumerate(frames, start=1):
            t0 = time.perf_counter_ns()
            ws.send(f)
            while True:
                msg = msgspec.msgpack.decode(ws.recv())
                if msg.get("type") == "error":
                    raise RuntimeError(f"the bridge got an error: {msg}")
                if msg.get("type") == "ack" and msg.get("seq") == i:
                    break
            out.append(time.perf_counter_ns() - t0)
            if time.perf_counter() > t_end:
                break
    return np.asarray(out, dtype=np.float64)


def _health(base: str, stop: threading.Event, out: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        while not stop.is_set():
            t0 = time.perf_counter_ns()
            c.get("/health").raise_for_status()
            out.append(time.perf_counter_ns() - t0)
            time.sleep(0.02)


def _phase(url: str, base: str, batches: list[Any]) -> tuple[np.ndarray, list[int]]:
    """One measured phase: the bridge's ack latencies while /health is polled beside it."""
    health: list[int] = []
    stop = threading.Event()
    poller = threading.Thread(target=_health, args=(base, stop, health))
    poller.start()
    try:
        return _bridge(url, _frames(batches, "ES 03-24")[:BRIDGE_N], PHASE_S), health
    finally:
        stop.set()
        poller.join()


def _row(name: str, pair: str, impl: str, lat: np.ndarray, unit: str) -> Result:
    rate = len(lat) / (lat.sum() / 1e9) if len(lat) else None
    r = Result(SUITE, pair, impl, name, rate, unit="calls")
    r.p50_ns, r.p99_ns = percentiles(lat)
    r.lat_unit = unit
    r.calls = len(lat)
    return r


def _frames(batches: list[Any], instrument: str) -> list[bytes]:
    return [msgspec.msgpack.encode(msgspec.structs.replace(b, instrument=instrument, seq=i))
            for i, b in enumerate(batches, start=1)]  # fmt: skip


def _task(streams: Streams) -> Task:
    def run(progress: Progress) -> list[Result]:
        sys.path.insert(0, str(ROOT))
        from tests.integration.test_server import esh4_batches

        batches = [b for b in esh4_batches()[0] if len(b.depth) >= 100]
        raw = tempfile.NamedTemporaryFile(suffix=".msgpack", delete=False)  # noqa: SIM115
        raw.write(msgspec.msgpack.encode([msgspec.to_builtins(b) for b in batches]))
        raw.close()
        srv = ServerProcess(
            "server:\n  record_dir: null\nlogging:\n  level: WARNING\n"
            "trading:\n  server:\n    enabled: false\n"
        )
        flood = None
        rows: list[Result] = []
        try:
            url, base = f"ws://127.0.0.1:{srv.port}/ws", f"http://127.0.0.1:{srv.port}"
            alone, health_alone = _phase(url, base, batches)
            progress.tick()
            env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
            flood = subprocess.Popen([sys.executable, __file__, url, raw.name, str(FLOODERS)],
                                     env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
            time.sleep(WARMUP_S)
            flooded, health_flood = _phase(url, base, batches)
            flood.terminate()
            report = json.loads(flood.communicate(timeout=30)[0] or "{}")
            progress.tick()
            metrics = httpx.get(f"{base}/metrics", timeout=30).text
        finally:
            if flood is not None and flood.poll() is None:
                flood.kill()
            srv.stop()
            os.unlink(raw.name)
        unit = "batch (100+ upd)"
        rows.append(_row("bridge ack, alone", "fair:ack", "baseline", alone, unit))
        rows.append(_row(f"bridge ack, beside {FLOODERS} flooding clients", "fair:ack", "ours",
                         flooded, unit))  # fmt: skip
        rows.append(_row("/health, alone", "fair:health", "baseline",
                         np.asarray(health_alone, dtype=np.float64), "request"))  # fmt: skip
        rows.append(_row(f"/health, beside {FLOODERS} flooding clients", "fair:health", "ours",
                         np.asarray(health_flood, dtype=np.float64), "request"))  # fmt: skip
        events = report.get("acked_events", 0)
        secs = report.get("seconds", 0.0)
        rows[1].extra = {"flood": report, "scheduler": _scheduler_metrics(metrics)}
        errors, closed = report.get("errors", 0), report.get("closed", 0)
        rows[1].note = (f"{FLOODERS} clients pipelining 100+-event batches: {events:,} events "
                        f"acknowledged in {secs:.1f} s ({events / max(secs, 1e-9):,.0f}/s), "
                        f"{errors} errors, {closed} closed")  # fmt: skip
        return rows

    return Task(f"fairness: the bridge's acks and /health beside {FLOODERS} flooding clients", run)


def _scheduler_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(("orderflow_engine_", "orderflow_ws_throttled")):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def tasks(streams: Streams, seconds: float) -> tuple[list[Task], list[str]]:
    return [_task(streams)], []


def summary(results: list[Result]) -> list[str]:
    rows = {r.name.split(" [")[0]: r for r in results if r.suite == SUITE}
    if not rows:
        return []
    lines = ["Fairness (the bridge beside flooding clients, p50 / p99):"]
    for name, r in rows.items():
        lines.append(f"  {name}: {fmt_ns(r.p50_ns)} / {fmt_ns(r.p99_ns)} ({r.calls} calls)")
    return lines


# ---------------------------------------------------------------------------- the flood


async def _flooder(url: str, batches: list[dict[str, Any]], instrument: str,
                   stop: asyncio.Event, tally: dict[str, int]) -> None:  # fmt: skip
    import websockets

    try:
        async with websockets.connect(url, max_size=None, compression=None,
                                      open_timeout=60) as ws:  # fmt: skip
            await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": instrument,
                                      "encoding": "msgpack"}))  # fmt: skip
            await ws.recv()

            async def acks() -> None:
                async for raw in ws:
                    msg = msgspec.msgpack.decode(raw)
                    if msg.get("type") == "ack":
                        tally["acked_events"] += sum(msg.get("applied", {}).values())
                    elif msg.get("type") == "error":
                        tally["errors"] += 1

            reader = asyncio.create_task(acks())
            seq = 0
            while not stop.is_set():
                for b in batches:
                    seq += 1
                    await ws.send(msgspec.msgpack.encode({**b, "instrument": instrument,
                                                          "seq": seq}))  # fmt: skip
                    if stop.is_set():
                        break
            reader.cancel()
    except Exception:
        tally["closed"] += 1


async def _flood(url: str, path: str, n: int) -> dict[str, Any]:
    import signal

    batches = msgspec.msgpack.decode(Path(path).read_bytes())
    stop = asyncio.Event()
    tally = {"acked_events": 0, "errors": 0, "closed": 0}
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(_flooder(url, batches, name, stop, tally))
             for name in _instruments(n)]  # fmt: skip

    def end() -> None:  # a flooder may be blocked in send (the server pushes back): cancel
        stop.set()
        for t in tasks:
            t.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, end)
    await asyncio.gather(*tasks, return_exceptions=True)
    return {**tally, "seconds": time.perf_counter() - t0, "clients": n}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_flood(sys.argv[1], sys.argv[2], int(sys.argv[3])))))
