"""What dashboard viewers cost the server's process and the machine, counted rather than timed:
the server's CPU and its event loop's wakeups (``epoll_pwait`` calls: one per turn of its
loop, uvloop's as asyncio's) and writes, with 0 and 5 viewers attached.

The server, the bridge and the viewers' process are :mod:`bench_view`'s. First two idle
windows (no feed): none attached, then 5 attached once they have their snapshots. Then fed
rounds (ESH4 at full speed, every batch sent when the previous ack came back), 0 and 5
viewers in turn (0, 5, 5, 0 ...): per timed ack the server's CPU and context switches, per
second the viewers' process's CPU and the frames its viewers read. The idle windows' syscalls
come from ``strace -c -f`` attached for a second window of the same length (it slows what it
traces: counts only; a fed round under it saw next to no frames, so none is traced). CPU
from ``/proc/PID/stat`` (10 ms ticks: summed over the rounds), context switches from
``/proc/PID/task/*/status``. Nothing passes or fails.

    .venv/bin/python benchmarks/probe_view.py [ROUNDS] [--seconds S] [--no-strace]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_view as bv

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of all of ``pid``'s threads so far."""
    vol = inv = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{t}/status").read_text()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                vol += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                inv += int(line.split()[1])
    return vol, inv


class Strace:
    """``strace -c -f`` attached to a process until :meth:`counts`."""

    def __init__(self, pid: int) -> None:
        self.proc = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid)],
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(0.5)  # attached to every thread

    def counts(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        out: dict[str, int] = {}
        for line in err.splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
            if m:
                out[m.group(2)] = int(m.group(1))
        return out


def _viewers(port: int, name: str) -> subprocess.Popen[str]:
    w = subprocess.Popen([sys.executable, bv.__file__, "--watch", str(port), name, "msgpack"],
                         env=bv._env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)  # fmt: skip
    assert w.stdout is not None
    assert w.stdout.readline().strip() == "ready"
    return w


def idle(
    pid: int, port: int, name: str, seconds: float, viewers: bool, trace: bool
) -> dict[str, Any]:
    """One idle window: CPU per second of the server (and the viewers' process), then, under
    strace, its syscalls per second."""
    w = _viewers(port, name) if viewers else None
    time.sleep(0.5)
    c0, w0, x0, t0 = cpu_s(pid), cpu_s(w.pid) if w else 0.0, switches(pid), time.monotonic()
    time.sleep(seconds)
    dt = time.monotonic() - t0
    out: dict[str, Any] = {
        "viewers": 5 if viewers else 0,
        "server_cpu_ms_per_s": (cpu_s(pid) - c0) / dt * 1e3,
        "viewers_cpu_ms_per_s": (cpu_s(w.pid) - w0) / dt * 1e3 if w else 0.0,
        "server_switches_per_s": (sum(switches(pid)) - sum(x0)) / dt,
    }
    if trace:
        st = Strace(pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        dt = time.monotonic() - t0
        c = st.counts()
        out["syscalls_per_s"] = {k: round(v / dt, 1) for k, v in c.items() if v / dt >= 1}
    if w is not None:
        w.communicate("", timeout=30)
    return out


def fed(pid: int, port: int, batches: list[Any], name: str, viewers: bool) -> dict[str, Any]:
    """One fed round (as bench_view's): the timed acks' server CPU and context switches, the
    viewers' process's CPU and the frames its viewers read."""
    from websockets.sync.client import connect

    frames = [msgspec.json.encode(msgspec.structs.replace(b, instrument=name)).decode()
              for b in batches]  # fmt: skip
    w = None
    with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 2, "client": f"nt8-{name}"}))
        ws.recv()
        for i, f in enumerate(frames):
            if i == bv.SKIP:
                c0, x0, t0 = cpu_s(pid), switches(pid), time.monotonic()
                w0 = cpu_s(w.pid) if w else 0.0
            ws.send(f)
            ws.recv()
            if i == 0 and viewers:
                w = _viewers(port, name)
        dt = time.monotonic() - t0
        out: dict[str, Any] = {
            "wall_s": dt,
            "server_cpu_s": cpu_s(pid) - c0,
            "viewers_cpu_s": cpu_s(w.pid) - w0 if w else 0.0,
            "switches": sum(switches(pid)) - sum(x0),
        }
    out["frames"] = 0
    if w is not None:
        got, _ = w.communicate("", timeout=30)
        out["frames"] = int(got.strip().splitlines()[-1])
    return out


def main() -> None:
    args = sys.argv[1:]
    seconds = 5.0
    if "--seconds" in args:
        i = args.index("--seconds")
        seconds = float(args[i + 1])
        del args[i : i + 2]
    trace = shutil.which("strace") is not None
    if "--no-strace" in args:
        args.remove("--no-strace")
        trace = False
    rounds = int(args[0]) if args else 8
    batches = bv._batches()
    server = subprocess.Popen([sys.executable, bv.__file__, "--serve"], env=bv._env(),
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        pid = server.pid
        bv._round(port, batches, "ESH4", False)  # warm-up; the instrument the idle viewers see
        print("load average", os.getloadavg())
        for v in (False, True):
            print("idle", json.dumps(idle(pid, port, "ESH4", seconds, v, trace)), flush=True)
        acks = len(batches) - bv.SKIP
        got: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for r in range(rounds):
            v = r % 4 in (1, 2)
            got[v].append(fed(pid, port, batches, bv.NAMES[(r + 1) % len(bv.NAMES)], v))
        for v in (False, True):
            rs = got[v]
            n = acks * len(rs)
            wall = sum(r["wall_s"] for r in rs)
            row = {
                "viewers": 5 if v else 0,
                "acks": n,
                "server_cpu_us_per_ack": sum(r["server_cpu_s"] for r in rs) / n * 1e6,
                "server_switches_per_ack": sum(r["switches"] for r in rs) / n,
                "viewers_cpu_ms_per_s": sum(r["viewers_cpu_s"] for r in rs) / wall * 1e3,
                "frames_viewed_per_s": sum(r["frames"] for r in rs) / wall,
                "rounds_wall_s": round(wall, 2),
            }
            print("fed", json.dumps(row), flush=True)
        print("load average", os.getloadavg())
    finally:
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    main()
