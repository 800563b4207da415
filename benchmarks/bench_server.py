"""Server benchmarks: loopback throughput and round-trip latency of a batch of 100 NinjaTrader
depth events (ESH4, converted), answered with book and metrics, over REST, WebSocket JSON and
WebSocket MessagePack, request/response and pipelined; beside a raw asyncio TCP echo of the
same bytes (the floor) and a bare FastAPI WebSocket echo (no book, no metrics).

The server runs in its own process (``orderflow serve``, recording off), as in production; the
client runs here. Latency is per batch (send to answer received); updates/s counts depth events.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
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
from websockets.sync.client import connect

from harness import Progress, Result, fmt_rate, percentiles
from orderflow.protocol import columnar, packed
from orderflow.server.threaded import free_port
from streams import Streams

SUITE = "server"
BATCH = 100
ROOT = Path(__file__).resolve().parents[1]


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _batches(streams: Streams) -> list[Any]:
    sys.path.insert(0, str(ROOT))
    from tests.integration.test_server import esh4_batches

    return [b for b in esh4_batches()[0] if len(b.depth) >= BATCH]


def _as(batches: list[Any], instrument: str) -> list[Any]:
    """The same batches under another instrument or contract with the same tick (0.25)
    and numbered from 1: each measurement starts from an empty book of its own (replaying the
    stream over a book that already holds its end would break the ladder)."""
    return [msgspec.structs.replace(b, instrument=instrument, seq=i)
            for i, b in enumerate(batches, start=1)]  # fmt: skip


class ServerProcess:
    """``orderflow serve`` in a process of its own on a free port, with ``config`` (YAML) in
    a temporary folder it runs in; ready once ``/health`` says 200 (503 while it warms)."""

    def __init__(self, config: str = "server:\n  record_dir: null\nlogging:\n  level: WARNING\n",
                 timeout_s: float = 90.0, entry: list[str] | None = None) -> None:  # fmt: skip
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-serve-")
        cfg = Path(self.dir) / "config.yaml"
        cfg.write_text(config)
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        self.proc = subprocess.Popen(
            [sys.executable, *(entry or ["-m", "orderflow.cli.main"]), "--config", str(cfg),
             "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir, env=env,
        )  # fmt: skip
        deadline = time.time() + timeout_s
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                code = self.proc.poll()
                if code is None:  # still starting (compiling, say): not left running
                    self.proc.kill()
                    self.proc.wait(timeout=20)
                shutil.rmtree(self.dir, ignore_errors=True)
                why = f"it exited with {code}" if code is not None else f"not within {timeout_s} s"
                raise RuntimeError(f"the server did not start: {why}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


class EchoProcess:
    """A bare FastAPI WebSocket echo (``echo_app.py``) served by uvicorn in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "echo_app:app", "--port", str(self.port),
             "--log-level", "warning", "--ws-per-message-deflate", "false"],
            cwd=Path(__file__).parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError("the echo server did not start") from None
                time.sleep(0.1)

    def round_trips(self, frames: list[bytes] | list[str]) -> np.ndarray:
        """Each frame sent and its echo received, one at a time (ns per round trip)."""
        out = np.empty(len(frames))
        with connect(f"ws://127.0.0.1:{self.port}/ws", max_size=None, compression=None) as ws:
            for i, f in enumerate(frames):
                t0 = time.perf_counter_ns()
                ws.send(f)
                ws.recv()
                out[i] = time.perf_counter_ns() - t0
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _fastapi_echo(frames: list[bytes]) -> np.ndarray:
    """Round trips of each frame through a bare FastAPI WebSocket echo in its own process."""
    echo = EchoProcess()
    try:
        return echo.round_trips(frames)
    finally:
        echo.stop()


def _tcp_echo(payload: bytes, n: int) -> np.ndarray:
    """Round trips of ``payload`` through a raw asyncio TCP echo server in another thread."""
    port = free_port()
    ready = threading.Event()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readexactly(4)
                body = await r.readexactly(int.from_bytes(head, "little"))
                w.write(head + body)
                await w.drain()
        except asyncio.IncompleteReadError:  # the client is done
            w.close()

    def serve() -> None:
        async def main() -> None:
            srv = await asyncio.start_server(handle, "127.0.0.1", port)
            ready.set()
            async with srv:
                await srv.serve_forever()

        asyncio.run(main())

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    out = np.empty(n)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frame = len(payload).to_bytes(4, "little") + payload
        for i in range(n):
            t0 = time.perf_counter_ns()
            s.sendall(frame)
            got = 0
            while got < len(frame):
                got += len(s.recv(65536))
            out[i] = time.perf_counter_ns() - t0
    return out


def _ws_rr(
    url: str,
    batches: list[Any],
    encoding: str,
    client: str,
    columns: bool = False,
    packed_depth: bool = False,
) -> np.ndarray:
    out = np.empty(len(batches))
    if columns:
        batches = [columnar(b) for b in batches]
    if packed_depth:
        batches = [packed(b) for b in batches]
    with connect(url, max_size=None, compression=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": client,
                            "encoding": encoding}))  # fmt: skip
        ws.recv()
        for i, b in enumerate(batches):
            data: Any = (msgspec.msgpack.encode(b) if encoding == "msgpack"
                         else msgspec.json.encode(b).decode())  # fmt: skip
            t0 = time.perf_counter_ns()
            ws.send(data)
            ws.recv()
            out[i] = time.perf_counter_ns() - t0
    return out


def _ws_pipelined(url: str, batches: list[Any], client: str, columns: bool = False) -> float:
    """Seconds to push every batch (MessagePack; depth as columns with ``columns``) with acks
    read by a second thread."""
    with connect(url, max_size=None, compression=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": client,
                            "encoding": "msgpack"}))  # fmt: skip
        ws.recv()
        frames = [msgspec.msgpack.encode(columnar(b) if columns else b) for b in batches]
        done = threading.Event()

        last = batches[-1].seq

        def reader() -> None:  # an ack may answer several batches (first_seq .. seq)
            while msgspec.msgpack.decode(ws.recv()).get("seq") != last:
                pass
            done.set()

        t = threading.Thread(target=reader)
        t0 = time.perf_counter()
        t.start()
        for f in frames:
            ws.send(f)
        done.wait(600)
        return time.perf_counter() - t0


def _rest_rr(base: str, batches: list[Any]) -> np.ndarray:
    out = np.empty(len(batches))
    with httpx.Client(base_url=base) as c:
        for i, b in enumerate(batches):
            body = msgspec.json.encode(b)
            t0 = time.perf_counter_ns()
            c.post("/l2_update", content=body)
            out[i] = time.perf_counter_ns() - t0
    return out


def _row(name: str, pair: str, impl: str, lat: np.ndarray | None, rate: float) -> Result:
    r = Result(SUITE, pair, impl, name, rate, unit="upd")
    if lat is not None:
        r.p50_ns, r.p99_ns = percentiles(lat)
        r.lat_unit = f"batch ({BATCH} upd)"
    return r


def _task(streams: Streams, seconds: float) -> Task:
    def run(progress: Progress) -> list[Result]:
        batches = _batches(streams)
        n = len(batches)
        payload = msgspec.json.encode(batches[0])
        rows = []
        echo = _tcp_echo(payload, min(n, 2000))
        rows.append(_row("raw asyncio TCP echo of the same JSON bytes (floor)", "server:rr",
                         "baseline", echo, BATCH / (np.median(echo) / 1e9)))  # fmt: skip
        progress.tick()
        bare = _fastapi_echo([msgspec.msgpack.encode(b) for b in batches])
        rate = BATCH * n / (bare.sum() / 1e9)
        rows.append(_row("bare FastAPI WebSocket echo, MessagePack (no book, no metrics)",
                         "server:rr", "baseline", bare, rate))  # fmt: skip
        progress.tick()
        srv = ServerProcess()
        try:
            url, base = f"ws://127.0.0.1:{srv.port}/ws", f"http://127.0.0.1:{srv.port}"
            lat = _ws_rr(url, _as(batches, "ES 03-24"), "json", "bench-json")
            rows.append(_row("WebSocket JSON, request/response, book + metrics", "server:rr",
                             "ours", lat, BATCH * n / (lat.sum() / 1e9)))  # fmt: skip
            progress.tick()
            lat = _ws_rr(url, _as(batches, "MES 03-24"), "msgpack", "bench-msgpack")
            rows.append(_row("WebSocket MessagePack, request/response", "server:rr", "ours",
                             lat, BATCH * n / (lat.sum() / 1e9)))  # fmt: skip
            progress.tick()
            secs = _ws_pipelined(url, _as(batches, "NQ 03-24"), "bench-pipe")
            rows.append(_row("WebSocket MessagePack, pipelined", "server:rr", "ours", None,
                             BATCH * n / secs))  # fmt: skip
            progress.tick()
            lat = _ws_rr(url, _as(batches, "ES 06-24"), "msgpack", "bench-cols", columns=True)
            rows.append(_row("WebSocket MessagePack, depth as columns, request/response",
                             "server:rr", "ours", lat, BATCH * n / (lat.sum() / 1e9)))  # fmt: skip
            progress.tick()
            secs = _ws_pipelined(url, _as(batches, "NQ 06-24"), "bench-cols-pipe", columns=True)
            rows.append(_row("WebSocket MessagePack, depth as columns, pipelined", "server:rr",
                             "ours", None, BATCH * n / secs))  # fmt: skip
            progress.tick()
            lat = _ws_rr(url, _as(batches, "MES 06-24"), "msgpack", "bench-packed",
                         packed_depth=True)  # fmt: skip
            rows.append(_row("WebSocket MessagePack, depth packed, request/response",
                             "server:rr", "ours", lat, BATCH * n / (lat.sum() / 1e9)))  # fmt: skip
            progress.tick()
            lat = _ws_rr(url, _as(batches, "MNQ 06-24"), "json", "bench-json-packed",
                         packed_depth=True)  # fmt: skip
            rows.append(_row("WebSocket JSON, depth packed (base64), request/response",
                             "server:rr", "ours", lat, BATCH * n / (lat.sum() / 1e9)))  # fmt: skip
            progress.tick()
            lat = _rest_rr(base, _as(batches, "MNQ 03-24"))
            rows.append(_row("REST POST /l2_update, request/response", "server:rr", "ours", lat,
                             BATCH * n / (lat.sum() / 1e9)))  # fmt: skip
        finally:
            srv.stop()
        for r in rows:
            r.note = "" if r.impl == "baseline" else f"{n} batches of {BATCH}+ depth events"
        return rows

    return Task("server over loopback (ESH4 as NinjaTrader depth batches)", run)


def tasks(streams: Streams, seconds: float) -> tuple[list[Task], list[str]]:
    return [_task(streams, seconds)], []


def summary(results: list[Result]) -> list[str]:
    def find(prefix: str) -> Result | None:
        return next((r for r in results if r.suite == SUITE and r.name.startswith(prefix)), None)

    pipe, cols = (
        find("WebSocket MessagePack, pipe"),
        find("WebSocket MessagePack, depth as columns, p"),
    )
    rest, bare = find("REST"), find("bare FastAPI")
    lines = ["Goals:"]
    if pipe and pipe.events_per_s and cols and cols.events_per_s:
        lines.append(f"  pipelined WS MessagePack >= 1M updates/s: {fmt_rate(pipe.events_per_s)}/s"
                     f" (depth as columns: {fmt_rate(cols.events_per_s)}/s)")  # fmt: skip
    for rr in (
        find("WebSocket JSON"),
        find("WebSocket MessagePack, r"),
        find("WebSocket MessagePack, depth as columns, r"),
    ):
        if rr and rr.p50_ns:
            lines.append(f"  {rr.name.split(' [')[0]}: p50 {rr.p50_ns / 1e3:.0f} us, p99 "
                         f"{rr.p99_ns / 1e3:.0f} us (goal < 300 / < 600 us)")  # fmt: skip
    if bare and bare.p50_ns:
        lines.append(f"  bare FastAPI echo of the same frames: p50 {bare.p50_ns / 1e3:.0f} us, "
                     f"p99 {bare.p99_ns / 1e3:.0f} us")  # fmt: skip
    if rest and rest.p99_ns:
        lines.append(f"  REST p99 < 2 ms: {rest.p99_ns / 1e6:.2f} ms")
    return lines
