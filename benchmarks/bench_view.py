"""The bridge's ack latency with dashboard viewers attached, against none, in the same run.

One server process (the real app on uvicorn, 127.0.0.1), one bridge (this process: ESH4 as
NinjaTrader's batches of about 100 depth events, JSON, each batch sent when the previous ack
came back, as the bridge does) and, for half of the rounds, a third process holding 5 viewers
of the instrument being fed (``/ws/view``, levels 40, MessagePack as the dashboard takes it,
every frame read). Rounds go 0, 5, 5, 0 viewers and again, so each mode is as often in the
odd as in the even places (with no viewers at all, odd rounds ran 7-16% faster at p50 than
even ones, which plain alternation credited to the viewers). ESH4 is replayed under another
ES contract name each round, so every round starts a fresh book on the same server; each round
times every send -> ack round trip.
Figures: p50/p99 per mode over all its rounds, and the ratio 5 viewers / none (goal: within
10%). Nothing passes or fails on them.

    .venv/bin/python benchmarks/bench_view.py [ROUNDS] [--nice] [--json] [--hz N] [--frames]
        (standalone; --nice: the viewers' process at the lowest priority, isolating the
        server's own work for them; --json: the viewers take the JSON text form, not the
        dashboard's MessagePack; --hz N: the server's frames per second at most, N from 1 to
        30: with 1 the viewers are attached and read, and next to no frames are built;
        --frames: only what a frame costs in CPU time, bytes and decoding, in process:
        ``frame_cost``)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Progress, Result

SUITE = "view"
ROOT = Path(__file__).resolve().parents[1]
ESH4 = (
    ROOT.parent / "shared" / "data" / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
)
VIEWERS = 5
#: the contract names the rounds use (one fresh book each)
NAMES = ["ESH4", "ESM4", "ESU4", "ESZ4", "ESH5", "ESM5", "ESU5", "ESZ5", "ESH6", "ESM6"]


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    if HZ:  # (--hz: the server's viewer frames per second at most)
        env["BENCH_VIEW_FRAME_HZ"] = HZ[0]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def _serve() -> None:
    """Child: the app on a free port; prints the port, serves until killed."""
    from orderflow.server.app import create_app
    from orderflow.server.threaded import ThreadedServer
    from orderflow.server.view import ViewParams

    hz = os.environ.get("BENCH_VIEW_FRAME_HZ")
    server = ThreadedServer(create_app(view=ViewParams(frame_hz=float(hz)) if hz else None))
    print(server.port, flush=True)
    threading.Event().wait()


def _watch(port: int, name: str, form: str) -> None:
    """Child: VIEWERS viewers of ``name`` reading every frame; 'ready' once each has its
    snapshot, then the frame count when stdin closes."""
    from websockets.sync.client import connect

    counts = [0] * VIEWERS
    ready = threading.Barrier(VIEWERS + 1)
    stop = threading.Event()

    def read(k: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/view?instrument={name}&levels=40"
        with connect(f"{url}&format={form}", max_size=None) as ws:
            first = ws.recv()
            msgspec.msgpack.decode(first) if isinstance(first, bytes) else json.loads(first)
            ready.wait()
            while not stop.is_set():
                try:
                    ws.recv(timeout=0.2)  # read, not decoded: a browser decodes elsewhere
                    counts[k] += 1
                except TimeoutError:
                    continue

    threads = [threading.Thread(target=read, args=(k,), daemon=True) for k in range(VIEWERS)]
    for t in threads:
        t.start()
    ready.wait()
    print("ready", flush=True)
    sys.stdin.read()
    stop.set()
    for t in threads:
        t.join(5)
    print(sum(counts), flush=True)


def _batches() -> list[Any]:
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    return [fb.batch for fb in build_batches(load_stream(ESH4))]


#: the viewers' form of frames: the dashboard's MessagePack (``--json``: the JSON text form)
FORMAT = ["msgpack"]
#: the server's ``server.view.frame_hz`` (``--hz N``; else its default, 30): with 1, viewers
#: attached and reading, next to no frames built
HZ: list[str] = []
#: run the viewers' process at the lowest priority (``--nice``): what is left is the server's
#: own work for them, not the viewers' CPU time on the same cores
NICE: list[str] = []


#: acks left out at each round's start (as bench_roundtrip leaves out each pass's first 20)
SKIP = 21


def _round(port: int, batches: list[Any], name: str, viewers: bool) -> tuple[np.ndarray, int]:
    """One replay of ESH4 as ``name``: every ack's send and receipt (``perf_counter_ns``, one
    row each), and the viewers' frames."""
    from websockets.sync.client import connect

    frames = [msgspec.json.encode(msgspec.structs.replace(b, instrument=name)).decode()
              for b in batches]  # fmt: skip
    t = np.zeros((len(frames), 2), dtype=np.int64)
    watcher = None
    with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 2, "client": f"nt8-{name}"}))
        ws.recv()
        for i, f in enumerate(frames):
            t0 = time.perf_counter_ns()
            ws.send(f)
            ws.recv()
            t[i] = (t0, time.perf_counter_ns())
            if i == 0 and viewers:  # the instrument exists now: the viewers attach
                watcher = subprocess.Popen(
                    [*NICE, sys.executable, __file__, "--watch", str(port), name, FORMAT[0]],
                    env=_env(),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert watcher.stdout is not None
                assert watcher.stdout.readline().strip() == "ready"
    shown = 0
    if watcher is not None:
        out, _ = watcher.communicate("", timeout=30)
        shown = int(out.strip().splitlines()[-1])
    # the round's start is not timed: its first batch creates the instrument (and the viewers
    # attach after it), and the next ones meet the folding of its pre-open book (12,222 heat
    # columns), which a viewers' round does while it waits for their snapshots and a round
    # without viewers meets in its acks (1: 36-60 ms, 2: about 4 ms on the quiet machine)
    return t[SKIP:], shown


@contextlib.contextmanager
def served(script: str, batches: list[Any]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``script --serve`` in a process of its own (its first line: the server's port; its
    stdin and stdout piped), warmed up by one round without viewers; killed on the way out."""
    server = subprocess.Popen([sys.executable, script, "--serve"], env=_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        _round(port, batches, "ESH4", False)  # warm-up: kernels, caches
        yield server, port
    finally:
        server.kill()
        server.wait(10)


def measure(rounds: int, progress: Progress | None = None) -> dict[str, Any]:
    """The rounds (module docstring); ``progress`` ticks once per round."""
    batches = _batches()
    with served(__file__, batches) as (_, port):
        got: dict[bool, list[np.ndarray]] = {False: [], True: []}
        frames = 0
        for r in range(rounds):
            viewers = r % 4 in (1, 2)  # 0 5 5 0 ...: both modes in odd and even places
            t, shown = _round(port, batches, NAMES[(r + 1) % len(NAMES)], viewers)
            rtt = t[:, 1] - t[:, 0]
            got[viewers].append(rtt)
            frames += shown
            if progress is not None:
                progress.tick()
    none, five = np.concatenate(got[False]), np.concatenate(got[True])

    def rounds_p99(mode: bool) -> float:
        """The median of the mode's rounds' own p99s (us): one round that met a burst of the
        machine's other work moves it far less than the pooled p99."""
        return float(np.median([np.percentile(r, 99) for r in got[mode]])) / 1e3

    return {
        "acks_per_mode": len(none),
        "none_p50_us": float(np.percentile(none, 50)) / 1e3,
        "none_p99_us": float(np.percentile(none, 99)) / 1e3,
        "five_p50_us": float(np.percentile(five, 50)) / 1e3,
        "five_p99_us": float(np.percentile(five, 99)) / 1e3,
        "none_p99_rounds_median_us": rounds_p99(False),
        "five_p99_rounds_median_us": rounds_p99(True),
        "viewer_frames": frames,
        "rounds": rounds,
    }


#: the in-process feed's pace: a pause of GAP_S after each batch (about the bridge's ack round
#: trip at full speed), over PASSES replays of ESH4 under fresh contract names
GAP_S, PASSES = 0.0014, 4
#: turns of the loop a bridge's batch takes from its bytes read to its frame read by the
#: session (the WebSocket layer's), from there to its apply (the decoding's turn, the
#: session's coalescing turns) and from its ack pushed to written
HOPS_READ, HOPS_IN, HOPS_OUT = 2, 5, 1


class _Socket:
    """A viewer's socket that takes every frame at once (the in-process viewers): it counts
    the frames and their bytes, and a text frame is encoded as uvicorn encodes it."""

    def __init__(self) -> None:
        from orderflow.server.watchdog import WS_WRITER_KEY

        self.frames = 0
        self.sizes: list[int] = []
        writable = asyncio.Event()
        writable.set()
        #: as uvicorn's: the transport (this socket: it holds nothing) and its writable event,
        #: so the stream writes frames from its own task as it does in the server
        self.scope = {WS_WRITER_KEY: (self, writable)}

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    async def send_text(self, text: str) -> None:
        self.frames += 1
        self.sizes.append(len(text.encode()))

    async def send_bytes(self, data: bytes) -> None:
        self.frames += 1
        self.sizes.append(len(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


def in_process(viewers: int = VIEWERS) -> dict[str, Any]:
    """What the views cost the trading path and the event loop, in process on ESH4, on a real
    asyncio loop: a feeder applies the bridge's batches through a Hub, pausing GAP_S after each
    (PASSES replays, each under a fresh contract name) while ``viewers`` viewers
    (sockets that take every frame at once) are fed by the real ViewStream. Figures: the
    views' own step per applied batch on the trading path (``Views.took`` + ``Views.applied``);
    every uninterrupted hold of the loop by view work (each run of the flusher's task, a
    viewer's writer, or the views' folding between two polls of the loop: its longest is how
    long an ack arriving then can wait), and those of the frames and of the folding apart;
    and per batch, what its ack waited for view work: each batch takes the loop's turns a
    bridge's batch takes in the server (HOPS_READ before its session reads it, HOPS_IN to its
    apply, HOPS_OUT to its ack written), and the view work the loop ran meanwhile is summed."""
    import asyncio.events

    from orderflow.server.hub import Hub
    from orderflow.server.view import Views
    from orderflow.server.view_stream import Viewer, ViewStream

    batches = _batches()
    hub = Hub()
    step: list[int] = []

    class _Timed(Views):
        def took(self, st: Any, trades: Any) -> None:
            t0 = time.perf_counter_ns()
            super().took(st, trades)
            self.t_took = time.perf_counter_ns() - t0

        def applied(self, st: Any, events: int, depth: Any = None) -> None:
            t0 = time.perf_counter_ns()
            super().applied(st, events, depth)
            step.append(time.perf_counter_ns() - t0 + self.t_took)

    hub.view = views = _Timed(hub.view.params)
    stream = ViewStream(type("S", (), {"hub": hub})())
    holds: list[int] = []
    folds: list[bool] = []
    #: the flusher's holds summed per frame (its number): a frame's CPU on the loop
    frame_cpu: dict[int, int] = {}
    #: each viewer's writer's holds (one a frame sent)
    sends: list[int] = []
    sockets: list[_Socket] = []
    #: a batch in flight (read, its ack not yet written); view work's holds meanwhile summed;
    #: per batch, what its ack waited for view work
    flight, flight_ns, waited = [False], [0], []
    run = asyncio.events.Handle._run

    def timed(handle: Any) -> None:
        owner = getattr(handle._callback, "__self__", None)
        view = owner is not None and (owner is views or owner is stream._task or any(
            owner is v._writer for vs in stream.viewers.values() for v in vs
        ))  # fmt: skip
        if not view:
            run(handle)
            return
        k = stream.frames
        t0 = time.perf_counter_ns()
        run(handle)
        dt = time.perf_counter_ns() - t0
        holds.append(dt)
        folds.append(owner is views)
        if flight[0]:
            flight_ns[0] += dt
        if owner is stream._task:
            frame_cpu[k] = frame_cpu.get(k, 0) + dt
        elif owner is not views:
            sends.append(dt)

    async def feed() -> None:
        hub.apply(batches[0], "nt8")  # warm-up: kernels, caches
        if hasattr(views, "read"):
            views.read("ESH4")
        for p in range(PASSES):
            name = NAMES[(p + 1) % len(NAMES)]
            named = [msgspec.structs.replace(b, instrument=name) for b in batches]
            hub.apply(named[0], f"nt8-{name}")
            for _ in range(viewers):
                socket = _Socket()
                sockets.append(socket)
                vp = stream.params
                stream.add(Viewer(socket, name, 40, vp.queue_frames,  # type: ignore[arg-type]
                                  vp.send_timeout_s, FORMAT[0] == "msgpack"))  # fmt: skip
            for b in named[1:]:
                await asyncio.sleep(GAP_S)
                # the batch in flight, its turns through the loop as the server's session
                # takes them; view work run meanwhile is what its ack waits for
                flight[0] = True
                for _ in range(HOPS_READ + HOPS_IN):
                    await asyncio.sleep(0)
                hub.apply(b, f"nt8-{name}")
                for _ in range(HOPS_OUT):
                    await asyncio.sleep(0)
                flight[0] = False
                waited.append(flight_ns[0])
                flight_ns[0] = 0
                views.after_ack()  # the ack written: its writer starts the folding
            await asyncio.sleep(0.1)  # the last frames go out
            for vs in list(stream.viewers.values()):
                for v in list(vs):
                    stream.remove(v)
                    await v.stop()

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
    try:
        asyncio.run(feed())
    finally:
        asyncio.events.Handle._run = run  # type: ignore[method-assign]
    a, h, fold = np.array(step[20:]), np.array(holds), np.array(folds, dtype=bool)

    def pc(x: np.ndarray, q: float) -> float:
        return float(np.percentile(x, q)) / 1e3 if len(x) else 0.0

    cpu, sent = np.array(list(frame_cpu.values())), np.array(sends)
    w = np.array(waited)
    size = np.array([n for s in sockets for n in s.sizes])

    return {"viewers": viewers, "step_p50_us": pc(a, 50), "step_p99_us": pc(a, 99),
            "hold_p50_us": pc(h, 50), "hold_p99_us": pc(h, 99),
            "hold_max_us": float(h.max()) / 1e3 if len(h) else 0.0,
            "frame_hold_p99_us": pc(h[~fold], 99),
            "frame_hold_max_us": float(h[~fold].max()) / 1e3 if (~fold).any() else 0.0,
            "fold_hold_p99_us": pc(h[fold], 99),
            "fold_hold_max_us": float(h[fold].max()) / 1e3 if fold.any() else 0.0,
            "frame_cpu_p50_us": pc(cpu, 50), "frame_cpu_p99_us": pc(cpu, 99),
            "send_hold_p50_us": pc(sent, 50), "send_hold_p99_us": pc(sent, 99),
            "frame_bytes_p50": float(np.percentile(size, 50)) if len(size) else 0.0,
            "frame_bytes_p99": float(np.percentile(size, 99)) if len(size) else 0.0,
            "frame_bytes_mean": float(size.mean()) if len(size) else 0.0,
            "acks_waited": int((w > 0).sum()), "acks": len(w),
            "ack_wait_p99_us": pc(w, 99),
            "ack_wait_max_us": float(w.max()) / 1e3 if len(w) else 0.0,
            "steps": len(a), "holds": len(h),
            "frames_sent": sum(s.frames for s in sockets)}  # fmt: skip


#: frame_cost: a frame every this many batches (about a frame's share at the full-speed feed)
COST_EVERY = 8


def frame_cost(passes: int = 3, form: str = "msgpack") -> dict[str, Any]:
    """What one frame costs in CPU, where the load moves wall-clock figures the most: ESH4's
    batches through a Hub (``passes`` replays under fresh contract names), VIEWERS viewers of
    ``form`` (sockets that take every frame at once), a frame every COST_EVERY batches built
    in one go (``flush``, the folding done before it); each frame's thread CPU time
    (``time.thread_time_ns``), the bytes sent, and what decoding one viewer's frames takes
    (``msgspec`` or ``json.loads``: a stand-in for the page's worker). A frame's content
    depends only on the data (the clocks aside), so two trees can be compared frame by frame."""
    from orderflow.server.hub import Hub
    from orderflow.server.view_stream import Viewer, ViewStream

    batches = _batches()
    hub = Hub()
    stream = ViewStream(type("S", (), {"hub": hub})())
    cpu: list[int] = []
    sockets: list[_Socket] = []
    sent: list[str | bytes] = []

    async def run() -> None:
        hub.apply(batches[0], "nt8")  # warm-up: kernels, caches
        hub.view.read("ESH4")
        for p in range(passes):
            name = NAMES[(p + 1) % len(NAMES)]
            named = [msgspec.structs.replace(b, instrument=name) for b in batches]
            hub.apply(named[0], f"nt8-{name}")
            for k in range(VIEWERS):
                socket = _Socket()
                if k == 0:  # one viewer's frames kept, to be decoded
                    socket.send_text = socket.send_bytes = _keeper(socket, sent)  # type: ignore[method-assign]
                sockets.append(socket)
                stream.add(Viewer(socket, name, 40, 8, 2.0, form == "msgpack"))  # type: ignore[arg-type]
            assert stream._task is not None
            stream._task.cancel()  # frames are made here, at known points
            for i, b in enumerate(named[1:]):
                hub.apply(b, f"nt8-{name}")
                if i % COST_EVERY == COST_EVERY - 1:
                    hub.view.read(name)
                    t0 = time.thread_time_ns()
                    await stream.flush()
                    cpu.append(time.thread_time_ns() - t0)
            for vs in list(stream.viewers.values()):
                for v in list(vs):
                    stream.remove(v)
                    await v.stop()

    asyncio.run(run())
    c = np.array(cpu[1:]) / 1e3  # the first frame: a snapshot, kernels loaded
    size = np.array([n for s in sockets for n in s.sizes])
    decode = msgspec.msgpack.decode if form == "msgpack" else json.loads
    dec = []
    for frame in sent[1:]:
        t0 = time.thread_time_ns()
        decode(frame)
        dec.append(time.thread_time_ns() - t0)
    d = np.array(dec) / 1e3
    return {"form": form, "frames": len(cpu), "cpu_p50_us": float(np.percentile(c, 50)),
            "cpu_mean_us": float(c.mean()), "cpu_p90_us": float(np.percentile(c, 90)),
            "bytes_p50": float(np.percentile(size, 50)), "bytes_mean": float(size.mean()),
            "decode_p50_us": float(np.percentile(d, 50)),
            "decode_mean_us": float(d.mean())}  # fmt: skip


def _keeper(socket: _Socket, kept: list[str | bytes]) -> Callable[[Any], Any]:
    async def send(data: str | bytes) -> None:
        socket.frames += 1
        socket.sizes.append(len(data.encode() if isinstance(data, str) else data))
        kept.append(data)

    return send


def _rows(seconds: float, progress: Progress) -> list[Result]:
    rounds = 4 if seconds < 2 else 8
    m = measure(rounds, progress)
    note = (f"{m['rounds']} rounds (0 5 5 0 viewers ...); {m['viewer_frames']} frames viewed; "
            f"the rounds' p99, median {m['none_p99_rounds_median_us']:.0f} -> "
            f"{m['five_p99_rounds_median_us']:.0f} us")  # fmt: skip
    c = in_process()
    hold = (f"longest {c['hold_max_us']:.0f} us; frames' p99 {c['frame_hold_p99_us']:.0f} us, "
            f"longest {c['frame_hold_max_us']:.0f} us; folding's p99 "
            f"{c['fold_hold_p99_us']:.0f} us, longest {c['fold_hold_max_us']:.0f} us; "
            f"{c['holds']} holds, {c['frames_sent']} frames; a frame's CPU p50 "
            f"{c['frame_cpu_p50_us']:.0f} us, {c['frame_bytes_mean'] / 1e3:.1f} KB a frame "
            f"sent; an ack's wait for view work p99 {c['ack_wait_p99_us']:.0f} us, longest "
            f"{c['ack_wait_max_us']:.0f} us")  # fmt: skip
    return [
        Result(SUITE, "view:step", "reference", "views' step per applied batch (trading path)",
               p50_ns=c["step_p50_us"] * 1e3, p99_ns=c["step_p99_us"] * 1e3, lat_unit="batch",
               calls=c["steps"]),
        Result(SUITE, "view:hold", "reference", "one hold of the event loop by view work",
               p50_ns=c["hold_p50_us"] * 1e3, p99_ns=c["hold_p99_us"] * 1e3, lat_unit="hold",
               calls=c["holds"], note=hold),
        Result(SUITE, "view:acks", "baseline", "bridge acks over WS, no viewer",
               p50_ns=m["none_p50_us"] * 1e3, p99_ns=m["none_p99_us"] * 1e3, lat_unit="batch",
               calls=m["acks_per_mode"]),
        Result(SUITE, "view:acks", "ours", f"bridge acks over WS, {VIEWERS} viewers attached",
               p50_ns=m["five_p50_us"] * 1e3, p99_ns=m["five_p99_us"] * 1e3, lat_unit="batch",
               calls=m["acks_per_mode"], note=note),
    ]  # fmt: skip


def tasks(streams: Any, seconds: float) -> tuple[list[Any], list[str]]:
    if not ESH4.exists():
        return [], [f"view: {ESH4} not found"]
    return [Task("view: bridge acks with 0 and 5 dashboard viewers", lambda pr: _rows(seconds, pr))
            ], []  # fmt: skip


def summary(results: list[Result]) -> list[str]:
    rows = {r.impl: r for r in results if r.suite == SUITE and r.pair == "view:acks"}
    if "baseline" not in rows or "ours" not in rows:
        return []
    a, b = rows["baseline"], rows["ours"]
    assert a.p50_ns and a.p99_ns and b.p50_ns and b.p99_ns
    out = [
        f"Bridge acks with {VIEWERS} dashboard viewers vs none (goal: within 10%):",
        f"  p50 {a.p50_ns / 1e3:.0f} -> {b.p50_ns / 1e3:.0f} us ({b.p50_ns / a.p50_ns - 1:+.1%}),"
        f" p99 {a.p99_ns / 1e3:.0f} -> {b.p99_ns / 1e3:.0f} us ({b.p99_ns / a.p99_ns - 1:+.1%})",
    ]
    hold = [r for r in results if r.suite == SUITE and r.pair == "view:hold"]
    if hold and hold[0].p99_ns:
        out.append(f"  view work's hold of the loop, in process: p99 {hold[0].p99_ns / 1e3:.0f}"
                   f" us ({hold[0].note})")  # fmt: skip
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve()
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--watch":
        _watch(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    if "--json" in sys.argv:
        sys.argv.remove("--json")
        FORMAT[0] = "json"
    if "--hz" in sys.argv:
        i = sys.argv.index("--hz")
        HZ[:] = [sys.argv[i + 1]]
        del sys.argv[i : i + 2]
    if "--nice" in sys.argv:
        sys.argv.remove("--nice")
        NICE[:] = ["nice", "-n", "19"]
    if "--frames" in sys.argv:  # a frame's CPU, bytes and decoding only
        print(json.dumps(frame_cost(form=FORMAT[0]), indent=2))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(json.dumps(in_process(), indent=2))
    m = measure(rounds)
    print(json.dumps(m, indent=2))
    a50, b50, a99, b99 = (m[k] for k in ("none_p50_us", "five_p50_us", "none_p99_us",
                                         "five_p99_us"))  # fmt: skip
    r99, s99 = m["none_p99_rounds_median_us"], m["five_p99_rounds_median_us"]
    print(f"p50 {a50:.0f} -> {b50:.0f} us ({b50 / a50 - 1:+.1%}); "
          f"p99 {a99:.0f} -> {b99:.0f} us ({b99 / a99 - 1:+.1%}); the rounds' p99, median "
          f"{r99:.0f} -> {s99:.0f} us ({s99 / r99 - 1:+.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
