"""Where a viewer frame's CPU goes on the real server: ``bench_view``'s server, bridge and
viewers' process (every round with 5 viewers, ESH4 at full speed), the server timing each part
of each frame in its own thread CPU (``time.thread_time_ns``): the frame's own folding, the
reads of the market's part (book metrics, prints, signals, heat columns, bars, VWAP, delta),
account and health, profile and clusters, the book and its changes, the later parts (bars
built, prints' and heat columns' bytes), the encoding, the WebSocket bytes and the sends. A
part that awaits is timed without the time the loop ran other work meanwhile; a frame's total
is its steps' CPU (what holds the loop). Figures: per part, p50 and mean over the frames
(snapshots left out) and how many calls a frame makes. Nothing passes or fails.

    .venv/bin/python benchmarks/probe_view_parts.py [ROUNDS]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_view as bv

#: the frame being built: each part's CPU so far (ns) and calls
_PART: dict[str, int] = {}
#: CPU of the awaits within the frame (the loop's other work), subtracted from async parts
_AWAY = [0]
#: a frame is being built (the folding of the views' slices between its steps is not its own)
_IN = [False]


def _timed(owner: Any, name: str, label: str, is_async: bool = False) -> None:
    fn: Callable[..., Any] = getattr(owner, name)

    def add(t0: int, away0: int) -> None:
        _PART[label] = _PART.get(label, 0) + time.thread_time_ns() - t0 - (_AWAY[0] - away0)
        _PART["#" + label] = _PART.get("#" + label, 0) + 1

    if is_async:

        async def step(*a: Any, **k: Any) -> Any:
            t0, away0 = time.thread_time_ns(), _AWAY[0]
            out = await fn(*a, **k)
            add(t0, away0)
            return out

        setattr(owner, name, step)
        return

    def call(*a: Any, **k: Any) -> Any:
        if not _IN[0]:
            return fn(*a, **k)
        t0, away0 = time.thread_time_ns(), _AWAY[0]
        out = fn(*a, **k)
        add(t0, away0)
        return out

    setattr(owner, name, call)


def _serve() -> None:
    """Child: the app with each part of a frame timed; prints the port, then on stdin's end
    every frame's parts as JSON."""
    from orderflow.analytics.heatmap import HeatColumns
    from orderflow.server import view as vw
    from orderflow.server import view_frames as vf
    from orderflow.server import view_stream as vs
    from orderflow.server.app import create_app
    from orderflow.server.hub import Hub
    from orderflow.server.threaded import ThreadedServer

    for owner, name, label, is_async in (
        (vw.InstrumentView, "fold", "fold", False),
        (Hub, "metrics", "metrics", False),
        (vw.InstrumentView, "prints_since", "prints_since", False),
        (vw.InstrumentView, "sync_signals", "signals", False),
        (HeatColumns, "block", "heat_block", False),
        (vs.ViewStream, "_bars", "bars_read", False),
        (vf, "vwap_view", "vwap", False),
        (vf, "delta_view", "delta", False),
        (vs.ViewStream, "_slow", "account_health", False),
        (vs.ViewStream, "_analytics", "profile_clusters", True),
        (vf, "book_view", "book", False),
        (vf, "book_changes", "book_changes", False),
        (vs._Joined, "pack", "prints_heat_bytes", True),
        (vs._Later, "__call__", "later_parts", False),
        (vs, "pack", "msgpack", False),
        (vs, "ws_frame", "ws_frame", False),
        (vs.Viewer, "send", "send", True),
        (vs.ViewStream, "snapshot", "snapshot", False),
    ):
        _timed(owner, name, label, is_async)
    frames: list[dict[str, int]] = []
    breathe, flush = vs._Slicer.breathe, vs.ViewStream.flush
    own = [0, 0]  # the frame's CPU so far, when its step resumed

    async def stepped(self: Any, force: bool = False) -> None:
        t = time.thread_time_ns()
        own[0] += t - own[1]
        _IN[0] = False
        await breathe(self, force)
        _IN[0] = True
        own[1] = time.thread_time_ns()
        _AWAY[0] += own[1] - t

    async def timed(self: Any, sliced: bool = False) -> None:
        _PART.clear()
        own[:] = [0, time.thread_time_ns()]
        _IN[0] = True
        await flush(self, sliced)
        _IN[0] = False
        own[0] += time.thread_time_ns() - own[1]
        frames.append({**_PART, "total": own[0]})

    vs._Slicer.breathe = stepped  # type: ignore[method-assign]
    vs.ViewStream.flush = timed  # type: ignore[method-assign]
    server = ThreadedServer(create_app())
    print(server.port, flush=True)
    sys.stdin.read()
    print(json.dumps(frames), flush=True)


def measure(rounds: int) -> dict[str, Any]:
    batches = bv._batches()
    with bv.served(__file__, batches) as (server, port):
        assert server.stdout is not None and server.stdin is not None
        for r in range(rounds):
            bv._round(port, batches, bv.NAMES[(r + 1) % len(bv.NAMES)], True)
        server.stdin.close()
        frames = [f for f in json.loads(server.stdout.readline()) if "snapshot" not in f]
    parts: dict[str, Any] = {"frames": len(frames)}
    for label in sorted({k for f in frames for k in f if not k.startswith("#")}):
        us = np.array([f.get(label, 0) for f in frames]) / 1e3
        calls = np.array([f.get("#" + label, 0) for f in frames])
        parts[label] = {"p50_us": round(float(np.median(us)), 1),
                        "mean_us": round(float(us.mean()), 1),
                        "calls_p50": float(np.median(calls))}  # fmt: skip
    return parts


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve()
    else:
        print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 6), indent=2))
