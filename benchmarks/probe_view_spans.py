"""Which of the bridge's acks the dashboard viewers slow, and where: ``bench_view``'s server,
bridge and viewers' process (rounds of 0, 5, 5, 0 viewers, ESH4 at full speed), the server
marking each frame's span (from the flusher starting it to its last viewer's write; its own
thread CPU, summed over its steps, and how often it let the loop poll) and, with
a stage probe (``orderflow.server.stages``), the moment each ack was written. Per ack: its
round trip (the bridge's send to its receipt), split at the ack's write into the server's
part and the rest (the write to the bridge having it), and whether a frame's span overlapped
it. Figures: the round trip's p10..p99 without viewers, with viewers for the acks no frame
overlapped and for those one did (and how many), each part's median. The clocks are
``time.perf_counter_ns`` in every process (system-wide on Linux). Nothing passes or fails.

    .venv/bin/python benchmarks/probe_view_spans.py [ROUNDS]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_view as bv


def _serve() -> None:
    """Child: the app with frame spans and a stage probe; prints the port, then on stdin's
    end the spans and the acks' write times as JSON."""
    from orderflow.server import stages
    from orderflow.server import view_stream as vs
    from orderflow.server.app import create_app
    from orderflow.server.threaded import ThreadedServer

    probe = stages.StageProbe(200_000)
    stages.install(probe)
    spans: list[tuple[int, int, int, int]] = []
    flush, breathe = vs.ViewStream.flush, vs._Slicer.breathe
    #: the frame being built: its thread CPU so far, its steps, when its step resumed
    own = [0, 0, 0]

    async def stepped(self: Any, force: bool = False) -> None:
        own[0] += time.thread_time_ns() - own[2]
        own[1] += self.on and (force or time.perf_counter_ns() - self.t0 >= vs.FRAME_SLICE_NS)
        await breathe(self, force)
        own[2] = time.thread_time_ns()

    async def timed(self: Any, sliced: bool = False) -> None:
        t0, own[:] = time.perf_counter_ns(), [0, 0, time.thread_time_ns()]
        await flush(self, sliced)
        own[0] += time.thread_time_ns() - own[2]
        spans.append((t0, time.perf_counter_ns(), own[0], own[1]))

    vs.ViewStream.flush = timed  # type: ignore[method-assign]
    vs._Slicer.breathe = stepped  # type: ignore[method-assign]
    server = ThreadedServer(create_app())
    print(server.port, flush=True)
    sys.stdin.read()
    sent = probe.kept()[:, stages.STAGES.index("sent")].tolist()
    print(json.dumps({"spans": spans, "sent": sent}), flush=True)


def measure(rounds: int) -> dict[str, Any]:
    batches = bv._batches()
    with bv.served(__file__, batches) as (server, port):
        assert server.stdout is not None and server.stdin is not None
        got = []
        for r in range(rounds):
            viewers = r % 4 in (1, 2)
            t, _ = bv._round(port, batches, bv.NAMES[(r + 1) % len(bv.NAMES)], viewers)
            got.append(np.c_[t, np.full(len(t), int(viewers))])
        server.stdin.close()
        marks = json.loads(server.stdout.readline())
    acks = np.concatenate(got)
    spans = np.array(marks["spans"], dtype=np.int64).reshape(-1, 4)
    sent = np.array(marks["sent"], dtype=np.int64)
    a, b, five = acks[:, 0], acks[:, 1], acks[:, 2] == 1
    # a span overlaps an ack: it starts before the ack's receipt and ends after its send
    ends = np.maximum.accumulate(spans[:, 1]) if len(spans) else np.zeros(0, np.int64)
    k = np.searchsorted(spans[:, 0], b) - 1
    hit = np.zeros(len(a), dtype=bool)
    hit[k >= 0] = ends[k[k >= 0]] > a[k >= 0]
    # the ack's write: the last one kept before its receipt
    w = np.searchsorted(sent, b, side="right") - 1
    written = (w >= 0) & (sent[np.maximum(w, 0)] >= a)
    server_part, after = sent[w] - a, b - sent[w]

    def row(m: np.ndarray) -> dict[str, Any]:
        rtt = (b - a)[m] / 1e3
        mw = m & written
        return {"acks": int(m.sum()),
                "rtt_us": {f"p{q}": round(float(np.percentile(rtt, q)), 1)
                           for q in (10, 25, 50, 75, 90, 99)},
                "to_write_p50_us": round(float(np.median(server_part[mw])) / 1e3, 1),
                "write_to_bridge_p50_us": round(float(np.median(after[mw])) / 1e3, 1)}  # fmt: skip

    def p50(x: np.ndarray) -> float:
        return round(float(np.median(x)), 1) if len(x) else 0.0

    return {"rounds": rounds, "none": row(~five), "five": row(five),
            "five_no_frame": row(five & ~hit), "five_in_a_frame": row(five & hit),
            "frames": len(spans), "frame_span_p50_us": p50((spans[:, 1] - spans[:, 0]) / 1e3),
            "frame_cpu_p50_us": p50(spans[:, 2] / 1e3),
            "frame_yields_p50": p50(spans[:, 3].astype(float))}  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve()
    else:
        print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 24), indent=2))
